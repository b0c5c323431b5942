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


def tutorial_dream(model, layer_names, rgb, shift_for, steps_per_octave=100, step_size=0.01,
                   octaves=range(-2, 3), octave_scale=1.3, tile_size=512):
    """TensorFlow's DeepDream tutorial, its tiled version, as a plain loop.

    Returns the dream in [-1, 1] at the largest octave's size (before the tutorial resizes
    it for display). Its random roll is drawn by `shift_for(octave_number, step)` -> (dy, dx),
    so a test can feed the engine's seeded rolls; the tutorial draws them unseeded.
    """
    dream_model = tf.keras.Model(inputs=model.inputs, outputs=[model.get_layer(n).output for n in layer_names])

    def calc_loss(tile):
        activations = dream_model(tile[tf.newaxis])
        return tf.reduce_sum([tf.reduce_mean(act) for act in activations])

    def tiled_gradients(img, shift):
        img_rolled = tf.roll(img, shift=shift, axis=[0, 1])
        gradients = tf.zeros_like(img_rolled)
        height, width = img.shape[:2]
        xs = list(range(0, width, tile_size))[:-1] or [0]  # the last tile skipped
        ys = list(range(0, height, tile_size))[:-1] or [0]
        for x in xs:
            for y in ys:
                with tf.GradientTape() as tape:
                    tape.watch(img_rolled)
                    loss = calc_loss(img_rolled[y:y + tile_size, x:x + tile_size])
                gradients = gradients + tape.gradient(loss, img_rolled)
        gradients = tf.roll(gradients, shift=-shift, axis=[0, 1])
        return gradients / (tf.math.reduce_std(gradients) + 1e-8)

    base_shape = tf.shape(rgb)
    img = tf.convert_to_tensor(rgb.astype("float32") / 127.5 - 1.0)
    for number, octave in enumerate(octaves):
        new_size = tf.cast(tf.cast(base_shape[:-1], tf.float32) * (octave_scale**octave), tf.int32)
        img = tf.image.resize(img, new_size)
        for step in range(steps_per_octave):
            img = img + tiled_gradients(img, tf.constant(shift_for(number, step), tf.int32)) * step_size
            img = tf.clip_by_value(img, -1, 1)
    return img.numpy()
