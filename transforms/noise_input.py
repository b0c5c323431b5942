"""Dreams from noise: an input written `noise:WIDTHxHEIGHT[:SEED]` is seeded grey noise of
that size instead of a file, named, recorded and resumed like any other input.

The noise is mid-grey with a little seeded texture (Google's DeepDream notebook starts from
such an image): the network's own patterns grow from nothing. No Beam here.
"""
from __future__ import annotations

import re

from transforms.dream.noise import noise_image

NOISE_SCHEME = "noise:"
MAX_NOISE_SIDE = 16384
_NOISE = re.compile(r"^noise:(?P<width>\d+)x(?P<height>\d+)(?::(?P<seed>\d+))?$")


def is_noise(uri: str) -> bool:
    return uri.startswith(NOISE_SCHEME)


def parse_noise(uri: str) -> tuple[int, int, int]:
    """'noise:640x480:7' -> (640, 480, 7); the seed defaults to 0. One-line ValueError otherwise."""
    found = _NOISE.match(uri.strip())
    if not found:
        raise ValueError(f"{uri!r} is not a noise input: write noise:WIDTHxHEIGHT or noise:WIDTHxHEIGHT:SEED, "
                         "e.g. noise:640x480:7")
    width, height, seed = int(found["width"]), int(found["height"]), int(found["seed"] or 0)
    if not (1 <= width <= MAX_NOISE_SIDE and 1 <= height <= MAX_NOISE_SIDE):
        raise ValueError(f"{uri!r}: each side must be within [1, {MAX_NOISE_SIDE}] pixels")
    if seed >= 2**63:
        raise ValueError(f"{uri!r}: the seed must be below 2**63")
    return width, height, seed


def noise_stem(uri: str) -> str:
    """The output name of a noise input: 'noise:640x480:7' -> 'noise-640x480-7'."""
    width, height, seed = parse_noise(uri)
    return f"noise-{width}x{height}-{seed}"


def noise_png(uri: str) -> bytes:
    """The noise input as PNG bytes: it enters the job where a file's bytes would."""
    from transforms.imaging import encode_image

    width, height, seed = parse_noise(uri)
    return encode_image(noise_image(width, height, seed), "png")
