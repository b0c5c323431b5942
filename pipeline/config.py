"""The job's settings, resolved and validated from the options before anything runs."""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping

from pipeline.options import DreamOptions
from pipeline.params_from import loading_setting, read_stamped, stamp_of, stamped_settings
from transforms.dream.class_names import CLASS_TERM, resolve_classes
from transforms.dream.layers import LayerTerm
from transforms.dream.presets import (
    OPTIONAL_SETTINGS,
    PARAM_NAMES,
    PRESETS,
    Preset,
    get_preset,
    preset_from_settings,
    short_repr,
)
from transforms.dream.schedule import Schedule
from transforms.fetch import DEFAULT_HTTP_RETRIES
from transforms.recipe import Recipe, complete_preset, pixel_units
from transforms.sequence_settings import SequenceSettings
from transforms.settings_stamp import make_stamp, program_versions


class ConfigError(ValueError):
    """Options that cannot make a job; raised before any input is read."""


def parse_random_scale(text: str) -> tuple[float, float]:
    try:
        low, high = (float(part) for part in text.split(":"))
    except ValueError:
        raise ConfigError(f"--random_scale expects MIN:MAX, e.g. 0.9:1.1, got {text!r}") from None
    return low, high


def parse_max_loss(text: str) -> float | None:
    if text.strip().lower() == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"--max_loss expects a number or 'none', got {text!r}") from None


@dataclass(frozen=True)
class JobConfig:
    inputs: tuple[str, ...]
    input_lists: tuple[str, ...]
    output: str
    preset: Preset  # the job's settings, with the params file's and command line's applied
    presets: Mapping[str, Preset]  # every preset a manifest row may name (preset.name included)
    weights: str | None  # for the job preset's model
    image_format: str
    quality: int
    max_pixels: int
    max_size: int | None
    max_bytes: int
    http_timeout: float
    skip_existing: bool
    max_failure_ratio: float | None
    require_gpu: bool = False
    dream_accelerator: str | None = None
    metadata_format: str = "jsonl"
    report: bool = False
    preprocessing: str | None = None
    batch_size: int = 1
    jit: bool = False
    precision: str = "float32"
    allow_private_urls: bool = False
    untiled_max_pixels: int | None = None  # None: derived from each worker's memory
    force: bool = False
    lease_seconds: float = 120.0
    sequence_folders: tuple[str, ...] = ()  # --sequence patterns: each matched folder is one
    sequence: SequenceSettings = SequenceSettings()
    launch_folder: str | None = None  # relative local paths in manifests start here
    http_retries: int = DEFAULT_HTTP_RETRIES
    stamp_settings: bool = True  # every written file carries its settings (settings_stamp)

    @classmethod
    def from_options(cls, options: DreamOptions) -> JobConfig:
        from pipeline.arguments import check_job_options  # it raises this module's ConfigError

        check_job_options(options)
        ratio = options.max_failure_ratio
        forget_settings_files()  # a file read by an earlier launch in this process may have changed
        try:
            schedule = job_schedule(options)
            switched = None
            if schedule is not None and schedule.layers is not None:
                if options.layers:
                    raise ValueError("--layers and --schedule layers=... both set the layers: give one")
                # The dream computes every layer a keyframe names (stills: frame 0's weights).
                switched = schedule.layers.terms()
            presets, preset = resolve_presets(options, layers=switched)
            if schedule is not None:
                schedule.check(preset.params)
                schedule.job_layers(preset.layers)  # each weight[TERM] names one of them
            sequence = SequenceSettings(
                options.temporal, options.blend, options.flow, options.sequence_iterations,
                options.max_frames, options.frame_step, options.segment_frames, options.warmup,
                options.frames, options.zoom_frames, options.zoom_scale, options.zoom_format, schedule,
            )
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        return cls(
            inputs=tuple(options.input or ()),
            input_lists=tuple(options.input_list or ()),
            output=options.output,
            preset=preset,
            presets=presets,
            weights=loading_setting(options, "weights"),
            image_format=loading_setting(options, "format"),
            quality=loading_setting(options, "quality"),
            max_pixels=options.max_pixels,
            max_size=loading_setting(options, "max_size"),
            max_bytes=options.max_bytes,
            http_timeout=options.http_timeout,
            skip_existing=options.skip_existing,
            max_failure_ratio=ratio,
            require_gpu=options.require_gpu,
            dream_accelerator=options.dream_accelerator,
            metadata_format=options.metadata_format,
            report=options.report,
            preprocessing=loading_setting(options, "preprocessing"),
            batch_size=options.batch_size,
            jit=loading_setting(options, "jit"),
            precision=loading_setting(options, "precision"),
            allow_private_urls=options.allow_private_urls,
            untiled_max_pixels=options.untiled_max_pixels,
            force=options.force,
            lease_seconds=options.lease_seconds,
            sequence_folders=tuple(options.sequence or ()),
            sequence=sequence,
            launch_folder=os.getcwd(),
            http_retries=options.http_retries,
            stamp_settings=options.stamp_settings,
        )

    @property
    def recipes(self) -> dict[str, Recipe]:
        """Every preset of the job as the steps receive it: with its loading settings."""
        return {name: Recipe(preset, self.weights_for(preset), self.preprocessing, self.precision,
                             self.jit, self.allow_private_urls)
                for name, preset in self.presets.items()}

    def weights_for(self, preset: Preset) -> str | None:
        """--weights belongs to the job preset's model; other models use their own source."""
        return self.weights if preset.model == self.preset.model else None

    def stamps(self, jobs: Mapping[str, Mapping[str, Any]], keys: Mapping[str, str],
               sequence: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]] | None:
        """What each recipe's files carry (settings_stamp), or None with --no_settings_stamp.
        With `sequence`: a sequence's, whose keys are its sequence keys."""
        if not self.stamp_settings:
            return None
        loading = {"preprocessing": self.preprocessing, "jit": self.jit}
        versions = program_versions()
        more = {"sequence": dict(sequence)} if sequence is not None else {}
        return {name: make_stamp({**job, **more}, keys[name], loading, versions) for name, job in jobs.items()}

    def job_metadata(self, preset: Preset | None = None) -> dict[str, Any]:
        """The settings every metadata record repeats, so each line stands on its own."""
        preset = preset or self.preset
        units = pixel_units(preset, self.preprocessing)
        return {
            "preset": preset.name,
            "model": preset.model,
            "weights": self.weights_for(preset) or "default",
            "layers": [term.as_record() for term in preset.layers],
            "guide": preset.guide,
            # Only when set: a job without them keeps the settings key it always had.
            **preset.optional_settings(),
            "params": dataclasses.asdict(preset.params),  # step in the model's pixel units
            "pixel_units": units,
            # The step as the preset gave it, before conversion to this model's units.
            "step_given": preset.step_given if preset.step_given is not None else preset.params.step,
            "step_given_units": preset.step_given_units or units,
            "grad_norm": preset.params.grad_norm,
            "precision": self.precision,
            "format": self.image_format,
            "quality": self.quality,
            "max_size": self.max_size,
        }


# Options that may come from the command line or a params file (command line first).
PRESET_OPTIONS = ("model", "layers", "guide", *OPTIONAL_SETTINGS) + PARAM_NAMES


# A params file is a page of settings: more is a mistake (or an attack on the launcher).
MAX_PARAMS_BYTES = 256 * 1024
MAX_PARAMS_ALIASES = 32  # anchors shared between presets need a few; 32 bound any expansion


def _params_loader() -> Any:
    """PyYAML's safe loader, with numbers in exponent form (1e-2, 1E5) read as numbers:
    YAML 1.2 (and JSON) say so, PyYAML's YAML 1.1 reads them as text."""
    import yaml

    class ParamsLoader(yaml.SafeLoader):
        pass

    ParamsLoader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
        list("-+0123456789"),
    )
    return ParamsLoader


_ParamsLoader = _params_loader()


def load_params_file(uri: str, allow_private_urls: bool = False) -> dict[str, Any]:
    """A JSON or YAML mapping of settings (and named presets under 'presets'), read once per
    launch (the presets and the schedule both come from it); a copy, to change at will."""
    return copy.deepcopy(_read_params_file(uri, allow_private_urls))


def forget_settings_files() -> None:
    """A new launch reads its params file and --params_from dream again (they may have changed)."""
    _read_params_file.cache_clear()
    read_stamped.cache_clear()


@lru_cache(maxsize=4)
def _read_params_file(uri: str, allow_private_urls: bool) -> dict[str, Any]:
    import yaml  # Beam depends on PyYAML; JSON is read by the same safe loader

    from transforms.fetch import InputTooLargeError, read_bytes

    try:
        text = read_bytes(uri, MAX_PARAMS_BYTES, allow_private_urls=allow_private_urls).decode("utf-8")
        if uri.lower().endswith(".json"):  # JSON as JSON: 1e-06 is a number there
            try:
                settings = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"--params {uri!r} is not valid JSON: {exc}") from None
        else:
            # Aliases can expand a few hundred bytes into gigabytes: count them before building.
            aliases = sum(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=_ParamsLoader))
            if aliases > MAX_PARAMS_ALIASES:
                raise ConfigError(f"--params {uri!r} uses {aliases} YAML aliases; at most {MAX_PARAMS_ALIASES}")
            settings = yaml.load(text, Loader=_ParamsLoader)  # noqa: S506 (a SafeLoader)
    except ConfigError:  # ours, already one line (and a ValueError, which the last clause takes)
        raise
    except InputTooLargeError:
        raise ConfigError(f"--params {uri!r} is larger than {MAX_PARAMS_BYTES} bytes") from None
    except UnicodeDecodeError:
        raise ConfigError(f"--params {uri!r} is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        first_line = str(exc).strip().splitlines()[0][:200]
        raise ConfigError(f"--params {uri!r} is not valid JSON or YAML: {first_line}") from None
    except FileNotFoundError:
        raise ConfigError(f"--params {uri!r} does not exist") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--params {uri!r} cannot be read: {one_line(exc)}") from None
    if not isinstance(settings, dict):
        raise ConfigError(f"--params {uri!r} must hold a mapping of settings")
    return settings


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as one short line, for start errors."""
    text = " ".join((str(exc) or type(exc).__name__).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def job_schedule(options: DreamOptions) -> Schedule | None:
    """The params file's `schedule` (or the one a --params_from dream was made with), with
    each setting --schedule names replaced by the command line's."""
    if options.params_from:
        stamp = stamp_of(options) or {}
        from_file = (stamp.get("sequence") or {}).get("schedule")
    elif options.params:
        from_file = load_params_file(options.params, options.allow_private_urls).get("schedule")
    else:
        from_file = None
    schedule = Schedule.from_mapping(from_file) if from_file is not None else None
    if options.schedule:
        given = Schedule.parse(options.schedule)
        schedule = given if schedule is None else schedule.merged(given)
    return schedule


def resolve_presets(options: DreamOptions, complete: bool = True,
                    layers: tuple[LayerTerm, ...] | None = None) -> tuple[dict[str, Preset], Preset]:
    """All named presets (built-in and the params file's) and the job's own preset; without
    `complete`, as given (no model looked up: no Keras imported). `layers`: a schedule's, in
    place of --layers."""
    if options.params_from:  # a dream's stamp stands for the params file
        file_settings = stamped_settings(options)
    elif options.params:
        file_settings = load_params_file(options.params, options.allow_private_urls)
    else:
        file_settings = {}
    presets = dict(PRESETS)
    file_settings.pop("schedule", None)  # a sequence's, not a preset's (job_schedule)
    defined = file_settings.pop("presets", None) or {}
    if not isinstance(defined, dict):
        raise ValueError("'presets' in --params must be a mapping of name: settings")
    for name, settings in defined.items():
        if not isinstance(name, str):
            raise ValueError(f"preset names in --params must be text, got {short_repr(name)}")
        if not isinstance(settings, dict):
            raise ValueError(f"preset {name!r} in --params must be a mapping of settings")
        presets[name] = preset_from_settings(name, settings, presets)
    from_file = {k: v for k, v in file_settings.items() if k != "preset"}
    unknown = sorted(set(from_file) - set(PRESET_OPTIONS))
    if unknown:
        raise ValueError(
            f"unknown setting(s) {', '.join(unknown)} in --params; valid: presets, preset, "
            + ", ".join(PRESET_OPTIONS)
        )
    if isinstance(from_file.get("max_loss"), str):  # 'none' or a number, as text
        from_file["max_loss"] = parse_max_loss(from_file["max_loss"])
    from_options = {name: getattr(options, name) for name in PRESET_OPTIONS
                    if getattr(options, name, None) is not None}
    if getattr(options, "random_scale", None) is not None:  # 'MIN:MAX' on the command line
        from_options["random_scale_min"], from_options["random_scale_max"] = parse_random_scale(options.random_scale)
    if isinstance(from_options.get("max_loss"), str):
        from_options["max_loss"] = parse_max_loss(from_options["max_loss"])
    if layers is not None:  # as a params file lists terms, weights to the last digit
        from_options["layers"] = [f"{term.key}:{term.weight!r}" for term in layers]
    if getattr(options, "dream_class", None):  # --class: a term of its own, beside --layers if given
        term = f"{CLASS_TERM}[{','.join(map(str, resolve_classes(options.dream_class)))}]:1"
        if layers is not None:  # beside a schedule's layers, weighed as given
            from_options["layers"] = [*from_options["layers"], term]
        else:
            from_options["layers"] = f"{options.layers},{term}" if options.layers else term
    base_name = file_settings.get("preset") or options.preset
    if not isinstance(base_name, str):
        raise ValueError(f"'preset' in --params must be a preset name, got {short_repr(base_name)}")
    base = get_preset(base_name, presets)
    if from_file:  # every value in the file is checked, also where an option replaces it
        preset_from_settings(base.name, {"base": base.name, **from_file}, presets)
    # Options win over every preset the job may use (a manifest row's too); the file's own
    # settings over the job's preset and the built-in ones (a preset the file defines for
    # manifest rows says what it wants itself).
    given = dict(presets)
    for name in given:
        takes_file = name == base.name or name not in defined
        settings = {**(from_file if takes_file else {}), **from_options}
        if settings:
            presets[name] = preset_from_settings(name, {"base": name, **settings}, given)
    preset = presets[base.name]
    if not complete:
        return presets, preset
    preprocessing = loading_setting(options, "preprocessing")
    presets = {name: complete_preset(p, preprocessing) for name, p in presets.items()}
    return presets, presets[preset.name]
