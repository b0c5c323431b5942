"""Hand the job's options to the worker processes of a local multi-process run.

Dataflow gives every worker the pipeline options, and Beam's worker sets its filesystems
from them (S3 endpoint and keys, GCP project, ...). The FnApiRunner's multi_processing mode
starts its workers without them, so every storage call there would fall back to defaults
(an S3 job fails with 'Unable to locate credentials' after minutes of retries). Its
workers inherit the launcher's environment, and Beam's worker reads PIPELINE_OPTIONS_FILE
when set, so the options travel in a private temporary file for the run.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from typing import Iterator

from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

_LOCAL_RUNNERS = (None, "DirectRunner", "FnApiRunner", "BundleBasedDirectRunner")
_ENV = "PIPELINE_OPTIONS_FILE"


def _starts_worker_processes(options: PipelineOptions) -> bool:
    runner = options.view_as(StandardOptions).runner
    runner_name = runner if runner is None or isinstance(runner, str) else type(runner).__name__
    return (runner_name in _LOCAL_RUNNERS
            and options.view_as(DirectOptions).direct_running_mode == "multi_processing")


@contextlib.contextmanager
def options_for_local_workers(options: PipelineOptions) -> Iterator[None]:
    if not _starts_worker_processes(options) or _ENV in os.environ:
        yield
        return
    descriptor, path = tempfile.mkstemp(prefix="beam-deepdream-options-", suffix=".json")
    try:
        with os.fdopen(descriptor, "w") as f:  # mkstemp: readable by this user only (keys inside)
            json.dump({"options": options.get_all_options(drop_default=True)}, f, default=str)
        os.environ[_ENV] = path
        yield
    finally:
        os.environ.pop(_ENV, None)
        os.remove(path)
