"""Gradient filters applied per image and per channel: the Laplacian pyramid of lapnorm and
Gaussian smoothing. BxHxWx3 in, same shape out; any H and W, odd ones included."""
from __future__ import annotations

import math

import numpy as np

from transforms.dream.quiet_tensorflow import tf

_PER_IMAGE = [1, 2, 3]  # as gradients.PER_IMAGE: never across the batch

# The 5-tap binomial filter (1 4 6 4 1)/16, separable: the pyramid's blur in both directions.
_BINOMIAL = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]).astype(np.float32) / 256.0
_CHANNELS = 3


def _depthwise(kernel: np.ndarray) -> tf.Tensor:
    """A 2-D kernel for each of the three channels alone (conv2d with a diagonal filter)."""
    weights = np.zeros((*kernel.shape, _CHANNELS, _CHANNELS), np.float32)
    for c in range(_CHANNELS):
        weights[:, :, c, c] = kernel
    return tf.constant(weights)


_PYRAMID_KERNEL = _depthwise(_BINOMIAL)
_UPSAMPLE_KERNEL = _depthwise(_BINOMIAL * 4)  # x4: a zero-stuffed upsample keeps 1 in 4 values


def _downsample(image: tf.Tensor) -> tf.Tensor:
    return tf.nn.conv2d(image, _PYRAMID_KERNEL, strides=2, padding="SAME")


def _upsample(low: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    return tf.nn.conv2d_transpose(low, _UPSAMPLE_KERNEL, tf.shape(like), strides=2, padding="SAME")


def laplacian_levels(image: tf.Tensor, levels: int) -> list[tf.Tensor]:
    """The image as `levels` band-pass layers (finest first) plus the low-pass rest."""
    bands = []
    for _ in range(levels - 1):
        low = _downsample(image)
        bands.append(image - _upsample(low, image))
        image = low
    return bands + [image]


def merge_laplacian_levels(bands: list[tf.Tensor]) -> tf.Tensor:
    image = bands[-1]
    for band in reversed(bands[:-1]):
        image = _upsample(image, band) + band
    return image


def lap_normalize(grads: tf.Tensor, levels: int) -> tf.Tensor:
    """Mordvintsev's lapnorm: split into a Laplacian pyramid, scale each level to an RMS of
    1 per image, merge. Coarse structure then gets as much say as fine texture."""

    def unit(band: tf.Tensor) -> tf.Tensor:
        rms = tf.sqrt(tf.reduce_mean(tf.square(band), axis=_PER_IMAGE, keepdims=True))
        return band / tf.maximum(rms, 1e-10)

    return merge_laplacian_levels([unit(band) for band in laplacian_levels(grads, levels)])


def gaussian_blur(image: tf.Tensor, sigma: float) -> tf.Tensor:
    """Separable Gaussian smoothing, edges mirrored, radius 3 sigma (sigma <= 10: octaves
    are at least 32 pixels)."""
    radius = max(1, math.ceil(3 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps = (taps / taps.sum()).astype(np.float32)
    padded = tf.pad(image, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="SYMMETRIC")
    # Each channel on its own: a depthwise convolution (a dense one with a diagonal filter
    # gives the same values at ~2.5x the cost, and --grad_blur runs every step).
    columns = tf.constant(np.tile(taps[:, None, None, None], (1, 1, _CHANNELS, 1)))
    rows = tf.constant(np.tile(taps[None, :, None, None], (1, 1, _CHANNELS, 1)))
    vertical = tf.nn.depthwise_conv2d(padded, columns, strides=[1, 1, 1, 1], padding="VALID")
    return tf.nn.depthwise_conv2d(vertical, rows, strides=[1, 1, 1, 1], padding="VALID")
