"""The octave's ascent step by step, on losses whose gradient is known in closed form: a
linear loss (gradient c everywhere) and a quadratic one. Exact values, tiny images."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from transforms.dream.ascent import (
    RandomTransform,
    _NoRetracingAdvice,
    compile_octave_ascent,
    jitter_shift,
    loss_and_gradient,
    rolled_grid_loss_and_gradient,
    step_seed,
    tile_bounds,
    tiled_loss_and_gradient,
)
from transforms.dream.gradients import GradientRule
from transforms.dream.quiet_tensorflow import tf

SEED = tf.constant([3, 4], tf.int64)
NONE = GradientRule("none")


def _linear(images: tf.Tensor) -> tf.Tensor:
    """Per image: the sum of its values times 0.5; its gradient is 0.5 everywhere."""
    return 0.5 * tf.reduce_sum(images, axis=[1, 2, 3])


def _quadratic(images: tf.Tensor) -> tf.Tensor:
    """Per image: the mean of its squared values; its gradient is 2x / size."""
    return tf.reduce_mean(tf.square(images), axis=[1, 2, 3])


def _run(ascend, images: np.ndarray, iterations: int = 3, step: float = 0.25, max_loss: float = np.inf,
         jitter: int = 0, tile_size: int = 0, *weights):
    return ascend(tf.constant(images, tf.float32), tf.constant(iterations), tf.constant(step, tf.float32),
                  tf.constant(max_loss, tf.float32), tf.constant(jitter), tf.constant(tile_size), SEED, *weights)


def test_tile_edges_shift_with_the_offset_and_drop_cuts_near_the_ends():
    def bounds(length, tile, offset):
        return tile_bounds(tf.constant(length), tf.constant(tile), tf.constant(offset)).numpy().tolist()

    assert bounds(100, 32, 0) == [0, 32, 64, 100]  # 96 is 4 from the end: dropped
    assert bounds(100, 32, 5) == [0, 37, 69, 100]  # 5 < 16 from the start: dropped
    assert bounds(100, 32, 12) == [0, 44, 76, 100]  # 12: still under half a tile
    assert bounds(100, 32, 16) == [0, 16, 48, 80, 100]  # 16 is half a tile: kept at both ends
    assert bounds(20, 32, 3) == [0, 20]  # shorter than a tile and a half: one tile
    assert bounds(48, 32, 0) == [0, 32, 48]


def test_the_seeds_of_each_step_and_use_are_their_own():
    seeds = {(s, u): tuple(step_seed(SEED, tf.constant(s), u).numpy()) for s in range(3) for u in range(3)}
    assert len(set(seeds.values())) == 9
    assert tuple(step_seed(SEED, tf.constant(1), 2).numpy()) == seeds[(1, 2)]
    shifts = np.array([jitter_shift(SEED, tf.constant(s), tf.constant(2)).numpy() for s in range(200)])
    assert shifts.min() == -2 and shifts.max() == 2 and shifts.dtype == np.int32
    assert np.array_equal(jitter_shift(SEED, tf.constant(7), tf.constant(0)).numpy(), [0, 0])
    expected = tf.random.stateless_uniform([2], step_seed(SEED, tf.constant(5), 0), minval=-3, maxval=4, dtype=tf.int32)
    assert np.array_equal(jitter_shift(SEED, tf.constant(5), tf.constant(3)), expected)


def test_loss_scaling_is_undone_in_the_gradient_and_never_in_the_loss():
    x = tf.constant(np.arange(24, dtype=np.float32).reshape(1, 2, 4, 3))
    loss, grads = loss_and_gradient(_quadratic, x)
    scaled_loss, scaled_grads = loss_and_gradient(_quadratic, x, loss_scale=1024.0)
    np.testing.assert_allclose(loss, [np.mean(np.arange(24.0) ** 2)], rtol=1e-6)
    np.testing.assert_allclose(scaled_loss, loss, rtol=1e-6)
    np.testing.assert_allclose(grads, 2 * x.numpy() / 24, rtol=1e-6)
    np.testing.assert_allclose(scaled_grads, grads, rtol=1e-6)
    for scale in (2.0, 0.5):
        np.testing.assert_allclose(loss_and_gradient(_quadratic, x, loss_scale=scale)[1], grads, rtol=1e-6)


def test_tiles_give_the_whole_images_gradient_and_its_area_weighted_loss():
    x = tf.constant(np.random.default_rng(0).normal(size=(2, 10, 13, 3)).astype(np.float32))

    def gradient(images):
        return loss_and_gradient(_quadratic, images)

    loss, grads = gradient(x)
    for tile, offset in ((4, (0, 0)), (4, (1, 3)), (6, (2, 5)), (20, (0, 0))):
        tiled_loss, tiled_grads = tiled_loss_and_gradient(gradient, x, tf.constant(tile), tf.constant(offset))
        np.testing.assert_allclose(tiled_loss, loss, rtol=1e-5)
        # Each tile's mean has its own size: the gradient per pixel is 2x / (tile area * 3).
        rows = tile_bounds(tf.constant(10), tf.constant(tile), tf.constant(offset[0])).numpy()
        cols = tile_bounds(tf.constant(13), tf.constant(tile), tf.constant(offset[1])).numpy()
        expected = np.zeros_like(x.numpy())
        for r0, r1 in zip(rows[:-1], rows[1:], strict=True):
            for c0, c1 in zip(cols[:-1], cols[1:], strict=True):
                expected[:, r0:r1, c0:c1] = 2 * x.numpy()[:, r0:r1, c0:c1] / ((r1 - r0) * (c1 - c0) * 3)
        np.testing.assert_allclose(tiled_grads, expected, rtol=1e-5)
    # The TF tutorial's grid: whole tiles from the corner, the partial last ones without gradient.
    loss, grads = rolled_grid_loss_and_gradient(gradient, x, tf.constant(4))
    assert np.all(grads[:, 8:] == 0) and np.all(grads[:, :, 12:] == 0) and np.all(grads[:, :8, :12] != 0)
    np.testing.assert_allclose(loss, np.mean(x.numpy()[:, :8, :12] ** 2, axis=(1, 2, 3)), rtol=1e-5)
    y = tf.constant(np.random.default_rng(1).normal(size=(1, 11, 15, 3)).astype(np.float32))  # 4k - 1 each way
    loss, grads = rolled_grid_loss_and_gradient(gradient, y, tf.constant(4))
    assert np.all(grads[:, 8:] == 0) and np.all(grads[:, :, 12:] == 0) and np.all(grads[:, :8, :12] != 0)
    loss, grads = rolled_grid_loss_and_gradient(gradient, x[:, :4, :4], tf.constant(4))  # one tile: all of it
    np.testing.assert_allclose(grads, 2 * x.numpy()[:, :4, :4] / 48, rtol=1e-5)


def test_random_transforms_are_active_only_off_the_identity():
    assert not RandomTransform().active
    assert RandomTransform(0.9).active and RandomTransform(1.0, 1.1).active and RandomTransform(degrees=5).active


def test_retracing_advice_is_filtered_and_nothing_else():
    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("tensorflow", logging.WARNING, "", 0, message, None, None)

    assert not _NoRetracingAdvice().filter(record("5 out of the last 5 calls triggered tf.function retracing."))
    assert _NoRetracingAdvice().filter(record("something else"))


def test_each_step_moves_by_the_step_and_records_the_loss_before_it():
    images = np.zeros((2, 4, 5, 3), np.float32)
    images[1] += 1.0
    out = _run(compile_octave_ascent(_linear, NONE), images, iterations=3, step=0.25)
    np.testing.assert_allclose(out.images, images + 3 * 0.25 * 0.5, rtol=1e-6)
    per_step = 0.5 * 60 * 0.25 * 0.5  # each step adds 0.25 * 0.5 to 60 values
    expected = [[0.5 * 60 * b + per_step * s for b in (0.0, 1.0)] for s in range(3)]
    np.testing.assert_allclose(out.losses, expected, rtol=1e-6)
    assert out.steps_run.numpy().tolist() == [3, 3] and out.stopped_early.numpy().tolist() == [False, False]
    np.testing.assert_allclose(out.effective_step, [0.125, 0.125], rtol=1e-6)
    # The default rule (l2) takes a step of unit L2 norm per image; "pixel" mode one of unit RMS.
    l2 = _run(compile_octave_ascent(_linear), images, iterations=1, step=1.0)
    np.testing.assert_allclose(l2.images - images, np.full_like(images, 1 / np.sqrt(60)), rtol=1e-5)
    pixel = _run(compile_octave_ascent(_linear, step_mode="pixel"), images, iterations=1, step=1.0)
    np.testing.assert_allclose(pixel.images - images, np.ones_like(images), rtol=1e-5)
    np.testing.assert_allclose(pixel.effective_step, [1.0, 1.0], rtol=1e-5)


def test_an_image_stops_after_the_step_whose_loss_passed_max_loss():
    images = np.stack([np.zeros((4, 5, 3)), np.full((4, 5, 3), 2.0)]).astype(np.float32)
    out = _run(compile_octave_ascent(_linear, NONE), images, iterations=4, step=1.0, max_loss=59.0)
    # Image 1's first loss (60) passes 59: that step is taken, then it stops. Image 0's losses
    # run 0, 15, 30, 45: it goes on to the end. Its last step is the loop's last.
    assert out.steps_run.numpy().tolist() == [4, 1] and out.stopped_early.numpy().tolist() == [False, True]
    np.testing.assert_allclose(out.images[1], images[1] + 0.5, rtol=1e-6)
    np.testing.assert_allclose(out.images[0], images[0] + 2.0, rtol=1e-6)
    np.testing.assert_allclose(out.effective_step, [0.5, 0.5], rtol=1e-6)  # per step it ran
    assert out.losses.shape == (4, 2)
    # Once every image has stopped, the loop ends.
    both = _run(compile_octave_ascent(_linear, NONE), images + 2.0, iterations=4, step=1.0, max_loss=0.0)
    assert both.losses.shape == (1, 2) and both.steps_run.numpy().tolist() == [1, 1]
    # Exactly at max_loss is not past it.
    edge = _run(compile_octave_ascent(_linear, NONE), images[1:], iterations=1, step=1.0, max_loss=60.0)
    assert edge.steps_run.numpy().tolist() == [1] and not edge.stopped_early.numpy()[0]


def test_pixel_bounds_and_a_mask_scale_each_step():
    images = np.zeros((1, 4, 5, 3), np.float32)
    low, high = np.array([-1.0, -1.0, -1.0], np.float32), np.array([0.3, 0.2, 0.1], np.float32)
    out = _run(compile_octave_ascent(_linear, NONE, pixel_bounds=(low, high)), images, iterations=2, step=1.0)
    np.testing.assert_allclose(out.images, np.broadcast_to(high, images.shape), rtol=1e-6)
    weights = np.zeros((1, 4, 5, 1), np.float32)
    weights[:, :, 3:] = 0.5
    masked = _run(compile_octave_ascent(_linear, NONE, masked=True), images, 2, 1.0, np.inf, 0, 0,
                  tf.constant(weights))
    np.testing.assert_allclose(masked.images, 2 * 0.5 * weights * np.ones_like(images), rtol=1e-6)
    np.testing.assert_allclose(masked.effective_step, [np.sqrt(np.mean((0.5 * weights) ** 2 * np.ones((4, 5, 3))))],
                               rtol=1e-5)


def test_jitter_rolls_the_image_and_the_gradient_back():
    x = np.random.default_rng(1).normal(size=(1, 6, 7, 3)).astype(np.float32)
    # The quadratic's gradient is pointwise: a roll there and back leaves each step unchanged.
    still = _run(compile_octave_ascent(_quadratic, NONE), x, iterations=2, step=1.0)
    rolled = _run(compile_octave_ascent(_quadratic, NONE), x, iterations=2, step=1.0, jitter=2)
    np.testing.assert_allclose(rolled.images, still.images, rtol=1e-5)
    np.testing.assert_allclose(still.images, x * (1 + 2 / x.size) ** 2, rtol=1e-5)
    # A loss that sees positions: with jitter, the gradient lands on the pixels that made it.
    c = np.random.default_rng(2).normal(size=(1, 6, 7, 3)).astype(np.float32)

    def positional(images):
        return tf.reduce_sum(images * c, axis=[1, 2, 3])

    out = _run(compile_octave_ascent(positional, NONE), np.zeros_like(x), iterations=1, step=1.0, jitter=2)
    shift = jitter_shift(SEED, tf.constant(0), tf.constant(2)).numpy()
    np.testing.assert_allclose(out.images, np.roll(c, -shift, axis=(1, 2)), rtol=1e-6)


def test_tiled_ascent_only_for_images_larger_than_a_tile():
    x = np.random.default_rng(3).normal(size=(1, 8, 12, 3)).astype(np.float32)
    whole = _run(compile_octave_ascent(_quadratic, NONE), x, iterations=1, step=1.0)
    for tiling in ("shifted", "rolled"):
        ascend = compile_octave_ascent(_quadratic, NONE, tiling=tiling)
        np.testing.assert_allclose(_run(ascend, x, iterations=1, step=1.0, tile_size=12).images, whole.images,
                                   rtol=1e-6)  # fits one tile: whole
        np.testing.assert_allclose(_run(ascend, x, iterations=1, step=1.0, tile_size=0).images, whole.images,
                                   rtol=1e-6)  # tile size 0: whole
        tiled = _run(ascend, x, iterations=1, step=1.0, tile_size=4).images.numpy()
        assert not np.allclose(tiled, whole.images)
    rolled = _run(compile_octave_ascent(_quadratic, NONE, tiling="rolled"), x, iterations=1, step=1.0, tile_size=5)
    np.testing.assert_array_equal(rolled.images[:, 5:], x[:, 5:])  # the partial last tiles stand still
    np.testing.assert_array_equal(rolled.images[:, :, 10:], x[:, :, 10:])


def test_the_random_transform_and_the_fft_filter_are_in_the_step():
    x = np.random.default_rng(4).normal(size=(1, 16, 16, 3)).astype(np.float32)
    plain = _run(compile_octave_ascent(_quadratic, NONE), x, iterations=1, step=1.0).images.numpy()
    zoomed = _run(compile_octave_ascent(_quadratic, NONE, random_transform=RandomTransform(0.8, 0.9, 10.0)),
                  x, iterations=1, step=1.0).images.numpy()
    assert not np.allclose(zoomed, plain, atol=1e-4)
    identity = _run(compile_octave_ascent(_quadratic, NONE, random_transform=RandomTransform(1.0, 1.0, 0.0)),
                    x, iterations=1, step=1.0).images.numpy()
    np.testing.assert_allclose(identity, plain, rtol=1e-6)
    from transforms.dream.parameterization import fft_filter

    fft = _run(compile_octave_ascent(_quadratic, NONE, parameterization="fft"), x, iterations=1, step=1.0)
    expected = x + fft_filter(tf.constant(2 * x / x.size)).numpy()
    np.testing.assert_allclose(fft.images, expected, rtol=1e-4, atol=1e-6)


def test_what_cannot_be_built_is_refused_with_the_valid_choices():
    with pytest.raises(ValueError) as refused:
        compile_octave_ascent(_linear, step_mode="tile")
    assert str(refused.value) == "unknown step_mode 'tile'; valid: image, pixel"
    with pytest.raises(ValueError) as refused:
        compile_octave_ascent(_linear, tiling="diagonal")
    assert str(refused.value) == "unknown tile grid 'diagonal'; valid: shifted, rolled"
    with pytest.raises(ValueError) as refused:
        compile_octave_ascent(_linear, jit=True, tiling="shifted")
    assert str(refused.value) == "tiling and XLA (jit) do not combine: tiles have changing shapes"


def test_a_side_longer_than_the_tile_is_tiled_whichever_side_it_is():
    for shape in ((1, 12, 8, 3), (1, 8, 12, 3)):
        x = np.random.default_rng(5).normal(size=shape).astype(np.float32)
        whole = _run(compile_octave_ascent(_quadratic, NONE), x, iterations=1, step=1.0).images.numpy()
        tiled = _run(compile_octave_ascent(_quadratic, NONE, tiling="rolled"), x, iterations=1, step=1.0,
                     tile_size=10).images.numpy()
        assert not np.allclose(tiled, whole), shape
    # An image exactly one tile large is dreamed whole at every step, whatever the grid's offset.
    square = np.random.default_rng(6).normal(size=(1, 12, 12, 3)).astype(np.float32)
    whole = _run(compile_octave_ascent(_quadratic, NONE), square, iterations=24, step=0.1).images.numpy()
    tiled = _run(compile_octave_ascent(_quadratic, NONE, tiling="shifted"), square, iterations=24, step=0.1,
                 tile_size=12).images.numpy()
    np.testing.assert_allclose(tiled, whole, rtol=1e-6)


def test_each_step_of_a_shifted_grid_is_tiled_at_its_seeded_offset():
    x = np.random.default_rng(7).normal(size=(1, 13, 17, 3)).astype(np.float32)

    def gradient(images):
        return loss_and_gradient(_quadratic, images)

    expected = tf.constant(x)
    for i in range(3):
        offset = tf.random.stateless_uniform([2], step_seed(SEED, tf.constant(i), 1), minval=0, maxval=6,
                                             dtype=tf.int32)
        expected = expected + tiled_loss_and_gradient(gradient, expected, tf.constant(6), offset)[1]
    out = _run(compile_octave_ascent(_quadratic, NONE, tiling="shifted"), x, iterations=3, step=1.0, tile_size=6)
    np.testing.assert_allclose(out.images, expected, rtol=1e-5, atol=1e-7)


def test_the_random_zoom_and_turn_is_drawn_per_step_and_its_gradient_taken_back_through_it():
    from transforms.dream.robustness import zoom_and_turn

    x = np.random.default_rng(8).normal(size=(1, 16, 16, 3)).astype(np.float32)
    transform = RandomTransform(0.8, 0.9, 10.0)
    draws = tf.random.stateless_uniform([2], step_seed(SEED, tf.constant(0), 2))
    scale = 0.8 + draws[0] * (0.9 - 0.8)
    degrees = (2.0 * draws[1] - 1.0) * 10.0
    images = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(images)
        seen = zoom_and_turn(images, scale, degrees)
    expected = x + tape.gradient(seen, images, output_gradients=2 * seen / tf.cast(tf.size(seen), tf.float32))
    out = _run(compile_octave_ascent(_quadratic, NONE, random_transform=transform), x, iterations=1, step=1.0)
    np.testing.assert_allclose(out.images, expected, rtol=1e-5, atol=1e-6)


def test_a_jitter_of_one_rolls_too():
    c = np.random.default_rng(9).normal(size=(1, 6, 7, 3)).astype(np.float32)

    def positional(images):
        return tf.reduce_sum(images * c, axis=[1, 2, 3])

    shifts = [jitter_shift(SEED, tf.constant(0), tf.constant(1)).numpy()]
    assert np.any(shifts[0] != 0)  # this seed's first step does move
    out = _run(compile_octave_ascent(positional, NONE), np.zeros_like(c), iterations=1, step=1.0, jitter=1)
    np.testing.assert_allclose(out.images, np.roll(c, -shifts[0], axis=(1, 2)), rtol=1e-6)


def test_pixel_bounds_hold_values_between_them_as_they_are():
    images = np.zeros((1, 4, 5, 3), np.float32)
    low, high = np.array([-1.0, -0.02, -1.0], np.float32), np.array([0.3, 0.2, 0.1], np.float32)
    out = _run(compile_octave_ascent(_linear, NONE, pixel_bounds=(low, high)), images, iterations=1, step=0.1)
    np.testing.assert_allclose(out.images, np.full_like(images, 0.05), rtol=1e-6)
    down = _run(compile_octave_ascent(_linear, NONE, pixel_bounds=(low, high)), images, iterations=1, step=-0.1)
    np.testing.assert_allclose(down.images, np.broadcast_to([-0.05, -0.02, -0.05], images.shape), rtol=1e-6)


def test_with_a_jitter_of_one_the_image_is_rolled_before_the_gradient_and_it_back_after():
    c = np.random.default_rng(10).normal(size=(1, 6, 7, 3)).astype(np.float32)
    x = np.random.default_rng(11).normal(size=(1, 6, 7, 3)).astype(np.float32)

    def weighted_square(images):  # gradient c * image: depends on where each pixel is seen
        return 0.5 * tf.reduce_sum(c * tf.square(images), axis=[1, 2, 3])

    shift = jitter_shift(SEED, tf.constant(0), tf.constant(1)).numpy()
    out = _run(compile_octave_ascent(weighted_square, NONE), x, iterations=1, step=1.0, jitter=1)
    np.testing.assert_allclose(out.images, x + np.roll(c, -shift, axis=(1, 2)) * x, rtol=1e-5)

