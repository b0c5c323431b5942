"""How sequences are dreamed: frame selection, temporal coherence, segments. TF-free (the
command line reads it)."""
from __future__ import annotations

from dataclasses import dataclass

TEMPORAL_MODES = ("flow", "none")
FLOW_METHODS = ("dis", "farneback")
DEFAULT_MAX_FRAMES = 10_000
DEFAULT_SEGMENT_FRAMES = 100
DEFAULT_WARMUP = 5


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
        if self.warm_iterations is not None and self.warm_iterations < 0:
            raise ValueError(f"sequence_iterations must be >= 0, got {self.warm_iterations}")

    def as_record(self) -> dict:
        """The settings that shape a sequence's frames (in its record and settings key)."""
        return {"temporal": self.temporal, "blend": self.blend, "flow": self.flow,
                "sequence_iterations": self.warm_iterations, "frame_step": self.frame_step,
                "segment_frames": self.segment_frames, "warmup": self.warmup}
