"""The fixed Parquet schema of metadata records, and the mapping from a JSON record to it.

Nested, not flattened: per-octave loss traces stay lists inside one row, which pandas
(pyarrow engine) and BigQuery (REPEATED RECORD) load without hand work. Layers are a list
of {name, channels, weight} in both forms.
"""
from __future__ import annotations

from typing import Any

import pyarrow as pa

from transforms.dream.presets import OPTIONAL_SETTINGS

OCTAVE = pa.struct([
    ("index", pa.int32()),
    ("height", pa.int32()),
    ("width", pa.int32()),
    ("losses", pa.list_(pa.float64())),
    ("steps_run", pa.int32()),
    ("stopped_early", pa.bool_()),
    ("effective_step", pa.float64()),
    ("seconds", pa.float64()),
])

METADATA_SCHEMA = pa.schema([
    ("input_uri", pa.string()),
    ("output_uri", pa.string()),
    ("input_format", pa.string()),
    ("input_mode", pa.string()),
    ("input_width", pa.int32()),
    ("input_height", pa.int32()),
    ("width", pa.int32()),
    ("height", pa.int32()),
    ("preset", pa.string()),
    ("model", pa.string()),
    ("weights", pa.string()),
    ("layers", pa.list_(pa.struct([
        ("name", pa.string()),
        ("channels", pa.list_(pa.int32())),
        ("weight", pa.float64()),
    ]))),
    ("guide", pa.string()),
    ("mask", pa.string()),
    ("mask_feather", pa.float64()),
    ("channels", pa.string()),
    ("channel_capture", pa.string()),
    ("parameterization", pa.string()),
    ("init", pa.string()),
    ("params", pa.struct([
        ("octaves", pa.int32()),
        ("octave_scale", pa.float64()),
        ("iterations", pa.int32()),
        ("step", pa.float64()),
        ("max_loss", pa.float64()),
        ("grad_norm", pa.string()),
        ("clip_min", pa.float64()),
        ("clip_max", pa.float64()),
        ("clip_norm", pa.float64()),
        ("step_mode", pa.string()),
        ("jitter", pa.int32()),
        ("tile_size", pa.int32()),
        ("seed", pa.int64()),
        ("min_octave_size", pa.int32()),
        ("lap_levels", pa.int32()),
        ("grad_blur", pa.float64()),
        ("tv_weight", pa.float64()),
        ("objective", pa.string()),
        ("upscale_octaves", pa.int32()),
        ("keep_upscaled", pa.bool_()),
        ("random_scale_min", pa.float64()),
        ("random_scale_max", pa.float64()),
        ("random_rotate", pa.float64()),
        ("grad_eps", pa.float64()),
        ("activation_border", pa.int32()),
        ("reinject_detail", pa.bool_()),
        ("clip_pixels", pa.bool_()),
        ("tile_grid", pa.string()),
        ("octave_sizes", pa.string()),
    ])),
    ("pixel_units", pa.string()),
    ("step_given", pa.float64()),
    ("step_given_units", pa.string()),
    ("grad_norm", pa.string()),
    ("precision", pa.string()),
    ("format", pa.string()),
    ("quality", pa.int32()),
    ("max_size", pa.int32()),
    ("settings_key", pa.string()),
    ("octaves", pa.list_(OCTAVE)),
    ("stopped_early", pa.bool_()),
    ("final_loss", pa.float64()),
    ("dream_seconds", pa.float64()),
    ("device", pa.string()),
    ("worker", pa.string()),
    ("tile_size", pa.int32()),
])


def to_parquet_row(record: dict[str, Any]) -> dict[str, Any]:
    return {name: record.get(name) for name in METADATA_SCHEMA.names}


def from_parquet_row(row: dict[str, Any]) -> dict[str, Any]:
    """Inverse of to_parquet_row: the record as metadata.jsonl holds it (picked channels and
    top classes, nested per octave and per input, are in metadata.jsonl alone)."""
    return {name: value for name, value in row.items() if not (name in OPTIONAL_SETTINGS and value is None)}
