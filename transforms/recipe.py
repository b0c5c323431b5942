"""A recipe: everything one dream setting needs, resolved once at launch.

The preset (model, layers, loop settings, guide) with its model's default layers filled in
and its step converted to the model's pixel units, plus how to load and run the model
(weights, pixel convention, precision, XLA). Steps receive recipes, never loose options,
and nothing after the launcher knows about a default preset. Light to import: Keras is
only imported to look up a model's facts.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from transforms.dream.layers import LayerTerm, as_terms
from transforms.dream.model_table import MODEL_FILE_SUFFIX, table_facts
from transforms.dream.params import UNITS_PER_LEVEL
from transforms.dream.presets import DEFAULT_PRESET, PRESETS, Preset, get_preset, preset_from_settings


@dataclass(frozen=True)
class Recipe:
    preset: Preset  # complete: layers filled in, step in the model's pixel units
    weights: str | None = None  # None: the model's own source (Keras download, offline VGG16)
    preprocessing: str | None = None  # None: the model's own pixel convention
    precision: str = "float32"
    jit: bool = False
    allow_private_urls: bool = False  # for a guide or weights given by URL

    @property
    def name(self) -> str:
        return self.preset.name


def complete_preset(preset: Preset, preprocessing: str | None = None) -> Preset:
    """A preset whose model changed gets that model's default layers (unless layers were
    given) and its inherited step converted into the new model's pixel units.
    `preprocessing` describes the new model only: the step keeps the convention of the
    model it was given for."""
    units, default_layers = _model_facts(preset.model, preprocessing)
    if not preset.layers:
        if not default_layers:
            raise ValueError(
                f"model {preset.model!r} has no default layers: pass --layers (see --list_layers "
                "for its layer names)"
            )
        preset = dataclasses.replace(preset, layers=default_layers)
    if preset.step_model is not None:
        given_units, _ = _model_facts(preset.step_model)
        step = preset.params.step * UNITS_PER_LEVEL[units] / UNITS_PER_LEVEL[given_units]
        preset = dataclasses.replace(
            preset, params=dataclasses.replace(preset.params, step=step), step_model=None,
            step_given=preset.params.step, step_given_units=given_units,
        )
    return preset


def pixel_units(preset: Preset, preprocessing: str | None = None) -> str:
    """The pixel convention of the preset's model (its step is in these units)."""
    return _model_facts(preset.model, preprocessing)[0]


def _model_facts(model: str, preprocessing: str | None = None) -> tuple[str, tuple[LayerTerm, ...]]:
    """A model's pixel convention and default layers: from the model table, or for a model
    file from `preprocessing`, without Keras (a rerun with nothing left imports none);
    Keras answers for its other classes."""
    if preprocessing is None or preprocessing in UNITS_PER_LEVEL:
        if model.endswith(MODEL_FILE_SUFFIX):
            return preprocessing or "inception", ()
        facts = table_facts(model)
        if facts is not None:
            return preprocessing or facts.pixels, as_terms(facts.default_layers)
    from transforms.dream.models import get_model_spec  # imports Keras: only when needed

    spec = get_model_spec(model, preprocessing)
    return spec.preprocessing.name, tuple(spec.default_layers)


def make_recipe(
    preset: str | Preset = DEFAULT_PRESET,
    overrides: Mapping[str, Any] | None = None,
    presets: Mapping[str, Preset] = PRESETS,
    **loading: Any,
) -> Recipe:
    """A recipe from a preset (by name or as is) with any loop setting, model, layers or
    guide replaced by `overrides` (field names, as in a params file); `loading` holds
    weights, preprocessing, precision, jit and allow_private_urls."""
    base = get_preset(preset, presets) if isinstance(preset, str) else preset
    if overrides:
        base = preset_from_settings(base.name, {"base": base.name, **overrides}, {**presets, base.name: base})
    return Recipe(complete_preset(base, loading.get("preprocessing")), **loading)
