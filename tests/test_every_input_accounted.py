"""A hostile corpus: every input ends as exactly one dreamed image (or sequence) + record,
or one error."""
from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.run import run
from tests.conftest import read_jsonl
from tests.hostile_corpus import DREAMED, FAILED, build_corpus

FAST = ["--runner", "FnApiRunner", "--octaves", "1", "--iterations", "1"]


@pytest.fixture(scope="module")
def http_root(tmp_path_factory):
    """A loopback HTTP server with one image on it."""
    root = tmp_path_factory.mktemp("www")
    Image.new("RGB", (40, 40), (10, 120, 200)).save(root / "served.png")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def outcome(tmp_path_factory, http_root):
    corpus = tmp_path_factory.mktemp("corpus")
    expected = {str(corpus / rel): outcome for rel, outcome in build_corpus(corpus).items()}
    listed = {
        str(corpus / "listed_missing.jpg"): (FAILED, "read"),
        f"{http_root}/served.png": (DREAMED, None),
        f"{http_root}/absent.png": (FAILED, "read"),
        "http://127.0.0.1:9/unreachable.jpg": (FAILED, "read"),
        str(corpus / "a" / "same.png"): expected[str(corpus / "a" / "same.png")],  # also matched
    }
    manifest = corpus.parent / f"{corpus.name}-manifest.txt"
    manifest.write_text("# inputs by URI\n\n" + "\n".join(listed) + "\n\n")
    expected.update(listed)
    out = tmp_path_factory.mktemp("out")
    summary = run([f"--input={corpus}/**", f"--input_list={manifest}", f"--output={out}",
                   "--http_timeout=5", "--allow_private_urls", *FAST])
    return summary, expected, out


def test_each_input_is_accounted_for_exactly_once(outcome):
    summary, expected, out = outcome
    records = read_jsonl(out / "metadata.jsonl") + read_jsonl(out / "sequences.jsonl")
    errors = read_jsonl(out / "errors.jsonl")
    seen = [r["input_uri"] for r in records] + [e["uri"] for e in errors]
    assert sorted(seen) == sorted(expected), "an input is missing or counted twice"
    actual = {r["input_uri"]: (DREAMED, None) for r in records}
    actual.update({e["uri"]: (FAILED, e["stage"]) for e in errors})
    assert actual == expected
    assert (summary.inputs, summary.dreamed, summary.failed) == (
        len(expected), len(records), len(errors))


def test_errors_say_why(outcome):
    _, _, out = outcome
    errors = {Path(e["uri"]).name: e for e in read_jsonl(out / "errors.jsonl")}
    assert "max_pixels" in errors["bomb.png"]["message"]
    assert errors["empty.jpg"]["message"] == "file is empty"
    assert errors["strip.png"]["error_type"] == "ImageTooSmallError"
    assert "404" in errors["absent.png"]["message"]
    assert errors["listed_missing.jpg"]["error_type"] in ("FileNotFoundError", "BeamIOError", "IOError")
    for error in errors.values():
        assert error["message"] and error["error_type"]


def test_outputs_are_distinct_decodable_and_inside_the_output(outcome):
    _, _, out = outcome
    records = read_jsonl(out / "metadata.jsonl")
    outputs = [Path(r["output_uri"]).resolve() for r in records]
    assert len(set(outputs)) == len(outputs)
    for record, path in zip(records, outputs, strict=True):
        assert out.resolve() in path.parents
        with Image.open(path) as image:
            assert image.size == (record["width"], record["height"])
    names = {str(p.relative_to(out.resolve())) for p in outputs}
    assert {"a/same.png", "b/same.png", "spaced name ü.png"} <= names
    assert not list(out.rglob("*.tmp")) and not list(out.glob("beam-temp-*"))


def test_exif_rotation_and_animation(outcome):
    _, _, out = outcome
    by_name = {Path(r["input_uri"]).name: r for r in read_jsonl(out / "metadata.jsonl")}
    assert (by_name["rotated.jpg"]["width"], by_name["rotated.jpg"]["height"]) == (48, 64)
    assert by_name["I_16.png"]["input_mode"].startswith("I")
    # An animation is a sequence now: every frame dreamed, an animated GIF back.
    (animated,) = read_jsonl(out / "sequences.jsonl")
    assert Path(animated["input_uri"]).name == "animated.gif" and animated["input_container"] == "GIF"
    with Image.open(animated["output_uri"]) as image:
        assert image.format == "GIF" and image.n_frames == 2


def test_max_size_downscales_and_records_both_sizes(tmp_path):
    Image.fromarray(np.full((90, 120, 3), 128, np.uint8)).save(tmp_path / "big.png")
    out = tmp_path / "out"
    run([f"--input={tmp_path}/*.png", f"--output={out}", "--max_size=60", *FAST])
    (record,) = read_jsonl(out / "metadata.jsonl")
    assert (record["input_width"], record["input_height"]) == (120, 90)
    assert (record["width"], record["height"]) == (60, 45)
    assert Image.open(out / "big.png").size == (60, 45)
