"""Each class of finding from the hostile probe of the local job, one test each."""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.run import main, run
from pipeline.storage.cleanup import remove_stale_temporaries
from tests.conftest import read_jsonl
from transforms.dream.memory_budget import (
    AUTO_TILE_SIZE,
    default_untiled_max_pixels,
    machine_memory_bytes,
    with_auto_tiles,
)
from transforms.dream.params import DreamParams

FAST = ["--runner", "FnApiRunner", "--octaves", "1", "--iterations", "1"]


def noise(path: Path, size=(40, 48), seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
    return path


def start_error(capsys, args: list[str]) -> str:
    """Run the CLI; it must stop at start (exit 2) with one line on stderr."""
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


# Start-up cleanup

def test_cleanup_removes_only_this_jobs_temporaries(tmp_path):
    out = tmp_path / "out"
    mine = [out / "a.png.deepdream-0123456789abcdef.tmp",
            out / ".deepdream" / "records" / "a.json.deepdream-fedcba9876543210.tmp",
            out / "beam-temp-metadata.jsonl-0123456789abcdef0123456789abcdef" / "shard"]
    theirs = [out / "notes.tmp", out / "deep" / "draft.tmp", out / "a.png.12345.tmp",
              out / "beam-temp-mine" / "x", out / "beam-temp-metadata.jsonl-notahexid" / "y"]
    for path in mine + theirs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    assert remove_stale_temporaries(str(out)) == len(mine)
    assert [p for p in mine if p.exists()] == []
    assert not (out / "beam-temp-metadata.jsonl-0123456789abcdef0123456789abcdef").exists()
    assert [p for p in theirs if not p.exists()] == []


def test_a_job_leaves_a_users_tmp_files_alone(tmp_path):
    noise(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "notes.tmp").write_text("mine")
    (out / "sub" / "x.tmp").write_text("mine too")
    run([f"--input={tmp_path}/in/*.png", f"--output={out}", *FAST])
    assert (out / "notes.tmp").read_text() == "mine" and (out / "sub" / "x.tmp").exists()


# Manifests

def test_a_manifest_line_that_is_not_utf8_is_one_error(tmp_path):
    good = noise(tmp_path / "good.png")
    manifest = tmp_path / "list.txt"
    manifest.write_bytes(f"{good}\n".encode() + b"/in/caf\xe9.png\n" + b"\xff\xfe\n")
    summary = run([f"--input_list={manifest}", f"--output={tmp_path / 'out'}", *FAST])
    errors = read_jsonl(tmp_path / "out" / "errors.jsonl")
    assert (summary.dreamed, summary.failed, summary.inputs) == (1, 2, 3)
    assert sorted(e["uri"] for e in errors) == ["/in/caf\\xe9.png", "\\xff\\xfe"]
    assert {e["stage"] for e in errors} == {"manifest"} and "not UTF-8" in errors[0]["message"]


def test_a_binary_manifest_stops_the_job_at_start(tmp_path, capsys):
    manifest = noise(tmp_path / "list.png")  # an image given as the list
    err = start_error(capsys, [f"--input_list={manifest}", f"--output={tmp_path / 'out'}", *FAST])
    assert "not a text file" in err
    assert not (tmp_path / "out").exists()


# Params files

@pytest.mark.parametrize("text,message", [
    ("octaves: abc", "octaves must be an integer, got 'abc'"),
    ("iterations: 1.5", "iterations must be an integer, got 1.5"),
    ("step: [1, 2]", "step must be a number"),
    ("max_loss: yes", "max_loss must be a number or null"),
    ("layers: 5", "layers must be text"),
    ("presets: [1, 2]", "'presets' in --params must be a mapping"),
    ("presets: {mine: {octaves: x}}", "preset 'mine': octaves must be an integer"),
    ("model: 7", "model must be text"),
    ("preset: [a]", "'preset' in --params must be a preset name"),
    ("- just\n- a list", "must hold a mapping"),
    ("octaves: 0", "octaves must be >= 1"),
])
def test_params_values_are_checked_at_start(tmp_path, capsys, text, message):
    noise(tmp_path / "a.png")
    params = tmp_path / "params.yaml"
    params.write_text(text + "\n")
    # No loop options on the command line: they would win over the file's.
    err = start_error(capsys, [f"--input={tmp_path}/*.png", f"--output={tmp_path / 'out'}",
                               f"--params={params}", "--runner=FnApiRunner"])
    assert message in err


def test_params_files_are_small_and_without_alias_bombs(tmp_path, capsys):
    noise(tmp_path / "a.png")
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 9):
        lines.append(f"{chr(97 + i)}: &{chr(97 + i)} [" + ",".join([f"*{chr(96 + i)}"] * 9) + "]")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * 300_000 + "\n")
    common = [f"--input={tmp_path}/*.png", f"--output={tmp_path / 'out'}", *FAST]
    started = time.monotonic()
    assert "YAML aliases" in start_error(capsys, [*common, f"--params={bomb}"])
    assert time.monotonic() - started < 10
    assert "larger than" in start_error(capsys, [*common, f"--params={big}"])
    assert "cannot be read" in start_error(capsys, [*common, f"--params={tmp_path}"])


# Weights, guide and model files are used at launch

def test_bad_weights_guide_and_model_files_stop_the_job_at_start(tmp_path, capsys):
    image = noise(tmp_path / "in" / "a.png")
    junk_h5 = tmp_path / "junk.h5"
    junk_h5.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    text = tmp_path / "guide.txt"
    text.write_text("not an image")
    junk_model = tmp_path / "junk.keras"
    junk_model.write_bytes(b"PK\x03\x04 not a zip")
    common = [f"--input={tmp_path}/in/*.png", f"--output={tmp_path / 'out'}", *FAST]
    for extra, message in [
        ([f"--weights={image}"], "weights"),
        ([f"--weights={junk_h5}"], "weights"),
        (["--weights=/no/such/weights.h5"], "weights"),
        ([f"--guide={text}"], "guide image"),
        (["--guide=http://127.0.0.1:9/guide.png", "--allow_private_urls"], "guide image"),
        ([f"--model={junk_model}", "--layers=conv1"], "cannot be loaded"),
    ]:
        started = time.monotonic()
        err = start_error(capsys, [*common, *extra])
        assert message in err and time.monotonic() - started < 60, err
    assert not (tmp_path / "out").exists()


def test_a_tile_size_too_small_for_the_model_stops_the_job_at_start(tmp_path, capsys):
    """It failed every input, each with its own error record: a setting, not an input, was wrong."""
    noise(tmp_path / "a.png", size=(70, 90))
    common = [f"--input={tmp_path}/*.png", *FAST]
    err = start_error(capsys, [*common, f"--output={tmp_path / 'out'}", "--tile_size=63"])
    assert "tile_size must be 0 (off) or at least 64 for this model" in err  # VGG16's 32-pixel minimum
    assert not (tmp_path / "out").exists()
    assert main([*common, f"--output={tmp_path / 'fits'}", "--tile_size=64"]) == 0, capsys.readouterr().err
    assert len(read_jsonl(tmp_path / "fits" / "metadata.jsonl")) == 1


def test_an_unwritable_local_output_stops_the_job_at_start(tmp_path, capsys):
    noise(tmp_path / "a.png")
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    err = start_error(capsys, [f"--input={tmp_path}/*.png", f"--output={blocker}/out", *FAST])
    assert "not writable" in err


# Images that fit --max_pixels but not in memory

def test_pixel_budget_comes_from_the_machine():
    assert 0 < machine_memory_bytes() <= os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert default_untiled_max_pixels() < 6000 * 6000 * 4  # a 6000x6000 image is never whole on a small worker
    params = DreamParams()
    assert with_auto_tiles(params, 1000, 1000) is params
    assert with_auto_tiles(params, 1001, 1000).tile_size == AUTO_TILE_SIZE
    assert with_auto_tiles(DreamParams(tile_size=300), 10**9, 1000).tile_size == 300


def test_big_images_are_dreamed_in_tiles_automatically(tmp_path):
    noise(tmp_path / "big.png", (600, 700))
    noise(tmp_path / "small.png", (60, 70))
    run([f"--input={tmp_path}/*.png", f"--output={tmp_path / 'out'}", "--untiled_max_pixels=100000", *FAST])
    tiles = {Path(r["input_uri"]).name: r["tile_size"] for r in read_jsonl(tmp_path / "out" / "metadata.jsonl")}
    assert tiles == {"big.png": AUTO_TILE_SIZE, "small.png": 0}


# Names

def test_names_stay_within_limits_and_inputs_are_counted_once(tmp_path):
    root = tmp_path / "in"
    long_name = "é" * 120
    noise(root / f"{long_name}.png")
    noise(root / "b.jpg", seed=1)
    noise(root / "b.png" / "c.png", seed=2)
    noise(root / "a.png", seed=3)
    manifest = tmp_path / "list.txt"
    manifest.write_text(f"{root}/a.png\n{root}/./a.png\n{root}//a.png\n")
    out = tmp_path / "out"
    summary = run([f"--input={root}/**", f"--input_list={manifest}", f"--output={out}", *FAST])
    assert (summary.inputs, summary.dreamed, summary.failed) == (4, 4, 0)
    records = read_jsonl(out / "metadata.jsonl")
    assert sorted(Path(r["input_uri"]).name for r in records) == sorted(
        [f"{long_name}.png", "b.jpg", "c.png", "a.png"])
    for record in records:
        assert len(Path(record["output_uri"]).name.encode()) <= 255
        Image.open(record["output_uri"]).load()


def test_no_write_follows_a_link_out_of_the_output(tmp_path):
    noise(tmp_path / "in" / "sub" / "a.png")
    noise(tmp_path / "in" / "b.png", seed=1)
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").symlink_to(outside, target_is_directory=True)
    summary = run([f"--input={tmp_path}/in/**", f"--output={out}", *FAST])
    assert (summary.dreamed, summary.failed) == (1, 1)
    (error,) = read_jsonl(out / "errors.jsonl")
    assert error["stage"] == "write" and error["error_type"] == "OutsideOutputError"
    assert list(outside.iterdir()) == []


# What a user sees

def test_a_start_error_is_one_line_without_tensorflow_chatter(tmp_path):
    """TensorFlow's native start-up lines (oneDNN, 'Could not find cuda drivers', cuInit)
    never reach the user of the CLI; the error does."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "CUDA_VISIBLE_DEVICES")}
    done = subprocess.run([sys.executable, "-m", "pipeline", f"--input={tmp_path}/none*.png",
                           f"--output={tmp_path / 'out'}"], env=env, capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"beam-deepdream: error: --input '{tmp_path}/none*.png' matches no file"]
