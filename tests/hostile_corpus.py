"""Build a corpus of broken, odd and awkward inputs, each with the outcome the job owes it."""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

DREAMED, FAILED = "dreamed", "failed"


def png_declaring(width: int, height: int) -> bytes:
    """A ~60-byte PNG whose header claims width x height pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b""))


def _save(image: Image.Image, path: Path, fmt: str | None = None, **options) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, fmt, **options)


def build_corpus(root: Path) -> dict[str, tuple[str, str | None]]:
    """Write the corpus under root; returns {relative path: (outcome, failing step or None)}."""
    rng = np.random.default_rng(11)
    noise = Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    expected: dict[str, tuple[str, str | None]] = {}

    def good(rel: str, image: Image.Image, fmt: str | None = None, **options) -> None:
        _save(image, root / rel, fmt, **options)
        expected[rel] = (DREAMED, None)

    def bad(rel: str, data: bytes, step: str) -> None:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        expected[rel] = (FAILED, step)

    jpeg = io.BytesIO()
    noise.save(jpeg, "JPEG")
    bad("empty.jpg", b"", "decode")
    bad("text.jpg", b"just some text, no image here\n", "decode")
    bad("truncated.jpg", jpeg.getvalue()[: len(jpeg.getvalue()) // 2], "decode")
    png = io.BytesIO()
    noise.save(png, "PNG")
    corrupt = bytearray(png.getvalue())
    corrupt[60:80] = b"\0" * 20
    bad("corrupt.png", bytes(corrupt), "decode")
    bad("bomb.png", png_declaring(40000, 40000), "decode")
    bad("one_pixel.png", _png_bytes(Image.new("RGB", (1, 1))), "dream")
    bad("eight.png", _png_bytes(Image.new("RGB", (8, 8))), "dream")
    bad("strip.png", _png_bytes(Image.new("RGB", (2000, 12), (200, 100, 50))), "dream")
    for mode in ("L", "LA", "P", "RGBA", "CMYK", "I;16", "F"):
        image = noise.convert("RGBA").convert(mode) if mode not in ("I;16", "F") else None
        if mode == "I;16":
            image = Image.fromarray(np.asarray(noise.convert("L"), np.uint16) * 257)
        if mode == "F":
            image = Image.fromarray(np.asarray(noise.convert("L"), np.float32) / 255.0, "F")
        fmt = {"CMYK": "JPEG", "F": "TIFF"}.get(mode, "PNG")
        good(f"modes/{mode.replace(';', '_')}.{fmt.lower()}", image, fmt)
    frames = [noise, noise.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    good("animated.gif", frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    exif = Image.Exif()
    exif[0x0112] = 6
    good("rotated.jpg", noise, "JPEG", exif=exif.tobytes())
    good("spaced name ü.png", noise)
    good("a/same.png", noise)
    good("b/same.png", noise.transpose(Image.Transpose.FLIP_TOP_BOTTOM))
    return expected


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()
