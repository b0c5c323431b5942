"""Sequences end to end: animations, videos and frame folders in, the same kind out, every
frame dreamed coherently; segments, resume and bad sequences."""
from __future__ import annotations

import time
from itertools import pairwise
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image, ImageSequence

from pipeline.run import run
from tests.conftest import read_jsonl
from tests.jobs import kill, start_job, wait_for
from tests.media import scene, write_animation, write_frames, write_video
from transforms.frames import probe_video, read_frames
from transforms.settings_stamp import read_stamp

FAST = ["--runner", "FnApiRunner", "--octaves", "1", "--iterations", "2"]
ROOT = Path(__file__).resolve().parent.parent


def frames_of(path: Path) -> list[np.ndarray]:
    info = probe_video(str(path), 10_000, 1)
    return [rgb for _, rgb in read_frames(str(path), info, 0, info.frame_count)]


@pytest.mark.parametrize("name,container", [("wave.gif", "GIF"), ("wave.webp", "WEBP"), ("wave.png", "PNG")])
def test_an_animation_comes_back_animated_with_its_timing(tmp_path, name, container):
    durations = [40, 50, 60, 70, 80]
    (tmp_path / "in").mkdir()
    write_animation(tmp_path / "in" / name, durations, loop=3)
    out = tmp_path / "out"
    summary = run([f"--input={tmp_path / 'in'}/*", f"--output={out}", "--segment_frames=2", *FAST])
    assert (summary.dreamed, summary.failed) == (1, 0)
    with Image.open(out / name) as dreamed:
        assert dreamed.format == container and dreamed.n_frames == 5 and dreamed.info["loop"] == 3
        shown = [(frame.load(), frame.info["duration"])[1] for frame in ImageSequence.Iterator(dreamed)]
        assert shown == durations
        first = np.asarray(dreamed.convert("RGB")).astype(int)
        assert np.abs(first - scene(0)).mean() > 2.0  # dreamed, not copied
    (record,) = read_jsonl(out / "sequences.jsonl")
    assert (record["frames"], record["segments"], record["durations_ms"]) == (5, 3, durations)
    rows = pq.read_table(out / "wave.frames.parquet").to_pylist()
    assert [r["frame"] for r in rows] == list(range(5)) and all(r["final_loss"] is not None for r in rows)
    assert not (out / "metadata.jsonl").read_text() and read_jsonl(out / "errors.jsonl") == []
    # The animation carries its settings, the sequence's own among them.
    stamp = read_stamp((out / name).read_bytes())
    assert stamp["sequence"]["segment_frames"] == 2 and stamp["settings_key"] == record["settings_key"]


def test_a_video_comes_back_with_its_frames_rate_size_and_audio(tmp_path):
    (tmp_path / "in").mkdir()
    write_video(tmp_path / "in" / "pan.mp4", frames=10, fps=10, audio=True)
    write_video(tmp_path / "in" / "silent.mov", frames=6, fps=8, audio=False)
    out = tmp_path / "out"
    summary = run([f"--input={tmp_path / 'in'}/*", f"--output={out}", "--segment_frames=4", *FAST])
    assert (summary.dreamed, summary.failed) == (2, 0)
    pan, silent = probe_video(str(out / "pan.mp4"), 100, 1), probe_video(str(out / "silent.mp4"), 100, 1)
    assert (pan.frame_count, pan.fps, pan.width, pan.height, pan.has_audio) == (10, 10.0, 96, 64, True)
    assert (silent.frame_count, silent.fps, silent.has_audio) == (6, 8.0, False)
    originals = frames_of(tmp_path / "in" / "pan.mp4")
    dreamed = frames_of(out / "pan.mp4")
    changed = [np.abs(d.astype(int) - o).mean() for d, o in zip(dreamed, originals, strict=True)]
    assert min(changed) > 2.0  # every frame dreamed, not copied


def test_a_folder_of_frames_is_one_sequence_in_natural_order(tmp_path):
    names = ["frame2.png", "frame10.png", "frame1.png", "frame20.png"]  # scene order 0..3
    write_frames(tmp_path / "shots" / "take.1", names)
    out = tmp_path / "out"
    summary = run([f"--sequence={tmp_path / 'shots'}/*/", f"--output={out}", "--frames", "--temporal=none", *FAST])
    assert (summary.inputs, summary.dreamed, summary.failed) == (1, 1, 0)
    # frame1, frame2, frame10, frame20: scene frames 2, 0, 1, 3
    expected_order = [2, 0, 1, 3]
    written = sorted((out / "take.1_frames").glob("*.png"))
    assert len(written) == 4 and probe_video(str(out / "take.1.mp4"), 100, 1).frame_count == 4
    for path, scene_frame in zip(written, expected_order, strict=True):
        dreamed = np.asarray(Image.open(path)).astype(int)
        distances = [np.abs(dreamed - scene(i)).mean() for i in range(4)]
        assert int(np.argmin(distances)) == scene_frame


def _steps(frames: list[np.ndarray]) -> list[float]:
    """Change from each frame to the next once the scene's known pan (2 pixels) is undone."""
    return [float(np.abs(b[:, :-2] - a[:, 2:]).mean()) for a, b in pairwise(frames)]


def test_segments_give_the_frames_of_one_run_but_at_the_cross_faded_joins(tmp_path):
    (tmp_path / "in").mkdir()
    write_video(tmp_path / "in" / "pan.mp4", frames=12, audio=False)
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    args = [f"--input={tmp_path / 'in'}/*", "--frames", "--seed=3", *FAST]
    run([*args, f"--output={whole}", "--segment_frames=100"])
    run([*args, f"--output={cut}", "--segment_frames=6", "--warmup=3"])
    a = [np.asarray(Image.open(p)).astype(int) for p in sorted((whole / "pan_frames").glob("*.png"))]
    b = [np.asarray(Image.open(p)).astype(int) for p in sorted((cut / "pan_frames").glob("*.png"))]
    assert len(a) == len(b) == 12
    for i in range(3):  # before the join's fade, the first segment is the one run exactly
        assert np.array_equal(a[i], b[i])
    # Frames 3-5 fade into the second segment's warm-up dreams of them; from frame 6 on the
    # second segment runs on its own. No step across the join is much larger than the
    # steps of the one run (what a viewer would see as a cut).
    steps_whole, steps_cut = _steps(a), _steps(b)
    # Measured here: one run 3.1-3.6 levels per step; the join without warm-up 4.9, with 3
    # warm-up frames cross-faded at most 3.3.
    assert max(steps_cut[2:7]) < 1.2 * max(steps_whole), (steps_cut, steps_whole)
    assert any(not np.array_equal(a[i], b[i]) for i in range(3, 12))  # it was really cut


def test_a_killed_sequence_job_redoes_only_unfinished_segments(tmp_path):
    (tmp_path / "in").mkdir()
    write_video(tmp_path / "in" / "long.mp4", frames=24, audio=False)
    out = tmp_path / "out"
    args = [f"--input={tmp_path / 'in'}/*", f"--output={out}", "--segment_frames=3", "--warmup=1",
            "--runner", "FnApiRunner", "--octaves", "2", "--iterations", "10", "--lease_seconds", "2"]
    job = start_job(args)
    markers = out / ".deepdream" / "segments" / "long"
    wait_for(lambda: len(list(markers.glob("*.json"))) >= 2, job, "two segments were done")
    kill(job)
    done_before = len(list(markers.glob("*.json")))
    assert 2 <= done_before < 8, "kill the job part-way"
    time.sleep(2.5)  # the dead job's lease lapses
    summary = run(args)
    assert (summary.dreamed, summary.failed) == (1, 0)
    (record,) = read_jsonl(out / "sequences.jsonl")
    assert record["segments"] == 8 and record["segments_resumed"] == done_before
    assert probe_video(str(out / "long.mp4"), 100, 1).frame_count == 24
    assert not markers.exists()  # segment frames removed once the sequence is written


def test_a_truncated_video_is_one_error_record_counting_its_frames(tmp_path):
    (tmp_path / "in").mkdir()
    # Matroska streams: cut anywhere, the frames before the cut still decode (an MP4 cut
    # before its index at the end has none, a case the next tests cover).
    data = write_video(tmp_path / "full.mkv", frames=30, audio=False).read_bytes()
    (tmp_path / "in" / "cut.mkv").write_bytes(data[: len(data) * 2 // 3])
    out = tmp_path / "out"
    summary = run([f"--input={tmp_path / 'in'}/*", f"--output={out}", *FAST])
    assert (summary.inputs, summary.dreamed, summary.failed) == (1, 0, 1)
    (error,) = read_jsonl(out / "errors.jsonl")
    assert error["uri"].endswith("cut.mkv") and error["stage"] == "probe"
    assert "is truncated:" in error["message"] and "of the 30 frames" in error["message"], error["message"]


@pytest.mark.parametrize("name,data,message", [
    ("empty.mkv", b"", "no frames could be read"),
    ("header_only.mkv", b"\x1aE\xdf\xa3" + b"\0" * 64, "no frames could be read"),
    ("cut_before_index.mp4", None, "no frames could be read"),
])
def test_a_video_without_frames_is_a_clean_error(tmp_path, name, data, message):
    (tmp_path / "in").mkdir()
    if data is None:  # an MP4 whose index (at its end) was cut off
        full = write_video(tmp_path / "full.mp4", frames=10, audio=False).read_bytes()
        data = full[: len(full) // 2]
    (tmp_path / "in" / name).write_bytes(data)
    out = tmp_path / "out"
    summary = run([f"--input={tmp_path / 'in'}/*", f"--output={out}", *FAST])
    assert summary.failed == 1
    (error,) = read_jsonl(out / "errors.jsonl")
    assert error["stage"] == "probe" and message in error["message"] and "Traceback" not in error["message"]


def test_too_many_frames_is_refused_before_decoding_them(tmp_path):
    """A GIF of 100,000 one-pixel frames: refused as soon as --max_frames is passed."""
    (tmp_path / "in").mkdir()
    header = b"GIF89a\x01\x00\x01\x00\x80\x00\x00" + b"\xff\xff\xff\x00\x00\x00"
    delay = b"\x21\xf9\x04\x00\x0a\x00\x00\x00"  # 100 ms
    pixel = b"\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00"
    (tmp_path / "in" / "many.gif").write_bytes(header + (delay + pixel) * 100_000 + b"\x3b")
    out = tmp_path / "out"
    started = time.monotonic()
    summary = run([f"--input={tmp_path / 'in'}/*", f"--output={out}", "--max_frames=50", *FAST])
    assert summary.failed == 1 and time.monotonic() - started < 60
    (error,) = read_jsonl(out / "errors.jsonl")
    assert error["stage"] == "probe" and "more than 50 frames" in error["message"]


def test_the_report_shows_a_sequence_by_its_frames_and_an_animated_preview(tmp_path):
    from pipeline.report import write_report

    (tmp_path / "in").mkdir()
    write_video(tmp_path / "in" / "pan.mp4", frames=9, audio=False)
    out = tmp_path / "out"
    run([f"--input={tmp_path / 'in'}/*", f"--output={out}", *FAST])
    page = Path(write_report(str(out))).read_text()
    assert "<h2>Sequences</h2>" in page and "9 frames" in page and 'href="pan.mp4"' in page
    with Image.open(out / "report_files" / "seq-0-preview.webp") as preview:
        assert preview.n_frames == 9
    for still in ("first", "middle", "last"):
        Image.open(out / "report_files" / f"seq-0-{still}.jpg").load()


@pytest.mark.parametrize("zoom_format,suffix", [("mp4", ".mp4"), ("webp", ".webp")])
def test_a_still_becomes_a_zoom_into_its_dream(tmp_path, zoom_format, suffix):
    (tmp_path / "in").mkdir()
    Image.fromarray(scene(0)).save(tmp_path / "in" / "still.png")
    out = tmp_path / "out"
    summary = run([f"--input={tmp_path / 'in'}/*", f"--output={out}", "--zoom_frames=6", "--zoom_scale=1.1",
                   f"--zoom_format={zoom_format}", "--frames", *FAST])
    assert (summary.dreamed, summary.failed) == (1, 0)
    (record,) = read_jsonl(out / "sequences.jsonl")
    assert record["input_kind"] == "zoom" and record["frames"] == 6 and record["output_uri"].endswith(suffix)
    frames = [np.asarray(Image.open(p)).astype(np.float32) for p in sorted((out / "still_frames").glob("*.png"))]
    assert len(frames) == 6
    # Each frame is the one before, zoomed in by 1.1 about the centre (then dreamed a little).
    from transforms.dream.zoom import zoom_in

    for before, after in pairwise(frames):
        zoomed = zoom_in(before.astype(np.uint8), 1.1).astype(np.float32)
        assert np.abs(after - zoomed).mean() < np.abs(after - before).mean()
    # The zoom and each of its frames carry their settings (MP4: its comment tag).
    assert read_stamp(Path(record["output_uri"]).read_bytes())["sequence"]["zoom_frames"] == 6
    assert read_stamp((out / "still_frames" / "000005.png").read_bytes())["frame"] == 5
    if zoom_format == "webp":
        with Image.open(record["output_uri"]) as animation:
            assert animation.n_frames == 6
    else:
        assert probe_video(record["output_uri"], 100, 1).fps == 25.0


def test_a_killed_zoom_resumes_at_its_first_unfinished_frame(tmp_path):
    (tmp_path / "in").mkdir()
    Image.fromarray(scene(0)).save(tmp_path / "in" / "still.png")
    out = tmp_path / "out"
    args = [f"--input={tmp_path / 'in'}/*", f"--output={out}", "--zoom_frames=40", "--runner", "FnApiRunner",
            "--octaves", "2", "--iterations", "6", "--lease_seconds", "2"]
    job = start_job(args)
    frames = out / ".deepdream" / "segments" / "still" / "00000"
    wait_for(lambda: len(list(frames.glob("*.json"))) >= 3, job, "three frames were done")
    kill(job)
    done_before = len(list(frames.glob("*.json")))
    assert 3 <= done_before < 40, "kill the job part-way"
    import json

    finished = {r["frame"]: r for r in (json.loads(p.read_text()) for p in frames.glob("*.json"))}
    time.sleep(2.5)  # the dead job's lease lapses
    summary = run(args)
    assert (summary.dreamed, summary.failed) == (1, 0)
    (record,) = read_jsonl(out / "sequences.jsonl")
    rows = pq.read_table(out / "still.frames.parquet").to_pylist()
    assert [r["frame"] for r in rows] == list(range(40)) and record["frames"] == 40
    assert probe_video(record["output_uri"], 100, 1).frame_count == 40
    # The finished frames were reused, not dreamed again: their recorded timings are the
    # killed run's own, to the microsecond.
    for frame, before in finished.items():
        assert rows[frame]["seconds"] == before["seconds"] and rows[frame]["final_loss"] == before["final_loss"]


def test_frame_step_and_max_size_apply_to_every_frame(tmp_path):
    (tmp_path / "in").mkdir()
    write_animation(tmp_path / "in" / "wave.gif", [40, 50, 60, 70, 80])
    write_video(tmp_path / "in" / "pan.mp4", frames=9, fps=12, audio=False)
    out = tmp_path / "out"
    run([f"--input={tmp_path / 'in'}/*", f"--output={out}", "--frame_step=2", "--max_size=48", *FAST])
    with Image.open(out / "wave.gif") as dreamed:  # frames 0, 2, 4, each shown as long as the frames it stands for
        shown = [(frame.load(), frame.info["duration"])[1] for frame in ImageSequence.Iterator(dreamed)]
        assert shown == [90, 130, 80] and dreamed.size == (48, 32)
    pan = probe_video(str(out / "pan.mp4"), 100, 1)
    assert (pan.frame_count, pan.fps, pan.width, pan.height) == (5, 6.0, 48, 32)


# --- the sequence settings, observed in the dreamed frames and the steps run ------------------

PAN_FRAMES = 6


@pytest.fixture(scope="module")
def pan_dreams(tmp_path_factory):
    """dreams(*args) -> (input frames, dreamed frames, frame rows) of a 6-frame pan clip
    dreamed with those options (2 steps per octave, cold and warm alike, one octave, seed
    3); each setting is run once per module."""
    root = tmp_path_factory.mktemp("pan")
    (root / "in").mkdir()
    write_video(root / "in" / "pan.mp4", frames=PAN_FRAMES, audio=False)
    inputs = [f.astype(float) for f in frames_of(root / "in" / "pan.mp4")]
    done: dict[tuple[str, ...], tuple] = {}

    def dreams(*args: str) -> tuple[list[np.ndarray], list[np.ndarray], list[dict]]:
        if args not in done:
            out = root / f"out{len(done)}"
            run([f"--input={root / 'in'}/*", f"--output={out}", "--frames", "--seed=3", "--runner", "FnApiRunner",
                 "--octaves", "1", "--iterations", "2", "--sequence_iterations", "2", *args])
            frames = [np.asarray(Image.open(p)).astype(float) for p in sorted((out / "pan_frames").glob("*.png"))]
            assert len(frames) == PAN_FRAMES
            done[args] = (inputs, frames, pq.read_table(out / "pan.frames.parquet").to_pylist())
        return done[args]

    return dreams


def carried_share(inputs: list[np.ndarray], dreamed: list[np.ndarray], independent: list[np.ndarray]) -> list[float]:
    """For each frame after the first: how much of the previous frame's change (dream minus
    input), moved along the clip's known 2-pixel pan, the frame's dream holds beyond the
    dream of the same frame dreamed independently (the projection's coefficient: 1 = all
    of it, 0 = none)."""
    shares = []
    for k in range(1, len(dreamed)):
        carried = (dreamed[k - 1] - inputs[k - 1])[:, 2:]
        carried = carried - carried.reshape(-1, 3).mean(axis=0)
        extra = (dreamed[k] - independent[k])[:, :-2]
        shares.append(float((extra * carried).sum() / (carried * carried).sum()))
    return shares


def test_the_blend_carries_the_previous_dream_into_each_frame(pan_dreams):
    """--blend 1 against --blend 0, the same steps for every frame: with blend 1 each frame
    holds most of the previous frame's dream moved along the pan (measured 0.57-0.90),
    with blend 0 none of it (the frames are independent dreams)."""
    inputs, independent, rows = pan_dreams("--blend=0")
    _, blended, blended_rows = pan_dreams("--blend=1")
    np.testing.assert_array_equal(blended[0], independent[0])  # the first frame carries nothing
    shares = carried_share(inputs, blended, independent)
    assert min(shares) > 0.4, shares
    # Each frame's change looks more like the previous frame's, moved along the pan.
    for k in range(1, PAN_FRAMES):
        def likeness(frames, k=k):
            return np.corrcoef((frames[k] - inputs[k])[:, :-2].ravel(),
                               (frames[k - 1] - inputs[k - 1])[:, 2:].ravel())[0, 1]
        assert likeness(blended) > likeness(independent) + 0.05, k
    assert [r["warm"] for r in rows] == [False] * PAN_FRAMES
    assert [r["warm"] for r in blended_rows] == [False] + [True] * (PAN_FRAMES - 1)


def test_farneback_flow_carries_the_dream_its_own_way(pan_dreams):
    """--flow farneback gives other frames than the default DIS flow from the first
    carried frame on, and carries the dream along the pan as well as DIS does."""
    inputs, independent, _ = pan_dreams("--blend=0")
    _, dis, _ = pan_dreams("--blend=1")
    _, farneback, _ = pan_dreams("--blend=1", "--flow=farneback")
    np.testing.assert_array_equal(farneback[0], dis[0])
    assert all(np.abs(farneback[k] - dis[k]).max() > 0 for k in range(1, PAN_FRAMES))
    assert min(carried_share(inputs, farneback, independent)) > 0.4


def test_sequence_iterations_set_the_steps_of_warm_frames_across_segments(tmp_path):
    """Frame 0 runs the preset's 4 steps; every later frame starts warm and runs the
    --sequence_iterations 1 step, also the first frame of the second segment, which its
    warm-up frame made warm. Without warm-up that frame starts cold: 4 steps."""
    (tmp_path / "in").mkdir()
    write_video(tmp_path / "in" / "pan.mp4", frames=PAN_FRAMES, audio=False)
    args = [f"--input={tmp_path / 'in'}/*", "--runner", "FnApiRunner", "--octaves", "1", "--iterations", "4",
            "--sequence_iterations", "1", "--segment_frames", "3"]
    run([*args, f"--output={tmp_path / 'warm'}", "--warmup", "1"])
    rows = pq.read_table(tmp_path / "warm" / "pan.frames.parquet").to_pylist()
    assert [[len(losses) for losses in r["losses"]] for r in rows] == [[4]] + [[1]] * (PAN_FRAMES - 1)
    assert [r["warm"] for r in rows] == [False] + [True] * (PAN_FRAMES - 1)
    run([*args, f"--output={tmp_path / 'cold'}", "--warmup", "0"])
    rows = pq.read_table(tmp_path / "cold" / "pan.frames.parquet").to_pylist()
    assert [[len(losses) for losses in r["losses"]] for r in rows] == [[4], [1], [1], [4], [1], [1]]
