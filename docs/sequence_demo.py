"""Make docs/gallery/sequence.webp: a short pan over a sample photo, input beside its dream
with optical-flow carry-over, as an animated WebP (licensed like the samples).

    python docs/sequence_demo.py        # offline VGG16; about a minute on a 2-core AMD EPYC (AVX-512)
"""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from bench.coherence_bench import clips  # noqa: E402
from transforms.dream import Dreamer, get_model_spec, get_preset  # noqa: E402
from transforms.dream.sequence import dream_frames  # noqa: E402
from transforms.dream.temporal import TemporalParams  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "gallery" / "sequence.webp"
FRAMES = 36


def main() -> None:
    spec, preset = get_model_spec("vgg16"), get_preset("vgg16_jitter")
    dreamer = Dreamer(spec.build(None), preset.layers, spec.preprocessing, spec.min_input_size)
    params = dataclasses.replace(preset.params, octaves=2, iterations=6, seed=1)
    clip, _ = clips(FRAMES)["pan"]
    dreamed = [f.result.image for f in dream_frames(dreamer, enumerate(clip), params, TemporalParams("flow"))]
    pairs = [Image.fromarray(np.concatenate([a, np.full((a.shape[0], 4, 3), 255, np.uint8), b], axis=1))
             for a, b in zip(clip, dreamed, strict=True)]
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    pairs[0].save(TARGET, "WEBP", save_all=True, append_images=pairs[1:], duration=80, loop=0, quality=80)
    print(f"wrote {TARGET} ({TARGET.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
