"""--params_from: the settings stamped in a dream this program wrote, as the job's settings.

The stamp (transforms/settings_stamp.py) becomes what a params file would say (preset,
model, layers, guide, every loop setting) plus the loading settings (weights, pixel
convention, precision, XLA, format, quality, max_size). Options given on the command line
win over both. Errors are ValueErrors of one line: the launcher reports them as start errors.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from pipeline.options import DreamOptions
from transforms.dream.params import PRECISIONS, PREPROCESSING_NAMES
from transforms.dream.presets import DEFAULT_PRESET, OPTIONAL_SETTINGS, PARAM_NAMES, PRESETS
from transforms.imaging import FORMATS
from transforms.settings_stamp import StampError, read_stamp

# What a job uses when neither the command line nor a stamp says.
LOADING_DEFAULTS: dict[str, Any] = {"format": "png", "quality": 95, "precision": "float32", "jit": False,
                                    "max_size": None, "preprocessing": None, "weights": None}
_CHOICES = {"format": tuple(FORMATS), "precision": PRECISIONS, "preprocessing": (None, *PREPROCESSING_NAMES)}


@lru_cache(maxsize=4)
def read_stamped(uri: str, allow_private_urls: bool, max_bytes: int) -> dict[str, Any]:
    """The stamp of the file at `uri` (read once per launch)."""
    from transforms.fetch import InputTooLargeError, read_bytes

    try:
        data = read_bytes(uri, max_bytes, allow_private_urls=allow_private_urls)
    except FileNotFoundError:
        raise ValueError(f"--params_from {uri!r} does not exist") from None
    except InputTooLargeError:
        raise ValueError(f"--params_from {uri!r} is larger than --max_bytes ({max_bytes})") from None
    except OSError as exc:
        raise ValueError(f"--params_from {uri!r} cannot be read: {exc}") from None
    try:
        return read_stamp(data)
    except StampError as exc:
        raise ValueError(f"--params_from {uri!r}: {exc}") from None


def stamp_of(options: DreamOptions) -> dict[str, Any] | None:
    if not options.params_from:
        return None
    return read_stamped(options.params_from, options.allow_private_urls, options.max_bytes)


def stamped_settings(options: DreamOptions) -> dict[str, Any]:
    """The stamp as a params file's mapping: the preset it was made with, every setting given."""
    stamp = stamp_of(options)
    assert stamp is not None, "only with --params_from"
    _check_local_files(options, stamp, ("model", "guide", "mask"))
    settings: dict[str, Any] = {
        name: value for name, value in (stamp.get("params") or {}).items() if name in PARAM_NAMES
    }
    for key in ("model", "guide", *OPTIONAL_SETTINGS):
        settings[key] = stamp.get(key)
    if stamp.get("layers"):
        settings["layers"] = [_layer_text(term) for term in stamp["layers"]]
    name = stamp.get("preset")
    if not isinstance(name, str) or not name:
        raise ValueError(f"--params_from {options.params_from!r}: its stamp names no preset")
    if name not in PRESETS:  # a preset of the user's params file: its settings are all here
        settings["presets"] = {name: {"base": DEFAULT_PRESET}}
    settings["preset"] = name
    return {key: value for key, value in settings.items() if value is not None or key == "max_loss"}


def loading_setting(options: DreamOptions, name: str) -> Any:
    """A loading setting: the command line's, else the stamp's, else the default."""
    given = getattr(options, name, None)
    if given is not None:
        return given
    stamp = stamp_of(options)
    if stamp is None or name not in stamp:
        return LOADING_DEFAULTS[name]
    value = stamp[name]
    if name == "weights":
        _check_local_files(options, stamp, ("weights",))
        return None if value in (None, "default") else value
    if name in _CHOICES and value not in _CHOICES[name]:
        raise ValueError(f"--params_from {options.params_from!r}: unknown {name} {value!r} in its stamp")
    return value


def _check_local_files(options: DreamOptions, stamp: dict[str, Any], names: tuple[str, ...]) -> None:
    """A file of the machine that dreamed it is stamped by name only: ask for its path."""
    for name in names:
        if name in (stamp.get("local_files") or ()) and getattr(options, name, None) is None:
            raise ValueError(
                f"--params_from {options.params_from!r} was dreamed with the {name} file "
                f"{stamp.get(name)!r} of the machine that made it: give its path with --{name}"
            )


def _layer_text(term: Any) -> str:
    """A record's layer term as the layers setting spells it, the weight at full precision."""
    if isinstance(term, str):
        return term
    channels = term.get("channels")
    picked = f"[{','.join(str(c) for c in channels)}]" if channels is not None else ""
    return f"{term['name']}{picked}:{float(term['weight'])!r}"
