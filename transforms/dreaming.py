"""The Dream step: one Dreamer per preset per worker process, shared by all its threads."""
from __future__ import annotations

import os
import socket
import threading
from typing import Any, Iterable, Mapping

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.utils import shared

from transforms.dream.devices import describe_device, enable_gpu_memory_growth, require_gpu
from transforms.dream.engine import Dreamer, DreamResult
from transforms.dream.memory_budget import default_untiled_max_pixels, with_auto_tiles
from transforms.dream.params import DreamParams
from transforms.dream.presets import Preset
from transforms.dreamers import build_dreamer
from transforms.records import DreamedImage, ImageToDream
from transforms.steps import METRICS_NAMESPACE, FallibleStep


class _LoadedDreamers:
    """What a worker holds in `shared.Shared`: a Dreamer per preset, built on first use."""

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


class DreamImage(FallibleStep):
    """ImageToDream -> DreamedImage. With batch_size > 1 it takes lists of same-size images
    (one preset) and dreams each list in one pass; if a batch fails, its images are retried
    one by one so that only the bad one becomes an error record."""

    step, outcome = "dream", "dreamed"

    def __init__(
        self,
        presets: Mapping[str, Preset],
        default_preset: str,
        weights: Mapping[str, str | None],
        preprocessing: str | None = None,
        gpu_required: bool = False,
        jit: bool = False,
        precision: str = "float32",
        allow_private_urls: bool = False,
        untiled_max_pixels: int | None = None,
    ) -> None:
        """`untiled_max_pixels`: bigger images are dreamed in tiles (None: from the
        worker's memory)."""
        super().__init__()
        self._presets = dict(presets)
        self._default = default_preset
        self._weights = dict(weights)
        self._preprocessing = preprocessing
        self._gpu_required = gpu_required
        self._jit = jit
        self._precision = precision
        self._allow_private_urls = allow_private_urls
        self._untiled_max_pixels = untiled_max_pixels
        # Created at graph construction, so every DoFn copy in a worker process finds the same.
        self._shared_handle = shared.Shared()
        self._models_loaded = Metrics.counter(METRICS_NAMESPACE, "models_loaded")
        # Distributions take integers: milliseconds, and the loss in thousandths.
        self._dream_ms = Metrics.distribution(METRICS_NAMESPACE, "dream_ms")
        self._final_loss_milli = Metrics.distribution(METRICS_NAMESPACE, "final_loss_milli")
        self._batch_size = Metrics.distribution(METRICS_NAMESPACE, "batch_size")
        self._loaded: _LoadedDreamers | None = None

    def _build(self, name: str) -> Dreamer:
        preset = self._presets[name]
        return build_dreamer(
            preset, self._weights.get(name), self._preprocessing, self._jit, self._precision,
            self._allow_private_urls,
        )

    def _load(self) -> _LoadedDreamers:
        enable_gpu_memory_growth()
        if self._gpu_required:
            require_gpu()  # fail the worker at start, before any image is dreamed on a CPU
        loaded = _LoadedDreamers(self._build)
        loaded.get(self._default)
        return loaded

    def setup(self) -> None:
        self._loaded = self._shared_handle.acquire(self._load)

    def _params(self, name: str, images: list[ImageToDream]) -> DreamParams:
        """The preset's loop settings, tiled when the images are too big to dream whole."""
        params = self._presets[name].params
        height, width = images[0].rgb.shape[:2]
        largest = height * width * (params.octave_scale ** params.upscale_octaves) ** 2
        if self._untiled_max_pixels is None:  # this worker's own memory decides
            self._untiled_max_pixels = default_untiled_max_pixels()
        return with_auto_tiles(params, int(largest) * len(images), self._untiled_max_pixels)

    def uri_of(self, element: ImageToDream) -> str:
        return element.source.uri

    def _dreamer(self, name: str) -> Dreamer:
        assert self._loaded is not None, "setup() loads the model"
        dreamer = self._loaded.get(name)
        loaded = self._loaded.take_uncounted()
        if loaded:
            self._models_loaded.inc(loaded)
        return dreamer

    def _emit(self, element: ImageToDream, result: DreamResult, params: DreamParams) -> DreamedImage:
        """The output for one dreamed image, its timing and loss counted."""
        self._dream_ms.update(round(result.seconds * 1000))
        if result.octaves[-1].losses:
            self._final_loss_milli.update(round(result.octaves[-1].losses[-1] * 1000))
        assert self._loaded is not None
        return DreamedImage(element, result, describe_device(result.device), self._loaded.worker,
                            params.tile_size)

    def run(self, element: ImageToDream) -> Iterable[DreamedImage]:
        name = element.source.preset_or(self._default)
        params = self._params(name, [element])
        result = self._dreamer(name).dream(element.rgb, params)
        yield self._emit(element, result, params)

    def process(self, element: Any) -> Iterable[Any]:
        if not isinstance(element, tuple) or isinstance(element, ImageToDream):
            yield from super().process(element)
            return
        _, batch = element  # ('HxW/preset', [ImageToDream, ...]) from BatchSameSize
        batch = list(batch)
        self._batch_size.update(len(batch))
        try:
            name = batch[0].source.preset_or(self._default)
            params = self._params(name, batch)
            results = self._dreamer(name).dream_batch([e.rgb for e in batch], params)
        except Exception:  # find the image that failed: one by one, each its own record
            for single in batch:
                yield from super().process(single)
            return
        self._succeeded.inc(len(batch))
        for image, result in zip(batch, results):
            yield self._emit(image, result, params)


class BatchSameSize(beam.PTransform):
    """ImageToDream -> lists of up to batch_size images of one size and one preset."""

    def __init__(self, batch_size: int, default_preset: str) -> None:
        super().__init__()
        self._batch_size = batch_size
        self._default = default_preset

    def expand(self, images: beam.PCollection) -> beam.PCollection:
        default = self._default
        return (
            images
            # A text key: deterministic to encode, as the stateful batching needs.
            | "KeyBySizeAndPreset" >> beam.Map(
                lambda e: (f"{e.rgb.shape[0]}x{e.rgb.shape[1]}/{e.source.preset_or(default)}", e)
            )
            | "GroupIntoBatches" >> beam.GroupIntoBatches(self._batch_size)
        )

