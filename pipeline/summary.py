"""The end-of-job summary, read back from the job's Beam counters."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from apache_beam.metrics.metric import MetricsFilter
from apache_beam.runners.runner import PipelineResult

from transforms.steps import METRICS_NAMESPACE


@dataclass(frozen=True)
class JobSummary:
    counters: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def count(self, name: str) -> int:
        return self.counters.get(name, 0)

    @property
    def dreamed(self) -> int:
        return self.count("written")  # an image counts once its file and record exist

    @property
    def failed(self) -> int:
        return self.count("failed")

    def line(self) -> str:
        return (
            f"beam-deepdream: {self.dreamed} dreamed, {self.failed} failed "
            f"(of {self.count('matched')} matched) in {self.seconds:.1f} s"
        )


def read_counters(result: PipelineResult) -> dict[str, int]:
    """Counters of this job summed over steps (several steps bump 'failed')."""
    totals: Counter[str] = Counter()
    query = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
    for counter in query["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[counter.key.metric.name] += value or 0
    return dict(totals)
