"""Objective terms: which layers (and channels) a dream maximises, and how much each counts.

TF-free, so the command line can parse and check `--layers` before TensorFlow loads.
Text form: `mixed4:1.0,mixed5[12,40]:2.0` (layer, optional channel list, optional weight).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence


@dataclass(frozen=True)
class LayerTerm:
    """weight * mean(square(activation of `name`)), over `channels` only when given."""

    name: str
    weight: float = 1.0
    channels: tuple[int, ...] | None = None

    @property
    def key(self) -> str:
        """The term without its weight (`mixed5[12,40]`): how a schedule names it."""
        channels = f"[{','.join(map(str, self.channels))}]" if self.channels is not None else ""
        return f"{self.name}{channels}"

    def __str__(self) -> str:
        return f"{self.key}:{self.weight:g}"

    def as_record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "channels": list(self.channels) if self.channels is not None else None,
            "weight": self.weight,
        }


LayersLike = str | Mapping[str, float] | Iterable[LayerTerm]

_TERM = re.compile(r"^\s*([^\s:\[\],]+)\s*(?:\[([^\]]*)\])?\s*(?::\s*([^,\s]+))?\s*$")


def parse_layers(text: str) -> tuple[LayerTerm, ...]:
    """`'mixed4:1.0,mixed5[12,40]:2.0'` -> LayerTerms. Raises ValueError saying what is wrong."""
    terms = []
    for part in _split_terms(text):
        match = _TERM.match(part)
        if not match:
            raise ValueError(
                f"cannot read layer term {part!r}; expected NAME, NAME:WEIGHT or "
                "NAME[C1,C2,...]:WEIGHT, e.g. 'mixed4:1.0,mixed5[12,40]:2.0'"
            )
        name, channels_text, weight_text = match.groups()
        try:
            weight = float(weight_text) if weight_text is not None else 1.0
        except ValueError:
            raise ValueError(f"weight of layer term {part!r} is not a number") from None
        channels = None
        if channels_text is not None:
            try:
                channels = tuple(int(c) for c in channels_text.split(","))
            except ValueError:
                raise ValueError(
                    f"channels of layer term {part!r} must be integers, e.g. mixed5[12,40]"
                ) from None
            if any(c < 0 for c in channels):
                raise ValueError(f"channels of layer term {part!r} must be >= 0")
        terms.append(LayerTerm(name, weight, channels))
    if not terms:
        raise ValueError("no layers given; e.g. --layers 'mixed4:1.0,mixed5:1.5'")
    return tuple(terms)


def _split_terms(text: str) -> list[str]:
    """Split on commas outside brackets."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        depth += char == "["
        depth -= char == "]"
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part for part in parts if part.strip()]


def as_terms(layers: LayersLike) -> tuple[LayerTerm, ...]:
    """Accept the text form, a {name: weight} mapping or LayerTerms."""
    if isinstance(layers, str):
        return parse_layers(layers)
    if isinstance(layers, Mapping):
        return tuple(LayerTerm(name, float(weight)) for name, weight in layers.items())
    terms = tuple(layers)
    if not all(isinstance(term, LayerTerm) for term in terms):
        raise TypeError("layers must be text, a {name: weight} mapping or LayerTerms")
    return terms


def format_layers(terms: Sequence[LayerTerm]) -> str:
    return ",".join(str(term) for term in terms)
