"""--parameterization fft: steps as in a colour-decorrelated Fourier image (lucid's)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pipeline.run import main, run
from tests.conftest import read_jsonl
from transforms.dream.engine import Dreamer
from transforms.dream.parameterization import fft_filter, gradient_filter
from transforms.dream.params import DreamParams
from transforms.dream.preprocessing import INCEPTION
from transforms.dream.quiet_tensorflow import tf

PARAMS = DreamParams(octaves=2, octave_scale=1.3, iterations=4, step=5.0, jitter=4, max_loss=None, seed=3)


def high_frequency_share(planes: np.ndarray) -> float:
    """Share of the spectrum's energy above a quarter of the sampling rate (HxWxC)."""
    spectrum = np.abs(np.fft.fft2(planes, axes=(0, 1))) ** 2
    fy = np.fft.fftfreq(planes.shape[0])[:, None]
    fx = np.fft.fftfreq(planes.shape[1])[None, :]
    high = np.sqrt(fy**2 + fx**2) > 0.25
    return float(spectrum[high].sum() / spectrum.sum())


def test_the_filter_favours_broad_structure_in_natural_colours():
    noise = np.random.default_rng(0).normal(size=(1, 64, 96, 3)).astype(np.float32)
    filtered = np.asarray(fft_filter(tf.constant(noise)))[0]
    assert filtered.shape == (64, 96, 3)
    assert high_frequency_share(filtered) < 0.35 * high_frequency_share(noise[0])  # 0.19 against 0.81
    # A grey (all channels alike) gradient passes more of itself than a chroma one, and the
    # mean colour is left alone.
    texture = noise[..., :1]
    grey = np.asarray(fft_filter(tf.constant(texture * np.ones(3, np.float32))))
    chroma = np.asarray(fft_filter(tf.constant(texture * np.array([1, -1, 0], np.float32))))
    assert np.abs(grey).mean() > 5 * np.abs(chroma).mean()
    flat = np.asarray(fft_filter(tf.constant(np.ones((1, 8, 8, 3), np.float32))))
    assert np.abs(flat).max() < 1e-5
    assert gradient_filter("pixel") is None
    with pytest.raises(ValueError, match="unknown parameterization"):
        gradient_filter("wavelet")


def test_an_fft_dream_grows_broader_structure_than_a_pixel_dream(tiny_model):
    photo = np.random.default_rng(1).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    pixel = Dreamer(tiny_model, "conv3:1", INCEPTION).dream(photo, PARAMS).image.astype(np.float32)
    fft = Dreamer(tiny_model, "conv3:1", INCEPTION, parameterization="fft").dream(photo, PARAMS).image.astype(np.float32)
    change_pixel, change_fft = pixel - photo, fft - photo
    assert np.abs(change_fft).mean() > 1.0  # it dreamed
    assert high_frequency_share(change_fft) < 0.5 * high_frequency_share(change_pixel)
    # Tiles stitch the gradient before the filter: a tiled fft dream runs and dreams too.
    tiled = Dreamer(tiny_model, "conv3:1", INCEPTION, parameterization="fft").dream(
        photo, DreamParams(octaves=1, iterations=2, step=5.0, tile_size=64, max_loss=None))
    assert tiled.tile_size == 64 and np.abs(tiled.image.astype(np.float32) - photo).mean() > 0.5


def test_the_job_dreams_and_records_an_fft_dream(model_file, tmp_path, capsys):
    photo = np.random.default_rng(1).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "cat.png")
    common = [f"--input={tmp_path / 'cat.png'}", f"--model={model_file}", "--layers=conv3:1", "--iterations=2",
              "--octaves=1", "--runner", "FnApiRunner"]
    run([*common, f"--output={tmp_path / 'out'}", "--parameterization=fft"])
    (record,) = read_jsonl(tmp_path / "out" / "metadata.jsonl")
    assert record["parameterization"] == "fft"
    run([*common, f"--output={tmp_path / 'plain'}"])
    (plain,) = read_jsonl(tmp_path / "plain" / "metadata.jsonl")
    assert "parameterization" not in plain  # pixels: the record (and its key) as before
    assert not np.array_equal(np.asarray(Image.open(tmp_path / "out" / "cat.png")),
                              np.asarray(Image.open(tmp_path / "plain" / "cat.png")))
    assert main([*common, f"--output={tmp_path / 'never'}", "--parameterization=wavelet"]) == 2
    assert "invalid choice: 'wavelet'" in capsys.readouterr().err
