"""Settings of the octave loop. Light to import (no TensorFlow), so the CLI parses fast."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DreamParams:
    """Per-call settings of the octave loop (the classic values by default)."""

    octaves: int = 3
    octave_scale: float = 1.4
    iterations: int = 30
    step: float = 20.0
    max_loss: float | None = 15.0  # None: never stop early

    def __post_init__(self) -> None:
        if self.iterations < 0:
            raise ValueError(f"iterations must be >= 0, got {self.iterations}")
        if not self.step > 0:
            raise ValueError(f"step must be > 0, got {self.step}")
        if self.octaves < 1:
            raise ValueError(f"octaves must be >= 1, got {self.octaves}")
        if not self.octave_scale > 0:
            raise ValueError(f"octave_scale must be > 0, got {self.octave_scale}")
