"""Kill a running job with SIGKILL, run it again: the output ends complete, nothing twice."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.run import run
from tests.conftest import read_jsonl
from tests.jobs import kill, start_job, wait_for
from transforms.resume import RECORDS_DIR

IMAGES = 10
# A short lease: the killed job's lease lapses two seconds after its last renewal.
ARGS = ["--runner", "FnApiRunner", "--octaves", "2", "--iterations", "25", "--lease_seconds", "2"]
ROOT = Path(__file__).resolve().parent.parent


def test_a_killed_job_resumes_without_duplicates(tmp_path):
    rng = np.random.default_rng(5)
    for i in range(IMAGES):
        Image.fromarray(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    out = tmp_path / "out"
    args = [f"--input={tmp_path}/*.png", f"--output={out}", *ARGS]

    job = start_job(args)
    records = out / RECORDS_DIR
    wait_for(lambda: len(list(records.glob("*.json"))) >= 2, job, "two images were done")
    kill(job)
    finished_before = len(list(records.glob("*.json")))
    assert 2 <= finished_before < IMAGES, "kill the job part-way"
    assert not (out / "metadata.jsonl").exists()
    time.sleep(2.5)  # the dead job's lease lapses

    summary = run(args)
    assert summary.skipped == finished_before
    assert summary.dreamed == IMAGES - finished_before and summary.failed == 0
    metadata = read_jsonl(out / "metadata.jsonl")
    assert sorted(Path(r["input_uri"]).name for r in metadata) == sorted(f"{i}.png" for i in range(IMAGES))
    for record in metadata:
        Image.open(record["output_uri"]).load()
    assert not list(out.rglob("*.tmp")) and not list(out.glob("beam-temp-*"))
    assert read_jsonl(out / "errors.jsonl") == []

    again = run(args)
    assert (again.skipped, again.dreamed) == (IMAGES, 0)
    assert len(read_jsonl(out / "metadata.jsonl")) == IMAGES


def test_other_settings_redo_the_work(tmp_path):
    Image.new("RGB", (64, 64), (30, 60, 90)).save(tmp_path / "x.png")
    base = [f"--input={tmp_path}/*.png", f"--output={tmp_path / 'out'}", "--runner", "FnApiRunner",
            "--octaves", "1"]
    assert run([*base, "--iterations", "1"]).dreamed == 1
    assert run([*base, "--iterations", "2"]).dreamed == 1
    assert run([*base, "--iterations", "2"]).skipped == 1
    assert run([*base, "--iterations", "2", "--no_skip_existing"]).dreamed == 1
    (record,) = read_jsonl(tmp_path / "out" / "metadata.jsonl")
    assert record["params"]["iterations"] == 2
