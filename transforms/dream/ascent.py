"""Gradient ascent over one octave, compiled as a single TensorFlow graph.

The whole octave (all iterations and the max_loss early stop) runs inside one tf.function
with a shape-polymorphic signature: it is traced once per Dreamer, not once per image
shape, and the host only sees the result when the octave is done.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import tensorflow as tf

LossFn = Callable[[tf.Tensor], tf.Tensor]


def l2_normalize(grads: tf.Tensor) -> tf.Tensor:
    """The classic rule: unit L2 norm over the whole image."""
    return tf.math.l2_normalize(grads)


GRADIENT_NORMALIZERS: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {"l2": l2_normalize}


class OctaveAscent(NamedTuple):
    image: tf.Tensor  # 1xHxWx3, model input space
    losses: tf.Tensor  # loss before each step that ran
    stopped_early: tf.Tensor  # bool: the last step's loss exceeded max_loss


def compile_octave_ascent(
    loss_fn: LossFn, grad_norm: str = "l2"
) -> Callable[[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor], OctaveAscent]:
    """Build `ascend(image, iterations, step, max_loss)`; pass max_loss=inf to disable."""
    try:
        normalize = GRADIENT_NORMALIZERS[grad_norm]
    except KeyError:
        raise ValueError(
            f"unknown grad_norm {grad_norm!r}; valid: {', '.join(GRADIENT_NORMALIZERS)}"
        ) from None

    @tf.function(
        input_signature=[
            tf.TensorSpec([1, None, None, 3], tf.float32),
            tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.float32),
            tf.TensorSpec([], tf.float32),
        ],
        reduce_retracing=True,
    )
    def ascend(image, iterations, step, max_loss):
        def keep_going(i, image, losses, stopped):
            return tf.logical_and(i < iterations, tf.logical_not(stopped))

        def ascent_step(i, image, losses, stopped):
            with tf.GradientTape() as tape:
                tape.watch(image)
                loss = loss_fn(image)
            grads = normalize(tape.gradient(loss, image))
            # Like the seed: the step is taken, then the octave stops if its loss was too high.
            return i + 1, image + step * grads, losses.write(i, loss), loss > max_loss

        losses = tf.TensorArray(tf.float32, size=0, dynamic_size=True, element_shape=[])
        _, image, losses, stopped = tf.while_loop(
            keep_going,
            ascent_step,
            (tf.constant(0), image, losses, tf.constant(False)),
        )
        return OctaveAscent(image, losses.stack(), stopped)

    return ascend
