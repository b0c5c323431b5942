"""The Dream step: one Dreamer per worker process, shared by all its threads."""
from __future__ import annotations

import os
import socket
from typing import Iterable

from apache_beam.metrics import Metrics
from apache_beam.utils import shared

from transforms.dream.devices import describe_device, enable_gpu_memory_growth, require_gpu
from transforms.dream.engine import Dreamer
from transforms.dream.models import get_model_spec
from transforms.dream.presets import Preset
from transforms.records import DreamedImage, ImageToDream
from transforms.steps import METRICS_NAMESPACE, FallibleStep
from transforms.weights import stage_weights


class _LoadedDreamer:
    """What a worker holds in `shared.Shared`: the Dreamer and the device it runs on."""

    def __init__(self, dreamer: Dreamer) -> None:
        self.dreamer = dreamer
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        # Counted at first use: counters only reach the runner from inside process().
        self.counted = False


class DreamImage(FallibleStep):
    step, outcome = "dream", "dreamed"

    def __init__(self, preset: Preset, weights: str | None, gpu_required: bool = False) -> None:
        super().__init__()
        self._preset = preset
        self._weights = weights
        self._gpu_required = gpu_required
        # Created at graph construction, so every DoFn copy in a worker process finds the same.
        self._shared_handle = shared.Shared()
        self._models_loaded = Metrics.counter(METRICS_NAMESPACE, "models_loaded")
        # Distributions take integers: milliseconds, and the loss in thousandths.
        self._dream_ms = Metrics.distribution(METRICS_NAMESPACE, "dream_ms")
        self._final_loss_milli = Metrics.distribution(METRICS_NAMESPACE, "final_loss_milli")
        self._loaded: _LoadedDreamer | None = None

    def _load(self) -> _LoadedDreamer:
        enable_gpu_memory_growth()
        if self._gpu_required:
            require_gpu()  # fail the worker at start, before any image is dreamed on a CPU
        spec = get_model_spec(self._preset.model)
        dreamer = Dreamer.from_spec(spec, stage_weights(self._weights), self._preset.layers)
        return _LoadedDreamer(dreamer)

    def setup(self) -> None:
        self._loaded = self._shared_handle.acquire(self._load)

    def uri_of(self, element: ImageToDream) -> str:
        return element.source.uri

    def run(self, element: ImageToDream) -> Iterable[DreamedImage]:
        assert self._loaded is not None, "setup() loads the model"
        if not self._loaded.counted:
            self._loaded.counted = True
            self._models_loaded.inc()
        result = self._loaded.dreamer.dream(element.rgb, self._preset.params)
        self._dream_ms.update(round(result.seconds * 1000))
        if result.octaves[-1].losses:
            self._final_loss_milli.update(round(result.octaves[-1].losses[-1] * 1000))
        yield DreamedImage(element, result, describe_device(result.device), self._loaded.worker)
