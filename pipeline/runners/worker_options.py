"""The job's filesystem options, carried inside every step to whatever process runs it.

Dataflow's workers and Beam's own container start their SDK harness with the job's
options and set them for every filesystem call. Other workers do not: a portable worker
pool (`worker_pool_main`, Flink and Spark's external environment) or a multi-process local
run starts bare harnesses, whose S3 and GCS calls would fall back to defaults (no
endpoint, no keys, no project). So every ParDo of the job, ours and Beam's alike (the
text and Parquet sinks), carries the options, and unpickling the step in a worker sets
them there before the step runs.
"""
from __future__ import annotations

from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import (
    AzureOptions,
    GoogleCloudOptions,
    HadoopFileSystemOptions,
    PipelineOptions,
    S3Options,
    _BeamArgumentParser,
)
from apache_beam.pipeline import PipelineVisitor

from transforms.storage_retries import use_in_this_process

_FILESYSTEM_OPTIONS = (S3Options, GoogleCloudOptions, HadoopFileSystemOptions, AzureOptions)
_ATTRIBUTE = "_deepdream_filesystem_options"


def filesystem_options(options: PipelineOptions) -> dict[str, Any]:
    """The options Beam's filesystems read (S3 endpoint and keys, GCP project, ...), as given."""
    names: set[str] = set()
    for cls in _FILESYSTEM_OPTIONS:
        parser = _BeamArgumentParser()
        cls._add_argparse_args(parser)
        names.update(action.dest for action in parser._actions)
    given = options.get_all_options(drop_default=True)
    return {name: value for name, value in given.items() if name in names and value is not None}


def _set_in_this_process(options: dict[str, Any]) -> FilesystemOptions:
    """Unpickling a carrier: the process that will run the step uses the job's options."""
    FileSystems.set_options(PipelineOptions.from_dictionary(options))
    use_in_this_process()
    return FilesystemOptions(options)


class FilesystemOptions:
    """Pickled with a step; unpickled, it sets the job's filesystem options in that process."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        return _set_in_this_process, (self.options,)


class _CarryOptions(PipelineVisitor):
    def __init__(self, carrier: FilesystemOptions) -> None:
        self._carrier = carrier

    def visit_transform(self, transform_node: Any) -> None:
        transform = transform_node.transform
        if isinstance(transform, beam.ParDo):
            setattr(transform.fn, _ATTRIBUTE, self._carrier)


def carry_filesystem_options(pipeline: beam.Pipeline, options: PipelineOptions) -> None:
    """Give every ParDo of the built `pipeline` the job's filesystem options (if any were given)."""
    given = filesystem_options(options)
    if given:
        pipeline.visit(_CarryOptions(FilesystemOptions(given)))
