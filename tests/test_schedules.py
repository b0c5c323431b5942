"""--schedule: keyframed settings over a sequence's frames."""
from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipeline.run import main, run
from tests.conftest import read_jsonl
from tests.media import scene, write_animation
from transforms.dream.params import DreamParams
from transforms.dream.schedule import Schedule, Track
from transforms.dream.zoom import zoom_in


def _frames(folder) -> list[np.ndarray]:
    return [np.asarray(Image.open(p)).astype(np.float32) for p in sorted(folder.glob("*.png"))]


def test_keyframes_interpolate_linear_held_or_eased():
    linear = Track("step", ((0, 1.0), (10, 3.0), (20, 1.0)))
    assert [linear.value_at(f) for f in (-5, 0, 5, 10, 15, 20, 99)] == [1.0, 1.0, 2.0, 3.0, 2.0, 1.0, 1.0]
    held = Track("step", ((0, 1.0), (10, 3.0)), "step")
    assert [held.value_at(f) for f in (0, 9, 10, 11)] == [1.0, 1.0, 3.0, 3.0]
    eased = Track("step", ((0, 0.0), (10, 1.0)), "smooth")
    straight = Track("step", ((0, 0.0), (10, 1.0)))
    assert eased.value_at(5) == pytest.approx(0.5) and eased.value_at(1) < straight.value_at(1) == pytest.approx(0.1)
    schedule = Schedule.parse(["iterations=0:2,10:7", "zoom_scale@smooth=0:1.02,10:1.1"])
    assert schedule.values_at(5)["iterations"] == 4  # whole numbers rounded (4.5 -> 4)
    assert schedule.loop_params(DreamParams(), 10).iterations == 7
    assert schedule.sequence_value("zoom_scale", 10, 1.05) == pytest.approx(1.1)
    for bad, message in (("step=0:1,0:2", "ascending"), ("grad_blur=0:1", "not schedulable"),
                         ("step@cubic=0:1", "unknown interpolation"), ("step=0-1", "FRAME:VALUE")):
        with pytest.raises(ValueError, match=message):
            Schedule.parse([bad])
    with pytest.raises(ValueError, match="step at frame 9: step must be > 0"):
        Schedule.parse(["step=0:1,9:0"]).check(DreamParams())


def test_a_zoom_whose_step_ramps_up_changes_more_each_frame(model_file, tmp_path):
    (tmp_path / "in").mkdir()
    Image.fromarray(scene(0)).save(tmp_path / "in" / "still.png")
    out = tmp_path / "out"
    summary = run([f"--input={tmp_path / 'in'}/*", f"--output={out}", f"--model={model_file}", "--layers=conv3:1",
                   "--octaves=1", "--iterations=2", "--zoom_frames=24", "--zoom_scale=1.05", "--frames",
                   "--schedule=step=0:0.2,23:4", "--runner", "FnApiRunner"])
    assert (summary.dreamed, summary.failed) == (1, 0)
    frames = _frames(out / "still_frames")
    # What the dream itself changed in frame k: frame k against frame k-1 zoomed in.
    changes = [float(np.abs(after - zoom_in(before.astype(np.uint8), 1.05)).mean())
               for before, after in zip(frames, frames[1:], strict=False)]
    assert len(changes) == 23
    early, late = np.mean(changes[:6]), np.mean(changes[-6:])
    assert late > 3 * early, changes
    assert np.corrcoef(np.arange(23), changes)[0, 1] > 0.8  # rising with the ramp
    rows = pq.read_table(out / "still.frames.parquet").to_pylist()
    assert rows[0]["setting_step"] == pytest.approx(0.2) and rows[-1]["setting_step"] == pytest.approx(4.0)
    (record,) = read_jsonl(out / "sequences.jsonl")
    assert record["sequence"]["schedule"]["step"]["keyframes"] == [[0, 0.2], [23, 4.0]]


def test_segments_dream_each_frame_with_the_value_of_its_own_number(model_file, tmp_path):
    (tmp_path / "in").mkdir()
    write_animation(tmp_path / "in" / "wave.gif", [40] * 12)
    args = [f"--input={tmp_path / 'in'}/*", f"--model={model_file}", "--layers=conv3:1", "--octaves=1",
            "--iterations=2", "--temporal=none", "--frames", "--schedule=step@step=0:0.5,4:3,8:6",
            "--runner", "FnApiRunner"]
    run([*args, f"--output={tmp_path / 'whole'}", "--segment_frames=100"])
    run([*args, f"--output={tmp_path / 'cut'}", "--segment_frames=5", "--warmup=2"])
    whole, cut = _frames(tmp_path / "whole" / "wave_frames"), _frames(tmp_path / "cut" / "wave_frames")
    assert len(whole) == len(cut) == 12
    for k in range(12):  # frames on their own: a segment changes nothing, frame numbers are global
        assert np.array_equal(whole[k], cut[k]), k
    steps = [np.abs(whole[k] - scene(k)).mean() for k in (2, 6, 10)]
    assert steps[0] < steps[1] < steps[2]  # the held values 0.5, 3, 6


def test_a_bad_schedule_stops_the_job_in_one_line(tmp_path, capsys):
    Image.fromarray(scene(0)).save(tmp_path / "still.png")
    assert main([f"--input={tmp_path / 'still.png'}", f"--output={tmp_path / 'out'}", "--zoom_frames=4",
                 "--schedule=blend=0:2"]) == 2
    err = capsys.readouterr().err.strip()
    assert "blend at frame 0: must be within [0, 1]" in err and len(err.splitlines()) == 1


def test_schedule_values_bounds_and_messages_exactly():
    # A first keyframe after frame 0: before it the value holds, whatever that value is.
    late = Track("step", ((10, 1.0), (20, 3.0)))
    assert [late.value_at(f) for f in (5, 10, 15, 25)] == [1.0, 1.0, 2.0, 3.0]
    assert Track("step", ((5, 2.0),)).value_at(9) == 2.0 and Schedule.parse(["step=5:2"]).values_at(0) == {"step": 2.0}
    # The interpolation written is the one used; only whole-number settings are rounded.
    assert Schedule.parse(["step@step=0:1,10:3"]).values_at(5) == {"step": 1.0}
    assert Schedule.parse(["step@smooth=0:0,10:1"]).tracks[0].interpolation == "smooth"
    assert Schedule.parse(["step=0:1,10:2"]).values_at(5) == {"step": 1.5}
    params = DreamParams()
    assert Schedule.parse(["blend=0:0.5"]).loop_params(params, 3) is params  # no loop setting: untouched
    assert Schedule.parse(["blend=0:0.5"]).sequence_value("zoom_scale", 3, 1.07) == 1.07  # not scheduled
    for good in ("blend=0:0,5:1", "zoom_scale=0:1.001,5:2", "zoom_scale=0:1.5", "blend=0:0.5"):
        Schedule.parse([good]).check(params)
    for bad, message in (("blend=0:0,5:1.001", "--schedule blend at frame 5: must be within [0, 1], got 1.001"),
                         ("blend=0:-0.5", "--schedule blend at frame 0: must be within [0, 1], got -0.5"),
                         ("zoom_scale=0:1", "--schedule zoom_scale at frame 0: must be within (1, 2], got 1.0"),
                         ("zoom_scale=0:1.5,7:2.5", "--schedule zoom_scale at frame 7: must be within (1, 2], got 2.5")):
        with pytest.raises(ValueError) as refused:
            Schedule.parse([bad]).check(params)
        assert str(refused.value) == message
    for bad, message in (
        ("step", "--schedule 'step': write NAME=FRAME:VALUE,FRAME:VALUE,... (e.g. 'step=0:1.5,48:4'), "
                 "NAME@smooth=... or NAME@step=... to interpolate otherwise"),
        ("seed=0:1", "--schedule 'seed' is not schedulable; valid: step, iterations, jitter, octave_scale, blend, "
                     "zoom_scale (other settings would recompile the dream every frame)"),
        ("step@cubic=0:1", "--schedule 'step@cubic=0:1': unknown interpolation 'cubic'; valid: linear, step, smooth"),
        ("step=0:1,x", "--schedule 'step=0:1,x': 'x' is not FRAME:VALUE"),
        ("step=-1:1,4:2", "--schedule 'step=-1:1,4:2': keyframes must be at frames >= 0, ascending"),
    ):
        with pytest.raises(ValueError) as refused:
            Schedule.parse([bad])
        assert str(refused.value) == message
    with pytest.raises(ValueError) as refused:
        Schedule.parse(["step=0:1", "step=5:2"])
    assert str(refused.value) == "--schedule names 'step' twice"
