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

# With --channels auto:N: per octave it picked at, {layer: channels} as (layer, channels) rows.
PICKED = pa.list_(pa.list_(pa.struct([("layer", pa.string()), ("channels", pa.list_(pa.int32()))])))
# With class terms: the top classes of the input and of the dream.
TOP_CLASS = pa.list_(pa.struct([("class", pa.int32()), ("score", pa.float64()), ("name", pa.string())]))

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
    ("picked_channels", PICKED),
    ("top_classes", pa.struct([("input", TOP_CLASS), ("dream", TOP_CLASS)])),
])
# Held by a record only when set; their columns are null otherwise and dropped on reading.
_ONLY_WHEN_SET = (*OPTIONAL_SETTINGS, "picked_channels", "top_classes")


def to_parquet_row(record: dict[str, Any]) -> dict[str, Any]:
    row = {name: record.get(name) for name in METADATA_SCHEMA.names}
    if row["picked_channels"] is not None:
        row["picked_channels"] = [[{"layer": layer, "channels": channels} for layer, channels in picks.items()]
                                  for picks in row["picked_channels"]]
    return row


def from_parquet_row(row: dict[str, Any]) -> dict[str, Any]:
    """Inverse of to_parquet_row: the record as metadata.jsonl holds it."""
    record = {name: value for name, value in row.items() if not (name in _ONLY_WHEN_SET and value is None)}
    if "picked_channels" in record:
        record["picked_channels"] = [{pick["layer"]: pick["channels"] for pick in picks}
                                     for picks in record["picked_channels"]]
    if "top_classes" in record:  # a class without a name (a .keras head's) has none in JSON either
        record["top_classes"] = {side: [{k: v for k, v in top.items() if not (k == "name" and v is None)}
                                        for top in tops] for side, tops in record["top_classes"].items()}
    return record
