"""How steady dreamed sequences are, with optical-flow carry-over and without.

    python -m bench.coherence_bench            # 100 frames per clip, VGG16 (offline weights)
    python -m bench.coherence_bench 30         # shorter

Two clips made from the sample photos with a known camera motion: "pan" (a 160x120 window
moving 2 pixels right per frame over astronaut.jpg) and "zoom" (a window shrinking 1% per
frame and drifting over coffee.jpg). Each is dreamed with --temporal flow and none, same
seed and settings (flow also with warm frames at the full step count, which isolates the
cost of the flow). For each pair of consecutive frames, the earlier frame is warped by the
known motion onto the later one, and the mean absolute difference (0-255 levels) over the
pixels both frames see is the flicker; the inputs' own figure (resampling alone) is the
floor. Brightness drift: the dream's mean level minus the input's, last ten frames against
the first ten. Frames per second of both modes give the cost of coherence. Results go to
bench/coherence.json with the machine they were measured on.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
WIDTH, HEIGHT = 160, 120


def _window_clip(photo, frames: int, window: Callable[[int], tuple[float, float, float]]):
    """Frames cut from `photo` at window(t) = (x, y, width) (height by the aspect), and the
    windows themselves (the known motion)."""
    import cv2
    import numpy as np

    clip, windows = [], []
    for t in range(frames):
        x, y, w = window(t)
        h = w * HEIGHT / WIDTH
        # Sample the window exactly (sub-pixel), as a camera would see it.
        grid_x = x + (np.arange(WIDTH, dtype=np.float32) + 0.5) * w / WIDTH - 0.5
        grid_y = y + (np.arange(HEIGHT, dtype=np.float32) + 0.5) * h / HEIGHT - 0.5
        map_x, map_y = np.meshgrid(grid_x, grid_y)
        clip.append(cv2.remap(photo, map_x, map_y, cv2.INTER_AREA if w > WIDTH else cv2.INTER_LINEAR))
        windows.append((x, y, w))
    return clip, windows


def clips(frames: int):
    import numpy as np
    from PIL import Image

    astronaut = np.asarray(Image.open(ROOT / "samples" / "astronaut.jpg").convert("RGB").resize((512, 512)))
    coffee = np.asarray(Image.open(ROOT / "samples" / "coffee.jpg").convert("RGB").resize((768, 512)))
    # 2.5 photo pixels per frame at 200/160 photo pixels per frame pixel: 2 frame pixels.
    pan = _window_clip(astronaut, frames, lambda t: (20 + 2.5 * (t % 100), 150, 200))
    zoom = _window_clip(coffee, frames, lambda t: (60 + 0.6 * t, 40 + 0.3 * t, 480 * 0.99**t))
    return {"pan": pan, "zoom": zoom}


def stabilised_change(frames, windows) -> float:
    """Mean |frame t+1 - frame t moved by the known motion| over the pixels both see."""
    import cv2
    import numpy as np

    changes = []
    for t in range(len(frames) - 1):
        (x0, y0, w0), (x1, y1, w1) = windows[t], windows[t + 1]
        scale0, scale1 = w0 / WIDTH, w1 / WIDTH
        px, py = np.meshgrid(np.arange(WIDTH, dtype=np.float32), np.arange(HEIGHT, dtype=np.float32))
        # Pixel (px, py) of frame t+1 sees photo point q; find q in frame t.
        qx, qy = x1 + (px + 0.5) * scale1 - 0.5, y1 + (py + 0.5) * scale1 - 0.5
        map_x, map_y = (qx - x0 + 0.5) / scale0 - 0.5, (qy - y0 + 0.5) / scale0 - 0.5
        inside = (map_x >= 0) & (map_x <= WIDTH - 1) & (map_y >= 0) & (map_y <= HEIGHT - 1)
        moved = cv2.remap(frames[t].astype(np.float32), map_x, map_y, cv2.INTER_LINEAR)
        diff = np.abs(frames[t + 1].astype(np.float32) - moved).mean(axis=-1)
        changes.append(float(diff[inside].mean()))
    return float(np.mean(changes))


def brightness_drift(dreams, inputs) -> float:
    import numpy as np

    lift = [float(d.astype(np.float32).mean() - i.astype(np.float32).mean()) for d, i in zip(dreams, inputs, strict=True)]
    window = max(1, min(10, len(lift) // 4))
    return float(np.mean(lift[-window:]) - np.mean(lift[:window]))


def main(argv: list[str] | None = None) -> int:
    from bench.machine import machine_info
    from transforms.dream import Dreamer, get_model_spec, get_preset
    from transforms.dream.sequence import dream_frames
    from transforms.dream.temporal import TemporalParams

    frames = int((argv or sys.argv[1:] or ["100"])[0])
    spec, preset = get_model_spec("vgg16"), get_preset("vgg16_jitter")
    dreamer = Dreamer(spec.build(None), preset.layers, spec.preprocessing, spec.min_input_size)
    params = dataclasses.replace(preset.params, octaves=2, iterations=5, seed=1)
    results: dict = {}
    for clip_name, (clip, windows) in clips(frames).items():
        dreamer.dream(clip[0], dataclasses.replace(params, iterations=1))  # trace once
        row = {"input_change": round(stabilised_change(clip, windows), 3)}
        # flow: the default (warm frames take half the steps); flow_same_steps isolates the
        # cost of the optical flow itself; none: every frame dreamed on its own.
        modes = {"flow": ("flow", None), "flow_same_steps": ("flow", params.iterations), "none": ("none", None)}
        for mode, (temporal, warm) in modes.items():
            started = time.perf_counter()
            dreamed = [f.result.image for f in dream_frames(dreamer, enumerate(clip), params, TemporalParams(temporal), warm)]
            seconds = time.perf_counter() - started
            row[mode] = {
                "frame_to_frame_change": round(stabilised_change(dreamed, windows), 3),
                "brightness_drift": round(brightness_drift(dreamed, clip), 3),
                "frames_per_second": round(len(clip) / seconds, 3),
            }
        row["flow_steadier_by"] = round(row["none"]["frame_to_frame_change"] / row["flow"]["frame_to_frame_change"], 2)
        row["flow_speed_vs_none"] = round(row["flow"]["frames_per_second"] / row["none"]["frames_per_second"], 3)
        row["flow_same_steps_speed_vs_none"] = round(
            row["flow_same_steps"]["frames_per_second"] / row["none"]["frames_per_second"], 3)
        results[clip_name] = row
        print(clip_name, json.dumps(row))
    report = {"machine": machine_info(), "model": "vgg16", "preset": "vgg16_jitter (octaves 2, iterations 5)",
              "frame_size": f"{WIDTH}x{HEIGHT}", "frames": frames, "blend": TemporalParams().blend,
              "clips": results}
    (ROOT / "bench" / "coherence.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
