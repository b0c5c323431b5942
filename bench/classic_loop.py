"""A plain re-implementation of the seed's classic algorithm (docs/design.md), for parity tests and the benchmark.

Written independently of the engine, the way the keras.io example reads: a Python loop over
steps, one gradient step per call, NumPy pre/deprocessing.
"""
from __future__ import annotations

import time

import numpy as np
import tensorflow as tf


def _ascent_step(model, layer_weights, layer_loss, normalize):
    """A tf.function (image, learning_rate) -> (loss, next image): loss = sum over layers of
    weight * layer_loss(activation), the gradient normalised, one step taken."""
    extractor = tf.keras.Model(
        inputs=model.inputs, outputs={n: model.get_layer(n).output for n in layer_weights}
    )

    def compute_loss(image):
        features = extractor(image)
        loss = tf.zeros(())
        for name, weight in layer_weights.items():
            loss += weight * layer_loss(features[name])
        return loss

    @tf.function
    def gradient_ascent_step(image, learning_rate):
        with tf.GradientTape() as tape:
            tape.watch(image)
            loss = compute_loss(image)
        grads = normalize(tape.gradient(loss, image))
        return loss, image + learning_rate * grads

    return gradient_ascent_step


def classic_step(model, layer_weights):
    """The seed's step: mean of squares of the map less 2 border pixels, L2-normalised."""
    return _ascent_step(
        model, layer_weights,
        lambda activation: tf.reduce_mean(tf.square(activation[:, 2:-2, 2:-2, :])),
        tf.math.l2_normalize,
    )


def keras_io_step(model, layer_weights, eps=1e-6):
    """keras.io's current example's step: its loss (squares summed over the cropped map,
    divided by the whole map's size) and gradients divided by max(mean(|g|), eps=1e-6)."""

    def layer_loss(activation):
        scaling = tf.reduce_prod(tf.cast(tf.shape(activation), "float32"))
        return tf.reduce_sum(tf.square(activation[:, 2:-2, 2:-2, :])) / scaling

    return _ascent_step(
        model, layer_weights, layer_loss,
        lambda grads: grads / tf.maximum(tf.reduce_mean(tf.abs(grads)), eps),
    )


def reference_dream(model, layer_weights, rgb, octaves=3, octave_scale=1.4, iterations=30,
                    step=20.0, max_loss=15.0, octave_seconds=None, make_step=classic_step):
    """Returns (uint8 image, [(shape, [loss per step])] per octave).

    If `octave_seconds` is a list, the wall time of each octave's steps is appended to it.
    `make_step` builds the step (the seed's, or keras_io_step); the octave loop is the same.
    """
    gradient_ascent_step = make_step(model, layer_weights)
    original = rgb[np.newaxis].astype("float32") / 127.5 - 1.0
    original_shape = original.shape[1:3]
    shapes = [original_shape]
    for i in range(1, octaves):
        shapes.append(tuple(int(dim / (octave_scale**i)) for dim in original_shape))
    shapes = shapes[::-1]
    shrunk_original = tf.image.resize(original, shapes[0])

    image = tf.identity(original)
    trace = []
    for shape in shapes:
        image = tf.image.resize(image, shape)
        started = time.perf_counter()
        losses = []
        for _ in range(iterations):
            loss, image = gradient_ascent_step(image, tf.constant(step))
            losses.append(float(loss))
            if max_loss is not None and loss > max_loss:
                break
        if octave_seconds is not None:
            octave_seconds.append(time.perf_counter() - started)
        trace.append((tuple(shape), losses))
        upscaled_shrunk_original = tf.image.resize(shrunk_original, shape)
        same_size_original = tf.image.resize(original, shape)
        image += same_size_original - upscaled_shrunk_original
        shrunk_original = tf.image.resize(original, shape)

    out = image.numpy()[0]
    out = (out / 2.0 + 0.5) * 255.0
    return np.clip(out, 0, 255).astype("uint8"), trace
