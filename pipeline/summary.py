"""The end-of-job summary, read back from the job's Beam counters."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from apache_beam.metrics.metric import MetricsFilter
from apache_beam.runners.runner import PipelineResult

from transforms.steps import METRICS_NAMESPACE

STEPS = ("read", "decode", "dream", "write")


@dataclass(frozen=True)
class JobSummary:
    counters: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    max_failure_ratio: float | None = None  # None: fail only when every input failed

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
        by_step = ", ".join(
            f"{step} {self.count(f'failed_{step}')}" for step in STEPS if self.count(f"failed_{step}")
        )
        return (
            f"beam-deepdream: {self.dreamed} dreamed, {self.skipped} already done, "
            f"{self.failed} failed{f' ({by_step})' if by_step else ''} "
            f"of {self.inputs} inputs in {self.seconds:.1f} s"
        )


def read_counters(result: PipelineResult) -> dict[str, int]:
    """Counters of this job summed over steps (several steps bump 'failed')."""
    totals: Counter[str] = Counter()
    try:
        query = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
    except NotImplementedError:  # e.g. a Dataflow dry run: no job ran, nothing counted
        return {}
    for counter in query["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[counter.key.metric.name] += value or 0
    return dict(totals)
