"""Seeded grey noise: where a dream from nothing starts (noise: inputs, --init noise).

Mid-grey with a little seeded texture, as Google's DeepDream notebook starts: the network's
own patterns grow from it. numpy only.
"""
from __future__ import annotations

import numpy as np

NOISE_MEAN, NOISE_SPREAD = 128.0, 12.0  # grey levels: the mean and the std of the texture


def noise_image(width: int, height: int, seed: int = 0) -> np.ndarray:
    """uint8 HxWx3 seeded grey noise: the same seed, the same image on any machine."""
    rng = np.random.Generator(np.random.PCG64(seed))
    values = rng.normal(NOISE_MEAN, NOISE_SPREAD, (height, width, 3))
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)
