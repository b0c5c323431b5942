"""Strongest channels: `auto:N` picks, per layer term, the N channels that respond most to
the image (`auto:N:weak` the least, `auto:N:random` N seeded at random), once from the
input or again at every octave. TF-free: the engine measures, this module chooses.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

PICK_RULES = ("strong", "weak", "random")
CHANNEL_CAPTURES = ("once", "octave")
_AUTO = re.compile(r"^auto:(?P<count>\d+)(?::(?P<rule>[a-z]+))?$")


@dataclass(frozen=True)
class ChannelPick:
    count: int
    rule: str = "strong"
    capture: str = "once"  # "once": from the input; "octave": again at each octave's start

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"channels auto:N needs N >= 1, got {self.count}")
        if self.rule not in PICK_RULES:
            raise ValueError(f"unknown channel pick {self.rule!r}; valid: {', '.join(PICK_RULES)}")
        if self.capture not in CHANNEL_CAPTURES:
            raise ValueError(f"unknown channel_capture {self.capture!r}; valid: {', '.join(CHANNEL_CAPTURES)}")

    @classmethod
    def parse(cls, text: str, capture: str = "once") -> ChannelPick:
        """'auto:8', 'auto:8:weak' or 'auto:8:random'."""
        found = _AUTO.match(text.strip())
        if not found:
            raise ValueError(f"channels must be auto:N, auto:N:weak or auto:N:random (e.g. auto:8), got {text!r}")
        return cls(int(found["count"]), found["rule"] or "strong", capture)


def pick_channels(mean_activation: np.ndarray, pick: ChannelPick, seed: int = 0, octave: int = 0) -> np.ndarray:
    """Indices (B x N, ascending) of the channels to dream, per image, from each channel's
    mean activation (B x C). Random picks are seeded by the dream's seed and the octave
    only: the same for every image, whatever it shares a batch with. Ties go to the lower index.
    The weakest are the weakest that respond at all: a channel silent on the image (mean 0,
    a ReLU that never fires) has no gradient to grow from, so it comes last."""
    images, channels = mean_activation.shape
    count = min(pick.count, channels)
    if pick.rule == "random":
        rng = np.random.Generator(np.random.PCG64([seed, octave]))
        chosen = np.sort(rng.choice(channels, count, replace=False))
        return np.tile(chosen, (images, 1))
    if pick.rule == "weak":
        order = np.where(mean_activation > 0, mean_activation, np.inf)
    else:
        order = -mean_activation
    return np.sort(np.argsort(order, axis=1, kind="stable")[:, :count], axis=1)


def channel_mask(indices: np.ndarray, channels: int) -> np.ndarray:
    """B x C float32: 1 for the picked channels, 0 elsewhere."""
    mask = np.zeros((indices.shape[0], channels), np.float32)
    np.put_along_axis(mask, indices, 1.0, axis=1)
    return mask
