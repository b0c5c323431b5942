"""Jobs as separate processes, for the tests that kill one part-way and resume it."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent


def start_job(args: list[str]) -> subprocess.Popen:
    """`python -m pipeline ARGS` in its own process group (so a kill takes its workers too)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "pipeline", *args], cwd=ROOT, env=env,
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for(condition: Callable[[], bool], job: subprocess.Popen, what: str, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert job.poll() is None, f"the job ended before {what}: {job.stderr.read().decode()[-2000:]}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def kill(job: subprocess.Popen) -> None:
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    job.stderr.close()


def cli(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python -m pipeline ARGS` launched from `cwd`, as a user types it."""
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=900, env=env)


def quickstart_collection(folder: Path) -> Path:
    """In `folder`: in/ with the quickstart photos, one of them twice (a batch of two), a
    corrupt file and a short GIF; list.txt naming one photo by a relative path."""
    import shutil

    from tests.media import write_animation

    inputs = folder / "in"
    inputs.mkdir()
    for name in ("chelsea", "coffee", "astronaut"):
        shutil.copy(ROOT / "samples" / f"{name}.jpg", inputs)
    shutil.copy(ROOT / "samples" / "chelsea.jpg", inputs / "twin.jpg")
    (inputs / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg at all")
    write_animation(inputs / "wave.gif", [80, 80, 80])
    (folder / "list.txt").write_text("in/coffee.jpg\n")  # the same input, listed relatively
    return folder


def check_quickstart_collection(folder: Path, first: subprocess.CompletedProcess,
                                again: subprocess.CompletedProcess) -> None:
    """What quickstart_collection dreamed into folder/out, then redid nothing."""
    import json

    def lines(name: str) -> list[dict]:
        return [json.loads(line) for line in (folder / "out" / name).read_text().splitlines() if line.strip()]

    assert first.returncode == 0, first.stderr[-3000:]
    assert "5 dreamed, 0 already done, 1 failed (decode 1) of 6 inputs" in first.stdout, first.stdout
    assert "Traceback" not in first.stderr
    out = folder / "out"
    assert sorted(p.name for p in out.glob("*.png")) == ["astronaut.png", "chelsea.png", "coffee.png", "twin.png"]
    assert sorted(r["input_uri"] for r in lines("metadata.jsonl")) == sorted(
        str(folder / "in" / f"{n}.jpg") for n in ("astronaut", "chelsea", "coffee", "twin"))
    (error,) = lines("errors.jsonl")
    assert error["stage"] == "decode" and error["uri"].endswith("corrupt.jpg")
    (sequence,) = lines("sequences.jsonl")
    assert sequence["frames"] == 3 and (out / "wave.gif").stat().st_size > 0
    assert (out / "report.html").stat().st_size > 0
    assert again.returncode == 0, again.stderr[-3000:]
    assert "0 dreamed, 5 already done, 1 failed (decode 1) of 6 inputs" in again.stdout, again.stdout
    assert len(lines("metadata.jsonl")) == 4


QUICKSTART_ARGS = ["--input", "in/*", "--input_list", "list.txt", "--output", "out", "--batch_size=2",
                   "--report", "--iterations=1", "--octaves=1"]
