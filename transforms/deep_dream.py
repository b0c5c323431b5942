"""`DeepDream`: the dream as a PTransform for any Beam pipeline.

(key, uint8 HxWx3 RGB array) -> (key, DreamResult), built on Beam's RunInference with a
KeyedModelHandler(DeepDreamModelHandler): the model is loaded once per worker process and
Beam's inference metrics come with it.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference

from transforms.dream.presets import DEFAULT_PRESET
from transforms.model_handler import DeepDreamModelHandler
from transforms.recipe import Recipe


class DeepDreamOutputs(NamedTuple):
    dreams: beam.PCollection  # (key, DreamResult)
    failed: beam.PCollection  # (key, "ErrorType: message"), one per image of a failed batch


class DeepDream(beam.PTransform):
    """Dream keyed images with a preset and any setting replaced by its field name:
    `DeepDream("vgg16", iterations=1, octaves=1)`; see DeepDreamModelHandler for the rest
    (weights, batch_size, model_copies, ...).

    `.with_exception_handling()` makes it return DeepDreamOutputs (a dead-letter output
    like RunInference's, one line per image) instead of failing the bundle on a bad image.
    """

    def __init__(self, preset: str | Recipe = DEFAULT_PRESET, **settings: Any) -> None:
        super().__init__()
        self.handler = DeepDreamModelHandler(preset, **settings)
        self._dead_letter = False

    def with_exception_handling(self) -> DeepDream:
        self._dead_letter = True
        return self

    def expand(self, images: beam.PCollection) -> Any:
        inference: Any = RunInference(KeyedModelHandler(self.handler))
        if not self._dead_letter:
            return images | "RunInference" >> inference | "Unwrap" >> beam.MapTuple(_unwrap)
        dreamed, dead_letter = images | "RunInference" >> inference.with_exception_handling()
        return DeepDreamOutputs(
            dreamed | "Unwrap" >> beam.MapTuple(_unwrap),
            dead_letter.failed_inferences | "FailedImages" >> beam.FlatMapTuple(_failed_keys),
        )


def _unwrap(key: Any, prediction: Any) -> tuple[Any, Any]:
    return key, prediction.inference


def _failed_keys(batch: Any, error: Any) -> list[tuple[Any, str]]:
    """RunInference's dead letters are whole batches of (key, image) with the error as
    (type, repr, traceback lines): one (key, "ErrorType: message") per image."""
    return [(key, _one_line(error)) for key, _ in batch]


def _one_line(error: Any) -> str:
    if isinstance(error, tuple) and error and isinstance(error[0], type):
        last = error[2][-1].strip() if len(error) > 2 and error[2] else str(error[1])
        return f"{error[0].__name__}: {last.split(': ', 1)[-1]}"
    return f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
