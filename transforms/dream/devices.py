"""Which device TensorFlow dreams on, set up so that several workers can share a GPU."""
from __future__ import annotations

import tensorflow as tf


def enable_gpu_memory_growth() -> None:
    """Allocate GPU memory as needed instead of all of it (call before the first TF op)."""
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # the GPU was already initialised; its setting stays
            pass


def describe_device() -> str:
    """'GPU:0 (NVIDIA L4)' where TensorFlow sees a GPU, else 'CPU'."""
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU"
    name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "unknown")
    return f"GPU:0 ({name})"
