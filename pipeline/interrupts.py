"""Ctrl-C and SIGTERM (what `timeout`, systemd, a CI cancel, `kill` and Kubernetes send)
stop the job the same way: the first signal interrupts the run, the launcher releases its
lease and removes its temporaries, and says in one line what was done; a second signal
while it cleans up ends the process at once."""
from __future__ import annotations

import contextlib
import logging
import signal
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
