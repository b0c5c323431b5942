"""Shared fixtures: CPU only, quiet TensorFlow, one model of each kind per session."""
from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# oneDNN picks different kernels for a graph-compiled loop and a per-step function; their
# rounding differs in the 7th digit and L2-normalised ascent on random weights amplifies it
# ~100x per step. Eigen's kernels round alike in both, so parity tests compare the math.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

from typing import TYPE_CHECKING  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

if TYPE_CHECKING:
    import keras

# Keras is imported by the fixtures that build models, not here: test files that need no
# TensorFlow (naming, settings) start in a fraction of a second, which the mutation run
# (docs/testing.md) pays once per mutant.

CLASSIC_LAYERS = {"mixed4": 1.0, "mixed5": 1.5, "mixed6": 2.0, "mixed7": 2.5}


@pytest.fixture(scope="session")
def random_inception() -> keras.Model:
    """InceptionV3 with seeded random weights: the classic architecture, no download."""
    import keras

    keras.utils.set_random_seed(1234)
    return keras.applications.InceptionV3(include_top=False, weights=None)


@pytest.fixture(scope="session")
def tiny_model() -> keras.Model:
    """A three-conv network that builds and runs in milliseconds."""
    import keras

    keras.utils.set_random_seed(7)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="conv3")(x)
    return keras.Model(inputs, x, name="tiny")


@pytest.fixture(scope="session")
def model_file(tiny_model, tmp_path_factory) -> Path:
    """The tiny model saved as a user's own .keras file."""
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    tiny_model.save(path)
    return path


@pytest.fixture
def photo() -> np.ndarray:
    """A seeded 200x264 RGB test image (gradients plus noise), the smallest size at which
    every classic layer's feature map is still larger than the 2-pixel crop at octave 0."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:200, 0:264]
    base = np.stack([xx / 264 * 255, yy / 200 * 255, (xx + yy) / 464 * 255], axis=-1)
    noisy = base + rng.normal(0, 20, base.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def read_jsonl(path: Path) -> list[dict]:
    """The records of a JSON-lines file the job wrote."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def s3():
    """A real S3 endpoint on loopback for the whole session (moto's server), stopped at the end."""
    from tests.servers import s3_server

    with s3_server() as server:
        yield server


@pytest.fixture(scope="session")
def portable(tmp_path_factory):
    """Beam's job service and SDK worker pool for the whole session, started in a folder of
    their own: the protocol Flink, Spark and Dataflow Runner v2 run Python with."""
    from tests.servers import job_service

    with job_service(str(tmp_path_factory.mktemp("job-service"))) as service:
        yield service


@pytest.fixture(scope="session")
def prism_binary() -> str:
    """Prism's binary, built by .ci/build-prism (CI always has it; elsewhere the tests skip
    where it was not built)."""
    path = os.environ.get("BEAM_DEEPDREAM_PRISM", "")
    if not (path and os.path.isfile(path)):
        if os.environ.get("CI"):
            pytest.fail("CI must build Prism: .ci/build-prism")
        pytest.skip("Prism not built: export BEAM_DEEPDREAM_PRISM=$(.ci/build-prism)")
    return path
