"""Dreams of a class: `--class` and `class[N]` terms raise those classes' pre-softmax scores."""
from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipeline.run import main, run
from tests.conftest import read_jsonl
from transforms.dream.class_names import resolve_classes, top_classes
from transforms.dream.classes import NoClassifierError, class_scores, classifier_of
from transforms.dream.engine import Dreamer
from transforms.dream.params import DreamParams
from transforms.dream.preprocessing import INCEPTION
from transforms.parquet_schema import from_parquet_row

PARAMS = DreamParams(octaves=1, iterations=4, step=5.0, max_loss=None)
CLASSES = 5


@pytest.fixture(scope="module")
def classifier_model() -> keras.Model:
    """The tiny network with a head: pooled, then five classes through a softmax."""
    keras.utils.set_random_seed(11)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(CLASSES, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="tiny_classifier")


@pytest.fixture(scope="module")
def classifier_file(classifier_model, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("head") / "head.keras"
    classifier_model.save(path)
    return path


def _photo() -> np.ndarray:
    return np.random.default_rng(2).integers(0, 256, (48, 64, 3), dtype=np.uint8)


def test_the_scores_are_the_heads_before_its_softmax(classifier_model, tiny_model):
    images = INCEPTION.preprocess(_photo())
    logits = np.asarray(class_scores(classifier_of(classifier_model), images))
    probabilities = np.asarray(classifier_model(images))
    softmax = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    np.testing.assert_allclose(softmax, probabilities, rtol=1e-4, atol=1e-6)
    assert not np.allclose(logits, probabilities)  # scores, not probabilities
    with pytest.raises(NoClassifierError, match="does not end in a classifier"):
        classifier_of(tiny_model)


def test_a_class_dream_raises_that_class_above_the_others(classifier_model):
    photo = _photo()
    classifier = classifier_of(classifier_model)

    def scores(rgb: np.ndarray) -> np.ndarray:
        return np.asarray(class_scores(classifier, INCEPTION.preprocess(rgb)))[0]

    before = scores(photo)
    for wanted in (1, 3):
        dreamer = Dreamer(classifier_model, f"class[{wanted}]:1", INCEPTION, classifier=classifier_model)
        result = dreamer.dream(photo, PARAMS)
        gain = scores(result.image) - before
        assert gain[wanted] > 0 and gain[wanted] == gain.max(), (wanted, gain)
        # The result names every class's score before and after (five: all of them here).
        assert result.top_classes is not None and len(result.top_classes["input"]) == CLASSES
        recorded = {when: {c["class"]: c["score"] for c in result.top_classes[when]} for when in ("input", "dream")}
        recorded_gain = {c: recorded["dream"][c] - recorded["input"][c] for c in range(CLASSES)}
        assert max(recorded_gain, key=recorded_gain.get) == wanted
    with pytest.raises(NoClassifierError):
        Dreamer(classifier_model, "class[1]:1", INCEPTION)  # no head given


def test_class_names_resolve_to_numbers():
    names = ["tench", "goldfish", "great_white_shark", "tabby"]
    assert resolve_classes("tabby, goldfish", lambda: names) == (3, 1)
    assert resolve_classes("281,1", lambda: []) == (281, 1)
    with pytest.raises(ValueError, match="did you mean goldfish"):
        resolve_classes("goldfsh", lambda: names)


def test_class_names_match_spaces_mixed_numbers_and_say_what_went_wrong():
    spaced = ["tench", "great white shark", "tabby"]
    assert resolve_classes("great_white_shark, 7, Tabby", lambda: spaced) == (1, 7, 2)
    assert resolve_classes("Great White Shark", lambda: ["tench", "great_white_shark"]) == (1,)
    for text, names, message in (
        (" , ", [], "--class names no class; e.g. --class tabby or --class 281"),
        ("zzzzzz", spaced, "unknown class 'zzzzzz'; see --list_classes"),
        ("cat", ["cat1", "cat2", "cat3", "cat4"], "unknown class 'cat'; did you mean cat4, cat3, cat2?"),
    ):
        with pytest.raises(ValueError) as refused:
            resolve_classes(text, lambda names=names: names)
        assert str(refused.value) == message
    top = top_classes([0.1, 0.7, -2.0, 0.123456], count=2, names=["a", "b", "c", "d"])
    assert top == [{"class": 1, "score": 0.7, "name": "b"}, {"class": 3, "score": 0.1235, "name": "d"}]
    assert top_classes([1.0, 3.0, 2.0]) == [{"class": 1, "score": 3.0}, {"class": 2, "score": 2.0},
                                            {"class": 0, "score": 1.0}]


def test_the_job_dreams_a_class_and_records_the_top_classes(classifier_file, model_file, tmp_path, capsys):
    Image.fromarray(_photo()).save(tmp_path / "cat.png")
    common = [f"--input={tmp_path / 'cat.png'}", "--iterations=3", "--octaves=1", "--runner", "FnApiRunner"]
    out = tmp_path / "out"
    summary = run([*common, f"--output={out}", f"--model={classifier_file}", "--layers=conv2:1", "--class=3",
                   "--report", "--metadata_format=both"])
    assert (summary.dreamed, summary.failed) == (1, 0)
    (record,) = read_jsonl(out / "metadata.jsonl")
    (row,) = pq.read_table(out / "metadata.parquet").to_pylist()  # Parquet alone loses nothing
    assert from_parquet_row(row) == record
    assert [(t["name"], t["channels"]) for t in record["layers"]] == [("conv2", None), ("class", [3])]
    assert {"input", "dream"} == set(record["top_classes"]) and len(record["top_classes"]["dream"]) == 5
    best_dreamed = record["top_classes"]["dream"][0]
    assert f"→ dream {best_dreamed['class']} {best_dreamed['score']:.3g}" in (out / "report.html").read_text()
    # A model without a head, or a class it does not have: one line, before any input is read.
    assert main([*common, f"--output={tmp_path / 'never'}", f"--model={model_file}", "--class=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "does not end in a classifier" in err and len(err.splitlines()) == 1
    assert main([*common, f"--output={tmp_path / 'never'}", f"--model={classifier_file}", "--class=7"]) == 2
    assert "classes 0-4; [7] out of range" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()
    assert main(["--list_classes", f"--model={classifier_file}"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert "5 classes" in listing[0] and [line.strip() for line in listing[1:]] == ["0", "1", "2", "3", "4"]


def test_a_head_of_fixed_size_sees_any_image_resized_to_it():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    outputs = keras.layers.Dense(CLASSES, name="logits")(keras.layers.Flatten()(x))  # no softmax: scores as they are
    fixed = keras.Model(inputs, outputs)
    classifier = classifier_of(fixed)
    assert classifier.input_size == (32, 32)
    images = INCEPTION.preprocess(_photo())  # 48x64
    resized = keras.ops.image.resize(images, (32, 32))
    np.testing.assert_allclose(np.asarray(class_scores(classifier, images)), np.asarray(fixed(resized)), rtol=1e-5)
    result = Dreamer(fixed, "class[2]:1", INCEPTION, classifier=fixed).dream(_photo(), PARAMS)
    assert result.image.shape == (48, 64, 3) and result.octaves[0].losses[-1] > result.octaves[0].losses[0]
