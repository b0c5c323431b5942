"""Dreamer: DeepDream on RGB images, usable on its own (no Beam needed)."""
from __future__ import annotations

import math
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Mapping, Sequence

import numpy as np
from PIL import Image

from transforms.dream.ascent import LossFn, RandomTransform, TransformRange, compile_octave_ascent
from transforms.dream.channel_pick import ChannelPick, channel_mask, pick_channels
from transforms.dream.class_names import class_names_for, top_classes
from transforms.dream.classes import (
    NoClassifierError,
    check_class_terms,
    class_loss,
    class_scores,
    classifier_of,
    split_class_terms,
)
from transforms.dream.folding import fold_batch_norms
from transforms.dream.gradients import GradientRule
from transforms.dream.layers import LayersLike, as_terms
from transforms.dream.mask import lay_over, mask_weights
from transforms.dream.models import ModelSpec, feature_extractor, get_model_spec, layer_channels
from transforms.dream.noise import noise_image
from transforms.dream.objective import (
    BORDER,
    dream_loss,
    guide_loss,
    guide_vectors,
    term_activation,
    total_variation,
)
from transforms.dream.octaves import octave_shapes
from transforms.dream.parameterization import gradient_filter
from transforms.dream.params import INITS, DreamParams, check_tile_size
from transforms.dream.precision import LOSS_SCALE, with_precision
from transforms.dream.preprocessing import Preprocessing
from transforms.dream.quiet_tensorflow import keras, tf


@dataclass(frozen=True)
class OctaveRecord:
    """What happened in one octave."""

    index: int
    height: int
    width: int
    losses: list[float]
    steps_run: int
    stopped_early: bool
    # Mean RMS change per pixel value of one step, in the model's input units. With the
    # classic l2 rule it is step / sqrt(H*W*3): weaker on bigger images.
    effective_step: float
    seconds: float = 0.0  # wall time of the octave's ascent (shared by a batch's images)


@dataclass
class DreamResult:
    image: np.ndarray  # uint8 HxWx3 RGB, the input's size
    octaves: list[OctaveRecord] = field(default_factory=list)
    seconds: float = 0.0
    device: str = ""  # where the ascent actually ran, e.g. "GPU:0" or "CPU:0"
    tile_size: int = 0  # tiles it was dreamed in (0: whole), automatic ones included
    # With a channel pick: per octave it picked at, {layer: channels} (ascending).
    picked_channels: list[dict[str, list[int]]] = field(default_factory=list)
    # With class terms: {"input": [...], "dream": [...]}, each the top-5 {class, score[, name]}.
    top_classes: dict[str, list[dict]] | None = None

    def octave_dicts(self) -> list[dict]:
        return [asdict(octave) for octave in self.octaves]


class Dreamer:
    """Runs the octave loop of DeepDream with a fixed network and objective.

    Build from a registered model name with `Dreamer.from_name("inception_v3")`, or pass any
    already-built Keras model with its layers (text like 'mixed4:1,mixed5[3,7]:2', a
    {name: weight} mapping or LayerTerms) and pixel convention. With `guide` (uint8 RGB) the
    objective is the dot product with the guide's features instead of the L2 norm.
    """

    def __init__(
        self,
        model: keras.Model,
        layers: LayersLike,
        preprocessing: Preprocessing,
        min_input_size: int = 32,
        guide: np.ndarray | None = None,
        jit: bool = False,
        fold_batch_norm: bool = True,
        precision: str = "float32",
        mask: np.ndarray | None = None,
        mask_feather: float = 0.0,
        channel_pick: ChannelPick | None = None,
        classifier: keras.Model | None = None,
        parameterization: str = "pixel",
        init: str = "input",
    ) -> None:
        """`mask` (uint8 HxW greyscale, any size): dream only where it is non-zero, by its
        weight, edges feathered by a Gaussian of `mask_feather` pixels (transforms.dream.mask).
        `channel_pick`: each term without channels of its own dreams the channels it picks
        per image (transforms.dream.channel_pick). `classifier`: the model with its head, for
        class terms (`class[281]`, transforms.dream.classes); records then name the top classes.
        `parameterization`: "pixel" or "fft" (transforms.dream.parameterization)."""
        gradient_filter(parameterization)  # an unknown name fails here, not at the first dream
        self.parameterization = parameterization
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; valid: {', '.join(INITS)}")
        self.init = init  # "noise": each image dreamed from seeded noise of its size
        if channel_pick is not None and guide is not None:
            raise ValueError("channels auto:N and a guide do not combine: the guide's features decide")
        self.terms = as_terms(layers)
        self._layer_terms, self._class_terms = split_class_terms(self.terms)
        if self._class_terms and guide is not None:
            raise ValueError("class terms and a guide do not combine: the guide's features decide")
        if self._class_terms and classifier is None:
            raise NoClassifierError("class terms need the model's classifier head")
        self._classifier = classifier_of(with_precision(classifier, precision)) if classifier is not None else None
        if self._classifier is not None:
            check_class_terms(self._class_terms, self._classifier.class_count)
        self.mask, self.mask_feather = mask, mask_feather
        self.channel_pick = channel_pick
        self.preprocessing = preprocessing
        self.min_input_size = min_input_size
        self.jit = jit
        self.precision = precision
        if fold_batch_norm:  # same function up to float rounding, fewer ops per step
            model = fold_batch_norms(model, keep=[term.name for term in self._layer_terms])
        model = with_precision(model, precision)
        # Class terms alone need no feature maps: the classifier is the whole objective.
        self._extractor = feature_extractor(model, self._layer_terms) if self._layer_terms else None
        self.guided = guide is not None
        self._guide_features = (
            guide_vectors(self._features(preprocessing.preprocess(guide)), self._layer_terms)
            if guide is not None else None
        )
        # The picked channels as data the loss reads: new picks need no new graph.
        self._channel_masks: dict[int, tf.Variable] = {}
        if channel_pick is not None:
            widths = {term.name: layer_channels(model, term.name) for term in self._layer_terms}
            self._channel_masks = {
                index: tf.Variable(tf.ones([1, widths[term.name]]), shape=tf.TensorShape([None, widths[term.name]]),
                                   trainable=False)
                for index, term in enumerate(self._layer_terms) if term.channels is None
            }
        # The layer terms' weights as data the loss reads: a dream may weigh them anew (a
        # schedule, per frame) without a new graph.
        self._layer_weights = tf.Variable([float(term.weight) for term in self._layer_terms] or [0.0],
                                          trainable=False, dtype=tf.float32)
        # Likewise the total-variation weight and the random zoom and turn, set from each
        # dream's params: a new value compiles nothing (only turning one on or off does).
        self._tv_weight = tf.Variable(0.0, trainable=False)
        self._transform = TransformRange(*(tf.Variable(0.0, trainable=False) for _ in TransformRange._fields))
        # Those variables (and the picked channels') are set for each dream: one dream at a
        # time per Dreamer, which a worker's threads share.
        self._dreaming = threading.Lock()
        self._ascents: dict[tuple, object] = {}

    def layer_weights(self, changes: Mapping[str, float] | None = None) -> dict[str, float]:
        """{term key (`mixed5[3,7]`): weight} of the layer terms, with `changes` (by key) in
        place of their own weights."""
        weights = {term.key: term.weight for term in self._layer_terms}
        unknown = sorted(set(changes or ()) - set(weights))
        if unknown:
            raise ValueError(f"no layer term {', '.join(unknown)} in this dream's layers ({', '.join(weights)})")
        return {**weights, **(changes or {})}

    def _features(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        return self._extractor(images) if self._extractor is not None else {}

    def objective(self, objective: str = "mean_square", tv_weight: float | tf.Variable = 0.0,
                  border: int = BORDER) -> LossFn:
        """images -> loss per image: the guide's dot product when there is a guide, else the
        layers' activations (mean of squares, or mean), less tv_weight x total variation (a
        number, 0 for none, or a variable read at every step); feature maps lose `border`
        pixels on each side first."""
        penalised = isinstance(tv_weight, tf.Variable) or bool(tv_weight)
        features_of, terms, guide_features = self._features, self._layer_terms, self._guide_features
        channel_masks, classifier, class_terms = self._channel_masks, self._classifier, self._class_terms
        weights = self._layer_weights

        def loss_fn(images: tf.Tensor) -> tf.Tensor:
            features = features_of(images)
            if guide_features is not None:
                loss = guide_loss(features, terms, guide_features, border, weights)
            else:
                loss = dream_loss(features, terms, objective, border, channel_masks, weights)
            if class_terms and classifier is not None:
                loss += class_loss(class_scores(classifier, images), class_terms)
            return loss - tv_weight * total_variation(images) if penalised else loss

        return loss_fn

    @classmethod
    def from_spec(
        cls, spec: ModelSpec, weights: str | None = None, layers: LayersLike | None = None, **kwargs
    ) -> Dreamer:
        return cls(
            spec.build(weights),
            layers or spec.default_layers,
            spec.preprocessing,
            spec.min_input_size,
            **kwargs,
        )

    @classmethod
    def from_name(cls, name: str, **kwargs) -> Dreamer:
        return cls.from_spec(get_model_spec(name), **kwargs)

    def _ascent(self, params: DreamParams, masked: bool = False):
        """One compiled octave loop per gradient rule, step mode, tiling and mask, built on
        first use, with params' tv_weight and random transform set for it to read."""
        rule = GradientRule(params.grad_norm, params.clip_min, params.clip_max, params.clip_norm,
                            params.lap_levels, params.grad_blur, params.grad_eps)
        transform = RandomTransform(params.random_scale_min, params.random_scale_max, params.random_rotate)
        tiling = params.tile_grid if params.tile_size > 0 else None
        bounds = self.preprocessing.pixel_bounds() if params.clip_pixels else None
        # The values of tv_weight and the transform are data (set below); on or off is graph.
        key = (rule, params.step_mode, tiling, params.objective, params.tv_weight > 0,
               params.activation_border, transform.active, params.clip_pixels, masked, self.parameterization)
        self._tv_weight.assign(params.tv_weight)
        for variable, value in zip(self._transform, TransformRange.of(transform), strict=True):
            variable.assign(value)
        if key not in self._ascents:
            # XLA cannot compile the tile loop (data-dependent tile shapes): tiled dreams run
            # without it.
            self._ascents[key] = compile_octave_ascent(
                self.objective(params.objective, self._tv_weight if params.tv_weight else 0.0,
                               params.activation_border),
                rule, params.step_mode, self.jit and not tiling, tiling=tiling,
                loss_scale=LOSS_SCALE[self.precision],
                random_transform=self._transform if transform.active else None,
                pixel_bounds=bounds, masked=masked, parameterization=self.parameterization,
            )
        return self._ascents[key]

    def dream(self, rgb: np.ndarray, params: DreamParams = DreamParams(),
              layer_weights: Mapping[str, float] | None = None) -> DreamResult:
        """Dream on a uint8 HxWx3 RGB image; returns an image of the same size (of the
        largest octave with params.keep_upscaled)."""
        return self.dream_batch([rgb], params, layer_weights=layer_weights)[0]

    def dream_batch(self, images: Sequence[np.ndarray], params: DreamParams = DreamParams(),
                    masks: Sequence[np.ndarray | None] | None = None,
                    layer_weights: Mapping[str, float] | None = None) -> list[DreamResult]:
        """Dream on same-size uint8 HxWx3 images in one pass each step; each result is the
        one `dream` gives for that image alone (same seed, same rolls). `masks`: one per
        image (uint8 greyscale, or None for the Dreamer's own mask) in place of the Dreamer's.
        `layer_weights`: {term key: weight} in place of those terms' own, for this dream."""
        weights = self.layer_weights(layer_weights)
        with self._dreaming:
            self._layer_weights.assign([weights[term.key] for term in self._layer_terms] or [0.0])
            return self._dream_batch(images, params, masks)

    def _dream_batch(self, images: Sequence[np.ndarray], params: DreamParams,
                     masks: Sequence[np.ndarray | None] | None) -> list[DreamResult]:
        if not images:
            return []
        for rgb in images:
            if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
                raise ValueError(f"expected uint8 HxWx3 RGB, got {rgb.dtype} {rgb.shape}")
        if len({rgb.shape for rgb in images}) != 1:
            raise ValueError("a batch needs images of one size")
        check_tile_size(params.tile_size, self.min_input_size)
        started = time.perf_counter()
        height, width = images[0].shape[:2]
        shapes = octave_shapes(
            height, width, params.octaves, params.octave_scale,
            max(self.min_input_size, params.min_octave_size), params.upscale_octaves,
            params.octave_sizes,
        )
        per_image = [self.mask if m is None else m for m in (masks or [None] * len(images))]
        if len(per_image) != len(images):
            raise ValueError(f"{len(per_image)} masks for {len(images)} images")
        weights = None
        if any(m is not None for m in per_image):  # unmasked images of a masked batch move fully
            weights = np.stack([np.ones((height, width), np.float32) if m is None
                                else mask_weights(m, height, width, self.mask_feather) for m in per_image])
        ascend = self._ascent(params, masked=weights is not None)
        max_loss = math.inf if params.max_loss is None else params.max_loss
        starts = images
        if self.init == "noise":  # the image gives its size (and, with a mask, what stays)
            starts = [noise_image(width, height, params.seed)] * len(images)
        original = tf.concat([self.preprocessing.preprocess(rgb) for rgb in starts], axis=0)
        dreamed = tf.identity(original)
        shrunk_original = tf.image.resize(original, shapes[0])
        records: list[list[OctaveRecord]] = [[] for _ in images]
        picked: list[list[dict[str, list[int]]]] = [[] for _ in images]
        for index, shape in enumerate(shapes):
            dreamed = _resized(dreamed, shape)
            if self.channel_pick is not None and (index == 0 or self.channel_pick.capture == "octave"):
                for b, picks in enumerate(self._pick_channels(dreamed, params, index)):
                    picked[b].append(picks)
            octave_started = time.perf_counter()
            if params.iterations:
                masking = [] if weights is None else [tf.image.resize(weights[:, :, :, None], shape)]
                octave = ascend(
                    dreamed, tf.constant(params.iterations), tf.constant(params.step, tf.float32),
                    tf.constant(max_loss, tf.float32), tf.constant(params.jitter),
                    tf.constant(params.tile_size),
                    tf.constant([params.seed, index], tf.int64),
                    *masking,
                )
                dreamed = octave.images
                losses, steps_run = octave.losses.numpy(), octave.steps_run.numpy()
                stopped, effective = octave.stopped_early.numpy(), octave.effective_step.numpy()
            else:
                losses = np.zeros((0, len(images)))
                steps_run = np.zeros(len(images), int)
                stopped, effective = np.zeros(len(images), bool), np.zeros(len(images))
            octave_seconds = time.perf_counter() - octave_started
            if params.reinject_detail:
                # Put back the detail that shrinking the original lost at this octave's size.
                same_size_original = _resized(original, shape)
                dreamed += same_size_original - tf.image.resize(shrunk_original, shape)
                shrunk_original = same_size_original
            for b, octaves in enumerate(records):
                octaves.append(
                    OctaveRecord(
                        index=index,
                        height=shape[0],
                        width=shape[1],
                        losses=[float(loss) for loss in losses[: steps_run[b], b]],
                        steps_run=int(steps_run[b]),
                        stopped_early=bool(stopped[b]),
                        effective_step=float(effective[b]),
                        seconds=octave_seconds,
                    )
                )
        if shapes[-1] != (height, width) and not params.keep_upscaled:
            # Octaves above the input's size: back to it, with Lanczos (sharp, few rings).
            dreamed = tf.image.resize(dreamed, (height, width), method="lanczos3")
        device = dreamed.device.rsplit("device:", 1)[-1]  # ".../device:GPU:0" -> "GPU:0"
        seconds = (time.perf_counter() - started) / len(images)
        tops = self._top_classes(original, dreamed)
        return [
            DreamResult(self._masked(self.preprocessing.deprocess(dreamed[b : b + 1]), images[b], per_image[b],
                                     None if weights is None else weights[b]),
                        octaves, seconds, device, params.tile_size, picked[b], tops[b])
            for b, octaves in enumerate(records)
        ]

    def _top_classes(self, original: tf.Tensor, dreamed: tf.Tensor) -> list[dict[str, list[dict]] | None]:
        """With a classifier: the top-5 classes of each input and of its dream."""
        if self._classifier is None:
            return [None] * int(original.shape[0])
        names = class_names_for(self._classifier.class_count)
        before = class_scores(self._classifier, original).numpy()
        after = class_scores(self._classifier, dreamed).numpy()
        return [{"input": top_classes(b, names=names), "dream": top_classes(a, names=names)}
                for b, a in zip(before, after, strict=True)]

    def _pick_channels(self, images: tf.Tensor, params: DreamParams, octave: int) -> list[dict[str, list[int]]]:
        """Measure each picking term's channels on `images` (their mean activation over the
        cropped map), pick, and hand the picks to the loss. Returns {layer: channels} per image."""
        assert self.channel_pick is not None
        features = self._features(images)
        picks: list[dict[str, list[int]]] = [{} for _ in range(int(images.shape[0]))]
        for index, variable in self._channel_masks.items():
            term = self._layer_terms[index]
            activation = term_activation(features, term, params.activation_border)
            means = tf.reduce_mean(activation, axis=[1, 2]).numpy()
            chosen = pick_channels(means, self.channel_pick, params.seed, octave)
            variable.assign(channel_mask(chosen, means.shape[1]))
            for b, channels in enumerate(chosen):
                picks[b][term.name] = [int(c) for c in channels]
        return picks

    def _masked(self, dream: np.ndarray, rgb: np.ndarray, mask: np.ndarray | None,
                weights: np.ndarray | None) -> np.ndarray:
        """The dream laid over its input through the mask (`weights`: its weights at the
        input's size): where the mask is 0, the input exactly (the octaves' resizing and
        re-injected detail never reach it)."""
        if mask is None or weights is None:
            return dream
        height, width = dream.shape[:2]
        if rgb.shape[:2] != (height, width):  # keep_upscaled: the input and weights at the dream's size
            rgb = np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.LANCZOS))
            weights = mask_weights(mask, height, width, self.mask_feather)
        return lay_over(dream, rgb, weights)


def _resized(images: tf.Tensor, shape: tuple[int, int]) -> tf.Tensor:
    """Resize to `shape`; already that size: the same tensor (no full-size copy)."""
    if tuple(images.shape[1:3]) == tuple(shape):
        return images
    return tf.image.resize(images, shape)
