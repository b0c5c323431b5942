"""The whole job on the FnApiRunner: tiny images in, dreamed images + metadata + errors out."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.run import main, run
from tests.conftest import read_jsonl

FAST = ["--runner", "FnApiRunner", "--octaves", "2", "--iterations", "2"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("in")
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(root / "noise.jpg")
    Image.new("RGBA", (64, 64), (0, 200, 0, 128)).save(root / "green.png")
    (root / "nested").mkdir()
    Image.new("L", (50, 36), 90).save(root / "nested" / "grey.jpg")
    (root / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "notes.png").write_text("text with an image's name")
    return root


@pytest.fixture(scope="module")
def job(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    summary = run([f"--input={corpus}/**", f"--output={out}", *FAST])
    return summary, out


def test_every_good_image_is_dreamed_at_its_own_size(job, corpus):
    summary, out = job
    assert (summary.dreamed, summary.failed, summary.count("matched")) == (3, 2, 5)
    for name, stem in [("noise.jpg", "noise"), ("green.png", "green"), ("nested/grey.jpg", "nested/grey")]:
        source, dreamed = Image.open(corpus / name), Image.open(out / f"{stem}.png")
        dreamed.load()
        assert dreamed.size == source.size and dreamed.mode == "RGB"
    assert not list(out.rglob("*.tmp"))


def test_each_metadata_record_has_its_loss_traces(job, corpus):
    _, out = job
    records = read_jsonl(out / "metadata.jsonl")
    assert sorted(Path(r["input_uri"]).name for r in records) == ["green.png", "grey.jpg", "noise.jpg"]
    for record in records:
        assert Path(record["output_uri"]).is_file()
        assert record["model"] == "vgg16" and record["params"]["iterations"] == 2
        assert record["device"] == "CPU:0" and record["dream_seconds"] > 0
        assert 1 <= len(record["octaves"]) <= 2
        for octave in record["octaves"]:
            assert len(octave["losses"]) == octave["steps_run"] == 2
            assert all(np.isfinite(octave["losses"]))
        assert record["octaves"][-1]["height"] == record["height"]


def test_bad_inputs_become_error_records(job, corpus):
    _, out = job
    errors = read_jsonl(out / "errors.jsonl")
    assert sorted(Path(e["uri"]).name for e in errors) == ["corrupt.jpg", "notes.png"]
    for error in errors:
        assert error["stage"] == "decode"
        assert error["error_type"] == "ImageRejectedError"
        assert "not a decodable image" in error["message"] or "corrupt or truncated" in error["message"]


def test_model_is_loaded_once(job):
    summary, _ = job
    assert summary.count("models_loaded") == 1


def test_a_pattern_that_matches_nothing_stops_the_job(tmp_path, capsys):
    code = main([f"--input={tmp_path}/nothing*.jpg", f"--output={tmp_path}/out", *FAST])
    assert code == 2
    assert "matches no file" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_folder_given_as_input_stops_the_job_and_names_the_pattern(tmp_path, capsys):
    """It was one input that failed to read ('Is a directory'), the photos in it never dreamed."""
    (tmp_path / "photos").mkdir()
    Image.new("RGB", (40, 40)).save(tmp_path / "photos" / "a.jpg")
    code = main([f"--input={tmp_path}/photos", f"--output={tmp_path}/out", *FAST])
    assert code == 2
    assert f"matches folders only: give a pattern of the files in them (--input '{tmp_path}/photos/*.jpg')" in (
        capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_invalid_options_fail_before_reading(tmp_path, capsys):
    assert main([f"--input={tmp_path}/*.jpg", f"--output={tmp_path}", "--max_loss", "lots"]) == 2
    assert "--max_loss" in capsys.readouterr().err


def test_help_lists_dream_and_beam_options(capsys):
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for flag in ("--input", "--preset", "--max_loss", "--runner", "--temp_location"):
        assert flag in text


@pytest.mark.parametrize(
    "ratio,dreamed,failed,exit_code",
    [(None, 3, 2, 0), (None, 0, 2, 1), ("0.5", 3, 2, 0), ("0.3", 3, 2, 1), ("0", 5, 0, 0)],
)
def test_exit_code_follows_the_failure_ratio(tmp_path, capsys, ratio, dreamed, failed, exit_code):
    rng = np.random.default_rng(1)
    for i in range(dreamed):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(tmp_path / f"g{i}.png")
    for i in range(failed):
        (tmp_path / f"b{i}.png").write_bytes(b"broken")
    args = [f"--input={tmp_path}/*.png", f"--output={tmp_path / 'out'}", "--runner", "FnApiRunner",
            "--octaves", "1", "--iterations", "1"]
    assert main(args + ([f"--max_failure_ratio={ratio}"] if ratio else [])) == exit_code
    err = capsys.readouterr().err
    if exit_code:  # the reason, with the ratio and the limit
        expected = (f"{failed} of {dreamed + failed} inputs failed ({failed / (dreamed + failed):.0%}), "
                    f"over --max_failure_ratio {ratio}") if ratio else f"every input failed ({failed} of {failed})"
        assert f"beam-deepdream: error: {expected}" in err
    else:
        assert "error" not in err
