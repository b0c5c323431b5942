"""The real Dataflow job, built offline with --dry_run: no credentials, no network."""
from __future__ import annotations

import re
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.run import run

apiclient = pytest.importorskip("apache_beam.runners.dataflow.internal.apiclient")

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "us-docker.pkg.dev/my-project/deepdream/worker:0.1"
L4 = "type:nvidia-l4;count:1;install-nvidia-driver"
DATAFLOW = [
    "--runner=DataflowRunner", "--dry_run=True", "--no_auth", "--project=my-project",
    "--region=us-central1", "--temp_location=gs://my-bucket/tmp", "--sdk_location=container",
    f"--sdk_container_image={IMAGE}", "--input=gs://my-bucket/in/*.jpg",
    "--output=gs://my-bucket/out", "--require_gpu",
]


def build_job(extra: list[str]):
    args = [*DATAFLOW, *extra]
    pipeline = beam.Pipeline(options=PipelineOptions(args))
    summary = run(args, test_pipeline=pipeline)
    assert summary.inputs == 0  # built, not run
    return pipeline.runner.job


def dream_transform(proto_pipeline):
    (dream,) = [t for t in proto_pipeline.components.transforms.values()
                if t.unique_name in ("Dream/ParDo(Dream)", "Dream/ParDo(DreamBatch)")]
    return dream


def test_gpu_workers_job(tmp_path):
    job = build_job([
        f"--dataflow_service_options=worker_accelerator={L4}", "--machine_type=g2-standard-4",
        "--experiments=no_use_multiple_sdk_containers",
    ])
    # The environment Dataflow receives at submission, built the way the runner builds it.
    environment = apiclient.Environment(
        packages=[], options=job.options, environment_version="dry-run",
        proto_pipeline_staged_url="gs://my-bucket/tmp/pipeline.pb",
        proto_pipeline=job.proto_pipeline,
    ).proto
    assert f"worker_accelerator={L4}" in environment.service_options
    assert "no_use_multiple_sdk_containers" in environment.experiments
    (pool,) = environment.worker_pools
    assert pool.machine_type == "g2-standard-4"
    assert IMAGE in [c.container_image for c in pool.sdk_harness_container_images]

    dream = dream_transform(job.proto_pipeline)
    docker = job.proto_pipeline.components.environments[dream.environment_id]
    assert IMAGE.encode() in docker.payload
    assert any(t.unique_name.startswith("WriteImage") for t in job.proto_pipeline.components.transforms.values())


def test_accelerator_hint_on_the_dream_step_only():
    job = build_job([f"--dream_accelerator={L4}"])
    components = job.proto_pipeline.components
    dream = dream_transform(job.proto_pipeline)
    hints = components.environments[dream.environment_id].resource_hints
    assert hints["beam:resources:accelerator:v1"] == L4.encode()
    others = [t for t in components.transforms.values()
              if t.environment_id and not t.unique_name.startswith("Dream")]
    assert others and all(
        "beam:resources:accelerator:v1" not in components.environments[t.environment_id].resource_hints
        for t in others
    )


def dreaming_steps(proto_pipeline) -> dict[str, beam.DoFn]:
    """The dreaming DoFns as Dataflow receives them: unpickled from the job's own proto."""
    from apache_beam.internal import pickler
    from apache_beam.portability.api import beam_runner_api_pb2

    steps = {}
    for transform in proto_pipeline.components.transforms.values():
        if transform.unique_name in ("Dream/ParDo(Dream)", "Dream/ParDo(DreamBatch)", "DreamSegments"):
            payload = beam_runner_api_pb2.ParDoPayload.FromString(transform.spec.payload)
            steps[transform.unique_name] = pickler.loads(payload.do_fn.payload)[0]
    return steps


def test_batched_mixed_precision_job_builds():
    job = build_job(["--batch_size=4", "--precision=mixed_float16", "--jit", f"--dream_accelerator={L4}"])
    names = [t.unique_name for t in job.proto_pipeline.components.transforms.values()]
    assert any(n.startswith("BatchSameSize/GroupIntoBatches") for n in names)
    dream = dream_transform(job.proto_pipeline)
    assert dream.environment_id
    # What the workers will dream with, read from the steps the job ships (not the options).
    shipped = dreaming_steps(job.proto_pipeline)
    assert sorted(shipped) == ["Dream/ParDo(DreamBatch)", "DreamSegments"]
    for step in shipped.values():
        recipes = [handler.recipe for handler in step._handlers.values()]
        assert recipes and {(r.precision, r.jit) for r in recipes} == {("mixed_float16", True)}
    default = dreaming_steps(build_job([f"--dream_accelerator={L4}"]).proto_pipeline)
    assert sorted(default) == ["Dream/ParDo(Dream)", "DreamSegments"]
    for step in default.values():
        assert {(h.recipe.precision, h.recipe.jit) for h in step._handlers.values()} == {("float32", False)}


def test_the_package_is_staged_with_setup_file():
    """--setup_file: the request carries this package, built for the workers to install."""
    job = build_job([f"--dream_accelerator={L4}", f"--setup_file={ROOT / 'setup.py'}"])
    environment = job.proto_pipeline.components.environments[dream_transform(job.proto_pipeline).environment_id]
    staged = [d.role_payload for d in environment.dependencies]
    assert any(b"workflow.tar.gz" in payload for payload in staged), staged
    assert IMAGE.encode() in environment.payload
    assert environment.resource_hints["beam:resources:accelerator:v1"] == L4.encode()


def test_the_worker_container_pins_what_setup_py_pins():
    """The Dockerfile's Beam image and TensorFlow are the versions setup.py installs."""
    setup = (ROOT / "setup.py").read_text()
    dockerfile = (ROOT / "Dockerfile").read_text()
    beam_version = re.search(r'"apache-beam\[aws\]==([\d.]+)"', setup)[1]
    tensorflow = re.search(r'"tensorflow==([\d.*]+)"', setup)[1]
    python = re.search(r'python_requires=">=([\d.]+)"', setup)[1]
    assert re.search(rf"^FROM apache/beam_python{re.escape(python)}_sdk:{re.escape(beam_version)}$",
                     dockerfile, re.MULTILINE), "the container's Beam image differs from setup.py"
    assert f"'tensorflow[and-cuda]=={tensorflow}'" in dockerfile, "the container's TensorFlow differs"
