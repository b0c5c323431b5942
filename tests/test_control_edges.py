"""The #22 controls at their edges, TF-free where they can be: channel picks (ties, defaults,
bounds, the exact messages), the channel mask, and mask weights."""
from __future__ import annotations

import numpy as np
import pytest

from transforms.dream.channel_pick import ChannelPick, channel_mask, pick_channels


def test_ties_go_to_the_lower_channel_among_many():
    # 40 channels at three levels: a sort that is not stable reorders the ties beyond ~16.
    means = np.random.default_rng(0).integers(0, 3, (1, 40)).astype(np.float32)
    strongest = sorted(sorted(range(40), key=lambda c: (-means[0, c], c))[:10])
    assert pick_channels(means, ChannelPick(10)).tolist() == [strongest]
    weakest = sorted(sorted((c for c in range(40) if means[0, c] > 0), key=lambda c: (means[0, c], c))[:10])
    assert pick_channels(means, ChannelPick(10, "weak")).tolist() == [weakest]


def test_random_picks_default_to_seed_0_octave_0_and_never_repeat_a_channel():
    means = np.ones((3, 6), np.float32)
    pick = ChannelPick(4, "random")
    assert pick_channels(means, pick).tolist() == pick_channels(means, pick, seed=0, octave=0).tolist()
    assert any(pick_channels(means, pick, seed=0, octave=o).tolist() != pick_channels(means, pick).tolist()
               for o in (1, 2, 3))
    assert any(pick_channels(means, pick, seed=s).tolist() != pick_channels(means, pick).tolist() for s in (1, 2, 3))
    for seed in range(5):
        assert pick_channels(means, ChannelPick(6, "random"), seed=seed).tolist() == [list(range(6))] * 3
        assert pick_channels(means, pick, seed=seed).shape == (3, 4)


def test_the_channel_mask_is_float32_ones_at_the_picks():
    mask = channel_mask(np.array([[0, 2], [1, 3]]), 5)
    assert mask.dtype == np.float32
    assert mask.tolist() == [[1, 0, 1, 0, 0], [0, 1, 0, 1, 0]]


def test_a_pick_of_one_is_valid_and_each_refusal_says_what_is_valid():
    assert ChannelPick(1).count == 1 and ChannelPick.parse("auto:1").count == 1
    cases = {(0, "strong", "once"): "channels auto:N needs N >= 1, got 0",
             (2, "loud", "once"): "unknown channel pick 'loud'; valid: strong, weak, random",
             (2, "weak", "frame"): "unknown channel_capture 'frame'; valid: once, octave"}
    for (count, rule, capture), message in cases.items():
        with pytest.raises(ValueError) as refused:
            ChannelPick(count, rule, capture)
        assert str(refused.value) == message


def test_class_terms_name_classes_within_the_model():
    from transforms.dream.classes import check_class_terms
    from transforms.dream.layers import LayerTerm

    check_class_terms([LayerTerm("class", 1.0, (0, 4))], 5)  # 0-4: all there
    for channels, message in (((), "a class term names its classes: class[281] or class[281,285]"),
                              ((1, 5, 7), "the model has classes 0-4; [5, 7] out of range")):
        with pytest.raises(ValueError) as refused:
            check_class_terms([LayerTerm("class", 1.0, channels)], 5)
        assert str(refused.value) == message


def test_the_class_loss_sums_each_terms_weighted_mean_logit():
    from transforms.dream.classes import class_loss
    from transforms.dream.layers import LayerTerm
    from transforms.dream.quiet_tensorflow import tf

    scores = tf.constant([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]])
    terms = [LayerTerm("class", 2.0, (1, 3)), LayerTerm("class", 0.5, (0,))]
    np.testing.assert_allclose(class_loss(scores, terms), [2.0 * 3.0 + 0.5 * 1.0, 2.0 * 7.0 + 0.5 * 5.0])


def _head(last) -> object:
    import keras

    keras.utils.set_random_seed(5)
    inputs = keras.Input((None, None, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, activation="relu")(inputs))
    return keras.Model(inputs, last(pooled), name="head")


def test_each_kind_of_head_gives_its_scores_before_the_softmax():
    import keras

    from transforms.dream.classes import NoClassifierError, classifier_of

    images = np.random.default_rng(1).normal(size=(2, 12, 16, 3)).astype(np.float32)
    # A Dense softmax with a bias of its own: its logits are x W + b, with b.
    dense = _head(keras.layers.Dense(3, activation="softmax"))
    layer = dense.layers[-1]
    layer.bias.assign(np.array([2.0, -1.0, 0.5], np.float32))
    features = keras.Model(dense.inputs[0], layer.input)(images)
    expected = np.asarray(features) @ np.asarray(layer.kernel) + [2.0, -1.0, 0.5]
    classifier = classifier_of(dense)
    np.testing.assert_allclose(classifier.logits(images), expected, rtol=1e-5, atol=1e-6)
    assert (classifier.class_count, classifier.input_size) == (3, None)
    # Without a bias: x W alone.
    unbiased = _head(keras.layers.Dense(3, activation="softmax", use_bias=False))
    features = keras.Model(unbiased.inputs[0], unbiased.layers[-1].input)(images)
    np.testing.assert_allclose(classifier_of(unbiased).logits(images),
                               np.asarray(features) @ np.asarray(unbiased.layers[-1].kernel), rtol=1e-5, atol=1e-6)
    # A Softmax layer after a linear Dense: the Dense's output.
    separate = _head(lambda x: keras.layers.Softmax()(keras.layers.Dense(4, name="scores")(x)))
    np.testing.assert_allclose(classifier_of(separate).logits(images),
                               keras.Model(separate.inputs[0], separate.get_layer("scores").output)(images), rtol=1e-6)
    assert classifier_of(separate).class_count == 4
    # A Dense with another activation is no classifier, and the refusal names the last layer.
    with pytest.raises(NoClassifierError) as refused:
        classifier_of(_head(keras.layers.Dense(3, activation="relu", name="last")))
    assert str(refused.value) == ("model 'head' does not end in a classifier (its last layer is Dense 'last'): "
                                  "class terms need a model with its head")


def test_models_built_on_a_users_model_take_a_bare_image_tensor_without_a_warning():
    """A head's scores and the layers' features are called with one image tensor: built on a
    user's functional model's list of inputs, Keras warned ("structure of `inputs` doesn't
    match") at each such call made outside a traced function."""
    import warnings

    import keras

    from transforms.dream.classes import classifier_of
    from transforms.dream.models import feature_extractor

    images = np.zeros((2, 12, 16, 3), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for head in (_head(keras.layers.Dense(3)), _head(keras.layers.Dense(3, activation="softmax")),
                     _head(lambda x: keras.layers.Softmax()(keras.layers.Dense(3)(x)))):
            assert classifier_of(head).logits(images).shape == (2, 3)
            conv = next(layer.name for layer in head.layers if isinstance(layer, keras.layers.Conv2D))
            assert feature_extractor(head, {conv: 1.0})(images)[conv].shape == (2, 10, 14, 4)


def _fft_filter_reference(grads: np.ndarray) -> np.ndarray:
    """numpy's A Aᵀ: colours through the covariance, the spectrum weighted by 1/f, DC dropped."""
    from transforms.dream.parameterization import COLOUR_FILTER

    coloured = np.einsum("bhwc,cd->bhwd", grads.astype(np.float64), COLOUR_FILTER.astype(np.float64))
    height, width = grads.shape[1:3]
    f = np.sqrt(np.fft.fftfreq(height)[:, None] ** 2 + np.fft.rfftfreq(width)[None, :] ** 2)
    weights = np.where(f > 0, 1.0 / np.where(f > 0, f, 1.0), 0.0)
    spectrum = np.fft.rfft2(coloured, axes=(1, 2)) * weights[None, :, :, None]
    return np.fft.irfft2(spectrum, s=(height, width), axes=(1, 2))


def test_the_fft_filter_is_its_formula_at_odd_and_even_sizes():
    from transforms.dream.parameterization import COLOUR_FILTER, fft_filter, gradient_filter, spectral_weights
    from transforms.dream.quiet_tensorflow import tf

    assert np.isclose(np.linalg.eigvalsh(COLOUR_FILTER.astype(np.float64)).max(), 1.0, atol=1e-6)
    for shape in ((2, 6, 8, 3), (1, 7, 5, 3)):
        grads = np.random.default_rng(sum(shape)).normal(size=shape).astype(np.float32)
        np.testing.assert_allclose(fft_filter(tf.constant(grads)), _fft_filter_reference(grads), rtol=1e-4, atol=1e-4)
        height, width = shape[1:3]
        f = np.sqrt(np.fft.fftfreq(height)[:, None] ** 2 + np.fft.rfftfreq(width)[None, :] ** 2)
        np.testing.assert_allclose(spectral_weights(height, width), np.where(f > 0, 1 / np.where(f > 0, f, 1), 0),
                                   rtol=1e-6)
    assert gradient_filter("fft") is fft_filter
    with pytest.raises(ValueError) as refused:
        gradient_filter("wavelet")
    assert str(refused.value) == "unknown parameterization 'wavelet'; valid: pixel, fft"


def test_mask_weights_are_the_bilinear_resize_in_float32_unfeathered_by_default():
    from transforms.dream.mask import MAX_FEATHER, mask_weights

    edge = np.array([[0, 255]], np.uint8)
    # Bilinear between pixel centres (bicubic, Pillow's default, would give 53 and 202).
    weights = mask_weights(edge, 1, 4)
    assert weights.dtype == np.float32
    np.testing.assert_array_equal(weights, np.array([[0, 64, 191, 255]], np.float32) / 255.0)
    feathered = mask_weights(np.repeat(edge, 8, axis=1), 8, 16, feather=1.5)
    assert feathered.dtype == np.float32 and feathered.min() == 0.0 and feathered.max() == 1.0
    assert mask_weights(edge, 1, 4, feather=MAX_FEATHER).dtype == np.float32  # the bound itself is allowed
    for bad in (np.zeros((4, 4), np.float32), np.zeros((4, 4, 3), np.uint8)):
        with pytest.raises(ValueError) as refused:
            mask_weights(bad, 4, 4)
        assert str(refused.value) == f"a mask is uint8 HxW greyscale, got {bad.dtype} {bad.shape}"
    with pytest.raises(ValueError) as refused:
        mask_weights(edge, 1, 4, feather=64.5)
    assert str(refused.value) == "mask_feather must be within [0, 64] pixels, got 64.5"


def test_lay_over_blends_by_weight_and_rounds_to_uint8():
    from transforms.dream.mask import lay_over

    dream = np.array([[[0, 255, 100], [200, 10, 7]]], np.uint8)
    original = np.array([[[255, 0, 50], [100, 30, 8]]], np.uint8)
    weights = np.array([[0.25, 0.5]], np.float32)
    out = lay_over(dream, original, weights)
    assert out.dtype == np.uint8
    # 0.25 * dream + 0.75 * original, and the mean of each pair, rounded half to even.
    assert out.tolist() == [[[191, 64, 62], [150, 20, 8]]]


def test_a_head_fixed_in_one_dimension_only_takes_any_size():
    import keras

    from transforms.dream.classes import classifier_of

    inputs = keras.Input((16, None, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(2, 3)(inputs))
    classifier = classifier_of(keras.Model(inputs, keras.layers.Dense(3)(pooled)))
    assert classifier.input_size is None  # resized only when both sides are fixed
