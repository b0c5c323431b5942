"""Small real media for the sequence tests: a textured scene panned by a known shift per
frame, written as a video (H.264, with a sine-tone AAC track if asked), an animated image or
a folder of frames."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image


def scene(frame: int, width: int = 96, height: int = 64, shift: int = 2) -> np.ndarray:
    """A smooth random texture seen through a window moving `shift` pixels per frame."""
    rng = np.random.default_rng(0)
    wide = width + shift * 200
    coarse = rng.integers(0, 256, (height // 4 + 1, wide // 4 + 1, 3), dtype=np.uint8)
    texture = np.asarray(Image.fromarray(coarse).resize((wide, height), Image.Resampling.BILINEAR))
    return np.ascontiguousarray(texture[:, frame * shift : frame * shift + width])


def write_video(path: Path, frames: int = 12, fps: int = 12, audio: bool = True,
                width: int = 96, height: int = 64) -> Path:
    import av

    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = out.add_stream("aac", rate=44100) if audio else None
        for i in range(frames):
            for packet in video.encode(av.VideoFrame.from_ndarray(scene(i, width, height), format="rgb24")):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if sound is not None:
            t = np.arange(int(44100 * frames / fps)) / 44100
            tone = av.AudioFrame.from_ndarray((0.2 * np.sin(2 * math.pi * 440 * t)).astype(np.float32)[None],
                                              format="fltp", layout="mono")
            tone.sample_rate = 44100
            for packet in [*sound.encode(tone), *sound.encode()]:
                out.mux(packet)
    return path


def write_animation(path: Path, durations: list[int], loop: int = 0) -> Path:
    frames = [Image.fromarray(scene(i)) for i in range(len(durations))]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations, loop=loop)
    return path


def write_frames(folder: Path, names: list[str]) -> Path:
    """Frame i of the scene saved under names[i]."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.fromarray(scene(i)).save(folder / name)
    return folder
