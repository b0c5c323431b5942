"""What each quality control costs per step, against the plain step, in one process.

    python -m bench.controls_bench            # VGG16 (offline weights), 640x427, 3 repeats

One Dreamer per kind of control (loop settings share the plain one); each setting is traced
once (a warm-up dream), then timed over a one-octave dream of ITERATIONS steps; medians of
the repeats, the settings interleaved so that load on a shared machine hits them alike.
Ratios are to the plain step (l2, no control) measured in the same run. Results go to
bench/controls.json with the machine they were measured on.

The class term needs a head, which the offline VGG16 lacks: VGG16's architecture with its
head (random weights: the cost, not the look) scores the image resized to its 224x224.
Schedules of loop settings and noise inputs cost nothing per step (values per frame; noise
is an input); a layers schedule costs what its extra layers cost (measured: a layer at weight
0 beside the preset's); a settings stamp is per written file, not per step.
"""
from __future__ import annotations

import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
ITERATIONS = 8
SETTINGS = {
    "plain (l2)": {},
    "grad_norm lap": {"grad_norm": "lap", "step": 1.5},
    "grad_blur 2": {"grad_blur": 2.0},
    "tv_weight 40": {"tv_weight": 40.0},
    "objective mean": {"objective": "mean"},
    "random_scale 0.9:1.1": {"random_scale_min": 0.9, "random_scale_max": 1.1},
    "random_rotate 10": {"random_rotate": 10.0},
}
# Controls of the Dreamer itself (issue #22): name -> what its Dreamer is built with.
DREAMER_CONTROLS = ("mask (right half, feather 8)", "channels auto:3", "channels auto:3, capture octave",
                    "class[281] + layers", "parameterization fft",
                    "layers switch (+ block3_conv3 at weight 0)")


def main(argv: list[str] | None = None) -> int:
    import numpy as np
    from PIL import Image

    from bench.machine import machine_info
    from transforms.dream import Dreamer, get_model_spec, get_preset

    repeats = int((argv or sys.argv[1:] or ["3"])[0])
    spec = get_model_spec("vgg16")
    preset = get_preset("vgg16")
    model = spec.build(None)
    dreamer = Dreamer(model, preset.layers, spec.preprocessing, spec.min_input_size)
    photo = np.asarray(Image.open(ROOT / "samples" / "chelsea.jpg").convert("RGB").resize((640, 427)))
    base = dataclasses.replace(preset.params, octaves=1, iterations=ITERATIONS, seed=1)
    runs = {name: (dreamer, dataclasses.replace(base, **changes)) for name, changes in SETTINGS.items()}
    for name, built in zip(DREAMER_CONTROLS, _control_dreamers(model, spec, preset, photo), strict=True):
        runs[name] = (built, base)
    for built, setting in runs.values():  # trace each once
        built.dream(photo, dataclasses.replace(setting, iterations=1))
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, (built, setting) in runs.items():
            started = time.perf_counter()
            built.dream(photo, setting)
            times[name].append((time.perf_counter() - started) / ITERATIONS)
    plain = statistics.median(times["plain (l2)"])
    results = {name: {"seconds_per_step": round(statistics.median(t), 4),
                      "ratio_to_plain": round(statistics.median(t) / plain, 3)} for name, t in times.items()}
    report = {"machine": machine_info(), "model": "vgg16", "size": "640x427", "iterations": ITERATIONS,
              "repeats": repeats, "results": results}
    (ROOT / "bench" / "controls.json").write_text(json.dumps(report, indent=2) + "\n")
    for name, result in results.items():
        print(f"{name:24s} {result['seconds_per_step']:.3f} s/step  x{result['ratio_to_plain']:.2f}")
    return 0


def _control_dreamers(model, spec, preset, photo) -> list:
    """The Dreamers of DREAMER_CONTROLS, in that order."""
    import numpy as np

    from transforms.dream import Dreamer
    from transforms.dream.channel_pick import ChannelPick
    from transforms.dream.layers import LayerTerm
    from transforms.dream.quiet_tensorflow import keras

    height, width = photo.shape[:2]
    mask = np.zeros((height, width), np.uint8)
    mask[:, width // 2:] = 255
    common = (model, preset.layers, spec.preprocessing, spec.min_input_size)
    head = keras.applications.VGG16(include_top=True, weights=None, classifier_activation=None)
    class_layers = (*preset.layers, LayerTerm("class", 1.0, (281,)))
    return [
        Dreamer(*common, mask=mask, mask_feather=8.0),
        Dreamer(*common, channel_pick=ChannelPick(3)),
        Dreamer(*common, channel_pick=ChannelPick(3, capture="octave")),
        Dreamer(model, class_layers, spec.preprocessing, spec.min_input_size, classifier=head),
        Dreamer(*common, parameterization="fft"),
        # A layers schedule's dream computes every keyframe's layers, the others at weight 0.
        Dreamer(model, (*preset.layers, LayerTerm("block3_conv3", 0.0)), spec.preprocessing, spec.min_input_size),
    ]


if __name__ == "__main__":
    sys.exit(main())
