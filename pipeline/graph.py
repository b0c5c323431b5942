"""The Beam graph of the DeepDream job, assembled in one place."""
from __future__ import annotations

import json

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipeline.config import JobConfig
from transforms.decode import DecodeImage
from transforms.dreaming import BatchSameSize, Dream, DreamBatch, DreamStage
from transforms.parquet_schema import METADATA_SCHEMA, to_parquet_row
from transforms.read import CheckPreset, FindInputs, ReadBytes
from transforms.resume import DONE, SkipFinished, settings_key
from transforms.stages import ERRORS
from transforms.write import WriteDream

METADATA_FILE = "metadata.jsonl"
METADATA_PARQUET = "metadata.parquet"
ERRORS_FILE = "errors.jsonl"


def _write_jsonl(records: beam.PCollection, path: str, label: str) -> None:
    """One JSON object per line in a single file at `path`, published when the job ends."""
    (
        records
        | f"{label}ToJson" >> beam.Map(lambda record: json.dumps(record, ensure_ascii=False))
        # Nothing to write writes nothing: an empty object cannot be uploaded through
        # Beam's S3 filesystem (a multipart upload needs a part). The launcher writes the
        # empty file itself once the job is done (pipeline/empty_results.py).
        | f"Write{label}" >> beam.io.WriteToText(path, shard_name_template="", skip_if_empty=True)
    )


def build_pipeline(pipeline: beam.Pipeline, config: JobConfig) -> None:
    """inputs -> read -> decode -> dream -> write image + record; failures -> errors.

    Every input ends as exactly one line of metadata.jsonl (dreamed now or by an earlier
    run with the same settings) or of errors.jsonl.
    """
    jobs = {name: config.job_metadata(preset) for name, preset in config.presets.items()}
    keys = {name: settings_key(job) for name, job in jobs.items()}
    found = pipeline | "FindInputs" >> FindInputs(config.inputs, config.input_lists)
    # A manifest row may name its own preset; unknown names become error records here.
    checked_presets = found["ok"] | "CheckPreset" >> beam.ParDo(
        CheckPreset(config.presets, config.preset.name)
    ).with_outputs(ERRORS, main="ok")
    inputs = checked_presets.ok
    finished_earlier = []
    if config.skip_existing:
        checked = inputs | "SkipFinished" >> beam.ParDo(
            SkipFinished(config.output, keys)
        ).with_outputs(DONE, main="todo")
        inputs, finished_earlier = checked.todo, [checked[DONE]]

    # Break fusion so that reading and dreaming spread over all workers.
    todo = inputs | "Reshuffle" >> beam.Reshuffle()
    read = todo | "ReadBytes" >> beam.ParDo(
        ReadBytes(config.max_bytes, config.http_timeout, config.allow_private_urls)
    ).with_outputs(ERRORS, main="ok")
    decoded = read.ok | "Decode" >> beam.ParDo(
        DecodeImage(config.max_pixels, config.max_size)
    ).with_outputs(ERRORS, main="ok")
    to_dream = decoded.ok
    stage: DreamStage
    if config.batch_size > 1:
        to_dream = to_dream | "BatchSameSize" >> BatchSameSize(config.batch_size)
        stage = DreamBatch(config.recipes, config.untiled_max_pixels, config.require_gpu)
    else:
        stage = Dream(config.recipes, config.untiled_max_pixels, config.require_gpu)
    dream = beam.ParDo(stage)
    if config.dream_accelerator:
        dream.with_resource_hints(accelerator=config.dream_accelerator)  # on this ParDo only
    dreamed = to_dream | "Dream" >> dream.with_outputs(ERRORS, main="ok")
    written = dreamed.ok | "WriteImage" >> beam.ParDo(
        WriteDream(config.output, config.image_format, config.quality, jobs, keys)
    ).with_outputs(ERRORS, main="ok")

    records = [written.ok, *finished_earlier] | "AllRecords" >> beam.Flatten()
    if config.metadata_format in ("jsonl", "both"):
        _write_jsonl(records, FileSystems.join(config.output, METADATA_FILE), "Metadata")
    if config.metadata_format in ("parquet", "both"):
        (
            records
            | "MetadataToParquetRows" >> beam.Map(to_parquet_row)
            | "WriteMetadataParquet" >> beam.io.WriteToParquet(
                FileSystems.join(config.output, METADATA_PARQUET), METADATA_SCHEMA,
                shard_name_template="",
            )
        )
    errors = (found[ERRORS], checked_presets[ERRORS], read[ERRORS], decoded[ERRORS], dreamed[ERRORS], written[ERRORS]) | (
        "CollectErrors" >> beam.Flatten()
    )
    _write_jsonl(errors, FileSystems.join(config.output, ERRORS_FILE), "Errors")
