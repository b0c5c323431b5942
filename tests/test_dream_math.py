"""Objective, octave schedule and engine edge cases, on a tiny model."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
import tensorflow as tf

from transforms.dream import Dreamer, DreamParams, ImageTooSmallError, octave_shapes
from transforms.dream.objective import crop_border, dream_loss
from transforms.dream.preprocessing import CAFFE, INCEPTION

TINY_LAYERS = {"conv2": 1.0, "conv3": 0.5}


@pytest.fixture(scope="module")
def tiny_dreamer(tiny_model):
    return Dreamer(tiny_model, TINY_LAYERS, INCEPTION, min_input_size=8)


def test_crop_drops_two_pixels_each_side():
    activation = tf.reshape(tf.range(1 * 7 * 9 * 2, dtype=tf.float32), (1, 7, 9, 2))
    cropped = crop_border(activation)
    np.testing.assert_array_equal(cropped, activation[:, 2:-2, 2:-2, :])


@pytest.mark.parametrize("height,width", [(1, 1), (4, 4), (3, 12), (12, 2)])
def test_maps_too_small_to_crop_keep_their_full_extent(height, width):
    activation = tf.random.stateless_normal((1, height, width, 3), seed=(1, 2))
    loss = dream_loss({"a": activation}, {"a": 2.0})
    expected_h = activation[:, 2:-2] if height > 4 else activation
    expected = expected_h[:, :, 2:-2] if width > 4 else expected_h
    assert loss.shape == (1,) and math.isfinite(float(loss[0]))
    np.testing.assert_allclose(float(loss[0]), 2.0 * float(tf.reduce_mean(tf.square(expected))), rtol=1e-6)


def test_octave_shapes_follow_the_seed():
    assert octave_shapes(427, 640, 3, 1.4, 75) == [(217, 326), (305, 457), (427, 640)]


def test_octaves_below_the_minimum_are_dropped_and_too_small_images_rejected():
    assert octave_shapes(100, 120, 3, 1.4, 75) == [(100, 120)]
    with pytest.raises(ImageTooSmallError, match="at least 75"):
        octave_shapes(60, 400, 3, 1.4, 75)


def test_octave_shapes_follow_the_tutorial_when_sizes_multiply():
    """int(float32(side) * float32(1.3**k)) for k = -2..2 where the seed divides in double
    precision: 169 / 1.3**2 is 99.99999 (99) but 100.00000 in float32 (100), and
    90 * 1.3 is 117.00000 in double (117) but 116.99999 in float32 (116)."""
    assert octave_shapes(169, 90, 3, 1.3, 10, upscale=2, sizes="multiply") == [
        (100, 53), (130, 69), (169, 90), (219, 116), (285, 152)]
    assert octave_shapes(169, 90, 3, 1.3, 10, upscale=2) == [
        (99, 53), (130, 69), (169, 90), (219, 117), (285, 152)]


def test_octaves_above_the_original_multiply_as_the_tutorial_does():
    """Upscaled octaves are int(side * scale**k) (45 * 1.4 = 62.99999999999999: 62), never
    the division used below the original (45 / 1.4**-1 = 63.0: 63)."""
    assert octave_shapes(45, 90, 1, 1.4, 10, upscale=1) == [(45, 90), (62, 125)]


def test_an_image_exactly_at_the_minimum_is_dreamed_and_a_scale_of_one_repeats_the_size():
    assert octave_shapes(75, 100, 2, 1.4, 75) == [(75, 100)]
    assert octave_shapes(80, 100, 2, 1.0, 75) == [(80, 100), (80, 100)]


@pytest.mark.parametrize("bad, message", [
    (dict(octaves=0), "octaves must be >= 1, got 0"),
    (dict(octave_scale=0), "octave_scale must be > 0, got 0"),
    (dict(octave_scale=-1.4), "octave_scale must be > 0"),
    (dict(sizes="MULTIPLY"), "unknown octave sizes 'MULTIPLY'; valid: divide, multiply"),
])
def test_a_bad_schedule_is_refused_with_its_reason(bad, message):
    args = {**dict(height=100, width=120, octaves=3, octave_scale=1.4, min_size=75), **bad}
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        octave_shapes(**args)


@pytest.mark.parametrize("bad", [dict(octaves=0), dict(octave_scale=0), dict(octave_scale=0.5), dict(iterations=-1), dict(step=0)])
def test_invalid_params_are_refused(bad):
    with pytest.raises(ValueError):
        DreamParams(**bad)


def test_tiny_images_give_finite_losses(tiny_dreamer):
    rgb = np.full((9, 11, 3), 128, np.uint8)
    result = tiny_dreamer.dream(rgb, DreamParams(octaves=3, iterations=2, max_loss=None))
    assert result.image.shape == rgb.shape
    assert all(math.isfinite(loss) for octave in result.octaves for loss in octave.losses)


def test_image_smaller_than_the_model_minimum_is_a_clear_error(tiny_dreamer):
    with pytest.raises(ImageTooSmallError):
        tiny_dreamer.dream(np.zeros((5, 40, 3), np.uint8))


def test_one_trace_serves_every_image_shape(tiny_model):
    tiny_dreamer = Dreamer(tiny_model, TINY_LAYERS, INCEPTION, min_input_size=8)
    params = DreamParams(octaves=2, iterations=2, max_loss=None)
    for shape in [(20, 30), (33, 17), (40, 40)]:
        tiny_dreamer.dream(np.zeros(shape + (3,), np.uint8), params)
    (ascend,) = tiny_dreamer._ascents.values()
    assert ascend.experimental_get_tracing_count() == 1


def test_records_describe_each_octave(tiny_dreamer, photo):
    result = tiny_dreamer.dream(photo, DreamParams(octaves=3, iterations=4, step=5.0, max_loss=None))
    assert [(o.height, o.width) for o in result.octaves] == octave_shapes(200, 264, 3, 1.4, 8)
    for octave in result.octaves:
        assert octave.steps_run == 4 == len(octave.losses) and not octave.stopped_early
        assert octave.effective_step == pytest.approx(5.0 / math.sqrt(octave.height * octave.width * 3))


def test_zero_iterations_returns_the_image_unchanged(tiny_dreamer, photo):
    result = tiny_dreamer.dream(photo, DreamParams(octaves=1, iterations=0))
    np.testing.assert_array_equal(result.image, INCEPTION.deprocess(INCEPTION.preprocess(photo)))
    assert np.abs(result.image.astype(int) - photo).max() <= 1


@pytest.mark.parametrize("preprocessing", [INCEPTION, CAFFE])
def test_preprocessing_round_trips(preprocessing, photo):
    back = preprocessing.deprocess(preprocessing.preprocess(photo))
    assert np.abs(back.astype(int) - photo).max() <= 1  # deprocess truncates like the seed


def test_caffe_preprocessing_is_keras_vgg16s():
    import keras

    rgb = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3) * 4
    expected = keras.applications.vgg16.preprocess_input(rgb[np.newaxis].astype("float32"))
    np.testing.assert_allclose(CAFFE.preprocess(rgb), expected, rtol=1e-6)


def test_unknown_layer_lists_the_valid_ones(tiny_model):
    with pytest.raises(ValueError, match="valid: .*conv1"):
        Dreamer(tiny_model, {"nope": 1.0}, INCEPTION)


def test_batch_norm_folding_keeps_outputs_and_objective_layers():
    import keras

    from transforms.dream.folding import FoldedAway, fold_batch_norms

    keras.utils.set_random_seed(3)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False, name="c1")(inputs)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.Conv2D(4, 3, padding="same", name="c2")(keras.layers.ReLU()(x))
    x = keras.layers.BatchNormalization(scale=False, name="bn2")(x)
    model = keras.Model(inputs, x)
    rng = np.random.default_rng(0)
    for name in ("bn1", "bn2"):
        layer = model.get_layer(name)
        layer.set_weights([rng.uniform(0.5, 2.0, w.shape).astype("float32") for w in layer.get_weights()])
    image = tf.random.stateless_uniform((1, 12, 10, 3), seed=(1, 1))
    folded = fold_batch_norms(model)
    assert all(isinstance(folded.get_layer(n), FoldedAway) for n in ("bn1", "bn2"))
    np.testing.assert_allclose(folded(image), model(image), rtol=1e-5, atol=1e-6)
    kept = fold_batch_norms(model, keep=["c2"])  # c2's own output is an objective: not folded
    assert isinstance(kept.get_layer("bn1"), FoldedAway) and not isinstance(kept.get_layer("bn2"), FoldedAway)
    np.testing.assert_allclose(kept.get_layer("c2").get_weights()[0], model.get_layer("c2").get_weights()[0])


def test_light_name_lists_match_the_modules_that_implement_them():
    """The CLI validates against TF-free name lists; each must match its implementation."""
    from transforms.dream.params import PRECISIONS, PREPROCESSING_NAMES
    from transforms.dream.precision import LOSS_SCALE
    from transforms.dream.preprocessing import PREPROCESSINGS

    assert tuple(PREPROCESSINGS) == PREPROCESSING_NAMES
    assert tuple(LOSS_SCALE) == PRECISIONS
