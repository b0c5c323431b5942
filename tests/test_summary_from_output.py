"""On a runner whose result carries no counters, the summary is counted from what the job
left in the output, and no result file is replaced by an empty one for work it did not do."""
from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner

from pipeline.result_files import ERRORS_FILE, METADATA_FILE, SEQUENCES_FILE
from pipeline.run import run
from pipeline.storage.lease import LEASE_FILE
from pipeline.summary import summary_from_output
from tests.conftest import read_jsonl
from tests.media import write_animation
from tests.test_buckets import png

FAST = ["--octaves=1", "--iterations=1"]


class _NoMetricsResult:
    """A finished job whose runner reports no metrics (as some runners' results do)."""

    def __init__(self, result) -> None:
        self._result = result
        self.state = result.state

    def wait_until_finish(self, duration=None):
        return self._result.wait_until_finish(duration)

    def metrics(self):
        raise NotImplementedError("this runner reports no metrics")


class NoCountersRunner(FnApiRunner):
    """Beam's in-process runner, its metrics withheld from the launcher."""

    def run_pipeline(self, pipeline, options):
        return _NoMetricsResult(super().run_pipeline(pipeline, options))


class _LosingResult(_NoMetricsResult):
    """A finished job whose runner lost the counters of the bundles that wrote images (as
    Prism did once in CI: 1 dreamed reported, 2 written)."""

    def metrics(self):
        result = self._result

        class _Lost:
            def query(self, metrics_filter=None):
                found = result.metrics().query(metrics_filter)
                return {**found, "counters": [c for c in found["counters"] if c.key.metric.name != "written"]}

        return _Lost()


class LosingCountersRunner(FnApiRunner):
    def run_pipeline(self, pipeline, options):
        return _LosingResult(super().run_pipeline(pipeline, options))


@pytest.fixture
def collection(tmp_path):
    (tmp_path / "in").mkdir()
    for i in range(2):
        (tmp_path / "in" / f"{i}.png").write_bytes(png(i))
    (tmp_path / "in" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    write_animation(tmp_path / "in" / "wave.gif", [80, 80])
    return tmp_path


def job(collection, runner=None):
    args = [f"--input={collection}/in/*", f"--output={collection}/out", "--runner=FnApiRunner", *FAST]
    pipeline = beam.Pipeline(runner=runner, options=PipelineOptions(args)) if runner else None
    return run(args, test_pipeline=pipeline)


def test_summary_counted_from_the_output_when_the_runner_has_no_counters(collection):
    first = job(collection, NoCountersRunner())
    assert first.from_output and "counted from the output" in first.line()
    assert (first.dreamed, first.skipped, first.failed, first.inputs) == (3, 0, 1, 4)
    assert first.count("failed_decode") == 1 and first.sequences == 1
    again = job(collection, NoCountersRunner())
    assert (again.dreamed, again.skipped, again.failed, again.inputs) == (0, 3, 1, 4)
    # The index of the earlier run is rewritten whole, never emptied.
    assert len(read_jsonl(collection / "out" / METADATA_FILE)) == 2
    assert len(read_jsonl(collection / "out" / SEQUENCES_FILE)) == 1
    assert len(read_jsonl(collection / "out" / ERRORS_FILE)) == 1


def test_counters_the_output_contradicts_are_not_reported(collection):
    """A runner may not report less (or more) work than the job's own files hold."""
    summary = job(collection, LosingCountersRunner())
    assert (summary.dreamed, summary.skipped, summary.failed, summary.inputs) == (3, 0, 1, 4)
    assert "the runner counted 0 results and 1 failures, the output holds 3 and 1" in summary.line()
    assert len(read_jsonl(collection / "out" / METADATA_FILE)) == 2


def test_counting_the_output_agrees_with_beams_counters(collection):
    out = collection / "out"
    for expected in ((3, 0, 1, 4), (0, 3, 1, 4)):
        summary = job(collection)
        assert not summary.from_output
        assert (summary.dreamed, summary.skipped, summary.failed, summary.inputs) == expected
        # The lease is gone after the job: its start is any time before the job's files.
        started = min(p.stat().st_mtime for p in out.glob("*.jsonl")) - 60
        if expected[0] == 0:  # on the rerun, the records were written before this start
            started = max(p.stat().st_mtime for p in (out / ".deepdream" / "records").rglob("*.json")) + 1e-3
        counted = summary_from_output(str(out), started, 0.0, None, "", METADATA_FILE, SEQUENCES_FILE, ERRORS_FILE)
        for name in ("written", "skipped", "failed", "inputs", "failed_decode", "sequences_written",
                     "sequences_skipped"):
            assert counted.count(name) == summary.count(name), name
    assert not (out / LEASE_FILE).exists()
