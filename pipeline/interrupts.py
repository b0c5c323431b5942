"""Ctrl-C and SIGTERM (what `timeout`, systemd, a CI cancel, `kill` and Kubernetes send)
stop the job the same way: the first signal interrupts the run, the launcher releases its
lease and removes its temporaries, and says in one line what was done; a second signal
while it cleans up ends the process at once."""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from typing import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """The job was stopped by a signal (not an Exception: nothing on the way may swallow it)."""

    def __init__(self, signum: int, done: str = "") -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.done = done  # what the run finished, for the one line

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


class _Received:
    signum: int | None = None


received = _Received()


def _stop(signum: int, frame: object) -> None:
    for each in SIGNALS:  # a second signal while cleaning up ends the process at once
        signal.signal(each, signal.SIG_DFL)
    received.signum = signum
    # Beam and the workers log the interruption as it passes (tracebacks naming the stage it
    # stopped): the launcher's one line says it instead.
    logging.disable(logging.CRITICAL)
    threading.excepthook = _quiet_after_interruption
    raise Interrupted(signum)


def _quiet_after_interruption(args: threading.ExceptHookArgs) -> None:
    """The runner's threads end with errors once their job is stopped: expected, not news."""


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """Within: SIGINT and SIGTERM raise Interrupted in the main thread. Beam may wrap what
    it raises on the way (a RuntimeError naming the stage), so `received` keeps the signal."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received.signum = None
    previous = {each: signal.signal(each, _stop) for each in SIGNALS}
    try:
        yield
    finally:
        for each, handler in previous.items():
            signal.signal(each, handler)
        if received.signum is not None:
            logging.disable(logging.NOTSET)
            threading.excepthook = threading.__excepthook__


def interruption() -> int | None:
    """The signal that interrupted the run, if one did."""
    return received.signum


@contextlib.contextmanager
def worker_output_quiet_once_interrupted() -> Iterator[None]:
    """Worker processes of a local multi-process run share the launcher's stderr, and as a
    stopped job tears them down their shells report it ('Segmentation fault'). Within, fd 2
    goes through a pipe that passes everything on until the job is interrupted, and nothing
    after: the launcher's own last line goes straight to the terminal."""
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    terminal = os.dup(2)
    os.dup2(write_end, 2)
    os.close(write_end)

    def relay() -> None:  # runs until every worker has let go of the pipe
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            for line in iter(pipe.readline, b""):
                if received.signum is None:
                    os.write(terminal, line)

    threading.Thread(target=relay, name="worker-stderr", daemon=True).start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(terminal, 2)  # the workers keep the pipe; the launcher has the terminal back
