"""Command-line options of the DeepDream job, listed by --help beside Beam's own."""
from __future__ import annotations

import argparse

from apache_beam.options.pipeline_options import PipelineOptions

from transforms.dream.channel_pick import CHANNEL_CAPTURES
from transforms.dream.params import (
    GRAD_NORMS,
    INITS,
    OBJECTIVES,
    OCTAVE_SIZES,
    PARAMETERIZATIONS,
    PRECISIONS,
    PREPROCESSING_NAMES,
    STEP_MODES,
    TILE_GRIDS,
)
from transforms.dream.presets import DEFAULT_PRESET, PRESETS
from transforms.fetch import DEFAULT_HTTP_RETRIES, DEFAULT_HTTP_TIMEOUT_S, DEFAULT_MAX_BYTES
from transforms.imaging import DEFAULT_MAX_PIXELS, FORMATS
from transforms.sequence_settings import (
    DEFAULT_MAX_FRAMES,
    DEFAULT_SEGMENT_FRAMES,
    DEFAULT_WARMUP,
    FLOW_METHODS,
    TEMPORAL_MODES,
    ZOOM_FORMATS,
)


class DreamOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--input", action="append", default=None,
            help="File pattern of images to dream (local, gs://, s3://, ...); repeatable.",
        )
        parser.add_argument(
            "--sequence", action="append", default=None,
            help="Pattern of folders, each one sequence of frames (natural order: frame2 before "
            "frame10), e.g. 'shots/*/'; repeatable. Videos and animated GIF/WebP/APNG given "
            "by --input are sequences too.",
        )
        parser.add_argument(
            "--temporal", default="flow", choices=TEMPORAL_MODES,
            help="flow: each frame starts from the previous frame's dream, carried along the "
            "optical flow (default); none: frames dreamed on their own.",
        )
        parser.add_argument(
            "--blend", type=float, default=0.5,
            help="How much of the previous frame's dream is carried over (0-1, default 0.5).",
        )
        parser.add_argument("--flow", default="dis", choices=FLOW_METHODS, help="Optical flow method.")
        parser.add_argument(
            "--sequence_iterations", type=int, default=None,
            help="Steps per octave for frames after a sequence's first, which start from the "
            "previous dream (default: half the preset's).",
        )
        parser.add_argument(
            "--max_frames", type=int, default=DEFAULT_MAX_FRAMES,
            help=f"Refuse sequences with more frames to dream than this (default {DEFAULT_MAX_FRAMES}).",
        )
        parser.add_argument("--frame_step", type=int, default=1, help="Dream every K-th frame.")
        parser.add_argument(
            "--segment_frames", type=int, default=DEFAULT_SEGMENT_FRAMES,
            help=f"Frames per segment; segments are dreamed in parallel (default {DEFAULT_SEGMENT_FRAMES}).",
        )
        parser.add_argument(
            "--warmup", type=int, default=DEFAULT_WARMUP,
            help=f"Frames dreamed before each segment and dropped, hiding the cut (default {DEFAULT_WARMUP}).",
        )
        parser.add_argument(
            "--schedule", action="append", default=None, metavar="NAME[@linear|step|smooth]=F:V,F:V",
            help="Keyframe a setting over a sequence's frames, e.g. 'step=0:1.5,48:4,96:1.5' or "
            "'zoom_scale@smooth=0:1.02,50:1.1'; repeatable, one per setting (step, iterations, "
            "jitter, octave_scale, tv_weight, random_rotate, random_scale_min/max, blend, zoom_scale, "
            "weight[LAYER]), or the layers themselves: "
            "'layers@fade12=0:mixed3;48:mixed5:2,mixed4' (cross-faded over 12 frames). Replaces "
            "the params file's 'schedule' setting by setting.",
        )
        parser.add_argument(
            "--frames", action="store_true", default=False,
            help="Also write every dreamed frame of a sequence as a PNG (NAME_frames/).",
        )
        parser.add_argument(
            "--zoom_frames", type=int, default=0,
            help="Make every still a zoom of this many frames: each frame the previous one's "
            "dream zoomed in by --zoom_scale and dreamed again (default 0: off).",
        )
        parser.add_argument("--zoom_scale", type=float, default=1.05, help="Zoom per frame (default 1.05).")
        parser.add_argument(
            "--zoom_format", default="mp4", choices=ZOOM_FORMATS,
            help="A zoom as H.264 MP4 at 25 fps (default) or an animated WebP.",
        )
        parser.add_argument(
            "--input_list", action="append", default=None,
            help="Manifest: one URI per line (local, any Beam filesystem, or http(s) URL); "
            "blank lines and '#' comments are ignored; repeatable.",
        )
        parser.add_argument(
            "--output", default=None,
            help="Directory for dreamed images, metadata.jsonl and errors.jsonl.",
        )
        parser.add_argument(
            "--preset", default=DEFAULT_PRESET,
            help="Named settings (or one defined in --params): "
            + "; ".join(f"{p.name}: {p.description}" for p in PRESETS.values()),
        )
        parser.add_argument(
            "--params", default=None,
            help="JSON or YAML file of settings (any option below by name, e.g. grad_norm, "
            "layers) and of more named presets under 'presets:'; options given on the "
            "command line win. See docs/controls.md.",
        )
        parser.add_argument(
            "--params_from", default=None,
            help="An image, animation or video this program wrote (any filesystem): dream with "
            "the settings stamped in it (preset, model, layers, every loop setting, weights, "
            "precision, format, ...); options given on the command line win. Not with --params.",
        )
        parser.add_argument(
            "--model", default=None,
            help="Network: vgg16 (offline default), inception_v3, vgg19, resnet50, mobilenet, "
            "mobilenet_v2, efficientnet_b0, ... any keras.applications class name, or a .keras "
            "file (local or any Beam filesystem; loaded in Keras' safe mode). Default: the "
            "preset's. A model other than the preset's uses that model's default layers.",
        )
        parser.add_argument(
            "--preprocessing", default=None, choices=PREPROCESSING_NAMES,
            help="Pixel convention of a .keras model (default inception: [-1, 1]); "
            "keras.applications models know theirs.",
        )
        parser.add_argument(
            "--list_layers", action="store_true", default=False,
            help="Print the model's layer names and output shapes, then exit.",
        )
        parser.add_argument(
            "--list_classes", action="store_true", default=False,
            help="Print the classes the model's classifier head scores (ImageNet names where "
            "Keras' class index can be had), then exit.",
        )
        parser.add_argument(
            "--class", dest="dream_class", default=None, metavar="NAMES",
            help="Dream of classes: 'tabby,goldfish' (ImageNet names) or '281,1' (numbers), "
            "maximising their pre-softmax scores; added to --layers when given, else alone. "
            "In --layers or a params file: class[281]:2. Needs a model with its head.",
        )
        parser.add_argument(
            "--layers", default=None,
            help="Objective: 'layer[:weight],layer[c1,c2]:weight,...', e.g. "
            "'mixed4:1.0,mixed5[12,40]:2.0' (channels optional). Default: the preset's.",
        )
        parser.add_argument(
            "--channels", default=None, metavar="auto:N[:weak|random]",
            help="Each layer term without channels of its own dreams only the N channels that "
            "respond most to the image (weak: least; random: N seeded at random), picked per image.",
        )
        parser.add_argument(
            "--channel_capture", default=None, choices=CHANNEL_CAPTURES,
            help="Pick the channels once from the input, or again at each octave (default: once).",
        )
        parser.add_argument(
            "--parameterization", default=None, choices=PARAMETERIZATIONS,
            help="pixel: steps in pixels (the classic dream); fft: each step as in a colour-"
            "decorrelated Fourier image (lucid's), broader structures in natural colours "
            "(default: pixel).",
        )
        parser.add_argument(
            "--init", default=None, choices=INITS,
            help="Where each dream starts: the image (default), or seeded noise of its size "
            "(--seed), the image then giving its size and, with --mask, what stays.",
        )
        parser.add_argument(
            "--guide", default=None,
            help="Guide image URI: maximise the dot product with its features (Google's "
            "guided dreaming) instead of the activations' L2 norm.",
        )
        parser.add_argument(
            "--mask", default=None,
            help="Greyscale image URI: dream only where it is light (white: full, black: the "
            "input untouched, bit for bit), resized to each image; a sequence's frames share it, or "
            "take one each from a folder of masks (masks/), an animation or a video.",
        )
        parser.add_argument(
            "--mask_feather", type=float, default=None,
            help="Gaussian sigma in pixels softening the mask's edges (default: 4; 0: hard edges).",
        )
        parser.add_argument(
            "--weights", default=None,
            help="Weights file (local path or any Beam filesystem URI) instead of the model's "
            "default source.",
        )
        parser.add_argument("--octaves", type=int, default=None, help="Number of octaves.")
        parser.add_argument("--octave_scale", type=float, default=None, help="Size ratio between octaves.")
        parser.add_argument("--iterations", type=int, default=None, help="Ascent steps per octave.")
        parser.add_argument("--step", type=float, default=None, help="Gradient ascent step size.")
        parser.add_argument(
            "--max_loss", default=None,
            help="Stop an octave after a step whose loss exceeds this; 'none' never stops.",
        )
        parser.add_argument(
            "--grad_norm", default=None, choices=GRAD_NORMS,
            help="Gradient normalisation: l2 (classic, whole image), std (TF tutorial), "
            "mean_abs (Keras example), clip_value (--clip_min/--clip_max), clip_norm "
            "(--clip_norm), none, lap (Laplacian pyramid, each level to unit RMS; --lap_levels).",
        )
        parser.add_argument(
            "--lap_levels", type=int, default=None,
            help="Levels of the Laplacian pyramid of --grad_norm lap (1-8; default 4).",
        )
        parser.add_argument(
            "--grad_blur", type=float, default=None,
            help="Smooth the gradient with a Gaussian of this sigma in pixels before each step "
            "(0-10; default 0: off).",
        )
        parser.add_argument(
            "--tv_weight", type=float, default=None,
            help="Subtract this times the image's total variation from the objective: smoother, "
            "less noisy dreams (default 0: off).",
        )
        parser.add_argument(
            "--objective", default=None, choices=OBJECTIVES,
            help="mean_square of the layers' activations (classic) or their mean (TF tutorial).",
        )
        parser.add_argument(
            "--upscale_octaves", type=int, default=None,
            help="Dream this many octaves above the input's size too (0-4; the TF tutorial's "
            "octaves -2..2 are --octaves 3 --upscale_octaves 2); written back at the input's size.",
        )
        parser.add_argument(
            "--keep_upscaled", action="store_true", default=None,
            help="With --upscale_octaves: write the largest octave, not the input's size.",
        )
        parser.add_argument(
            "--random_scale", default=None,
            help="MIN:MAX, e.g. 0.9:1.1: zoom the image by a seeded random factor in this range "
            "before each gradient, the gradient mapped back (lucid's robustness transforms).",
        )
        parser.add_argument(
            "--random_rotate", type=float, default=None,
            help="Turn the image by a seeded random angle within +-this many degrees before each "
            "gradient, the gradient mapped back (0-180; default 0: off).",
        )
        parser.add_argument(
            "--grad_eps", type=float, default=None,
            help="Floor of the l2/std/mean_abs divisor (default 0: each rule's source's own: "
            "1e-12, 1e-8, 1e-7).",
        )
        parser.add_argument(
            "--activation_border", type=int, default=None,
            help="Pixels cropped off each side of a feature map before the objective (the seed's "
            "2; the TF tutorial's 0).",
        )
        parser.add_argument(
            "--reinject_detail", type=true_or_false, default=None, metavar="true|false",
            help="After each octave, put back the detail that shrinking the input lost (the "
            "seed: true; the TF tutorial: false).",
        )
        parser.add_argument(
            "--clip_pixels", type=true_or_false, default=None, metavar="true|false",
            help="Clip the image to the model's pixel range after every step (the TF tutorial: true).",
        )
        parser.add_argument(
            "--tile_grid", default=None, choices=TILE_GRIDS,
            help="With --tile_size: shifted (a grid moved every step) or rolled (the TF "
            "tutorial's fixed grid of whole tiles over the image rolled by --jitter).",
        )
        parser.add_argument(
            "--octave_sizes", default=None, choices=OCTAVE_SIZES,
            help="divide: int(side / scale**i) as the seed; multiply: int(float32(side) * "
            "scale**k) as the TF tutorial (one pixel apart for ~1%% of sides).",
        )
        parser.add_argument("--clip_min", type=float, default=None, help="clip_value lower bound.")
        parser.add_argument("--clip_max", type=float, default=None, help="clip_value upper bound.")
        parser.add_argument("--clip_norm", type=float, default=None, help="clip_norm's maximum L2 norm.")
        parser.add_argument(
            "--step_mode", default=None, choices=STEP_MODES,
            help="image: step applies to the normalised gradient (classic; with l2 weaker on "
            "bigger images). pixel: step is the RMS change per pixel at any resolution.",
        )
        parser.add_argument(
            "--jitter", type=int, default=None,
            help="Roll the image by up to this many pixels each step (seeded), undone after.",
        )
        parser.add_argument(
            "--tile_size", type=int, default=None,
            help="Compute gradients in tiles of about this size (grid shifted each step) so "
            "memory stays bounded on big images; 0 (default) dreams images whole.",
        )
        parser.add_argument("--seed", type=int, default=None, help="Seed of jitter and tile shifts.")
        parser.add_argument(
            "--min_octave_size", type=int, default=None,
            help="Skip octaves whose shorter side is below this (never below the model's minimum).",
        )
        parser.add_argument(
            "--batch_size", type=int, default=1,
            help="Dream up to this many same-size images in one pass (GPU workers); each result "
            "is its one-by-one dream to float rounding (at most one grey level; bit-identical on "
            "the CPUs tested), and the same in any order and batch.",
        )
        # Defaults of None below: --params_from's stamp fills what the command line does not.
        parser.add_argument(
            "--precision", default=None, choices=PRECISIONS,
            help="Layers compute in float16/bfloat16 (GPU tensor cores), weights and the image "
            "stay float32; see docs/performance.md for the tolerance. (default: float32)",
        )
        parser.add_argument(
            "--jit", action="store_true", default=None,
            help="Compile each step's loss and gradient with XLA, once per image shape (slower "
            "on CPUs; see docs/performance.md).",
        )
        parser.add_argument("--format", default=None, choices=sorted(FORMATS),
                            help="Output image format. (default: png)")
        parser.add_argument("--quality", type=int, default=None, help="JPEG/WebP quality, 1-100. (default: 95)")
        parser.add_argument(
            "--max_pixels", type=int, default=DEFAULT_MAX_PIXELS,
            help="Reject images declaring more pixels than this, before decoding them.",
        )
        parser.add_argument(
            "--max_size", type=int, default=None,
            help="Downscale images whose longer side exceeds this many pixels before dreaming.",
        )
        parser.add_argument(
            "--max_bytes", type=int, default=DEFAULT_MAX_BYTES,
            help="Reject inputs larger than this many bytes (read stops there).",
        )
        parser.add_argument(
            "--http_timeout", type=float, default=DEFAULT_HTTP_TIMEOUT_S,
            help="Seconds an http(s) download may take in all: connection, redirects, body and retries.",
        )
        parser.add_argument(
            "--http_retries", type=int, default=DEFAULT_HTTP_RETRIES,
            help="Times an http(s) input is asked again after a passing failure (429, 5xx, a reset "
            "connection), waiting 0.5, 1, 2, ... s with jitter or the server's Retry-After, all "
            f"within --http_timeout; 404 and refused addresses are final (default {DEFAULT_HTTP_RETRIES}).",
        )
        parser.add_argument(
            "--allow_private_urls", action="store_true", default=False,
            help="Fetch http(s) URLs that reach loopback, link-local (cloud metadata), private "
            "or reserved addresses; refused by default (error record URLNotAllowedError).",
        )
        parser.add_argument(
            "--skip_existing", dest="skip_existing", action="store_true", default=True,
            help="Skip inputs a previous run finished with the same settings (default).",
        )
        parser.add_argument(
            "--no_skip_existing", dest="skip_existing", action="store_false",
            help="Dream every input again, overwriting earlier outputs.",
        )
        parser.add_argument(
            "--metadata_format", default="jsonl", choices=["jsonl", "parquet", "both"],
            help="metadata.jsonl, metadata.parquet (fixed nested schema, see docs/records.md) or both.",
        )
        parser.add_argument(
            "--no_settings_stamp", dest="stamp_settings", action="store_false", default=True,
            help="Write files without their settings (by default every image, animation and "
            "video carries them, for --params_from; see docs/controls.md).",
        )
        parser.add_argument(
            "--report", action="store_true", default=False,
            help="At the end, write report.html (before/after thumbnails, loss curves, errors).",
        )
        parser.add_argument(
            "--require_gpu", action="store_true", default=False,
            help="Stop at worker start when TensorFlow sees no GPU (a misconfigured GPU job "
            "would otherwise dream slowly on CPUs).",
        )
        parser.add_argument(
            "--dream_accelerator", default=None,
            help="Resource hint for the Dream step only, e.g. "
            "'type:nvidia-l4;count:1;install-nvidia-driver', so other steps may run on "
            "CPU workers (Dataflow right fitting).",
        )
        parser.add_argument(
            "--untiled_max_pixels", type=int, default=None,
            help="Dream images with more pixels than this in tiles of 512 even without "
            "--tile_size, so they fit in memory (default: derived from the worker's memory).",
        )
        parser.add_argument(
            "--force", action="store_true", default=False,
            help="Take over the output even if another job's lease on it looks alive (only when "
            "you know that job is gone).",
        )
        parser.add_argument(
            "--lease_seconds", type=float, default=120.0,
            help="The output lease lapses this long after the job last renewed it (every "
            "quarter of it); a job killed with kill -9 blocks the output that long.",
        )
        parser.add_argument(
            "--max_failure_ratio", type=float, default=None,
            help="Exit non-zero when more than this fraction of inputs failed (default: only "
            "when all failed).",
        )


def true_or_false(text: str) -> bool:
    """A boolean option's value, as the params file spells it."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
