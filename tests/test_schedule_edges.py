"""--schedule at its edges, TF-free: values at and between keyframes, a params file's
schedule in text and record form, which schedule wins in a merge, the layers switch's fade
weights around its keyframes, and every refusal word for word."""
from __future__ import annotations

from typing import Any

import pytest

from transforms.dream.layers import parse_layers
from transforms.dream.schedule import Schedule, Track


def _refusal(texts: list[str]) -> str:
    with pytest.raises(ValueError) as refused:
        Schedule.parse(texts)
    return str(refused.value)


def _mapping_refusal(mapping: Any) -> str:
    with pytest.raises(ValueError) as refused:
        Schedule.from_mapping(mapping)
    return str(refused.value)


def test_each_interpolation_at_and_between_its_keyframes():
    points = ((4, 2.0), (8, 6.0), (12, 4.0))
    frames = (0, 4, 5, 6, 7, 8, 9, 10, 12, 13)
    assert [Track("step", points).value_at(f) for f in frames] == [2, 2, 3, 4, 5, 6, 5.5, 5, 4, 4]
    assert [Track("step", points, "step").value_at(f) for f in frames] == [2, 2, 2, 2, 2, 6, 6, 6, 4, 4]
    # t*t*(3-2t) at t = 1/4, 1/2, 3/4: 5/32, 1/2, 27/32 of the way.
    assert [Track("step", points, "smooth").value_at(f) for f in frames] == [
        2, 2, 2.625, 4, 5.375, 6, 6 - 2 * 5 / 32, 5, 4, 4]
    assert Schedule.parse(["jitter=0:0,4:3"]).values_at(2) == {"jitter": 2}  # 1.5 rounds to even
    assert Schedule.parse(["iterations=0:1,2:8"]).values_at(1) == {"iterations": 4}  # 4.5 too


def test_a_params_files_text_and_record_forms_read_as_the_command_line():
    from_text = Schedule.from_mapping({"step": "0:1,10:3", "layers": "0:a;4:b:2"})
    assert from_text == Schedule.parse(["step=0:1,10:3", "layers=0:a;4:b:2"])
    # A record without an interpolation is linear; one without a fade switches at once.
    record = Schedule.from_mapping({"step": {"keyframes": [[0, 1], [8, 3]]},
                                    "layers": {"keyframes": [[0, "a"], [4, "mixed5[3,7]:2,a:0.5"]]}})
    assert record.values_at(3) == {"step": 1.75, "weight[a]": 1.0, "weight[mixed5[3,7]]": 0.0}
    assert record.values_at(4) == {"step": 2.0, "weight[a]": 0.5, "weight[mixed5[3,7]]": 2.0}
    assert record.layers is not None and record.layers.fade == 0
    faded = Schedule.from_mapping({"layers": {"fade": 2, "keyframes": [[0, "a"], [4, "b"]]}})
    assert faded.layer_weights(5) == {"a": 0.5, "b": 0.5}
    held = Schedule.from_mapping({"jitter": {"interpolation": "step", "keyframes": [[0, 4], [5, 8]]}})
    assert [held.values_at(f)["jitter"] for f in (4, 5)] == [4, 8]
    # What is refused names the text it was read as.
    assert _mapping_refusal({"layers": {"keyframes": [[0, "a"], [0, "b"]]}}) == (
        "--schedule 'layers=0:a;0:b': keyframes must be at frames >= 0, ascending")
    assert _mapping_refusal({"step": {"keyframes": [[0, 1], [0, 2]]}}) == (
        "--schedule 'step@linear=0:1.0,0:2.0': keyframes must be at frames >= 0, ascending")


def test_a_params_files_schedule_refusals_word_for_word():
    assert _mapping_refusal({1: "0:1"}) == "'schedule' in --params: setting names must be text, got 1"
    assert _mapping_refusal(["step"]) == "'schedule' in --params must be a mapping of NAME: keyframes"
    for value in ([[0, 1]], {"keyframes": "0:1"}, {"keyframes": [[0]]}, {"keyframes": [["x", 1]]}):
        assert _mapping_refusal({"step": value}) == (
            "'schedule' in --params: step must be keyframes as text ('0:1.5,48:4') or "
            "{interpolation: linear, keyframes: [[0, 1.5], [48, 4]]}, frames and fade whole numbers")
    with pytest.raises(ValueError) as refused:
        Schedule.from_mapping({"step": 3}, where="the stamp")
    assert str(refused.value).startswith("the stamp: step must be keyframes as text")


def test_a_params_file_refuses_fractional_frames_and_fades_as_the_text_form_does():
    # 4.5 was read as frame 4 and a fade of 2.9 as 2, while the text '4.5:1' is refused.
    for mapping in ({"step": {"keyframes": [[0, 1], [4.5, 2]]}},
                    {"layers": {"keyframes": [[0, "a"], [4.5, "b"]]}},
                    {"layers": {"fade": 2.9, "keyframes": [[0, "a"], [8, "b"]]}},
                    {"step": {"keyframes": [[True, 1]]}}):
        assert _mapping_refusal(mapping).endswith("frames and fade whole numbers")
    assert _refusal(["step=0:1,4.5:2"]) == "--schedule 'step=0:1,4.5:2': '4.5:2' is not FRAME:VALUE"
    # Whole numbers written as floats (as YAML or JSON may give them) still read.
    assert Schedule.from_mapping({"step": {"keyframes": [[0.0, 1], [4.0, 2]]}}) == Schedule.parse(["step=0:1,4:2"])
    assert Schedule.from_mapping({"layers": {"fade": 2.0, "keyframes": [[0, "a"], [8.0, "b"]]}}) == (
        Schedule.parse(["layers@fade2=0:a;8:b"]))


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e999"])
def test_keyframe_values_must_be_finite(value):
    # Caught at parse time for every track, weights included (check() looks at loop settings only).
    for name in ("jitter", "step", "weight[a]", "blend"):
        text = f"{name}=0:1,8:{value}"
        assert _refusal([text]) == f"--schedule {text!r}: '8:{value}' is not a finite number"
    assert _mapping_refusal({"step": {"keyframes": [[0, float(value)]]}}).endswith("is not a finite number")


def test_records_read_back_to_the_same_schedule():
    tracks = Schedule.parse(["weight[ mixed5[3,7] ]@smooth=0:1,9:0", "step=0:1.5,48:4", "jitter@step=0:2,6:5"])
    assert tracks.as_record() == {
        "weight[mixed5[3,7]]": {"interpolation": "smooth", "keyframes": [[0, 1.0], [9, 0.0]]},
        "step": {"interpolation": "linear", "keyframes": [[0, 1.5], [48, 4.0]]},
        "jitter": {"interpolation": "step", "keyframes": [[0, 2.0], [6, 5.0]]}}
    layers = Schedule.parse(["layers@fade3=0:a;5:mixed5[3,7]:2,b:0.5", "blend=0:0.5"])
    assert layers.as_record() == {
        "blend": {"interpolation": "linear", "keyframes": [[0, 0.5]]},
        "layers": {"fade": 3, "keyframes": [[0, "a:1.0"], [5, "mixed5[3,7]:2.0,b:0.5"]]}}
    for schedule in (tracks, layers, Schedule.parse(["layers=0:a;1:b:0.25"])):
        assert Schedule.from_mapping(schedule.as_record()) == schedule


def test_the_later_schedule_wins_per_setting_and_a_layers_switch_drops_weights():
    base = Schedule.parse(["step=0:1,10:3", "weight[a]=0:1,10:0", "jitter=0:4"])
    over = base.merged(Schedule.parse(["step=0:5"]))
    assert over.values_at(5) == {"step": 5.0, "weight[a]": 0.5, "jitter": 4} and over.layers is None
    switched = base.merged(Schedule.parse(["layers=0:a;4:b"]))
    assert switched.values_at(5) == {"step": 2.0, "jitter": 4, "weight[a]": 0.0, "weight[b]": 1.0}
    # A switch in the base stays unless the winner brings its own.
    with_switch = Schedule.parse(["layers=0:a;4:b", "step=0:1"])
    assert with_switch.merged(Schedule.parse(["step=0:2"])).layer_weights(4) == {"a": 0.0, "b": 1.0}
    assert with_switch.merged(Schedule.parse(["layers=0:c"])).layer_weights(4) == {"c": 1.0}
    with pytest.raises(ValueError) as refused:
        with_switch.merged(Schedule.parse(["weight[a]=0:1"]))
    assert str(refused.value) == "--schedule layers=... sets every layer's weight: no weight[...] beside it"


def test_a_switch_fades_from_each_keyframe_on():
    once = Schedule.parse(["layers@fade1=0:a;3:b"])
    assert [once.layer_weights(f) for f in (2, 3, 4)] == [{"a": 1.0, "b": 0.0}] * 2 + [{"a": 0.0, "b": 1.0}]
    at_once = Schedule.parse(["layers=0:a;1:b"])  # a fade of 0 at frames 1 apart
    assert [at_once.layer_weights(f) for f in (0, 1)] == [{"a": 1.0, "b": 0.0}, {"a": 0.0, "b": 1.0}]
    assert [term.weight for term in at_once.job_layers(parse_layers("c"))] == [1.0, 0.0]  # as at frame 0
    apart = Schedule.parse(["layers@fade4=0:a:2;4:b"])  # keyframes exactly the fade apart
    assert [apart.layer_weights(f)["a"] for f in (3, 4, 5, 7, 8)] == [2.0, 2.0, 1.5, 0.5, 0.0]
    assert apart.weighs_layers and apart.values_at(6) == {"weight[a]": 1.0, "weight[b]": 0.5}


def test_weight_tracks_weigh_their_own_term_only():
    schedule = Schedule.parse(["weight[mixed5[3,7]]=0:1,10:0", "step=0:1"])
    assert schedule.layer_weights(5) == {"mixed5[3,7]": 0.5}
    assert Schedule.parse(["step=0:1"]).layer_weights(5) == {}
    assert schedule.weighs_layers and not Schedule.parse(["blend=0:1"]).weighs_layers
    terms = parse_layers("a:2,mixed5[3,7]")
    assert schedule.job_layers(terms) == terms
    with pytest.raises(ValueError) as refused:
        Schedule.parse(["weight[c]=0:1"]).job_layers(terms)
    assert str(refused.value) == ("--schedule weight[c]: not among the job's layers (a, mixed5[3,7]); "
                                  "use layers=FRAME:LAYERS;... to bring in others")


def test_schedule_refusals_word_for_word():
    assert _refusal(["layers=0:a", "layers=0:b"]) == "--schedule names 'layers' twice"
    assert _refusal(["weight[a]=0:1", "weight[ a ]=0:2"]) == "--schedule names 'weight[a]' twice"
    for text in ("weight[a b]=0:1", "weight[a,b]=0:1"):
        assert _refusal([text]) == f"--schedule {text!r}: weight[...] names one term of --layers, e.g. weight[mixed4]"
    assert _refusal(["layers=0:a;4:b:x"]) == (
        "--schedule 'layers=0:a;4:b:x' at frame 4: weight of layer term 'b:x' is not a number")
    # The fade is named only where it is more than the one frame any keyframes are apart.
    assert _refusal(["layers@fade1=0:a;0:b"]) == "--schedule 'layers@fade1=0:a;0:b': keyframes must be at frames >= 0, ascending"
    assert _refusal(["layers@fade2=0:a;1:b"]) == (
        "--schedule 'layers@fade2=0:a;1:b': keyframes must be at frames >= 0, ascending, at least the fade (2 frames) apart")
