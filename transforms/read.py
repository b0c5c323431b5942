"""Find the inputs (patterns and manifests), name their outputs, and read their bytes."""
from __future__ import annotations

import csv
import os
import re
from typing import Iterable, Mapping, NamedTuple, Sequence

import apache_beam as beam
from apache_beam.coders import BytesCoder
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from transforms.elements import ImageBytes, InputFile
from transforms.fetch import DEFAULT_HTTP_RETRIES, InputTooLargeError, is_local, read_bytes
from transforms.naming import disambiguate, glob_prefix, has_scheme, listed_stem, normalize_local, output_stem
from transforms.noise_input import is_noise, noise_png, noise_stem, parse_noise
from transforms.records import error_record
from transforms.stages import ERRORS, METRICS_NAMESPACE, FallibleStage
from transforms.storage_retries import retrying, use_in_this_process


class NoInputsError(ValueError):
    """A pattern matched no file, or a manifest does not exist."""


def check_inputs_exist(patterns: Sequence[str], manifests: Sequence[str], folders: Sequence[str] = ()) -> int:
    """Fail before the job starts on a pattern that matches nothing (a typo, not an empty run).

    Returns the number of inputs the patterns match (manifests are read by the job itself):
    files, and folders of frames (--sequence).
    """
    if not patterns and not manifests and not folders:
        raise NoInputsError("give --input PATTERN, --input_list FILE and/or --sequence 'FOLDERS/*/'")
    matched: set[str] = set()
    for pattern in (p for p in patterns if is_noise(p)):  # no file: its spelling is all there is
        try:
            parse_noise(pattern)
        except ValueError as exc:
            raise NoInputsError(f"--input {exc}") from None
        matched.add(pattern)
    patterns = [p for p in patterns if not is_noise(p)]
    for pattern, result in zip(patterns, FileSystems.match(list(patterns)), strict=True):
        if not result.metadata_list:
            raise NoInputsError(f"--input {pattern!r} matches no file")
        if all(is_local(m.path) and os.path.isdir(m.path) for m in result.metadata_list):
            folder = pattern.rstrip("/")
            raise NoInputsError(
                f"--input {pattern!r} matches folders only: give a pattern of the files in them "
                f"(--input '{folder}/*.jpg'), or --sequence '{folder}/' for a folder of frames"
            )
        matched.update(m.path for m in result.metadata_list)
    for pattern in folders:
        files = FileSystems.match([pattern.rstrip("/") + "/*"])[0].metadata_list
        if not files:
            raise NoInputsError(f"--sequence {pattern!r} matches no folder with files in it")
        matched.update(m.path.rsplit("/", 1)[0] for m in files)
    for manifest in manifests:
        if not FileSystems.exists(manifest):
            raise NoInputsError(f"--input_list {manifest!r} does not exist")
        check_manifest_is_text(manifest)
    return len(matched)


_SNIFF_BYTES = 64 * 1024


def read_manifest_header(manifest: str) -> tuple[str, ...] | None:
    """The columns a manifest's first line names, when it names a mask column (launcher)."""
    with FileSystems.open(manifest, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        first = f.readline(4096).decode("utf-8", "replace").lstrip("\ufeff")
    return manifest_columns(first)


def check_manifest_is_text(manifest: str) -> None:
    """A manifest is text: a binary file (an image given by mistake) stops the job at start.
    Single lines that are not UTF-8 are left to the job, as error records."""
    with FileSystems.open(manifest, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        head = f.read(_SNIFF_BYTES)
    undecodable = head.decode("utf-8", "replace").count("\ufffd")
    if b"\0" in head or undecodable > max(8, len(head) // 100):
        raise NoInputsError(f"--input_list {manifest!r} is not a text file of URIs (binary content)")


class Claim(NamedTuple):
    """What one pattern match or manifest row says of an input URI."""

    name: str  # the output name it asks for (relative to --output, no extension)
    preset: str | None = None  # a manifest row's preset column
    folder: bool = False  # a folder of frames (--sequence): one sequence
    mask: str | None = None  # a manifest row's mask column


def _match(pattern: str) -> list:
    use_in_this_process()  # the first step of a job: storage's retry policy before any call
    return retrying(lambda: FileSystems.match([pattern])[0].metadata_list, f"list {pattern}")


class MatchPattern(beam.DoFn):
    """pattern -> (uri, Claim) per matched file, named relative to the pattern's prefix."""

    def __init__(self) -> None:
        self._matched = Metrics.counter(METRICS_NAMESPACE, "matched")

    def process(self, pattern: str) -> Iterable[tuple[str, Claim]]:
        for claimed in pattern_claims(pattern):
            self._matched.inc()
            yield claimed


def pattern_claims(pattern: str) -> Iterable[tuple[str, Claim]]:
    """(uri, Claim) per file `pattern` matches, named relative to the pattern's prefix; a
    noise: input is itself, named by its size and seed."""
    if is_noise(pattern):
        yield pattern, Claim(noise_stem(pattern))
        return
    pattern = normalize_local(pattern)
    prefix = glob_prefix(pattern)
    for metadata in _match(pattern):
        path = normalize_local(metadata.path)
        yield path, Claim(output_stem(path, prefix))


class MatchFolders(beam.DoFn):
    """--sequence pattern -> (folder, Claim) per folder with files in it: 'shots/*/' makes
    every folder under shots/ one sequence (on any filesystem: folders are found by their
    files), named by its whole path under the pattern's prefix ('shot.2' stays 'shot.2')."""

    def process(self, pattern: str) -> Iterable[tuple[str, Claim]]:
        return folder_claims(pattern)


def folder_claims(pattern: str) -> Iterable[tuple[str, Claim]]:
    """(folder, Claim) per folder with files in it that the --sequence `pattern` matches."""
    folder_pattern = normalize_local(pattern.rstrip("/")) + "/"
    prefix = glob_prefix(folder_pattern)
    found = {m.path.rsplit("/", 1)[0] for m in _match(folder_pattern + "*")}
    for folder in sorted(found):
        yield folder, Claim(output_stem(folder, prefix, folder=True), folder=True)


MANIFEST_HEADER = "uri,preset"
MANIFEST_COLUMNS = ("uri", "preset", "mask")
# A preset column: the text after a line's last comma, when it looks like a preset name.
# A comma inside a URI is usually followed by a path or file name ('/' or '.'), which does not.
_PRESET_COLUMN = re.compile(r"^(?P<uri>.+),\s*(?P<preset>[A-Za-z0-9_-]+)$")


def manifest_columns(header: str) -> tuple[str, ...] | None:
    """A manifest's first line naming its columns, when it names a `mask` column: then its
    rows are CSV (quote a URI holding a comma). None: rows are 'uri' or 'uri,preset'."""
    try:
        names = tuple(cell.strip() for cell in next(csv.reader([header.strip()])))
    except (csv.Error, StopIteration):
        return None
    if "uri" in names and "mask" in names and set(names) <= set(MANIFEST_COLUMNS) and len(set(names)) == len(names):
        return names
    return None


def _local_from(uri: str, relative_to: str | None) -> str:
    if relative_to and not has_scheme(uri) and not os.path.isabs(uri) and not is_noise(uri):
        uri = os.path.join(relative_to, uri)
    return uri if is_noise(uri) else normalize_local(uri)


def _csv_row(text: str, columns: tuple[str, ...], relative_to: str | None) -> list[tuple[str, Claim]]:
    """A row of a manifest with a header naming its columns (uri, preset, mask)."""
    cells = [cell.strip() for cell in next(csv.reader([text]))]
    if tuple(cells) == columns:  # the header itself
        return []
    row = dict(zip(columns, cells + [""] * (len(columns) - len(cells)), strict=False))
    if not row.get("uri"):
        return []
    mask = _local_from(row["mask"], relative_to) if row.get("mask") else None
    return _listed(row["uri"], row.get("preset") or None, relative_to, mask)


def _listed(uri: str, preset: str | None, relative_to: str | None, mask: str | None = None) -> list[tuple[str, Claim]]:
    """A manifest row's input, named: a noise input by its size and seed (a bad one is the
    read step's error record, named like any listed URI)."""
    uri = _local_from(uri, relative_to)
    stem = listed_stem(uri)
    if is_noise(uri):
        try:
            stem = noise_stem(uri)
        except ValueError:
            pass
    return [(uri, Claim(stem, preset, mask=mask))]


def parse_manifest_line(line: str, relative_to: str | None = None,
                        columns: tuple[str, ...] | None = None) -> list[tuple[str, Claim]]:
    """'uri' or 'uri,preset' -> [(uri, Claim(name, preset))]; blank lines, '#' comments and
    the optional 'uri,preset' header -> []. With `columns` (a header naming a mask column,
    `manifest_columns`), rows are CSV of those columns. A relative local path is taken from
    the folder `relative_to` (the launcher's), not from whichever folder a worker runs in."""
    text = line.strip()
    if not text or text.startswith("#") or text.replace(" ", "") == MANIFEST_HEADER:
        return []
    if columns is not None:
        return _csv_row(text, columns, relative_to)
    match = _PRESET_COLUMN.match(text)
    uri, preset = (match["uri"].strip(), match["preset"]) if match else (text, None)
    return _listed(uri, preset, relative_to)


class ManifestLineError(ValueError):
    """A manifest line that is not UTF-8 text."""


class ParseManifest(beam.DoFn):
    """Raw manifest lines -> (uri, Claim); a line that is not UTF-8 becomes one
    error record (its bytes shown escaped), the other lines go on."""

    def __init__(self, manifest: str, relative_to: str | None = None,
                 columns: tuple[str, ...] | None = None) -> None:
        self._manifest = manifest
        self._relative_to = relative_to
        self._columns = columns
        # A bad line is an input that failed: counted like any other.
        self._counters = [Metrics.counter(METRICS_NAMESPACE, name)
                          for name in ("inputs", "failed", "failed_manifest")]

    def process(self, line: bytes) -> Iterable:
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            for counter in self._counters:
                counter.inc()
            shown = line.decode("utf-8", "backslashreplace")
            yield beam.pvalue.TaggedOutput(ERRORS, error_record(shown, "manifest", ManifestLineError(
                f"line of {self._manifest} is not UTF-8 text ({exc.reason} at byte {exc.start})"
            )))
            return
        yield from parse_manifest_line(text.lstrip("\ufeff"), self._relative_to, self._columns)


class FindInputs(beam.PTransform):
    """Patterns, manifests and folder patterns -> one InputFile per distinct input, each
    with a name of its own: stills, animations, videos and folders of frames share one
    namespace (their records do), so two inputs never claim one output."""

    def __init__(self, patterns: Sequence[str], manifests: Sequence[str], folders: Sequence[str] = (),
                 relative_to: str | None = None, manifest_headers: Mapping[str, tuple[str, ...]] | None = None) -> None:
        """`folders`: --sequence patterns; `relative_to`: the folder relative local paths
        in manifests start from; `manifest_headers`: the columns of manifests whose first
        line names a mask column (read_manifest_header)."""
        super().__init__()
        self._patterns = list(patterns)
        self._manifests = list(manifests)
        self._headers = dict(manifest_headers or {})
        self._folders = list(folders)
        self._relative_to = relative_to

    def expand(self, pipeline: beam.pvalue.PBegin) -> dict[str, beam.PCollection]:
        """{'ok': one InputFile per input, ERRORS: manifest lines that are not text}."""
        named, errors = [], []
        if self._patterns:
            named.append(
                pipeline
                | "InputPatterns" >> beam.Create(self._patterns)
                | "MatchPatterns" >> beam.ParDo(MatchPattern())
            )
        if self._folders:
            named.append(
                pipeline
                | "FolderPatterns" >> beam.Create(self._folders)
                | "MatchFolders" >> beam.ParDo(MatchFolders())
            )
        for i, manifest in enumerate(self._manifests):
            parsed = (
                pipeline
                # Bytes: a line that is not UTF-8 is that line's error, not the job's end.
                | f"ReadManifest{i}" >> beam.io.ReadFromText(manifest, coder=BytesCoder())
                | f"ParseManifest{i}" >> beam.ParDo(ParseManifest(
                    manifest, self._relative_to, self._headers.get(manifest))).with_outputs(
                    ERRORS, main="ok")
            )
            named.append(parsed.ok)
            errors.append(parsed[ERRORS])
        inputs = (
            named
            | "AllInputs" >> beam.Flatten()
            # The same file matched or listed twice is one input, under one name (and the
            # preset a manifest row gave it, if any).
            | "GroupByUri" >> beam.GroupByKey()
            | "OneNamePerUri" >> beam.MapTuple(_one_name)
            # Distinct inputs that claim one name (x.jpg under two patterns, a folder pan/
            # beside pan.gif) get distinct ones.
            | "GroupByName" >> beam.GroupByKey()
            | "NameOutputs" >> beam.ParDo(NameOutputs())
        )
        manifest_errors = (errors or [pipeline | "NoManifests" >> beam.Create([])]) | (
            "ManifestErrors" >> beam.Flatten()
        )
        return {"ok": inputs, ERRORS: manifest_errors}


def _one_name(uri: str, claims: Iterable[Claim]) -> tuple[str, tuple[str, Claim]]:
    """(uri, [Claim, ...]) -> (name, (uri, Claim)): the smallest name; a preset any row
    named, if one did."""
    ordered = sorted(claims, key=lambda claim: (claim.name, claim.preset is None, claim.preset or ""))
    preset = next((claim.preset for claim in ordered if claim.preset is not None), None)
    mask = next((claim.mask for claim in ordered if claim.mask is not None), None)
    return ordered[0].name, (uri, ordered[0]._replace(preset=preset, mask=mask))


class NameOutputs(beam.DoFn):
    """(name, [(uri, Claim), ...]) -> one InputFile per distinct uri, with a name of its own."""

    def __init__(self) -> None:
        self._inputs = Metrics.counter(METRICS_NAMESPACE, "inputs")

    def process(self, element: tuple[str, Iterable[tuple[str, Claim]]]) -> Iterable[InputFile]:
        for named in _named(*element):
            self._inputs.inc()
            yield named


def _named(stem: str, claims: Iterable[tuple[str, Claim]]) -> list[InputFile]:
    by_uri = dict(claims)
    return [InputFile(uri, unique_stem, by_uri[uri].preset, folder=by_uri[uri].folder, mask=by_uri[uri].mask)
            for uri, unique_stem in disambiguate(stem, list(by_uri))]


def name_inputs(claimed: Iterable[tuple[str, Claim]]) -> list[InputFile]:
    """FindInputs' naming in one process: (uri, Claim) pairs -> one InputFile per distinct
    uri, each with a name of its own (the launcher's view of what the job will find)."""
    claims_by_uri: dict[str, list[Claim]] = {}
    for uri, claim in claimed:
        claims_by_uri.setdefault(uri, []).append(claim)
    by_name: dict[str, list[tuple[str, Claim]]] = {}
    for uri, claims in claims_by_uri.items():
        name, pair = _one_name(uri, claims)
        by_name.setdefault(name, []).append(pair)
    return [named for name, pairs in sorted(by_name.items()) for named in _named(name, pairs)]


class UnknownPresetError(ValueError):
    """A manifest row names a preset the job does not know."""


class CheckPreset(FallibleStage):
    """Every input leaves with the name of the recipe it is dreamed with: its manifest
    row's, else the job's. Rows that name an unknown preset become error records here."""

    stage, outcome = "preset", "preset_checked"

    def __init__(self, presets: Iterable[str], job_preset: str) -> None:
        super().__init__()
        self._presets = sorted(presets)
        self._job_preset = job_preset

    def uri_of(self, element: InputFile) -> str:
        return element.uri

    def run(self, element: InputFile) -> Iterable[InputFile]:
        if element.preset is not None and element.preset not in self._presets:
            raise UnknownPresetError(
                f"manifest names preset {element.preset!r}; valid: {', '.join(self._presets)}"
            )
        yield element if element.preset is not None else element._replace(preset=self._job_preset)


class ReadBytes(FallibleStage):
    stage, outcome = "read", "read"

    def __init__(self, max_bytes: int, http_timeout: float, allow_private_urls: bool = False,
                 http_retries: int = DEFAULT_HTTP_RETRIES) -> None:
        super().__init__()
        self._max_bytes = max_bytes
        self._http_timeout = http_timeout
        self._allow_private_urls = allow_private_urls
        self._http_retries = http_retries

    def uri_of(self, element: InputFile) -> str:
        return element.uri

    def run(self, element: InputFile) -> Iterable[ImageBytes]:
        if is_noise(element.uri):
            yield ImageBytes(element, self._noise(element.uri))
            return
        yield ImageBytes(element, read_bytes(
            element.uri, self._max_bytes, self._http_timeout, self._allow_private_urls, self._http_retries))

    def _noise(self, uri: str) -> bytes:
        width, height, _ = parse_noise(uri)
        if width * height * 3 > self._max_bytes:  # the pixels it would hold, as a file's bytes
            raise InputTooLargeError(f"{uri} would hold {width * height * 3} bytes of pixels, over "
                                     f"max_bytes={self._max_bytes}")
        return noise_png(uri)
