"""The job's settings, resolved and validated from the options before anything runs."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from pipeline.options import DreamOptions
from transforms.dream.presets import Preset, get_preset


class ConfigError(ValueError):
    """Options that cannot make a job; raised before any input is read."""


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
    preset: Preset  # with the command line's overrides applied
    weights: str | None
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

    @classmethod
    def from_options(cls, options: DreamOptions) -> "JobConfig":
        if not options.input and not options.input_list:
            raise ConfigError("--input PATTERN or --input_list FILE is required")
        if not options.output:
            raise ConfigError("--output is required: a directory for the results")
        if not 1 <= options.quality <= 100:
            raise ConfigError(f"--quality must be 1-100, got {options.quality}")
        for name in ("max_pixels", "max_size", "max_bytes", "http_timeout"):
            value = getattr(options, name)
            if value is not None and value <= 0:
                raise ConfigError(f"--{name} must be > 0, got {value}")
        ratio = options.max_failure_ratio
        if ratio is not None and not 0 <= ratio <= 1:
            raise ConfigError(f"--max_failure_ratio must be within [0, 1], got {ratio}")
        try:
            preset = _apply_overrides(get_preset(options.preset), options)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        return cls(
            inputs=tuple(options.input or ()),
            input_lists=tuple(options.input_list or ()),
            output=options.output,
            preset=preset,
            weights=options.weights,
            image_format=options.format,
            quality=options.quality,
            max_pixels=options.max_pixels,
            max_size=options.max_size,
            max_bytes=options.max_bytes,
            http_timeout=options.http_timeout,
            skip_existing=options.skip_existing,
            max_failure_ratio=ratio,
            require_gpu=options.require_gpu,
            dream_accelerator=options.dream_accelerator,
            metadata_format=options.metadata_format,
            report=options.report,
        )

    def job_metadata(self) -> dict[str, Any]:
        """The settings every metadata record repeats, so each line stands on its own."""
        return {
            "preset": self.preset.name,
            "model": self.preset.model,
            "weights": self.weights or "default",
            "layers": dict(self.preset.layers),
            "params": dataclasses.asdict(self.preset.params),
            "grad_norm": "l2",
            "format": self.image_format,
            "quality": self.quality,
            "max_size": self.max_size,
        }


def _apply_overrides(preset: Preset, options: DreamOptions) -> Preset:
    overrides = {
        name: getattr(options, name)
        for name in ("octaves", "octave_scale", "iterations", "step")
        if getattr(options, name) is not None
    }
    if options.max_loss is not None:
        overrides["max_loss"] = parse_max_loss(options.max_loss)
    params = dataclasses.replace(preset.params, **overrides)  # validates the values
    if options.model is None or options.model == preset.model:
        return dataclasses.replace(preset, params=params)
    from transforms.dream.models import get_model_spec  # imports Keras: only when needed

    spec = get_model_spec(options.model)
    return dataclasses.replace(preset, model=spec.name, layers=dict(spec.default_layers), params=params)
