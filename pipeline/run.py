"""Run the DeepDream job: `python -m pipeline --input 'photos/*.jpg' --output out/`."""
from __future__ import annotations

import logging
import sys
import time
from contextlib import nullcontext
from typing import Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, SetupOptions, TestOptions

from pipeline.config import ConfigError, JobConfig
from pipeline.graph import build_pipeline
from pipeline.options import DreamOptions, help_text
from pipeline.progress import ProgressLine
from pipeline.report import write_report
from pipeline.summary import JobSummary, summarize
from pipeline.cleanup import remove_stale_temporaries
from transforms.read import NoInputsError, check_inputs_exist
from transforms.dream.presets import PRESETS, get_preset
from transforms.fetch import is_local, is_url

# Errors that stop the job before it starts, reported as one line rather than a traceback.
START_ERRORS: tuple[type[Exception], ...] = (ConfigError, NoInputsError, FileNotFoundError)


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
            if weights is None and spec.name == "inception_v3":
                models.ensure_inception_v3_weights()  # quick, clear offline failure
            elif weights is None and spec.name == "vgg16":
                from transforms.dream.offline_weights import hed_weights_path

                hed_weights_path()
            # Other downloaded weights: fetching them is the check (and fills Keras' cache).
            download = weights is None and spec.downloads_weights and spec.name != "inception_v3"
            model = spec.build(None) if download else spec.layers_model()
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


def run(
    argv: Sequence[str] | None = None,
    save_main_session: bool = False,
    test_pipeline: beam.Pipeline | None = None,
) -> JobSummary:
    """Build and run the job; returns its summary. `test_pipeline` replaces the pipeline."""
    pipeline_options = PipelineOptions(argv)
    config = JobConfig.from_options(pipeline_options.view_as(DreamOptions))
    # A dry run (--dry_run) only builds the job: it may not touch the inputs or outputs.
    dry_run = pipeline_options.view_as(TestOptions).dry_run
    matched = 0
    if not dry_run:
        matched = check_inputs_exist(config.inputs, config.input_lists)
        check_models(config)
        removed = remove_stale_temporaries(config.output)
        if removed:
            logging.warning("removed %d temporary files left by an interrupted run", removed)
    # The package is installed on workers (--setup_file), so __main__ need not be pickled.
    pipeline_options.view_as(SetupOptions).save_main_session = save_main_session

    pipeline = test_pipeline or beam.Pipeline(options=pipeline_options)
    build_pipeline(pipeline, config)
    started = time.perf_counter()
    # A live line on a terminal, for local outputs (the records it counts are local files).
    show_progress = sys.stderr.isatty() and not dry_run and is_local(config.output)
    with ProgressLine(config.output, None if config.input_lists else matched) if show_progress else nullcontext():
        result = pipeline.run()
        result.wait_until_finish()
    summary = summarize(result, time.perf_counter() - started, config.max_failure_ratio)
    print(summary.line())
    if config.report and not dry_run:
        print(f"beam-deepdream: report at {write_report(config.output)}")
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry: 0 when the job ran, 1 when too many inputs failed (see
    --max_failure_ratio; by default only when all did), 2 when it could not start."""
    logging.getLogger().setLevel(logging.WARNING)
    args = sys.argv[1:] if argv is None else list(argv)
    if "-h" in args or "--help" in args:
        print(help_text())
        return 0
    try:
        options = PipelineOptions(args).view_as(DreamOptions)
        if options.list_layers:
            try:
                model = options.model or get_preset(options.preset).model
                print(list_layers(model, options.preprocessing))
            except ValueError as exc:  # an unknown model: the message lists the valid ones
                raise ConfigError(str(exc)) from exc
            return 0
        summary = run(args)
    except START_ERRORS as exc:
        print(f"beam-deepdream: error: {exc}", file=sys.stderr)
        return 2
    return 1 if summary.failed_too_often() else 0
