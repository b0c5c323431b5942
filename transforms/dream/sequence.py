"""Dream a sequence of frames in order, each starting from the one before (temporal.py).

Streams: one input frame in, one dreamed frame out; only the previous input and dream are
held, so memory follows a frame, not the sequence. No Beam here.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from transforms.dream.engine import Dreamer, DreamResult
from transforms.dream.params import DreamParams
from transforms.dream.schedule import Schedule
from transforms.dream.temporal import TemporalParams, start_frame


@dataclass(frozen=True)
class DreamedFrame:
    index: int  # in the sequence (after --frame_step), counted from 0
    result: DreamResult
    occluded: float  # fraction of pixels whose carried change was dropped (0 for a first frame)
    warm: bool  # started from the previous frame's dream
    settings: dict[str, float] | None = None  # the scheduled settings' values at this frame


def warm_settings(params: DreamParams, warm_iterations: int | None = None) -> DreamParams:
    """The settings of a frame that starts from the previous frame's dream: `warm_iterations`
    steps per octave, None meaning half of params.iterations (the carried dream is most of
    the work; a full ascent on top of it would deepen the dream frame after frame)."""
    if warm_iterations is None:
        warm_iterations = max(1, params.iterations // 2)
    return dataclasses.replace(params, iterations=warm_iterations)


def dream_scheduled(dreamer: Dreamer, image: np.ndarray, params: DreamParams, schedule: Schedule | None,
                    index: int, mask: np.ndarray | None = None) -> DreamResult:
    """Frame `index` dreamed with the schedule's loop settings and layer weights at that
    frame, through its own `mask` when the mask changes per frame (else the dreamer's)."""
    weights = None
    if schedule is not None:
        params = schedule.loop_params(params, index)
        weights = schedule.layer_weights(index) if schedule.weighs_layers else None
    if mask is None and weights is None:
        return dreamer.dream(image, params)
    return dreamer.dream_batch([image], params, masks=None if mask is None else [mask], layer_weights=weights)[0]


def frame_masks(masks: Iterable[np.ndarray] | None) -> Iterator[np.ndarray | None]:
    """One mask per frame: `masks` in order, or None for every frame (the dreamer's own);
    a mask that ends before the frames is an error (transforms.mask_frames counts first)."""
    if masks is None:
        while True:
            yield None
    yield from masks
    raise ValueError("the mask ended before the frames")


def dream_frames(
    dreamer: Dreamer,
    frames: Iterable[tuple[int, np.ndarray]],
    params: DreamParams,
    temporal: TemporalParams = TemporalParams(),
    warm_iterations: int | None = None,
    schedule: Schedule | None = None,
    masks: Iterable[np.ndarray] | None = None,
) -> Iterator[DreamedFrame]:
    """(index, uint8 HxWx3 frame) in order -> DreamedFrame each. Frames after the first,
    once warm, take `warm_iterations` steps per octave (see `warm_settings`). Every frame uses
    params.seed: the same jitter for all. A `schedule` sets its settings per frame number
    (over the warm frames' steps too). `masks`: one per frame, in place of the dreamer's own."""
    warm_params = warm_settings(params, warm_iterations)
    previous_input: np.ndarray | None = None
    previous_dream: np.ndarray | None = None
    per_frame = frame_masks(masks)
    for index, frame in frames:
        frame_temporal = temporal
        if schedule is not None:
            frame_temporal = dataclasses.replace(
                temporal, blend=schedule.sequence_value("blend", index, temporal.blend))
        start, occluded = start_frame(previous_input, previous_dream, frame, frame_temporal)
        warm = previous_dream is not None and temporal.temporal != "none" and frame_temporal.blend > 0
        result = dream_scheduled(dreamer, start, warm_params if warm else params, schedule, index, next(per_frame))
        previous_input, previous_dream = frame, result.image
        yield DreamedFrame(index, result, occluded, warm, schedule.values_at(index) if schedule else None)
