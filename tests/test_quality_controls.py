"""lapnorm, gradient smoothing, total variation and the mean objective, on a tiny model."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from pipeline.run import main
from transforms.dream import Dreamer, DreamParams
from transforms.dream.objective import dream_loss, total_variation
from transforms.dream.preprocessing import INCEPTION
from transforms.dream.smoothing import (
    gaussian_blur,
    lap_normalize,
    laplacian_levels,
    merge_laplacian_levels,
)

SHORT = DreamParams(octaves=2, iterations=3, step=2.0, max_loss=None, step_mode="pixel")
CONTROLS_ON = {"lap": dict(grad_norm="lap", lap_levels=3), "blur": dict(grad_blur=1.5),
               "tv": dict(tv_weight=5.0), "mean": dict(objective="mean"),
               # The TF tutorial's ways, where it differs from the seed.
               "whole_map": dict(activation_border=0), "no_detail": dict(reinject_detail=False),
               "clip": dict(clip_pixels=True)}


@pytest.fixture(scope="module")
def dreamer(tiny_model):
    return Dreamer(tiny_model, "conv2:1.0,conv3:0.5", INCEPTION, min_input_size=8)


@pytest.fixture(scope="module")
def grads():
    return tf.random.stateless_normal((2, 37, 51, 3), seed=(3, 4))


def test_the_laplacian_pyramid_merges_back_exactly(grads):
    levels = laplacian_levels(grads, 4)
    assert [tuple(level.shape[1:3]) for level in levels] == [(37, 51), (19, 26), (10, 13), (5, 7)]
    np.testing.assert_allclose(merge_laplacian_levels(levels), grads, atol=1e-5)


def test_lapnorm_gives_every_level_unit_rms_per_image(grads):
    same_at_two_scales = tf.stack([grads[0], grads[0] * 1000.0])
    twins = lap_normalize(same_at_two_scales, 4)
    np.testing.assert_allclose(twins[0], twins[1], rtol=1e-4, atol=1e-4)  # each image alone
    out = lap_normalize(grads, 4)
    one_level = lap_normalize(grads, 1)
    rms = tf.sqrt(tf.reduce_mean(tf.square(grads), axis=[1, 2, 3], keepdims=True))
    np.testing.assert_allclose(one_level, grads / rms, rtol=1e-5)
    # Coarse structure gets a say: the low-pass share of the result is far above the input's.
    low_in = laplacian_levels(grads, 4)[-1]
    low_out = laplacian_levels(out, 4)[-1]
    assert float(tf.math.reduce_std(low_out[0])) > 3 * float(tf.math.reduce_std(low_in[0]))


def test_gaussian_blur_keeps_flat_images_and_spreads_points():
    flat = tf.fill((1, 20, 20, 3), 0.7)
    np.testing.assert_allclose(gaussian_blur(flat, 2.0), flat, rtol=1e-6)
    point = np.zeros((1, 41, 41, 3), np.float32)
    point[0, 20, 20] = 1.0
    blurred = gaussian_blur(tf.constant(point), 2.0).numpy()[0, :, :, 0]
    assert blurred.sum() == pytest.approx(1.0, rel=1e-5)
    assert blurred[20, 20] < 0.05 and blurred[20, 22] == pytest.approx(blurred[22, 20], rel=1e-5)


def test_mean_objective_and_total_variation():
    activation = tf.random.stateless_normal((2, 9, 9, 4), seed=(1, 2))
    features = {"a": activation}
    expected = tf.reduce_mean(activation[:, 2:-2, 2:-2, :], axis=[1, 2, 3])
    np.testing.assert_allclose(dream_loss(features, "a:1", "mean"), expected, rtol=1e-6)
    ramp = tf.reshape(tf.range(16, dtype=tf.float32), (1, 4, 4, 1)) * tf.ones((1, 1, 1, 3))
    np.testing.assert_allclose(total_variation(ramp), [4.0 + 1.0])  # rows step 4, columns 1


@pytest.mark.parametrize("control", CONTROLS_ON)
def test_each_control_changes_the_dream_when_on_and_is_a_no_op_when_off(dreamer, photo, control):
    base = dreamer.dream(photo, SHORT).image
    on = dreamer.dream(photo, dataclasses.replace(SHORT, **CONTROLS_ON[control])).image
    assert np.abs(on.astype(int) - base).mean() > 0.2
    off = dict(grad_blur=0.0, tv_weight=0.0, objective="mean_square", lap_levels=3,
               activation_border=2, reinject_detail=True, clip_pixels=False, tile_grid="rolled",
               octave_sizes="divide")
    np.testing.assert_array_equal(dreamer.dream(photo, dataclasses.replace(SHORT, **off)).image, base)


@pytest.mark.parametrize("control", CONTROLS_ON)
def test_each_control_is_reproducible_with_the_seed_tiled_and_batched(dreamer, photo, control):
    params = dataclasses.replace(SHORT, jitter=5, seed=3, tile_size=64, **CONTROLS_ON[control])
    first = dreamer.dream(photo, params).image
    np.testing.assert_array_equal(dreamer.dream(photo, params).image, first)
    other = np.ascontiguousarray(photo[::-1])
    batched = dreamer.dream_batch([photo, other], params)
    assert np.abs(batched[0].image.astype(int) - first).max() <= 1


@pytest.mark.parametrize("args,message", [
    (["--objective=mean_abs"], "invalid choice"),
    (["--grad_blur=50"], "grad_blur must be within [0, 10]"),
    (["--lap_levels=0"], "lap_levels must be within [1, 8]"),
    (["--tv_weight=-1"], "tv_weight must be >= 0"),
    (["--random_scale=1.2:0.8"], "random_scale must be MIN:MAX"),
    (["--random_scale=big"], "--random_scale expects MIN:MAX"),
    (["--random_rotate=400"], "random_rotate must be within [0, 180]"),
    (["--upscale_octaves=9"], "upscale_octaves must be within [0, 4]"),
    (["--tile_grid=diagonal"], "invalid choice"),
    (["--octave_sizes=round"], "invalid choice"),
    (["--activation_border=20"], "activation_border must be within [0, 8]"),
    (["--clip_pixels=maybe"], "expected true or false"),
])
def test_quality_controls_are_checked_at_start(tmp_path, capsys, args, message):
    from PIL import Image

    Image.new("RGB", (40, 40)).save(tmp_path / "a.png")
    try:
        code = main([f"--input={tmp_path}/*.png", f"--output={tmp_path / 'out'}", *args])
    except SystemExit as exit_:  # argparse's own check of choices
        code = exit_.code
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_params_file_names_the_valid_objectives(tmp_path, capsys):
    from PIL import Image

    Image.new("RGB", (40, 40)).save(tmp_path / "a.png")
    (tmp_path / "p.yaml").write_text("objective: loud\n")
    assert main([f"--input={tmp_path}/*.png", f"--output={tmp_path / 'out'}", f"--params={tmp_path / 'p.yaml'}"]) == 2
    assert "unknown objective 'loud'; valid: mean_square, mean" in capsys.readouterr().err


def test_octaves_above_the_input_are_dreamed_and_written_back_at_its_size(dreamer, photo):
    from transforms.dream.octaves import octave_shapes

    assert octave_shapes(200, 264, 3, 1.3, 8, upscale=2) == [
        (118, 156), (153, 203), (200, 264), (260, 343), (338, 446)]  # the tutorial's -2..2
    base = dreamer.dream(photo, SHORT)
    up = dreamer.dream(photo, dataclasses.replace(SHORT, upscale_octaves=1))
    assert [(o.height, o.width) for o in up.octaves][-1] == (280, 369)
    assert up.image.shape == photo.shape and np.abs(up.image.astype(int) - base.image).mean() > 0.2
    kept = dreamer.dream(photo, dataclasses.replace(SHORT, upscale_octaves=1, keep_upscaled=True))
    assert kept.image.shape == (280, 369, 3)
    np.testing.assert_array_equal(dreamer.dream(photo, dataclasses.replace(SHORT, upscale_octaves=0)).image,
                                  base.image)


def test_octave_sizes_round_as_the_seed_or_as_the_tutorial():
    from transforms.dream.octaves import octave_shapes

    # float32 1.3**-2 times 169 is 100.0000..., the double quotient 99.99...
    assert octave_shapes(169, 169, 3, 1.3, 8)[0] == (99, 99)
    assert octave_shapes(169, 169, 3, 1.3, 8, sizes="multiply")[0] == (100, 100)
    assert octave_shapes(90, 90, 1, 1.3, 8, upscale=1)[-1] == (117, 117)
    assert octave_shapes(90, 90, 1, 1.3, 8, upscale=1, sizes="multiply")[-1] == (116, 116)


def test_the_rolled_tile_grid_skips_the_last_partial_tile(dreamer, photo):
    """Tiles of 64 over 200x264: whole tiles cover 192x256; the rest gets no gradient (and
    does not move) while no roll brings it into a tile."""
    params = dataclasses.replace(SHORT, octaves=1, iterations=1, tile_size=64)
    rolled = dreamer.dream(photo, dataclasses.replace(params, tile_grid="rolled")).image
    # Up to 1 level: the round trip through the model's units truncates.
    assert np.abs(rolled[192:].astype(int) - photo[192:]).max() <= 1
    assert np.abs(rolled[:, 256:].astype(int) - photo[:, 256:]).max() <= 1
    assert np.abs(rolled[:192, :256].astype(int) - photo[:192, :256]).mean() > 1.0
    shifted = dreamer.dream(photo, params).image
    assert np.abs(shifted[192:].astype(int) - photo[192:]).mean() > 1.0  # the shifted grid covers all


def test_upscaled_octaves_in_the_job_record_the_written_size(tmp_path):
    from PIL import Image

    from tests.conftest import read_jsonl

    Image.fromarray(np.random.default_rng(2).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    common = [f"--input={tmp_path}/*.png", "--runner=FnApiRunner", "--octaves=1", "--iterations=1",
              "--upscale_octaves=1", "--octave_scale=1.5"]
    main([*common, f"--output={tmp_path / 'same'}"])
    main([*common, f"--output={tmp_path / 'kept'}", "--keep_upscaled"])
    same, kept = read_jsonl(tmp_path / "same" / "metadata.jsonl")[0], read_jsonl(tmp_path / "kept" / "metadata.jsonl")[0]
    assert (same["width"], same["height"]) == Image.open(same["output_uri"]).size == (64, 48)
    assert (kept["width"], kept["height"]) == Image.open(kept["output_uri"]).size == (96, 72)
    assert kept["params"]["upscale_octaves"] == 1 and kept["params"]["keep_upscaled"] is True


def test_zoom_and_turn_is_the_identity_at_scale_one_and_no_angle():
    from transforms.dream.robustness import zoom_and_turn

    images = tf.random.stateless_normal((2, 21, 30, 3), seed=(8, 9))
    np.testing.assert_allclose(zoom_and_turn(images, tf.constant(1.0), tf.constant(0.0)), images, atol=1e-5)
    turned = zoom_and_turn(images, tf.constant(1.0), tf.constant(180.0))
    np.testing.assert_allclose(turned, images[:, ::-1, ::-1, :], atol=1e-4)


@pytest.mark.parametrize("changes", [dict(random_scale_min=0.8, random_scale_max=1.2), dict(random_rotate=10.0)])
def test_random_scale_and_rotation_change_the_dream_and_follow_the_seed(dreamer, photo, changes):
    base = dreamer.dream(photo, SHORT).image
    params = dataclasses.replace(SHORT, seed=5, **changes)
    first = dreamer.dream(photo, params).image
    assert np.abs(first.astype(int) - base).mean() > 0.2
    np.testing.assert_array_equal(dreamer.dream(photo, params).image, first)
    assert np.abs(dreamer.dream(photo, dataclasses.replace(params, seed=6)).image.astype(int) - first).max() > 0
    tiled = dataclasses.replace(params, tile_size=64)
    assert np.abs(dreamer.dream_batch([photo, photo[::-1].copy()], tiled)[0].image.astype(int)
                  - dreamer.dream(photo, tiled).image).max() <= 1
    off = dataclasses.replace(SHORT, random_scale_min=1.0, random_scale_max=1.0, random_rotate=0.0)
    np.testing.assert_array_equal(dreamer.dream(photo, off).image, base)


def test_the_depthwise_blur_gives_the_dense_blurs_values():
    """--grad_blur's depthwise convolution against the dense one it replaced (bench/library_bench.py)."""
    from bench.library_bench import dense_gaussian_blur

    grads = tf.constant(np.random.default_rng(3).normal(size=(2, 37, 51, 3)).astype(np.float32))
    for sigma in (0.6, 2.0, 4.5):
        np.testing.assert_allclose(gaussian_blur(grads, sigma), dense_gaussian_blur(grads, sigma), atol=1e-6)
