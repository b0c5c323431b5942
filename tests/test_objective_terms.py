"""The objectives' exact values on tiny feature maps: the crop, each objective's scaling,
several weighted terms, picked channels per image, total variation and the guide. numpy
is the reference."""
from __future__ import annotations

import numpy as np
import pytest

from transforms.dream.layers import LayerTerm
from transforms.dream.objective import (
    crop_border,
    dream_loss,
    guide_loss,
    guide_vectors,
    term_activation,
    total_variation,
)
from transforms.dream.quiet_tensorflow import tf


def _maps(seed: int = 0, shape: tuple[int, ...] = (2, 7, 9, 4)) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def test_the_crop_keeps_the_middle_and_whole_dimensions_too_small_to_crop():
    x = _maps(shape=(1, 7, 4, 2))
    np.testing.assert_array_equal(crop_border(tf.constant(x)), x[:, 2:5, :, :])  # width 4 = 2 * 2: kept
    np.testing.assert_array_equal(crop_border(tf.constant(x), 1), x[:, 1:6, 1:3, :])
    y = _maps(shape=(1, 5, 5, 2))
    np.testing.assert_array_equal(crop_border(tf.constant(y)), y[:, 2:3, 2:3, :])


def test_a_terms_activation_is_float32_cropped_and_its_channels_in_order():
    x = _maps()
    features = {"a": tf.constant(x, tf.float16)}
    picked = term_activation(features, LayerTerm("a", 1.0, (3, 1)))
    assert picked.dtype == tf.float32
    np.testing.assert_array_equal(picked, x.astype(np.float16).astype(np.float32)[:, 2:5, 2:7][..., [3, 1]])
    narrow = term_activation(features, LayerTerm("a"), border=1)
    np.testing.assert_array_equal(narrow, x.astype(np.float16).astype(np.float32)[:, 1:6, 1:8])
    whole = term_activation(features, LayerTerm("a"), border=0)
    np.testing.assert_array_equal(whole, x.astype(np.float16).astype(np.float32))


def test_each_objective_is_its_mean_and_the_terms_add_up_with_their_weights():
    a, b = _maps(1), _maps(2, (2, 6, 6, 3))
    features = {"a": tf.constant(a), "b": tf.constant(b)}
    terms = [LayerTerm("a", 2.0), LayerTerm("b", 0.5, (0, 2))]
    ca, cb = a[:, 2:5, 2:7], b[:, 2:4, 2:4][..., [0, 2]]
    axes = (1, 2, 3)
    expected = {
        "mean_square": 2.0 * (ca**2).mean(axis=axes) + 0.5 * (cb**2).mean(axis=axes),
        "mean": 2.0 * ca.mean(axis=axes) + 0.5 * cb.mean(axis=axes),
        # keras.io's scaling: the cropped map's sum over the uncropped map's size (its channels used).
        "mean_square_full_map": 2.0 * (ca**2).sum(axis=axes) / (7 * 9 * 4) + 0.5 * (cb**2).sum(axis=axes) / (6 * 6 * 2),
    }
    for objective, values in expected.items():
        np.testing.assert_allclose(dream_loss(features, terms, objective), values, rtol=1e-5, err_msg=objective)
    np.testing.assert_allclose(dream_loss(features, terms), expected["mean_square"], rtol=1e-5)
    whole = 2.0 * (a**2).mean(axis=axes) + 0.5 * (b[..., [0, 2]] ** 2).mean(axis=axes)
    np.testing.assert_allclose(dream_loss(features, terms, border=0), whole, rtol=1e-5)
    with pytest.raises(ValueError) as refused:
        dream_loss(features, terms, "loud")
    assert str(refused.value) == "unknown objective 'loud'; valid: mean_square, mean, mean_square_full_map"


def test_picked_channels_count_alone_per_image_in_each_objective():
    a, b = _maps(3), _maps(4, (2, 6, 6, 3))
    features = {"a": tf.constant(a), "b": tf.constant(b)}
    terms = [LayerTerm("a", 2.0), LayerTerm("b", 0.5)]
    mask = np.array([[1, 0, 0, 1], [0, 1, 1, 1]], np.float32)  # term 0's picks, per image
    ca, cb = a[:, 2:5, 2:7], b[:, 2:4, 2:4]
    axes = (1, 2, 3)
    sq_picked = [(ca[i][..., mask[i] > 0] ** 2).sum() for i in range(2)]
    picked_mean = [ca[i][..., mask[i] > 0].mean() for i in range(2)]
    expected = {
        "mean_square": 2.0 * np.array([sq_picked[i] / (3 * 5 * mask[i].sum()) for i in range(2)])
        + 0.5 * (cb**2).mean(axis=axes),
        "mean": 2.0 * np.array(picked_mean) + 0.5 * cb.mean(axis=axes),
        "mean_square_full_map": 2.0 * np.array([sq_picked[i] / (7 * 9 * mask[i].sum()) for i in range(2)])
        + 0.5 * (cb**2).sum(axis=axes) / (6 * 6 * 3),
    }
    masks = {0: tf.Variable(mask)}
    for objective, values in expected.items():
        np.testing.assert_allclose(dream_loss(features, terms, objective, channel_masks=masks), values, rtol=1e-5,
                                   err_msg=objective)
    with pytest.raises(ValueError) as refused:
        dream_loss(features, terms, "loud", channel_masks=masks)
    assert str(refused.value) == "unknown objective 'loud'; valid: mean_square, mean, mean_square_full_map"


def test_total_variation_is_the_mean_step_each_way_per_image():
    x = _maps(5, (2, 4, 5, 3))
    dy = np.abs(np.diff(x, axis=1)).mean(axis=(1, 2, 3))
    dx = np.abs(np.diff(x, axis=2)).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(total_variation(tf.constant(x)), dy + dx, rtol=1e-5)


def test_the_guide_loss_is_each_positions_best_match_weighted_per_term():
    a, b = _maps(6, (2, 6, 7, 3)), _maps(7, (2, 5, 5, 2))
    features = {"a": tf.constant(a), "b": tf.constant(b)}
    terms = [LayerTerm("a", 2.0), LayerTerm("b", 0.5, (1,))]
    guide_a, guide_b = _maps(8, (1, 6, 8, 3)), _maps(9, (1, 5, 6, 2))
    vectors = guide_vectors({"a": tf.constant(guide_a), "b": tf.constant(guide_b)}, terms)
    np.testing.assert_array_equal(vectors[0], guide_a[0, 2:4, 2:6].reshape(-1, 3))
    np.testing.assert_array_equal(vectors[1], guide_b[0, 2:3, 2:4][..., [1]].reshape(-1, 1))

    def best(x: np.ndarray, g: np.ndarray) -> np.ndarray:
        return np.einsum("bhwc,qc->bhwq", x, g).max(axis=-1).mean(axis=(1, 2))

    expected = 2.0 * best(a[:, 2:4, 2:5], np.asarray(vectors[0])) + 0.5 * best(b[:, 2:3, 2:3][..., [1]],
                                                                               np.asarray(vectors[1]))
    np.testing.assert_allclose(guide_loss(features, terms, vectors), expected, rtol=1e-5)
    whole = 2.0 * best(a, np.asarray(vectors[0])) + 0.5 * best(b[..., [1]], np.asarray(vectors[1]))
    np.testing.assert_allclose(guide_loss(features, terms, vectors, border=0), whole, rtol=1e-5)
    with pytest.raises(ValueError):  # a guide for each term, no fewer
        guide_loss(features, terms, vectors[:1])
