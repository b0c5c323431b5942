"""An HTML report over a job's output: before/after thumbnails, loss curves, errors.

    python -m pipeline.report OUT      # or: python -m pipeline ... --report

Pages of PAGE_SIZE images (report.html, report-2.html, ...) with thumbnails in
report_files/ loaded lazily, so a few thousand records stay quick to open. No scripts or
styles from elsewhere: the pages work offline.
"""
from __future__ import annotations

import html
import io
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from PIL import Image

from pipeline.report_sequences import sequence_card, sequence_thumbnails
from pipeline.result_files import ERRORS_FILE, METADATA_FILE, METADATA_PARQUET, SEQUENCES_FILE
from transforms.fetch import read_bytes
from transforms.imaging import decode_image
from transforms.write import write_atomically

PAGE_SIZE = 200
RESULT_FILES = (METADATA_FILE, METADATA_PARQUET, ERRORS_FILE, SEQUENCES_FILE)  # any one: a job wrote here
THUMB_SIZE = 160
FILES_DIR = "report_files"
_OCTAVE_COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02")


def load_jsonl(path: str) -> list[dict[str, Any]]:
    if not FileSystems.exists(path):
        return []
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return [json.loads(line) for line in f.read().decode("utf-8").splitlines() if line.strip()]


def thumbnail(uri: str, allow_private_urls: bool = False) -> bytes | None:
    """A small JPEG of the image at uri, or None if it cannot be read any more."""
    try:
        data = read_bytes(uri, allow_private_urls=allow_private_urls)
        image = Image.fromarray(decode_image(data, fit_to=THUMB_SIZE).rgb)  # a large JPEG decoded small
    except Exception:  # an input gone since the job ran shows as a placeholder
        return None
    image.thumbnail((THUMB_SIZE, THUMB_SIZE))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def loss_curve_svg(octaves: Sequence[dict[str, Any]], width: int = 320, height: int = 140) -> str:
    """Loss per step with axes (step, loss), octaves one after another, each in its own
    colour with a legend entry naming its size."""
    losses = [loss for octave in octaves for loss in octave["losses"]]
    if not losses:
        return f'<svg class="curve" width="{width}" height="{height}"></svg>'
    left, right, top, legend = 52, 8, 8, 16 * len(octaves)
    bottom = 30 + legend
    plot_w, plot_h = width - left - right, height - top - bottom + legend
    height += legend + 8  # room below the axis title for the legend
    low, high = min(losses), max(losses)
    span = (high - low) or 1.0
    x_step = plot_w / max(len(losses) - 1, 1)

    def x(step: int) -> float:
        return left + step * x_step

    def y(loss: float) -> float:
        return top + plot_h - (loss - low) / span * plot_h

    axis_y = top + plot_h
    parts = [
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{axis_y}" stroke="#444"/>',
        f'<line x1="{left}" y1="{axis_y}" x2="{left + plot_w}" y2="{axis_y}" stroke="#444"/>',
        f'<text x="{left - 4}" y="{top + 4}" text-anchor="end" font-size="10">{high:.4g}</text>',
        f'<text x="{left - 4}" y="{axis_y}" text-anchor="end" font-size="10">{low:.4g}</text>',
        f'<text x="{left}" y="{axis_y + 12}" font-size="10">1</text>',
        f'<text x="{left + plot_w}" y="{axis_y + 12}" text-anchor="end" font-size="10">{len(losses)}</text>',
        f'<text x="{left + plot_w / 2}" y="{axis_y + 24}" text-anchor="middle" font-size="11">step</text>',
        f'<text x="12" y="{top + plot_h / 2}" font-size="11" transform="rotate(-90 12 {top + plot_h / 2})"'
        ' text-anchor="middle">loss</text>',
    ]
    start = 0
    for row, octave in enumerate(octaves):
        points = " ".join(f"{x(start + i):.1f},{y(loss):.1f}" for i, loss in enumerate(octave["losses"]))
        colour = _OCTAVE_COLOURS[octave["index"] % len(_OCTAVE_COLOURS)]
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{points}"/>')
        key_y = axis_y + 40 + 16 * row
        parts.append(f'<line x1="{left}" y1="{key_y - 4}" x2="{left + 16}" y2="{key_y - 4}" '
                     f'stroke="{colour}" stroke-width="3"/>')
        parts.append(f'<text class="legend" x="{left + 22}" y="{key_y}" font-size="10">octave '
                     f'{octave["index"]} ({octave["width"]}x{octave["height"]}, {octave["steps_run"]} steps)</text>')
        start += len(octave["losses"])
    title = f"loss {low:.4g} to {high:.4g} over {len(losses)} steps, {len(octaves)} octaves"
    return (f'<svg class="curve" width="{width}" height="{height}" role="img">'
            f"<title>{html.escape(title)}</title>{''.join(parts)}</svg>")


def settings_table(record: dict[str, Any]) -> str:
    """The job's settings as rows of name and value (the loop settings one per row)."""
    rows = [(key, record.get(key)) for key in ("preset", "model", "weights", "pixel_units", "guide",
                                              "precision", "format", "quality", "max_size")]
    # Controls a job sets only when asked: shown only then.
    rows += [(key, record[key]) for key in ("mask", "mask_feather", "channels", "channel_capture",
                                            "parameterization", "init") if key in record]
    rows.append(("layers", ", ".join(
        f"{term['name']}{term['channels'] or ''}:{term['weight']:g}" for term in record.get("layers", []))))
    rows += sorted((f"params.{key}", value) for key, value in record.get("params", {}).items())
    cells = "".join(f"<tr><th>{html.escape(name)}</th><td>{html.escape(str(value))}</td></tr>"
                    for name, value in rows)
    return f'<table class="settings">{cells}</table>'


_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid #ccc;border-radius:6px;padding:8px;width:350px}
.settings th{text-align:left;font-weight:500;background:#f6f6f6}
.card img{width:160px;height:auto;background:#eee;min-height:40px}
.frames img{width:104px}
.name{font-weight:600;word-break:break-all} .small{font-size:12px;color:#555}
table{border-collapse:collapse} td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}
"""

# Tells a headless browser (and a curious reader) how many thumbnails actually loaded.
_LOADED_SCRIPT = """
window.addEventListener('load', () => {
  const imgs = [...document.querySelectorAll('img')];
  document.body.dataset.imagesLoaded = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.dataset.imagesTotal = imgs.length;
});
"""


def link_from_report(uri: str, output_dir: str) -> str | None:
    """A link a browser can follow from the report page: relative inside the output, the URL
    itself for http(s) inputs, a file:// URL for other local files; None for bucket URIs."""
    if uri.startswith(output_dir.rstrip("/") + "/"):
        return uri[len(output_dir.rstrip("/")) + 1:]
    if uri.lower().startswith(("http://", "https://")):
        return uri
    if FileSystems.get_scheme(uri) in (None, "file"):
        return Path(uri).resolve().as_uri()
    return None


def _card(record: dict[str, Any], before: str | None, after: str | None, output_dir: str) -> str:
    def img(src: str | None, alt: str, full: str) -> str:
        if src is None:
            return f'<span class="small">({alt} unavailable)</span>'
        tag = f'<img loading="lazy" src="{html.escape(src)}" alt="{alt}">'
        href = link_from_report(full, output_dir)
        return f'<a href="{html.escape(href)}" title="full size">{tag}</a>' if href else tag

    final = record.get("final_loss")
    return (
        '<div class="card">'
        f'<div class="name">{html.escape(record["input_uri"])}</div>'
        f"<div>{img(before, 'before', record['input_uri'])} {img(after, 'after', record['output_uri'])}</div>"
        f"{loss_curve_svg(record['octaves'])}"
        f'<div class="small">{record["width"]}x{record["height"]} · {html.escape(record["model"])}'
        f" · final loss {final if final is None else f'{final:.4g}'}"
        f" · {record['dream_seconds']} s on {html.escape(record.get('device', '?'))}</div>"
        f"{_controls_line(record)}</div>"
    )


def _controls_line(record: dict[str, Any]) -> str:
    """What the classifier saw before and after (class terms), and the channels picked."""
    parts = []
    tops = record.get("top_classes")
    if tops:
        def named(entries: list[dict]) -> str:
            return ", ".join(f"{e.get('name', e['class'])} {e['score']:.3g}" for e in entries[:3])
        parts.append(f"top classes: input {named(tops['input'])} → dream {named(tops['dream'])}")
    if record.get("picked_channels"):
        first = record["picked_channels"][0]
        parts.append("picked channels: " + "; ".join(f"{layer} {channels}" for layer, channels in first.items()))
    return "".join(f'<div class="small">{html.escape(part)}</div>' for part in parts)


def _errors_table(errors: list[dict[str, Any]]) -> str:
    if not errors:
        return "<p>No errors.</p>"
    rows = "".join(
        f"<tr><td>{html.escape(e['uri'])}</td><td>{html.escape(e['stage'])}</td>"
        f"<td>{html.escape(e['error_type'])}</td><td>{html.escape(e['message'])}</td></tr>"
        for e in errors
    )
    return f"<table><tr><th>input</th><th>stage</th><th>error</th><th>message</th></tr>{rows}</table>"


def _page_name(page: int) -> str:
    return "report.html" if page == 1 else f"report-{page}.html"


def write_report(output_dir: str, allow_private_urls: bool = False) -> str:
    """Write the report pages under output_dir; returns the first page's path. URL inputs
    are fetched for thumbnails under the job's URL rules."""
    records = sorted(load_jsonl(FileSystems.join(output_dir, "metadata.jsonl")),
                     key=lambda r: r["input_uri"])
    errors = load_jsonl(FileSystems.join(output_dir, "errors.jsonl"))
    sequences = _sequence_cards(output_dir)
    pages = max(1, -(-len(records) // PAGE_SIZE))
    settings = records[0] if records else {}
    for page in range(1, pages + 1):
        cards = []
        for i, record in enumerate(records[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]):
            index = (page - 1) * PAGE_SIZE + i
            sources = {}
            for side, uri in (("in", record["input_uri"]), ("out", record["output_uri"])):
                data = thumbnail(uri, allow_private_urls)
                name = f"{FILES_DIR}/{index}-{side}.jpg"
                if data is not None:
                    write_atomically(FileSystems.join(output_dir, name), data, output_dir)
                sources[side] = name if data is not None else None
            cards.append(_card(record, sources["in"], sources["out"], output_dir))
        nav = " ".join(
            f"<b>{p}</b>" if p == page else f'<a href="{_page_name(p)}">{p}</a>'
            for p in range(1, pages + 1)
        )
        body = (
            f"<h1>beam-deepdream report</h1><p>{len(records)} images and {len(sequences)} sequences "
            f"dreamed, {len(errors)} failed · "
            f"preset {html.escape(str(settings.get('preset', '-')))}, model "
            f"{html.escape(str(settings.get('model', '-')))}</p>"
            + (f"<details><summary>Settings (click to show)</summary>{settings_table(settings)}</details>"
               if settings else "")
            + f"<p>Pages: {nav}</p>"
            + (f"<h2>Errors</h2>{_errors_table(errors)}" if page == 1 else "")
            + (f'<h2>Sequences</h2><div class="cards">{"".join(sequences)}</div>' if page == 1 and sequences else "")
            + f'<h2>Images</h2><div class="cards">{"".join(cards)}</div>'
        )
        document = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f"<title>beam-deepdream report</title><style>{_STYLE}</style>"
            f"<script>{_LOADED_SCRIPT}</script></head><body>{body}</body></html>"
        )
        write_atomically(FileSystems.join(output_dir, _page_name(page)), document.encode("utf-8"), output_dir)
    return FileSystems.join(output_dir, _page_name(1))


def _sequence_cards(output_dir: str) -> list[str]:
    """One card per sequence record, its frames and preview written to report_files/."""
    cards = []
    records = sorted(load_jsonl(FileSystems.join(output_dir, "sequences.jsonl")), key=lambda r: r["input_uri"])
    for index, record in enumerate(records):
        sources = {}
        for key, data in sequence_thumbnails(record["output_uri"], THUMB_SIZE).items():
            name = f"{FILES_DIR}/seq-{index}-{key}.{'webp' if key == 'preview' else 'jpg'}"
            write_atomically(FileSystems.join(output_dir, name), data, output_dir)
            sources[key] = name
        cards.append(sequence_card(record, sources, link_from_report(record["output_uri"], output_dir)))
    return cards


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m pipeline.report OUTPUT_DIR [storage options]`: the storage options are the
    job's own (e.g. --s3_endpoint_url ..., --project ...), so an output in a bucket works."""
    from apache_beam.options.pipeline_options import PipelineOptions

    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0].startswith("-"):
        print("usage: python -m pipeline.report OUTPUT_DIR [--allow_private_urls] [storage options]",
              file=sys.stderr)
        return 2
    allow_private_urls = "--allow_private_urls" in args
    FileSystems.set_options(PipelineOptions([a for a in args[1:] if a != "--allow_private_urls"]))
    output = args[0]
    if not any(FileSystems.exists(FileSystems.join(output, name)) for name in RESULT_FILES):
        # A mistyped folder would get an empty report, and the folder made for it.
        print(f"beam-deepdream: error: {output!r} holds no job's results (no {', '.join(RESULT_FILES)}): "
              "give the --output of a job", file=sys.stderr)
        return 2
    print(write_report(output, allow_private_urls))
    return 0


if __name__ == "__main__":
    sys.exit(main())
