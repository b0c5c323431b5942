"""Each stage of the job on its own, in a TestPipeline with assert_that (the end-to-end
tests run them together)."""
from __future__ import annotations

import io
import json

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to
from PIL import Image

from transforms.decode import DecodeImage
from transforms.dreaming import BatchSameSize, Dream, DreamBatch
from transforms.elements import DreamedImage, ImageBytes, ImageToDream, InputFile
from transforms.read import CheckPreset, FindInputs, ReadBytes
from transforms.recipe import make_recipe
from transforms.resume import DONE, SkipFinished
from transforms.stages import ERRORS
from transforms.write import WriteDream


def pipeline() -> BeamTestPipeline:
    return BeamTestPipeline(runner="FnApiRunner")


def png_bytes(rgb: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def tiny_recipe(tiny_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    tiny_model.save(path)
    return make_recipe("vgg16", {"model": str(path), "layers": "conv2:1.0", "iterations": 2, "octaves": 1,
                                 "step": 2.0, "step_mode": "pixel", "max_loss": None}, preprocessing="inception")


def test_find_inputs_names_each_input_once(tmp_path):
    for name in ("a.png", "b.png"):
        (tmp_path / name).write_bytes(b"x")
    manifest = tmp_path / "list.txt"
    manifest.write_text(f"{tmp_path / 'a.png'}\n# a comment\n{tmp_path / 'c.png'},lapnorm\n")
    with pipeline() as p:
        found = p | FindInputs([f"{tmp_path}/*.png"], [str(manifest)])
        # Matched inputs keep their path under the pattern's folder; listed ones get their
        # URI's hash (they share no folder); a.png, matched and listed, is one input.
        assert_that(found["ok"] | beam.Map(lambda f: (f.stem.split("-")[0], f.preset)),
                    equal_to([("a", None), ("b", None), ("c", "lapnorm")]), label="Inputs")
        assert_that(found[ERRORS], equal_to([]), label="NoErrors")


def test_check_preset_gives_every_input_its_recipe():
    inputs = [InputFile("in/a.png", "a"), InputFile("in/b.png", "b", "lapnorm"), InputFile("in/c.png", "c", "nope")]
    with pipeline() as p:
        checked = p | beam.Create(inputs) | beam.ParDo(CheckPreset(["vgg16", "lapnorm"], "vgg16")).with_outputs(ERRORS, main="ok")
        assert_that(checked.ok | beam.Map(lambda f: (f.uri, f.recipe)),
                    equal_to([("in/a.png", "vgg16"), ("in/b.png", "lapnorm")]), label="Recipes")
        assert_that(checked[ERRORS] | beam.Map(lambda e: (e["uri"], e["stage"], e["error_type"])),
                    equal_to([("in/c.png", "preset", "UnknownPresetError")]), label="Unknown")


def test_skip_finished_passes_on_only_unfinished_or_changed_inputs(tmp_path):
    (tmp_path / "a.png").write_bytes(b"dreamed")
    records = tmp_path / ".deepdream" / "records"
    records.mkdir(parents=True)
    for stem, key in (("a", "k1"), ("b", "k1")):  # b's image is missing: not finished
        (records / f"{stem}.json").write_text(json.dumps(
            {"input_uri": f"in/{stem}.png", "output_uri": str(tmp_path / f"{stem}.png"), "settings_key": key}))
    inputs = [InputFile("in/a.png", "a", "vgg16"), InputFile("in/b.png", "b", "vgg16"),
              InputFile("in/a.png", "a", "lapnorm")]  # other settings: dreamed again
    with pipeline() as p:
        checked = p | beam.Create(inputs) | beam.ParDo(
            SkipFinished(str(tmp_path), {"vgg16": "k1", "lapnorm": "k2"})).with_outputs(DONE, main="todo")
        assert_that(checked.todo | beam.Map(lambda f: (f.stem, f.recipe)),
                    equal_to([("b", "vgg16"), ("a", "lapnorm")]), label="Todo")
        assert_that(checked[DONE] | beam.Map(lambda r: r["input_uri"]), equal_to(["in/a.png"]), label="Done")


def test_read_bytes_reads_or_says_why_not(tmp_path):
    (tmp_path / "a.png").write_bytes(b"12345")
    (tmp_path / "big.png").write_bytes(b"x" * 100)
    inputs = [InputFile(str(tmp_path / n), n, "vgg16") for n in ("a.png", "big.png", "gone.png")]
    with pipeline() as p:
        read = p | beam.Create(inputs) | beam.ParDo(ReadBytes(50, 5.0)).with_outputs(ERRORS, main="ok")
        assert_that(read.ok | beam.Map(lambda b: (b.source.stem, b.data)), equal_to([("a.png", b"12345")]), label="Read")
        assert_that(read[ERRORS] | beam.Map(lambda e: (e["uri"].rsplit("/", 1)[1], e["stage"])),
                    equal_to([("big.png", "read"), ("gone.png", "read")]), label="Failed")


def test_decode_gives_rgb_within_max_size_or_an_error(photo):
    source = InputFile("in/p.png", "p", "vgg16")
    elements = [ImageBytes(source, png_bytes(photo)), ImageBytes(source._replace(uri="in/bad.png"), b"\x89PNG junk")]
    with pipeline() as p:
        decoded = p | beam.Create(elements) | beam.ParDo(DecodeImage(10**7, 100)).with_outputs(ERRORS, main="ok")
        assert_that(decoded.ok | beam.Map(lambda d: (d.rgb.shape, d.source_width, d.source_height)),
                    equal_to([((76, 100, 3), 264, 200)]), label="Decoded")
        assert_that(decoded[ERRORS] | beam.Map(lambda e: (e["uri"], e["stage"])),
                    equal_to([("in/bad.png", "decode")]), label="Corrupt")


def test_dream_on_a_tiny_model_alone_and_batched(tiny_recipe, photo):
    recipes = {"tiny": tiny_recipe}
    images = [ImageToDream(InputFile(f"in/{i}.png", str(i), "tiny"), rgb, "PNG", "RGB", 264, 200)
              for i, rgb in enumerate([photo, np.ascontiguousarray(photo[::-1]), np.zeros((8, 8, 3), np.uint8)])]

    def summary(dreamed: DreamedImage):
        changed = np.abs(dreamed.result.image.astype(int) - dreamed.decoded.rgb).mean() > 0.5
        return dreamed.decoded.source.uri, dreamed.result.image.shape, changed, dreamed.result.tile_size

    expected = [("in/0.png", (200, 264, 3), True, 0), ("in/1.png", (200, 264, 3), True, 0)]
    with pipeline() as p:
        alone = p | "Images" >> beam.Create(images) | "Alone" >> beam.ParDo(Dream(recipes)).with_outputs(ERRORS, main="ok")
        assert_that(alone.ok | "SumAlone" >> beam.Map(summary), equal_to(expected), label="Alone")
        assert_that(alone[ERRORS] | "TooSmall" >> beam.Map(lambda e: (e["uri"], e["error_type"])),
                    equal_to([("in/2.png", "ImageTooSmallError")]), label="AloneErrors")
        batched = (p | "Again" >> beam.Create(images) | BatchSameSize(2)
                   | "Batched" >> beam.ParDo(DreamBatch(recipes)).with_outputs(ERRORS, main="ok"))
        assert_that(batched.ok | "SumBatched" >> beam.Map(summary), equal_to(expected), label="Batched")
        assert_that(batched[ERRORS] | "Count" >> beam.combiners.Count.Globally(), equal_to([1]), label="BatchedErrors")


def test_write_publishes_the_image_and_its_record(tmp_path, photo):
    from transforms.dream import DreamResult, OctaveRecord

    decoded = ImageToDream(InputFile("in/a.png", "sub/a", "vgg16"), photo, "PNG", "RGB", 264, 200)
    result = DreamResult(photo[::-1].copy(), [OctaveRecord(0, 200, 264, [1.0, 2.0], 2, False, 0.1)], 0.5, "CPU:0")
    jobs, keys = {"vgg16": {"preset": "vgg16"}}, {"vgg16": "k1"}
    with pipeline() as p:
        written = (p | beam.Create([DreamedImage(decoded, result, "CPU:0", "host:1")])
                   | beam.ParDo(WriteDream(str(tmp_path), "png", 95, jobs, keys)).with_outputs(ERRORS, main="ok"))
        assert_that(written.ok | beam.Map(lambda r: (r["input_uri"], r["final_loss"], r["settings_key"], r["preset"])),
                    equal_to([("in/a.png", 2.0, "k1", "vgg16")]), label="Record")
        assert_that(written[ERRORS], equal_to([]), label="NoErrors")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "sub" / "a.png")), photo[::-1])
    assert json.loads((tmp_path / ".deepdream" / "records" / "sub" / "a.json").read_text())["settings_key"] == "k1"
