"""The zoom animation from a still: each frame is the previous frame's dream, zoomed in
about its centre and dreamed again (google/deepdream's "falling into the dream" loop).
No Beam here."""
from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np
from PIL import Image

from transforms.dream.engine import Dreamer
from transforms.dream.params import DreamParams
from transforms.dream.schedule import Schedule
from transforms.dream.sequence import DreamedFrame, dream_scheduled, frame_masks, warm_settings


def zoom_in(rgb: np.ndarray, scale: float) -> np.ndarray:
    """The centre 1/scale of the image, resized back to its size (Lanczos)."""
    height, width = rgb.shape[:2]
    crop_w, crop_h = width / scale, height / scale
    left, top = (width - crop_w) / 2, (height - crop_h) / 2
    box = (left, top, left + crop_w, top + crop_h)
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.LANCZOS, box=box))


def zoom_frames(
    dreamer: Dreamer, still: np.ndarray, params: DreamParams, count: int, scale: float,
    warm_iterations: int | None = None, start: int = 0, previous: np.ndarray | None = None,
    schedule: Schedule | None = None,
    masks: Iterable[np.ndarray] | None = None,
) -> Iterator[DreamedFrame]:
    """Frames start..count-1 of the zoom: frame 0 dreams the still; frame k dreams frame
    k-1's dream zoomed in by `scale`, warm as other sequences' frames are (sequence.warm_settings).
    To resume at `start`, pass frame start-1's dream as `previous`. A `schedule` sets its
    settings per frame (zoom_scale: the zoom into that frame). `masks`: frames start..count-1's
    own, in place of the dreamer's."""
    warm_params = warm_settings(params, warm_iterations)

    def scale_at(index: int) -> float:
        return schedule.sequence_value("zoom_scale", index, scale) if schedule else scale

    frame = still if start == 0 or previous is None else zoom_in(previous, scale_at(start))
    per_frame = frame_masks(masks)
    for index in range(start, count):
        result = dream_scheduled(dreamer, frame, params if index == 0 else warm_params, schedule, index,
                                 next(per_frame))
        yield DreamedFrame(index, result, 0.0, index > 0, schedule.values_at(index) if schedule else None)
        frame = zoom_in(result.image, scale_at(index + 1))
