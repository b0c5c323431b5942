"""A rerun with every input finished is answered from the records: no TensorFlow imported,
no model built, and the result files hold what the job itself wrote."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.run import run
from tests.conftest import read_jsonl
from tests.jobs import ROOT, cli
from tests.media import write_animation


def _lines(path: Path) -> list[str]:
    return sorted(line for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def test_a_rerun_with_nothing_left_imports_no_tensorflow_and_writes_what_the_job_wrote(tmp_path):
    inputs = tmp_path / "in"
    (inputs / "sub").mkdir(parents=True)
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(inputs / "a.png")
    Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(inputs / "sub" / "a.png")
    write_animation(inputs / "wave.gif", [80, 80])
    (inputs / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    args = [f"--input={inputs}/**", f"--output={out}", "--runner", "FnApiRunner", "--octaves", "1",
            "--iterations", "1", "--report"]

    first = run(args)
    assert (first.dreamed, first.failed) == (3, 1)
    metadata, sequences = _lines(out / "metadata.jsonl"), _lines(out / "sequences.jsonl")
    assert len(metadata) == 2 and len(sequences) == 1 and read_jsonl(out / "errors.jsonl")
    (inputs / "broken.png").unlink()  # the user removes the bad input: nothing is left
    (out / "metadata.jsonl").unlink()
    (out / "report.html").unlink()

    # Python's own import log shows what the rerun imported; no hook in the job is needed.
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1", "PYTHONPATH": str(ROOT)}
    rerun = cli(args, cwd=tmp_path, env=env)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in rerun.stderr.splitlines() if "import time:" in line}
    assert "apache_beam" in imported  # the log is there
    assert not {"tensorflow", "keras"} & imported
    assert "0 dreamed, 3 already done, 0 failed of 3 inputs" in rerun.stdout
    assert _lines(out / "metadata.jsonl") == metadata
    assert _lines(out / "sequences.jsonl") == sequences
    assert read_jsonl(out / "errors.jsonl") == []  # the broken input's error is gone with it
    assert (out / "report.html").is_file()
    assert not list(out.rglob("*.tmp")) and not (out / ".deepdream" / "lease.json").exists()


def test_an_in_process_job_loads_its_model_once_and_a_worker_process_its_own(tmp_path, model_file, monkeypatch):
    """The launcher's check builds the model; the job's Dreamer in the same process takes
    that one instead of loading the file again. Counted where Keras reads the file."""
    import keras

    loads: list[str] = []
    real_load = keras.saving.load_model

    def counting_load(path, *args, **kwargs):
        loads.append(str(path))
        return real_load(path, *args, **kwargs)

    monkeypatch.setattr(keras.saving, "load_model", counting_load)
    Image.new("RGB", (40, 40), (90, 30, 60)).save(tmp_path / "x.png")
    args = [f"--input={tmp_path}/x.png", f"--model={model_file}", "--layers=conv2", "--octaves=1",
            "--iterations=1", "--runner=FnApiRunner"]

    assert run([*args, f"--output={tmp_path / 'one'}"]).dreamed == 1
    assert len(loads) == 1
    # Workers in other processes build their own: the launcher keeps nothing for them.
    loads.clear()
    assert run([*args, f"--output={tmp_path / 'two'}", "--direct_running_mode=multi_processing"]).dreamed == 1
    assert len(loads) == 1  # the launcher's; the worker process's load is not seen here
    from transforms.dream import launch_models
    assert launch_models.take(str(model_file), None) is None  # nothing left behind either


def test_a_rerun_with_nothing_left_in_a_bucket_rewrites_the_index_there(s3):
    from tests.test_buckets import jsonl, keys, new_bucket, png

    bucket = new_bucket(s3)
    for i in range(2):
        s3.client().put_object(Bucket=bucket, Key=f"in/{i}.png", Body=png(i))
    args = [f"--input=s3://{bucket}/in/*", f"--output=s3://{bucket}/out", "--runner=FnApiRunner",
            "--octaves=1", "--iterations=1", *s3.options]
    assert run(args).dreamed == 2
    written = jsonl(s3, bucket, "out/metadata.jsonl")
    s3.client().put_object(Bucket=bucket, Key="out/errors.jsonl", Body=b'{"stale": true}\n')

    again = run(args)
    assert (again.dreamed, again.skipped, again.runner) == (0, 2, "no runner: nothing was left to dream")
    assert sorted(map(str, jsonl(s3, bucket, "out/metadata.jsonl"))) == sorted(map(str, written))
    assert jsonl(s3, bucket, "out/errors.jsonl") == []
    assert not [k for k in keys(s3, bucket, "out/") if k.endswith(".tmp") or k.endswith("lease.json")]
