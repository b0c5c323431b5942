"""The job on Prism, Beam's Go runner: what `DirectRunner` runs first on any machine that
can download it. The binary is built from Beam's Go module (.ci/build-prism)."""
from __future__ import annotations

import os
import time
import zipfile

import apache_beam

from pipeline.run import run
from tests.jobs import (
    QUICKSTART_ARGS,
    check_quickstart_collection,
    cli,
    kill,
    quickstart_collection,
    start_job,
    wait_for,
)
from tests.test_buckets import jsonl, keys, new_bucket, png

FAST = ["--iterations=1", "--octaves=1"]


def test_collection_on_prism_then_rerun(prism_binary, tmp_path):
    folder = quickstart_collection(tmp_path)
    args = [*QUICKSTART_ARGS, "--runner=PrismRunner", f"--prism_location={prism_binary}"]
    first = cli(args, folder)
    again = cli(args, folder)
    check_quickstart_collection(folder, first, again)
    # Prism's own log (its start, 'pipeline done!') and Beam's service notices stay off the terminal.
    assert first.stderr.strip() == "", first.stderr[-2000:]


def test_the_plain_command_runs_on_prism_from_beams_cache(prism_binary, tmp_path):
    """As an online user's machine holds it after a first run: the release zip in Beam's
    cache under HOME. With no --runner, the job runs on it (batching included, which Beam's
    DirectRunner would hand to its BundleBasedDirectRunner instead, miscounting)."""
    home = tmp_path / "home"
    cache = home / ".apache_beam" / "cache" / "prism" / "bin"
    cache.mkdir(parents=True)
    name = f"apache_beam-v{apache_beam.__version__}-prism-linux-amd64"
    with zipfile.ZipFile(cache / f"{name}.zip", "w") as archive:
        archive.write(prism_binary, name)
    folder = tmp_path / "job"
    folder.mkdir()
    quickstart_collection(folder)
    env = {**os.environ, "HOME": str(home)}
    first = cli(QUICKSTART_ARGS, folder, env)
    again = cli(QUICKSTART_ARGS, folder, env)
    check_quickstart_collection(folder, first, again)
    assert "on PrismRunner" in first.stdout and "on PrismRunner" in again.stdout
    assert (cache / name).is_file(), "Prism was not unpacked from Beam's cache: another runner ran"


def test_bucket_job_on_prism(prism_binary, s3):
    bucket = new_bucket(s3)
    client = s3.client()
    for i in range(2):
        client.put_object(Bucket=bucket, Key=f"in/{i}.png", Body=png(i))
    client.put_object(Bucket=bucket, Key="in/corrupt.png", Body=b"\x89PNG\r\n\x1a\n broken")
    args = [f"--input=s3://{bucket}/in/*", f"--output=s3://{bucket}/out", *FAST, *s3.options,
            "--runner=PrismRunner", f"--prism_location={prism_binary}"]
    summary = run(args)
    # What the output holds beside what the counters said, should they ever disagree
    # (seen once in CI under load: 1 dreamed of 2, cause not found; 12 reruns counted right).
    held = keys(s3, bucket, "out/")
    assert (summary.dreamed, summary.failed, summary.inputs) == (2, 1, 3), (summary.counters, held)
    assert {"out/0.png", "out/1.png", "out/metadata.jsonl", "out/errors.jsonl"} <= set(keys(s3, bucket, "out/"))
    assert len(jsonl(s3, bucket, "out/metadata.jsonl")) == 2
    again = run(args)
    assert (again.dreamed, again.skipped, again.failed) == (0, 2, 1)


def test_killed_prism_job_resumes_exactly_the_missing_inputs(prism_binary, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(6):
        (inputs / f"{i}.png").write_bytes(png(i, (96, 96)))
    out = tmp_path / "out"
    records = out / ".deepdream" / "records"
    args = [f"--input={inputs}/*.png", f"--output={out}", "--iterations=12", "--octaves=2",
            "--lease_seconds=2", "--runner=PrismRunner", f"--prism_location={prism_binary}"]
    job = start_job(args)
    wait_for(lambda: records.is_dir() and any(records.iterdir()), job, "a first image")
    kill(job)  # kill -9 of the launcher, Prism and its workers (one process group)
    finished = len(list(records.iterdir()))
    assert 1 <= finished < 6
    time.sleep(2.5)  # the killed job's lease lapses
    summary = run(args)
    assert (summary.dreamed, summary.skipped, summary.failed) == (6 - finished, finished, 0)


def test_a_prism_that_cannot_start_is_one_line(tmp_path, capsys):
    from pipeline.run import main

    (tmp_path / "a.png").write_bytes(png(1))
    args = [f"--input={tmp_path}/a.png", f"--output={tmp_path}/out", "--runner=PrismRunner",
            f"--prism_location={tmp_path}/no-such-prism"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--prism_location" in err and "is not a file" in err
    assert not (tmp_path / "out").exists()
