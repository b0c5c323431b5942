"""Build the Dreamer a recipe asks for: model (staged if remote), layers, guide and mask images."""
from __future__ import annotations

import numpy as np

from transforms.dream import launch_models
from transforms.dream.class_names import CLASS_TERM
from transforms.dream.classes import NoClassifierError
from transforms.dream.engine import Dreamer
from transforms.dream.models import ModelSpec, get_model_spec, is_model_file
from transforms.dream.presets import Preset
from transforms.fetch import DEFAULT_HTTP_TIMEOUT_S, read_bytes
from transforms.imaging import decode_image
from transforms.mask_frames import first_mask
from transforms.recipe import Recipe
from transforms.weights import stage_weights


def model_spec_for(preset: Preset, preprocessing: str | None = None) -> ModelSpec:
    """The preset's network; a .keras file anywhere Beam reads is copied to local disk first."""
    model = (stage_weights(preset.model) or preset.model) if is_model_file(preset.model) else preset.model
    return get_model_spec(model, preprocessing)


def load_guide(uri: str, allow_private_urls: bool = False,
               http_timeout: float = DEFAULT_HTTP_TIMEOUT_S):
    """The guide image as uint8 RGB, read (under the job's URL rules) and decoded like any input."""
    return decode_image(read_bytes(uri, timeout_s=http_timeout, allow_private_urls=allow_private_urls)).rgb


def load_mask(uri: str, allow_private_urls: bool = False,
              http_timeout: float = DEFAULT_HTTP_TIMEOUT_S) -> np.ndarray:
    """The mask as uint8 greyscale: any image, decoded like an input, then its luminance (a
    mask folder's, animation's or video's first frame: sequences take the others, mask_frames)."""
    return first_mask(uri, timeout_s=http_timeout, allow_private_urls=allow_private_urls)


def build_dreamer(recipe: Recipe) -> Dreamer:
    preset = recipe.preset
    spec = model_spec_for(preset, recipe.preprocessing)
    guide = load_guide(preset.guide, recipe.allow_private_urls) if preset.guide else None
    mask = load_mask(preset.mask, recipe.allow_private_urls) if preset.mask else None
    weights = stage_weights(recipe.weights)
    # The launcher's checked model, when this worker runs in its process; else built here.
    model = launch_models.take(spec.name, weights) or spec.build(weights)
    classifier = build_classifier(preset, spec, weights) if has_class_terms(preset.layers) else None
    return Dreamer(model, preset.layers or spec.default_layers, spec.preprocessing, spec.min_input_size,
                   guide=guide, jit=recipe.jit, precision=recipe.precision, mask=mask,
                   mask_feather=preset.mask_feather, channel_pick=preset.channel_pick(), classifier=classifier,
                   parameterization=preset.parameterization, init=preset.init)


def has_class_terms(terms) -> bool:
    return any(term.name == CLASS_TERM for term in terms)


def build_classifier(preset: Preset, spec: ModelSpec, weights: str | None):
    """The network with its classifier head, for class terms: a .keras file's own (with
    its weights), a keras.applications model's from Keras' download (--weights, the
    convolutions', does not fit the head). None of it for a model without a head."""
    if spec.build_head is None:
        raise NoClassifierError(
            f"model {preset.model!r} has no classifier head, so it cannot dream of a class: use a "
            "keras.applications model (e.g. inception_v3, resnet50; ImageNet weights from Keras' "
            "download) or a .keras model whose last layer classifies"
        )
    return spec.build_head(weights if is_model_file(preset.model) else None)
