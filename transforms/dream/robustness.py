"""Random scale and rotation of the image before each gradient (lucid's robustness
transforms): features that survive small zooms and turns are the ones that grow, so dreams
lose the pixel-grid look. The gradient is mapped back through the same transform."""
from __future__ import annotations

import math

from transforms.dream.quiet_tensorflow import tf


def zoom_and_turn(images: tf.Tensor, scale: tf.Tensor, degrees: tf.Tensor) -> tf.Tensor:
    """Each image zoomed by `scale` and turned by `degrees` about its centre, same size out,
    edges mirrored. Differentiable in `images` (bilinear sampling)."""
    shape = tf.shape(images)
    height, width = tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
    angle = degrees * (math.pi / 180.0)
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    cx, cy = (width - 1.0) / 2.0, (height - 1.0) / 2.0
    # Output pixel (x, y) samples input (cos*dx - sin*dy + cx, sin*dx + cos*dy + cy), d = p - c.
    transform = tf.stack([cos, -sin, cx - cos * cx + sin * cy,
                          sin, cos, cy - sin * cx - cos * cy, 0.0, 0.0])
    transforms = tf.tile(transform[tf.newaxis], [shape[0], 1])
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=shape[1:3],
        interpolation="BILINEAR", fill_mode="REFLECT", fill_value=0.0,
    )
