"""Each gradient rule's exact values on tiny batches: its divisor's floor (eps), per image,
the clip bounds, the blur before it, and the unit-RMS step. numpy is the reference."""
from __future__ import annotations

import numpy as np
import pytest

from transforms.dream.gradients import GradientRule, normalizer, per_image_rms, unit_rms
from transforms.dream.quiet_tensorflow import tf


def _batch() -> np.ndarray:
    """Two images of very different scale: a rule that mixes them is seen at once."""
    rng = np.random.default_rng(4)
    return np.stack([rng.normal(size=(5, 6, 3)), 1e3 * rng.normal(size=(5, 6, 3))]).astype(np.float32)


def _apply(rule: GradientRule, grads: np.ndarray) -> np.ndarray:
    return np.asarray(normalizer(rule)(tf.constant(grads)))


def test_the_default_rule_is_l2_with_unit_clips_and_four_levels():
    assert GradientRule() == GradientRule("l2", -1.0, 1.0, 1.0, 4, 0.0, 0.0)


def test_each_rule_per_image_against_numpy():
    g = _batch().astype(np.float64)
    axes = (1, 2, 3)
    l2 = g / np.sqrt((g**2).sum(axis=axes, keepdims=True))
    std = g / (g.std(axis=axes, keepdims=True) + 1e-8)
    mean_abs = g / np.abs(g).mean(axis=axes, keepdims=True)
    for name, expected in (("l2", l2), ("std", std), ("mean_abs", mean_abs), ("none", g)):
        np.testing.assert_allclose(_apply(GradientRule(name), _batch()), expected, rtol=2e-5, err_msg=name)
    clipped = _apply(GradientRule("clip_value", clip_min=-0.5, clip_max=0.25), _batch())
    np.testing.assert_array_equal(clipped, np.clip(_batch(), -0.5, 0.25))
    norms = np.sqrt((g**2).sum(axis=axes, keepdims=True))
    np.testing.assert_allclose(_apply(GradientRule("clip_norm", clip_norm=2.0), _batch()),
                               g * np.minimum(1.0, 2.0 / norms), rtol=2e-5)


def test_each_divisor_has_its_sources_floor_unless_eps_is_given():
    tiny = np.full((1, 2, 2, 3), 1e-9, np.float32)  # sum of squares 1.2e-17: under every floor
    np.testing.assert_allclose(_apply(GradientRule("l2"), tiny), tiny / np.sqrt(1e-12), rtol=1e-5)
    np.testing.assert_allclose(_apply(GradientRule("l2", eps=1e-6), tiny), tiny / np.sqrt(1e-6), rtol=1e-5)
    np.testing.assert_allclose(_apply(GradientRule("std"), tiny), tiny / 1e-8, rtol=1e-5)  # std 0
    np.testing.assert_allclose(_apply(GradientRule("std", eps=1e-3), tiny), tiny / 1e-3, rtol=1e-5)
    np.testing.assert_allclose(_apply(GradientRule("mean_abs"), tiny), tiny / 1e-7, rtol=1e-5)
    np.testing.assert_allclose(_apply(GradientRule("mean_abs", eps=1e-2), tiny), tiny / 1e-2, rtol=1e-5)
    # Above the floor the floor plays no part.
    ones = np.ones((1, 2, 2, 3), np.float32)
    np.testing.assert_allclose(_apply(GradientRule("mean_abs", eps=1e-2), ones), ones, rtol=1e-6)
    np.testing.assert_allclose(_apply(GradientRule("l2", eps=1e-2), ones), ones / np.sqrt(12), rtol=1e-6)


def test_the_blur_comes_before_the_rule_and_only_when_asked():
    from transforms.dream.smoothing import gaussian_blur

    point = np.zeros((1, 9, 9, 3), np.float32)
    point[0, 4, 4] = 1.0
    blurred = np.asarray(gaussian_blur(tf.constant(point), 1.0))
    np.testing.assert_allclose(_apply(GradientRule("none", blur=1.0), point), blurred, rtol=1e-6)
    np.testing.assert_allclose(_apply(GradientRule("l2", blur=1.0), point),
                               blurred / np.sqrt((blurred.astype(np.float64) ** 2).sum()), rtol=1e-5)
    np.testing.assert_array_equal(_apply(GradientRule("none", blur=0.0), point), point)


def test_lap_uses_the_levels_asked():
    from transforms.dream.smoothing import lap_normalize

    grads = tf.constant(np.random.default_rng(2).normal(size=(1, 32, 32, 3)).astype(np.float32))
    for levels in (1, 3):
        np.testing.assert_allclose(normalizer(GradientRule("lap", lap_levels=levels))(grads),
                                   lap_normalize(grads, levels), rtol=1e-6)


def test_an_unknown_rule_lists_the_known_ones():
    with pytest.raises(ValueError) as refused:
        normalizer(GradientRule("loud"))
    assert str(refused.value) == "unknown grad_norm 'loud'; valid: l2, std, mean_abs, clip_value, clip_norm, none, lap"


def test_unit_rms_rescales_each_image_alone():
    g = _batch()
    rms = np.sqrt((g.astype(np.float64) ** 2).mean(axis=(1, 2, 3)))
    np.testing.assert_allclose(per_image_rms(tf.constant(g)), rms, rtol=1e-5)
    assert per_image_rms(tf.constant(g)).shape == (2,) and per_image_rms(tf.constant(g), keepdims=True).shape == (2, 1, 1, 1)
    np.testing.assert_allclose(unit_rms(tf.constant(g)), g / rms[:, None, None, None], rtol=1e-5)
    np.testing.assert_array_equal(unit_rms(tf.zeros((1, 2, 2, 3))), np.zeros((1, 2, 2, 3)))  # no NaN from 0/0
    tiny = np.full((1, 2, 2, 3), 1e-14, np.float32)
    np.testing.assert_allclose(unit_rms(tf.constant(tiny)), tiny / 1e-12, rtol=1e-5)
