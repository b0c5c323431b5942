"""The Dream steps: one Dreamer per recipe per worker process, shared by all its threads."""
from __future__ import annotations

import os
import socket
import threading
from typing import Any, Iterable, Mapping, cast

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.utils import shared

from transforms.dream.devices import describe_device, enable_gpu_memory_growth, fail_without_gpu
from transforms.dream.engine import Dreamer, DreamResult
from transforms.dreamers import load_mask
from transforms.elements import DreamedImage, ImageToDream
from transforms.model_handler import DeepDreamModelHandler
from transforms.recipe import Recipe
from transforms.stages import METRICS_NAMESPACE, FallibleStage


class _LoadedDreamers:
    """What a worker holds in `shared.Shared`: a Dreamer per recipe, built on first use."""

    def __init__(self, build) -> None:
        self._build = build
        self._dreamers: dict[str, Dreamer] = {}
        self._lock = threading.Lock()
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        # Counted at first use: counters only reach the runner from inside process().
        self.uncounted = 0

    def get(self, name: str) -> Dreamer:
        with self._lock:
            if name not in self._dreamers:
                self._dreamers[name] = self._build(name)
                self.uncounted += 1
            return self._dreamers[name]

    def take_uncounted(self) -> int:
        """Models built since the last call, for the models_loaded counter (any thread)."""
        with self._lock:
            count, self.uncounted = self.uncounted, 0
            return count


class DreamStage(FallibleStage):
    """What the single and the batched Dream steps share: a DeepDreamModelHandler per
    recipe, the Dreamers they load held once per worker process, and the counters."""

    stage, outcome = "dream", "dreamed"

    def __init__(
        self,
        recipes: Mapping[str, Recipe],
        untiled_max_pixels: int | None = None,
        require_gpu: bool = False,
    ) -> None:
        """`untiled_max_pixels`: bigger images are dreamed in tiles (None: from the
        worker's memory)."""
        super().__init__()
        self._handlers = {
            name: DeepDreamModelHandler(recipe, untiled_max_pixels=untiled_max_pixels)
            for name, recipe in recipes.items()
        }
        self._require_gpu = require_gpu
        # Created at graph construction, so every DoFn copy in a worker process finds the same.
        self._shared_handle = shared.Shared()
        self._models_loaded = Metrics.counter(METRICS_NAMESPACE, "models_loaded")
        # Distributions take integers: milliseconds, and the loss in thousandths.
        self._dream_ms = Metrics.distribution(METRICS_NAMESPACE, "dream_ms")
        self._final_loss_milli = Metrics.distribution(METRICS_NAMESPACE, "final_loss_milli")
        self._loaded: _LoadedDreamers | None = None
        self._masks: dict[str, np.ndarray] = {}

    def setup(self) -> None:
        super().setup()
        enable_gpu_memory_growth()  # before any model touches the GPU
        if self._require_gpu:
            fail_without_gpu()  # fail the worker at start, before any image is dreamed on a CPU
        self._loaded = self._shared_handle.acquire(
            lambda: _LoadedDreamers(lambda name: self._handlers[name].load_model())
        )

    def _mask(self, uri: str, recipe: Recipe) -> np.ndarray:
        """A manifest row's mask, read once per worker process and DoFn."""
        if uri not in self._masks:
            if len(self._masks) >= 64:  # masks of a big manifest: keep memory bounded
                self._masks.clear()
            self._masks[uri] = load_mask(uri, recipe.allow_private_urls)
        return self._masks[uri]

    def uri_of(self, element: Any) -> str:  # ImageToDream, or a sequence's Segment
        return element.source.uri

    def _dream(self, images: list[ImageToDream]) -> Iterable[DreamedImage]:
        """Images of one recipe (and one size, when more than one) dreamed in one pass."""
        assert self._loaded is not None, "setup() loads the models"
        handler = self._handlers[images[0].source.recipe]
        dreamer = self._loaded.get(images[0].source.recipe)
        loaded = self._loaded.take_uncounted()
        if loaded:
            self._models_loaded.inc(loaded)
        masks = [self._mask(e.source.mask, handler.recipe) if e.source.mask else None for e in images]
        predictions = handler.run_inference([e.rgb for e in images], dreamer,
                                            {"masks": masks} if any(m is not None for m in masks) else None)
        for element, prediction in zip(images, predictions, strict=True):
            result = cast(DreamResult, prediction.inference)
            self._dream_ms.update(round(result.seconds * 1000))
            if result.octaves[-1].losses:
                self._final_loss_milli.update(round(result.octaves[-1].losses[-1] * 1000))
            yield DreamedImage(element, result, describe_device(result.device), self._loaded.worker)


class Dream(DreamStage):
    """ImageToDream -> DreamedImage, one image at a time."""

    def run(self, element: ImageToDream) -> Iterable[DreamedImage]:
        yield from self._dream([element])


class DreamBatch(DreamStage):
    """(key, [ImageToDream, ...]) of one size and recipe, from BatchSameSize ->
    DreamedImage each. If a batch fails, its images are retried one by one so that only
    the bad one becomes an error record."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._batch_size = Metrics.distribution(METRICS_NAMESPACE, "batch_size")

    def run(self, element: ImageToDream) -> Iterable[DreamedImage]:  # one image, on retry
        yield from self._dream([element])

    def process(self, element: Any) -> Iterable[Any]:
        _, batch = element
        batch = list(batch)
        self._batch_size.update(len(batch))
        try:
            dreamed = list(self._dream(batch))
        except Exception:  # find the image that failed: one by one, each its own record
            for single in batch:
                yield from super().process(single)
            return
        self._succeeded.inc(len(batch))
        yield from dreamed


class BatchSameSize(beam.PTransform):
    """ImageToDream -> lists of up to batch_size images of one size and one recipe."""

    def __init__(self, batch_size: int) -> None:
        super().__init__()
        self._batch_size = batch_size

    def expand(self, images: beam.PCollection) -> beam.PCollection:
        return (
            images
            # A text key: deterministic to encode, as the stateful batching needs.
            | "KeyBySizeAndRecipe" >> beam.Map(
                lambda e: (f"{e.rgb.shape[0]}x{e.rgb.shape[1]}/{e.source.recipe}", e)
            )
            | "GroupIntoBatches" >> beam.GroupIntoBatches(self._batch_size)
        )
