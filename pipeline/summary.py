"""The end-of-job summary: read back from the job's Beam counters, or, on a runner that
reports none, counted from what the job left in the output."""
from __future__ import annotations

import io
import json
import posixpath
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.runners.runner import PipelineResult

from transforms.resume import RECORDS_DIR, record_path
from transforms.stages import METRICS_NAMESPACE

STAGES = ("manifest", "preset", "read", "probe", "decode", "dream", "write")


@dataclass(frozen=True)
class JobSummary:
    counters: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    max_failure_ratio: float | None = None  # None: fail only when every input failed
    # name -> (count, sum, min, max) of each Beam distribution, e.g. dream_ms
    distributions: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    from_output: str = ""  # why it was counted from the output's files ("": from Beam's counters)
    runner: str = ""  # the runner that ran the job

    @property
    def mean_dream_seconds(self) -> float | None:
        count, total, _, _ = self.distributions.get("dream_ms", (0, 0, 0, 0))
        return total / count / 1000 if count else None

    def count(self, name: str) -> int:
        return self.counters.get(name, 0)

    @property
    def dreamed(self) -> int:
        return self.count("written")  # an image counts once its file and record exist

    @property
    def skipped(self) -> int:
        return self.count("skipped")

    @property
    def failed(self) -> int:
        return self.count("failed")

    @property
    def inputs(self) -> int:
        return self.count("inputs")

    @property
    def sequences(self) -> int:
        return self.count("sequences_written") + self.count("sequences_skipped")

    def failed_too_often(self) -> bool:
        if self.max_failure_ratio is None:
            return self.failed > 0 and self.dreamed + self.skipped == 0
        return self.inputs > 0 and self.failed / self.inputs > self.max_failure_ratio

    def failure_reason(self) -> str:
        """Why the job exits 1 (when failed_too_often)."""
        if self.max_failure_ratio is None:
            return f"every input failed ({self.failed} of {self.inputs}); see errors.jsonl"
        return (f"{self.failed} of {self.inputs} inputs failed ({self.failed / self.inputs:.0%}), over "
                f"--max_failure_ratio {self.max_failure_ratio:g}; see errors.jsonl")

    def line(self) -> str:
        by_stage = ", ".join(
            f"{stage} {self.count(f'failed_{stage}')}" for stage in STAGES if self.count(f"failed_{stage}")
        )
        per_image = self.mean_dream_seconds
        return (
            f"beam-deepdream: {self.dreamed} dreamed, {self.skipped} already done, "
            f"{self.failed} failed{f' ({by_stage})' if by_stage else ''} "
            f"of {self.inputs} inputs in {self.seconds:.1f} s"
            + (f" ({per_image:.2f} s per dream)" if per_image is not None else "")
            + (f" on {self.runner}" if self.runner else "")
            + (f"; counted from the output: {self.from_output}" if self.from_output else "")
        )


def summarize(result: PipelineResult, seconds: float, max_failure_ratio: float | None,
              runner: str = "") -> JobSummary:
    """Read the job's counters (summed over steps: several bump 'failed') and distributions."""
    try:
        query = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
    except NotImplementedError:  # e.g. a Dataflow dry run: no job ran, nothing counted
        return JobSummary({}, seconds, max_failure_ratio, runner=runner)
    totals: Counter[str] = Counter()
    for counter in query["counters"]:
        totals[counter.key.metric.name] += _value(counter) or 0
    distributions = {}
    for metric in query["distributions"]:
        value = _value(metric)
        if value is not None and value.count:
            distributions[metric.key.metric.name] = (value.count, value.sum, value.min, value.max)
    return JobSummary(dict(totals), seconds, max_failure_ratio, distributions, runner=runner)


def _value(metric):
    return metric.committed if metric.committed is not None else metric.attempted


def summary_from_output(
    output: str, started: float, seconds: float, max_failure_ratio: float | None, runner: str,
    metadata_file: str, sequences_file: str, errors_file: str, reason: str = "the runner reported no counters",
) -> JobSummary:
    """What the job left in `output`, for a runner whose result has no counters (or counters
    the output contradicts: `reason` says which).

    `started` is the storage's own clock when the job began (the lease's time): result
    files older than that are an earlier run's, and an input whose record is newer was
    dreamed now, one whose record is older was done before.
    """
    fresh_records = {path for path, updated in record_times(output).items() if updated >= started}
    counters: Counter[str] = Counter()
    for kind, file in (("images", metadata_file), ("sequences", sequences_file)):
        for record in _fresh_records(FileSystems.join(output, file), started):
            dreamed_now = _record_of(output, record) in fresh_records
            counters["written" if dreamed_now else "skipped"] += 1
            if kind == "sequences":
                counters["sequences_written" if dreamed_now else "sequences_skipped"] += 1
    for error in _fresh_records(FileSystems.join(output, errors_file), started):
        counters["failed"] += 1
        counters[f"failed_{error.get('stage')}"] += 1
    counters["inputs"] = counters["written"] + counters["skipped"] + counters["failed"]
    return JobSummary(dict(counters), seconds, max_failure_ratio, from_output=reason, runner=runner)


def counters_contradicted(
    summary: JobSummary, output: str, started: float, metadata_file: str, sequences_file: str, errors_file: str,
) -> str:
    """Why the runner's counters cannot be what the job did, or "" when they agree: every
    input that ends well is one line of this job's metadata or sequences file, every failed
    one a line of its errors file (a runner that drops a bundle's counters, seen on Prism,
    would otherwise report less work than the output holds)."""
    results = sum(1 for file in (metadata_file, sequences_file)
                  for _ in _fresh_records(FileSystems.join(output, file), started))
    errors = sum(1 for _ in _fresh_records(FileSystems.join(output, errors_file), started))
    counted = summary.dreamed + summary.skipped
    if (results, errors) == (counted, summary.failed):
        return ""
    return (f"the runner counted {counted} results and {summary.failed} failures, "
            f"the output holds {results} and {errors}")


def record_times(output: str) -> dict[str, float]:
    """Every finished input's record in `output`, with the time (the storage's) it was written."""
    return {meta.path: meta.last_updated_in_seconds
            for meta in _listing(FileSystems.join(output, RECORDS_DIR, "**"))}


def _listing(pattern: str) -> list[Any]:
    return FileSystems.match([pattern])[0].metadata_list


def _fresh_records(uri: str, started: float) -> Iterator[dict[str, Any]]:
    """The records in a result file this run wrote (none if it is missing or older)."""
    found = _listing(uri)
    if not found or found[0].last_updated_in_seconds < started:
        return
    with FileSystems.open(uri, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        if uri.endswith(".parquet"):
            import pyarrow.parquet as pq

            yield from pq.read_table(f, columns=["output_uri"]).to_pylist()
            return
        for line in io.TextIOWrapper(f, encoding="utf-8"):  # streamed: a line at a time
            if line.strip():
                yield json.loads(line)


def _record_of(output: str, record: dict[str, Any]) -> str:
    """The record file of a dreamed output: OUT/a/b.png -> OUT/.deepdream/records/a/b.json."""
    relative = record["output_uri"][len(output.rstrip("/")) + 1:]
    return record_path(output, posixpath.splitext(relative)[0])
