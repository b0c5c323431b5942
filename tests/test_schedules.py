"""--schedule: keyframed settings over a sequence's frames."""
from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipeline.run import main, run
from tests.conftest import read_jsonl
from tests.media import scene, write_animation
from transforms.dream.layers import parse_layers
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


@pytest.mark.parametrize("schedule, reason", [
    ("blend=0:2", "blend at frame 0: must be within [0, 1]"),
    ("jitter=0:4,8:inf", "'8:inf' is not a finite number"),  # was an OverflowError traceback
])
def test_a_bad_schedule_stops_the_job_in_one_line(tmp_path, capsys, schedule, reason):
    Image.fromarray(scene(0)).save(tmp_path / "still.png")
    assert main([f"--input={tmp_path / 'still.png'}", f"--output={tmp_path / 'out'}", "--zoom_frames=4",
                 f"--schedule={schedule}"]) == 2
    err = capsys.readouterr().err.strip()
    assert reason in err and len(err.splitlines()) == 1


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
        ("seed=0:1", "--schedule 'seed' is not schedulable; valid: step, iterations, jitter, octave_scale, tv_weight, "
                     "random_rotate, random_scale_min, random_scale_max, blend, zoom_scale, weight[LAYER], layers "
                     "(other settings would recompile the dream every frame)"),
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


def test_a_zero_weighted_term_leaves_exactly_the_dream_of_the_others(tiny_model, photo):
    """Layer weights are data: zero one term for a dream and it is, bit for bit, the dream
    of the rest alone; the next dream has the terms' own weights again."""
    from transforms.dream.engine import Dreamer
    from transforms.dream.preprocessing import Preprocessing
    from transforms.dream.sequence import dream_frames

    units = Preprocessing("inception")
    params = DreamParams(octaves=1, iterations=3, step=2.0, jitter=0, max_loss=None)
    both = Dreamer(tiny_model, "conv2:1,conv3:2", units, min_input_size=8)
    alone = Dreamer(tiny_model, "conv3:2", units, min_input_size=8).dream(photo, params)
    mixed = both.dream(photo, params)
    assert np.abs(mixed.image.astype(int) - alone.image).mean() > 0.5  # conv2 counts while weighted
    assert np.array_equal(both.dream(photo, params, layer_weights={"conv2": 0.0}).image, alone.image)
    assert np.array_equal(both.dream(photo, params).image, mixed.image)
    assert both.layer_weights({"conv2": 0.0}) == {"conv2": 0.0, "conv3": 2.0}
    with pytest.raises(ValueError, match=r"no layer term conv9 in this dream's layers \(conv2, conv3\)"):
        both.dream(photo, params, layer_weights={"conv9": 1.0})
    schedule = Schedule.parse(["weight[conv2]=0:0,1:0"])
    (frame,) = list(dream_frames(both, [(0, photo)], params, schedule=schedule))
    assert np.array_equal(frame.result.image, alone.image) and frame.settings == {"weight[conv2]": 0.0}
    assert np.array_equal(both.dream(photo, params).image, mixed.image)


def test_threads_sharing_a_dreamer_each_get_the_dream_of_their_own_settings(tiny_model, photo):
    """A worker's threads share one Dreamer; the weights, total variation and transform
    each dream sets are its own while it runs."""
    from concurrent.futures import ThreadPoolExecutor

    from transforms.dream.engine import Dreamer
    from transforms.dream.preprocessing import Preprocessing

    dreamer = Dreamer(tiny_model, "conv2:1,conv3:2", Preprocessing("inception"), min_input_size=8)
    base = DreamParams(octaves=1, iterations=4, step=2.0, jitter=0, max_loss=None)
    settings = [({"conv2": 0.0}, dataclasses.replace(base, tv_weight=0.5)),
                ({"conv3": 0.0}, dataclasses.replace(base, tv_weight=2.0, random_rotate=5.0))]
    expected = [dreamer.dream(photo, params, weights).image for weights, params in settings]
    assert not np.array_equal(*expected)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda k: dreamer.dream(photo, settings[k % 2][1], settings[k % 2][0]).image,
                                range(8)))
    for k, image in enumerate(results):
        assert np.array_equal(image, expected[k % 2]), k


def test_total_variation_and_the_random_transform_are_data(tiny_model, photo):
    """A new tv_weight or turn compiles nothing and dreams exactly as a fresh Dreamer does."""
    from transforms.dream.engine import Dreamer
    from transforms.dream.preprocessing import Preprocessing

    def fresh() -> Dreamer:
        return Dreamer(tiny_model, "conv3", Preprocessing("inception"), min_input_size=8)

    base = DreamParams(octaves=1, iterations=3, step=2.0, jitter=0, max_loss=None)
    first, second = (dataclasses.replace(base, tv_weight=w, random_rotate=r, random_scale_min=lo,
                                         random_scale_max=1.1) for w, r, lo in ((0.2, 3.0, 0.9), (3.0, 8.0, 0.95)))
    dreamer = fresh()
    dreamer.dream(photo, first)
    again = dreamer.dream(photo, second)
    assert len(dreamer._ascents) == 1  # one graph for both settings
    assert np.array_equal(again.image, fresh().dream(photo, second).image)
    assert not np.array_equal(again.image, fresh().dream(photo, first).image)
    for off in ({"tv_weight": 0.0}, {"random_rotate": 0.0}):  # each of them counts
        assert not np.array_equal(again.image, fresh().dream(photo, dataclasses.replace(second, **off)).image)
    assert np.array_equal(dreamer.dream(photo, base).image, fresh().dream(photo, base).image)  # off: its own graph


def test_layers_switch_at_a_keyframe_cross_faded(model_file, tmp_path):
    """conv2 until frame 4, then over 2 frames to conv3: the frames before are the conv2
    job's, those after the conv3 job's, exactly; the frame between is neither."""
    from transforms.settings_stamp import read_stamp

    (tmp_path / "in").mkdir()
    write_animation(tmp_path / "in" / "wave.gif", [40] * 8)
    args = [f"--input={tmp_path / 'in'}/*", f"--model={model_file}", "--octaves=1", "--iterations=3",
            "--step=3", "--temporal=none", "--frames", "--runner", "FnApiRunner"]
    switch = "layers@fade2=0:conv2;4:conv3"
    run([*args, f"--output={tmp_path / 'switch'}", f"--schedule={switch}"])
    run([*args, f"--output={tmp_path / 'conv2'}", "--layers=conv2"])
    run([*args, f"--output={tmp_path / 'conv3'}", "--layers=conv3"])
    dreamed, conv2, conv3 = (_frames(tmp_path / name / "wave_frames") for name in ("switch", "conv2", "conv3"))
    assert len(dreamed) == 8
    for k in range(5):  # the fade starts at the keyframe: frame 4 still all conv2
        assert np.array_equal(dreamed[k], conv2[k]), k
    for k in (6, 7):
        assert np.array_equal(dreamed[k], conv3[k]), k
    assert not np.array_equal(dreamed[5], conv2[5]) and not np.array_equal(dreamed[5], conv3[5])
    rows = pq.read_table(tmp_path / "switch" / "wave.frames.parquet").to_pylist()
    assert [row["setting_weight[conv3]"] for row in rows] == [0, 0, 0, 0, 0, 0.5, 1, 1]
    assert [row["setting_weight[conv2]"] for row in rows] == [1, 1, 1, 1, 1, 0.5, 0, 0]
    # The frames carry the schedule: a dream made from one reads it back.
    stamp = read_stamp((tmp_path / "switch" / "wave_frames" / "000005.png").read_bytes())
    assert stamp["sequence"]["schedule"] == {"layers": {"fade": 2, "keyframes": [[0, "conv2:1.0"], [4, "conv3:1.0"]]}}
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.config import JobConfig
    from pipeline.options import DreamOptions

    again = PipelineOptions(["--input=x", "--output=y", f"--params_from={tmp_path / 'switch' / 'wave.gif'}",
                             f"--model={model_file}"])
    assert JobConfig.from_options(again.view_as(DreamOptions)).sequence.schedule == Schedule.parse([switch])


def test_a_params_files_schedule_is_used_and_the_command_line_wins_per_setting(tmp_path):
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.config import ConfigError, JobConfig
    from pipeline.options import DreamOptions

    params = tmp_path / "params.yaml"
    params.write_text("iterations: 2\nschedule:\n  step: '0:1,10:3'\n"
                      "  jitter: {interpolation: step, keyframes: [[0, 4], [5, 8]]}\n"
                      "  weight[conv3]: '0:1,9:0'\n")

    def schedule(*args: str) -> Schedule | None:
        options = PipelineOptions(["--input=x", "--output=y", "--layers=conv2,conv3", *args]).view_as(DreamOptions)
        return JobConfig.from_options(options).sequence.schedule

    from_file = schedule(f"--params={params}")
    assert from_file is not None and from_file.values_at(5) == {"step": 2.0, "jitter": 8, "weight[conv3]": pytest.approx(4 / 9)}
    assert from_file == schedule(f"--params={params}", "--schedule=step=0:1,10:3", "--schedule=jitter@step=0:4,5:8",
                                 "--schedule=weight[conv3]=0:1,9:0")
    over = schedule(f"--params={params}", "--schedule=step=0:5")
    assert over is not None and over.values_at(5)["step"] == 5.0 and over.values_at(5)["jitter"] == 8
    assert Schedule.from_mapping(from_file.as_record()) == from_file  # a record's form reads back
    for text, message in (
        ("schedule: {step: [1, 2]}", r"^'schedule' in --params: step must be keyframes as text"),
        ("schedule: [step]", r"^'schedule' in --params must be a mapping"),
        ("schedule: {'weight[conv9]': '0:1'}", r"^--schedule weight\[conv9\]: not among the job's layers \(conv2, conv3\)"),
    ):
        params.write_text(text + "\n")
        with pytest.raises(ConfigError, match=message):
            schedule(f"--params={params}")
    with pytest.raises(ConfigError, match="^--layers and --schedule layers=... both set the layers: give one$"):
        schedule("--schedule=layers=0:conv2;4:conv3")


def test_layer_switches_read_check_and_weigh_exactly():
    switch = Schedule.parse(["layers@fade4=2:a;10:b:2,a:0.5;20:c"])
    assert [term.key for term in switch.job_layers(())] == ["a", "b", "c"]
    assert [term.weight for term in switch.job_layers(())] == [1.0, 0.0, 0.0]  # frame 0: the first keyframe's
    weights = [switch.layer_weights(f) for f in (0, 9, 10, 11, 14, 19, 20, 22, 24, 99)]
    assert [w["a"] for w in weights] == [1, 1, 1, 0.875, 0.5, 0.5, 0.5, 0.25, 0, 0]
    assert [w["b"] for w in weights] == [0, 0, 0, 0.5, 2, 2, 2, 1, 0, 0]
    assert [w["c"] for w in weights] == [0, 0, 0, 0, 0, 0, 0, 0.5, 1, 1]
    assert switch.values_at(11) == {"weight[a]": 0.875, "weight[b]": 0.5, "weight[c]": 0.0}
    cut = Schedule.parse(["layers=0:a;3:b"])
    assert [cut.layer_weights(f) for f in (2, 3)] == [{"a": 1.0, "b": 0.0}, {"a": 0.0, "b": 1.0}]
    assert Schedule.parse(["step=0:1"]).job_layers(parse_layers("a,b")) == parse_layers("a,b")
    assert not Schedule.parse(["step=0:1"]).weighs_layers and Schedule.parse(["weight[a]=0:1"]).weighs_layers
    for bad, message in (
        ("layers@smooth=0:a", "--schedule 'layers@smooth=0:a': layers take @fadeN (cross-fade over N frames), not @smooth"),
        ("layers@fade4=0:a;3:b", "--schedule 'layers@fade4=0:a;3:b': keyframes must be at frames >= 0, ascending, "
                                 "at least the fade (4 frames) apart"),
        ("layers=0:a;0:b", "--schedule 'layers=0:a;0:b': keyframes must be at frames >= 0, ascending"),
        ("layers=x:a", "--schedule 'layers=x:a': 'x:a' is not FRAME:LAYERS (keyframes apart by ';', "
                       "e.g. 'layers=0:mixed3;48:mixed5:2,mixed4')"),
        ("layers=0:class[3]", "--schedule 'layers=0:class[3]': class terms cannot be scheduled, only layers"),
        ("weight[a:2]=0:1", "--schedule 'weight[a:2]=0:1': weight[...] names one term of --layers, e.g. weight[mixed4]"),
    ):
        with pytest.raises(ValueError) as refused:
            Schedule.parse([bad])
        assert str(refused.value) == message
    with pytest.raises(ValueError, match=r"^--schedule layers=\.\.\. sets every layer's weight: no weight\[\.\.\.\] beside it$"):
        Schedule.parse(["layers=0:a", "weight[a]=0:1"])
    with pytest.raises(ValueError, match="not among the job's layers"):
        Schedule.parse(["weight[c]=0:1"]).job_layers(parse_layers("a,b"))
