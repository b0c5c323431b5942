"""The report's view of a dreamed sequence: its first, middle and last frames and a small
animated preview, made from the written output (video or animation) as a stream."""
from __future__ import annotations

import html
import io
from typing import Any

import numpy as np
from PIL import Image

from transforms.fetch import read_bytes
from transforms.frames import is_video, probe_animation, probe_video, read_frames

PREVIEW_FRAMES = 48  # at most, evenly spread
PREVIEW_MS = 100


def _small(rgb: np.ndarray, size: int) -> Image.Image:
    image = Image.fromarray(rgb)
    image.thumbnail((size, size))
    return image


def sequence_thumbnails(output_uri: str, size: int) -> dict[str, bytes]:
    """{'first'|'middle'|'last': JPEG bytes, 'preview': animated WebP bytes} of the
    sequence at output_uri; {} if it cannot be read any more."""
    try:
        if is_video(output_uri):
            info, data = probe_video(output_uri, 10**6, 1), None
        else:
            data = read_bytes(output_uri)
            info = probe_animation(output_uri, data, 10**6, 1)
        count = info.frame_count
        picks = {0: "first", count // 2: "middle", count - 1: "last"}
        every = max(1, -(-count // PREVIEW_FRAMES))
        stills: dict[str, bytes] = {}
        preview: list[Image.Image] = []
        for index, rgb in read_frames(output_uri, info, 0, count, data=data):
            if index in picks:
                buffer = io.BytesIO()
                _small(rgb, size).save(buffer, "JPEG", quality=85)
                stills[picks[index]] = buffer.getvalue()
            if index % every == 0:
                preview.append(_small(rgb, size))
    except Exception:  # an output gone or damaged since the job ran shows as a placeholder
        return {}
    buffer = io.BytesIO()
    preview[0].save(buffer, "WEBP", save_all=True, append_images=preview[1:], duration=PREVIEW_MS,
                    loop=0, quality=75)
    return {**stills, "preview": buffer.getvalue()}


def sequence_card(record: dict[str, Any], sources: dict[str, str], link: str | None) -> str:
    """A card: the animated preview, then first / middle / last frames, and the figures."""
    def img(key: str, alt: str) -> str:
        src = sources.get(key)
        if src is None:
            return f'<span class="small">({alt} unavailable)</span>'
        return f'<img loading="lazy" src="{html.escape(src)}" alt="{alt}">'

    preview = img("preview", "animated preview")
    if link:
        preview = f'<a href="{html.escape(link)}" title="the dreamed sequence">{preview}</a>'
    fps = f"{record['fps']:g} fps" if record.get("fps") else "animation"
    return (
        '<div class="card">'
        f'<div class="name">{html.escape(record["input_uri"])}</div>'
        f"<div>{preview}</div>"
        f'<div class="frames">{img("first", "first frame")} {img("middle", "middle frame")} {img("last", "last frame")}</div>'
        f'<div class="small">{record["frames"]} frames · {fps} · {record["segments"]} segments '
        f'({record["segments_resumed"]} resumed) · change between frames {record["mean_change_between_frames"]} '
        f'levels · {record["dream_seconds"]} s dreaming on {html.escape(str(record.get("device", "?")))}</div></div>'
    )
