"""DeepDream objectives: what the gradient ascent maximises, one value per image of a batch."""
from __future__ import annotations

from typing import Mapping, Sequence

from transforms.dream.layers import LayersLike, LayerTerm, as_terms
from transforms.dream.params import OBJECTIVES
from transforms.dream.quiet_tensorflow import tf

BORDER = 2


def crop_border(activation: tf.Tensor, border: int = BORDER) -> tf.Tensor:
    """Drop `border` pixels on each side, where the map is big enough to keep something.

    Feature maps at most 2*border wide in a dimension are kept whole in that dimension:
    cropping them would leave nothing and the mean of nothing is NaN.
    """
    height, width = tf.shape(activation)[1], tf.shape(activation)[2]
    crop_h = tf.where(height > 2 * border, border, 0)
    crop_w = tf.where(width > 2 * border, border, 0)
    # tf.slice, not [a:b] indexing: its gradient is a Pad, where StridedSliceGrad cost 7% of
    # an InceptionV3 step on CPU (bench/ --profile).
    begin = [0, crop_h, crop_w, 0]
    return tf.slice(activation, begin, [-1, height - 2 * crop_h, width - 2 * crop_w, -1])


def term_activation(features: Mapping[str, tf.Tensor], term: LayerTerm, border: int = BORDER) -> tf.Tensor:
    """The term's layer output, cropped, as float32, with only its channels when it names some."""
    activation = tf.cast(features[term.name], tf.float32)
    if border:  # 0: the TF tutorial's whole map
        activation = crop_border(activation, border)
    if term.channels is not None:
        activation = tf.gather(activation, list(term.channels), axis=-1)
    return activation


def dream_loss(
    features: Mapping[str, tf.Tensor], terms: LayersLike, objective: str = "mean_square",
    border: int = BORDER, channel_masks: Mapping[int, tf.Variable] | None = None,
    weights: tf.Tensor | None = None,
) -> tf.Tensor:
    """Per image: sum over terms of weight * mean(square(cropped activation)) (the seed), of
    weight * mean(cropped activation) with objective "mean" (the TF tutorial), or of weight *
    sum(square(cropped activation)) / size of the uncropped map ("mean_square_full_map",
    keras.io's example as written). `channel_masks[i]` (B x C of 0 and 1, picked per image,
    channel_pick.py) narrows term i to its picked channels: the mean is over those alone.
    `weights[i]` (data, so a schedule can change it per frame) replaces term i's own weight."""
    loss = 0.0
    for index, term in enumerate(as_terms(terms)):
        activation = term_activation(features, term, border)
        mask = channel_masks.get(index) if channel_masks else None
        if mask is not None:
            value = _picked_channels_value(activation, mask, objective, features[term.name])
        elif objective == "mean":
            value = tf.reduce_mean(activation, axis=[1, 2, 3])
        elif objective == "mean_square":
            value = tf.reduce_mean(tf.square(activation), axis=[1, 2, 3])
        elif objective == "mean_square_full_map":  # keras.io's example, its scaling as written
            full = tf.shape(features[term.name])
            size = tf.cast(full[1] * full[2] * tf.shape(activation)[3], tf.float32)
            value = tf.reduce_sum(tf.square(activation), axis=[1, 2, 3]) / size
        else:
            raise ValueError(f"unknown objective {objective!r}; valid: {', '.join(OBJECTIVES)}")
        loss += (term.weight if weights is None else weights[index]) * value
    return loss


def _picked_channels_value(activation: tf.Tensor, mask: tf.Tensor, objective: str, whole: tf.Tensor) -> tf.Tensor:
    """A term's objective over each image's picked channels only (a mask, not a gather: the
    picks differ per image and change between octaves without a new graph)."""
    weights = tf.cast(mask, tf.float32)[:, None, None, :]
    values = activation if objective == "mean" else tf.square(activation)
    area = tf.shape(whole) if objective == "mean_square_full_map" else tf.shape(activation)
    size = tf.cast(area[1] * area[2], tf.float32) * tf.reduce_sum(tf.cast(mask, tf.float32), axis=1)
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; valid: {', '.join(OBJECTIVES)}")
    return tf.reduce_sum(values * weights, axis=[1, 2, 3]) / size


def total_variation(images: tf.Tensor) -> tf.Tensor:
    """Per image: mean absolute difference between neighbouring pixels (both directions),
    in the model's input units; a mean, so its weight means the same at any size."""
    dy = tf.reduce_mean(tf.abs(images[:, 1:, :, :] - images[:, :-1, :, :]), axis=[1, 2, 3])
    dx = tf.reduce_mean(tf.abs(images[:, :, 1:, :] - images[:, :, :-1, :]), axis=[1, 2, 3])
    return dy + dx


def guide_loss(
    features: Mapping[str, tf.Tensor],
    terms: Sequence[LayerTerm],
    guide_features: Sequence[tf.Tensor],
    border: int = BORDER,
    weights: tf.Tensor | None = None,
) -> tf.Tensor:
    """Guided dreaming (Google's original `objective_guide`): every feature vector of the image
    moves towards the guide's feature vector it already matches best.

    Per image: sum over terms of weight * mean over positions p of max over guide positions q
    of <x_p, y_q>; its gradient at p is the best-matching guide vector, as in the original.
    `guide_features[i]` holds term i's guide vectors, QxC.
    """
    loss = 0.0
    for index, (term, guide) in enumerate(zip(terms, guide_features, strict=True)):
        scores = tf.einsum("bhwc,qc->bhwq", term_activation(features, term, border), guide)
        weight = term.weight if weights is None else weights[index]
        loss += weight * tf.reduce_mean(tf.reduce_max(scores, axis=-1), axis=[1, 2])
    return loss


def guide_vectors(features: Mapping[str, tf.Tensor], terms: Sequence[LayerTerm]) -> list[tf.Tensor]:
    """The guide image's feature vectors per term, flattened to QxC constants."""
    vectors = []
    for term in terms:
        activation = term_activation(features, term)
        vectors.append(tf.reshape(activation, [-1, tf.shape(activation)[-1]]))
    return vectors
