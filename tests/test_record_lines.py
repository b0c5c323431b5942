"""The job's records line by line (records.py) and the resume check (resume.py), called
directly on tiny elements and local files: no Beam job."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from transforms.elements import DreamedImage, ImageToDream, InputFile
from transforms.records import error_record, metadata_record
from transforms.resume import (
    DONE,
    SkipFinished,
    finished_record,
    input_key,
    read_record,
    record_path,
    settings_key,
    settings_keys,
)


def _dreamed(**result_fields) -> DreamedImage:
    from transforms.dream.engine import DreamResult, OctaveRecord

    octaves = [OctaveRecord(0, 10, 12, [1.0, 2.5], 2, True, 0.25, 0.5), OctaveRecord(1, 20, 24, [3.0, 4.5], 2, False, 0.1)]
    result = DreamResult(np.zeros((20, 24, 3), np.uint8), octaves, 1.23456, "CPU:0", 16, **result_fields)
    decoded = ImageToDream(InputFile("in/a.jpg", "a", "vgg16"), np.zeros((20, 24, 3), np.uint8), "JPEG", "L", 48, 40)
    return DreamedImage(decoded, result, "CPU:0 (test)", "host:7")


def test_a_metadata_line_says_what_went_in_what_came_out_and_how():
    job = {"preset": "vgg16", "settings_key": "not this one"}
    record = metadata_record(_dreamed(), "out/a.png", job, "k1")
    assert record == {
        "input_uri": "in/a.jpg", "output_uri": "out/a.png", "input_format": "JPEG", "input_mode": "L",
        "input_width": 48, "input_height": 40, "width": 24, "height": 20, "preset": "vgg16", "settings_key": "k1",
        "octaves": [
            {"index": 0, "height": 10, "width": 12, "losses": [1.0, 2.5], "steps_run": 2, "stopped_early": True,
             "effective_step": 0.25, "seconds": 0.5},
            {"index": 1, "height": 20, "width": 24, "losses": [3.0, 4.5], "steps_run": 2, "stopped_early": False,
             "effective_step": 0.1, "seconds": 0.0}],
        "stopped_early": True, "final_loss": 4.5, "dream_seconds": 1.235, "device": "CPU:0 (test)",
        "worker": "host:7", "tile_size": 16,
    }
    picked = [{"conv3": [1, 2]}]
    top = {"input": [{"class": 1, "score": 0.5}], "dream": [{"class": 1, "score": 2.0}]}
    record = metadata_record(_dreamed(picked_channels=picked, top_classes=top), "out/a.png", job, "k1")
    assert (record["picked_channels"], record["top_classes"]) == (picked, top)


def test_a_metadata_line_without_losses_or_early_stops():
    import dataclasses

    dreamed = _dreamed()
    octaves = [dataclasses.replace(o, stopped_early=False) for o in dreamed.result.octaves]
    octaves[-1] = dataclasses.replace(octaves[-1], losses=[])
    dreamed.result.octaves = octaves
    record = metadata_record(dreamed, "o", {}, "k")
    assert (record["stopped_early"], record["final_loss"]) == (False, None)


def test_an_error_line_names_the_input_stage_and_exception():
    assert error_record("in/a.png", "decode", ValueError("bad bytes")) == {
        "uri": "in/a.png", "stage": "decode", "error_type": "ValueError", "message": "bad bytes",
        "traceback": "ValueError: bad bytes"}
    assert error_record("u", "read", TimeoutError())["message"] == "TimeoutError()"  # no text: its repr


def test_settings_keys_are_short_hashes_of_the_sorted_settings():
    job = {"b": 1, "a": [2, 3]}
    assert settings_key(job) == hashlib.sha256(b'{"a": [2, 3], "b": 1}').hexdigest()[:16]
    assert settings_key({"a": [2, 3], "b": 1}) == settings_key(job)
    assert input_key("k1", None) == "k1"
    assert input_key("k1", "m.png") == settings_key({"settings_key": "k1", "mask": "m.png"}) != input_key("k1", "n.png")
    keys, sequence_keys = settings_keys({"r": job}, {"fps": 5})
    assert keys == {"r": settings_key(job)}
    assert sequence_keys == {"r": settings_key({**job, "sequence": {"fps": 5}})} != keys


def _record(tmp_path, stem: str, **fields) -> None:
    path = tmp_path / ".deepdream" / "records" / f"{stem}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(fields))


def test_a_finished_input_is_found_by_its_settings_uri_and_output(tmp_path):
    out = str(tmp_path)
    assert record_path(out, "sub/a") == f"{out}/.deepdream/records/sub/a.json"
    (tmp_path / "a.png").write_bytes(b"dreamed")
    element = InputFile("in/a.png", "a", "r")
    keys, sequence_keys = {"r": "k1"}, {"r": "s1"}
    assert finished_record(out, element, keys, sequence_keys) is None  # no record yet
    fields = {"input_uri": "in/a.png", "output_uri": str(tmp_path / "a.png"), "settings_key": "k1"}
    _record(tmp_path, "a", **fields)
    assert finished_record(out, element, keys, sequence_keys) == fields
    assert finished_record(out, element, {"r": "k2"}, sequence_keys) is None  # other settings
    assert finished_record(out, element, {}, sequence_keys) is None  # recipe not in this run
    assert finished_record(out, element._replace(uri="in/b.png"), keys, sequence_keys) is None  # another input
    masked = element._replace(mask="m.png")
    assert finished_record(out, masked, keys, sequence_keys) is None
    _record(tmp_path, "a", **{**fields, "settings_key": input_key("k1", "m.png")})
    assert finished_record(out, masked, keys, sequence_keys) is not None
    _record(tmp_path, "a", **{**fields, "output_uri": str(tmp_path / "gone.png")})
    assert finished_record(out, element, keys, sequence_keys) is None  # its image is gone
    _record(tmp_path, "a", **{k: v for k, v in fields.items() if k != "output_uri"})
    assert finished_record(out, element, keys, sequence_keys) is None
    # A sequence's record is checked against the sequence keys.
    sequence = {**fields, "kind": "sequence", "settings_key": "s1"}
    _record(tmp_path, "a", **sequence)
    assert finished_record(out, element, keys, sequence_keys) == sequence
    assert finished_record(out, element, {"r": "s1"}, {"r": "k1"}) is None


def test_a_damaged_record_is_no_record_but_a_passing_storage_error_is_raised(tmp_path, monkeypatch):
    (tmp_path / "bad.json").write_text("{not json")
    assert read_record(str(tmp_path / "bad.json")) is None
    assert read_record(str(tmp_path / "missing.json")) is None
    (tmp_path / "ok.json").write_text('{"a": 1}')
    assert read_record(str(tmp_path / "ok.json")) == {"a": 1}

    from botocore.exceptions import ConnectionError as BotoConnectionError

    def flaky(path: str) -> bytes:
        raise BotoConnectionError(error="reset")

    monkeypatch.setattr("transforms.resume.read_bytes", flaky)
    with pytest.raises(BotoConnectionError):
        read_record(str(tmp_path / "ok.json"))


def test_skip_finished_routes_finished_inputs_to_done_as_their_record(tmp_path):
    (tmp_path / "a.png").write_bytes(b"dreamed")
    fields = {"input_uri": "in/a.png", "output_uri": str(tmp_path / "a.png"), "settings_key": "k1"}
    _record(tmp_path, "a", **fields)
    _record(tmp_path, "s", **{**fields, "input_uri": "in/s", "kind": "sequence", "settings_key": "s1"})
    skip = SkipFinished(str(tmp_path), {"r": "k1"}, {"r": "s1"})
    skip.setup()
    (done,) = skip.process(InputFile("in/a.png", "a", "r"))
    assert (done.tag, done.value) == (DONE, fields)
    (done,) = skip.process(InputFile("in/s", "s", "r", folder=True))
    assert done.tag == DONE and done.value["kind"] == "sequence"
    todo = InputFile("in/b.png", "b", "r")
    assert list(skip.process(todo)) == [todo]
    assert list(SkipFinished(str(tmp_path), {"r": "k1"}).process(InputFile("in/s", "s", "r", folder=True))) == [
        InputFile("in/s", "s", "r", folder=True)]  # without sequence keys no sequence is finished


def test_the_final_loss_is_the_last_octaves_last_loss_however_many_octaves():
    import dataclasses

    dreamed = _dreamed()
    first = dreamed.result.octaves[0]
    dreamed.result.octaves = [first]
    assert metadata_record(dreamed, "o", {}, "k")["final_loss"] == 2.5  # one octave
    dreamed.result.octaves = [first, dataclasses.replace(first, losses=[5.0]),
                              dataclasses.replace(first, losses=[6.0, 7.0, 8.0])]
    assert metadata_record(dreamed, "o", {}, "k")["final_loss"] == 8.0
    dreamed.result.octaves[-1] = dataclasses.replace(first, losses=[])
    assert metadata_record(dreamed, "o", {}, "k")["final_loss"] is None


def test_an_error_lines_traceback_keeps_the_exceptions_notes():
    exc = ValueError("bad bytes")
    exc.add_note("while decoding in/a.png")
    assert error_record("in/a.png", "decode", exc)["traceback"] == "ValueError: bad bytes\nwhile decoding in/a.png"


def test_a_record_without_its_settings_key_is_never_finished(tmp_path):
    (tmp_path / "a.png").write_bytes(b"dreamed")
    _record(tmp_path, "a", input_uri="in/a.png", output_uri=str(tmp_path / "a.png"))
    element = InputFile("in/a.png", "a", "r")
    assert finished_record(str(tmp_path), element, {"r": "k1"}, {}) is None
    assert finished_record(str(tmp_path), element, {}, {}) is None  # nor for a recipe without a key


def test_skip_finished_counts_what_it_skipped_and_names_what_it_could_not_read(tmp_path, monkeypatch):
    import collections
    import functools

    from transforms import resume
    from transforms.stages import METRICS_NAMESPACE
    from transforms.storage_retries import StorageUnavailableError, retrying

    counts: collections.Counter = collections.Counter()

    class Counter:
        def __init__(self, namespace: str, name: str) -> None:
            self.key = (namespace, name)

        def inc(self, n: int = 1) -> None:
            counts[self.key] += n

    monkeypatch.setattr(resume.Metrics, "counter", Counter)
    (tmp_path / "a.png").write_bytes(b"dreamed")
    fields = {"input_uri": "in/a.png", "output_uri": str(tmp_path / "a.png"), "settings_key": "k1"}
    _record(tmp_path, "a", **fields)
    (tmp_path / "c.png").write_bytes(b"dreamed")
    _record(tmp_path, "c", **{**fields, "input_uri": "in/c.png", "output_uri": str(tmp_path / "c.png")})
    _record(tmp_path, "s", **{**fields, "input_uri": "in/s", "kind": "sequence", "settings_key": "s1"})
    skip = SkipFinished(str(tmp_path), {"r": "k1"}, {"r": "s1"})
    for element in (InputFile("in/a.png", "a", "r"), InputFile("in/c.png", "c", "r"),
                    InputFile("in/s", "s", "r", folder=True), InputFile("in/b.png", "b", "r")):
        list(skip.process(element))
    assert counts == {(METRICS_NAMESPACE, "skipped"): 3, (METRICS_NAMESPACE, "sequences_skipped"): 1}

    from botocore.exceptions import ConnectionError as BotoConnectionError

    def down(path: str) -> bytes:
        raise BotoConnectionError(error="reset")

    monkeypatch.setattr(resume, "read_bytes", down)
    monkeypatch.setattr(resume, "retrying", functools.partial(retrying, deadline_s=0.0))
    with pytest.raises(StorageUnavailableError, match=r"^could not read the records of earlier runs: "):
        list(skip.process(InputFile("in/a.png", "a", "r")))
