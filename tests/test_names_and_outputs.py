"""Every input keeps its own output whatever it is called, and no output is read back as input."""
from __future__ import annotations

import pytest
from PIL import Image

from pipeline.run import main, run
from tests.conftest import read_jsonl
from tests.media import write_animation, write_frames
from tests.test_buckets import png

FAST = ["--runner", "FnApiRunner", "--octaves", "1", "--iterations", "1"]


def test_sequences_and_stills_that_claim_one_name_each_get_their_own(tmp_path):
    """pan/ under two --sequence patterns, pan.gif and pan.png: four inputs, four outputs."""
    for root in ("a", "b"):
        write_frames(tmp_path / root / "pan", ["1.png", "2.png"])
    (tmp_path / "media").mkdir()
    write_animation(tmp_path / "media" / "pan.gif", [80, 80])
    (tmp_path / "media" / "pan.png").write_bytes(png(1))
    out = tmp_path / "out"
    summary = run([f"--sequence={tmp_path}/a/*/", f"--sequence={tmp_path}/b/*/",
                   f"--input={tmp_path}/media/*", f"--output={out}", "--segment_frames=1", "--warmup=0", *FAST])
    assert (summary.dreamed, summary.failed, summary.inputs) == (4, 0, 4)
    sequences = read_jsonl(out / "sequences.jsonl")
    (still,) = read_jsonl(out / "metadata.jsonl")
    records = [*sequences, still]
    assert sorted(r["input_uri"] for r in records) == sorted(
        [str(tmp_path / "a" / "pan"), str(tmp_path / "b" / "pan"), str(tmp_path / "media" / "pan.gif"),
         str(tmp_path / "media" / "pan.png")])
    outputs = [r["output_uri"] for r in records]
    assert len(set(outputs)) == 4 and all((out / o.rsplit("/", 1)[1]).is_file() for o in outputs)
    assert len(list((out / ".deepdream" / "records").glob("*.json"))) == 4
    import av

    for record in sequences:
        if record["input_kind"] == "folder":  # the rate its MP4 really has, not null
            with av.open(record["output_uri"]) as video:
                assert record["fps"] == float(video.streams.video[0].average_rate) == 25.0
    again = run([f"--sequence={tmp_path}/a/*/", f"--sequence={tmp_path}/b/*/",
                 f"--input={tmp_path}/media/*", f"--output={out}", "--segment_frames=1", "--warmup=0", *FAST])
    assert (again.dreamed, again.skipped) == (0, 4)


@pytest.mark.parametrize("pattern, output", [
    ("in/**", "in/out"),
    ("in/*", "in"),
    ("in/*.png", "in"),
])
def test_an_output_the_inputs_would_read_back_is_refused(tmp_path, capsys, monkeypatch, pattern, output):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").write_bytes(png(1))
    assert main([f"--input={pattern}", f"--output={output}", *FAST]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "would read this job's own output back" in err
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["a.png"]


def test_an_output_beside_inputs_the_pattern_cannot_match_is_fine(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    Image.new("RGB", (40, 40), (200, 30, 30)).save(tmp_path / "in" / "a.jpg")
    for _ in range(2):
        summary = run(["--input=in/*.jpg", "--output=in", *FAST])
    assert (summary.dreamed, summary.skipped, summary.inputs) == (0, 1, 1)
