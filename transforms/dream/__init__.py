"""DeepDream math, free of Beam: models, objective, octave loop, presets.

    from transforms.dream import Dreamer, DreamParams
    result = Dreamer.from_name("vgg16").dream(rgb_uint8, DreamParams(iterations=10, step=800))
    Dreamer.from_name("resnet50", layers="conv4_block3_out[7,9]:1", guide=guide_rgb)

Names are imported on first use, so that light modules (params, presets) load without
TensorFlow.
"""
from __future__ import annotations

from transforms.lazy import lazy_attributes

_EXPORTS = {
    "Dreamer": "engine",
    "DreamResult": "engine",
    "OctaveRecord": "engine",
    "DreamParams": "params",
    "GRAD_NORMS": "params",
    "LayerTerm": "layers",
    "parse_layers": "layers",
    "PRECISIONS": "params",
    "MODELS": "models",
    "ModelSpec": "models",
    "WeightsUnavailableError": "models",
    "get_model_spec": "models",
    "ImageTooSmallError": "octaves",
    "octave_shapes": "octaves",
    "DEFAULT_PRESET": "presets",
    "PRESETS": "presets",
    "Preset": "presets",
    "get_preset": "presets",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_attributes(__name__, _EXPORTS)
