"""A rerun with nothing left to dream, answered by the launcher from the records alone:
no TensorFlow, no model, no Beam job.

The launcher names the inputs as the job's FindInputs would (the same functions) and checks
each one's record as the job's SkipFinished would (the same function). Only when every input
is finished with the same settings does it write the result files itself, with the lines the
job would have written: metadata.jsonl and sequences.jsonl from the records, an empty
errors.jsonl. Anything else (an input left, a manifest to read, Parquet metadata, more inputs
than a launcher should check one by one) runs the job.
"""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.config import JobConfig
from pipeline.result_files import ERRORS_FILE, METADATA_FILE, SEQUENCES_FILE
from pipeline.storage.empty_results import write_empty
from pipeline.summary import JobSummary, record_times
from transforms.elements import InputFile
from transforms.read import folder_claims, name_inputs, pattern_claims
from transforms.resume import finished_record, record_path, settings_keys
from transforms.storage_retries import retrying
from transforms.write import write_atomically

# Beyond this many inputs the job checks them (in parallel, on its workers) instead.
MAX_LAUNCHER_CHECKS = 5000
_READERS = 16  # records read at once: each is a small GET on an object store


def finished_records(config: JobConfig) -> list[dict[str, Any]] | None:
    """Every input's record when all are finished with this job's settings, else None."""
    if config.input_lists or not config.skip_existing or config.metadata_format != "jsonl":
        return None
    inputs = _inputs(config)
    if not inputs or len(inputs) > MAX_LAUNCHER_CHECKS:
        return None
    records_found = set(retrying(lambda: record_times(config.output), "list the records of earlier runs"))
    if any(record_path(config.output, element.stem) not in records_found for element in inputs):
        return None  # a first run, or one left unfinished: one listing told
    jobs = {name: config.job_metadata(preset) for name, preset in config.presets.items()}
    keys, sequence_keys = settings_keys(jobs, config.sequence.as_record())

    def finished(element: InputFile) -> dict[str, Any] | None:
        return retrying(lambda: finished_record(config.output, element, keys, sequence_keys),
                        "read the records of earlier runs")

    with ThreadPoolExecutor(_READERS) as pool:
        records = list(pool.map(finished, inputs))
    return None if any(record is None for record in records) else [r for r in records if r is not None]


def _inputs(config: JobConfig) -> Sequence[InputFile]:
    claims = [claim for pattern in config.inputs for claim in pattern_claims(pattern)]
    claims += [claim for pattern in config.sequence_folders for claim in folder_claims(pattern)]
    # Without a manifest every input is dreamed with the job's preset (CheckPreset's choice).
    return [named._replace(preset=config.preset.name) for named in name_inputs(claims)]


def write_results(config: JobConfig, records: list[dict[str, Any]], seconds: float,
                  options: PipelineOptions) -> JobSummary:
    """The result files a job with nothing left writes, and its summary."""
    sequences = [record for record in records if record.get("kind") == "sequence"]
    images = [record for record in records if record.get("kind") != "sequence"]
    _write_lines(FileSystems.join(config.output, METADATA_FILE), images, config.output, options)
    sequences_file = FileSystems.join(config.output, SEQUENCES_FILE)
    if sequences or FileSystems.exists(sequences_file):  # as the job: only where one was before
        _write_lines(sequences_file, sequences, config.output, options)
    write_empty(FileSystems.join(config.output, ERRORS_FILE), options)
    counters = {"inputs": len(records), "skipped": len(records), "sequences_skipped": len(sequences)}
    return JobSummary(counters, seconds, config.max_failure_ratio, runner="no runner: nothing was left to dream")


def _write_lines(uri: str, records: list[dict[str, Any]], output: str, options: PipelineOptions) -> None:
    if not records:
        write_empty(uri, options)
        return
    text = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    retrying(lambda: write_atomically(uri, text.encode("utf-8"), root=output), f"write {uri}")
