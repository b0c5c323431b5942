"""Temporal coherence for sequences: carry the previous frame's dream to the next frame.

The dream's change to the previous frame (previous dream minus previous input) is moved to
the new frame along the dense optical flow between the two *input* frames, and added to the
new input, weighted by `blend`; the octave loop then dreams from there. Where the flow fails
its forward-backward check (occlusions, cuts), the fresh frame is taken as it is. The carried
change has its per-channel mean removed, so frame after frame it cannot brighten or darken
the picture (the known failure of additive carry-over). No Beam and no TensorFlow here.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TemporalParams:
    """What carrying a dream to the next frame needs (from SequenceSettings)."""

    temporal: str = "flow"  # "none": nothing carried
    blend: float = 0.5  # 0: independent frames; 1: the whole previous change carried over
    flow: str = "dis"  # OpenCV's DIS or Farneback
    # Pixels by which following the flow there and back may miss before a pixel counts as
    # occluded; plus this fraction of the motion's length (long motions are less exact).
    occlusion_pixels: float = 1.0
    occlusion_fraction: float = 0.05


def dense_flow(source: np.ndarray, target: np.ndarray, method: str = "dis") -> np.ndarray:
    """HxWx2 float32 flow from `source` to `target` (uint8 RGB frames of one size): the pixel
    at (y, x) of source is at (y + flow[..., 1], x + flow[..., 0]) in target."""
    import cv2  # OpenCV loads only in processes that dream sequences

    a = cv2.cvtColor(source, cv2.COLOR_RGB2GRAY)
    b = cv2.cvtColor(target, cv2.COLOR_RGB2GRAY)
    if method == "dis":
        dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        return np.asarray(dis.calc(a, b, np.zeros((*a.shape, 2), np.float32)))
    flow = np.zeros((*a.shape, 2), np.float32)
    return np.asarray(cv2.calcOpticalFlowFarneback(a, b, flow, 0.5, 4, 21, 3, 7, 1.5, 0))


def _sample(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """image sampled at (x + flow_x, y + flow_y) for every pixel (bilinear, edges repeated)."""
    import cv2

    height, width = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return cv2.remap(image, grid_x + flow[..., 0], grid_y + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def carried_change(
    previous_input: np.ndarray, previous_dream: np.ndarray, frame: np.ndarray, params: TemporalParams
) -> tuple[np.ndarray, float]:
    """The previous dream's change, moved onto `frame` (float32 HxWx3, mean 0 per channel),
    and the fraction of pixels found occluded (given the fresh frame instead)."""
    change = previous_dream.astype(np.float32) - previous_input.astype(np.float32)
    back = dense_flow(frame, previous_input, params.flow)  # where each new pixel came from
    forth = dense_flow(previous_input, frame, params.flow)
    moved = _sample(change, back)
    # There and back again: a visible pixel's flows cancel; an occluded one's do not.
    round_trip = back + _sample(forth, back)
    miss = np.linalg.norm(round_trip, axis=-1)
    allowed = params.occlusion_pixels + params.occlusion_fraction * np.linalg.norm(back, axis=-1)
    occluded = miss > allowed
    moved[occluded] = 0.0
    visible = ~occluded
    if visible.any():  # no drift: the carried change neither brightens nor darkens
        moved[visible] -= moved[visible].mean(axis=0)
    return moved, float(occluded.mean())


def start_frame(
    previous_input: np.ndarray | None, previous_dream: np.ndarray | None, frame: np.ndarray,
    params: TemporalParams,
) -> tuple[np.ndarray, float]:
    """The image the octave loop starts from for `frame`, and the occluded fraction (0 when
    nothing is carried)."""
    if params.temporal == "none" or params.blend == 0.0 or previous_input is None or previous_dream is None:
        return frame, 0.0
    if not previous_input.shape == previous_dream.shape == frame.shape:
        return frame, 1.0  # a size change (or an upscaled dream) cannot be carried
    moved, occluded = carried_change(previous_input, previous_dream, frame, params)
    start = frame.astype(np.float32) + params.blend * moved
    return np.clip(np.rint(start), 0, 255).astype(np.uint8), occluded
