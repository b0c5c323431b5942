"""A mask that changes over a sequence: one greyscale mask per frame.

`--mask` names a still image (one mask for every frame, and for stills), or a folder of images
(`masks/`, natural order), an animation or a video: frame k of a sequence then takes the mask's
frame k, both counted after --frame_step (a zoom's frames take frames 0, 1, 2, ... of the mask).
Stills of the same job take the mask's first frame. Streamed like the frames themselves.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
from apache_beam.io.filesystems import FileSystems
from PIL import Image

from transforms.fetch import read_bytes
from transforms.frames import (
    SequenceError,
    SequenceInfo,
    is_animation,
    is_video,
    probe_animation,
    probe_folder,
    probe_video,
    read_frames,
)
from transforms.imaging import decode_image


def is_mask_folder(uri: str) -> bool:
    return uri.endswith("/")


def greyscale(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB -> uint8 luminance, as a mask is read."""
    return np.asarray(Image.fromarray(rgb, "RGB").convert("L"))


def probe_mask(uri: str, frame_step: int, max_frames: int, max_pixels: int) -> SequenceInfo | None:
    """The mask's frames (after `frame_step`), or None for a still image: one mask for all."""
    if is_mask_folder(uri):
        matched = FileSystems.match([FileSystems.join(uri.rstrip("/"), "*")])[0].metadata_list
        if not matched:
            raise SequenceError(f"mask folder {uri} holds no images")
        return probe_folder(uri, [m.path for m in matched], max_frames, frame_step, max_pixels)
    if is_video(uri):
        return probe_video(uri, max_frames, frame_step)
    data = read_bytes(uri)
    return probe_animation(uri, data, max_frames, frame_step) if is_animation(data) else None


def first_mask(uri: str, max_pixels: int = 40_000_000, **read_options) -> np.ndarray:
    """The mask stills dream with: a still's only frame, a sequence's first."""
    if is_mask_folder(uri) or is_video(uri):
        info = probe_mask(uri, 1, 1_000_000, max_pixels)
        assert info is not None
        _, rgb = next(read_frames(uri, info, 0, 1, 1, None, max_pixels))
        return greyscale(rgb)
    return greyscale(decode_image(read_bytes(uri, **read_options), max_pixels).rgb)


def mask_frames(uri: str, needed: int, start: int, stop: int, frame_step: int, max_frames: int,
                max_pixels: int) -> Iterator[np.ndarray] | None:
    """The masks of a sequence's frames start..stop-1, or None when the mask is a still (the
    dreamer's own). A sequence of `needed` frames needs a mask of as many: fewer is a
    SequenceError naming both counts (the sequence's one error record)."""
    info = probe_mask(uri, frame_step, max_frames, max_pixels)
    if info is None:
        return None
    if info.frame_count < needed:
        raise SequenceError(f"mask {uri} has {info.frame_count} frames (at --frame_step {frame_step}), "
                            f"the sequence {needed}: give one mask per frame, or a still for all")
    data = read_bytes(uri) if info.kind == "animation" else None
    return (greyscale(rgb) for _, rgb in read_frames(uri, info, start, stop, frame_step, None, max_pixels, data))
