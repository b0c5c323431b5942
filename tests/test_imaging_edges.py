"""Decoding and encoding at their edges: the cases a mutation run of transforms/imaging.py
found untested (docs/testing.md)."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from tests.test_imaging import to_bytes
from transforms.imaging import ImageRejectedError, decode_image, encode_image, fit_within, fitted_size


@pytest.mark.parametrize("mode, key, other", [("P", 1, 2), ("L", 40, 90), ("RGB", (40, 80, 120), (1, 2, 3))])
def test_a_colour_key_is_transparent_in_every_mode_that_has_one(mode, key, other):
    """A GIF's transparent index and a PNG's tRNS colour: viewers show those pixels as
    transparent, so they are composited over white like an alpha channel."""
    image = Image.new(mode, (4, 3), key)
    image.putpixel((0, 0), other)
    if mode == "P":
        image.putpalette([0, 0, 0, 200, 0, 0, 0, 200, 0] + [0] * 759)
    decoded = decode_image(to_bytes(image, "PNG", transparency=key))
    assert (decoded.rgb[1:] == 255).all(), decoded.rgb[1, 1]
    expected = {"P": (0, 200, 0), "L": (90, 90, 90), "RGB": (1, 2, 3)}[mode]
    assert tuple(decoded.rgb[0, 0]) == expected
    # Without a key the same pixels are opaque.
    assert not (decode_image(to_bytes(image, "PNG")).rgb[1:] == 255).all()


def test_32_bit_greyscale_scales_from_16_bits_when_it_fits_there_else_from_32():
    fits = np.array([[0, 20000, 65535]], dtype=np.int32)
    assert decode_image(to_bytes(Image.fromarray(fits, "I"), "TIFF")).rgb[0, :, 0].tolist() == [0, 78, 255]
    wide = np.array([[0, 2**30, 2**31 - 1]], dtype=np.int32)
    assert decode_image(to_bytes(Image.fromarray(wide, "I"), "TIFF")).rgb[0, :, 0].tolist() == [0, 64, 127]


@pytest.mark.parametrize("values, levels", [
    ([0.0, 0.998, 1.0], [0, 254, 255]),        # within [0, 1]: scaled to [0, 255]
    ([-0.5, 0.8], [0, 1]),                      # below 0: levels as they are, clipped
    ([0.0, 1.5], [0, 2]),                       # above 1: levels
    ([-3.0, 100.0, 300.0], [0, 100, 255]),      # clipped to [0, 255]
])
def test_float_images_outside_the_unit_range_are_levels_clipped_to_8_bits(values, levels):
    image = Image.fromarray(np.array([values], dtype=np.float32), "F")
    assert decode_image(to_bytes(image, "TIFF")).rgb[0, :, 2].tolist() == levels


def test_the_sides_an_exif_turn_swaps_are_reported_upright():
    exif = Image.Exif()
    exif[0x0112] = 6  # a quarter turn
    decoded = decode_image(to_bytes(Image.new("RGB", (6, 2)), "JPEG", exif=exif.tobytes()))
    assert decoded.rgb.shape[:2] == (6, 2) and (decoded.source_width, decoded.source_height) == (2, 6)
    plain = decode_image(to_bytes(Image.new("RGB", (6, 2)), "JPEG"))
    assert (plain.source_width, plain.source_height, plain.source_format) == (6, 2, "JPEG")


def test_max_pixels_is_a_limit_the_image_may_reach():
    data = to_bytes(Image.new("RGB", (10, 10)))
    assert decode_image(data, max_pixels=100).rgb.shape == (10, 10, 3)
    with pytest.raises(ImageRejectedError, match=r"^image declares 10x10 = 100 pixels, over max_pixels=99$"):
        decode_image(data, max_pixels=99)


def test_refusals_say_what_was_wrong():
    with pytest.raises(ImageRejectedError, match=r"^file is empty$"):
        decode_image(b"")
    with pytest.raises(ImageRejectedError, match=r"^not a decodable image: no format Pillow reads matches$"):
        decode_image(b"plain text, no image")
    with pytest.raises(ImageRejectedError, match=r"^not a decodable image: Truncated File Read$"):
        decode_image(b"BM" + b"\xff" * 60)  # a BMP header that breaks off: Pillow's own words kept
    with pytest.raises(ValueError, match=r"^unknown format 'gif'; valid: png, jpeg, webp$"):
        encode_image(np.zeros((2, 2, 3), np.uint8), "gif")


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_quality_reaches_lossy_encoders_and_png_ignores_it(fmt):
    rgb = np.random.default_rng(3).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    low, high = encode_image(rgb, fmt, quality=10), encode_image(rgb, fmt, quality=95)
    assert len(low) * 2 < len(high)
    assert encode_image(rgb, "png", quality=10) == encode_image(rgb, "png", quality=95)
    assert Image.open(io.BytesIO(encode_image(rgb, "png"))).format == "PNG"


def test_fitted_sizes_keep_the_aspect_and_at_least_one_pixel():
    assert fitted_size(300, 200, None) == (300, 200)
    assert fitted_size(300, 200, 300) == (300, 200)
    assert fitted_size(3, 1000, 100) == (1, 100) and fitted_size(1000, 3, 100) == (100, 1)


def test_fit_within_downscales_with_lanczos():
    rgb = np.random.default_rng(4).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    expected = np.asarray(Image.fromarray(rgb).resize((30, 20), Image.Resampling.LANCZOS))
    np.testing.assert_array_equal(fit_within(rgb, 30), expected)
    assert fit_within(rgb, 60) is rgb


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_the_settings_stamp_is_written_into_each_format(fmt):
    from transforms.settings_stamp import STAMP_KEY, read_stamp

    text = json.dumps({"program": STAMP_KEY, "settings_key": "k1"})
    data = encode_image(np.zeros((8, 8, 3), np.uint8), fmt, stamp=text)
    assert read_stamp(data)["settings_key"] == "k1"

