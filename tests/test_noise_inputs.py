"""Dreams from noise: `noise:WxH[:seed]` inputs, named, recorded and resumed like files."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from pipeline.run import main, run
from tests.conftest import read_jsonl
from transforms.noise_input import is_noise, noise_image, noise_png, noise_stem, parse_noise


def test_noise_is_seeded_grey_texture_of_the_size_asked():
    assert parse_noise("noise:640x480:7") == (640, 480, 7) and parse_noise("noise:8x4") == (8, 4, 0)
    assert noise_stem("noise:640x480:7") == "noise-640x480-7"
    first, again, other = noise_image(64, 48, 7), noise_image(64, 48, 7), noise_image(64, 48, 8)
    assert first.shape == (48, 64, 3) and np.array_equal(first, again) and not np.array_equal(first, other)
    assert 120 < first.mean() < 136 and 6 < first.std() < 18
    for bad in ("noise:64", "noise:0x5", "noise:64x48:x", "noise:99999x2"):
        with pytest.raises(ValueError, match="noise"):
            parse_noise(bad)


def test_noise_sizes_and_seeds_at_their_bounds():
    assert parse_noise("noise:1x1") == (1, 1, 0)
    assert parse_noise("noise:16384x16384:9223372036854775807") == (16384, 16384, 2**63 - 1)
    for bad, message in (
        ("noise:16385x1", "'noise:16385x1': each side must be within [1, 16384] pixels"),
        ("noise:1x16385", "'noise:1x16385': each side must be within [1, 16384] pixels"),
        ("noise:2x0", "'noise:2x0': each side must be within [1, 16384] pixels"),
        ("noise:8x8:9223372036854775808", "'noise:8x8:9223372036854775808': the seed must be below 2**63"),
        ("noise:8", "'noise:8' is not a noise input: write noise:WIDTHxHEIGHT or noise:WIDTHxHEIGHT:SEED, "
                    "e.g. noise:640x480:7"),
    ):
        with pytest.raises(ValueError) as refused:
            parse_noise(bad)
        assert str(refused.value) == message
    assert is_noise("noise:8x8") and not is_noise("in/noise.png")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(noise_png("noise:6x4:3")))), noise_image(6, 4, 3))


def test_noise_inputs_dream_like_files_and_resume(model_file, tmp_path, capsys):
    manifest = tmp_path / "list.txt"
    manifest.write_text("noise:40x32:1\nnoise:0x5\n")
    out = tmp_path / "out"
    args = ["--input=noise:64x48:3", f"--input_list={manifest}", f"--output={out}", f"--model={model_file}",
            "--layers=conv3:1", "--iterations=2", "--octaves=1", "--runner", "FnApiRunner"]
    summary = run(args)
    assert (summary.dreamed, summary.failed) == (2, 1)
    dreamed = np.asarray(Image.open(out / "noise-64x48-3.png"))
    assert dreamed.shape == (48, 64, 3) and np.abs(dreamed.astype(int) - noise_image(64, 48, 3)).mean() > 1.0
    assert (out / "noise-40x32-1.png").exists()
    records = {r["input_uri"]: r for r in read_jsonl(out / "metadata.jsonl")}
    assert set(records) == {"noise:64x48:3", "noise:40x32:1"}
    (error,) = read_jsonl(out / "errors.jsonl")
    assert error["uri"] == "noise:0x5" and error["stage"] == "read" and "each side" in error["message"]
    again = run(args)
    assert (again.dreamed, again.skipped) == (0, 2)
    # A bad noise input on the command line stops the job at start, one line.
    assert main(["--input=noise:64", f"--output={tmp_path / 'never'}"]) == 2
    assert "is not a noise input" in capsys.readouterr().err


def test_init_noise_dreams_from_noise_of_the_images_size(tiny_model, model_file, tmp_path):
    from transforms.dream.engine import Dreamer
    from transforms.dream.params import DreamParams
    from transforms.dream.preprocessing import INCEPTION

    rng = np.random.default_rng(4)
    first, second = (rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(2))
    params = DreamParams(octaves=1, iterations=2, step=5.0, max_loss=None, seed=9)
    from_noise = Dreamer(tiny_model, "conv3:1", INCEPTION, init="noise")
    a, b = from_noise.dream(first, params).image, from_noise.dream(second, params).image
    assert np.array_equal(a, b)  # the photo gives its size only
    assert not np.array_equal(a, Dreamer(tiny_model, "conv3:1", INCEPTION).dream(first, params).image)
    assert np.abs(a.astype(int) - noise_image(64, 48, 9)).mean() > 1.0  # dreamed, from seed 9's noise
    mask = np.zeros((48, 64), np.uint8)
    mask[:, 32:] = 255
    masked = Dreamer(tiny_model, "conv3:1", INCEPTION, init="noise", mask=mask, mask_feather=0).dream(first, params)
    assert np.array_equal(masked.image[:, :31], first[:, :31])  # outside the mask: the photo
    Image.fromarray(first).save(tmp_path / "cat.png")
    run([f"--input={tmp_path / 'cat.png'}", f"--output={tmp_path / 'out'}", f"--model={model_file}",
         "--layers=conv3:1", "--iterations=1", "--octaves=1", "--init=noise", "--runner", "FnApiRunner"])
    (record,) = read_jsonl(tmp_path / "out" / "metadata.jsonl")
    assert record["init"] == "noise"
