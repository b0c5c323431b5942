"""The settings stamp at its edges: the versions it carries, its exact bytes, its size limit,
its PNG chunk, and which settings count as the launching machine's files. TF-free."""
from __future__ import annotations

import io
import json
import struct
import zlib
from importlib import metadata

import numpy as np
from PIL import Image

from transforms.settings_stamp import (
    MAX_STAMP_BYTES,
    STAMP_KEY,
    make_stamp,
    pillow_save_options,
    program_versions,
    stamp_text,
)


def test_program_versions_come_from_the_installed_packages(monkeypatch):
    installed = {"tensorflow": "2.99.1", "keras": "3.98.2"}

    def version(package: str) -> str:
        if package not in installed:
            raise metadata.PackageNotFoundError(package)
        return installed[package]

    monkeypatch.setattr(metadata, "version", version)
    assert program_versions() == {"version": "unknown", "tensorflow": "2.99.1", "keras": "3.98.2"}
    installed["beam-deepdream"] = "0.7.0"
    assert program_versions() == {"version": "0.7.0", "tensorflow": "2.99.1", "keras": "3.98.2"}


def test_a_stamp_is_compact_json_with_its_input_last():
    assert stamp_text(None, "in/a.png") is None
    text = stamp_text({"program": STAMP_KEY, "layers": [1, 2]}, "in/a.png", frame=3)
    assert text == '{"program":"beam-deepdream","layers":[1,2],"input_uri":"in/a.png","frame":3}'


def test_a_stamp_of_exactly_the_limit_is_kept_whole_and_one_byte_more_is_cut():
    stamp = {"program": STAMP_KEY, "version": "1.2.3", "settings_key": "k16", "pad": ""}
    room = MAX_STAMP_BYTES - len(stamp_text(stamp, "u").encode("utf-8"))
    whole = stamp_text({**stamp, "pad": "x" * room}, "u")
    assert len(whole.encode("utf-8")) == MAX_STAMP_BYTES and json.loads(whole)["pad"] == "x" * room
    cut = stamp_text({**stamp, "pad": "x" * (room + 1)}, "u")
    assert cut == '{"program":"beam-deepdream","version":"1.2.3","truncated":true,"settings_key":"k16"}'


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        chunks.append((data[at + 4 : at + 8], data[at + 8 : at + 8 + length]))
        at += 12 + length
    return chunks


def test_a_png_stamp_is_one_compressed_itxt_chunk_under_the_programs_keyword():
    text = json.dumps({"program": STAMP_KEY, "layers": ["conv3"] * 200})
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(buffer, "PNG", **pillow_save_options("PNG", text))
    (itxt,) = [body for kind, body in _png_chunks(buffer.getvalue()) if kind == b"iTXt"]
    keyword, rest = itxt.split(b"\0", 1)
    compressed, method = rest[0], rest[1]
    language, translated, payload = rest[2:].split(b"\0", 2)
    assert (keyword, compressed, method, language, translated) == (STAMP_KEY.encode(), 1, 0, b"", b"")
    assert zlib.decompress(payload).decode("utf-8") == text and len(payload) < len(text) // 4
    assert pillow_save_options("PNG", None) == {} and pillow_save_options("TIFF", text) == {}


def test_only_paths_of_the_launching_machine_are_stamped_by_name():
    job = {"model": "tiny.keras", "weights": "w.h5", "guide": "default", "mask": ""}
    stamp = make_stamp(job, "k", {}, {})
    assert (stamp["model"], stamp["weights"], stamp["guide"], stamp["mask"]) == ("tiny.keras", "w.h5", "default", "")
    assert stamp["local_files"] == ["model", "weights"]
    # A SavedModel folder given with its trailing slash is stamped by the folder's name.
    remote = {"model": "/home/me/exported/", "weights": "gs://b/w.h5", "guide": "vgg16", "mask": "C:\\m\\edge.png"}
    stamp = make_stamp(remote, "k", {}, {})
    assert (stamp["model"], stamp["weights"], stamp["guide"], stamp["mask"]) == ("exported", "gs://b/w.h5",
                                                                                  "vgg16", "edge.png")
    assert stamp["local_files"] == ["model", "mask"]
    assert make_stamp({"model": "C:\\models\\"}, "k", {}, {})["model"] == "models"
    assert make_stamp({"model": "/srv/MAX/"}, "k", {}, {})["model"] == "MAX"  # only slashes are stripped
