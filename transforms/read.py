"""Find the inputs (patterns and manifests), name their outputs, and read their bytes."""
from __future__ import annotations

import re
from typing import Iterable, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from transforms.fetch import read_bytes
from transforms.naming import disambiguate, glob_prefix, listed_stem, output_stem
from transforms.records import ImageBytes, InputFile
from transforms.steps import METRICS_NAMESPACE, FallibleStep


class NoInputsError(ValueError):
    """A pattern matched no file, or a manifest does not exist."""


def check_inputs_exist(patterns: Sequence[str], manifests: Sequence[str]) -> int:
    """Fail before the job starts on a pattern that matches nothing (a typo, not an empty run).

    Returns the number of files the patterns match (manifests are read by the job itself).
    """
    if not patterns and not manifests:
        raise NoInputsError("give --input PATTERN and/or --input_list FILE")
    matched = set()
    for pattern, result in zip(patterns, FileSystems.match(list(patterns))):
        if not result.metadata_list:
            raise NoInputsError(f"--input {pattern!r} matches no file")
        matched.update(m.path for m in result.metadata_list)
    for manifest in manifests:
        if not FileSystems.exists(manifest):
            raise NoInputsError(f"--input_list {manifest!r} does not exist")
    return len(matched)


class MatchPattern(beam.DoFn):
    """pattern -> (uri, (name, no preset)) per matched file, named relative to the pattern's prefix."""

    def __init__(self) -> None:
        self._matched = Metrics.counter(METRICS_NAMESPACE, "matched")

    def process(self, pattern: str) -> Iterable[tuple[str, tuple[str, None]]]:
        prefix = glob_prefix(pattern)
        for metadata in FileSystems.match([pattern])[0].metadata_list:
            self._matched.inc()
            yield metadata.path, (output_stem(metadata.path, prefix), None)


MANIFEST_HEADER = "uri,preset"
# A preset column: the text after a line's last comma, when it looks like a preset name.
# A comma inside a URI is usually followed by a path or file name ('/' or '.'), which does not.
_PRESET_COLUMN = re.compile(r"^(?P<uri>.+),\s*(?P<preset>[A-Za-z0-9_-]+)$")


def parse_manifest_line(line: str) -> list[tuple[str, tuple[str, str | None]]]:
    """'uri' or 'uri,preset' -> [(uri, (name, preset))]; blank lines, '#' comments and
    the optional 'uri,preset' header -> []."""
    text = line.strip()
    if not text or text.startswith("#") or text.replace(" ", "") == MANIFEST_HEADER:
        return []
    match = _PRESET_COLUMN.match(text)
    uri, preset = (match["uri"].strip(), match["preset"]) if match else (text, None)
    return [(uri, (listed_stem(uri), preset))]


class FindInputs(beam.PTransform):
    """Patterns and manifests -> one InputFile per distinct input, each with its own name."""

    def __init__(self, patterns: Sequence[str], manifests: Sequence[str]) -> None:
        super().__init__()
        self._patterns = list(patterns)
        self._manifests = list(manifests)

    def expand(self, pipeline: beam.pvalue.PBegin) -> beam.PCollection[InputFile]:
        named = []
        if self._patterns:
            named.append(
                pipeline
                | "InputPatterns" >> beam.Create(self._patterns)
                | "MatchPatterns" >> beam.ParDo(MatchPattern())
            )
        for i, manifest in enumerate(self._manifests):
            named.append(
                pipeline
                | f"ReadManifest{i}" >> beam.io.ReadFromText(manifest)
                | f"ParseManifest{i}" >> beam.FlatMap(parse_manifest_line)
            )
        return (
            named
            | "AllInputs" >> beam.Flatten()
            # The same file matched or listed twice is one input, under one name (and the
            # preset a manifest row gave it, if any).
            | "GroupByUri" >> beam.GroupByKey()
            | "OneNamePerUri" >> beam.MapTuple(_one_name)
            # Distinct inputs that claim one name (x.jpg under two patterns) get distinct ones.
            | "GroupByName" >> beam.GroupByKey()
            | "NameOutputs" >> beam.ParDo(NameOutputs())
        )


def _one_name(uri: str, claims: Iterable[tuple[str, str | None]]) -> tuple[str, tuple[str, str | None]]:
    """(uri, [(name, preset), ...]) -> (name, (uri, preset)): the smallest name; a preset
    any row named, if one did."""
    claims = sorted(claims, key=lambda claim: (claim[0], claim[1] is None, claim[1] or ""))
    preset = next((p for _, p in claims if p is not None), None)
    return claims[0][0], (uri, preset)


class NameOutputs(beam.DoFn):
    """(name, [(uri, preset), ...]) -> one InputFile per distinct uri, with a name of its own."""

    def __init__(self) -> None:
        self._inputs = Metrics.counter(METRICS_NAMESPACE, "inputs")

    def process(self, element: tuple[str, Iterable[tuple[str, str | None]]]) -> Iterable[InputFile]:
        stem, claims = element
        presets = dict(claims)
        for uri, unique_stem in disambiguate(stem, list(presets)):
            self._inputs.inc()
            yield InputFile(uri, unique_stem, presets[uri])


class UnknownPresetError(ValueError):
    """A manifest row names a preset the job does not know."""


class CheckPreset(FallibleStep):
    """Inputs whose manifest row names an unknown preset become error records here."""

    step, outcome = "preset", "preset_checked"

    def __init__(self, presets: Iterable[str]) -> None:
        super().__init__()
        self._presets = sorted(presets)

    def uri_of(self, element: InputFile) -> str:
        return element.uri

    def run(self, element: InputFile) -> Iterable[InputFile]:
        if element.preset is not None and element.preset not in self._presets:
            raise UnknownPresetError(
                f"manifest names preset {element.preset!r}; valid: {', '.join(self._presets)}"
            )
        yield element


class ReadBytes(FallibleStep):
    step, outcome = "read", "read"

    def __init__(self, max_bytes: int, timeout_s: float) -> None:
        super().__init__()
        self._max_bytes = max_bytes
        self._timeout_s = timeout_s

    def uri_of(self, element: InputFile) -> str:
        return element.uri

    def run(self, element: InputFile) -> Iterable[ImageBytes]:
        yield ImageBytes(element, read_bytes(element.uri, self._max_bytes, self._timeout_s))
