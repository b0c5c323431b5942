"""Gradient normalisations of DeepDream tools, each applied to every image of a batch alone.

Each rule takes gradients shaped BxHxWx3 and returns the direction the image moves in;
with B = 1 each one is exactly its TensorFlow/Keras definition over the whole image.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from transforms.dream.quiet_tensorflow import tf
from transforms.dream.smoothing import gaussian_blur, lap_normalize

PER_IMAGE = [1, 2, 3]  # reduce over the pixels of each image, never across the batch


@dataclass(frozen=True)
class GradientRule:
    """The rule's name and its parameters (only the clip rules use them)."""

    name: str = "l2"
    clip_min: float = -1.0
    clip_max: float = 1.0
    clip_norm: float = 1.0
    lap_levels: int = 4  # levels of the Laplacian pyramid ("lap")
    blur: float = 0.0  # Gaussian sigma in pixels, applied before the rule; 0: none
    eps: float = 0.0  # floor of the l2/std/mean_abs divisor; 0: each rule's source's own


def _l2(grads: tf.Tensor, rule: GradientRule) -> tf.Tensor:
    # tf.math.l2_normalize: x * rsqrt(max(sum(x**2), 1e-12)) — the classic rule.
    square_sum = tf.reduce_sum(tf.square(grads), axis=PER_IMAGE, keepdims=True)
    return grads * tf.math.rsqrt(tf.maximum(square_sum, rule.eps or 1e-12))


def _std(grads: tf.Tensor, rule: GradientRule) -> tf.Tensor:
    # TensorFlow's DeepDream tutorial: gradients /= tf.math.reduce_std(gradients) + 1e-8.
    return grads / (tf.math.reduce_std(grads, axis=PER_IMAGE, keepdims=True) + (rule.eps or 1e-8))


def _mean_abs(grads: tf.Tensor, rule: GradientRule) -> tf.Tensor:
    # The Keras example: grads /= max(mean(|grads|), epsilon).
    mean_abs = tf.reduce_mean(tf.abs(grads), axis=PER_IMAGE, keepdims=True)
    return grads / tf.maximum(mean_abs, rule.eps or 1e-7)


def _clip_value(grads: tf.Tensor, rule: GradientRule) -> tf.Tensor:
    return tf.clip_by_value(grads, rule.clip_min, rule.clip_max)


def _clip_norm(grads: tf.Tensor, rule: GradientRule) -> tf.Tensor:
    return tf.clip_by_norm(grads, rule.clip_norm, axes=PER_IMAGE)


def _none(grads: tf.Tensor, rule: GradientRule) -> tf.Tensor:
    return grads


def _lap(grads: tf.Tensor, rule: GradientRule) -> tf.Tensor:
    return lap_normalize(grads, rule.lap_levels)


NORMALIZERS: dict[str, Callable[[tf.Tensor, GradientRule], tf.Tensor]] = {
    "l2": _l2,
    "std": _std,
    "mean_abs": _mean_abs,
    "clip_value": _clip_value,
    "clip_norm": _clip_norm,
    "none": _none,
    "lap": _lap,
}


def normalizer(rule: GradientRule) -> Callable[[tf.Tensor], tf.Tensor]:
    try:
        function = NORMALIZERS[rule.name]
    except KeyError:
        raise ValueError(
            f"unknown grad_norm {rule.name!r}; valid: {', '.join(NORMALIZERS)}"
        ) from None
    if rule.blur > 0:
        return lambda grads: function(gaussian_blur(grads, rule.blur), rule)
    return lambda grads: function(grads, rule)


def unit_rms(direction: tf.Tensor) -> tf.Tensor:
    """Rescale each image's direction to a root-mean-square of 1 per element.

    The per-pixel step mode uses it, so a step means the same change per pixel at every
    resolution (the whole-image L2 norm alone shrinks it with sqrt(pixels)).
    """
    return direction / tf.maximum(per_image_rms(direction, keepdims=True), 1e-12)


def per_image_rms(values: tf.Tensor, keepdims: bool = False) -> tf.Tensor:
    """Root mean square of each image's values (B, or Bx1x1x1 with keepdims)."""
    return tf.sqrt(tf.reduce_mean(tf.square(values), axis=PER_IMAGE, keepdims=keepdims))
