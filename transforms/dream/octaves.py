"""The octave schedule: which shapes an image is dreamed at, smallest first."""
from __future__ import annotations

import numpy as np


class ImageTooSmallError(ValueError):
    """The image is smaller than the network can take, even at its first octave."""


def octave_shapes(
    height: int, width: int, octaves: int, octave_scale: float, min_size: int, upscale: int = 0,
    sizes: str = "divide",
) -> list[tuple[int, int]]:
    """Shapes original / scale**i for i < octaves, smallest first, then `upscale` octaves
    above the original, original * scale**k for k = 1..upscale (the TF tutorial's
    range(-2, 3) is octaves=3, upscale=2).

    sizes "divide" rounds as the seed does, int(side / scale**i) in double precision;
    "multiply" as the TF tutorial does, int(float32(side) * float32(scale**k)), k = -i or k.

    Octaves whose shorter side would fall below `min_size` are dropped, so small images are
    dreamed at fewer octaves instead of feeding the network a degenerate shape.
    """
    if octaves < 1:
        raise ValueError(f"octaves must be >= 1, got {octaves}")
    if octave_scale <= 0:
        raise ValueError(f"octave_scale must be > 0, got {octave_scale}")
    if min(height, width) < min_size:
        raise ImageTooSmallError(
            f"image is {width}x{height} pixels; this model needs at least {min_size} pixels "
            f"on the shorter side"
        )
    if sizes not in ("divide", "multiply"):
        raise ValueError(f"unknown octave sizes {sizes!r}; valid: divide, multiply")

    def scaled(k: int) -> tuple[int, int]:
        if sizes == "multiply":
            factor = np.float32(octave_scale**k)
            return int(np.float32(height) * factor), int(np.float32(width) * factor)
        if k <= 0:
            return int(height / octave_scale**-k), int(width / octave_scale**-k)
        return int(height * octave_scale**k), int(width * octave_scale**k)

    below = [shape for shape in map(scaled, range(0, -octaves, -1)) if min(shape) >= min_size]
    return below[::-1] + [scaled(k) for k in range(1, upscale + 1)]
