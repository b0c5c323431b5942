"""The DeepDream objective: weighted mean squared activations of chosen layers."""
from __future__ import annotations

from typing import Mapping

import tensorflow as tf

BORDER = 2


def crop_border(activation: tf.Tensor, border: int = BORDER) -> tf.Tensor:
    """Drop `border` pixels on each side, where the map is big enough to keep something.

    Feature maps at most 2*border wide in a dimension are kept whole in that dimension:
    cropping them would leave nothing and the mean of nothing is NaN.
    """
    height, width = tf.shape(activation)[1], tf.shape(activation)[2]
    crop_h = tf.where(height > 2 * border, border, 0)
    crop_w = tf.where(width > 2 * border, border, 0)
    return activation[:, crop_h : height - crop_h, crop_w : width - crop_w, :]


def dream_loss(features: Mapping[str, tf.Tensor], layer_weights: Mapping[str, float]) -> tf.Tensor:
    """sum over layers of weight * mean(square(cropped activation))."""
    loss = tf.zeros(())
    for name, weight in layer_weights.items():
        loss += weight * tf.reduce_mean(tf.square(crop_border(features[name])))
    return loss
