"""Stopped the way users stop jobs: Ctrl-C and SIGTERM end in one line with the lease
released and no temporaries, and the rerun finishes exactly what is left; a lease left by a
dead process on this machine does not block the rerun."""
from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from pipeline.run import run
from pipeline.storage.lease import LEASE_FILE
from tests.jobs import start_job, wait_for
from tests.test_buckets import png

ARGS = ["--runner=FnApiRunner", "--iterations=12", "--octaves=2"]


@pytest.fixture
def inputs(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(6):
        (folder / f"{i}.png").write_bytes(png(i, (96, 96)))
    return folder


def listing(out):
    return sorted(str(p.relative_to(out)) for p in out.rglob("*"))


@pytest.mark.parametrize("signum, to_group, workers", [
    (signal.SIGINT, True, []),  # Ctrl-C: the terminal signals the whole process group
    (signal.SIGTERM, False, []),  # kill, timeout, systemd: the launcher alone
    (signal.SIGTERM, False, ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]),
])
def test_a_signal_stops_the_job_in_one_line_and_the_rerun_finishes_it(inputs, tmp_path, signum, to_group, workers):
    out = tmp_path / "out"
    records = out / ".deepdream" / "records"
    args = [f"--input={inputs}/*.png", f"--output={out}", *ARGS, *workers]
    job = start_job(args)
    wait_for(lambda: records.is_dir() and any(records.iterdir()), job, "a first image")
    (os.killpg if to_group else os.kill)(job.pid, signum)
    started = time.monotonic()
    try:
        job.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(job.pid, signal.SIGKILL)
        raise
    stopped_in = time.monotonic() - started
    err = job.stderr.read().decode()
    job.stderr.close()
    assert job.returncode == 128 + signum, err[-2000:]
    assert stopped_in < 30
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("beam-deepdream: interrupted: "), err[-2000:]
    finished = len(list(records.iterdir()))
    assert f"{finished} dreamed, {6 - finished} left; run the same command to finish" in lines[0]
    # Right after the signal: no lease, no temporaries, only finished images and records.
    files = listing(out)
    assert not (out / LEASE_FILE).exists()
    assert not [f for f in files if f.endswith(".tmp") or "beam-temp" in f], files
    assert len([f for f in files if f.endswith(".png")]) == finished
    # No worker process outlives the job (its session is the one start_job opened).
    time.sleep(1)
    alive = subprocess.run(["ps", "-o", "pid=,cmd=", "-s", str(job.pid)], capture_output=True, text=True).stdout
    assert alive.strip() == "", alive

    summary = run(args)
    assert (summary.dreamed, summary.skipped, summary.failed) == (6 - finished, finished, 0)


def test_a_lease_left_by_a_dead_process_on_this_machine_is_taken_over(inputs, tmp_path, caplog):
    out = tmp_path / "out"
    records = out / ".deepdream" / "records"
    args = [f"--input={inputs}/*.png", f"--output={out}", *ARGS]  # the default lease: 120 s
    job = start_job(args)
    wait_for(lambda: records.is_dir() and any(records.iterdir()), job, "a first image")
    os.killpg(job.pid, signal.SIGKILL)  # no chance to release its lease
    job.wait()
    job.stderr.close()
    assert (out / LEASE_FILE).exists()
    summary = run(args)  # at once: no --force, no waiting for the 120 s
    assert summary.dreamed + summary.skipped == 6 and summary.failed == 0
    assert "its process on this machine is gone" in caplog.text


def test_a_live_lease_from_another_host_still_blocks(inputs, tmp_path):
    import json

    from pipeline.storage.lease import OutputLockedError

    out = tmp_path / "out"
    (out / ".deepdream").mkdir(parents=True)
    (out / LEASE_FILE).write_text(json.dumps({
        "owner": "x", "host": "another-machine", "pid": 1, "job": "theirs",
        "started": "2026-01-01T00:00:00+00:00", "expires": time.time() + 600, "pid_start": "1"}))
    with pytest.raises(OutputLockedError, match="another-machine"):
        run([f"--input={inputs}/*.png", f"--output={out}", *ARGS])


@pytest.mark.parametrize("phase", ["imports", "lease taken"])
def test_a_signal_during_the_launch_stops_it_in_one_line(inputs, tmp_path, phase):
    """Ctrl-C while TensorFlow and Beam load, or once the lease is taken (cleanup, the
    runner starting): one line, exit 130, no lease left, and the rerun does it all."""
    out = tmp_path / "out"
    args = [f"--input={inputs}/*.png", f"--output={out}", *ARGS]
    job = start_job(args)
    if phase == "imports":
        time.sleep(0.5)
    else:
        wait_for(lambda: (out / LEASE_FILE).exists(), job, "the lease")
    assert job.poll() is None
    os.killpg(job.pid, signal.SIGINT)
    job.wait(60)
    err = job.stderr.read().decode()
    job.stderr.close()
    lines = [line for line in err.splitlines() if line.strip()]
    assert job.returncode == 130, err[-2000:]
    assert len(lines) == 1 and lines[0].startswith("beam-deepdream: interrupted"), err[-2000:]
    assert not (out / LEASE_FILE).exists()
    summary = run(args)
    assert summary.dreamed + summary.skipped == 6 and summary.failed == 0
