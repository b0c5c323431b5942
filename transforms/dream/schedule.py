"""Keyframes: a loop setting that changes over a sequence's frames.

`--schedule 'step=0:1.5,48:4,96:1.5'` gives step 1.5 at frame 0, 4 at frame 48 and 1.5 again
at 96, `linear` between keyframes (the default), `step` (held until the next keyframe) or
`smooth` (cubic ease in and out) when written `step@smooth=...`; before the first keyframe
and after the last the value holds. Frames are the sequence's own numbers (after
--frame_step), so a segment's warm-up frames and a resumed run see the values of their own
frames. Only settings that reach the dream as data are schedulable: a change per frame costs
no new compiled graph.

Layer terms' weights reach the dream as data too: `weight[mixed4]=0:1,48:0` fades one term of
the job's layers, and `layers@fade12=0:mixed3;48:mixed5:2,mixed4` switches the layers at
keyframes, cross-fading over 12 frames from each keyframe on (the dream then computes every
layer any keyframe names; the others weigh 0). TF-free.
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from transforms.dream.layers import LayerTerm, parse_layers
from transforms.dream.params import DreamParams

# Loop settings (DreamParams fields) and sequence settings (blend, zoom_scale) that may change per frame.
LOOP_SETTINGS = ("step", "iterations", "jitter", "octave_scale", "tv_weight", "random_rotate",
                 "random_scale_min", "random_scale_max")
SEQUENCE_SETTINGS = ("blend", "zoom_scale")
SCHEDULABLE = LOOP_SETTINGS + SEQUENCE_SETTINGS
WHOLE_NUMBERS = ("iterations", "jitter")
INTERPOLATIONS = ("linear", "step", "smooth")
LAYERS = "layers"  # the layers themselves, switched at keyframes (LayerSwitch)
_TRACK = re.compile(r"^\s*(?P<name>[a-z_]+|weight\[[^=]+\])\s*(?:@\s*(?P<how>[a-z]+\d*))?\s*=\s*(?P<points>.+)$")
_FADE = re.compile(r"^fade(?P<frames>\d+)$")


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


def weight_track_name(key: str) -> str:
    return f"weight[{key}]"


@dataclass(frozen=True)
class LayerSwitch:
    """The layers, switched at keyframes: frames before the second keyframe dream the first
    keyframe's terms; from each later keyframe on, the weights move in a straight line to its
    terms' over `fade` frames (at once with 0). A term a keyframe leaves out weighs 0 there."""

    keyframes: tuple[tuple[int, tuple[LayerTerm, ...]], ...]
    fade: int = 0

    def terms(self) -> tuple[LayerTerm, ...]:
        """Every term any keyframe names (first appearance first), weighted as at frame 0."""
        weights = self.weights_at(0)
        union: dict[str, LayerTerm] = {}
        for _, terms in self.keyframes:
            for term in terms:
                union.setdefault(term.key, dataclasses.replace(term, weight=weights[term.key]))
        return tuple(union.values())

    def weights_at(self, frame: int) -> dict[str, float]:
        """{term key: weight} at `frame`."""
        sets = [{term.key: term.weight for term in terms} for _, terms in self.keyframes]
        keys = list(dict.fromkeys(key for weights in sets for key in weights))
        current = {key: sets[0].get(key, 0.0) for key in keys}
        for (at, _), weights in zip(self.keyframes[1:], sets[1:], strict=True):
            if frame < at:
                break
            t = 1.0 if self.fade == 0 else min(1.0, (frame - at) / self.fade)
            current = {key: current[key] + (weights.get(key, 0.0) - current[key]) * t for key in keys}
        return current

    def as_record(self) -> dict[str, Any]:
        return {"fade": self.fade, "keyframes": [[frame, ",".join(f"{term.key}:{term.weight!r}" for term in terms)]
                                                 for frame, terms in self.keyframes]}

    @classmethod
    def parse(cls, text: str, how: str | None, points_text: str) -> LayerSwitch:
        fade = 0
        if how is not None:
            found = _FADE.match(how)
            if not found:
                raise ValueError(f"--schedule {text!r}: layers take @fadeN (cross-fade over N frames), not @{how}")
            fade = int(found["frames"])
        keyframes = []
        for point in points_text.split(";"):
            frame_text, _, terms_text = point.partition(":")
            try:
                frame = int(frame_text)
            except ValueError:
                raise ValueError(f"--schedule {text!r}: {point.strip()!r} is not FRAME:LAYERS "
                                 "(keyframes apart by ';', e.g. 'layers=0:mixed3;48:mixed5:2,mixed4')") from None
            try:
                terms = parse_layers(terms_text)
            except ValueError as exc:
                raise ValueError(f"--schedule {text!r} at frame {frame}: {exc}") from None
            if any(term.name == "class" for term in terms):
                raise ValueError(f"--schedule {text!r}: class terms cannot be scheduled, only layers")
            keyframes.append((frame, terms))
        frames = [frame for frame, _ in keyframes]
        if frames[0] < 0 or any(b < a + max(1, fade) for a, b in zip(frames, frames[1:], strict=False)):
            raise ValueError(f"--schedule {text!r}: keyframes must be at frames >= 0, ascending"
                             + (f", at least the fade ({fade} frames) apart" if fade > 1 else ""))
        return cls(tuple(keyframes), fade)


@dataclass(frozen=True)
class Schedule:
    tracks: tuple[Track, ...]
    layers: LayerSwitch | None = None

    @classmethod
    def parse(cls, texts: Sequence[str]) -> Schedule:
        """'NAME[@INTERPOLATION]=FRAME:VALUE,FRAME:VALUE,...' per setting (NAME may be
        weight[TERM]), or 'layers[@fadeN]=FRAME:LAYERS;FRAME:LAYERS'."""
        tracks: dict[str, Track] = {}
        layers: LayerSwitch | None = None
        for text in texts:
            found = _TRACK.match(text)
            if not found:
                raise ValueError(f"--schedule {text!r}: write NAME=FRAME:VALUE,FRAME:VALUE,... (e.g. "
                                 "'step=0:1.5,48:4'), NAME@smooth=... or NAME@step=... to interpolate otherwise")
            name, how = found["name"], found["how"]
            if name == LAYERS:
                if layers is not None:
                    raise ValueError(f"--schedule names {name!r} twice")
                layers = LayerSwitch.parse(text, how, found["points"])
                continue
            if name.startswith("weight["):
                name = _weight_name(text, name)
            elif name not in SCHEDULABLE:
                raise ValueError(f"--schedule {name!r} is not schedulable; valid: {', '.join(SCHEDULABLE)}, "
                                 "weight[LAYER], layers (other settings would recompile the dream every frame)")
            how = how or "linear"
            if how not in INTERPOLATIONS:
                raise ValueError(f"--schedule {text!r}: unknown interpolation {how!r}; valid: {', '.join(INTERPOLATIONS)}")
            if name in tracks:
                raise ValueError(f"--schedule names {name!r} twice")
            tracks[name] = Track(name, _keyframes(text, found["points"]), how)
        if layers is not None and any(name.startswith("weight[") for name in tracks):
            raise ValueError("--schedule layers=... sets every layer's weight: no weight[...] beside it")
        return cls(tuple(tracks.values()), layers)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any], where: str = "'schedule' in --params") -> Schedule:
        """A params file's `schedule:` mapping, each value as on the command line ('0:1.5,48:4')
        or as a record holds it ({interpolation, keyframes: [[frame, value], ...]}; the layers:
        {fade, keyframes: [[frame, 'mixed3:1,...'], ...]})."""
        if not isinstance(mapping, Mapping):
            raise ValueError(f"{where} must be a mapping of NAME: keyframes")
        return cls.parse([_track_text(name, value, where) for name, value in mapping.items()])

    def merged(self, winner: Schedule) -> Schedule:
        """This schedule with `winner`'s tracks in place of its own of the same setting."""
        named = {track.name for track in winner.tracks}
        layers = winner.layers or self.layers
        kept = [track for track in self.tracks if track.name not in named
                and not (winner.layers is not None and track.name.startswith("weight["))]
        tracks = (*kept, *winner.tracks)
        if layers is not None and any(track.name.startswith("weight[") for track in tracks):
            raise ValueError("--schedule layers=... sets every layer's weight: no weight[...] beside it")
        return Schedule(tracks, layers)

    def values_at(self, frame: int) -> dict[str, float]:
        """Every scheduled setting's value at `frame` (whole numbers rounded), layer weights
        as weight[TERM]."""
        values = {}
        for track in self.tracks:
            value = track.value_at(frame)
            values[track.name] = round(value) if track.name in WHOLE_NUMBERS else value
        if self.layers is not None:
            values.update({weight_track_name(key): weight for key, weight in self.layers.weights_at(frame).items()})
        return values

    def loop_params(self, params: DreamParams, frame: int) -> DreamParams:
        """`params` with the scheduled loop settings at `frame`."""
        changes: dict[str, Any] = {
            name: value for name, value in self.values_at(frame).items() if name in LOOP_SETTINGS}
        return dataclasses.replace(params, **changes) if changes else params

    @property
    def weighs_layers(self) -> bool:
        return self.layers is not None or any(track.name.startswith("weight[") for track in self.tracks)

    def layer_weights(self, frame: int) -> dict[str, float]:
        """{term key: weight} of the scheduled terms at `frame` (empty: none scheduled)."""
        if self.layers is not None:
            return self.layers.weights_at(frame)
        return {track.name[len("weight["):-1]: track.value_at(frame) for track in self.tracks
                if track.name.startswith("weight[")}

    def job_layers(self, terms: Sequence[LayerTerm]) -> tuple[LayerTerm, ...]:
        """The terms a job with this schedule dreams: a layers switch's every term (weighted as
        at frame 0), else `terms`, each weight[TERM] naming one of them (one line otherwise)."""
        if self.layers is not None:
            return self.layers.terms()
        keys = [term.key for term in terms]
        for track in self.tracks:
            if track.name.startswith("weight[") and track.name[len("weight["):-1] not in keys:
                raise ValueError(f"--schedule {track.name}: not among the job's layers ({', '.join(keys)}); "
                                 "use layers=FRAME:LAYERS;... to bring in others")
        return tuple(terms)

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
        record = {track.name: track.as_record() for track in self.tracks}
        if self.layers is not None:
            record[LAYERS] = self.layers.as_record()
        return record


def _weight_name(text: str, name: str) -> str:
    """'weight[ mixed5[3,7] ]' -> 'weight[mixed5[3,7]]' (one term, without a weight)."""
    try:
        (term,) = parse_layers(name[len("weight["):-1])
    except ValueError:
        term = None
    if term is None or ":" in name:
        raise ValueError(f"--schedule {text!r}: weight[...] names one term of --layers, e.g. weight[mixed4]")
    return weight_track_name(term.key)


def _track_text(name: Any, value: Any, where: str) -> str:
    """A params file's schedule entry as --schedule text."""
    if not isinstance(name, str):
        raise ValueError(f"{where}: setting names must be text, got {name!r}")
    if isinstance(value, str):
        return f"{name}={value}"
    if isinstance(value, Mapping) and isinstance(value.get("keyframes"), list):
        try:
            if name == LAYERS:
                fade = _whole(value.get("fade", 0))
                points = ";".join(f"{_whole(frame)}:{terms}" for frame, terms in value["keyframes"])
                return f"{name}@fade{fade}={points}" if fade else f"{name}={points}"
            how = value.get("interpolation", "linear")
            points = ",".join(f"{_whole(frame)}:{float(v)!r}" for frame, v in value["keyframes"])
            return f"{name}@{how}={points}"
        except (TypeError, ValueError):
            pass
    raise ValueError(f"{where}: {name} must be keyframes as text ('0:1.5,48:4') or "
                     "{interpolation: linear, keyframes: [[0, 1.5], [48, 4]]}, frames and fade whole numbers")


def _whole(number: Any) -> int:
    """A frame number or fade from a params file: 48 or 48.0, never 4.5 (the text form refuses it too)."""
    if isinstance(number, bool) or not isinstance(number, int | float) or not float(number).is_integer():
        raise ValueError(number)
    return int(number)


def _keyframes(text: str, points_text: str) -> tuple[tuple[int, float], ...]:
    points = []
    for point in points_text.split(","):
        frame_text, _, value_text = point.partition(":")
        try:
            frame, value = int(frame_text), float(value_text)
        except ValueError:
            raise ValueError(f"--schedule {text!r}: {point.strip()!r} is not FRAME:VALUE") from None
        if not math.isfinite(value):  # inf/nan would reach the dream (or round() it) as a setting
            raise ValueError(f"--schedule {text!r}: {point.strip()!r} is not a finite number")
        points.append((frame, value))
    frames = [frame for frame, _ in points]
    if frames[0] < 0 or any(b <= a for a, b in zip(frames, frames[1:], strict=False)):
        raise ValueError(f"--schedule {text!r}: keyframes must be at frames >= 0, ascending")
    return tuple(points)
