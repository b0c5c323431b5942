"""Sequences out: the dreamed frames encoded as the input was, into a local file.

Animations keep their container (GIF, WebP, APNG), frame durations and loop count. Videos
become H.264 MP4 (libx264, bundled in PyAV's wheels) at the input's frame rate and size,
with the input's audio track copied (or re-encoded to AAC where MP4 cannot hold it).
"""
from __future__ import annotations

from contextlib import ExitStack
from fractions import Fraction
from typing import Any, Iterable

import numpy as np
from PIL import Image

from transforms.frames import SequenceInfo, _open_video
from transforms.settings_stamp import pillow_save_options

# Audio codecs an MP4 holds as they are; others are re-encoded to AAC.
MP4_AUDIO = ("aac", "mp3", "alac", "ac3", "eac3", "opus", "flac")
VIDEO_CODEC, VIDEO_SUFFIX = "libx264", ".mp4"
ANIMATION_SUFFIX = {"GIF": ".gif", "WEBP": ".webp", "PNG": ".png"}


def is_animated_image(info: SequenceInfo) -> bool:
    """Written as an animated image (else as a video)."""
    return info.kind == "animation" or (info.kind == "zoom" and info.container == "WEBP")


def output_suffix(info: SequenceInfo) -> str:
    if is_animated_image(info):
        return ANIMATION_SUFFIX.get(info.container, ".webp")
    return VIDEO_SUFFIX  # videos, frame folders and zooms as mp4


def write_animation(frames: Iterable[np.ndarray], info: SequenceInfo, path: str, stamp: str | None = None) -> None:
    """Pillow keeps every frame until it writes (GIF palettes are chosen over all of them):
    animations are short, and --max_frames bounds them. `stamp`: the settings it carries."""
    images = [Image.fromarray(rgb, "RGB") for rgb in frames]
    pillow_format = info.container if info.container in ANIMATION_SUFFIX else "WEBP"
    options: dict = {"save_all": True, "append_images": images[1:], "duration": list(info.durations_ms)}
    if info.loop is not None:
        options["loop"] = info.loop
    if pillow_format == "WEBP":
        options["lossless"] = True
    options.update(pillow_save_options(pillow_format, stamp))
    images[0].save(path, pillow_format, **options)


def write_video(frames: Iterable[np.ndarray], info: SequenceInfo, source_uri: str | None, path: str,
                stamp: str | None = None) -> None:
    """Frames stream in and out: memory follows a frame. Odd sizes are kept (4:4:4 chroma:
    4:2:0 needs even sides). `stamp`: the settings it carries, in the MP4's comment tag."""
    import av

    fps = Fraction(info.fps or 25).limit_denominator(1001)
    with av.open(path, "w", format="mp4") as output, ExitStack() as sources:
        if stamp is not None:
            output.metadata["comment"] = stamp
        video: Any = output.add_stream(VIDEO_CODEC, rate=fps)
        video.width, video.height = info.width, info.height
        video.pix_fmt = "yuv420p" if info.width % 2 == 0 and info.height % 2 == 0 else "yuv444p"
        video.options = {"crf": "18", "preset": "medium"}
        audio = None
        if info.has_audio and source_uri is not None:  # every stream before the first packet
            source = sources.enter_context(_open_video(source_uri))
            audio = _AudioCopy(source, output)
        for rgb in frames:
            for packet in video.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                output.mux(packet)
        for packet in video.encode():
            output.mux(packet)
        if audio is not None:
            audio.copy()


class _AudioCopy:
    """The source's first audio track into `output`: packets as they are where MP4 holds the
    codec, else decoded and re-encoded to AAC."""

    def __init__(self, source, output) -> None:
        self._source, self._output = source, output
        self._in = source.streams.audio[0]
        self._as_is = self._in.codec_context.name in MP4_AUDIO
        if self._as_is:
            self._out = output.add_stream_from_template(self._in)
        else:
            self._out = output.add_stream("aac", rate=self._in.codec_context.sample_rate)

    def copy(self) -> None:
        if self._as_is:
            for packet in self._source.demux(self._in):
                if packet.dts is None:  # the demuxer's end-of-stream marker
                    continue
                packet.stream = self._out
                self._output.mux(packet)
            return
        for frame in self._source.decode(self._in):
            frame.pts = None
            for packet in self._out.encode(frame):
                self._output.mux(packet)
        for packet in self._out.encode():
            self._output.mux(packet)
