"""The octave schedule: which shapes an image is dreamed at, smallest first."""
from __future__ import annotations


class ImageTooSmallError(ValueError):
    """The image is smaller than the network can take, even at its first octave."""


def octave_shapes(
    height: int, width: int, octaves: int, octave_scale: float, min_size: int, upscale: int = 0
) -> list[tuple[int, int]]:
    """Shapes original / scale**i for i < octaves, smallest first (as the seed computes them),
    then `upscale` octaves above the original, original * scale**k for k = 1..upscale (the
    TF tutorial's range(-2, 3) is octaves=3, upscale=2).

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
    shapes = []
    for i in range(octaves):
        shape = (int(height / octave_scale**i), int(width / octave_scale**i))
        if min(shape) >= min_size:
            shapes.append(shape)
    above = [(int(height * octave_scale**k), int(width * octave_scale**k)) for k in range(1, upscale + 1)]
    return shapes[::-1] + above
