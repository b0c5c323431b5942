"""Output names derived from input URIs: readable, unique, and always inside the output.

No Beam here. The name is the input's path relative to the fixed (non-glob) prefix of the
pattern that matched it, with unsafe characters replaced; when sanitising changed the path,
a short hash of the full URI keeps two inputs from landing on one name.
"""
from __future__ import annotations

import hashlib
import os
import posixpath
import re
import unicodedata

_GLOB_CHARS = "*?[{"
# Keep letters and digits of any script, and a few punctuation marks; everything else -> "_".
_UNSAFE = re.compile(r"[^\w.\-+=@, ]", re.UNICODE)
# Bytes, not characters: with a URI hash (9), two (18), the longest extension (5) and
# write_atomically's temporary suffix (31), a name stays within the 255-byte limit of
# common filesystems.
_MAX_COMPONENT_BYTES = 180
# Names the job writes end so; a folder named so could collide with an output file
# ('b.jpg' -> b.png beside 'b.png/c.png' -> b.png/c.png), so such folders get a '_'.
OUTPUT_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".json")
# Beam's sink temporaries at the top of the output, removed by start-up cleanup.
_RESERVED_TOP = "beam-temp-"
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def has_scheme(uri: str) -> bool:
    """gs://..., s3://..., http://...: not a path on this machine."""
    return bool(_SCHEME.match(uri))


def normalize_local(uri: str) -> str:
    """'in/./a.png' and 'in//a.png' are 'in/a.png': one input, dreamed once. URIs with a
    scheme (gs://, s3://, http://) are kept as given."""
    return uri if _SCHEME.match(uri) else os.path.normpath(uri)


def glob_prefix(pattern: str) -> str:
    """The directory part of a pattern before its first glob character ('' if none)."""
    cut = min((i for i, ch in enumerate(pattern) if ch in _GLOB_CHARS), default=len(pattern))
    head = pattern[:cut].replace("\\", "/")
    return head[: head.rfind("/") + 1]


def short_hash(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def _clean_component(component: str) -> str:
    component = unicodedata.normalize("NFC", component)
    component = "".join(ch for ch in component if unicodedata.category(ch)[0] != "C")
    component = _UNSAFE.sub("_", component).strip(" .")
    return component.encode("utf-8")[:_MAX_COMPONENT_BYTES].decode("utf-8", "ignore")


def _folder_component(component: str) -> str:
    """A folder name that can be neither an output file's name nor a sink temporary."""
    if component.lower().endswith(OUTPUT_SUFFIXES):
        component += "_"
    return component


def output_stem(uri: str, prefix: str = "", folder: bool = False) -> str:
    """Relative output path without extension, e.g. 'cats/tabby' for '/in/cats/tabby.jpg'
    (a `folder`, a sequence of frames, keeps its whole name: 'shot.2' stays 'shot.2').

    The result never starts with '/', never contains '..' or empty components, and never
    ends up outside the output directory it is joined to.
    """
    relative = uri[len(prefix) :] if prefix and uri.startswith(prefix) else uri
    relative = relative.rstrip("/") if folder else posixpath.splitext(relative)[0]
    without_scheme = _SCHEME.sub("", relative).replace("\\", "/")
    parts = [_clean_component(part) for part in without_scheme.split("/")]
    parts = [part for part in parts if part and part != ".."] or ["image"]
    parts = [_folder_component(part) for part in parts[:-1]] + parts[-1:]
    if parts[0].startswith(_RESERVED_TOP):
        parts[0] = "_" + parts[0]
    stem = "/".join(parts)
    # Sanitising can map two inputs to one name; the URI's hash keeps them apart.
    return stem if stem == relative else f"{stem}-{short_hash(uri)}"


def listed_stem(uri: str) -> str:
    """Name for an input listed by URI (manifest line, URL): readable basename + URI hash.

    Listed inputs share no pattern prefix, so their paths are not kept; the hash keeps
    same-named files from different places apart.
    """
    path = re.sub(r"[?#].*$", "", uri).rstrip("/")
    base = _clean_component(posixpath.splitext(posixpath.basename(path.replace("\\", "/")))[0])
    base = base or "image"
    if base.startswith(_RESERVED_TOP):
        base = "_" + base
    return f"{base}-{short_hash(uri)}"


def disambiguate(stem: str, uris: list[str]) -> list[tuple[str, str]]:
    """(uri, stem) for inputs that claimed one output name: alone it keeps it, else each
    gets its URI's hash appended. The same URI twice is one input."""
    unique = sorted(set(uris))
    if len(unique) == 1:
        return [(unique[0], stem)]
    return [(uri, f"{stem}-{short_hash(uri)}") for uri in unique]
