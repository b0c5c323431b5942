"""DeepDream as a Beam ModelHandler: `RunInference(DeepDreamModelHandler("vgg16"))`.

load_model builds the Dreamer of one recipe; run_inference dreams a batch of uint8 HxWx3
RGB arrays, same-size images together in one pass, each result a PredictionResult whose
`inference` is the DreamResult. The job's own Dream steps load and
dream through this same class.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Sequence

import numpy as np
from apache_beam.ml.inference import base as inference_base
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from transforms.dream.devices import enable_gpu_memory_growth, fail_without_gpu
from transforms.dream.engine import Dreamer, DreamResult
from transforms.dream.memory_budget import default_untiled_max_pixels, with_auto_tiles
from transforms.dream.params import DreamParams
from transforms.dream.presets import DEFAULT_PRESET
from transforms.dreamers import build_dreamer
from transforms.recipe import Recipe, make_recipe
from transforms.stages import METRICS_NAMESPACE

# Beam 2.77 imports `resource` in the same try block as its torch-only ModelManager, so
# without torch it forgets the (present) resource module and logs "Resource module is not
# available" on every batch. Give it back; nothing else changes.
if getattr(inference_base, "resource", None) is None:
    import resource as _resource

    inference_base.resource = _resource

LOADING = ("weights", "preprocessing", "precision", "jit", "allow_private_urls")


class DeepDreamModelHandler(ModelHandler[np.ndarray, PredictionResult, Dreamer]):
    """Dreams uint8 HxWx3 RGB arrays with one recipe.

    `preset` is a preset name or a Recipe; `overrides` replace any loop setting by its field
    name (iterations=1, octaves=1, step_mode="pixel", ...) and model, layers or guide;
    weights, preprocessing, precision, jit and allow_private_urls say how to load it.
    `batch_size` caps Beam's batches (images of one size in a batch are dreamed in one
    pass); `model_copies` and `large_model` are Beam's own (one model shared by the worker's
    processes, e.g. on a GPU). Images larger than `untiled_max_pixels` (default: from the
    worker's memory) are dreamed in tiles.
    """

    def __init__(
        self,
        preset: str | Recipe = DEFAULT_PRESET,
        *,
        batch_size: int = 1,
        untiled_max_pixels: int | None = None,
        require_gpu: bool = False,
        model_copies: int | None = None,
        large_model: bool = False,
        **overrides: Any,
    ) -> None:
        loading = {key: overrides.pop(key) for key in LOADING if key in overrides}
        if isinstance(preset, Recipe):
            if overrides or loading:
                raise ValueError("a Recipe is complete: pass settings to make_recipe instead")
            self.recipe = preset
        else:
            self.recipe = make_recipe(preset, overrides, **loading)
        super().__init__(max_batch_size=batch_size, model_copies=model_copies, large_model=large_model)
        self._untiled_max_pixels = untiled_max_pixels
        self._require_gpu = require_gpu

    def load_model(self) -> Dreamer:
        enable_gpu_memory_growth()
        if self._require_gpu:
            fail_without_gpu()  # fail the worker at start, before any image is dreamed on a CPU
        return build_dreamer(self.recipe)

    def params_for(self, images: Sequence[np.ndarray]) -> DreamParams:
        """The recipe's loop settings, tiled when same-size images are too big to dream whole."""
        height, width = images[0].shape[:2]
        return self.params_for_size(height, width, len(images))

    def params_for_size(self, height: int, width: int, count: int = 1) -> DreamParams:
        params = self.recipe.preset.params
        largest = height * width * (params.octave_scale ** params.upscale_octaves) ** 2
        if self._untiled_max_pixels is None:  # this worker's own memory decides
            self._untiled_max_pixels = default_untiled_max_pixels()
        return with_auto_tiles(params, int(largest) * count, self._untiled_max_pixels)

    def run_inference(
        self, batch: Sequence[np.ndarray], model: Dreamer, inference_args: dict[str, Any] | None = None
    ) -> Iterable[PredictionResult]:
        """One PredictionResult per image, in order, its `inference` the DreamResult; images
        of one size share a pass. `inference_args` may hold "masks": one per image (uint8
        greyscale or None), in place of the recipe's."""
        masks = (inference_args or {}).get("masks")
        by_shape: dict[tuple, list[int]] = defaultdict(list)
        for index, rgb in enumerate(batch):
            by_shape[np.shape(rgb)].append(index)
        results: list[DreamResult | None] = [None] * len(batch)
        for indices in by_shape.values():
            images = [batch[i] for i in indices]
            # Masks only when given: a Dreamer-like model without them works as before.
            extra: dict[str, Any] = {"masks": [masks[i] for i in indices]} if masks is not None else {}
            for i, result in zip(indices, model.dream_batch(images, self.params_for(images), **extra), strict=True):
                results[i] = result
        return [PredictionResult(rgb, result) for rgb, result in zip(batch, results, strict=True)]

    def get_num_bytes(self, batch: Sequence[np.ndarray]) -> int:
        return sum(np.asarray(rgb).nbytes for rgb in batch)

    def get_metrics_namespace(self) -> str:
        return METRICS_NAMESPACE
