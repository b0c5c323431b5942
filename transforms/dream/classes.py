"""Dreams of a class: objective terms `class[281,1]:W` maximise the network's pre-softmax
scores (logits) of those classes, alone or beside layer terms.

The classifier is the model with its head: keras.applications built with `include_top`
and no softmax, or a `.keras` file whose last layer classifies. A head of fixed input size
(VGG16's 224, InceptionV3's 299) sees the image resized to it, so any image can dream of
a class. Class names: class_names.py.
"""
from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

from transforms.dream.class_names import CLASS_TERM
from transforms.dream.layers import LayerTerm
from transforms.dream.models import image_input
from transforms.dream.quiet_tensorflow import keras, tf


class NoClassifierError(ValueError):
    """Class terms asked of a model without a classifier head."""


def split_class_terms(terms: Sequence[LayerTerm]) -> tuple[tuple[LayerTerm, ...], tuple[LayerTerm, ...]]:
    """(layer terms, class terms), each in the order given."""
    return (tuple(t for t in terms if t.name != CLASS_TERM), tuple(t for t in terms if t.name == CLASS_TERM))


class Classifier(NamedTuple):
    logits: Callable[[tf.Tensor], tf.Tensor]  # BxHxWx3 model input -> B x classes, pre-softmax
    class_count: int
    input_size: tuple[int, int] | None  # a fixed input's (height, width); None: any size


def classifier_of(model: keras.Model) -> Classifier:
    """The model's pre-softmax scores: the output of a last Dense layer without activation,
    else the input of its softmax (a Dense's own softmax is undone by recomputing its
    affine part). Raises NoClassifierError for a model that does not end in a classifier."""
    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    if isinstance(last, keras.layers.Dense) and activation in (None, keras.activations.linear):
        scores = keras.Model(image_input(model), last.output)
        logits = _as_float32(scores)
    elif isinstance(last, keras.layers.Dense) and activation is keras.activations.softmax:
        features = keras.Model(image_input(model), last.input)
        kernel, bias = last.kernel, last.bias

        def logits(images: tf.Tensor) -> tf.Tensor:
            x = tf.cast(features(images), tf.float32)
            scores = tf.matmul(x, tf.cast(kernel, tf.float32))
            return scores + tf.cast(bias, tf.float32) if bias is not None else scores
    elif isinstance(last, (keras.layers.Softmax, keras.layers.Activation)):
        logits = _as_float32(keras.Model(image_input(model), last.input))
    else:
        raise NoClassifierError(
            f"model {model.name!r} does not end in a classifier (its last layer is "
            f"{type(last).__name__} {last.name!r}): class terms need a model with its head"
        )
    count = int(last.output.shape[-1])
    height, width = model.input_shape[1:3]
    return Classifier(logits, count, (height, width) if height and width else None)


def _as_float32(scores: keras.Model) -> Callable[[tf.Tensor], tf.Tensor]:
    return lambda images: tf.cast(scores(images), tf.float32)


def class_scores(classifier: Classifier, images: tf.Tensor) -> tf.Tensor:
    """B x classes logits; the images resized (bilinear, differentiable) to a fixed input."""
    if classifier.input_size is not None:
        images = tf.image.resize(images, classifier.input_size)
    return classifier.logits(images)


def class_loss(scores: tf.Tensor, terms: Sequence[LayerTerm]) -> tf.Tensor:
    """Per image: sum over class terms of weight * mean of their classes' logits."""
    loss = 0.0
    for term in terms:
        picked = tf.gather(scores, list(term.channels or ()), axis=1)
        loss += term.weight * tf.reduce_mean(picked, axis=1)
    return loss


def check_class_terms(terms: Sequence[LayerTerm], class_count: int) -> None:
    for term in terms:
        if not term.channels:
            raise ValueError("a class term names its classes: class[281] or class[281,285]")
        bad = [c for c in term.channels if c >= class_count]
        if bad:
            raise ValueError(f"the model has classes 0-{class_count - 1}; {bad} out of range")
