"""Keyframes: a loop setting that changes over a sequence's frames.

`--schedule 'step=0:1.5,48:4,96:1.5'` gives step 1.5 at frame 0, 4 at frame 48 and 1.5 again
at 96, `linear` between keyframes (the default), `step` (held until the next keyframe) or
`smooth` (cubic ease in and out) when written `step@smooth=...`; before the first keyframe
and after the last the value holds. Frames are the sequence's own numbers (after
--frame_step), so a segment's warm-up frames and a resumed run see the values of their own
frames. Only settings that reach the dream as data are schedulable: a change per frame costs
no new compiled graph. TF-free.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Sequence

from transforms.dream.params import DreamParams

# Loop settings (DreamParams fields) and sequence settings (blend, zoom_scale) that may change per frame.
LOOP_SETTINGS = ("step", "iterations", "jitter", "octave_scale")
SEQUENCE_SETTINGS = ("blend", "zoom_scale")
SCHEDULABLE = LOOP_SETTINGS + SEQUENCE_SETTINGS
WHOLE_NUMBERS = ("iterations", "jitter")
INTERPOLATIONS = ("linear", "step", "smooth")
_TRACK = re.compile(r"^\s*(?P<name>[a-z_]+)\s*(?:@\s*(?P<how>[a-z]+))?\s*=\s*(?P<points>.+)$")


@dataclass(frozen=True)
class Track:
    """One setting's keyframes: (frame, value) pairs, frames ascending."""

    name: str
    keyframes: tuple[tuple[int, float], ...]
    interpolation: str = "linear"

    def value_at(self, frame: int) -> float:
        points = self.keyframes
        if frame <= points[0][0]:
            return points[0][1]
        for (f0, v0), (f1, v1) in zip(points, points[1:], strict=False):
            if frame < f1:
                t = (frame - f0) / (f1 - f0)
                if self.interpolation == "step":
                    return v0
                if self.interpolation == "smooth":
                    t = t * t * (3 - 2 * t)  # cubic ease in and out: no jolt at a keyframe
                return v0 + (v1 - v0) * t
        return points[-1][1]

    def as_record(self) -> dict[str, Any]:
        return {"interpolation": self.interpolation, "keyframes": [list(point) for point in self.keyframes]}


@dataclass(frozen=True)
class Schedule:
    tracks: tuple[Track, ...]

    @classmethod
    def parse(cls, texts: Sequence[str]) -> Schedule:
        """'NAME[@INTERPOLATION]=FRAME:VALUE,FRAME:VALUE,...' per setting."""
        tracks: dict[str, Track] = {}
        for text in texts:
            found = _TRACK.match(text)
            if not found:
                raise ValueError(f"--schedule {text!r}: write NAME=FRAME:VALUE,FRAME:VALUE,... (e.g. "
                                 "'step=0:1.5,48:4'), NAME@smooth=... or NAME@step=... to interpolate otherwise")
            name, how = found["name"], found["how"] or "linear"
            if name not in SCHEDULABLE:
                raise ValueError(f"--schedule {name!r} is not schedulable; valid: {', '.join(SCHEDULABLE)} "
                                 "(other settings would recompile the dream every frame)")
            if how not in INTERPOLATIONS:
                raise ValueError(f"--schedule {text!r}: unknown interpolation {how!r}; valid: {', '.join(INTERPOLATIONS)}")
            if name in tracks:
                raise ValueError(f"--schedule names {name!r} twice")
            tracks[name] = Track(name, _keyframes(text, found["points"]), how)
        return cls(tuple(tracks.values()))

    def values_at(self, frame: int) -> dict[str, float]:
        """Every scheduled setting's value at `frame` (whole numbers rounded)."""
        values = {}
        for track in self.tracks:
            value = track.value_at(frame)
            values[track.name] = round(value) if track.name in WHOLE_NUMBERS else value
        return values

    def loop_params(self, params: DreamParams, frame: int) -> DreamParams:
        """`params` with the scheduled loop settings at `frame`."""
        changes: dict[str, Any] = {
            name: value for name, value in self.values_at(frame).items() if name in LOOP_SETTINGS}
        return dataclasses.replace(params, **changes) if changes else params

    def sequence_value(self, name: str, frame: int, default: float) -> float:
        track = next((t for t in self.tracks if t.name == name), None)
        return default if track is None else track.value_at(frame)

    def check(self, params: DreamParams) -> None:
        """Every keyframe's values make valid settings (one line naming the frame otherwise)."""
        for track in self.tracks:
            for frame, value in track.keyframes:
                if track.name in LOOP_SETTINGS:
                    try:
                        self.loop_params(params, frame)
                    except ValueError as exc:
                        raise ValueError(f"--schedule {track.name} at frame {frame}: {exc}") from None
                elif track.name == "blend" and not 0 <= value <= 1:
                    raise ValueError(f"--schedule blend at frame {frame}: must be within [0, 1], got {value}")
                elif track.name == "zoom_scale" and not 1 < value <= 2:
                    raise ValueError(f"--schedule zoom_scale at frame {frame}: must be within (1, 2], got {value}")

    def as_record(self) -> dict[str, Any]:
        return {track.name: track.as_record() for track in self.tracks}


def _keyframes(text: str, points_text: str) -> tuple[tuple[int, float], ...]:
    points = []
    for point in points_text.split(","):
        frame_text, _, value_text = point.partition(":")
        try:
            frame, value = int(frame_text), float(value_text)
        except ValueError:
            raise ValueError(f"--schedule {text!r}: {point.strip()!r} is not FRAME:VALUE") from None
        points.append((frame, value))
    frames = [frame for frame, _ in points]
    if frames[0] < 0 or any(b <= a for a, b in zip(frames, frames[1:], strict=False)):
        raise ValueError(f"--schedule {text!r}: keyframes must be at frames >= 0, ascending")
    return tuple(points)
