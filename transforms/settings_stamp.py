"""The settings stamped into every written file, and read back from one (--params_from).

A dream carries what made it, so that anyone holding the file can make it again: PNG (and
APNG) in an iTXt chunk, JPEG and WebP in XMP, GIF in its comment, MP4 in its comment tag.
A stamp holds the record's settings (preset, model, layers, guide, the complete loop
params, weights, precision, format, ...), the program's and TensorFlow's versions and the
settings key. Files of the launching machine (a local model, weights or guide) are stamped
by file name only: an image travels where the user's paths should not. No Beam here.
"""
from __future__ import annotations

import html
import io
import json
import re
from typing import Any, Mapping

from transforms.dream.presets import OPTIONAL_SETTINGS

STAMP_KEY = "beam-deepdream"  # the PNG chunk's keyword, the stamp's "program"
MAX_STAMP_BYTES = 16 * 1024  # a few hundred bytes usually; far below JPEG's 64 KiB XMP segment
# Settings that may name a file: stamped as its name alone when it is on the local disk.
FILE_SETTINGS = ("model", "weights", "guide", "mask")
# The record's fields a stamp repeats (the rest of a record describes the run, not the dream).
STAMPED_FIELDS = ("preset", "model", "weights", "layers", "guide", *OPTIONAL_SETTINGS, "params",
                  "pixel_units", "step_given",
                  "step_given_units", "precision", "format", "quality", "max_size", "sequence")
_XMP_NAMESPACE = "urn:beam-deepdream:settings:1"
_XMP_VALUE = re.compile(rb"<bdd:settings>(.*?)</bdd:settings>", re.DOTALL)


class StampError(ValueError):
    """A file holds no readable settings stamp."""


def program_versions() -> dict[str, str]:
    """This program's, TensorFlow's and Keras' versions, from the installed packages (no import)."""
    from importlib import metadata

    versions = {}
    for key, package in (("version", "beam-deepdream"), ("tensorflow", "tensorflow"), ("keras", "keras")):
        try:
            versions[key] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[key] = "unknown"
    return versions


def make_stamp(job: Mapping[str, Any], settings_key: str, loading: Mapping[str, Any],
               versions: Mapping[str, str]) -> dict[str, Any]:
    """What every file of one recipe carries (the input's URI is added per file).

    `job`: the record's settings (JobConfig.job_metadata); `loading`: how the model was
    loaded and run beyond the record (preprocessing, jit)."""
    stamp: dict[str, Any] = {"program": STAMP_KEY, **versions}
    stamp.update({name: job[name] for name in STAMPED_FIELDS if name in job})
    stamp.update(loading)
    local = [name for name in FILE_SETTINGS if _is_local_file(stamp.get(name))]
    for name in local:
        stamp[name] = _file_name(stamp[name])
    stamp["local_files"] = local
    stamp["settings_key"] = settings_key
    return stamp


def with_input_mask(stamp: Mapping[str, Any] | None, mask: str | None) -> Mapping[str, Any] | None:
    """The stamp of an input whose manifest row gave it its own mask."""
    if stamp is None or mask is None:
        return stamp
    local = _is_local_file(mask)
    files = [name for name in stamp.get("local_files", []) if name != "mask"] + (["mask"] if local else [])
    return {**stamp, "mask": _file_name(mask) if local else mask, "local_files": files}


def stamp_text(stamp: Mapping[str, Any] | None, input_uri: str, **more: Any) -> str | None:
    """The stamp of one file, as compact JSON; over MAX_STAMP_BYTES (a long channel list),
    only what says where the full settings are: the settings key (the record has them)."""
    if stamp is None:
        return None
    text = json.dumps({**stamp, "input_uri": input_uri, **more}, separators=(",", ":"))
    if len(text.encode("utf-8")) <= MAX_STAMP_BYTES:
        return text
    return json.dumps({"program": STAMP_KEY, "version": stamp.get("version"), "truncated": True,
                       "settings_key": stamp.get("settings_key")}, separators=(",", ":"))


def xmp_packet(text: str) -> bytes:
    """An XMP packet holding the stamp (JPEG and WebP keep their metadata there)."""
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
        f'xmlns:bdd="{_XMP_NAMESPACE}"><bdd:settings>{html.escape(text, quote=False)}</bdd:settings>'
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    ).encode()


def pillow_save_options(pillow_format: str, text: str | None) -> dict[str, Any]:
    """Pillow's save() arguments that put the stamp into a file of that format."""
    if text is None:
        return {}
    if pillow_format == "PNG":
        from PIL import PngImagePlugin

        info = PngImagePlugin.PngInfo()
        info.add_itxt(STAMP_KEY, text, zip=True)
        return {"pnginfo": info}
    if pillow_format in ("JPEG", "WEBP"):
        return {"xmp": xmp_packet(text)}
    if pillow_format == "GIF":
        return {"comment": text.encode("utf-8")}
    return {}


def read_stamp(data: bytes) -> dict[str, Any]:
    """The stamp of a file this program wrote (any of its image or video formats)."""
    text = _stamp_in_image(data)
    if text is None:
        text = _stamp_in_video(data)
    if not text:
        raise StampError("it holds no beam-deepdream settings (not written by beam-deepdream, or "
                         "its metadata was stripped)")
    try:
        stamp = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StampError(f"its beam-deepdream settings are not valid JSON: {exc}") from None
    if not isinstance(stamp, dict) or stamp.get("program") != STAMP_KEY:
        raise StampError("its metadata is not a beam-deepdream settings stamp")
    if stamp.get("truncated"):
        raise StampError(f"its settings were too long to stamp in full; the record with settings_key "
                         f"{stamp.get('settings_key')} holds them")
    return stamp


def _stamp_in_image(data: bytes) -> str | None:
    from PIL import Image

    try:
        image = Image.open(io.BytesIO(data))
    except Exception:  # not an image Pillow reads: perhaps a video
        return None
    info = image.info
    if isinstance(info.get(STAMP_KEY), str):
        return str(info[STAMP_KEY])
    xmp = info.get("xmp")
    if isinstance(xmp, (bytes, bytearray)):
        found = _XMP_VALUE.search(bytes(xmp))
        if found:
            return html.unescape(found.group(1).decode("utf-8"))
    comment = info.get("comment")
    if isinstance(comment, bytes) and comment.startswith(b"{"):
        return comment.decode("utf-8", errors="replace")
    return ""  # an image without a stamp: not worth opening as a video


def _stamp_in_video(data: bytes) -> str | None:
    import av

    try:
        with av.open(io.BytesIO(data)) as container:
            comment = container.metadata.get("comment")
    except Exception:  # not a video either
        return None
    return comment if isinstance(comment, str) and comment.startswith("{") else None


def _is_local_file(value: Any) -> bool:
    if not isinstance(value, str) or value in ("", "default"):
        return False
    return "://" not in value and ("/" in value or "\\" in value or value.endswith((".keras", ".h5")))


def _file_name(path: str) -> str:
    return re.split(r"[/\\]", path.rstrip("/\\"))[-1]
