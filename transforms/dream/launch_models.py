"""Models the launcher built to check a job, handed to that job's first Dreamer when it runs
in the same process (the in-process runners): the model is built once per process, not twice.

A model is taken once (two Dreamers never share one) and dropped when the job ends.
"""
from __future__ import annotations

import os
import threading

from transforms.dream.quiet_tensorflow import keras

_kept: dict[tuple, keras.Model] = {}
_lock = threading.Lock()


def _key(model_name: str, weights: str | None) -> tuple:
    """The model and its weights file as they are now (a file rewritten since is another)."""
    if weights is None or not os.path.isfile(weights):
        return (model_name, weights)
    stat = os.stat(weights)
    return (model_name, weights, stat.st_mtime_ns, stat.st_size)


def keep(model_name: str, weights: str | None, model: keras.Model) -> None:
    with _lock:
        _kept[_key(model_name, weights)] = model


def take(model_name: str, weights: str | None) -> keras.Model | None:
    with _lock:
        return _kept.pop(_key(model_name, weights), None)


def drop_all() -> None:
    with _lock:
        _kept.clear()
