"""The job under a flaky object store: moto's S3 server behind a fault-injecting proxy
(tests/fault_proxy.py). The job reaches the store only through the proxy; the checks here
talk to the store directly."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.storage.lease import OutputLease, lease_store
from tests.fault_proxy import Faults, flaky_s3
from tests.test_buckets import jsonl, keys, new_bucket, png

ROOT = Path(__file__).resolve().parent.parent
FAST = ["--runner", "FnApiRunner", "--octaves", "1", "--iterations", "1"]
INPUTS = 20


def bucket_of_inputs(s3, count: int = INPUTS) -> tuple[str, list[str]]:
    bucket = new_bucket(s3)
    client = s3.client()
    names = [f"in/p{i:02d}.png" for i in range(count)]
    for i, key in enumerate(names):
        client.put_object(Bucket=bucket, Key=key, Body=png(i, (40, 48)))
    return bucket, [f"s3://{bucket}/{key}" for key in names]


def run_job(bucket: str, store_options: list[str]) -> subprocess.CompletedProcess:
    """The command as a user runs it: its terminal is what we check."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    for name in ("AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS"):  # the job sets its own policy
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "pipeline", f"--input=s3://{bucket}/in/*.png", f"--output=s3://{bucket}/out",
         "--report", *FAST, *store_options],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=600,
    )


def open_uploads(s3, bucket: str) -> list[str]:
    return [u["Key"] for u in s3.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def assert_complete(s3, bucket: str, inputs: list[str]) -> list[dict]:
    """Every input once, the result files and report there, nothing half-done left."""
    records = jsonl(s3, bucket, "out/metadata.jsonl")
    assert sorted(r["input_uri"] for r in records) == sorted(inputs)
    assert jsonl(s3, bucket, "out/errors.jsonl") == []
    written = keys(s3, bucket, "out/")
    assert {"out/report.html", "out/metadata.jsonl", "out/errors.jsonl"} <= set(written)
    assert sum(1 for key in written if key.startswith("out/.deepdream/records/")) == len(inputs)
    assert not [k for k in written if k.endswith(".tmp") or "beam-temp-" in k], written
    assert "out/.deepdream/lease.json" not in written
    assert open_uploads(s3, bucket) == []
    return records


def test_a_job_in_a_flaky_bucket_finishes_every_input_once(s3):
    """15% 5xx, 5% resets (half after the store acted) and 10% one-second delays, at once."""
    bucket, inputs = bucket_of_inputs(s3)
    # An upload a failed writer of an earlier run left open: aborted under the lease.
    s3.client().create_multipart_upload(Bucket=bucket, Key="out/p03.png")
    faults = Faults(errors=0.15, resets=0.05, delays=0.10, delay_s=1.0, seed=4)
    with flaky_s3(s3, faults) as flaky:
        job = run_job(bucket, flaky.options)
    assert job.returncode == 0, job.stderr[-3000:]
    # No traceback, no retry noise: only the word about the earlier run's upload.
    assert job.stderr.splitlines() == [
        "WARNING:root:removed 1 temporaries (files or open uploads) left by an interrupted run"], job.stderr[-3000:]
    assert f"{INPUTS} dreamed, 0 already done, 0 failed of {INPUTS} inputs" in job.stdout
    assert faults.counts["errors"] > 10 and faults.counts["resets"] > 3 and faults.counts["delays"] > 10
    assert_complete(s3, bucket, inputs)


def test_a_storage_outage_mid_job_is_waited_out_or_ends_cleanly_and_the_rerun_finishes(s3):
    bucket, inputs = bucket_of_inputs(s3)
    faults = Faults(seed=5)
    client = s3.client()
    stop = threading.Event()

    def start_outage_once_work_is_written() -> None:
        while not stop.wait(0.2):
            if len(keys(s3, bucket, "out/.deepdream/records/")) >= 3:
                faults.outage(20)
                return

    watcher = threading.Thread(target=start_outage_once_work_is_written, daemon=True)
    watcher.start()
    with flaky_s3(s3, faults) as flaky:
        first = run_job(bucket, flaky.options)
    stop.set()
    assert faults.counts["outage"] > 0, "the outage never began"
    if first.returncode != 0:  # ended cleanly: one line, what it finished kept
        lines = [line for line in first.stderr.splitlines() if line.strip()]
        assert first.returncode == 1 and len(lines) == 1 and lines[0].startswith("beam-deepdream: error: "), first.stderr[-3000:]
    else:
        assert first.stderr == "", first.stderr[-3000:]
    record_keys = keys(s3, bucket, "out/.deepdream/records/")
    written_first = {k: client.head_object(Bucket=bucket, Key=k)["LastModified"] for k in record_keys}
    rerun = run_job(bucket, s3.options)  # storage healthy again
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    missing = INPUTS - len(written_first)
    assert f"{missing} dreamed, {len(written_first)} already done" in rerun.stdout, (first.stdout, rerun.stdout)
    assert_complete(s3, bucket, inputs)
    for key, modified in written_first.items():  # nothing dreamed twice
        assert client.head_object(Bucket=bucket, Key=key)["LastModified"] == modified, key


def test_a_short_lease_with_flaky_renewals_is_kept_and_a_real_takeover_is_still_seen(s3):
    """40% of the requests reset, half of them after the store took the write: a renewal
    whose answer was lost is ours, not another job's."""
    bucket = new_bucket(s3)
    faults = Faults(resets=0.4, seed=6)
    with flaky_s3(s3, faults) as flaky:
        options = PipelineOptions(flaky.options)
        mine = OutputLease(lease_store(f"s3://{bucket}/out", options), 4.0, "mine")
        mine.acquire()
        time.sleep(9)  # eight renewals at ttl/4
        assert (mine.lost, mine.lapsed) == (None, False)
        assert faults.counts["resets_after"] >= 1, faults.counts
        other = OutputLease(lease_store(f"s3://{bucket}/out", options), 4.0, "other")
        other.acquire(force=True)  # a real second job, told to take the output
        deadline = time.monotonic() + 15
        while mine.lost is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert mine.lost is not None and mine.lost.job == "other"
        mine.release()  # leaves the other job's lease alone
        assert "out/.deepdream/lease.json" in keys(s3, bucket, "out/")
        other.release()
    assert keys(s3, bucket, "out/") == []


def _client_error(status: int, code: str):
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": code},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject")


def test_transient_errors_are_retried_to_the_deadline_and_final_ones_pass_at_once():
    from botocore.exceptions import ConnectionClosedError, NoCredentialsError

    from transforms.storage_retries import StorageUnavailableError, retrying

    waits: list[float] = []
    calls = iter([_client_error(503, "SlowDown"), ConnectionClosedError(endpoint_url="http://x"), "done"])

    def flaky():
        outcome = next(calls)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert retrying(flaky, "write x", sleep=waits.append) == "done"
    assert len(waits) == 2 and 0.25 <= waits[0] <= 0.5 and 0.5 <= waits[1] <= 1.0  # jittered, doubling
    for final in (_client_error(404, "NoSuchKey"), _client_error(403, "AccessDenied"), NoCredentialsError()):
        waits.clear()
        with pytest.raises(type(final)):
            retrying(lambda final=final: (_ for _ in ()).throw(final), "write x", sleep=waits.append)
        assert waits == []
    with pytest.raises(StorageUnavailableError, match=r"^could not write x: storage kept failing"):
        retrying(lambda: (_ for _ in ()).throw(_client_error(500, "InternalError")), "write x", deadline_s=0.0)


def test_beams_s3_client_reports_a_connection_error_as_itself():
    """Beam's get_http_error_code raised AttributeError on an error whose response is None,
    and that AttributeError became the input's error record."""
    from apache_beam.io.aws.clients.s3 import boto3_client

    from transforms.storage_retries import is_transient, use_in_this_process

    use_in_this_process()
    reset = type("ResetWithNoResponse", (Exception,), {"response": None})("reset")
    assert boto3_client.get_http_error_code(reset) is None
    assert boto3_client.get_http_error_code(_client_error(503, "SlowDown")) == 503
    assert os.environ["AWS_MAX_ATTEMPTS"] and os.environ["AWS_RETRY_MODE"]
    from apache_beam.io.aws.clients.s3.messages import S3ClientError

    try:
        try:
            raise __import__("botocore.exceptions").exceptions.ReadTimeoutError(endpoint_url="http://x")
        except Exception as exc:
            raise S3ClientError(str(exc), None) from None
    except S3ClientError as wrapped:
        assert is_transient(wrapped)  # Beam's wrapper, seen through to botocore's error
