"""The Beam graph of the DeepDream job, assembled in one place."""
from __future__ import annotations

import json

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipeline.config import JobConfig
from transforms.decode import DecodeImage
from transforms.dreaming import DreamImage
from transforms.read import MatchPattern, ReadBytes
from transforms.steps import ERRORS
from transforms.write import WriteDream

METADATA_FILE = "metadata.jsonl"
ERRORS_FILE = "errors.jsonl"


def _write_jsonl(records: beam.PCollection, path: str, label: str) -> None:
    """One JSON object per line in a single file at `path`, published when the job ends."""
    (
        records
        | f"{label}ToJson" >> beam.Map(lambda record: json.dumps(record, ensure_ascii=False))
        | f"Write{label}" >> beam.io.WriteToText(path, shard_name_template="")
    )


def build_pipeline(pipeline: beam.Pipeline, config: JobConfig) -> None:
    """inputs -> read -> decode -> dream -> write image + metadata; failures -> errors."""
    inputs = (
        pipeline
        | "InputPatterns" >> beam.Create(list(config.inputs))
        | "MatchInputs" >> beam.ParDo(MatchPattern())
        # Break fusion so that reading and dreaming spread over all workers.
        | "Reshuffle" >> beam.Reshuffle()
    )
    read = inputs | "ReadBytes" >> beam.ParDo(ReadBytes()).with_outputs(ERRORS, main="ok")
    decoded = read.ok | "Decode" >> beam.ParDo(DecodeImage(config.max_pixels)).with_outputs(
        ERRORS, main="ok"
    )
    dreamed = decoded.ok | "Dream" >> beam.ParDo(
        DreamImage(config.preset, config.weights)
    ).with_outputs(ERRORS, main="ok")
    written = dreamed.ok | "WriteImage" >> beam.ParDo(
        WriteDream(config.output, config.image_format, config.quality, config.job_metadata())
    ).with_outputs(ERRORS, main="ok")

    _write_jsonl(written.ok, FileSystems.join(config.output, METADATA_FILE), "Metadata")
    errors = (read[ERRORS], decoded[ERRORS], dreamed[ERRORS], written[ERRORS]) | (
        "CollectErrors" >> beam.Flatten()
    )
    _write_jsonl(errors, FileSystems.join(config.output, ERRORS_FILE), "Errors")
