"""The records the job writes: a line of metadata.jsonl per dream, of errors.jsonl per
failed input. No Beam here."""
from __future__ import annotations

import traceback
from typing import Any, Mapping

from transforms.elements import DreamedImage


def metadata_record(
    element: DreamedImage, output_uri: str, job: Mapping[str, Any], settings_key: str
) -> dict[str, Any]:
    """One line of metadata.jsonl."""
    decoded, result = element.decoded, element.result
    height, width = result.image.shape[:2]  # the input's, or the largest octave's (keep_upscaled)
    return {
        "input_uri": decoded.source.uri,
        "output_uri": output_uri,
        "input_format": decoded.source_format,
        "input_mode": decoded.source_mode,
        "input_width": decoded.source_width,
        "input_height": decoded.source_height,
        "width": width,  # as dreamed and written (smaller than the input after --max_size)
        "height": height,
        **job,
        "settings_key": settings_key,
        "octaves": result.octave_dicts(),
        "stopped_early": any(octave.stopped_early for octave in result.octaves),
        "final_loss": result.octaves[-1].losses[-1] if result.octaves[-1].losses else None,
        "dream_seconds": round(result.seconds, 3),
        "device": element.device,
        "worker": element.worker,
        "tile_size": result.tile_size,
        # With --channels auto:N: what each octave that picked chose, {layer: channels}.
        **({"picked_channels": result.picked_channels} if result.picked_channels else {}),
        # With class terms: the top-5 classes of the input and of the dream.
        **({"top_classes": result.top_classes} if result.top_classes else {}),
    }


def error_record(uri: str, stage: str, exc: BaseException) -> dict[str, Any]:
    """One line of errors.jsonl: which input, which stage, what went wrong."""
    return {
        "uri": uri,
        "stage": stage,
        "error_type": type(exc).__name__,
        "message": str(exc) or repr(exc),
        "traceback": "".join(traceback.format_exception_only(type(exc), exc)).strip(),
    }
