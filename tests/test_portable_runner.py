"""The job on Beam's portable job service with SDK workers in separate processes (the way
Flink, Spark and Dataflow Runner v2 run Python): real processes, started in a folder of
their own, sharing nothing with the launcher but the job."""
from __future__ import annotations

import os
import signal
import subprocess

from pipeline.run import run
from tests.conftest import read_jsonl
from tests.jobs import (
    QUICKSTART_ARGS,
    check_quickstart_collection,
    cli,
    kill,
    quickstart_collection,
    start_job,
    wait_for,
)
from tests.servers import worker_pool
from tests.test_buckets import jsonl, keys, new_bucket, png

FAST = ["--iterations=1", "--octaves=1"]


def test_collection_on_separate_workers_with_relative_paths_then_rerun(portable, tmp_path):
    # Relative paths: the workers run in another folder and must still find them.
    folder = quickstart_collection(tmp_path)
    args = [*QUICKSTART_ARGS, *portable.options()]
    first = cli(args, folder)
    written = {p.name: p.stat().st_mtime_ns for p in (folder / "out").glob("*.png")}
    again = cli(args, folder)
    check_quickstart_collection(folder, first, again)
    assert {p.name: p.stat().st_mtime_ns for p in (folder / "out").glob("*.png")} == written


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
