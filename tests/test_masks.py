"""--mask: dream only where asked; elsewhere the input, bit for bit."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.run import main, run
from tests.conftest import read_jsonl
from transforms.dream.engine import Dreamer
from transforms.dream.mask import mask_weights
from transforms.dream.params import DreamParams
from transforms.dream.preprocessing import INCEPTION
from transforms.settings_stamp import read_stamp

PARAMS = DreamParams(octaves=2, octave_scale=1.3, iterations=3, step=5.0, jitter=4, max_loss=None)
RUNNER = ["--runner", "FnApiRunner"]


def _image(height: int = 64, width: int = 96) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _right_half(height: int = 64, width: int = 96) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    mask[:, width // 2:] = 255
    return mask


@pytest.mark.parametrize("feather", [0.0, 3.0])
def test_where_the_mask_is_black_the_input_stays_exactly(tiny_model, feather):
    rgb = _image()
    plain = Dreamer(tiny_model, "conv3:1", INCEPTION).dream(rgb, PARAMS)
    masked = Dreamer(tiny_model, "conv3:1", INCEPTION, mask=_right_half(), mask_feather=feather).dream(rgb, PARAMS)
    untouched = slice(0, 48 - int(np.ceil(3 * feather)) - 1)  # left of the edge and its feather
    assert np.array_equal(masked.image[:, untouched], rgb[:, untouched])
    assert np.abs(masked.image[:, 60:].astype(int) - rgb[:, 60:]).mean() > 2.0  # dreamed there
    # The mask steers each step, not only the final picture: half the image never moves, so
    # the update's RMS over the image falls (an L2-normalised step's RMS is otherwise fixed).
    for with_mask, without in zip(masked.octaves, plain.octaves, strict=True):
        assert with_mask.effective_step < 0.95 * without.effective_step


def test_a_grey_mask_dreams_part_way(tiny_model):
    rgb = _image()
    full = Dreamer(tiny_model, "conv3:1", INCEPTION).dream(rgb, PARAMS).image.astype(int)
    grey = np.full((8, 8), 128, np.uint8)  # any size: resized to the image
    half = Dreamer(tiny_model, "conv3:1", INCEPTION, mask=grey, mask_feather=0).dream(rgb, PARAMS).image.astype(int)
    change_full, change_half = np.abs(full - rgb).mean(), np.abs(half - rgb).mean()
    assert 0.05 * change_full < change_half < 0.6 * change_full


def test_feathered_weights_end_at_three_sigma():
    weights = mask_weights(_right_half(), 64, 96, feather=2.0)
    assert np.all(weights[:, : 48 - 7] == 0.0) and np.all(weights[:, 48 + 7:] == 1.0)
    assert 0.0 < weights[0, 47] < 1.0  # soft at the edge
    with pytest.raises(ValueError, match="mask_feather must be within"):
        mask_weights(_right_half(), 64, 96, feather=-1)


def test_the_job_dreams_through_a_mask_and_records_it(model_file, tmp_path, capsys):
    Image.fromarray(_image()).save(tmp_path / "cat.png")
    Image.fromarray(_right_half(32, 48)).save(tmp_path / "mask.png")  # half size: scaled up
    out = tmp_path / "out"
    common = [f"--input={tmp_path / 'cat.png'}", f"--model={model_file}", "--layers=conv3:1", "--iterations=2",
              "--octaves=1", *RUNNER]
    summary = run([*common, f"--output={out}", f"--mask={tmp_path / 'mask.png'}", "--mask_feather=1"])
    assert (summary.dreamed, summary.failed) == (1, 0)
    dreamed = np.asarray(Image.open(out / "cat.png"))
    assert np.array_equal(dreamed[:, :40], _image()[:, :40])
    assert np.abs(dreamed[:, 56:].astype(int) - _image()[:, 56:]).mean() > 2.0
    (record,) = read_jsonl(out / "metadata.jsonl")
    assert (record["mask"], record["mask_feather"]) == (str(tmp_path / "mask.png"), 1.0)
    stamp = read_stamp((out / "cat.png").read_bytes())
    assert stamp["mask"] == "mask.png" and "mask" in stamp["local_files"]
    # A mask that is not an image stops the job before any input is read: one line.
    (tmp_path / "bad.png").write_bytes(b"not an image")
    assert main([*common, f"--output={tmp_path / 'never'}", f"--mask={tmp_path / 'bad.png'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert "mask image" in err and "cannot be used" in err and len(err.splitlines()) == 1
    assert main([*common, f"--output={tmp_path / 'never'}", f"--mask={tmp_path / 'mask.png'}",
                 "--mask_feather=100"]) == 2
    assert "mask_feather must be" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


def test_a_manifest_column_gives_each_row_its_own_mask(model_file, tmp_path, monkeypatch):
    from tests.media import write_animation
    from transforms.read import manifest_columns, parse_manifest_line

    assert manifest_columns("uri,preset,mask") == ("uri", "preset", "mask")
    assert manifest_columns("uri,preset") is None  # the old two-column form, parsed as before
    assert parse_manifest_line('"in/a,b.png",,m.png', "/job", ("uri", "preset", "mask"))[0][1].mask == "/job/m.png"
    monkeypatch.chdir(tmp_path)  # relative rows start from the launch folder
    rng = np.random.default_rng(5)
    photos = {name: rng.integers(0, 256, (64, 96, 3), dtype=np.uint8) for name in ("a", "b")}
    for name, rgb in photos.items():
        Image.fromarray(rgb).save(tmp_path / f"{name}.png")
    Image.fromarray(_right_half()).save(tmp_path / "right.png")
    write_animation(tmp_path / "wave.gif", [40, 40])
    (tmp_path / "list.csv").write_text("uri,mask\na.png,right.png\nb.png,\nwave.gif,right.png\n")
    args = ["--input_list=list.csv", "--output=out", f"--model={model_file}", "--layers=conv3:1", "--iterations=2",
            "--octaves=1", "--mask_feather=0", "--batch_size=2", *RUNNER]
    summary = run(args)
    assert (summary.dreamed, summary.failed) == (2, 1)  # the two stills, in one batch
    masked, plain = (np.asarray(Image.open(next((tmp_path / "out").glob(f"{n}*.png")))) for n in ("a", "b"))
    assert np.array_equal(masked[:, :47], photos["a"][:, :47])
    assert np.abs(masked[:, 60:].astype(int) - photos["a"][:, 60:]).mean() > 2.0
    assert np.abs(plain[:, :47].astype(int) - photos["b"][:, :47]).mean() > 2.0  # its row has none
    records = {Path(r["input_uri"]).name: r for r in read_jsonl(tmp_path / "out" / "metadata.jsonl")}
    assert records["a.png"]["mask"] == str(tmp_path / "right.png") and "mask" not in records["b.png"]
    (error,) = read_jsonl(tmp_path / "out" / "errors.jsonl")
    assert error["uri"].endswith("wave.gif") and "a sequence takes --mask" in error["message"]
    again = run(args)
    assert (again.dreamed, again.skipped) == (0, 2)
    (tmp_path / "list.csv").write_text("uri,mask\na.png,\nb.png,\n")  # a's mask gone: a's dream redone
    assert run(args).dreamed == 1


def test_feathered_weights_are_the_gaussian_of_the_mask():
    # Across a straight edge the weights are the Gaussian's running sum, cut at 3 sigma.
    weights = mask_weights(_right_half(8, 32), 8, 32, feather=2.0)
    offsets = np.arange(-6, 7)
    taps = np.exp(-0.5 * (offsets / 2.0) ** 2)
    taps /= taps.sum()
    expected = [taps[offsets >= 16 - column].sum() for column in range(32)]
    np.testing.assert_allclose(weights[4], expected, atol=1e-6)
    assert np.all(weights == weights[4])
    # A feather under a pixel reaches one pixel, no further: beyond, exactly 0.
    narrow = mask_weights(_right_half(8, 32), 8, 32, feather=0.3)
    assert np.all(narrow[:, :15] == 0.0) and 0.0 < narrow[0, 15] < 0.01 and np.all(narrow[:, 16:] > 0.99)


def _half_mask(right: bool, height: int = 64, width: int = 96) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    if right:
        mask[:, width // 2:] = 255
    else:
        mask[:, : width // 2] = 255
    return mask


def test_a_mask_folder_gives_each_frame_its_own_mask(model_file, tmp_path):
    """Frame k of a sequence dreams through mask k (the left half on even frames, the right
    on odd ones): outside it, the input frame exactly. A still of the same job takes the
    first mask; a folder with fewer masks than frames is the sequence's one error record."""
    from tests.media import scene, write_frames

    write_frames(tmp_path / "shots" / "pan", [f"f{i}.png" for i in range(4)])
    (tmp_path / "masks").mkdir()
    for k in range(4):  # natural order: m2 before m10 would hold too
        Image.fromarray(_half_mask(right=k % 2 == 1)).save(tmp_path / "masks" / f"m{k}.png")
    Image.fromarray(scene(9)).save(tmp_path / "still.png")
    out = tmp_path / "out"
    common = [f"--model={model_file}", "--layers=conv3:1", "--iterations=3", "--step=3", "--octaves=1",
              "--mask_feather=1", "--temporal=none", "--frames", *RUNNER]
    summary = run([f"--sequence={tmp_path / 'shots'}/*/", f"--input={tmp_path / 'still.png'}", f"--output={out}",
                   f"--mask={tmp_path / 'masks'}/", *common])
    assert (summary.dreamed, summary.failed) == (2, 0)
    frames = [np.asarray(Image.open(out / "pan_frames" / f"{k:06d}.png")).astype(int) for k in range(4)]
    for k, frame in enumerate(frames):
        kept, dreamed = (slice(None, 40), slice(56, None)) if k % 2 else (slice(56, None), slice(None, 40))
        assert np.array_equal(frame[:, kept], scene(k)[:, kept]), k
        assert np.abs(frame[:, dreamed] - scene(k)[:, dreamed]).mean() > 2.0, k
    still = np.asarray(Image.open(out / "still.png")).astype(int)
    assert np.array_equal(still[:, 56:], scene(9)[:, 56:])  # the first mask: the left half dreams
    assert np.abs(still[:, :40] - scene(9)[:, :40]).mean() > 2.0
    # Three masks for four frames: the sequence fails in one record saying so; the still is done.
    (tmp_path / "masks" / "m3.png").unlink()
    short = run([f"--sequence={tmp_path / 'shots'}/*/", f"--output={tmp_path / 'short'}",
                 f"--mask={tmp_path / 'masks'}/", *common])
    assert (short.dreamed, short.failed) == (0, 1)
    (error,) = read_jsonl(tmp_path / "short" / "errors.jsonl")
    assert "has 3 frames (at --frame_step 1), the sequence 4: give one mask per frame" in error["message"]


def test_an_animated_mask_gives_each_zoom_frame_its_own(model_file, tmp_path):
    """A zoom's frame k dreams through the animation's frame k: outside it, frame k-1's
    dream zoomed in, exactly."""
    from tests.media import scene
    from transforms.dream.zoom import zoom_in

    Image.fromarray(scene(0)).save(tmp_path / "still.png")
    masks = [Image.fromarray(_half_mask(right=k % 2 == 1)).convert("P") for k in range(3)]
    masks[0].save(tmp_path / "mask.gif", save_all=True, append_images=masks[1:], duration=40)
    out = tmp_path / "out"
    summary = run([f"--input={tmp_path / 'still.png'}", f"--output={out}", f"--mask={tmp_path / 'mask.gif'}",
                   f"--model={model_file}", "--layers=conv3:1", "--iterations=3", "--step=3", "--octaves=1",
                   "--mask_feather=1", "--zoom_frames=3", "--zoom_scale=1.05", "--sequence_iterations=3", "--frames",
                   *RUNNER])
    assert (summary.dreamed, summary.failed) == (1, 0)
    frames = [np.asarray(Image.open(out / "still_frames" / f"{k:06d}.png")) for k in range(3)]
    starts = [scene(0)] + [zoom_in(frames[k - 1], 1.05) for k in (1, 2)]
    for k, (frame, start) in enumerate(zip(frames, starts, strict=True)):
        kept, dreamed = (slice(None, 40), slice(56, None)) if k % 2 else (slice(56, None), slice(None, 40))
        assert np.array_equal(frame[:, kept], start[:, kept]), k
        assert np.abs(frame[:, dreamed].astype(int) - start[:, dreamed]).mean() > 2.0, k
