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


def dream_frames(
    dreamer: Dreamer,
    frames: Iterable[tuple[int, np.ndarray]],
    params: DreamParams,
    temporal: TemporalParams = TemporalParams(),
    warm_iterations: int | None = None,
    schedule: Schedule | None = None,
) -> Iterator[DreamedFrame]:
    """(index, uint8 HxWx3 frame) in order -> DreamedFrame each. Frames after the first,
    once warm, take `warm_iterations` steps per octave (see `warm_settings`). Every frame uses
    params.seed: the same jitter for all. A `schedule` sets its settings per frame number
    (over the warm frames' steps too)."""
    warm_params = warm_settings(params, warm_iterations)
    previous_input: np.ndarray | None = None
    previous_dream: np.ndarray | None = None
    for index, frame in frames:
        frame_temporal = temporal
        if schedule is not None:
            frame_temporal = dataclasses.replace(
                temporal, blend=schedule.sequence_value("blend", index, temporal.blend))
        start, occluded = start_frame(previous_input, previous_dream, frame, frame_temporal)
        warm = previous_dream is not None and temporal.temporal != "none" and frame_temporal.blend > 0
        frame_params = warm_params if warm else params
        if schedule is not None:
            frame_params = schedule.loop_params(frame_params, index)
        result = dreamer.dream(start, frame_params)
        previous_input, previous_dream = frame, result.image
        yield DreamedFrame(index, result, occluded, warm, schedule.values_at(index) if schedule else None)
