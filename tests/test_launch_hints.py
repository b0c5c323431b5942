"""The launch's one-line hint: bfloat16 on a CPU that computes it natively, float32 asked."""
from __future__ import annotations

from PIL import Image

from pipeline.cpu_hint import BF16_FLAGS, bfloat16_hint, cpu_flags
from pipeline.run import run


def test_the_hint_names_the_cpu_feature_and_the_option_only_where_it_applies(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f amx_bf16 avx512_bf16\n")
    flags = cpu_flags(str(cpuinfo))
    assert {"avx2", "amx_bf16", "avx512_bf16"} <= flags
    hint = bfloat16_hint("float32", flags)
    assert hint is not None and "AVX512_BF16 and AMX_BF16" in hint and "--precision mixed_bfloat16" in hint
    assert bfloat16_hint("mixed_bfloat16", flags) is None  # asked for already
    assert bfloat16_hint("float32", {"avx2", "avx512f"}) is None  # emulated there: slower
    assert cpu_flags(str(tmp_path / "absent")) == set()


def test_a_local_job_gives_the_hint_exactly_when_this_cpu_has_native_bfloat16(tmp_path, model_file, capsys):
    Image.new("RGB", (40, 40), (20, 80, 140)).save(tmp_path / "x.png")
    args = [f"--input={tmp_path}/x.png", f"--model={model_file}", "--layers=conv2", "--octaves=1",
            "--iterations=1", "--runner=FnApiRunner"]
    assert run([*args, f"--output={tmp_path / 'a'}"]).dreamed == 1
    hinted = [line for line in capsys.readouterr().out.splitlines() if "mixed_bfloat16" in line]
    assert len(hinted) == (1 if set(BF16_FLAGS) & cpu_flags() else 0)
    assert run([*args, f"--output={tmp_path / 'b'}", "--precision=mixed_bfloat16"]).dreamed == 1
    assert "note:" not in capsys.readouterr().out
