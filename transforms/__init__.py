"""Beam steps of the DeepDream pipeline, and (in transforms.dream) the dream math they call.

For use in any Beam pipeline: `transforms.DeepDream` (a PTransform) and
`transforms.DeepDreamModelHandler` (for RunInference). Imported on first use, so that
`import transforms.x` stays light.
"""
from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "DeepDream": "transforms.deep_dream",
    "DeepDreamOutputs": "transforms.deep_dream",
    "DeepDreamModelHandler": "transforms.model_handler",
    "Recipe": "transforms.recipe",
    "make_recipe": "transforms.recipe",
}
__all__ = list(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'transforms' has no attribute {name!r}")
