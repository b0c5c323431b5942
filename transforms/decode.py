"""Decode image bytes to RGB arrays (Pillow), one error record per undecodable input."""
from __future__ import annotations

from typing import Iterable

from transforms.imaging import decode_image
from transforms.records import ImageBytes, ImageToDream
from transforms.steps import FallibleStep


class DecodeImage(FallibleStep):
    step, outcome = "decode", "decoded"

    def __init__(self, max_pixels: int) -> None:
        super().__init__()
        self._max_pixels = max_pixels

    def uri_of(self, element: ImageBytes) -> str:
        return element.source.uri

    def run(self, element: ImageBytes) -> Iterable[ImageToDream]:
        decoded = decode_image(element.data, self._max_pixels)
        yield ImageToDream(element.source, decoded.rgb, decoded.source_format, decoded.source_mode)
