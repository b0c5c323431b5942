"""Decode image bytes to RGB arrays (Pillow), one error record per undecodable input."""
from __future__ import annotations

from typing import Iterable

from transforms.elements import ImageBytes, ImageToDream
from transforms.imaging import decode_image, fit_within
from transforms.stages import FallibleStage


class DecodeImage(FallibleStage):
    stage, outcome = "decode", "decoded"

    def __init__(self, max_pixels: int, max_size: int | None) -> None:
        super().__init__()
        self._max_pixels = max_pixels
        self._max_size = max_size

    def uri_of(self, element: ImageBytes) -> str:
        return element.source.uri

    def run(self, element: ImageBytes) -> Iterable[ImageToDream]:
        decoded = decode_image(element.data, self._max_pixels, fit_to=self._max_size)
        yield ImageToDream(
            element.source, fit_within(decoded.rgb, self._max_size), decoded.source_format,
            decoded.source_mode, decoded.source_width, decoded.source_height,
        )
