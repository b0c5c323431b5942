"""Each dream control on a tiny model: gradient rules, step mode, channels, jitter and seed,
guide, tiling and batching."""
from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from transforms.dream import Dreamer, DreamParams
from transforms.dream.gradients import NORMALIZERS, GradientRule, normalizer
from transforms.dream.layers import LayerTerm, parse_layers
from transforms.dream.objective import dream_loss, guide_loss, guide_vectors
from transforms.dream.params import GRAD_NORMS
from transforms.dream.preprocessing import INCEPTION

SHORT = DreamParams(octaves=2, iterations=3, step=2.0, max_loss=None, step_mode="pixel")


@pytest.fixture(scope="module")
def dreamer(tiny_model):
    return Dreamer(tiny_model, "conv2:1.0,conv3:0.5", INCEPTION, min_input_size=8)


@pytest.fixture(scope="module")
def grads():
    return tf.random.stateless_normal((1, 13, 17, 3), seed=(3, 4)) * 1e-3


# --- gradient rules -------------------------------------------------------------------------

def test_every_rule_is_named_for_the_command_line():
    assert tuple(NORMALIZERS) == GRAD_NORMS


@pytest.mark.parametrize(
    "rule,definition",
    [
        (GradientRule("l2"), lambda g: tf.math.l2_normalize(g)),
        (GradientRule("std"), lambda g: g / (tf.math.reduce_std(g) + 1e-8)),
        (GradientRule("mean_abs"), lambda g: g / tf.maximum(tf.reduce_mean(tf.abs(g)), 1e-7)),
        (GradientRule("clip_value", clip_min=-5e-4, clip_max=1e-3),
         lambda g: tf.clip_by_value(g, -5e-4, 1e-3)),
        (GradientRule("clip_norm", clip_norm=1e-2), lambda g: tf.clip_by_norm(g, 1e-2)),
        (GradientRule("none"), lambda g: g),
    ],
    ids=lambda value: value.name if isinstance(value, GradientRule) else "",
)
def test_rule_matches_its_tensorflow_definition(rule, definition, grads):
    np.testing.assert_allclose(normalizer(rule)(grads), definition(grads), rtol=1e-6, atol=1e-12)
    # In a batch, each image is normalised alone.
    batch = tf.concat([grads, grads * 7.0, -grads], axis=0)
    for b in range(3):
        np.testing.assert_allclose(
            normalizer(rule)(batch)[b : b + 1], definition(batch[b : b + 1]), rtol=1e-6, atol=1e-12
        )


def test_clip_rules_really_clip(grads):
    clipped = normalizer(GradientRule("clip_norm", clip_norm=1e-3))(grads)
    assert float(tf.norm(grads)) > 1e-3 and float(tf.norm(clipped)) == pytest.approx(1e-3, rel=1e-5)


@pytest.mark.parametrize("grad_norm", GRAD_NORMS)
def test_every_rule_dreams(dreamer, photo, grad_norm):
    params = dataclasses.replace(SHORT, grad_norm=grad_norm, clip_min=-1e-4, clip_max=1e-4)
    result = dreamer.dream(photo, params)
    assert np.abs(result.image.astype(int) - photo).mean() > 0.5
    assert all(np.isfinite(octave.losses).all() for octave in result.octaves)


# --- step size --------------------------------------------------------------------------------

def test_pixel_step_mode_moves_every_size_equally(dreamer):
    for shape in [(40, 40), (120, 160)]:
        rgb = np.random.default_rng(1).integers(0, 255, shape + (3,), dtype=np.uint8)
        result = dreamer.dream(rgb, dataclasses.replace(SHORT, step=0.05))
        for octave in result.octaves:
            assert octave.effective_step == pytest.approx(0.05, rel=1e-4)


def test_classic_l2_step_shrinks_with_image_size(dreamer, photo):
    result = dreamer.dream(photo, dataclasses.replace(SHORT, step_mode="image", step=5.0))
    for octave in result.octaves:
        assert octave.effective_step == pytest.approx(5.0 / (octave.height * octave.width * 3) ** 0.5, rel=1e-4)


# --- layers and channels ----------------------------------------------------------------------

def test_layer_text_parses_names_channels_and_weights():
    assert parse_layers("mixed4:1.0, mixed5[12,40]:2.0,mixed6") == (
        LayerTerm("mixed4", 1.0), LayerTerm("mixed5", 2.0, (12, 40)), LayerTerm("mixed6", 1.0),
    )


@pytest.mark.parametrize("text", ["", "a:b", "a[x]:1", "a[1,2", "a[-1]"])
def test_bad_layer_text_says_what_is_expected(text):
    with pytest.raises(ValueError, match="layer|channels|weight"):
        parse_layers(text)


def test_channel_out_of_range_names_the_range(tiny_model):
    with pytest.raises(ValueError, match="channels 0-15"):
        Dreamer(tiny_model, "conv3[3,16]:1", INCEPTION)


def test_channel_objective_counts_only_those_channels():
    activation = tf.random.stateless_normal((2, 9, 9, 6), seed=(5, 6))
    loss = dream_loss({"a": activation}, "a[1,4]:3")
    expected = 3.0 * tf.reduce_mean(tf.square(tf.gather(activation[:, 2:-2, 2:-2], [1, 4], axis=-1)), axis=[1, 2, 3])
    np.testing.assert_allclose(loss, expected, rtol=1e-6)


def test_channel_selection_ignores_every_other_channel(tiny_model, photo):
    """Zeroing the kernels of unselected conv3 channels leaves the dream unchanged."""
    twin = keras.models.clone_model(tiny_model)
    twin.set_weights(tiny_model.get_weights())
    kernel, bias = twin.get_layer("conv3").get_weights()
    keep = [2, 9]
    mask = np.zeros(kernel.shape[-1], bool)
    mask[keep] = True
    twin.get_layer("conv3").set_weights([kernel * mask, bias * mask])
    params = dataclasses.replace(SHORT, octaves=1)
    original = Dreamer(tiny_model, "conv3[2,9]:1", INCEPTION, min_input_size=8).dream(photo, params)
    masked = Dreamer(twin, "conv3[2,9]:1", INCEPTION, min_input_size=8).dream(photo, params)
    np.testing.assert_array_equal(original.image, masked.image)
    everything = Dreamer(twin, "conv3:1", INCEPTION, min_input_size=8).dream(photo, params)
    np.testing.assert_allclose(everything.octaves[0].losses, np.array(original.octaves[0].losses) * 2 / 16, rtol=1e-4)


# --- jitter and seed --------------------------------------------------------------------------

def test_same_seed_is_bit_identical_and_another_seed_differs(dreamer, photo):
    params = dataclasses.replace(SHORT, jitter=6, seed=11)
    first, again = dreamer.dream(photo, params), dreamer.dream(photo, params)
    np.testing.assert_array_equal(first.image, again.image)
    other = dreamer.dream(photo, dataclasses.replace(params, seed=12))
    assert np.abs(other.image.astype(int) - first.image).max() > 0
    no_jitter = dreamer.dream(photo, dataclasses.replace(params, jitter=0))
    assert np.abs(no_jitter.image.astype(int) - first.image).max() > 0


# --- batching ---------------------------------------------------------------------------------

def assert_as_alone(together, alone) -> None:
    """docs/controls.md: a batched image is its one-by-one dream, bit-identical on CPUs
    (batched and single convolutions round alike there), to one grey level elsewhere."""
    if together.device.startswith("CPU"):
        np.testing.assert_array_equal(together.image, alone.image)
    else:
        assert np.abs(together.image.astype(int) - alone.image).max() <= 1


def test_a_batch_dreams_each_image_as_alone(dreamer, photo):
    rng = np.random.default_rng(2)
    images = [photo, rng.integers(0, 255, photo.shape, dtype=np.uint8), photo[::-1].copy()]
    params = dataclasses.replace(SHORT, jitter=4, seed=3, max_loss=None)
    batched = dreamer.dream_batch(images, params)
    reordered = dreamer.dream_batch(images[::-1], params)[::-1]
    for rgb, together, backwards in zip(images, batched, reordered, strict=True):
        alone = dreamer.dream(rgb, params)
        assert_as_alone(together, alone)
        np.testing.assert_array_equal(together.image, backwards.image)
        for a, b in zip(together.octaves, alone.octaves, strict=True):
            np.testing.assert_allclose(a.losses, b.losses, rtol=1e-5)


def test_early_stop_in_a_batch_is_per_image(dreamer, photo):
    flat = np.full_like(photo, 128)
    alone = [dreamer.dream(rgb, DreamParams(octaves=1, iterations=6, step=0.01, step_mode="pixel", max_loss=None)) for rgb in (photo, flat)]
    # Stop between the two images' first losses: one stops after step 1, the other runs on.
    max_loss = (alone[0].octaves[0].losses[0] + alone[1].octaves[0].losses[0]) / 2
    params = DreamParams(octaves=1, iterations=6, step=0.01, step_mode="pixel", max_loss=max_loss)
    together = dreamer.dream_batch([photo, flat], params)
    singles = [dreamer.dream(rgb, params) for rgb in (photo, flat)]
    steps_run = [r.octaves[0].steps_run for r in together]
    assert 1 in steps_run and max(steps_run) > 1
    for a, b in zip(together, singles, strict=True):
        assert a.octaves[0].steps_run == b.octaves[0].steps_run
        assert_as_alone(a, b)


# --- guide ------------------------------------------------------------------------------------

def test_guide_raises_the_dot_product_with_the_guide(tiny_model, photo):
    rng = np.random.default_rng(4)
    guide = np.clip(rng.normal(128, 60, (64, 64, 3)), 0, 255).astype(np.uint8)
    guided = Dreamer(tiny_model, "conv3:1", INCEPTION, min_input_size=8, guide=guide)
    from transforms.dream.models import feature_extractor

    extractor = feature_extractor(tiny_model, "conv3:1")
    terms = guided.terms
    guide_features = guide_vectors(extractor(INCEPTION.preprocess(guide)), terms)

    def objective(rgb):
        return float(guide_loss(extractor(INCEPTION.preprocess(rgb)), terms, guide_features)[0])

    result = guided.dream(photo, dataclasses.replace(SHORT, octaves=1, iterations=5))
    assert objective(result.image) > objective(photo) * 1.05
    np.testing.assert_allclose(result.octaves[0].losses[0], objective(photo), rtol=1e-3)
    plain = Dreamer(tiny_model, "conv3:1", INCEPTION, min_input_size=8).dream(photo, dataclasses.replace(SHORT, octaves=1, iterations=5))
    assert np.abs(plain.image.astype(int) - result.image).max() > 0


# --- tiling -----------------------------------------------------------------------------------

@pytest.mark.parametrize("tile_size", [16, 40, 64, 300])
def test_tiled_loss_matches_untiled(dreamer, photo, tile_size):
    params = DreamParams(octaves=1, iterations=1, step=1e-6, step_mode="pixel", max_loss=None)
    untiled = dreamer.dream(photo, params).octaves[0].losses[0]
    tiled = dreamer.dream(photo, dataclasses.replace(params, tile_size=tile_size)).octaves[0].losses[0]
    # Tiles see zero padding at their edges instead of their neighbours: a few percent.
    assert tiled == pytest.approx(untiled, rel=0.1)


@pytest.mark.parametrize("tile_grid", ["shifted", "rolled"])
def test_tiles_smaller_than_the_image_really_cut_it(dreamer, photo, tile_grid):
    """Observed in the dream, not in a record: tiles see zero padding where the whole image
    sees neighbours, so a tiled dream differs from the untiled one (and both grids tile)."""
    params = dataclasses.replace(SHORT, octaves=1, tile_grid=tile_grid)
    untiled = dreamer.dream(photo, params)
    tiled = dreamer.dream(photo, dataclasses.replace(params, tile_size=64))
    assert tiled.tile_size == 64
    assert np.abs(tiled.image.astype(int) - untiled.image.astype(int)).max() > 0
    assert tiled.octaves[0].losses != untiled.octaves[0].losses


def test_one_tile_covering_the_image_is_the_untiled_dream(dreamer, photo):
    params = dataclasses.replace(SHORT, octaves=1)
    untiled = dreamer.dream(photo, params)
    tiled = dreamer.dream(photo, dataclasses.replace(params, tile_size=300))
    np.testing.assert_array_equal(tiled.image, untiled.image)
    assert tiled.octaves[0].losses == untiled.octaves[0].losses


def test_tiles_smaller_than_twice_the_model_minimum_are_refused(dreamer, photo):
    with pytest.raises(ValueError, match="tile_size must be 0 .* at least 16"):
        dreamer.dream(photo, dataclasses.replace(SHORT, tile_size=10))


# --- invalid values ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    "bad,message",
    [
        (dict(grad_norm="l3"), "valid: l2, std, mean_abs, clip_value, clip_norm, none"),
        (dict(step_mode="tile"), "valid: image, pixel"),
        (dict(jitter=-1), "jitter"),
        (dict(clip_min=1.0, clip_max=0.0), "clip_min"),
        (dict(seed=-3), "seed"),
    ],
)
def test_invalid_control_values_list_the_valid_ones(bad, message):
    with pytest.raises(ValueError, match=message):
        DreamParams(**bad)


# --- precision --------------------------------------------------------------------------------

@pytest.mark.parametrize("precision,level_tolerance", [("mixed_float16", 2), ("mixed_bfloat16", 4)])
def test_mixed_precision_matches_float32_within_tolerance(tiny_model, photo, precision, level_tolerance):
    params = DreamParams(octaves=2, iterations=3, step=0.02, step_mode="pixel", max_loss=None)
    full = Dreamer(tiny_model, "conv2:1,conv3:0.5", INCEPTION, 8).dream(photo, params)
    mixed = Dreamer(tiny_model, "conv2:1,conv3:0.5", INCEPTION, 8, precision=precision).dream(photo, params)
    for a, b in zip(mixed.octaves, full.octaves, strict=True):
        np.testing.assert_allclose(a.losses, b.losses, rtol=2e-2)
    diff = np.abs(mixed.image.astype(int) - full.image)
    assert diff.mean() < 0.5 and diff.max() <= level_tolerance * 4, (diff.mean(), diff.max())
    assert diff.max() > 0  # it did compute in the lower precision: float32 would match exactly


@pytest.mark.parametrize("precision, dtype", [("mixed_float16", "float16"), ("mixed_bfloat16", "bfloat16")])
def test_mixed_precision_layers_compute_in_the_lower_precision(tiny_model, precision, dtype):
    from transforms.dream.precision import with_precision

    mixed = with_precision(tiny_model, precision)
    convolutions = [layer for layer in mixed.layers if layer.weights]
    assert convolutions and all(layer.compute_dtype == dtype for layer in convolutions)
    assert all(w.dtype == "float32" for layer in convolutions for w in layer.weights)  # weights stay


def test_loss_scaling_lifts_gradients_that_float16_would_flush_to_zero(tiny_model):
    """conv3 scaled down 100x: the image's gradients are ~1e-8, below float16's smallest
    subnormal (6e-8). Taken through the float16 layers unscaled they are all zero (checked
    here), so no step could move the image; with the project's loss scaling the float16
    dream moves it as the float32 dream does."""
    from transforms.dream.ascent import loss_and_gradient

    small = keras.models.clone_model(tiny_model)
    small.set_weights(tiny_model.get_weights())
    kernel, bias = small.get_layer("conv3").get_weights()
    small.get_layer("conv3").set_weights([kernel * 1e-2, bias * 1e-2])
    rgb = np.random.default_rng(8).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    images = INCEPTION.preprocess(rgb)
    full = Dreamer(small, "conv3:1", INCEPTION, 8)
    mixed = Dreamer(small, "conv3:1", INCEPTION, 8, precision="mixed_float16")
    _, exact = loss_and_gradient(full.objective(), images)
    _, unscaled = loss_and_gradient(mixed.objective(), images, loss_scale=1.0)
    assert 1e-9 < float(tf.reduce_max(tf.abs(exact))) < 6e-8  # what float16 cannot hold
    assert float(tf.reduce_max(tf.abs(unscaled))) == 0.0  # flushed to zero without scaling
    params = DreamParams(octaves=1, iterations=3, step=0.05, step_mode="pixel", max_loss=None)
    reference = full.dream(rgb, params)
    dreamed = mixed.dream(rgb, params)
    assert dreamed.octaves[0].effective_step == pytest.approx(0.05, rel=1e-3)
    assert np.abs(dreamed.image.astype(int) - rgb).mean() > 3.0  # moved (float32: ~6 levels)
    assert np.abs(dreamed.image.astype(int) - reference.image).mean() < 0.5


def test_unknown_precision_lists_the_valid_ones(tiny_model):
    with pytest.raises(ValueError, match="valid: float32, mixed_float16, mixed_bfloat16"):
        Dreamer(tiny_model, "conv3:1", INCEPTION, precision="float8")


def test_jit_dreams_untiled_and_leaves_tiled_dreams_to_the_graph(tiny_model, photo):
    params = DreamParams(octaves=1, iterations=2, step=0.02, step_mode="pixel", max_loss=None)
    jitted = Dreamer(tiny_model, "conv3:1", INCEPTION, 8, jit=True)
    plain = Dreamer(tiny_model, "conv3:1", INCEPTION, 8)
    np.testing.assert_allclose(jitted.dream(photo, params).octaves[0].losses,
                               plain.dream(photo, params).octaves[0].losses, rtol=1e-4)
    tiled = dataclasses.replace(params, tile_size=64)
    np.testing.assert_allclose(jitted.dream(photo, tiled).octaves[0].losses,
                               plain.dream(photo, tiled).octaves[0].losses, rtol=1e-4)


def xla_compiled(dreamer: Dreamer) -> list[str]:
    """The functions inside the dreamer's traced octave loops (the graphs the engine runs)
    that carry XLA's must-compile mark."""
    names = []
    for ascend in dreamer._ascents.values():
        for function in ascend.get_concrete_function().graph.as_graph_def().library.function:
            if "_XlaMustCompile" in function.attr and function.attr["_XlaMustCompile"].b:
                names.append(function.signature.name)
    return names


def test_jit_compiles_the_gradient_with_xla_only_when_asked_and_untiled(tiny_model):
    """Read from the traced loop the engine calls: with jit its loss-and-gradient function
    is marked for XLA; without jit, and in a tiled dream, nothing is."""
    rgb = np.random.default_rng(6).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    params = DreamParams(octaves=1, iterations=2, step=0.02, step_mode="pixel", max_loss=None)
    jitted = Dreamer(tiny_model, "conv3:1", INCEPTION, 8, jit=True)
    jitted.dream(rgb, params)
    compiled = xla_compiled(jitted)
    assert len(compiled) == 1 and "gradient" in compiled[0], compiled
    plain = Dreamer(tiny_model, "conv3:1", INCEPTION, 8)
    plain.dream(rgb, params)
    assert len(plain._ascents) == 1 and xla_compiled(plain) == []
    tiled_only = Dreamer(tiny_model, "conv3:1", INCEPTION, 8, jit=True)
    tiled_only.dream(rgb, dataclasses.replace(params, tile_size=32))
    assert len(tiled_only._ascents) == 1 and xla_compiled(tiled_only) == []


def test_min_octave_size_skips_small_octaves(dreamer, photo):
    params = dataclasses.replace(SHORT, octaves=3, min_octave_size=150)
    shapes = [(o.height, o.width) for o in dreamer.dream(photo, params).octaves]
    assert shapes == [(200, 264)]  # 142x188 and 101x134 are below 150
    assert len(dreamer.dream(photo, dataclasses.replace(params, min_octave_size=0)).octaves) == 3
