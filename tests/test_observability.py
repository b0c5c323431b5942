"""Metrics, Parquet metadata, the HTML report (in a real headless browser) and progress."""
from __future__ import annotations

import io
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipeline.progress import ProgressLine
from pipeline.run import run
from tests.conftest import read_jsonl
from transforms.parquet_schema import METADATA_SCHEMA, from_parquet_row
from transforms.resume import RECORDS_DIR

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixed")
    rng = np.random.default_rng(4)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (48, 56, 3), dtype=np.uint8)).save(root / f"good{i}.png")
    (root / "bad.jpg").write_bytes(b"not an image")
    Image.new("RGB", (10, 10)).save(root / "tiny.png")
    out = tmp_path_factory.mktemp("out")
    summary = run([f"--input={root}/*", f"--output={out}", "--runner=FnApiRunner", "--octaves=2",
                   "--iterations=3", "--metadata_format=both", "--report"])
    return summary, out


def test_counters_equal_the_outcomes(mixed_run):
    summary, out = mixed_run
    records, errors = read_jsonl(out / "metadata.jsonl"), read_jsonl(out / "errors.jsonl")
    assert (len(records), len(errors)) == (3, 2)
    assert summary.dreamed == summary.count("dreamed") == len(records)
    assert summary.failed == len(errors)
    for step in ("decode", "dream"):
        assert summary.count(f"failed_{step}") == sum(e["stage"] == step for e in errors)
    assert summary.inputs == summary.count("read") == 5
    # The distributions hold the records' own values (dream time in ms, final loss in
    # thousandths): (count, sum, min, max), to the millisecond the records' rounding allows.
    ms = sorted(round(r["dream_seconds"] * 1000) for r in records)
    count, total, low, high = summary.distributions["dream_ms"]
    assert count == len(records) and ms[-1] > 0, ms
    assert abs(low - ms[0]) <= 1 and abs(high - ms[-1]) <= 1 and abs(total - sum(ms)) <= len(ms), (
        summary.distributions["dream_ms"], ms)
    losses = sorted(round(r["octaves"][-1]["losses"][-1] * 1000) for r in records)
    assert summary.distributions["final_loss_milli"] == (len(records), sum(losses), losses[0], losses[-1])


def test_parquet_round_trips_to_the_json_records(mixed_run):
    _, out = mixed_run
    table = pq.read_table(out / "metadata.parquet")
    assert table.schema.equals(METADATA_SCHEMA, check_metadata=False)
    from_parquet = sorted((from_parquet_row(r) for r in table.to_pylist()), key=lambda r: r["input_uri"])
    from_json = sorted(read_jsonl(out / "metadata.jsonl"), key=lambda r: r["input_uri"])
    assert from_parquet == from_json


def test_report_lists_images_and_errors(mixed_run):
    _, out = mixed_run
    page = (out / "report.html").read_text()
    assert page.count('class="card"') == 3 and page.count("<polyline") >= 3
    assert "bad.jpg" in page and "ImageTooSmallError" in page
    assert len(list((out / "report_files").glob("*.jpg"))) == 6


def test_report_curves_settings_and_full_size_links(mixed_run):
    import re

    _, out = mixed_run
    page = (out / "report.html").read_text()
    curve = page[page.index("<svg"):page.index("</svg>")]
    assert ">step</text>" in curve and ">loss</text>" in curve  # axis titles
    assert re.search(r'class="legend"[^>]*>octave 0 \(\d+x\d+, \d+ steps\)', curve)
    assert "<table class=\"settings\">" in page and "<th>params.grad_norm</th><td>l2</td>" in page
    assert "{&quot;octaves&quot;" not in page  # no raw JSON line of settings
    after_links = re.findall(r'<a href="([^"]+)" title="full size"><img[^>]*alt="after"', page)
    assert len(after_links) == 3
    outputs = {record["output_uri"] for record in read_jsonl(out / "metadata.jsonl")}
    for href in after_links:  # relative to the report, inside the output: the full image itself
        assert not href.startswith(("/", "file:")) and str(out / href) in outputs


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_report_loads_its_images_in_a_browser(mixed_run, tmp_path):
    _, out = mixed_run
    url = (out / "report.html").as_uri()
    dom = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'dom'}", "--window-size=1400,1200",
         "--virtual-time-budget=5000", "--dump-dom", url],
        capture_output=True, text=True, timeout=120, check=True).stdout
    assert 'data-images-loaded="6"' in dom and 'data-images-total="6"' in dom
    shot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'shot'}",
                    "--window-size=1400,1200", f"--screenshot={shot}", url],
                   capture_output=True, timeout=120, check=True)
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape[:2] == (1200, 1400) and pixels.std() > 20  # not a blank page


def test_report_command_works_on_an_existing_output(mixed_run):
    """`python -m pipeline.report OUT` writes the report again from the output alone: the
    page the job wrote, listing its three dreams and two errors, and their thumbnails."""
    _, out = mixed_run
    written = (out / "report.html").read_text()
    (out / "report.html").unlink()
    shutil.rmtree(out / "report_files", ignore_errors=True)
    done = subprocess.run(["python", "-m", "pipeline.report", str(out)], check=True, capture_output=True,
                          cwd=Path(__file__).resolve().parent.parent, timeout=120)
    assert done.stdout.decode().strip() == str(out / "report.html")
    page = (out / "report.html").read_text()
    assert page == written
    assert "3 images and 0 sequences dreamed, 2 failed" in page and page.count('class="card"') == 3
    assert "bad.jpg" in page and "ImageTooSmallError" in page
    assert len(list((out / "report_files").glob("*.jpg"))) == 6


def test_progress_line_counts_finished_images(tmp_path):
    records = tmp_path / RECORDS_DIR
    records.mkdir(parents=True)
    stream = io.StringIO()
    with ProgressLine(str(tmp_path), total=5, stream=stream, interval=0.02):
        for i in range(2):
            (records / f"{i}.json").write_text("{}")
        time.sleep(0.2)
    assert "2/5 images done" in stream.getvalue() and "ETA" in stream.getvalue()


def test_parquet_schema_has_every_record_field():
    """Each setting a record repeats has its column, so nothing is dropped on the way."""
    import dataclasses

    from transforms.dream.params import DreamParams

    params = [field.name for field in METADATA_SCHEMA.field("params").type]
    assert params == [field.name for field in dataclasses.fields(DreamParams)]
