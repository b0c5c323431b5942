"""A DoFn base for pipeline stages: failures become error records, outcomes become counters."""
from __future__ import annotations

from typing import Any, Iterable

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.records import error_record
from transforms.storage_retries import retrying, use_in_this_process

ERRORS = "errors"
METRICS_NAMESPACE = "deepdream"


class FallibleStage(beam.DoFn):
    """Runs `run(element)` and routes any exception to the ERRORS output as a record.

    Subclasses set `stage` (read/decode/dream/write) and implement `uri_of` and `run`.
    A bad element costs its own record, never the bundle or the job; a transient storage
    error (5xx, a reset, a timeout) is retried (transforms/storage_retries.py), never
    recorded as the input's failure unless storage stays down past the deadline.
    """

    stage = "stage"
    outcome = "done"  # counter bumped once per element the stage succeeded on

    def __init__(self) -> None:
        self._succeeded = Metrics.counter(METRICS_NAMESPACE, self.outcome)
        self._failed = Metrics.counter(METRICS_NAMESPACE, "failed")
        self._failed_here = Metrics.counter(METRICS_NAMESPACE, f"failed_{self.stage}")

    def uri_of(self, element: Any) -> str:
        raise NotImplementedError

    def run(self, element: Any) -> Iterable[Any]:
        raise NotImplementedError

    def setup(self) -> None:
        use_in_this_process()

    def process(self, element: Any) -> Iterable[Any]:
        try:
            outputs = retrying(lambda: list(self.run(element)), f"{self.stage} this input")
        except Exception as exc:  # every failure of one input is that input's error record
            self._failed.inc()
            self._failed_here.inc()
            yield beam.pvalue.TaggedOutput(ERRORS, error_record(self.uri_of(element), self.stage, exc))
            return
        self._succeeded.inc()
        yield from outputs
