"""How many pixels a worker may dream whole; bigger images are dreamed in tiles.

TF-free. An untiled step holds every layer's activations and their gradients for the whole
image: VGG16 at full resolution takes about 1.5 KiB per pixel, InceptionV3 about 0.6 KiB
(bench --memory). Half the worker's memory at 2 KiB per pixel leaves room for the model,
the batch and the runner.
"""
from __future__ import annotations

import dataclasses
import os

from transforms.dream.params import DreamParams

AUTO_TILE_SIZE = 512
BYTES_PER_UNTILED_PIXEL = 2048
_CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def machine_memory_bytes() -> int:
    """Physical memory, or the container's limit when that is smaller."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in _CGROUP_LIMITS:
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def default_untiled_max_pixels() -> int:
    return machine_memory_bytes() // 2 // BYTES_PER_UNTILED_PIXEL


def with_auto_tiles(params: DreamParams, pixels: int, untiled_max_pixels: int) -> DreamParams:
    """`params`, tiled by AUTO_TILE_SIZE when `pixels` (of the largest octave, times the
    batch) exceed what may be dreamed whole and no tiling was asked for."""
    if params.tile_size or pixels <= untiled_max_pixels:
        return params
    return dataclasses.replace(params, tile_size=AUTO_TILE_SIZE)
