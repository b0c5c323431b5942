"""Mixed precision for the dream: layers compute in float16 (or bfloat16), weights, the image
and the objective stay float32.

GPUs with tensor cores run float16 convolutions several times faster. The gradient with
respect to the image flows back through float16, where the objective's tiny per-value
gradients (about 2 * activation / values-in-the-layer) would underflow, so the ascent scales
the loss up before differentiating and the gradient down after (static loss scaling).
"""
from __future__ import annotations

from transforms.dream.params import PRECISIONS
from transforms.dream.quiet_tensorflow import keras

# 2**12: lifts per-value gradients of ~1e-7 (a megapixel layer) well into float16's normal
# range, while activations times this stay far below its maximum (65504).
LOSS_SCALE = {"float32": 1.0, "mixed_float16": 4096.0, "mixed_bfloat16": 1.0}


def with_precision(model: keras.Model, precision: str) -> keras.Model:
    """A copy of `model` whose layers compute in `precision` (same weights, same names)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    if precision == "float32":
        return model

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        config = layer.get_config()
        if not isinstance(layer, keras.layers.InputLayer):
            config["dtype"] = precision
        return layer.__class__.from_config(config)

    mixed = keras.models.clone_model(model, clone_function=clone)
    for layer in model.layers:
        if layer.weights:
            mixed.get_layer(layer.name).set_weights(layer.get_weights())
    return mixed
