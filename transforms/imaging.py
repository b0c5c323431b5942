"""Image bytes <-> uint8 RGB arrays with Pillow. No Beam here.

Colour rule: every mode becomes 8-bit RGB. Transparent pixels are composited over white
(what viewers show for a transparent PNG), 16-bit and 32-bit integer images are scaled
down from their full range, float images are read as [0, 1] when they fit there and
clipped to [0, 255] otherwise. An RGB image with a colour profile other than sRGB (a
phone's Display P3, Adobe RGB) is converted to sRGB: what the networks saw in training,
and what a written file without a profile means. Animated images
contribute their first frame.
"""
from __future__ import annotations

import io
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageCms, ImageOps

from transforms.settings_stamp import pillow_save_options

DEFAULT_MAX_PIXELS = 40_000_000
FORMATS = {"png": ("PNG", ".png"), "jpeg": ("JPEG", ".jpg"), "webp": ("WEBP", ".webp")}


class ImageRejectedError(ValueError):
    """The bytes decode, but not to an image this job will dream."""


class DecodedImage(NamedTuple):
    rgb: np.ndarray  # uint8 HxWx3
    source_format: str  # Pillow's format name, e.g. JPEG
    source_mode: str  # Pillow's mode before conversion, e.g. RGBA
    source_width: int = 0  # the image's full size, upright (a reduced decode holds fewer pixels)
    source_height: int = 0


def _to_rgb(image: Image.Image) -> Image.Image:
    mode = image.mode
    # An alpha channel, or a colour key (a PNG's tRNS, a GIF's transparent index) that viewers
    # show as transparent too.
    if mode in ("RGBA", "LA", "PA") or (mode in ("P", "L", "RGB") and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode == "RGB":
        return image
    if mode.startswith("I"):  # I, I;16, I;16B, ...: integer greyscale wider than 8 bits
        values = np.asarray(image, dtype=np.float64)
        full_scale = 65535.0 if mode.startswith("I;16") or values.max() <= 65535 else 2**32 - 1
        return _grey_to_rgb(values / full_scale * 255.0)
    if mode == "F":
        values = np.asarray(image, dtype=np.float64)
        finite = values[np.isfinite(values)]
        in_unit_range = finite.size and finite.min() >= 0.0 and finite.max() <= 1.0
        return _grey_to_rgb(np.nan_to_num(values) * (255.0 if in_unit_range else 1.0))
    return image.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV


_SRGB = ImageCms.createProfile("sRGB")


def _in_srgb(image: Image.Image) -> Image.Image:
    """The image in sRGB when it carries another RGB profile. A profile that cannot be read or
    applied leaves the pixels as they are, as for an image without one."""
    icc = image.info.get("icc_profile")
    if not icc or image.mode != "RGB":
        return image
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if "srgb" in ImageCms.getProfileDescription(profile).lower():
            return image  # already sRGB: a conversion would only round
        converted = ImageCms.profileToProfile(image, profile, _SRGB, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return image
    return converted if converted is not None else image


def _grey_to_rgb(values: np.ndarray) -> Image.Image:
    grey = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return Image.fromarray(np.stack([grey] * 3, axis=-1), "RGB")


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, fit_to: int | None = None) -> DecodedImage:
    """Decode any format Pillow reads; EXIF orientation applied; first frame of animations.

    The pixel count is checked from the header, before any pixel memory is allocated. With
    `fit_to`, a JPEG larger than that is decoded by libjpeg at 1/2, 1/4 or 1/8 scale (no
    smaller than `fit_to`), so its full-size pixels are never held: the caller still fits it.
    """
    if not data:
        raise ImageRejectedError("file is empty")
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:  # Pillow's own guard, at 2x its default limit
        raise ImageRejectedError(f"{exc} (over max_pixels={max_pixels})") from exc
    except Image.UnidentifiedImageError as exc:
        raise ImageRejectedError("not a decodable image: no format Pillow reads matches") from exc
    except (OSError, SyntaxError, ValueError) as exc:  # Pillow's ways of saying "not an image"
        raise ImageRejectedError(f"not a decodable image: {exc}") from exc
    width, height = image.size
    if width * height > max_pixels:
        raise ImageRejectedError(
            f"image declares {width}x{height} = {width * height} pixels, over max_pixels="
            f"{max_pixels}"
        )
    source_format, source_mode = image.format or "unknown", image.mode
    if fit_to is not None and source_format == "JPEG" and max(width, height) > fit_to:
        fitted_height, fitted_width = fitted_size(height, width, fit_to)
        image.draft(image.mode, (fitted_width, fitted_height))
    try:
        image.seek(0)
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:  # truncated or corrupt data
        raise ImageRejectedError(f"{source_format} data is corrupt or truncated: {exc}") from exc
    upright = ImageOps.exif_transpose(image)
    turned = upright.size != image.size  # EXIF turned it a quarter: the sides swap
    return DecodedImage(np.asarray(_to_rgb(_in_srgb(upright)), dtype=np.uint8), source_format, source_mode,
                        height if turned else width, width if turned else height)


def fitted_size(height: int, width: int, max_size: int | None) -> tuple[int, int]:
    """(height, width) with the longer side at most max_size, the aspect kept."""
    if max_size is None or max(height, width) <= max_size:
        return height, width
    scale = max_size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def fit_within(rgb: np.ndarray, max_size: int | None) -> np.ndarray:
    """Downscale (Lanczos) so the longer side is at most max_size; smaller images unchanged."""
    height, width = fitted_size(rgb.shape[0], rgb.shape[1], max_size)
    if (height, width) == rgb.shape[:2]:
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.LANCZOS))


def encode_image(rgb: np.ndarray, image_format: str = "png", quality: int = 95, stamp: str | None = None) -> bytes:
    """uint8 HxWx3 RGB -> PNG, JPEG or WebP bytes, carrying `stamp` (settings_stamp)."""
    try:
        pillow_format, _ = FORMATS[image_format]
    except KeyError:
        raise ValueError(f"unknown format {image_format!r}; valid: {', '.join(FORMATS)}") from None
    buffer = io.BytesIO()
    options = {} if pillow_format == "PNG" else {"quality": quality}
    options.update(pillow_save_options(pillow_format, stamp))
    Image.fromarray(rgb, "RGB").save(buffer, pillow_format, **options)
    return buffer.getvalue()


def extension(image_format: str) -> str:
    return FORMATS[image_format][1]
