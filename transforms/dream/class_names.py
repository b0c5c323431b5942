"""Class terms by number or ImageNet name, and the top classes a record names. TF-free:
the command line resolves `--class tabby` before TensorFlow loads (Keras is imported only
to fetch its ImageNet class index, once, into its cache)."""
from __future__ import annotations

import contextlib
import difflib
import json
import sys
from functools import lru_cache
from typing import Callable, Sequence

CLASS_TERM = "class"  # the objective term `class[281,1]:W`
# Keras' ImageNet class index, as keras.applications' decode_predictions fetches it.
IMAGENET_CLASS_INDEX_URL = (
    "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json"
)
IMAGENET_CLASS_INDEX_HASH = "c2c37ea517e94d9795004a39431a14cb"


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet class names by index, from Keras' class index (downloaded once,
    cached under ~/.keras/models)."""
    import keras

    try:
        # Keras says "Downloading data from ..." on stdout: stderr keeps a listing clean.
        with contextlib.redirect_stdout(sys.stderr):
            path = keras.utils.get_file(
                "imagenet_class_index.json", IMAGENET_CLASS_INDEX_URL, cache_subdir="models",
                file_hash=IMAGENET_CLASS_INDEX_HASH,
            )
    except Exception as exc:  # offline, refused: every way means "not available"
        raise ValueError(
            f"ImageNet class names need Keras' class index, which could not be downloaded "
            f"({type(exc).__name__}); give class numbers instead, e.g. --class 281"
        ) from None
    with open(path, encoding="utf-8") as f:
        index = json.load(f)
    return [index[str(i)][1] for i in range(len(index))]


@lru_cache(maxsize=1)
def _imagenet_names_or_none() -> tuple[str, ...] | None:
    try:
        return tuple(imagenet_class_names())
    except ValueError:  # offline: records give class numbers alone
        return None


def class_names_for(class_count: int) -> Sequence[str] | None:
    """Names for a 1000-class (ImageNet) head where Keras' index is to be had, else None."""
    return _imagenet_names_or_none() if class_count == 1000 else None


def resolve_classes(text: str, names: Callable[[], list[str]] = imagenet_class_names) -> tuple[int, ...]:
    """'tabby,goldfish' or '281,1' (or both mixed) -> class numbers; names need `names()`."""
    tokens = [token.strip() for token in text.split(",") if token.strip()]
    if not tokens:
        raise ValueError("--class names no class; e.g. --class tabby or --class 281")
    if all(token.isdigit() for token in tokens):
        return tuple(int(token) for token in tokens)
    known = names()
    by_name = {name.lower().replace(" ", "_"): i for i, name in enumerate(known)}
    classes = []
    for token in tokens:
        if token.isdigit():
            classes.append(int(token))
            continue
        key = token.lower().replace(" ", "_")
        if key not in by_name:
            close = difflib.get_close_matches(key, list(by_name), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else "; see --list_classes"
            raise ValueError(f"unknown class {token!r}{hint}")
        classes.append(by_name[key])
    return tuple(classes)


def top_classes(scores: Sequence[float], count: int = 5, names: Sequence[str] | None = None) -> list[dict]:
    """The `count` highest-scoring classes: [{class, score[, name]}], best first."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])[:count]
    return [{"class": i, "score": round(float(scores[i]), 4), **({"name": names[i]} if names else {})}
            for i in order]
