"""Every written file carries its settings, and --params_from dreams them again."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.run import main, run
from tests.conftest import read_jsonl
from transforms.frames import SequenceInfo
from transforms.imaging import encode_image
from transforms.sequence_output import write_animation, write_video
from transforms.settings_stamp import (
    MAX_STAMP_BYTES,
    StampError,
    make_stamp,
    read_stamp,
    stamp_text,
    with_input_mask,
    xmp_packet,
)

RUNNER = ["--runner", "FnApiRunner"]
# Not one default among them: a stamp that loses any of these dreams another image.
SETTINGS = ["--layers=conv3:1.5,conv2[1,3]:0.25", "--iterations=3", "--octaves=2", "--octave_scale=1.3",
            "--step=7", "--jitter=3", "--seed=11", "--grad_norm=std", "--format=jpeg", "--quality=80",
            "--max_size=56"]


def _job(model_file: Path) -> dict:
    return {"preset": "vgg16", "model": str(model_file), "weights": "gs://bucket/w.weights.h5",
            "layers": [{"name": "conv3", "channels": None, "weight": 1.0}], "guide": "/home/me/guide.png",
            "params": {"iterations": 2}, "format": "png"}


def test_every_file_format_carries_the_stamp(tmp_path):
    stamp = make_stamp(_job(Path("/home/me/models/tiny.keras")), "abc123", {"jit": False}, {"version": "0"})
    # The user's paths stay home; a bucket's URI is not a path of their machine.
    assert (stamp["model"], stamp["guide"], stamp["weights"]) == ("tiny.keras", "guide.png", "gs://bucket/w.weights.h5")
    assert stamp["local_files"] == ["model", "guide"] and "/home/me" not in json.dumps(stamp)
    text = stamp_text(stamp, "in/cat.jpg")
    rgb = np.random.default_rng(0).integers(0, 256, (16, 24, 3), dtype=np.uint8)
    for image_format in ("png", "jpeg", "webp"):
        assert read_stamp(encode_image(rgb, image_format, 90, text))["input_uri"] == "in/cat.jpg"
    info = SequenceInfo("animation", "GIF", 3, 24, 16, None, (40, 40, 40), 0, False)
    for container, suffix in (("GIF", ".gif"), ("WEBP", ".webp"), ("PNG", ".png")):
        path = tmp_path / f"a{suffix}"
        write_animation([rgb] * 3, info._replace(container=container), str(path), text)
        assert read_stamp(path.read_bytes())["settings_key"] == "abc123", container
    video = tmp_path / "v.mp4"
    write_video([rgb] * 3, info._replace(kind="video", container="mp4", fps=25.0), None, str(video), text)
    assert read_stamp(video.read_bytes())["params"] == {"iterations": 2}
    with pytest.raises(StampError, match="holds no beam-deepdream settings"):
        read_stamp(encode_image(rgb, "png"))
    # Too long a stamp (thousands of channels) keeps only where the settings are: the record.
    long = {**stamp, "layers": [{"name": "conv3", "channels": list(range(5000)), "weight": 1.0}]}
    with pytest.raises(StampError, match="settings_key abc123"):
        read_stamp(encode_image(rgb, "png", stamp=stamp_text(long, "in/cat.jpg")))
    assert len(stamp_text(long, "x").encode()) < MAX_STAMP_BYTES


def test_the_xmp_packet_is_xmp_that_other_tools_read():
    from xml.etree import ElementTree

    root = ElementTree.fromstring(xmp_packet('{"a":"<b> & c"}'))
    rdf = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
    assert root.tag == "{adobe:ns:meta/}xmpmeta"
    (description,) = root.find(f"{rdf}RDF").findall(f"{rdf}Description")
    assert description.get(f"{rdf}about") == ""
    assert description.find("{urn:beam-deepdream:settings:1}settings").text == '{"a":"<b> & c"}'


def test_a_rows_own_mask_is_stamped_by_name_when_local():
    stamp = {"model": "tiny.keras", "mask": "all.png", "local_files": ["model", "mask"]}
    assert with_input_mask(None, "m.png") is None and with_input_mask(stamp, None) is stamp
    assert with_input_mask(stamp, "/home/me/masks/m.png") == {**stamp, "mask": "m.png",
                                                               "local_files": ["model", "mask"]}
    assert with_input_mask(stamp, "gs://bucket/m.png") == {**stamp, "mask": "gs://bucket/m.png", "local_files": ["model"]}
    assert with_input_mask({"program": "beam-deepdream"}, "C:\\masks\\m.png") == {
        "program": "beam-deepdream", "mask": "m.png", "local_files": ["mask"]}


def test_what_is_not_a_stamp_is_refused_in_one_clear_message(tmp_path):
    from PIL import PngImagePlugin

    rgb = np.zeros((4, 6, 3), np.uint8)

    def png_saying(text: str) -> bytes:
        info = PngImagePlugin.PngInfo()
        info.add_itxt("beam-deepdream", text)
        buffer = io.BytesIO()
        Image.fromarray(rgb).save(buffer, "PNG", pnginfo=info)
        return buffer.getvalue()

    def refusal(data: bytes) -> str:
        with pytest.raises(StampError) as refused:
            read_stamp(data)
        return str(refused.value)

    assert refusal(encode_image(rgb, "png")) == ("it holds no beam-deepdream settings (not written by beam-deepdream, "
                                                 "or its metadata was stripped)")
    assert refusal(png_saying("{nope")).startswith("its beam-deepdream settings are not valid JSON: Expecting")
    for other in ('{"program": "another-tool"}', "[1, 2]"):
        assert refusal(png_saying(other)) == "its metadata is not a beam-deepdream settings stamp"
    # A GIF comment that starts like JSON but is not UTF-8: read as far as it goes, then refused.
    gif = io.BytesIO()
    Image.fromarray(rgb).save(gif, "GIF", comment=b'{"program": "\xff"}')
    assert refusal(gif.getvalue()) == "its metadata is not a beam-deepdream settings stamp"
    # A video whose comment is someone else's text: no stamp.
    info = SequenceInfo("video", "mp4", 2, 6, 4, 25.0)
    write_video([rgb] * 2, info, None, str(tmp_path / "v.mp4"), "made with another tool")
    assert refusal((tmp_path / "v.mp4").read_bytes()).startswith("it holds no beam-deepdream settings")


@pytest.fixture(scope="module")
def first_dream(model_file, tmp_path_factory) -> tuple[Path, Path]:
    """An image dreamed with non-default settings: (its input, its output folder)."""
    folder = tmp_path_factory.mktemp("stamp")
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(folder / "cat.png")
    out = folder / "first"
    summary = run([f"--input={folder / 'cat.png'}", f"--output={out}", f"--model={model_file}", *SETTINGS, *RUNNER])
    assert (summary.dreamed, summary.failed) == (1, 0)
    return folder / "cat.png", out


def test_params_from_a_dream_makes_it_again_bit_identical(first_dream, model_file, tmp_path):
    photo, first = first_dream
    stamp = read_stamp((first / "cat.jpg").read_bytes())
    assert stamp["params"]["jitter"] == 3 and stamp["quality"] == 80 and stamp["model"] == "tiny.keras"
    again = tmp_path / "again"
    summary = run([f"--input={photo}", f"--output={again}", f"--model={model_file}",
                   f"--params_from={first / 'cat.jpg'}", *RUNNER])
    assert (summary.dreamed, summary.failed) == (1, 0)
    # Same format and quality, same pixels, same stamp: the same bytes.
    assert (again / "cat.jpg").read_bytes() == (first / "cat.jpg").read_bytes()
    (before,), (after,) = read_jsonl(first / "metadata.jsonl"), read_jsonl(again / "metadata.jsonl")
    assert after["settings_key"] == before["settings_key"]


def test_options_given_win_over_the_stamp(first_dream, model_file, tmp_path):
    photo, first = first_dream
    out = tmp_path / "changed"
    run([f"--input={photo}", f"--output={out}", f"--model={model_file}", f"--params_from={first / 'cat.jpg'}",
         "--iterations=1", "--format=png", *RUNNER])
    (record,) = read_jsonl(out / "metadata.jsonl")
    assert record["params"]["iterations"] == 1 and record["params"]["jitter"] == 3
    assert (out / "cat.png").exists() and read_stamp((out / "cat.png").read_bytes())["params"]["iterations"] == 1


def test_params_from_errors_are_one_line(first_dream, model_file, tmp_path, capsys):
    photo, first = first_dream
    base = [f"--input={photo}", f"--output={tmp_path / 'out'}", *RUNNER]
    # The model file was the first machine's: its name alone travelled.
    assert main([*base, f"--params_from={first / 'cat.jpg'}"]) == 2
    assert "dreamed with the model file 'tiny.keras'" in capsys.readouterr().err
    plain = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(plain)
    assert main([*base, f"--params_from={plain}"]) == 2
    err = capsys.readouterr().err
    assert "holds no beam-deepdream settings" in err and len(err.strip().splitlines()) == 1
    assert main([*base, f"--params_from={first / 'cat.jpg'}", f"--params={plain}"]) == 2
    assert "cannot be combined" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_no_settings_stamp_writes_bare_files(first_dream, model_file, tmp_path):
    photo, _ = first_dream
    out = tmp_path / "bare"
    run([f"--input={photo}", f"--output={out}", f"--model={model_file}", "--layers=conv3:1", "--iterations=1",
         "--octaves=1", "--no_settings_stamp", *RUNNER])
    with pytest.raises(StampError):
        read_stamp((out / "cat.png").read_bytes())
