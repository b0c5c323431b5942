"""Temporal coherence frame by frame (transforms/dream/temporal.py, sequence.py): what the
flow carries, where it carries nothing, the blend, the flow method and the warm frames'
steps, each observed in the frames' pixels or the steps the engine ran."""
from __future__ import annotations

import numpy as np
import pytest

from tests.media import scene
from transforms.dream import Dreamer, DreamParams
from transforms.dream.preprocessing import INCEPTION
from transforms.dream.sequence import dream_frames
from transforms.dream.temporal import TemporalParams, dense_flow, start_frame

PAN = 2  # scene(i + 1) is scene(i) moved PAN pixels to the left
OFFSET = np.array([30, -20, 10])  # a dream that brightened red and darkened green


def dreamed_like(frame: np.ndarray, seed: int = 3, offset: np.ndarray = OFFSET) -> np.ndarray:
    """A stand-in for a frame's dream: the frame plus a per-channel offset and a strong
    random pattern, so any pixel the carried change reaches moves by several levels."""
    rng = np.random.default_rng(seed)
    return np.clip(frame.astype(int) + offset + rng.integers(-30, 31, frame.shape), 0, 255).astype(np.uint8)


def carried_by_pan(previous: np.ndarray, dream: np.ndarray) -> np.ndarray:
    """The previous dream's change moved by the scene's known pan, mean removed per channel
    (what the flow should carry), on the columns the pan keeps in view."""
    change = dream.astype(np.float64) - previous
    moved = change[:, PAN:]
    return moved - moved.reshape(-1, 3).mean(axis=0)


def test_the_carried_change_follows_the_pan_scaled_by_the_blend():
    """start - frame is blend x the previous change moved 2 pixels left, to rounding: blend 0
    gives the fresh frame, and twice the blend twice the carried change."""
    previous, frame = scene(0), scene(1)
    dream = dreamed_like(previous)
    expected = carried_by_pan(previous, dream)
    start, occluded = start_frame(previous, dream, frame, TemporalParams(blend=0.0))
    np.testing.assert_array_equal(start, frame)
    for blend in (0.25, 0.5, 1.0):
        start, occluded = start_frame(previous, dream, frame, TemporalParams(blend=blend))
        added = start.astype(np.float64)[:, :-PAN] - frame[:, :-PAN]
        assert occluded < 0.01  # a clean pan: everything is seen in both frames
        # Rounding to uint8 (and a few clipped pixels) cost at most half a level on average.
        assert np.abs(added - blend * expected).mean() < 0.5, blend
        assert np.abs(added).mean() == pytest.approx(blend * np.abs(expected).mean(), rel=0.05)


def test_the_carried_change_has_no_mean_per_channel():
    """The previous dream brightened red by 30 and darkened green by 20 levels; carried at
    blend 0.5 (+15 / -10 without the mean removal), the new frame's channels keep their
    brightness, while the pattern itself is carried (several levels per pixel)."""
    previous, frame = scene(0), scene(1)
    dream = dreamed_like(previous)
    assert np.abs((dream.astype(int) - previous).reshape(-1, 3).mean(axis=0) - OFFSET).max() < 1.5
    start, _ = start_frame(previous, dream, frame, TemporalParams(blend=0.5))
    added = (start.astype(int) - frame).reshape(-1, 3)
    assert np.abs(added.mean(axis=0)).max() < 0.3, added.mean(axis=0)
    assert np.abs(added).mean() > 5.0


def test_occluded_pixels_take_the_fresh_frame_as_it_is():
    """The right half of the new frame is a different place (a cut in half the picture): the
    flow cannot follow it there and back, and those pixels start from the fresh frame,
    exactly; the panned left half gets the carried change everywhere."""
    previous = scene(0)
    frame = scene(1)
    frame[:, 48:] = scene(150)[:, 48:]  # 300 pixels further along the texture
    dream = dreamed_like(previous)
    start, occluded = start_frame(previous, dream, frame, TemporalParams())
    fresh = (start == frame).all(axis=-1)
    assert occluded > 0.1  # measured: 0.25 with DIS
    # Every pixel the check flagged kept its fresh value (a carried pixel moves by several
    # levels, so no carried pixel passes for a fresh one here) ...
    assert fresh.mean() == pytest.approx(occluded, abs=0.005)
    # ... and they lie in the cut half: none in the panned half.
    assert not fresh[:, :44].any()
    assert fresh[:, 52:].mean() > 0.2


def test_farneback_is_another_flow_and_follows_the_known_pan():
    """Both methods see the 2-pixel pan to a few hundredths of a pixel, and they are two
    different estimates (Farneback is not DIS under another name)."""
    a, b = scene(0), scene(1)
    flows = {method: dense_flow(a, b, method) for method in ("dis", "farneback")}
    for method, flow in flows.items():
        inner = flow[8:-8, 8:-8]
        assert np.abs(inner[..., 0] + PAN).mean() < 0.05, method
        assert np.abs(inner[..., 1]).mean() < 0.05, method
    difference = np.abs(flows["dis"] - flows["farneback"])
    assert difference.max() > 0.01, difference.max()


@pytest.fixture(scope="module")
def dreamer(tiny_model) -> Dreamer:
    return Dreamer(tiny_model, "conv2:1.0,conv3:0.5", INCEPTION, min_input_size=8)


FOUR_STEPS = DreamParams(octaves=2, iterations=4, step=0.05, step_mode="pixel", max_loss=None, octave_scale=1.5)


def steps_run(dreamed) -> list[list[int]]:
    """Steps the engine ran per octave, per frame (each step records one loss)."""
    return [[len(octave.losses) for octave in frame.result.octaves] for frame in dreamed]


@pytest.mark.parametrize("temporal,warm_iterations,warm_steps", [
    (TemporalParams(), None, 2),  # default: half the preset's steps once warm
    (TemporalParams(), 1, 1),  # --sequence_iterations 1
    (TemporalParams(), 0, 0),  # warm frames only carry the dream along
    (TemporalParams(blend=0.0), None, 4),  # nothing carried: every frame is cold
    (TemporalParams(temporal="none"), 1, 4),
], ids=["default", "one", "zero", "blend0", "none"])
def test_warm_frames_run_their_own_step_count(dreamer, temporal, warm_iterations, warm_steps):
    """The first frame runs the preset's 4 steps per octave; each later frame, started from
    the previous dream, runs the warm count (in both octaves); frames that carry nothing
    stay cold."""
    frames = [(i, scene(i)) for i in range(4)]
    dreamed = list(dream_frames(dreamer, frames, FOUR_STEPS, temporal, warm_iterations))
    assert steps_run(dreamed) == [[4, 4]] + [[warm_steps, warm_steps]] * 3
    carried = temporal.temporal != "none" and temporal.blend > 0
    assert [d.warm for d in dreamed] == [False] + [carried] * 3
