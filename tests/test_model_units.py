"""A step means the same visual change whatever the model: every registered model under
every built-in preset changes a photo by a sane amount per step and saturates nothing."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from PIL import Image

from pipeline.config import JobConfig
from pipeline.options import DreamOptions
from transforms.dream.engine import Dreamer
from transforms.dream.models import MODELS, get_model_spec
from transforms.dream.params import UNITS_PER_LEVEL
from transforms.dream.presets import PRESETS

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "chelsea.jpg"
# Per step, the RMS change per pixel value on the 0-255 scale, measured from the images. The
# presets ask for 1.3 (tutorial) to 6.6 (classic, l2 at 224x224) levels; below 0.2 nothing
# visible happens in a run, above 10 a few steps wash the photo out into noise. (Before
# steps were converted, vgg16's step on InceptionV3 moved pixels by ~250 levels.)
BAND = (0.2, 10.0)
# Share of values newly at 0 or 255: the seed itself (classic on InceptionV3) adds ~1% in
# two steps at this size; colour noise saturates tens of percent.
SATURATION_MARGIN = 0.03
# With random weights some deep networks' gradients at their default layers vanish below the
# normalisers' epsilon or are exactly zero (ReLU6 saturated): measured here for MobileNet,
# MobileNetV2, EfficientNetB0 and Xception. No step size can show there, so they are held to
# the ceiling and the saturation limit, and to the band wherever a step is measurable (the
# per-pixel preset rescales any non-zero gradient). Every other model is held to the band
# under every preset. Their ImageNet weights cannot be downloaded here.
VANISHING_WITH_RANDOM_WEIGHTS = {"mobilenet", "mobilenet_v2", "efficientnet_b0", "xception"}
# keras_io divides its loss by the whole map's size and floors mean(|g|) at 1e-6, as keras.io
# writes it: random weights give mean(|g|) around 5e-8, so its step is floored everywhere.
FLOORED_WITH_RANDOM_WEIGHTS = {"keras_io"}
ALIVE_LEVELS = 0.01


def job_preset(preset: str, model: str):
    """The preset exactly as the command line resolves `--preset P --model M`."""
    options = PipelineOptions(["--input=x", "--output=y", f"--preset={preset}", f"--model={model}"])
    return JobConfig.from_options(options.view_as(DreamOptions)).preset


def saturated(image: np.ndarray) -> float:
    return float(np.mean((image == 0) | (image == 255)))


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.asarray(Image.open(SAMPLE).convert("RGB").resize((224, 224), Image.LANCZOS))


def test_replacing_the_model_converts_the_inherited_step():
    preset = job_preset("vgg16", "inception_v3")
    assert preset.params.step == pytest.approx(800 / 127.5)
    assert (preset.step_given, preset.step_given_units) == (800.0, "caffe")
    assert job_preset("classic", "vgg16").params.step == pytest.approx(20 * 127.5)
    assert job_preset("classic", "vgg16").params.max_loss is None  # InceptionV3's loss scale
    seed = job_preset("classic", "inception_v3")  # the seed, untouched
    assert (seed.params, seed.layers, seed.step_given) == (PRESETS["classic"].params, PRESETS["classic"].layers, None)


@pytest.mark.parametrize("model_name", list(MODELS))
def test_every_model_under_every_preset_dreams_a_sane_amount(model_name, photo):
    spec = get_model_spec(model_name)
    model = spec.layers_model()  # random weights (VGG16: its offline ImageNet weights)
    dreamers: dict[tuple, Dreamer] = {}
    for name in PRESETS:
        preset = job_preset(name, model_name)
        key = tuple(preset.layers)
        if key not in dreamers:
            dreamers[key] = Dreamer(model, preset.layers, spec.preprocessing, spec.min_input_size)
        params = dataclasses.replace(preset.params, octaves=1, iterations=2)
        result = dreamers[key].dream(photo, params)
        octave = result.octaves[-1]
        assert octave.steps_run >= 1, (name, model_name)
        change = np.sqrt(np.mean((result.image.astype(float) - photo) ** 2)) / octave.steps_run
        alive = octave.effective_step / UNITS_PER_LEVEL[spec.preprocessing.name] > ALIVE_LEVELS
        assert alive or model_name in VANISHING_WITH_RANDOM_WEIGHTS or name in FLOORED_WITH_RANDOM_WEIGHTS, (
            f"{name} on {model_name}: no step")
        low = BAND[0] if alive else 0.0
        assert low <= change <= BAND[1], f"{name} on {model_name}: {change:.2f} levels per step"
        assert saturated(result.image) <= saturated(photo) + SATURATION_MARGIN, (name, model_name)


@pytest.mark.parametrize("units", ["inception", "caffe", "torch", "raw"])
def test_a_users_model_in_each_convention_gets_every_presets_step_converted(units, tiny_model, photo, tmp_path):
    """`--model my.keras --preprocessing U`: U describes the new model; each preset's step
    keeps the units of the model it was written for and is converted from them."""
    from transforms.dream.preprocessing import PREPROCESSINGS

    path = tmp_path / "mine.keras"
    tiny_model.save(path)
    dreamer = Dreamer(tiny_model, "conv2:1,conv3:0.5", PREPROCESSINGS[units], 8)
    for name, original in PRESETS.items():
        options = PipelineOptions(["--input=x", "--output=y", f"--preset={name}", f"--model={path}",
                                   f"--preprocessing={units}", "--layers=conv2:1,conv3:0.5"])
        preset = JobConfig.from_options(options.view_as(DreamOptions)).preset
        given = get_model_spec(original.model).preprocessing.name
        assert preset.params.step == pytest.approx(
            original.params.step * UNITS_PER_LEVEL[units] / UNITS_PER_LEVEL[given]), (name, units)
        result = dreamer.dream(photo, dataclasses.replace(preset.params, octaves=1, iterations=2))
        steps = result.octaves[-1].steps_run
        change = np.sqrt(np.mean((result.image.astype(float) - photo) ** 2)) / max(steps, 1)
        assert change <= BAND[1], f"{name} with {units}: {change:.2f} levels per step"
        assert saturated(result.image) <= saturated(photo) + SATURATION_MARGIN, (name, units)
