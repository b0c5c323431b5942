"""DeepDream in other people's pipelines: the PTransform and the ModelHandler, the README's
snippets run as written (on the FnApiRunner) and the pieces checked against the Dreamer."""
from __future__ import annotations

import re
from pathlib import Path

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to
from PIL import Image

from transforms import DeepDream, DeepDreamModelHandler
from transforms.dream import Dreamer, DreamParams
from transforms.dream.models import get_model_spec

README = Path(__file__).resolve().parents[1] / "README.md"
TINY = dict(layers="conv2:1.0,conv3:0.5", preprocessing="inception", iterations=2, octaves=2,
            step=2.0, step_mode="pixel", max_loss=None)


def readme_snippets(heading: str) -> list[str]:
    section = README.read_text().split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_the_readme_snippets_run_as_written(tmp_path, monkeypatch, capsys):
    snippets = readme_snippets("Use it in your own pipeline")
    assert len(snippets) == 2
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for code in snippets:
        # The README's default runner would first fetch Prism; tests run in-process.
        exec(code.replace("beam.Pipeline()", 'beam.Pipeline(runner="FnApiRunner")'), namespace)
    original = namespace["images"][0][1]
    for name in ("gradient.png", "gradient.ri.png"):
        dreamed = np.asarray(Image.open(tmp_path / name))
        assert dreamed.shape == original.shape and np.abs(dreamed.astype(int) - original).mean() > 1.0
    assert "too_small failed: ImageTooSmallError: image is 8x8 pixels" in capsys.readouterr().out
    assert not (tmp_path / "too_small.png").exists()
    # Beam's own RunInference metrics, in this project's namespace.
    counters = namespace["p"].result.metrics().query(MetricsFilter().with_name("num_inferences"))["counters"]
    assert sum(c.committed for c in counters) == 1


@pytest.fixture(scope="module")
def tiny_file(tiny_model, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    tiny_model.save(path)
    return str(path)


def test_deep_dream_gives_what_the_dreamer_gives(tiny_file, photo, caplog):
    other = np.ascontiguousarray(photo[:, ::-1])
    spec = get_model_spec(tiny_file, "inception")
    dreamer = Dreamer.from_spec(spec, layers=TINY["layers"])
    params = DreamParams(iterations=2, octaves=2, step=2.0, step_mode="pixel", max_loss=None)
    expected = {"a": dreamer.dream(photo, params).image, "b": dreamer.dream(other, params).image}
    with BeamTestPipeline(runner="FnApiRunner") as p:
        dreams = p | beam.Create([("a", photo), ("b", other)]) | DeepDream("vgg16", model=tiny_file, **TINY)
        assert_that(
            dreams | beam.MapTuple(lambda key, result: (key, np.array_equal(result.image, expected[key]),
                                                        len(result.octaves))),
            equal_to([("a", True, 2), ("b", True, 2)]),
        )
    # Quiet: no warning the user cannot act on (Beam's 'Resource module is not available').
    assert not [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]


def test_a_bad_image_goes_to_the_dead_letter_output_alone(tiny_file, photo):
    with BeamTestPipeline(runner="FnApiRunner") as p:
        dreams, failed = (
            p
            | beam.Create([("good", photo), ("flat", np.zeros((4, 4, 3), np.uint8))])
            | DeepDream("vgg16", model=tiny_file, **TINY).with_exception_handling()
        )
        assert_that(dreams | "Keys" >> beam.Keys(), equal_to(["good"]), label="Dreamed")
        assert_that(failed | "Errors" >> beam.MapTuple(lambda key, error: (key, error.split(":")[0])),
                    equal_to([("flat", "ImageTooSmallError")]), label="Failed")


def test_run_inference_batches_same_size_images_in_one_pass(tiny_file, photo):
    """Beam batches up to batch_size; the handler dreams each size's images together and
    each result is the one the image gets alone."""
    small = np.ascontiguousarray(photo[:96, :128])
    handler = DeepDreamModelHandler("vgg16", model=tiny_file, batch_size=3, **TINY)
    alone = handler.run_inference([small], handler.load_model())[0].inference.image
    with BeamTestPipeline(runner="FnApiRunner") as p:
        results = (p | beam.Create([("x", photo), ("y", small), ("z", photo)])
                   | RunInference(KeyedModelHandler(handler)))
        assert_that(results | beam.MapTuple(lambda key, r: (key, r.inference.image.shape[:2])),
                    equal_to([("x", (200, 264)), ("y", (96, 128)), ("z", (200, 264))]), label="Shapes")
        assert_that(results | beam.Filter(lambda kr: kr[0] == "y")
                    | beam.MapTuple(lambda key, r: np.abs(r.inference.image.astype(int) - alone).max() <= 1),
                    equal_to([True]), label="SameAsAlone")


def test_the_handler_dreams_each_sizes_images_in_one_pass(tiny_file, photo):
    """Observed on the Dreamer: two same-size images go through one dream_batch call."""
    small = np.ascontiguousarray(photo[:96, :128])
    handler = DeepDreamModelHandler("vgg16", model=tiny_file, batch_size=3, **TINY)
    dreamer = handler.load_model()
    passes: list[int] = []
    dream_batch = dreamer.dream_batch

    def counted(images, params):
        passes.append(len(images))
        return dream_batch(images, params)

    dreamer.dream_batch = counted
    results = handler.run_inference([photo, small, photo], dreamer)
    assert sorted(passes) == [1, 2]
    assert [r.inference.image.shape[:2] for r in results] == [(200, 264), (96, 128), (200, 264)]


def test_settings_are_checked_when_the_transform_is_built():
    with pytest.raises(ValueError, match="unknown setting"):
        DeepDream("vgg16", iteration=3)
    with pytest.raises(ValueError, match="unknown preset 'vgg61'"):
        DeepDreamModelHandler("vgg61")


def test_deep_dream_takes_the_new_controls_by_name(tiny_file, photo, tmp_path):
    """A mask and picked channels through the PTransform: what the Dreamer gives with them."""
    mask = np.zeros(photo.shape[:2], np.uint8)
    mask[:, photo.shape[1] // 2:] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    spec = get_model_spec(tiny_file, "inception")
    from transforms.dream.channel_pick import ChannelPick

    dreamer = Dreamer(spec.build(None), TINY["layers"], spec.preprocessing, spec.min_input_size, mask=mask,
                      mask_feather=2.0, channel_pick=ChannelPick(2))
    params = DreamParams(iterations=2, octaves=2, step=2.0, step_mode="pixel", max_loss=None)
    expected = dreamer.dream(photo, params)
    with BeamTestPipeline(runner="FnApiRunner") as p:
        dreams = p | beam.Create([("a", photo)]) | DeepDream(
            "vgg16", model=tiny_file, mask=str(tmp_path / "mask.png"), mask_feather=2.0, channels="auto:2", **TINY)
        assert_that(
            dreams | beam.MapTuple(lambda key, result: (np.array_equal(result.image, expected.image),
                                                        result.picked_channels == expected.picked_channels,
                                                        np.array_equal(result.image[:, :100], photo[:, :100]))),
            equal_to([(True, True, True)]),
        )
