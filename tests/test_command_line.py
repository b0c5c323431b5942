"""The command line before any work: --help without TensorFlow, unknown options, bare flags."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from PIL import Image

from pipeline.run import main

WITHOUT_TENSORFLOW = (
    "import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None; "
    "sys.argv = ['beam-deepdream', *sys.argv[1:]]; "
    "from pipeline.__main__ import cli; sys.exit(cli())"
)


def run_without_tensorflow(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WITHOUT_TENSORFLOW, *args],
                          capture_output=True, text=True, timeout=120)


def test_help_needs_no_tensorflow():
    done = run_without_tensorflow("--help")
    assert done.returncode == 0, done.stderr
    assert "--iterations" in done.stdout and "--runner" in done.stdout  # ours and Beam's
    # Each option the issue found without one states its own default, in its own entry.
    entries = {entry.split()[0]: " ".join(entry.split()) for entry in re.split(r"\n  (?=--)", done.stdout)[1:]}
    for option, default in [("preset", "vgg16"), ("format", "png"), ("quality", "95"),
                            ("max_pixels", "40000000"), ("max_bytes", "209715200"), ("http_timeout", "60.0"),
                            ("lease_seconds", "120.0"), ("batch_size", "1"), ("precision", "float32"),
                            ("metadata_format", "jsonl"), ("flow", "dis"), ("frame_step", "1")]:
        assert entries[f"--{option}"].endswith(f"(default: {default})"), entries[f"--{option}"]


def test_the_report_command_needs_no_tensorflow(tmp_path):
    (tmp_path / "metadata.jsonl").write_text("")
    done = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None; "
         "import runpy; sys.argv = ['report', sys.argv[1]]; runpy.run_module('pipeline.report', run_name='__main__')",
         str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert (tmp_path / "report.html").stat().st_size > 0



def test_the_report_command_refuses_a_folder_without_a_jobs_results(tmp_path):
    """A mistyped output folder got an empty report (and the folder made for it), exit 0."""
    missing = tmp_path / "no_such_output"
    (tmp_path / "photos").mkdir()
    for folder in (missing, tmp_path / "photos"):
        done = subprocess.run([sys.executable, "-m", "pipeline.report", str(folder)],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and done.stderr == (
            f"beam-deepdream: error: '{folder}' holds no job's results (no metadata.jsonl, metadata.parquet, "
            "errors.jsonl, sequences.jsonl): give the --output of a job\n"), done.stderr
    assert not missing.exists() and not (tmp_path / "photos" / "report.html").exists()


def test_the_class_listing_is_all_that_stdout_holds(tmp_path):
    """Keras announced its class index download on stdout, inside the listing (a fresh Keras
    cache: the download is tried, and fails offline)."""
    env = {**os.environ, "KERAS_HOME": str(tmp_path), "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-m", "pipeline", "--list_classes", "--model", "inception_v3"],
                          capture_output=True, text=True, timeout=300, env=env)
    lines = done.stdout.splitlines()
    assert done.returncode == 0 and lines[0].startswith("inception_v3: 1000 classes"), done.stdout[:300]
    assert len(lines) == 1001 and lines[1].split()[0] == "0" and lines[-1].split()[0] == "999"

@pytest.mark.parametrize("args,message", [
    (["--input=a.png", "--output=out", "--iteration=1"], "unknown option --iteration; did you mean --iterations?"),
    (["--input=a.png", "--output=out", "--tile-size", "512"], "unknown option --tile-size; did you mean --tile_size?"),
    (["--input=a.png"], "--output is required"),
    (["--input=a.png", "--output=out", "--quality=0"], "--quality must be 1-100"),
    (["--input=a.png", "--output=out", "--preset=vgg61"], "unknown preset 'vgg61'; valid: classic"),
    (["--input=a.png", "--output=out", "--grad_norm=l2", "--step=-1"], "step must be > 0"),
    (["--input=a.png", "--output=out", "--step=inf"], "step must be a finite number, got inf"),
    (["--input=a.png", "--output=out", "--iterations", "two"], "argument --iterations: invalid int value: 'two'"),
    (["--input=a.png", "--output=out", "--grad_norm", "l3"], "argument --grad_norm: invalid choice: 'l3'"),
    (["--input=a.png", "--output=out", "--temporal", "foo"], "argument --temporal: invalid choice: 'foo'"),
    (["--input=a.png", "--output=out", "--iterations"], "argument --iterations: expected one argument"),
    (["--input=a.png", "--output=out", "--iter", "2"], "unknown option --iter; did you mean --iterations?"),
    (["--input=a.png", "--output=out", "--octave_scale", "0.5", "--octaves", "3"], "octave_scale must be >= 1"),
    # An unquoted pattern the shell expanded: Beam would warn and dream a.png alone.
    (["--input", "a.png", "b.png", "c.png", "--output=out"], "unexpected argument 'b.png' (and 1 more): "),
    (["a.png", "--output=out"], "unexpected argument 'a.png': each option takes one value"),
    (["--input=a.png", "--output=out", "--force", "true"], "--force is a flag and takes no value: drop 'true'"),
])
def test_option_mistakes_stop_without_tensorflow(tmp_path, args, message):
    done = subprocess.run([sys.executable, "-c", WITHOUT_TENSORFLOW, *args], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("beam-deepdream: error: ")
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()


def test_beam_and_dataflow_options_still_pass(tmp_path, capsys):
    Image.new("RGB", (40, 40)).save(tmp_path / "a.png")
    code = main([f"--input={tmp_path}/a.png", f"--output={tmp_path / 'out'}", "--runner=FnApiRunner",
                 "--direct_num_workers=1", "--project=p", "--region=us-central1",
                 "--experiments=use_runner_v2", "--dry_run"])
    assert code == 0, capsys.readouterr().err


def test_a_bare_dry_run_builds_and_says_what_without_touching_anything(tmp_path, capsys):
    Image.new("RGB", (40, 40)).save(tmp_path / "a.png")
    out = tmp_path / "out"
    assert main([f"--input={tmp_path}/*.png", f"--output={out}", "--runner=FnApiRunner", "--dry_run"]) == 0
    printed = capsys.readouterr().out
    assert "dry run: built a job of" in printed and "Dream" in printed and "preset vgg16" in printed
    assert "0 of 0 inputs" not in printed
    assert not out.exists()  # no lease, no probe, no records
