"""Every input keeps its own output whatever it is called, and no output is read back as input."""
from __future__ import annotations

import pytest
from PIL import Image

from pipeline.run import main, run
from tests.conftest import read_jsonl
from tests.media import write_animation, write_frames, write_video
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


def test_a_video_an_animation_a_zoom_and_a_folder_of_one_name_each_get_their_own(tmp_path):
    """pan.mp4, pan.gif, pan.png zoomed and a folder pan/, in one job: every kind of
    sequence keeps its own output and record, and a rerun finds each one finished."""
    (tmp_path / "media").mkdir()
    write_video(tmp_path / "media" / "pan.mp4", frames=2, audio=False)
    write_animation(tmp_path / "media" / "pan.gif", [80, 80])
    (tmp_path / "media" / "pan.png").write_bytes(png(1))
    write_frames(tmp_path / "shots" / "pan", ["1.png", "2.png"])
    args = [f"--input={tmp_path}/media/*", f"--sequence={tmp_path}/shots/*/", f"--output={tmp_path / 'out'}",
            "--zoom_frames=2", "--segment_frames=2", "--warmup=0", *FAST]
    summary = run(args)
    assert (summary.dreamed, summary.failed, summary.inputs) == (4, 0, 4)
    records = read_jsonl(tmp_path / "out" / "sequences.jsonl")
    assert sorted(r["input_kind"] for r in records) == ["animation", "folder", "video", "zoom"]
    outputs = {r["output_uri"] for r in records}
    assert len(outputs) == 4 and all((tmp_path / "out" / o.rsplit("/", 1)[1]).is_file() for o in outputs)
    again = run(args)
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
