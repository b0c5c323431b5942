"""Sequences in: animated GIF/WebP/APNG, videos (PyAV, FFmpeg bundled in its wheels) and
folders of frames, probed without decoding every frame and read as a stream of frames.

`probe` says what a sequence is (frames, size, timing, audio) and refuses what the job will
not dream (no frames, more than max_frames); `read_frames` yields the frames of one range.
"""
from __future__ import annotations

import io
import re
from typing import Generator, Iterator, NamedTuple, Sequence

import numpy as np
from apache_beam.io.filesystems import FileSystems
from PIL import Image, ImageSequence

from transforms.fetch import is_local, read_bytes
from transforms.imaging import _to_rgb, decode_image, fit_within

VIDEO_EXTENSIONS = (".mp4", ".mov", ".webm", ".mkv", ".avi", ".m4v")


class SequenceError(ValueError):
    """A sequence this job will not dream: no frames, too many, or unreadable."""


class SequenceInfo(NamedTuple):
    kind: str  # "animation", "video", "folder" or "zoom" (made from a still)
    container: str  # GIF, WEBP, PNG, the video's container (mp4, mov, ...), "frames", or a zoom's format
    frame_count: int  # frames to dream, after frame_step
    width: int
    height: int
    fps: float | None = None  # videos (after frame_step)
    durations_ms: tuple[int, ...] = ()  # animations: each kept frame's display time
    loop: int | None = None  # animations: 0 = forever
    has_audio: bool = False
    frame_uris: tuple[str, ...] = ()  # folders: the frames, in natural order (all of them)


def is_video(uri: str) -> bool:
    return uri.lower().endswith(VIDEO_EXTENSIONS)


def natural_key(name: str) -> list:
    """'frame2' before 'frame10': digit runs compare as numbers."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def _check_count(count: int, uri: str, frame_step: int) -> int:
    kept = (count + frame_step - 1) // frame_step
    if kept == 0:
        raise SequenceError(f"{uri} has no frames")
    return kept


def _too_many(uri: str, max_frames: int, frame_step: int) -> SequenceError:
    return SequenceError(
        f"{uri} has more than {max_frames} frames to dream (at --frame_step {frame_step}); "
        "raise --max_frames or take every K-th frame with --frame_step K"
    )


def is_animation(data: bytes) -> bool:
    """Whether image bytes hold more than one frame (read up to the second frame only)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return bool(getattr(image, "is_animated", False))
    except Exception:  # not an image Pillow reads: the still path reports it
        return False


def probe_animation(uri: str, data: bytes, max_frames: int, frame_step: int) -> SequenceInfo:
    """Count frames one by one, stopping past max_frames (a header may claim any number)."""
    limit = max_frames * frame_step
    try:
        with Image.open(io.BytesIO(data)) as image:
            container, loop = image.format or "unknown", image.info.get("loop")
            width, height = image.size
            durations: list[int] = []
            for count, frame in enumerate(ImageSequence.Iterator(image)):
                if count >= limit:
                    raise _too_many(uri, max_frames, frame_step)
                if container == "WEBP":  # WebP sets a frame's duration when it is loaded
                    frame.load()
                durations.append(int(frame.info.get("duration", 100) or 100))
    except SequenceError:
        raise
    except Exception as exc:  # truncated or corrupt frame data
        raise SequenceError(f"{uri}: animation cannot be read: {type(exc).__name__}: {exc}") from exc
    kept = _check_count(len(durations), uri, frame_step)
    # A kept frame shows for as long as the frames it stands for did.
    shown = tuple(sum(durations[i:i + frame_step]) for i in range(0, len(durations), frame_step))
    return SequenceInfo("animation", container, kept, width, height, durations_ms=shown, loop=loop)


def _open_video(uri: str):
    import av  # PyAV: imported for videos only

    if is_local(uri):
        return av.open(uri)
    return av.open(FileSystems.open(uri))  # Beam's readers seek, as containers need


def probe_video(uri: str, max_frames: int, frame_step: int) -> SequenceInfo:
    import av

    limit = max_frames * frame_step
    try:
        with _open_video(uri) as container:
            if not container.streams.video:
                raise SequenceError(f"{uri} has no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            count = stream.frames
            if count == 0 or count > limit:  # unknown, or to be confirmed: count packets
                count = 0
                for packet in container.demux(stream):
                    if packet.size:
                        count += 1
                        if count > limit:
                            raise _too_many(uri, max_frames, frame_step)
            if count > limit:
                raise _too_many(uri, max_frames, frame_step)
            declared = round(container.duration / 1_000_000 * float(rate)) if container.duration and rate else 0
            if declared and count < declared - max(2, declared // 50):  # cut off: say what is there
                raise SequenceError(
                    f"{uri} is truncated: {count} of the {declared} frames its header declares "
                    "could be read"
                )
            width, height = stream.codec_context.width, stream.codec_context.height
            fps = float(rate) / frame_step if rate else None
            has_audio = bool(container.streams.audio)
            name = uri.rsplit(".", 1)[-1].lower()  # the format name is a list (mov,mp4,...)
    except SequenceError:
        raise
    except (av.error.FFmpegError, OSError) as exc:
        raise SequenceError(
            f"{uri}: video cannot be read ({type(exc).__name__}: {exc}); no frames could be read"
        ) from exc
    kept = _check_count(count, uri, frame_step)
    return SequenceInfo("video", name, kept, width, height, fps=fps, has_audio=has_audio)


def zoom_info(width: int, height: int, frames: int, zoom_format: str, fps: int) -> SequenceInfo:
    """What a zoom from a still (already within --max_size) will be."""
    if zoom_format == "webp":
        return SequenceInfo("zoom", "WEBP", frames, width, height, durations_ms=(1000 // fps,) * frames, loop=0)
    return SequenceInfo("zoom", "mp4", frames, width, height, fps=float(fps))


# Frames in a folder carry no rate: their MP4 plays them at this one (and the record says so).
FOLDER_FPS = 25


def probe_folder(folder: str, frame_uris: Sequence[str], max_frames: int, frame_step: int,
                 max_pixels: int) -> SequenceInfo:
    ordered = tuple(sorted(frame_uris, key=lambda uri: natural_key(uri.rsplit("/", 1)[-1])))
    if len(ordered) > max_frames * frame_step:
        raise _too_many(folder, max_frames, frame_step)
    kept = _check_count(len(ordered), folder, frame_step)
    first = decode_image(read_bytes(ordered[0]), max_pixels).rgb
    return SequenceInfo("folder", "frames", kept, first.shape[1], first.shape[0], fps=float(FOLDER_FPS),
                        frame_uris=ordered)


def read_frames(
    uri: str, info: SequenceInfo, start: int, stop: int, frame_step: int = 1,
    max_size: int | None = None, max_pixels: int = 40_000_000, data: bytes | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """(index, uint8 HxWx3) for kept frames start <= index < stop, in order, streamed.

    A frame that cannot be decoded ends the stream with SequenceError saying how many
    frames came before it.
    """
    if info.kind == "folder":
        for index in range(start, min(stop, info.frame_count)):
            data = read_bytes(info.frame_uris[index * frame_step])
            yield index, fit_within(decode_image(data, max_pixels, fit_to=max_size).rgb, max_size)
        return
    frames: Generator[tuple[int, np.ndarray], None, None] = (
        _animation_frames(uri, data) if info.kind == "animation" else _video_frames(uri))
    got = 0
    try:
        for raw_index, rgb in frames:
            got = raw_index + 1
            if raw_index % frame_step:
                continue
            index = raw_index // frame_step
            if index >= stop:
                return
            if index >= start:
                yield index, fit_within(rgb, max_size)
    except SequenceError:
        raise
    except Exception as exc:  # a frame the decoder gave up on: truncated or corrupt
        raise SequenceError(
            f"{uri}: frame {got} cannot be decoded ({type(exc).__name__}: {exc}); "
            f"{got} frames were read before it"
        ) from exc
    finally:
        frames.close()


def _animation_frames(uri: str, data: bytes | None) -> Generator[tuple[int, np.ndarray], None, None]:
    if data is None:
        data = read_bytes(uri)
    with Image.open(io.BytesIO(data)) as image:
        for index, frame in enumerate(ImageSequence.Iterator(image)):
            yield index, np.asarray(_to_rgb(frame.convert("RGBA") if frame.mode == "P" else frame), np.uint8)


def _video_frames(uri: str) -> Generator[tuple[int, np.ndarray], None, None]:
    with _open_video(uri) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for index, frame in enumerate(container.decode(stream)):
            yield index, frame.to_ndarray(format="rgb24")
