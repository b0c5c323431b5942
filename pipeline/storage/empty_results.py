"""Empty metadata.jsonl / errors.jsonl (/ sequences.jsonl) for a job that had nothing to
put in them.

The job's sinks skip empty outputs (Beam's S3 uploader cannot write a zero-byte object), so
the launcher writes them once the job is done: an empty errors.jsonl says "no errors", and
an empty metadata.jsonl replaces a stale one from an earlier run.
"""
from __future__ import annotations

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.config import JobConfig
from pipeline.result_files import ERRORS_FILE, METADATA_FILE, SEQUENCES_FILE
from pipeline.summary import JobSummary


def write_empty(uri: str, options: PipelineOptions) -> None:
    if FileSystems.get_scheme(uri) == "s3":  # one plain PUT, which may be empty
        from pipeline.storage.s3 import s3_client, split_s3

        bucket, key = split_s3(uri)
        s3_client(options).put_object(Bucket=bucket, Key=key, Body=b"")
        return
    FileSystems.create(uri).close()


def write_empty_results(config: JobConfig, summary: JobSummary, options: PipelineOptions) -> None:
    sequences = summary.count("sequences_written") + summary.count("sequences_skipped")
    if config.metadata_format in ("jsonl", "both") and summary.dreamed + summary.skipped - sequences == 0:
        write_empty(FileSystems.join(config.output, METADATA_FILE), options)
    stale_sequences = FileSystems.join(config.output, SEQUENCES_FILE)
    if sequences == 0 and FileSystems.exists(stale_sequences):  # only where one was before
        write_empty(stale_sequences, options)
    if summary.failed == 0:
        write_empty(FileSystems.join(config.output, ERRORS_FILE), options)
