"""What the project now leaves to libraries, each old way against the new in one run.

    python -m bench.library_bench

- gradient blur (`--grad_blur 2`, every step): a dense conv2d with a diagonal filter per
  direction (the old way, kept here as `dense_gaussian_blur`) vs TensorFlow's depthwise
  convolution, on a 1x512x512x3 gradient, 50 calls each, interleaved, median;
- large JPEG decode + fit to 1024 and the report's thumbnail: the whole image decoded then
  resized (the old way) vs libjpeg's reduced-size decode (Pillow's draft), on a generated
  6000x4000 JPEG, with peak memory (tracemalloc) and the mean difference in grey levels.

Results go to bench/library.json with the machine.
"""
from __future__ import annotations

import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

from bench.machine import machine_info  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def dense_gaussian_blur(image, sigma: float):
    """The blur as it was: a full conv2d per direction with a diagonal 3x3-channel filter."""
    from transforms.dream.quiet_tensorflow import tf

    radius = max(1, math.ceil(3 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps = (taps / taps.sum()).astype(np.float32)

    def diagonal(kernel: np.ndarray):
        weights = np.zeros((*kernel.shape, 3, 3), np.float32)
        for c in range(3):
            weights[:, :, c, c] = kernel
        return tf.constant(weights)

    padded = tf.pad(image, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="SYMMETRIC")
    rows = tf.nn.conv2d(padded, diagonal(taps[:, np.newaxis]), strides=1, padding="VALID")
    return tf.nn.conv2d(rows, diagonal(taps[np.newaxis, :]), strides=1, padding="VALID")


def _median_ms(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def blur_case(repeats: int = 50) -> dict:
    from transforms.dream.quiet_tensorflow import tf
    from transforms.dream.smoothing import gaussian_blur

    grads = tf.constant(np.random.default_rng(0).normal(size=(1, 512, 512, 3)).astype(np.float32))
    old = tf.function(lambda g: dense_gaussian_blur(g, 2.0))
    new = tf.function(lambda g: gaussian_blur(g, 2.0))
    difference = float(tf.reduce_max(tf.abs(old(grads) - new(grads))))
    old_ms, new_ms = [], []
    for _ in range(repeats):  # interleaved
        old_ms.append(_median_ms(lambda: old(grads).numpy(), 1))
        new_ms.append(_median_ms(lambda: new(grads).numpy(), 1))
    old_median, new_median = statistics.median(old_ms), statistics.median(new_ms)
    return {"shape": [1, 512, 512, 3], "sigma": 2.0, "dense_ms": round(old_median, 2),
            "depthwise_ms": round(new_median, 2), "speedup": round(old_median / new_median, 2),
            "max_abs_difference": difference}


def main() -> int:
    result = {"machine": machine_info(), "blur": blur_case()}
    from bench import decode_bench

    result.update(decode_bench.cases())
    (ROOT / "bench" / "library.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
