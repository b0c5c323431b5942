"""Settings of the octave loop. Light to import (no TensorFlow), so the CLI parses fast."""
from __future__ import annotations

import math
from dataclasses import dataclass

# Kept in step with transforms.dream.gradients.NORMALIZERS (a test checks).
GRAD_NORMS = ("l2", "std", "mean_abs", "clip_value", "clip_norm", "none", "lap")
# What the layers' activations are turned into: the seed's mean of squares, the TF
# tutorial's plain mean, or keras.io's example as written (squares summed over the cropped
# map, divided by the size of the whole map).
OBJECTIVES = ("mean_square", "mean", "mean_square_full_map")
MAX_GRAD_BLUR = 10.0
MAX_UPSCALE_OCTAVES = 4
STEP_MODES = ("image", "pixel")
# Where tile edges go: a grid shifted by a seeded offset every step (no seams), or the TF
# tutorial's fixed grid of whole tiles over the rolled image (the last partial tile skipped).
TILE_GRIDS = ("shifted", "rolled")
# How octave sides are computed: the seed's int(side / scale**i) in double precision, or the
# TF tutorial's int(float32(side) * float32(scale**k)) (one pixel apart for ~1% of sides).
OCTAVE_SIZES = ("divide", "multiply")
MAX_ACTIVATION_BORDER = 8
# How the image is parameterised during ascent (kept in step with parameterization.py).
PARAMETERIZATIONS = ("pixel", "fft")
# Where a dream starts: the image, or seeded noise of its size (noise_input.noise_image).
INITS = ("input", "noise")
# Kept in step with precision.py's LOSS_SCALE and preprocessing.PREPROCESSINGS (tests check).
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
PREPROCESSING_NAMES = ("inception", "caffe", "torch", "raw")
# How many model input units one grey level of the 0-255 image is, per pixel convention: a
# step given for one network means the same visual change on another after conversion.
# torch divides by a per-channel std (0.229, 0.224, 0.225): their mean stands for all three.
UNITS_PER_LEVEL = {"inception": 1 / 127.5, "caffe": 1.0, "torch": 1 / (255 * 0.226), "raw": 1.0}


@dataclass(frozen=True)
class DreamParams:
    """Per-call settings of the octave loop (the classic values by default).

    step_mode "image": the step applies to the normalised gradient as is (classic; with l2 the
    change per pixel shrinks as the image grows). "pixel": the normalised gradient is rescaled
    to an RMS of 1 per element first, so `step` is the change per pixel at any resolution.
    """

    octaves: int = 3
    octave_scale: float = 1.4
    iterations: int = 30
    step: float = 20.0
    max_loss: float | None = 15.0  # None: never stop early
    grad_norm: str = "l2"
    clip_min: float = -1.0  # clip_value bounds
    clip_max: float = 1.0
    clip_norm: float = 1.0  # clip_norm's norm
    step_mode: str = "image"
    jitter: int = 0  # random roll of up to this many pixels per step, undone after it
    tile_size: int = 0  # 0: whole image at once; else gradients tile by tile
    seed: int = 0  # drives jitter and tile rolls; same seed, same dream
    min_octave_size: int = 0  # octaves smaller than this are skipped (never below the model's)
    lap_levels: int = 4  # Laplacian pyramid levels of grad_norm "lap"
    grad_blur: float = 0.0  # Gaussian sigma (pixels) smoothing the gradient; 0: off
    tv_weight: float = 0.0  # total-variation penalty in the objective; 0: off
    objective: str = "mean_square"  # of the layers' activations (a guide replaces it)
    upscale_octaves: int = 0  # octaves above the input's size (memory follows the largest)
    keep_upscaled: bool = False  # write the largest octave instead of the input's size
    random_scale_min: float = 1.0  # seeded zoom per step within [min, max] (1, 1: off)
    random_scale_max: float = 1.0
    random_rotate: float = 0.0  # seeded turn per step within +-this many degrees (0: off)
    grad_eps: float = 0.0  # floor of l2/std/mean_abs's divisor; 0: the rule's source's own
    # The rest keep each source's loop as it was written (the TF tutorial differs from the seed).
    activation_border: int = 2  # pixels cropped off each side of a feature map before the objective
    reinject_detail: bool = True  # put back the detail lost by shrinking, after each octave
    clip_pixels: bool = False  # clip the image to the model's pixel range after every step
    tile_grid: str = "shifted"  # see TILE_GRIDS
    octave_sizes: str = "divide"  # see OCTAVE_SIZES

    def __post_init__(self) -> None:
        # inf passes the bounds below and dreams a black image (nan fails them); max_loss inf
        # means never stop early, and clip bounds of +-inf clip nothing: both allowed.
        for name in ("step", "octave_scale", "clip_norm", "tv_weight", "grad_eps"):
            if math.isinf(getattr(self, name)):
                raise ValueError(f"{name} must be a finite number, got {getattr(self, name)}")
        if self.iterations < 0:
            raise ValueError(f"iterations must be >= 0, got {self.iterations}")
        if not self.step > 0:
            raise ValueError(f"step must be > 0, got {self.step}")
        if self.octaves < 1:
            raise ValueError(f"octaves must be >= 1, got {self.octaves}")
        if not self.octave_scale >= 1:  # below 1 the octaves would shrink towards the input
            raise ValueError(f"octave_scale must be >= 1 (each octave larger than the one before), "
                             f"got {self.octave_scale}")
        if self.grad_norm not in GRAD_NORMS:
            raise ValueError(f"unknown grad_norm {self.grad_norm!r}; valid: {', '.join(GRAD_NORMS)}")
        if self.step_mode not in STEP_MODES:
            raise ValueError(f"unknown step_mode {self.step_mode!r}; valid: {', '.join(STEP_MODES)}")
        if not self.clip_min < self.clip_max:
            raise ValueError(f"clip_min must be < clip_max, got {self.clip_min}, {self.clip_max}")
        if not self.clip_norm > 0:
            raise ValueError(f"clip_norm must be > 0, got {self.clip_norm}")
        for name in ("jitter", "tile_size", "min_octave_size"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 1 <= self.lap_levels <= 8:
            raise ValueError(f"lap_levels must be within [1, 8], got {self.lap_levels}")
        if not 0 <= self.grad_blur <= MAX_GRAD_BLUR:
            raise ValueError(f"grad_blur must be within [0, {MAX_GRAD_BLUR:g}] pixels, got {self.grad_blur}")
        if not self.tv_weight >= 0:
            raise ValueError(f"tv_weight must be >= 0, got {self.tv_weight}")
        if not 0 <= self.upscale_octaves <= MAX_UPSCALE_OCTAVES:
            raise ValueError(
                f"upscale_octaves must be within [0, {MAX_UPSCALE_OCTAVES}], got {self.upscale_octaves}"
            )
        if not 0.25 <= self.random_scale_min <= self.random_scale_max <= 4.0:
            raise ValueError(
                "random_scale must be MIN:MAX with 0.25 <= MIN <= MAX <= 4, got "
                f"{self.random_scale_min}:{self.random_scale_max}"
            )
        if not 0 <= self.random_rotate <= 180:
            raise ValueError(f"random_rotate must be within [0, 180] degrees, got {self.random_rotate}")
        if not self.grad_eps >= 0:
            raise ValueError(f"grad_eps must be >= 0, got {self.grad_eps}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {self.objective!r}; valid: {', '.join(OBJECTIVES)}")
        if self.tile_grid not in TILE_GRIDS:
            raise ValueError(f"unknown tile_grid {self.tile_grid!r}; valid: {', '.join(TILE_GRIDS)}")
        if self.octave_sizes not in OCTAVE_SIZES:
            raise ValueError(f"unknown octave_sizes {self.octave_sizes!r}; valid: {', '.join(OCTAVE_SIZES)}")
        if not 0 <= self.activation_border <= MAX_ACTIVATION_BORDER:
            raise ValueError(
                f"activation_border must be within [0, {MAX_ACTIVATION_BORDER}], got {self.activation_border}"
            )
        if not 0 <= self.seed < 2**63:
            raise ValueError(f"seed must be within [0, 2**63), got {self.seed}")


def check_tile_size(tile_size: int, min_input_size: int) -> None:
    """A tile is at least half a tile_size on a side, and the model needs `min_input_size`
    pixels: a smaller tile_size cannot dream any image with this model."""
    if tile_size and tile_size < 2 * min_input_size:
        raise ValueError(
            f"tile_size must be 0 (off) or at least {2 * min_input_size} for this "
            f"model (tiles are at least half a tile_size), got {tile_size}"
        )
