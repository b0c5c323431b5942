"""Beam steps of the DeepDream pipeline, and (in transforms.dream) the dream math they call.

For use in any Beam pipeline: `transforms.DeepDream` (a PTransform) and
`transforms.DeepDreamModelHandler` (for RunInference). Imported on first use, so that
`import transforms.x` stays light.
"""
from __future__ import annotations

from transforms.lazy import lazy_attributes

_PUBLIC = {
    "DeepDream": "deep_dream",
    "DeepDreamOutputs": "deep_dream",
    "DeepDreamModelHandler": "model_handler",
    "Recipe": "recipe",
    "make_recipe": "recipe",
}
__all__ = list(_PUBLIC)

__getattr__ = lazy_attributes(__name__, _PUBLIC)
