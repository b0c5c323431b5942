"""Resumable jobs: one record file per finished image, checked before any work is redone.

A finished input leaves `<output>/.deepdream/records/<name>.json`, written after its image.
A rerun with the same settings finds it, checks the image is there too, and reuses the
record instead of dreaming again; an input the killed run did not finish is simply redone.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable, Mapping

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from transforms.elements import InputFile
from transforms.fetch import read_bytes
from transforms.stages import METRICS_NAMESPACE
from transforms.storage_retries import is_transient, retrying, use_in_this_process

RECORDS_DIR = ".deepdream/records"
DONE = "done"  # output tag of inputs finished by an earlier run


def settings_key(job: Mapping[str, Any]) -> str:
    """A short fingerprint of the settings that shape an output image."""
    return hashlib.sha256(json.dumps(job, sort_keys=True).encode()).hexdigest()[:16]


def input_key(key: str, mask: str | None) -> str:
    """An input's own settings key: its recipe's, unless a manifest row gave it a mask."""
    return key if mask is None else settings_key({"settings_key": key, "mask": mask})


def settings_keys(
    jobs: Mapping[str, Mapping[str, Any]], sequence: Mapping[str, Any]
) -> tuple[dict[str, str], dict[str, str]]:
    """Each recipe's settings key for images, and for sequences (which also depend on the
    sequence settings)."""
    keys = {name: settings_key(job) for name, job in jobs.items()}
    sequence_keys = {name: settings_key({**job, "sequence": dict(sequence)}) for name, job in jobs.items()}
    return keys, sequence_keys


def finished_record(
    output_dir: str, element: InputFile, keys: Mapping[str, str], sequence_keys: Mapping[str, str]
) -> dict[str, Any] | None:
    """The record of an input an earlier run finished with the same settings (its output
    still there), else None. Storage errors that may pass are raised, for the caller to retry."""
    record = read_record(record_path(output_dir, element.stem))
    if record is None:
        return None
    wanted = sequence_keys if record.get("kind") == "sequence" else keys
    finished = (
        record.get("settings_key") == input_key(wanted.get(element.recipe, ""), element.mask)
        and record.get("input_uri") == element.uri
        and FileSystems.exists(record.get("output_uri", ""))
    )
    return record if finished else None


def record_path(output_dir: str, stem: str) -> str:
    return FileSystems.join(output_dir, RECORDS_DIR, f"{stem}.json")


def read_record(path: str) -> dict[str, Any] | None:
    """The record at `path`, or None if there is none (or it is damaged). A storage error
    that may pass is raised, for the caller to retry: a finished input is not redone
    because its record could not be read this once."""
    try:
        return json.loads(read_bytes(path).decode("utf-8"))
    except Exception as exc:  # missing or damaged: the input is simply redone
        if is_transient(exc):
            raise
        return None


class SkipFinished(beam.DoFn):
    """Routes inputs finished earlier with the same settings to DONE (as their record).

    `keys` maps each recipe name to its settings key for images; `sequence_keys` for
    sequences (whose record says so), which also depend on the sequence settings.
    """

    def __init__(self, output_dir: str, keys: Mapping[str, str],
                 sequence_keys: Mapping[str, str] | None = None) -> None:
        self._output_dir = output_dir
        self._keys = dict(keys)
        self._sequence_keys = dict(sequence_keys or {})
        self._skipped = Metrics.counter(METRICS_NAMESPACE, "skipped")
        self._sequences_skipped = Metrics.counter(METRICS_NAMESPACE, "sequences_skipped")

    def setup(self) -> None:
        use_in_this_process()

    def process(self, element: InputFile) -> Iterable[Any]:
        record = retrying(lambda: finished_record(self._output_dir, element, self._keys, self._sequence_keys),
                          "read the records of earlier runs")
        if record is not None:
            self._skipped.inc()
            if record.get("kind") == "sequence":
                self._sequences_skipped.inc()
            yield beam.pvalue.TaggedOutput(DONE, record)
        else:
            yield element
