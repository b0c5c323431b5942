"""Dreamer: DeepDream on one RGB image, usable on its own (no Beam needed)."""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Mapping

import keras
import numpy as np
import tensorflow as tf

from transforms.dream.ascent import compile_octave_ascent
from transforms.dream.models import ModelSpec, feature_extractor, get_model_spec
from transforms.dream.objective import dream_loss
from transforms.dream.octaves import octave_shapes
from transforms.dream.params import DreamParams
from transforms.dream.preprocessing import Preprocessing


@dataclass(frozen=True)
class OctaveRecord:
    """What happened in one octave."""

    index: int
    height: int
    width: int
    losses: list[float]
    steps_run: int
    stopped_early: bool
    # Per-element step that L2 normalisation over the whole image implies: step / sqrt(H*W*3).
    effective_step: float


@dataclass
class DreamResult:
    image: np.ndarray  # uint8 HxWx3 RGB, the input's size
    octaves: list[OctaveRecord] = field(default_factory=list)
    seconds: float = 0.0
    device: str = ""  # where the ascent actually ran, e.g. "GPU:0" or "CPU:0"

    def octave_dicts(self) -> list[dict]:
        return [asdict(octave) for octave in self.octaves]


class Dreamer:
    """Runs the octave loop of DeepDream with a fixed network and objective.

    Build from a registered model name with `Dreamer.from_name("inception_v3")`, or pass any
    already-built Keras model with its layer weights and pixel convention.
    """

    def __init__(
        self,
        model: keras.Model,
        layers: Mapping[str, float],
        preprocessing: Preprocessing,
        min_input_size: int = 32,
        grad_norm: str = "l2",
    ) -> None:
        if not layers:
            raise ValueError("at least one layer is needed for the dream objective")
        self.layers = dict(layers)
        self.preprocessing = preprocessing
        self.min_input_size = min_input_size
        self.grad_norm = grad_norm
        extractor = feature_extractor(model, self.layers)

        def loss_fn(image: tf.Tensor) -> tf.Tensor:
            return dream_loss(extractor(image), self.layers)

        self._ascend = compile_octave_ascent(loss_fn, grad_norm)

    @classmethod
    def from_spec(
        cls,
        spec: ModelSpec,
        weights: str | None = None,
        layers: Mapping[str, float] | None = None,
        grad_norm: str = "l2",
    ) -> "Dreamer":
        return cls(
            spec.build(weights),
            layers or spec.default_layers,
            spec.preprocessing,
            spec.min_input_size,
            grad_norm,
        )

    @classmethod
    def from_name(cls, name: str, **kwargs) -> "Dreamer":
        return cls.from_spec(get_model_spec(name), **kwargs)

    def dream(self, rgb: np.ndarray, params: DreamParams = DreamParams()) -> DreamResult:
        """Dream on a uint8 HxWx3 RGB image; returns an image of the same size."""
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"expected uint8 HxWx3 RGB, got {rgb.dtype} {rgb.shape}")
        started = time.perf_counter()
        shapes = octave_shapes(
            rgb.shape[0], rgb.shape[1], params.octaves, params.octave_scale, self.min_input_size
        )
        max_loss = math.inf if params.max_loss is None else params.max_loss
        original = self.preprocessing.preprocess(rgb)
        image = tf.identity(original)
        shrunk_original = tf.image.resize(original, shapes[0])
        records = []
        for index, shape in enumerate(shapes):
            image = tf.image.resize(image, shape)
            image, losses, stopped = self._ascend(
                image, tf.constant(params.iterations), tf.constant(params.step, tf.float32),
                tf.constant(max_loss, tf.float32),
            )
            # Put back the detail that shrinking the original lost at this octave's size.
            same_size_original = tf.image.resize(original, shape)
            image += same_size_original - tf.image.resize(shrunk_original, shape)
            shrunk_original = same_size_original
            losses = [float(loss) for loss in losses.numpy()]
            records.append(
                OctaveRecord(
                    index=index,
                    height=shape[0],
                    width=shape[1],
                    losses=losses,
                    steps_run=len(losses),
                    stopped_early=bool(stopped),
                    effective_step=params.step / math.sqrt(shape[0] * shape[1] * 3),
                )
            )
        device = image.device.rsplit("device:", 1)[-1]  # ".../device:GPU:0" -> "GPU:0"
        dreamed = self.preprocessing.deprocess(image)
        return DreamResult(dreamed, records, time.perf_counter() - started, device)
