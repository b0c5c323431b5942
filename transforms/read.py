"""Find the inputs and read their bytes through Beam's FileSystems (local, gs://, s3://, ...)."""
from __future__ import annotations

from typing import Iterable, Sequence

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from transforms.naming import glob_prefix, output_stem
from transforms.records import ImageBytes, InputFile
from transforms.steps import METRICS_NAMESPACE, FallibleStep


class NoInputsError(ValueError):
    """A pattern matched no file."""


def check_patterns_match(patterns: Sequence[str]) -> None:
    """Fail before the job starts if any pattern matches nothing (a typo, not an empty run)."""
    for pattern, result in zip(patterns, FileSystems.match(list(patterns))):
        if not result.metadata_list:
            raise NoInputsError(f"--input {pattern!r} matches no file")


class MatchPattern(beam.DoFn):
    """pattern -> one InputFile per matched file, named relative to the pattern's prefix."""

    def __init__(self) -> None:
        self._matched = Metrics.counter(METRICS_NAMESPACE, "matched")

    def process(self, pattern: str) -> Iterable[InputFile]:
        prefix = glob_prefix(pattern)
        for metadata in FileSystems.match([pattern])[0].metadata_list:
            self._matched.inc()
            yield InputFile(metadata.path, output_stem(metadata.path, prefix))


class ReadBytes(FallibleStep):
    step, outcome = "read", "read"

    def uri_of(self, element: InputFile) -> str:
        return element.uri

    def run(self, element: InputFile) -> Iterable[ImageBytes]:
        # UNCOMPRESSED: a file named *.gz is an input to decode, not to inflate.
        with FileSystems.open(element.uri, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            yield ImageBytes(element, f.read())
