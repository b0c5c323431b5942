"""The whole job against a real S3 server, reached only through the job's own options."""
from __future__ import annotations

import io
import json
import os
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.run import main, run
from tests.jobs import kill, start_job, wait_for

FAST = ["--runner", "FnApiRunner", "--octaves", "1", "--iterations", "1"]
ROOT = Path(__file__).resolve().parent.parent


def png(seed: int, size=(40, 56)) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def new_bucket(s3) -> str:
    name = f"b-{uuid.uuid4().hex[:12]}"
    s3.client().create_bucket(Bucket=name)
    return name


def keys(s3, bucket: str, prefix: str = "") -> list[str]:
    pages = s3.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def jsonl(s3, bucket: str, key: str) -> list[dict]:
    body = s3.client().get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    return [json.loads(line) for line in body.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def bucket_job(s3):
    """Inputs under s3:// (a ** pattern and a manifest), output under s3://."""
    bucket = new_bucket(s3)
    client = s3.client()
    matched = ["photos/a.png", "photos/deep/dir/b.png", "photos/with space.png", "photos/été/ça.png"]
    for i, key in enumerate(matched):
        client.put_object(Bucket=bucket, Key=key, Body=png(i))
    client.put_object(Bucket=bucket, Key="photos/corrupt.png", Body=b"\x89PNG\r\n\x1a\n broken")
    client.put_object(Bucket=bucket, Key="listed/only in list.png", Body=png(9))
    listed = [f"s3://{bucket}/listed/only in list.png", f"s3://{bucket}/photos/a.png",
              f"s3://{bucket}/listed/missing.png"]
    client.put_object(Bucket=bucket, Key="lists/manifest.txt", Body="\n".join(listed).encode())
    args = [f"--input=s3://{bucket}/photos/**", f"--input_list=s3://{bucket}/lists/manifest.txt",
            f"--output=s3://{bucket}/out", "--metadata_format=both", "--report", *FAST, *s3.options]
    first = run(args)
    inputs = {f"s3://{bucket}/{key}" for key in matched} | {f"s3://{bucket}/photos/corrupt.png"} | set(listed)
    return bucket, args, first, inputs


def test_a_job_in_a_bucket_writes_everything_there(s3, bucket_job):
    bucket, _, first, inputs = bucket_job
    records = jsonl(s3, bucket, "out/metadata.jsonl")
    errors = jsonl(s3, bucket, "out/errors.jsonl")
    assert sorted([r["input_uri"] for r in records] + [e["uri"] for e in errors]) == sorted(inputs)
    assert {e["uri"].rsplit("/", 1)[1]: e["stage"] for e in errors} == {
        "corrupt.png": "decode", "missing.png": "read"}
    assert (first.dreamed, first.failed, first.inputs) == (5, 2, 7)
    written = keys(s3, bucket, "out/")
    for record in records:
        assert record["output_uri"].startswith(f"s3://{bucket}/out/")
        key = record["output_uri"][len(f"s3://{bucket}/"):]
        assert key in written
        body = s3.client().get_object(Bucket=bucket, Key=key)["Body"].read()
        assert Image.open(io.BytesIO(body)).size == (56, 40)
    assert {"out/metadata.parquet", "out/report.html"} <= set(written)
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(s3.client().get_object(
        Bucket=bucket, Key="out/metadata.parquet")["Body"].read()))
    assert sorted(table.column("input_uri").to_pylist()) == sorted(r["input_uri"] for r in records)
    assert not [k for k in written if "beam-temp-" in k or k.endswith(".tmp") or "probe-" in k]
    assert "out/.deepdream/lease.json" not in written  # released at the end


def test_a_rerun_in_a_bucket_dreams_nothing(s3, bucket_job):
    bucket, args, first, inputs = bucket_job
    again = run(args)
    assert (again.dreamed, again.skipped, again.failed) == (0, first.dreamed, first.failed)
    records = jsonl(s3, bucket, "out/metadata.jsonl")
    assert len(records) == len({r["input_uri"] for r in records}) == first.dreamed


def test_a_missing_bucket_stops_the_job_at_once(s3, tmp_path, capsys):
    Image.new("RGB", (40, 40)).save(tmp_path / "x.png")
    started = time.monotonic()
    code = main([f"--input={tmp_path}/*.png", "--output=s3://no-such-bucket-here/out", *FAST, *s3.options])
    err = capsys.readouterr().err.strip()
    assert code == 2 and time.monotonic() - started < 30
    assert len(err.splitlines()) == 1 and "s3://no-such-bucket-here does not exist" in err


def test_missing_credentials_stop_the_job_at_once(s3, tmp_path, capsys, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    bucket = new_bucket(s3)
    s3.client().put_object(Bucket=bucket, Key="in/a.png", Body=png(0))
    started = time.monotonic()
    code = main([f"--input=s3://{bucket}/in/*.png", f"--output={tmp_path / 'out'}", *FAST,
                 f"--s3_endpoint_url={s3.endpoint}", "--s3_region_name=us-east-1"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and time.monotonic() - started < 30
    assert len(err.splitlines()) == 1 and "no S3 credentials" in err


def test_an_output_the_credentials_may_not_write_stops_the_job(s3, tmp_path, capsys):
    """A bucket that exists but refuses the write: the probe object finds out at launch."""
    bucket = new_bucket(s3)
    s3.client().put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
    Image.new("RGB", (40, 40)).save(tmp_path / "x.png")
    code = main([f"--input={tmp_path}/*.png", f"--output=s3://{bucket}/out", *FAST, *s3.options])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "not writable" in err


def test_a_job_killed_in_a_bucket_resumes_without_duplicates(s3):
    bucket = new_bucket(s3)
    images = 8
    for i in range(images):
        s3.client().put_object(Bucket=bucket, Key=f"in/{i}.png", Body=png(i, (96, 128)))
    args = [f"--input=s3://{bucket}/in/*.png", f"--output=s3://{bucket}/out", "--runner=FnApiRunner",
            "--octaves=2", "--iterations=25", "--lease_seconds=2", *s3.options]
    job = start_job(args)
    wait_for(lambda: len(keys(s3, bucket, "out/.deepdream/records/")) >= 2, job, "two images were written")
    kill(job)
    done_before = len(keys(s3, bucket, "out/.deepdream/records/"))
    assert done_before < images, "kill the job part-way"
    time.sleep(2.5)  # the dead job's lease lapses

    summary = run(args)
    assert summary.skipped == done_before and summary.dreamed == images - done_before
    records = jsonl(s3, bucket, "out/metadata.jsonl")
    assert sorted(r["input_uri"] for r in records) == sorted(f"s3://{bucket}/in/{i}.png" for i in range(images))
    assert jsonl(s3, bucket, "out/errors.jsonl") == []
    written = keys(s3, bucket, "out/")
    for record in records:  # every record counted as done has its image
        assert record["output_uri"][len(f"s3://{bucket}/"):] in written
    assert not [k for k in written if "beam-temp-" in k or k.endswith(".tmp")]


@pytest.mark.parametrize("store", ["local", "s3"])
def test_one_job_per_output(s3, tmp_path, capsys, caplog, store):
    """The second job refuses and names the first; once the first is dead and its lease
    lapsed, a new job starts."""
    for i in range(3):
        Image.open(io.BytesIO(png(i, (96, 128)))).save(tmp_path / f"{i}.png")
    if store == "s3":
        bucket = new_bucket(s3)
        output, lease_exists = f"s3://{bucket}/out", lambda: bool(keys(s3, bucket, "out/.deepdream/lease.json"))
    else:
        output = str(tmp_path / "out")
        lease_exists = (tmp_path / "out" / ".deepdream" / "lease.json").exists
    # A lease long enough to stay alive on a loaded 2-core machine, short enough to wait out.
    common = [f"--input={tmp_path}/*.png", f"--output={output}", "--lease_seconds=5", *s3.options]
    first = start_job([*common, "--runner=FnApiRunner", "--octaves=3", "--iterations=200"])
    try:
        wait_for(lease_exists, first, "the first job took the lease")
        assert main([*common, *FAST]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1
        assert f"pid {first.pid}" in err and "--force" in err
    finally:
        kill(first)
    time.sleep(5.5)
    assert main([*common, *FAST]) == 0  # a lapsed lease needs no --force
    assert "took over the output from job 'beam-deepdream'" in caplog.text


def test_force_takes_a_live_lease_and_the_first_job_says_so(tmp_path, caplog):
    for i in range(2):
        Image.open(io.BytesIO(png(i, (96, 128)))).save(tmp_path / f"{i}.png")
    common = [f"--input={tmp_path}/*.png", f"--output={tmp_path / 'out'}", "--lease_seconds=5"]
    first = start_job([*common, "--runner=FnApiRunner", "--octaves=2", "--iterations=100"])
    lease = tmp_path / "out" / ".deepdream" / "lease.json"
    wait_for(lease.exists, first, "the first job took the lease")
    assert main([*common, *FAST, "--force"]) == 0
    assert "took over the output from job 'beam-deepdream' on" in caplog.text
    assert "lease expires in" in caplog.text  # it was alive
    assert first.wait(240) == 1
    assert "another job took the output over" in first.stderr.read().decode()
    first.stderr.close()


def test_worker_processes_reach_the_bucket_through_the_jobs_options(s3):
    """Separate worker processes (as on Dataflow) get the S3 options from the runner."""
    bucket = new_bucket(s3)
    for i in range(4):
        s3.client().put_object(Bucket=bucket, Key=f"in/{i}.png", Body=png(i))
    summary = run([f"--input=s3://{bucket}/in/*.png", f"--output=s3://{bucket}/out", "--runner=FnApiRunner",
                   "--direct_running_mode=multi_processing", "--direct_num_workers=2", *FAST[2:], *s3.options])
    records = jsonl(s3, bucket, "out/metadata.jsonl")
    assert summary.dreamed == len(records) == 4
    assert all(int(r["worker"].rsplit(":", 1)[1]) != os.getpid() for r in records)


def test_sequences_in_a_bucket_stream_in_and_out(s3, tmp_path):
    """A video and an animation under s3://, dreamed into s3://: the video opened through
    Beam's seekable S3 reader (never downloaded whole by the job), segments and outputs
    written there, nothing left behind."""
    from tests.media import write_animation, write_video
    from transforms.frames import probe_video

    bucket = new_bucket(s3)
    client = s3.client()
    video = write_video(tmp_path / "pan.mp4", frames=8, audio=True).read_bytes()
    animation = write_animation(tmp_path / "wave.gif", [40, 50, 60]).read_bytes()
    client.put_object(Bucket=bucket, Key="clips/pan.mp4", Body=video)
    client.put_object(Bucket=bucket, Key="clips/wave.gif", Body=animation)
    summary = run([f"--input=s3://{bucket}/clips/*", f"--output=s3://{bucket}/out", "--segment_frames=3",
                   *FAST, *s3.options])
    assert (summary.dreamed, summary.failed) == (2, 0)
    records = {r["input_uri"].rsplit("/", 1)[1]: r for r in jsonl(s3, bucket, "out/sequences.jsonl")}
    assert records["pan.mp4"]["segments"] == 3 and records["pan.mp4"]["audio"] is True
    written = keys(s3, bucket, "out/")
    assert {"out/pan.mp4", "out/wave.gif", "out/pan.frames.parquet"} <= set(written)
    assert not [k for k in written if k.startswith("out/.deepdream/segments/")]  # removed once written
    local = tmp_path / "back.mp4"
    local.write_bytes(client.get_object(Bucket=bucket, Key="out/pan.mp4")["Body"].read())
    back = probe_video(str(local), 100, 1)
    assert (back.frame_count, back.has_audio) == (8, True)
    with Image.open(io.BytesIO(client.get_object(Bucket=bucket, Key="out/wave.gif")["Body"].read())) as gif:
        assert gif.n_frames == 3


def test_releasing_a_lease_never_deletes_the_next_jobs(s3):
    """Another job takes the lease over just as this one releases it (its PUT lands right
    before this job's DELETE goes out): the new lease survives."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.storage.lease import S3LeaseStore

    bucket = new_bucket(s3)
    uri = f"s3://{bucket}/out/.deepdream/lease.json"
    options = PipelineOptions(s3.options)
    mine, other = S3LeaseStore(uri, options), S3LeaseStore(uri, options)
    version = mine.create(b"this job")
    raced = []

    def the_next_job_takes_over(**kwargs):
        if not raced:
            raced.append(other.replace(b"the next job", version))

    mine._client.meta.events.register("before-send.s3.DeleteObject", the_next_job_takes_over)
    mine.delete(version)
    assert raced and raced[0] is not None
    assert other.read()[0] == b"the next job"
    # Undisturbed, a release deletes its own lease.
    S3LeaseStore(uri, options).delete(other.read()[1])
    assert other.read() is None
