"""Run the DeepDream job: `python -m pipeline --input 'photos/*.jpg' --output out/`."""
from __future__ import annotations

import logging
import sys
import time
from contextlib import nullcontext
from typing import Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import (
    DirectOptions,
    GoogleCloudOptions,
    PipelineOptions,
    PortableOptions,
    SetupOptions,
    StandardOptions,
    TestOptions,
)
from apache_beam.runners.runner import PipelineState

from pipeline.arguments import complete_bare_flags, early_answer, is_dry_run
from pipeline.config import ConfigError, JobConfig, one_line
from pipeline.cpu_hint import bfloat16_hint, cpu_flags
from pipeline.interrupts import (
    Interrupted,
    interruption,
    signals_interrupt,
    worker_output_quiet_once_interrupted,
)
from pipeline.model_checks import check_models, list_classes, list_layers
from pipeline.nothing_left import finished_records, write_results
from pipeline.options import DreamOptions
from pipeline.progress import ProgressLine
from pipeline.report import write_report
from pipeline.result_files import ERRORS_FILE, METADATA_FILE, METADATA_PARQUET, SEQUENCES_FILE
from pipeline.runners.choice import check_runner
from pipeline.runners.local import LocalRunner
from pipeline.runners.paths import make_local_paths_absolute
from pipeline.runners.prism import quiet_prism
from pipeline.runners.worker_options import carry_filesystem_options
from pipeline.storage.cleanup import remove_stale_temporaries
from pipeline.storage.empty_results import write_empty_results
from pipeline.storage.lease import LEASE_FILE, LeaseLostError, OutputLease, OutputLockedError, lease_store
from pipeline.storage.output_checks import check_output_outside_inputs, check_output_writable
from pipeline.storage.s3 import check_s3_access
from pipeline.summary import JobSummary, counters_contradicted, record_times, summarize, summary_from_output
from transforms.dream.presets import get_preset
from transforms.fetch import is_local
from transforms.imaging import extension
from transforms.read import NoInputsError, check_inputs_exist
from transforms.storage_retries import StorageUnavailableError, retrying, use_in_this_process

# Errors that stop the job before it starts, reported as one line rather than a traceback.
START_ERRORS: tuple[type[Exception], ...] = (
    ConfigError, NoInputsError, FileNotFoundError, OutputLockedError,
)


class JobFailedError(RuntimeError):
    """The runner ended the job before it finished (a worker lost, a runner error)."""


def _job_name(options: PipelineOptions) -> str:
    return options.view_as(GoogleCloudOptions).job_name or "beam-deepdream"


def run(
    argv: Sequence[str] | None = None,
    save_main_session: bool = False,
    test_pipeline: beam.Pipeline | None = None,
) -> JobSummary:
    """Build and run the job; returns its summary. `test_pipeline` replaces the pipeline."""
    pipeline_options = PipelineOptions(argv)
    # Every filesystem call of the launcher (checks, lease, cleanup, report) uses the job's
    # options (S3 endpoint and keys, GCP project, ...); workers get them from the runner.
    FileSystems.set_options(pipeline_options)
    use_in_this_process()  # storage's retry policy for Beam's clients and ours
    check_runner(pipeline_options)
    quiet_prism(pipeline_options)
    dream_options = pipeline_options.view_as(DreamOptions)
    # In place: the options the workers receive name the same files as the launcher sees.
    make_local_paths_absolute(dream_options)
    config = JobConfig.from_options(dream_options)
    # A dry run (--dry_run) only builds the job: it may not touch the inputs or outputs.
    dry_run = is_dry_run(pipeline_options.view_as(TestOptions).dry_run)
    if dry_run:
        return _dry_run(pipeline_options, config, test_pipeline)
    check_s3_access([*config.inputs, *config.input_lists, *config.sequence_folders, config.output], pipeline_options)
    matched = check_inputs_exist(config.inputs, config.input_lists, config.sequence_folders)
    check_output_outside_inputs(config.inputs, config.sequence_folders, config.output,
                                extension(config.image_format))
    check_output_writable(config.output)
    # A rerun with every input finished needs no model: checked first, from the records.
    nothing_left = finished_records(config) is not None
    in_process = _workers_in_this_process(pipeline_options)
    try:
        if not nothing_left:
            check_models(config, keep_for_workers=in_process)
        return _run_under_lease(pipeline_options, config, save_main_session, test_pipeline, matched,
                                nothing_left, in_process)
    finally:
        _drop_kept_models()


def _run_under_lease(
    pipeline_options: PipelineOptions, config: JobConfig, save_main_session: bool,
    test_pipeline: beam.Pipeline | None, matched: int, nothing_left: bool, in_process: bool,
) -> JobSummary:
    lease = OutputLease(lease_store(config.output, pipeline_options), config.lease_seconds,
                        _job_name(pipeline_options))
    lease.acquire(force=config.force)
    started = float("inf")
    try:
        # The storage's own clock at the start: result files older than this are an earlier run's.
        started = retrying(lambda: FileSystems.last_updated(FileSystems.join(config.output, LEASE_FILE)),
                           "read the lease's time")
        if lease.took_over is not None:
            gone = " (its process on this machine is gone)" if lease.took_over.is_gone() else ""
            logging.warning("took over the output from %s%s", lease.took_over.describe(), gone)
        removed = _clean_up(config.output, pipeline_options)
        if removed:
            logging.warning("removed %d temporaries (files or open uploads) left by an interrupted run", removed)
        try:
            summary = _answer_from_records(pipeline_options, config) if nothing_left else None
            if summary is None:
                if nothing_left:  # an input became unfinished meanwhile (another job's cleanup)
                    check_models(config, keep_for_workers=in_process)
                summary = _run_pipeline(pipeline_options, config, save_main_session, test_pipeline, matched, started,
                                        in_process)
        except BaseException as exc:
            signum = interruption()
            if signum is None:
                raise
            # Under the lease still: what the stopped run left half-written goes, then the lease.
            _clean_up(config.output, pipeline_options)
            raise Interrupted(signum, _progress(config, started, matched)) from exc
        # No writer runs now: an upload a failed write left open is aborted before the lease goes.
        _clean_up(config.output, pipeline_options)
    finally:
        lease.release()
    if lease.lapsed:
        raise LeaseLostError(
            "storage failed for longer than the output's lease (--lease_seconds), so another job "
            "could have written the output meanwhile; run the same command to check and finish"
        )
    if lease.lost is not None:
        raise LeaseLostError(
            f"another job took the output over while this one ran ({lease.lost.describe()}); "
            "its files and this job's may be mixed"
        )
    return summary


def _workers_in_this_process(options: PipelineOptions) -> bool:
    """Whether the job's DoFns run in the launcher's process: the local runners (Prism's
    default environment is a loopback worker in this process), in their in-memory mode."""
    runner = options.view_as(StandardOptions).runner
    mode = options.view_as(DirectOptions).direct_running_mode
    environment = options.view_as(PortableOptions).environment_type
    return (runner in (None, "DirectRunner", "FnApiRunner", "PrismRunner") and mode in (None, "in_memory")
            and environment in (None, "LOOPBACK"))


def _drop_kept_models() -> None:
    """Models the checks kept for workers that never took them (every input failed first)."""
    kept = sys.modules.get("transforms.dream.launch_models")  # not imported: none was kept
    if kept is not None:
        kept.drop_all()


def _answer_from_records(pipeline_options: PipelineOptions, config: JobConfig) -> JobSummary | None:
    """The summary of a rerun with nothing left, its result files written from the records
    (checked again now that the lease is held); None when there is work after all."""
    clock = time.perf_counter()
    records = finished_records(config)
    if records is None:
        return None
    summary = retrying(lambda: write_results(config, records, time.perf_counter() - clock, pipeline_options),
                       "write the result files")
    _announce(summary, config)
    return summary


def _announce(summary: JobSummary, config: JobConfig) -> None:
    """The summary line, and the report when asked for: the end of every job that ran."""
    print(summary.line())
    if config.report:
        report = retrying(lambda: write_report(config.output, config.allow_private_urls), "write the report")
        print(f"beam-deepdream: report at {report}")


def _clean_up(output: str, options: PipelineOptions) -> int:
    return retrying(lambda: remove_stale_temporaries(output, options), "remove temporaries from the output")


def _dry_run(
    pipeline_options: PipelineOptions, config: JobConfig, test_pipeline: beam.Pipeline | None
) -> JobSummary:
    """Build the job and say what was built. Dataflow's runner is handed the job (it builds
    the request and stops there); a local runner would run it, so it only gets the graph."""
    from pipeline.graph import build_pipeline  # TensorFlow: only for a job that runs
    pipeline = test_pipeline or beam.Pipeline(options=pipeline_options)
    build_pipeline(pipeline, config)
    runner = pipeline_options.view_as(StandardOptions).runner or ""
    if "Dataflow" in str(runner):
        pipeline.run()
    pipeline.to_runner_api()  # what a runner would be given: fails here if it cannot be built
    stages = [part.full_label for part in pipeline.transforms_stack[0].parts]
    sources = [*config.inputs, *(f"list {uri}" for uri in config.input_lists)]
    print(
        f"beam-deepdream: dry run: built a job of {len(stages)} stages ({', '.join(stages)}) "
        f"dreaming {', '.join(sources)} with preset {config.preset.name} (model "
        f"{config.preset.model}) into {config.output}; nothing was read, dreamed or written"
    )
    return JobSummary({}, 0.0, config.max_failure_ratio)


def _run_pipeline(
    pipeline_options: PipelineOptions, config: JobConfig, save_main_session: bool,
    test_pipeline: beam.Pipeline | None, matched: int, started: float, in_process: bool = False,
) -> JobSummary:
    # The package is installed on workers (--setup_file), so __main__ need not be pickled.
    pipeline_options.view_as(SetupOptions).save_main_session = save_main_session

    from pipeline.graph import build_pipeline  # TensorFlow: only for a job that runs

    given_runner = pipeline_options.view_as(StandardOptions).runner
    pipeline = test_pipeline or beam.Pipeline(runner=None if given_runner else LocalRunner(),
                                              options=pipeline_options)
    build_pipeline(pipeline, config)
    carry_filesystem_options(pipeline, pipeline_options)
    if in_process:  # the dreams run on this machine's CPU, unless it has a GPU
        hint = bfloat16_hint(config.precision, cpu_flags())
        if hint and not _gpu_visible():
            print(hint)
    clock = time.perf_counter()
    # A live line on a terminal, for local outputs (the records it counts are local files).
    show_progress = sys.stderr.isatty() and is_local(config.output)
    progress = ProgressLine(config.output, None if config.input_lists else matched) if show_progress else nullcontext()
    multi_process = pipeline_options.view_as(DirectOptions).direct_running_mode == "multi_processing"
    workers_output = worker_output_quiet_once_interrupted() if multi_process else nullcontext()
    with progress, workers_output:
        try:
            result = pipeline.run()
            state = result.wait_until_finish()
        except Exception as exc:  # the runner's own failure, not an input's (those are records)
            raise JobFailedError(_failure(_ran_on(pipeline), _cause(exc))) from exc
    if state is not None and state != PipelineState.DONE:
        raise JobFailedError(_failure(_ran_on(pipeline), f"it ended {state}"))
    seconds = time.perf_counter() - clock
    summary = summarize(result, seconds, config.max_failure_ratio, _ran_on(pipeline))
    files = (METADATA_FILE if config.metadata_format != "parquet" else METADATA_PARQUET, SEQUENCES_FILE, ERRORS_FILE)
    # Before any empty result file is written: the counters are checked against this job's files.
    reason = "the runner reported no counters" if not summary.counters else retrying(
        lambda: counters_contradicted(summary, config.output, started, *files), "count what the output holds")
    if reason:  # what was written is what was done
        summary = retrying(lambda: summary_from_output(
            config.output, started, seconds, config.max_failure_ratio, _ran_on(pipeline), *files, reason=reason,
        ), "count what the output holds")
    retrying(lambda: write_empty_results(config, summary, pipeline_options), "write the empty result files")
    _announce(summary, config)
    return summary


def _gpu_visible() -> bool:
    from transforms.dream.quiet_tensorflow import tf  # imported by the model checks already

    return bool(tf.config.list_physical_devices("GPU"))


def _cause(exc: Exception) -> str:
    """A runner's failure as one line: the last line of a worker's traceback, if it sent one."""
    text = str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return one_line(Exception(lines[-1])) if "Traceback" in text and lines else one_line(exc)


class _NoRelayedJobMessages(logging.Filter):
    """A portable runner relays the job service's log (workers' tracebacks included) to the
    launcher's root logger; a failed job is reported as one line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.module == "portable_runner" and record.funcName == "read_messages")


def _progress(config: JobConfig, started: float, matched: int) -> str:
    """'N dreamed, M left' from the records in the output (M where the inputs are known)."""
    records = record_times(config.output)
    dreamed = sum(1 for updated in records.values() if updated >= started)
    if config.input_lists:
        return f"{dreamed} dreamed"
    return f"{dreamed} dreamed, {max(0, matched - len(records))} left"


def _ran_on(pipeline: beam.Pipeline) -> str:
    """The runner that took the job (LocalRunner's choice, or the one named)."""
    runner = pipeline.runner
    return runner.ran_on if isinstance(runner, LocalRunner) else type(runner).__name__


def _failure(runner: str, reason: str) -> str:
    return (f"the job failed on {runner}: {reason}; what it finished is kept: "
            "run the same command to dream the rest")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry: 0 when the job ran, 1 when too many inputs failed (see
    --max_failure_ratio; by default only when all did), 2 when it could not start."""
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger().addFilter(_NoRelayedJobMessages())  # relayed to the root logger itself
    # Empty sinks are skipped on purpose (see pipeline/empty_results.py): not news to a user.
    logging.getLogger("apache_beam.io.filebasedsink").setLevel(logging.ERROR)
    # Local worker processes' start-up notices, relayed by the runner ("No semi_persistent_directory").
    logging.getLogger("apache_beam.runners.portability.local_job_service").setLevel(logging.ERROR)
    args = sys.argv[1:] if argv is None else list(argv)
    answer = early_answer(args)
    if answer is not None:
        return answer
    args = complete_bare_flags(args)
    try:
        pipeline_options = PipelineOptions(args)
        FileSystems.set_options(pipeline_options)  # a .keras model may live in a bucket
        options = pipeline_options.view_as(DreamOptions)
        if options.list_layers or options.list_classes:
            try:
                model = options.model or get_preset(options.preset).model
                listing = list_layers if options.list_layers else list_classes
                print(listing(model, options.preprocessing))
            except ValueError as exc:  # an unknown model, or one without a head
                raise ConfigError(one_line(exc)) from exc
            return 0
        with signals_interrupt():
            summary = run(args)
    except Interrupted as stop:
        print(f"beam-deepdream: interrupted: {stop.done or 'nothing finished'}; run the same command "
              "to finish", file=sys.stderr)
        return stop.exit_code
    except START_ERRORS as exc:
        print(f"beam-deepdream: error: {exc}", file=sys.stderr)
        return 2
    except (LeaseLostError, JobFailedError, StorageUnavailableError) as exc:
        print(f"beam-deepdream: error: {exc}", file=sys.stderr)
        return 1
    if summary.failed_too_often():
        print(f"beam-deepdream: error: {summary.failure_reason()}", file=sys.stderr)
        return 1
    return 0
