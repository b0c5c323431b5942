"""Masks: dream only where asked. A greyscale image weights each step (0 = untouched,
1 = full), resized to each octave; the finished dream is laid over the input through the
same weights, so where the mask is 0 the output is the input, bit for bit.

numpy and Pillow only: the engine feeds the weights to its ascent as data.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image

MAX_FEATHER = 64.0  # pixels of Gaussian sigma: wider is a blur of the whole mask, not an edge


def mask_weights(mask: np.ndarray, height: int, width: int, feather: float = 0.0) -> np.ndarray:
    """float32 HxW weights in [0, 1] for an image of that size: the uint8 greyscale mask
    resized (bilinear) and its edges feathered by a Gaussian of sigma `feather` pixels,
    cut at 3 sigma, so that weights further than that from any non-zero pixel stay exactly 0."""
    if mask.ndim != 2 or mask.dtype != np.uint8:
        raise ValueError(f"a mask is uint8 HxW greyscale, got {mask.dtype} {mask.shape}")
    if not 0 <= feather <= MAX_FEATHER:
        raise ValueError(f"mask_feather must be within [0, {MAX_FEATHER:g}] pixels, got {feather}")
    resized = np.asarray(Image.fromarray(mask, "L").resize((width, height), Image.Resampling.BILINEAR))
    weights = resized.astype(np.float32) / 255.0
    if feather > 0:
        weights = _gaussian(weights, feather)
        # Deep inside a white area the blur's sum of taps rounds to 0.9999999: full is full.
        weights[weights >= 1.0 - 1e-6] = 1.0
    return np.clip(weights, 0.0, 1.0)


def _gaussian(values: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur, edges extended; the kernel ends at 3 sigma."""
    radius = max(1, math.ceil(3 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps = (taps / taps.sum()).astype(np.float32)
    padded = np.pad(values, radius, mode="edge")
    rows = sum(taps[k] * padded[k : k + values.shape[0], :] for k in range(len(taps)))
    return sum(taps[k] * rows[:, k : k + values.shape[1]] for k in range(len(taps))).astype(np.float32)


def lay_over(dream: np.ndarray, original: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """uint8 RGB: the dream where the weight is 1, the original where it is 0, blended between."""
    w = weights[..., None]
    blended = w * dream.astype(np.float32) + (1.0 - w) * original.astype(np.float32)
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)
