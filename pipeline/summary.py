"""The end-of-job summary, read back from the job's Beam counters."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from apache_beam.metrics.metric import MetricsFilter
from apache_beam.runners.runner import PipelineResult

from transforms.stages import METRICS_NAMESPACE

STAGES = ("manifest", "preset", "read", "probe", "decode", "dream", "write")


@dataclass(frozen=True)
class JobSummary:
    counters: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    max_failure_ratio: float | None = None  # None: fail only when every input failed
    # name -> (count, sum, min, max) of each Beam distribution, e.g. dream_ms
    distributions: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)

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

    def failed_too_often(self) -> bool:
        if self.max_failure_ratio is None:
            return self.failed > 0 and self.dreamed + self.skipped == 0
        return self.inputs > 0 and self.failed / self.inputs > self.max_failure_ratio

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
        )


def summarize(result: PipelineResult, seconds: float, max_failure_ratio: float | None) -> JobSummary:
    """Read the job's counters (summed over steps: several bump 'failed') and distributions."""
    try:
        query = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
    except NotImplementedError:  # e.g. a Dataflow dry run: no job ran, nothing counted
        return JobSummary({}, seconds, max_failure_ratio)
    totals: Counter[str] = Counter()
    for counter in query["counters"]:
        totals[counter.key.metric.name] += _value(counter) or 0
    distributions = {}
    for metric in query["distributions"]:
        value = _value(metric)
        if value is not None and value.count:
            distributions[metric.key.metric.name] = (value.count, value.sum, value.min, value.max)
    return JobSummary(dict(totals), seconds, max_failure_ratio, distributions)


def _value(metric):
    return metric.committed if metric.committed is not None else metric.attempted
