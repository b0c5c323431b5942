"""Worker behaviour: several processes, one model each; a GPU job refusing to run on CPUs."""
from __future__ import annotations

import json
import os
import socket

import numpy as np
import pytest
from PIL import Image

from pipeline.run import run

FAST = ["--octaves", "1", "--iterations", "1"]


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(9)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    return tmp_path


def test_two_worker_processes_each_load_the_model_once(images):
    out = images / "out"
    summary = run([f"--input={images}/*.png", f"--output={out}", "--runner=FnApiRunner",
                   "--direct_running_mode=multi_processing", "--direct_num_workers=2", *FAST])
    records = [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]
    assert summary.dreamed == len(records) == 6 and summary.failed == 0
    assert sorted(r["input_uri"].rsplit("/", 1)[1] for r in records) == [f"{i}.png" for i in range(6)]
    workers = {r["worker"] for r in records}
    # Dreamed in the worker processes, never in the launcher (this process).
    launcher = f"{socket.gethostname()}:{os.getpid()}"
    assert 1 <= len(workers) <= 2 and launcher not in workers, (workers, launcher)
    # One load per process that dreamed: the Shared model serves all its threads and bundles.
    assert summary.count("models_loaded") == len(workers)


def test_require_gpu_stops_a_cpu_worker(images):
    with pytest.raises(Exception, match="sees no GPU"):
        run([f"--input={images}/*.png", f"--output={images / 'out'}", "--runner=FnApiRunner",
             "--require_gpu", *FAST])
    assert not list((images / "out").glob("*.png"))
