"""The job on Beam's portable job service with SDK workers in separate processes (the way
Flink, Spark and Dataflow Runner v2 run Python): real processes, started in a folder of
their own, sharing nothing with the launcher but the job."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.run import run
from tests.conftest import read_jsonl
from tests.jobs import kill, start_job, wait_for
from tests.media import write_animation
from tests.servers import worker_pool
from tests.test_buckets import jsonl, keys, new_bucket, png

ROOT = Path(__file__).resolve().parent.parent
FAST = ["--iterations=1", "--octaves=1"]


def cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """`python -m pipeline ARGS` launched from `cwd`, as a user types it."""
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=900)


@pytest.fixture(scope="module")
def launch_folder(tmp_path_factory) -> Path:
    """The quickstart photos, one of them twice (a batch of two), a corrupt file and a GIF."""
    folder = tmp_path_factory.mktemp("launch")
    inputs = folder / "in"
    inputs.mkdir()
    for name in ("chelsea", "coffee", "astronaut"):
        shutil.copy(ROOT / "samples" / f"{name}.jpg", inputs)
    shutil.copy(ROOT / "samples" / "chelsea.jpg", inputs / "twin.jpg")
    (inputs / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg at all")
    write_animation(inputs / "wave.gif", [80, 80, 80])
    (folder / "list.txt").write_text("in/coffee.jpg\n")  # the same input, listed relatively
    return folder


def test_collection_on_separate_workers_with_relative_paths_then_rerun(portable, launch_folder):
    # Relative paths: the workers run in another folder and must still find them.
    args = ["--input", "in/*", "--input_list", "list.txt", "--output", "out", "--batch_size=2", "--report", *FAST, *portable.options()]
    first = cli(args, launch_folder)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "5 dreamed, 0 already done, 1 failed (decode 1) of 6 inputs" in first.stdout
    assert "Traceback" not in first.stderr
    out = launch_folder / "out"
    assert sorted(p.name for p in out.glob("*.png")) == ["astronaut.png", "chelsea.png", "coffee.png", "twin.png"]
    records = read_jsonl(out / "metadata.jsonl")
    assert sorted(r["input_uri"] for r in records) == sorted(
        str(launch_folder / "in" / f"{n}.jpg") for n in ("astronaut", "chelsea", "coffee", "twin"))
    (error,) = read_jsonl(out / "errors.jsonl")
    assert error["stage"] == "decode" and error["uri"].endswith("corrupt.jpg")
    (sequence,) = read_jsonl(out / "sequences.jsonl")
    assert sequence["frames"] == 3 and (out / "wave.gif").stat().st_size > 0
    assert (out / "report.html").stat().st_size > 0
    written = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}

    again = cli(args, launch_folder)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "0 dreamed, 5 already done, 1 failed (decode 1) of 6 inputs" in again.stdout
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")} == written
    assert len(read_jsonl(out / "metadata.jsonl")) == 4


def test_bucket_job_on_workers_that_know_only_the_job_options(portable, s3):
    """The worker pool's environment holds no S3 settings: the job's options reach its steps."""
    bucket = new_bucket(s3)
    client = s3.client()
    for i in range(2):
        client.put_object(Bucket=bucket, Key=f"in/{i}.png", Body=png(i))
    client.put_object(Bucket=bucket, Key="in/corrupt.png", Body=b"\x89PNG\r\n\x1a\n broken")
    summary = run([f"--input=s3://{bucket}/in/*", f"--output=s3://{bucket}/out", *FAST, *s3.options,
                   *portable.options()])
    assert (summary.dreamed, summary.failed, summary.inputs) == (2, 1, 3)
    listed = keys(s3, bucket, "out/")
    assert {"out/0.png", "out/1.png", "out/metadata.jsonl", "out/errors.jsonl"} <= set(listed)
    assert not [k for k in listed if "beam-temp" in k or k.endswith(".tmp")]
    assert len(jsonl(s3, bucket, "out/metadata.jsonl")) == 2
    (error,) = jsonl(s3, bucket, "out/errors.jsonl")
    assert error["stage"] == "decode"


def test_a_killed_worker_pool_fails_the_job_and_a_rerun_does_the_rest(portable, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(6):
        (inputs / f"{i}.png").write_bytes(png(i, (96, 96)))
    out = tmp_path / "out"
    records = out / ".deepdream" / "records"
    args = [f"--input={inputs}/*.png", f"--output={out}", "--iterations=12", "--octaves=2"]
    with worker_pool(str(tmp_path)) as pool:
        job = start_job([*args, *portable.options(pool)])
        wait_for(lambda: records.is_dir() and any(records.iterdir()), job, "a first image")
        os.killpg(pool.process.pid, signal.SIGKILL)  # kill -9 of the pool and the SDK workers it started
        try:
            job.wait(300)
        except subprocess.TimeoutExpired:
            kill(job)
            raise
        stderr = job.stderr.read().decode()
        job.stderr.close()
    assert job.returncode == 1, stderr[-2000:]
    assert "beam-deepdream: error: the job failed on PortableRunner" in stderr
    assert "run the same command" in stderr and "Traceback" not in stderr
    finished = len(list(records.iterdir()))
    assert 1 <= finished < 6

    with worker_pool(str(tmp_path)) as pool:
        summary = run([*args, *portable.options(pool)])
    assert (summary.dreamed, summary.skipped, summary.failed) == (6 - finished, finished, 0)
    assert len(read_jsonl(out / "metadata.jsonl")) == 6
