"""Make docs/gallery/: one sample photo dreamed under several controls, through the Python API.

    python docs/gallery.py            # offline VGG16; about a minute on a 2-core AMD EPYC (AVX-512)
    python docs/gallery.py controls   # only docs/gallery/controls.jpg (masks, channels, noise)
    python docs/gallery.py keyframes  # only docs/gallery/keyframes.jpg (layers switched, a mask per frame)
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from transforms.dream import Dreamer, get_model_spec, get_preset
from transforms.dream.channel_pick import ChannelPick
from transforms.dream.schedule import Schedule
from transforms.dream.sequence import dream_frames
from transforms.dream.temporal import TemporalParams
from transforms.dream.zoom import zoom_frames
from transforms.noise_input import noise_image

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "samples" / "chelsea.jpg"
GUIDE = ROOT / "samples" / "coffee.jpg"
TARGET = ROOT / "docs" / "gallery"

# (file name, caption, layers, changes to the vgg16 preset's parameters, guide)
VARIANTS = [
    ("vgg16", "preset vgg16", None, {}, None),
    ("jitter", "vgg16_jitter: per-pixel step, jitter 16", None,
     dataclasses.asdict(get_preset("vgg16_jitter").params), None),
    ("std", "grad_norm std, step 1.5", None, {"grad_norm": "std", "step": 1.5}, None),
    ("block3", "layers block3_conv3", "block3_conv3:1", {}, None),
    ("channels", "layers block5_conv1[12,40,200]", "block5_conv1[12,40,200]:1", {"step": 1600.0}, None),
    ("guide", "guide: coffee.jpg", None, {"step": 1600.0}, GUIDE),
    ("block5", "layers block5_conv3", "block5_conv3:1", {"step": 1600.0}, None),
    ("octaves", "4 octaves, scale 1.6, jitter 8", None, {"octaves": 4, "octave_scale": 1.6, "jitter": 8, "seed": 7}, None),
    ("lap", "grad_norm lap (4 levels), step 1.5", None, {"grad_norm": "lap", "step": 1.5}, None),
    ("blur", "grad_blur 2", None, {"grad_blur": 2.0}, None),
    ("tv", "tv_weight 40", None, {"tv_weight": 40.0}, None),
    ("mean", "objective mean", None, {"objective": "mean"}, None),
    ("upscale", "upscale_octaves 1", None, {"upscale_octaves": 1}, None),
    ("lapnorm", "preset lapnorm", None, dataclasses.asdict(get_preset("lapnorm").params), None),
    ("robust", "random_scale 0.9:1.1, rotate 10", None,
     {"random_scale_min": 0.9, "random_scale_max": 1.1, "random_rotate": 10.0, "seed": 7}, None),
]


def main() -> None:
    TARGET.mkdir(parents=True, exist_ok=True)
    spec = get_model_spec("vgg16")
    model = spec.build(None)
    photo = np.asarray(Image.open(PHOTO).convert("RGB"))
    preset = get_preset("vgg16")
    tiles = [("original", Image.fromarray(photo))]
    for name, caption, layers, changes, guide in VARIANTS:
        guide_rgb = np.asarray(Image.open(guide).convert("RGB")) if guide else None
        dreamer = Dreamer(model, layers or preset.layers, spec.preprocessing, spec.min_input_size, guide=guide_rgb)
        result = dreamer.dream(photo, dataclasses.replace(preset.params, **changes))
        image = Image.fromarray(result.image)
        image.save(TARGET / f"{name}.jpg", quality=88)
        tiles.append((caption, image))
        print(f"{name}: final loss {result.octaves[-1].losses[-1]:.1f}, {result.seconds:.1f} s")
    save_sheet(tiles, TARGET / "gallery.jpg")
    compare_presets(model, spec, ("vgg16", "lapnorm"))
    controls(model, spec)
    keyframes(model, spec)


def controls(model, spec) -> None:
    """docs/gallery/controls.jpg: a mask, picked channels, dreams from noise, fft steps."""
    photo = np.asarray(Image.open(PHOTO).convert("RGB"))
    height, width = photo.shape[:2]
    preset = get_preset("vgg16")
    mask = np.zeros((height, width), np.uint8)
    mask[:, width // 2:] = 255  # the right half only
    jitter = get_preset("vgg16_jitter")
    variants = [
        ("mask", "mask: right half, feather 8", dict(mask=mask, mask_feather=8.0), photo, preset),
        ("strong", "channels auto:3 (strongest)", dict(channel_pick=ChannelPick(3)), photo, preset),
        ("weak", "channels auto:3:weak", dict(channel_pick=ChannelPick(3, "weak")), photo, preset),
        ("noise", f"noise:{width}x{height}:7, vgg16_jitter", {}, noise_image(width, height, 7), jitter),
        ("noise_strong", "noise, channels auto:3", dict(channel_pick=ChannelPick(3)), noise_image(width, height, 7),
         jitter),
        ("noise_fft", "noise, parameterization fft", dict(parameterization="fft"), noise_image(width, height, 7),
         jitter),
        ("fft", "parameterization fft", dict(parameterization="fft"), photo, preset),
    ]
    tiles = [("original", Image.fromarray(photo))]
    for name, caption, options, start, base in variants:
        dreamer = Dreamer(model, base.layers, spec.preprocessing, spec.min_input_size, **options)
        result = dreamer.dream(start, base.params)
        image = Image.fromarray(result.image)
        image.save(TARGET / f"{name}.jpg", quality=88)
        tiles.append((caption, image))
        print(f"{name}: final loss {result.octaves[-1].losses[-1]:.1f}, {result.seconds:.1f} s"
              + (f", picked {result.picked_channels[0]}" if result.picked_channels else ""))
    save_sheet(tiles, TARGET / "controls.jpg")


def keyframes(model, spec, frames: int = 6) -> None:
    """docs/gallery/keyframes.jpg: a zoom whose layers switch from block3_conv3 to block5_conv3
    (cross-faded over frames 2-4), and frames dreamed through a mask that moves each frame."""
    photo = Image.open(PHOTO).convert("RGB")
    still = np.asarray(photo.resize((photo.width // 2, photo.height // 2), Image.Resampling.LANCZOS))
    height, width = still.shape[:2]
    jitter = get_preset("vgg16_jitter")
    switch = Schedule.parse(["layers@fade2=0:block3_conv3;2:block5_conv3"])
    switched = Dreamer(model, switch.job_layers(()), spec.preprocessing, spec.min_input_size)
    rows = [[frame.result.image for frame in zoom_frames(switched, still, jitter.params, frames, 1.04,
                                                         schedule=switch)]]
    yy, xx = np.mgrid[0:height, 0:width]
    masks = [np.where((xx - width * (k + 0.5) / frames) ** 2 + (yy - height / 2) ** 2 < (height / 3) ** 2,
                      255, 0).astype(np.uint8) for k in range(frames)]  # a disc moving left to right
    masked = Dreamer(model, jitter.layers, spec.preprocessing, spec.min_input_size, mask_feather=4.0)
    still_frames = [(k, still) for k in range(frames)]  # a still camera, each frame dreamed afresh
    rows.append([frame.result.image for frame in dream_frames(masked, still_frames, jitter.params,
                                                              TemporalParams("none"), masks=masks)])
    captions = ["zoom, layers@fade2=0:block3_conv3;2:block5_conv3", "--mask masks/ (a disc moving right), --temporal none"]
    label = 18
    sheet = Image.new("RGB", (width * frames, (height + label) * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, (caption, row) in enumerate(zip(captions, rows, strict=True)):
        draw.text((4, r * (height + label) + 3), f"{caption}: frames 0-{frames - 1}", fill="black")
        for k, image in enumerate(row):
            sheet.paste(Image.fromarray(image), (k * width, r * (height + label) + label))
    sheet.save(TARGET / "keyframes.jpg", quality=88)


def save_sheet(tiles: list[tuple[str, Image.Image]], path: Path, columns: int = 3) -> None:
    width, height = tiles[0][1].size
    label = 18
    sheet = Image.new("RGB", (columns * width, (len(tiles) + columns - 1) // columns * (height + label)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (caption, image) in enumerate(tiles):
        x, y = (i % columns) * width, (i // columns) * (height + label)
        draw.text((x + 4, y + 3), caption, fill="black")
        sheet.paste(image, (x, y + label))
    sheet.save(path, quality=88)


def compare_presets(model, spec, names: tuple[str, ...]) -> None:
    """docs/gallery/presets.jpg: every sample photo (rows) under each preset (columns)."""
    photos = sorted((ROOT / "samples").glob("*.jpg"))
    rows = []
    for path in photos:
        photo = np.asarray(Image.open(path).convert("RGB"))
        row = [Image.fromarray(photo)]
        for name in names:
            preset = get_preset(name)
            dreamer = Dreamer(model, preset.layers, spec.preprocessing, spec.min_input_size)
            row.append(Image.fromarray(dreamer.dream(photo, preset.params).image))
        rows.append(row)
    width, height, label = 256, 200, 18
    sheet = Image.new("RGB", (width * (len(names) + 1), label + height * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    for column, caption in enumerate(["original", *(f"preset {n}" for n in names)]):
        draw.text((column * width + 4, 3), caption, fill="black")
    for r, row in enumerate(rows):
        for column, image in enumerate(row):
            image = image.copy()
            image.thumbnail((width, height))
            sheet.paste(image, (column * width, label + r * height))
    sheet.save(TARGET / "presets.jpg", quality=88)


if __name__ == "__main__":
    import sys

    if sys.argv[1:] in (["controls"], ["keyframes"]):
        vgg16 = get_model_spec("vgg16")
        {"controls": controls, "keyframes": keyframes}[sys.argv[1]](vgg16.build(None), vgg16)
    else:
        main()
