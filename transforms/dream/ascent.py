"""Gradient ascent over one octave, compiled as a single TensorFlow graph.

The whole octave (all iterations, the max_loss early stop, jitter and tiling) runs inside one
tf.function with a shape-polymorphic signature: it is traced once per setting of the
gradient rule, not once per image shape, and the host only sees the result when the octave
is done. Images of one shape may come as a batch: every image is normalised, stopped and
recorded on its own, so a batch dreams exactly as its images would one by one.

Traced without AutoGraph: every loop and branch on a tensor is an explicit tf.while_loop or
tf.cond (Python `if`s here are on settings, fixed per graph). AutoGraph's source conversion
of these functions and the objective's was half the first trace's time (about 1 s on a
2-core CPU, docs/performance.md), for the same graph: dreams are bit-identical either way.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, NamedTuple

import numpy as np

from transforms.dream.gradients import GradientRule, normalizer, per_image_rms, unit_rms
from transforms.dream.parameterization import gradient_filter
from transforms.dream.params import STEP_MODES, TILE_GRIDS
from transforms.dream.quiet_tensorflow import tf
from transforms.dream.robustness import zoom_and_turn

LossFn = Callable[[tf.Tensor], tf.Tensor]  # BxHxWx3 -> loss per image, B


class OctaveAscent(NamedTuple):
    images: tf.Tensor  # BxHxWx3, model input space
    losses: tf.Tensor  # steps x B: loss before each step (rows past an image's steps_run unused)
    steps_run: tf.Tensor  # B, int32
    stopped_early: tf.Tensor  # B, bool: the last step's loss exceeded max_loss
    effective_step: tf.Tensor  # B: mean over steps of the update's RMS per element


def step_seed(seed: tf.Tensor, step: tf.Tensor, stream: int) -> tf.Tensor:
    """A seed per (step, use), from the octave's seed only: never from which images share a
    batch or what ran before, so the same seed gives the same dream in any order."""
    per_step = tf.random.experimental.stateless_fold_in(seed, tf.cast(step, tf.int64))
    return tf.random.experimental.stateless_fold_in(per_step, stream)


def jitter_shift(seed: tf.Tensor, step: tf.Tensor, jitter: tf.Tensor) -> tf.Tensor:
    """Seeded roll (dy, dx) of up to +-jitter pixels for one step."""
    return tf.random.stateless_uniform(
        [2], step_seed(seed, step, 0), minval=-jitter, maxval=jitter + 1, dtype=tf.int32
    )


def tile_bounds(length: tf.Tensor, tile_size: tf.Tensor, offset: tf.Tensor) -> tf.Tensor:
    """Edges of tiles of tile_size along one side, the grid shifted by `offset` (< tile_size).

    Shifting the grid every step keeps tile edges from staying in one place, which is what
    the TF tutorial's random roll is for, without the roll's wrap-around seam inside the
    image. Cuts closer than tile_size/2 to an end are dropped, so every tile is between
    half and one and a half tile_size long (a side shorter than that is one tile).
    """
    cuts = offset + tile_size * tf.range(length // tile_size + 2)
    half = tile_size // 2
    cuts = tf.boolean_mask(cuts, tf.logical_and(cuts >= half, cuts <= length - half))
    return tf.concat([[0], cuts, [length]], axis=0)


def loss_and_gradient(
    loss_fn: LossFn, images: tf.Tensor, loss_scale: float = 1.0
) -> tuple[tf.Tensor, tf.Tensor]:
    """Loss per image and its gradient; `loss_scale` > 1 keeps float16 gradients from
    underflowing on their way back (undone before returning)."""
    with tf.GradientTape() as tape:
        tape.watch(images)
        loss = loss_fn(images)
        scaled = loss * loss_scale if loss_scale != 1.0 else loss
    grads = tape.gradient(scaled, images)
    return loss, grads / loss_scale if loss_scale != 1.0 else grads


GradientFn = Callable[[tf.Tensor], tuple[tf.Tensor, tf.Tensor]]  # images -> (loss, gradient)


def tiled_loss_and_gradient(
    gradient: GradientFn, images: tf.Tensor, tile_size: tf.Tensor, offset: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """Gradient tile by tile, so memory follows the tile, not the image (TF tutorial style).

    Tile gradients are collected tile-sized and stitched once per step (row by row through
    TensorArray concats along the leading axis), never padded to the image's size per tile.
    The loss is the area-weighted mean of the tiles' losses, comparable to the untiled one.
    """
    shape = tf.shape(images)
    height, width = shape[1], shape[2]
    rows, cols = tile_bounds(height, tile_size, offset[0]), tile_bounds(width, tile_size, offset[1])
    row_count, col_count = tf.size(rows) - 1, tf.size(cols) - 1
    # Explicit loops (the ascent is traced without AutoGraph, whose conversion cost ~1 s).

    def tile_row(r: tf.Tensor, weighted_loss: tf.Tensor, grad_rows: tf.TensorArray):
        y0, y1 = rows[r], rows[r + 1]

        def tile(c: tf.Tensor, weighted_loss: tf.Tensor, row_tiles: tf.TensorArray):
            x0, x1 = cols[c], cols[c + 1]
            loss, tile_grads = gradient(images[:, y0:y1, x0:x1, :])
            weighted_loss += loss * tf.cast((y1 - y0) * (x1 - x0), tf.float32)
            return c + 1, weighted_loss, row_tiles.write(c, tf.transpose(tile_grads, [2, 0, 1, 3]))  # w,B,h,3

        row_tiles = tf.TensorArray(tf.float32, size=col_count, infer_shape=False)
        _, weighted_loss, row_tiles = tf.while_loop(
            lambda c, *_: c < col_count, tile, (tf.constant(0), weighted_loss, row_tiles))
        return r + 1, weighted_loss, grad_rows.write(r, tf.transpose(row_tiles.concat(), [2, 1, 0, 3]))  # h,B,W,3

    grad_rows = tf.TensorArray(tf.float32, size=row_count, infer_shape=False)
    _, weighted_loss, grad_rows = tf.while_loop(
        lambda r, *_: r < row_count, tile_row, (tf.constant(0), tf.zeros([shape[0]]), grad_rows))
    grads = tf.transpose(grad_rows.concat(), [1, 0, 2, 3])  # B,H,W,3
    return weighted_loss / tf.cast(height * width, tf.float32), grads


def rolled_grid_loss_and_gradient(
    gradient: GradientFn, images: tf.Tensor, tile_size: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """The TF tutorial's fixed grid: whole tiles from the top-left corner, the last, partial
    tile of each side skipped (no gradient there this step; the random roll brings those
    pixels into a tile on other steps). A side no longer than a tile is one tile."""
    shape = tf.shape(images)
    height, width = shape[1], shape[2]

    def covered(length: tf.Tensor) -> tf.Tensor:
        whole_tiles = (length + tile_size - 1) // tile_size - 1
        return tf.where(whole_tiles > 0, whole_tiles * tile_size, length)

    rows, cols = covered(height), covered(width)
    loss, grads = tiled_loss_and_gradient(
        gradient, images[:, :rows, :cols, :], tile_size, tf.zeros([2], tf.int32)
    )
    return loss, tf.pad(grads, [[0, 0], [0, height - rows], [0, width - cols], [0, 0]])


class RandomTransform(NamedTuple):
    """Seeded zoom within [scale_min, scale_max] and turn within +-degrees, drawn per step."""

    scale_min: float = 1.0
    scale_max: float = 1.0
    degrees: float = 0.0

    @property
    def active(self) -> bool:
        return self.scale_min != 1.0 or self.scale_max != 1.0 or self.degrees != 0.0


class TransformRange(NamedTuple):
    """A RandomTransform as the ascent reads it, each value a float or a scalar tf.Variable
    (data: a schedule changes it per frame without a new graph). The span is max - min as
    Python computes it, so a variable holds the very float32 the constant was."""

    scale_min: Any
    scale_span: Any
    degrees: Any

    @classmethod
    def of(cls, transform: RandomTransform) -> TransformRange:
        return cls(transform.scale_min, transform.scale_max - transform.scale_min, transform.degrees)


class _NoRetracingAdvice(logging.Filter):
    """Each octave's image size is a trace of its own (a few per image, cached): TensorFlow's
    'triggered tf.function retracing' advice is expected here and nothing a user can act on."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


logging.getLogger("tensorflow").addFilter(_NoRetracingAdvice())


def compile_octave_ascent(
    loss_fn: LossFn,
    rule: GradientRule = GradientRule(),
    step_mode: str = "image",
    jit: bool = False,
    tiling: str | None = None,
    loss_scale: float = 1.0,
    random_transform: RandomTransform | TransformRange | None = None,
    pixel_bounds: tuple[np.ndarray, np.ndarray] | None = None,
    masked: bool = False,
    parameterization: str = "pixel",
) -> Callable[..., OctaveAscent]:
    """Build `ascend(images, iterations, step, max_loss, jitter, tile_size, seed)`, and with
    `masked` a last argument `weights` (1xHxWx1, or one per image) scaling every step.

    max_loss=inf disables the early stop, jitter=0 the jitter. Only a function built with
    `tiling` (a TILE_GRIDS name) has the tile loop; it dreams images that fit in one tile
    whole. `jit` compiles the loss-and-gradient body with XLA (not with tiling: every tile
    shape would compile). With `pixel_bounds` (low, high per channel) the image is clipped
    to them after every step. `parameterization` "fft" filters each step's gradient as
    ascent in a decorrelated Fourier image would (parameterization.py) before the rule.
    """
    normalize = normalizer(rule)
    reparameterize = gradient_filter(parameterization)
    if isinstance(random_transform, RandomTransform):
        random_transform = TransformRange.of(random_transform) if random_transform.active else None
    if step_mode not in STEP_MODES:
        raise ValueError(f"unknown step_mode {step_mode!r}; valid: {', '.join(STEP_MODES)}")
    if tiling not in (None, *TILE_GRIDS):
        raise ValueError(f"unknown tile grid {tiling!r}; valid: {', '.join(TILE_GRIDS)}")
    if jit and tiling:
        raise ValueError("tiling and XLA (jit) do not combine: tiles have changing shapes")

    def gradient(images: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return loss_and_gradient(loss_fn, images, loss_scale)

    # Its own function body, never inlined into the loop: TensorFlow's oneDNN rewrites skip
    # ops inside while-loop frames, and MaxPoolGrad then ran on a kernel ~10x slower, costing
    # ~20% of an InceptionV3 step on CPU (see bench/ --profile). With jit, XLA compiles this
    # body once per image shape; the loop around it stays a TensorFlow loop.
    gradient = tf.function(
        gradient,
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)],
        reduce_retracing=True,
        autograph=False,
        jit_compile=jit or None,
        experimental_attributes=None if jit else {"_noinline": True},
    )

    signature = [
        tf.TensorSpec([None, None, None, 3], tf.float32),
        tf.TensorSpec([], tf.int32),
        tf.TensorSpec([], tf.float32),
        tf.TensorSpec([], tf.float32),
        tf.TensorSpec([], tf.int32),
        tf.TensorSpec([], tf.int32),
        tf.TensorSpec([2], tf.int64),
    ]
    if masked:  # an unmasked ascent has no weights in its graph at all
        signature.append(tf.TensorSpec([None, None, None, 1], tf.float32))

    def ascend(images, iterations, step, max_loss, jitter, tile_size, seed, weights=None):

        def keep_going(i, images, losses, steps_run, stopped, update_rms):
            return tf.logical_and(i < iterations, tf.reduce_any(tf.logical_not(stopped)))

        shape = tf.shape(images)
        # Images that fit in one tile are dreamed whole: tiling is only for those that don't.
        tiled = tiling and tf.logical_and(
            tile_size > 0, tf.logical_or(shape[1] > tile_size, shape[2] > tile_size)
        )

        def tiled_gradient(seen: tf.Tensor, i: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            if tiling == "rolled":
                return rolled_grid_loss_and_gradient(gradient, seen, tile_size)
            offset = tf.random.stateless_uniform(
                [2], step_seed(seed, i, 1), minval=0, maxval=tile_size, dtype=tf.int32
            )
            return tiled_loss_and_gradient(gradient, seen, tile_size, offset)

        def ascent_step(i, images, losses, steps_run, stopped, update_rms):
            shift = jitter_shift(seed, i, jitter)
            # Rolls copy the whole image: skipped without jitter (big images, tight memory).
            rolled = tf.cond(jitter > 0, lambda: tf.roll(images, shift, axis=[1, 2]), lambda: images)
            if random_transform is not None:  # Python None when off: not in the graph at all
                draws = tf.random.stateless_uniform([2], step_seed(seed, i, 2))
                scale = random_transform.scale_min + draws[0] * random_transform.scale_span
                degrees = (2.0 * draws[1] - 1.0) * random_transform.degrees
                with tf.GradientTape() as tape:
                    tape.watch(rolled)
                    seen = zoom_and_turn(rolled, scale, degrees)
            else:
                seen = rolled
            if tiling:  # Python None unless built so: no tiles in the graph at all
                loss, grads = tf.cond(tiled, lambda: tiled_gradient(seen, i), lambda: gradient(seen))
            else:
                loss, grads = gradient(seen)
            if random_transform is not None:  # the gradient back through the same zoom and turn
                grads = tape.gradient(seen, rolled, output_gradients=grads)
            grads = tf.cond(jitter > 0, lambda: tf.roll(grads, -shift, axis=[1, 2]), lambda: grads)
            if reparameterize is not None:  # Python None for pixels: not in the graph at all
                grads = reparameterize(grads)
            direction = normalize(grads)
            if step_mode == "pixel":
                direction = unit_rms(direction)
            active = tf.logical_not(stopped)
            # Images that stopped early stay as they are while the rest of the batch goes on.
            update = step * direction * tf.reshape(tf.cast(active, tf.float32), [-1, 1, 1, 1])
            if weights is not None:  # a mask: each pixel moves by its weight's share of the step
                update = update * weights
            # RMS of the update per image, without a squared copy of the image.
            rms = per_image_rms(update)
            # Like the seed: the step is taken, then the octave stops if its loss was too high.
            stepped = images + update
            if pixel_bounds is not None:  # the TF tutorial's clip to [-1, 1], per convention
                stepped = tf.clip_by_value(stepped, pixel_bounds[0], pixel_bounds[1])
            return (
                i + 1,
                stepped,
                losses.write(i, loss),
                steps_run + tf.cast(active, tf.int32),
                tf.logical_or(stopped, loss > max_loss),
                update_rms + rms,
            )

        losses = tf.TensorArray(tf.float32, size=0, dynamic_size=True, element_shape=[None])
        _, images, losses, steps_run, stopped, update_rms = tf.while_loop(
            keep_going,
            ascent_step,
            (
                tf.constant(0), images, losses, tf.zeros([shape[0]], tf.int32),
                tf.zeros([shape[0]], tf.bool), tf.zeros([shape[0]]),
            ),
        )
        effective = update_rms / tf.maximum(tf.cast(steps_run, tf.float32), 1.0)
        return OctaveAscent(images, losses.stack(), steps_run, stopped, effective)

    return tf.function(ascend, input_signature=signature, reduce_retracing=True, autograph=False)
