"""TensorFlow and Keras for the dream modules, imported without TensorFlow's C++ start-up
chatter on stderr: every module here takes `tf` and `keras` from this one.

TensorFlow's native libraries print lines before its logging is set up (so
TF_CPP_MIN_LOG_LEVEL cannot silence them): oneDNN notices, CPU-feature hints and, on a
machine without an NVIDIA driver, 'Could not find cuda drivers' and 'failed call to
cuInit'. None is something a user can act on. The first import (the launcher's, and each
worker process's: a multi-process or portable run starts fresh ones) lists the devices once
with stderr sent to a file, then passes on every other line.
"""
from __future__ import annotations

import os
import re
import sys
import tempfile

_NOISE = re.compile(
    r"All log messages before absl::InitializeLog|oneDNN custom operations are on"
    r"|Could not find cuda drivers|cpu_feature_guard|To enable the following instructions"
    r"|failed call to cuInit|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|computation placer already registered|TF-TRT Warning"
)


def import_tensorflow_quietly() -> None:
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # device start-up prints its own lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        kept = [line for line in captured.read().decode("utf-8", "replace").splitlines()
                if line.strip() and not _NOISE.search(line)]
    if kept:
        print("\n".join(kept), file=sys.stderr)


import_tensorflow_quietly()

import keras  # noqa: E402  (after the quiet import: Keras imports TensorFlow)
import tensorflow as tf  # noqa: E402

__all__ = ["import_tensorflow_quietly", "keras", "tf"]
