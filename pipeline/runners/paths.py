"""Local paths, settled at launch: workers started elsewhere (a worker pool, another
folder, another machine) must not resolve them against their own working folder."""
from __future__ import annotations

import os

from pipeline.config import ConfigError
from pipeline.options import DreamOptions
from transforms.fetch import is_local

# Options that name files or folders the workers read or write.
PATH_OPTIONS = ("input", "input_list", "sequence", "output", "weights", "guide", "mask", "model",
                "params", "params_from")
# Read by the launcher alone (resolved into the job's settings there).
LAUNCHER_ONLY = ("params", "params_from")


def names_a_file(option: str, value: str) -> bool:
    """--model is a name (vgg16) or a file (my.keras); the other options are always paths."""
    if option != "model":
        return True
    return value.endswith((".keras", ".h5")) or "/" in value or os.sep in value


def local_paths(options: DreamOptions) -> list[tuple[str, str]]:
    """(option, value) for every local path the options name."""
    found = []
    for option in PATH_OPTIONS:
        value = getattr(options, option, None)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and item and is_local(item) and names_a_file(option, item):
                found.append((option, item))
    return found


def make_local_paths_absolute(options: DreamOptions) -> None:
    """Rewrite local paths in place (the options every worker receives): 'in/*.png' ->
    '/home/me/in/*.png', resolved against the folder the job was launched from."""
    for option in PATH_OPTIONS:
        value = getattr(options, option, None)
        if isinstance(value, list):
            setattr(options, option, [_absolute(option, item) for item in value])
        elif isinstance(value, str):
            setattr(options, option, _absolute(option, value))


def _absolute(option: str, value: str) -> str:
    if not value or not is_local(value) or not names_a_file(option, value):
        return value
    path = value[len("file://"):] if value.startswith("file://") else value
    trailing = "/" if path.endswith("/") else ""  # --sequence 'shots/*/' keeps its meaning
    return os.path.abspath(path) + trailing


def refuse_local_paths(options: DreamOptions, runner: str) -> None:
    """Dataflow's workers cannot see this machine's disk: a local path is a start error."""
    for option, value in local_paths(options):
        if option not in LAUNCHER_ONLY:
            raise ConfigError(
                f"--{option} {value!r} is on this machine's disk, which {runner}'s workers cannot "
                "read: put it in a bucket (gs://BUCKET/...) and name that"
            )
