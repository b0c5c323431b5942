"""Which device TensorFlow dreams on, set up so that several workers can share a GPU."""
from __future__ import annotations

from transforms.dream.quiet_tensorflow import tf


class NoGpuError(RuntimeError):
    """--require_gpu was given and TensorFlow sees no GPU on this worker."""


def enable_gpu_memory_growth() -> None:
    """Allocate GPU memory as needed instead of all of it (call before the first TF op)."""
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # the GPU was already initialised; its setting stays
            pass


def gpu_names() -> list[str]:
    """Model names of the GPUs TensorFlow sees, e.g. ['NVIDIA L4']; [] on a CPU-only worker."""
    return [
        tf.config.experimental.get_device_details(gpu).get("device_name", "unknown GPU")
        for gpu in tf.config.list_physical_devices("GPU")
    ]


def fail_without_gpu() -> None:
    if not gpu_names():
        raise NoGpuError(
            "--require_gpu: TensorFlow sees no GPU on this worker. Check the container has "
            "tensorflow[and-cuda] and the job asks for an accelerator with "
            "install-nvidia-driver (see docs/buckets-and-dataflow.md)."
        )


def describe_device(device: str) -> str:
    """'GPU:0' -> 'GPU:0 (NVIDIA L4)'; CPU devices unchanged."""
    if device.startswith("GPU:"):
        names = gpu_names()
        index = int(device.split(":")[1])
        if index < len(names):
            return f"{device} ({names[index]})"
    return device
