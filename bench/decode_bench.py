"""Large JPEGs decoded small: the whole image decoded then fitted (the old way) vs libjpeg's
reduced-size decode (Pillow's draft), for `--max_size 1024` and the report's thumbnail.

    python -m bench.decode_bench       (also run by bench.library_bench)

A smooth 6000x4000 JPEG is generated (quality 90); each case runs 7 times interleaved
(median), with Python-side peak memory (tracemalloc sees NumPy's arrays) and the mean
difference between the two results in grey levels.
"""
from __future__ import annotations

import io
import json
import statistics
import time
import tracemalloc

import numpy as np
from PIL import Image

from transforms.imaging import decode_image, fit_within

WIDTH, HEIGHT = 6000, 4000


def big_jpeg() -> bytes:
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    rgb = np.stack([xx / WIDTH * 255, yy / HEIGHT * 255, (np.sin(xx / 97) * np.cos(yy / 61) + 1) * 127],
                   axis=-1).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _run(function) -> tuple[float, float, np.ndarray]:
    tracemalloc.start()
    started = time.perf_counter()
    result = function()
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return seconds, peak / 2**20, result


def _case(old, new, repeats: int = 7) -> dict:
    runs: dict[str, list] = {"old": [], "new": []}
    for _ in range(repeats):
        runs["old"].append(_run(old))
        runs["new"].append(_run(new))
    old_image, new_image = runs["old"][0][2], runs["new"][0][2]
    old_s = statistics.median(r[0] for r in runs["old"])
    new_s = statistics.median(r[0] for r in runs["new"])
    return {
        "whole_then_fit_s": round(old_s, 3), "reduced_decode_s": round(new_s, 3),
        "speedup": round(old_s / new_s, 2),
        "whole_then_fit_peak_mib": round(max(r[1] for r in runs["old"]), 1),
        "reduced_decode_peak_mib": round(max(r[1] for r in runs["new"]), 1),
        "shape": list(new_image.shape),
        "mean_difference_levels": round(float(np.abs(old_image.astype(int) - new_image.astype(int)).mean()), 3),
    }


def cases() -> dict:
    data = big_jpeg()

    def thumbnail(fit_to):
        image = Image.fromarray(decode_image(data, fit_to=fit_to).rgb)
        image.thumbnail((160, 160))
        return np.asarray(image)

    return {
        "jpeg": {"width": WIDTH, "height": HEIGHT, "bytes": len(data)},
        "decode_fit_1024": _case(lambda: fit_within(decode_image(data).rgb, 1024),
                                 lambda: fit_within(decode_image(data, fit_to=1024).rgb, 1024)),
        "report_thumbnail_160": _case(lambda: thumbnail(None), lambda: thumbnail(160)),
    }


if __name__ == "__main__":
    print(json.dumps(cases(), indent=2))
