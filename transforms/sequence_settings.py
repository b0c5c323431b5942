"""How sequences are dreamed: frame selection, temporal coherence, segments. TF-free (the
command line reads it)."""
from __future__ import annotations

from dataclasses import dataclass

from transforms.dream.schedule import Schedule

TEMPORAL_MODES = ("flow", "none")
FLOW_METHODS = ("dis", "farneback")
DEFAULT_MAX_FRAMES = 10_000
DEFAULT_SEGMENT_FRAMES = 100
DEFAULT_WARMUP = 5
ZOOM_FORMATS = ("mp4", "webp")
ZOOM_FPS = 25


@dataclass(frozen=True)
class SequenceSettings:
    temporal: str = "flow"  # "none": every frame dreamed on its own
    blend: float = 0.5  # 0: independent frames; 1: the whole previous change carried over
    flow: str = "dis"  # OpenCV's DIS (fast, robust) or Farneback
    warm_iterations: int | None = None  # steps per octave once warm; None: half the preset's
    max_frames: int = DEFAULT_MAX_FRAMES  # a longer sequence (after frame_step) is refused
    frame_step: int = 1  # dream every K-th frame
    segment_frames: int = DEFAULT_SEGMENT_FRAMES  # frames per segment dreamed in parallel
    warmup: int = DEFAULT_WARMUP  # frames dreamed before a segment's first, then dropped
    keep_frames: bool = False  # also write every dreamed frame as an image
    zoom_frames: int = 0  # > 0: every still becomes a zoom of this many frames
    zoom_scale: float = 1.05  # zoom per frame
    zoom_format: str = "mp4"  # mp4 (H.264, 25 fps) or webp (animated, 40 ms a frame)
    schedule: Schedule | None = None  # keyframed settings over the frames (transforms.dream.schedule)

    def __post_init__(self) -> None:
        if self.temporal not in TEMPORAL_MODES:
            raise ValueError(f"unknown temporal {self.temporal!r}; valid: {', '.join(TEMPORAL_MODES)}")
        if self.flow not in FLOW_METHODS:
            raise ValueError(f"unknown flow {self.flow!r}; valid: {', '.join(FLOW_METHODS)}")
        if not 0.0 <= self.blend <= 1.0:
            raise ValueError(f"blend must be within [0, 1], got {self.blend}")
        for name in ("max_frames", "frame_step", "segment_frames"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0, got {self.warmup}")
        if self.zoom_frames < 0 or self.zoom_frames > self.max_frames:
            raise ValueError(f"zoom_frames must be within [0, max_frames={self.max_frames}], got {self.zoom_frames}")
        if not 1.0 < self.zoom_scale <= 2.0:
            raise ValueError(f"zoom_scale must be within (1, 2], got {self.zoom_scale}")
        if self.zoom_format not in ZOOM_FORMATS:
            raise ValueError(f"unknown zoom_format {self.zoom_format!r}; valid: {', '.join(ZOOM_FORMATS)}")
        if self.warm_iterations is not None and self.warm_iterations < 0:
            raise ValueError(f"sequence_iterations must be >= 0, got {self.warm_iterations}")

    def as_record(self) -> dict:
        """The settings that shape a sequence's frames (in its record and settings key)."""
        return {"temporal": self.temporal, "blend": self.blend, "flow": self.flow,
                "sequence_iterations": self.warm_iterations, "frame_step": self.frame_step,
                "segment_frames": self.segment_frames, "warmup": self.warmup,
                "zoom_frames": self.zoom_frames, "zoom_scale": self.zoom_scale, "zoom_format": self.zoom_format,
                # Only when set: sequences without one keep the settings keys they had.
                **({"schedule": self.schedule.as_record()} if self.schedule else {})}
