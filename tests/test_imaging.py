"""Decoding any colour mode to RGB, EXIF orientation, refusals, and encoding."""
from __future__ import annotations

import io
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from tests.hostile_corpus import png_declaring
from transforms.imaging import ImageRejectedError, decode_image, encode_image


def to_bytes(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def test_rgba_is_composited_over_white():
    rgba = Image.new("RGBA", (4, 3), (255, 0, 0, 0))
    rgba.putpixel((0, 0), (0, 0, 255, 255))
    rgb = decode_image(to_bytes(rgba)).rgb
    assert rgb.shape == (3, 4, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 0]) == (0, 0, 255)
    assert tuple(rgb[1, 1]) == (255, 255, 255)


def test_sixteen_bit_greyscale_is_scaled_not_clipped():
    values = np.array([[0, 32768, 65535]], dtype=np.uint16)
    decoded = decode_image(to_bytes(Image.fromarray(values)))
    assert decoded.rgb[0, :, 0].tolist() == [0, 128, 255]
    assert decoded.source_mode.startswith("I")


def test_float_images_in_unit_range_are_scaled():
    values = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)
    decoded = decode_image(to_bytes(Image.fromarray(values, "F"), "TIFF"))
    assert decoded.rgb[0, :, 1].tolist() == [0, 128, 255]


@pytest.mark.parametrize("mode", ["L", "LA", "P", "CMYK", "1", "I", "RGB"])
def test_every_mode_becomes_rgb(mode):
    image = Image.new(mode, (5, 6))
    fmt = "JPEG" if mode == "CMYK" else ("TIFF" if mode == "I" else "PNG")
    decoded = decode_image(to_bytes(image, fmt))
    assert decoded.rgb.shape == (6, 5, 3) and decoded.rgb.dtype == np.uint8


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("P", (4, 4), colour) for colour in (1, 2)]
    buffer = io.BytesIO()
    frames[0].putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    frames[1].putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100)
    assert tuple(decode_image(buffer.getvalue()).rgb[0, 0]) == (255, 0, 0)


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (6, 2), (0, 0, 0))
    image.putpixel((0, 0), (255, 255, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    rgb = decode_image(to_bytes(image, "JPEG", exif=exif.tobytes(), quality=100)).rgb
    assert rgb.shape == (6, 2, 3)
    assert rgb[0, -1].min() > 200  # the top-left pixel went to the top-right


def _swapped_primaries_profile() -> bytes:
    """sRGB's own profile with its red and green colorants swapped and renamed: an RGB
    profile in which (255, 0, 0) is sRGB's green."""
    from PIL import ImageCms

    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    entries = {bytes(profile[132 + 12 * i:136 + 12 * i]): 132 + 12 * i
               for i in range(int.from_bytes(profile[128:132], "big"))}
    red, green = entries[b"rXYZ"], entries[b"gXYZ"]
    profile[red + 4:red + 12], profile[green + 4:green + 12] = profile[green + 4:green + 12], profile[red + 4:red + 12]
    return bytes(profile).replace("sRGB".encode("utf-16-be"), "wide".encode("utf-16-be"))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_colours_of_another_profile_are_converted_to_srgb(fmt):
    from PIL import ImageCms

    red = Image.new("RGB", (16, 16), (255, 0, 0))
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    converted = decode_image(to_bytes(red, fmt, icc_profile=_swapped_primaries_profile())).rgb.astype(int)
    r, g, b = converted.reshape(-1, 3).mean(axis=0)
    assert g > 200 and r < 60 and b < 60, (r, g, b)  # the profile's red is sRGB's green
    # sRGB itself, and a profile that cannot be read: the pixels as they are.
    for icc in (srgb, b"not a profile"):
        kept = decode_image(to_bytes(red, fmt, icc_profile=icc)).rgb
        np.testing.assert_array_equal(kept, decode_image(to_bytes(red, fmt)).rgb)


def test_empty_and_non_image_bytes_are_refused():
    with pytest.raises(ImageRejectedError, match="empty"):
        decode_image(b"")
    with pytest.raises(ImageRejectedError, match="not a decodable image"):
        decode_image(b"this is text, not a JPEG")


def test_truncated_data_is_refused():
    noise = np.random.default_rng(1).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    data = to_bytes(Image.fromarray(noise), "JPEG")  # mostly scan data: the cut lands there
    with pytest.raises(ImageRejectedError, match="corrupt or truncated"):
        decode_image(data[: len(data) // 2])


@pytest.mark.parametrize("side", [8000, 40000])  # under and over Pillow's own bomb limit
def test_decompression_bomb_is_refused_from_its_header(side):
    bomb = png_declaring(side, side)
    assert len(bomb) < 200
    tracemalloc.start()
    try:
        with pytest.raises(ImageRejectedError, match="max_pixels=40000000"):
            decode_image(bomb, max_pixels=40_000_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000  # the pixels (up to 4.8 GB) were never allocated


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_encode_round_trips(fmt):
    rgb = np.random.default_rng(0).integers(0, 256, (7, 9, 3), dtype=np.uint8)
    back = np.asarray(Image.open(io.BytesIO(encode_image(rgb, fmt, quality=100))))
    assert back.shape == rgb.shape
    if fmt == "png":
        np.testing.assert_array_equal(back, rgb)


def test_a_large_jpeg_is_decoded_small_when_it_will_be_fitted():
    """With fit_to, libjpeg decodes at a reduced scale: within a grey level of decoding it
    whole and fitting it, without ever holding the full-size pixels."""
    import io
    import tracemalloc

    from transforms.imaging import decode_image, fit_within

    yy, xx = np.mgrid[0:1600, 0:2400].astype(np.float32)
    smooth = np.stack([xx / 2400 * 255, yy / 1600 * 255, (np.sin(xx / 40) + 1) * 127], axis=-1).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(smooth).save(buffer, "JPEG", quality=92)
    data = buffer.getvalue()

    def peak(function):
        tracemalloc.start()
        result = function()
        used = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return result, used

    exact, exact_peak = peak(lambda: fit_within(decode_image(data).rgb, 500))
    small, small_peak = peak(lambda: fit_within(decode_image(data, fit_to=500).rgb, 500))
    assert small.shape == exact.shape == (333, 500, 3)
    assert np.abs(small.astype(int) - exact.astype(int)).mean() < 1.0
    assert exact_peak > 2400 * 1600 * 3 > 4 * small_peak  # the whole image was never decoded
    decoded = decode_image(data, fit_to=500)
    assert (decoded.source_width, decoded.source_height) == (2400, 1600)  # the input's own size


@pytest.mark.parametrize("mode, transparent", [("LA", (40, 0)), ("RGBA", (40, 80, 120, 0))])
def test_transparent_pixels_are_composited_over_white(mode, transparent):
    image = Image.new(mode, (5, 6), transparent)
    decoded = decode_image(to_bytes(image, "PNG"))
    assert decoded.source_mode == mode
    assert (decoded.rgb == 255).all(), decoded.rgb[0, 0]
