"""Pixel conventions of the supported networks: uint8 RGB <-> model input space."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from transforms.dream.quiet_tensorflow import tf

# ImageNet channel means in BGR order, as Keras' caffe-mode preprocess_input uses.
_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
# RGB mean and std of torch-mode preprocess_input (DenseNet).
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """How a network wants its pixels. `name` is recorded in metadata."""

    name: str

    def preprocess(self, rgb: np.ndarray) -> tf.Tensor:
        """uint8 HxWx3 RGB -> float32 1xHxWx3 tensor in the network's input space."""
        x = tf.convert_to_tensor(rgb[np.newaxis], dtype=tf.float32)
        if self.name == "inception":
            return x / 127.5 - 1.0
        if self.name == "caffe":
            return x[..., ::-1] - tf.constant(_CAFFE_BGR_MEAN)
        if self.name == "torch":
            return (x / 255.0 - tf.constant(_TORCH_MEAN)) / tf.constant(_TORCH_STD)
        if self.name == "raw":  # the model rescales inside (EfficientNet, ConvNeXt, ...)
            return x
        raise ValueError(f"unknown preprocessing {self.name!r}; valid: {', '.join(PREPROCESSINGS)}")

    def pixel_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """The model-space values of RGB 0 and 255, per channel in the model's channel order:
        the range an image stays in with clip_pixels (the TF tutorial's [-1, 1])."""
        black, white = np.zeros((1, 1, 3), np.uint8), np.full((1, 1, 3), 255, np.uint8)
        low, high = self.preprocess(black).numpy().reshape(3), self.preprocess(white).numpy().reshape(3)
        return low, high

    def deprocess(self, x: tf.Tensor) -> np.ndarray:
        """1xHxWx3 model-space tensor -> uint8 HxWx3 RGB (clipped, truncated like the seed)."""
        x = np.asarray(x)[0]
        if self.name == "inception":
            x = (x / 2.0 + 0.5) * 255.0
        elif self.name == "caffe":
            x = (x + np.asarray(_CAFFE_BGR_MEAN, dtype=np.float32))[..., ::-1]
        elif self.name == "torch":
            x = (x * np.asarray(_TORCH_STD, np.float32) + np.asarray(_TORCH_MEAN, np.float32)) * 255.0
        elif self.name != "raw":
            raise ValueError(f"unknown preprocessing {self.name!r}; valid: {', '.join(PREPROCESSINGS)}")
        return np.clip(x, 0, 255).astype(np.uint8)


INCEPTION = Preprocessing("inception")
CAFFE = Preprocessing("caffe")
TORCH = Preprocessing("torch")
RAW = Preprocessing("raw")
PREPROCESSINGS = {p.name: p for p in (INCEPTION, CAFFE, TORCH, RAW)}
