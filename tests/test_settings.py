"""The TF-free settings: DreamParams' ranges, layer terms, the model table, presets from a
params file and the untiled-pixel budget. No TensorFlow: the file runs in well under a second,
which the mutation run (docs/testing.md) pays once per mutant."""
from __future__ import annotations

import dataclasses

import pytest

from transforms.dream import memory_budget
from transforms.dream.layers import LayerTerm, as_terms, format_layers, parse_layers
from transforms.dream.memory_budget import (
    AUTO_TILE_SIZE,
    default_untiled_max_pixels,
    machine_memory_bytes,
    with_auto_tiles,
)
from transforms.dream.model_table import MODEL_FACTS, table_facts
from transforms.dream.params import GRAD_NORMS, OBJECTIVES, OCTAVE_SIZES, STEP_MODES, TILE_GRIDS, DreamParams
from transforms.dream.presets import (
    DEFAULT_PRESET,
    PRESETS,
    Preset,
    _as_field_type,
    get_preset,
    preset_from_settings,
    short_repr,
)

NAN = float("nan")
INF = float("inf")

# --- DreamParams: each range refused just outside, with its message; its bounds accepted -------

REFUSED = [
    (dict(iterations=-1), "iterations must be >= 0, got -1"),
    (dict(step=0), "step must be > 0, got 0"),
    (dict(step=NAN), "step must be > 0, got nan"),
    # inf passed every bound: `--step inf` dreamed a black image with exit 0.
    (dict(step=INF), "step must be a finite number, got inf"),
    (dict(octave_scale=INF), "octave_scale must be a finite number, got inf"),
    (dict(clip_norm=INF), "clip_norm must be a finite number, got inf"),
    (dict(tv_weight=INF), "tv_weight must be a finite number, got inf"),
    (dict(grad_eps=INF), "grad_eps must be a finite number, got inf"),
    (dict(octaves=0), "octaves must be >= 1, got 0"),
    (dict(octave_scale=0.99),
     "octave_scale must be >= 1 (each octave larger than the one before), got 0.99"),
    (dict(grad_norm="x"), "unknown grad_norm 'x'; valid: l2, std, mean_abs, clip_value, clip_norm, none, lap"),
    (dict(step_mode="x"), "unknown step_mode 'x'; valid: image, pixel"),
    (dict(clip_min=1.0), "clip_min must be < clip_max, got 1.0, 1.0"),
    (dict(clip_norm=0), "clip_norm must be > 0, got 0"),
    (dict(jitter=-1), "jitter must be >= 0, got -1"),
    (dict(tile_size=-1), "tile_size must be >= 0, got -1"),
    (dict(min_octave_size=-1), "min_octave_size must be >= 0, got -1"),
    (dict(lap_levels=0), "lap_levels must be within [1, 8], got 0"),
    (dict(lap_levels=9), "lap_levels must be within [1, 8], got 9"),
    (dict(grad_blur=-0.5), "grad_blur must be within [0, 10] pixels, got -0.5"),
    (dict(grad_blur=10.5), "grad_blur must be within [0, 10] pixels, got 10.5"),
    (dict(tv_weight=-1), "tv_weight must be >= 0, got -1"),
    (dict(upscale_octaves=-1), "upscale_octaves must be within [0, 4], got -1"),
    (dict(upscale_octaves=5), "upscale_octaves must be within [0, 4], got 5"),
    (dict(random_scale_min=0.2, random_scale_max=1),
     "random_scale must be MIN:MAX with 0.25 <= MIN <= MAX <= 4, got 0.2:1"),
    (dict(random_scale_max=4.5), "random_scale must be MIN:MAX with 0.25 <= MIN <= MAX <= 4, got 1.0:4.5"),
    (dict(random_scale_min=1.2, random_scale_max=1.1),
     "random_scale must be MIN:MAX with 0.25 <= MIN <= MAX <= 4, got 1.2:1.1"),
    (dict(random_rotate=-1), "random_rotate must be within [0, 180] degrees, got -1"),
    (dict(random_rotate=181), "random_rotate must be within [0, 180] degrees, got 181"),
    (dict(grad_eps=-1), "grad_eps must be >= 0, got -1"),
    (dict(objective="x"), "unknown objective 'x'; valid: mean_square, mean, mean_square_full_map"),
    (dict(tile_grid="x"), "unknown tile_grid 'x'; valid: shifted, rolled"),
    (dict(octave_sizes="x"), "unknown octave_sizes 'x'; valid: divide, multiply"),
    (dict(activation_border=-1), "activation_border must be within [0, 8], got -1"),
    (dict(activation_border=9), "activation_border must be within [0, 8], got 9"),
    (dict(seed=-1), "seed must be within [0, 2**63), got -1"),
    (dict(seed=2**63), "seed must be within [0, 2**63), got 9223372036854775808"),
]


@pytest.mark.parametrize("kwargs,message", REFUSED, ids=[str(k) for k, _ in REFUSED])
def test_a_setting_out_of_range_is_refused_with_its_range(kwargs, message):
    with pytest.raises(ValueError) as error:
        DreamParams(**kwargs)
    assert str(error.value) == message


ACCEPTED = [
    dict(iterations=0), dict(step=1e-9), dict(octaves=1), dict(octave_scale=1.0),
    *[dict(grad_norm=name) for name in GRAD_NORMS], *[dict(step_mode=name) for name in STEP_MODES],
    *[dict(objective=name) for name in OBJECTIVES], *[dict(tile_grid=name) for name in TILE_GRIDS],
    *[dict(octave_sizes=name) for name in OCTAVE_SIZES],
    dict(clip_min=0.999, clip_max=1.0), dict(clip_norm=1e-9),
    dict(jitter=0, tile_size=0, min_octave_size=0), dict(lap_levels=1), dict(lap_levels=8),
    dict(grad_blur=0.0), dict(grad_blur=10.0), dict(tv_weight=0.0), dict(upscale_octaves=0),
    dict(upscale_octaves=4), dict(random_scale_min=0.25, random_scale_max=0.25),
    dict(random_scale_min=4.0, random_scale_max=4.0), dict(random_rotate=0.0), dict(random_rotate=180.0),
    dict(grad_eps=0.0), dict(activation_border=0), dict(activation_border=8), dict(seed=0),
    dict(seed=2**63 - 1),
]


@pytest.mark.parametrize("kwargs", ACCEPTED, ids=[str(k) for k in ACCEPTED])
def test_each_range_holds_its_bounds(kwargs):
    params = DreamParams(**kwargs)
    assert all(getattr(params, key) == value for key, value in kwargs.items())


# --- layer terms ---------------------------------------------------------------------------------

def test_layer_terms_read_and_write_back():
    terms = parse_layers(" a [ 1 , 2 ] : 0.5 ,b,, c:2")
    assert terms == (LayerTerm("a", 0.5, (1, 2)), LayerTerm("b", 1.0), LayerTerm("c", 2.0))
    assert format_layers(terms) == "a[1,2]:0.5,b:1,c:2"
    assert [term.as_record() for term in terms[:2]] == [
        {"name": "a", "channels": [1, 2], "weight": 0.5}, {"name": "b", "channels": None, "weight": 1.0},
    ]
    assert str(LayerTerm("a", 1.5, ())) == "a[]:1.5" and LayerTerm("a", 1.5, ()).as_record()["channels"] == []


@pytest.mark.parametrize("text,message", [
    ("", "no layers given; e.g. --layers 'mixed4:1.0,mixed5:1.5'"),
    (" , ", "no layers given; e.g. --layers 'mixed4:1.0,mixed5:1.5'"),
    ("a:b", "weight of layer term 'a:b' is not a number"),
    ("a[x]:1", "channels of layer term 'a[x]:1' must be integers, e.g. mixed5[12,40]"),
    ("a[0,-1]", "channels of layer term 'a[0,-1]' must be >= 0"),
    ("a b", "cannot read layer term 'a b'; expected NAME, NAME:WEIGHT or NAME[C1,C2,...]:WEIGHT, "
            "e.g. 'mixed4:1.0,mixed5[12,40]:2.0'"),
])
def test_bad_layer_text_is_refused_with_what_is_wrong(text, message):
    with pytest.raises(ValueError) as error:
        parse_layers(text)
    assert str(error.value) == message


def test_commas_inside_brackets_do_not_split_terms():
    assert parse_layers("a[1,2]:3,b[4]") == (LayerTerm("a", 3.0, (1, 2)), LayerTerm("b", 1.0, (4,)))
    assert parse_layers("a[0]") == (LayerTerm("a", 1.0, (0,)),)


def test_layers_come_as_text_mapping_or_terms():
    assert as_terms({"a": 2, "b": 0.5}) == (LayerTerm("a", 2.0), LayerTerm("b", 0.5))
    assert isinstance(as_terms({"a": 2})[0].weight, float)
    assert as_terms([LayerTerm("b")]) == (LayerTerm("b"),)
    assert as_terms("b") == (LayerTerm("b"),)
    with pytest.raises(TypeError, match=r"^layers must be text, a \{name: weight\} mapping or LayerTerms$"):
        as_terms([LayerTerm("b"), "c"])


# --- the model table -----------------------------------------------------------------------------

def test_table_rows_are_found_by_any_spelling_of_a_name():
    assert table_facts("inception_v3") is MODEL_FACTS["inception_v3"]
    assert table_facts("Inception-V3") is MODEL_FACTS["inception_v3"]
    assert table_facts("EFFICIENTNET_B0") is MODEL_FACTS["efficientnet_b0"]
    assert table_facts("InceptionResNetV2") is MODEL_FACTS["inception_resnet_v2"]
    assert table_facts("nope") is None and table_facts("") is None


# --- the untiled-pixel budget ----------------------------------------------------------------------

@pytest.fixture
def machine(monkeypatch, tmp_path):
    """A machine of 64 pages of 4096 bytes (256 KiB) whose cgroup limits the test writes."""
    sizes = {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": 64}
    monkeypatch.setattr(memory_budget.os, "sysconf", lambda name: sizes[name])
    limits = (tmp_path / "memory.max", tmp_path / "memory.limit_in_bytes")
    monkeypatch.setattr(memory_budget, "_CGROUP_LIMITS", tuple(map(str, limits)))
    return limits


def test_memory_is_the_machines_or_a_smaller_container_limit(machine):
    v2, v1 = machine
    assert machine_memory_bytes() == 262144  # no cgroup files
    v1.write_text("100000\n")
    assert machine_memory_bytes() == 100000  # cgroup v1 alone (no v2 file)
    v2.write_text("max\n")
    assert machine_memory_bytes() == 100000  # cgroup v2 without a limit: no say
    v2.write_text("50000\n")
    assert machine_memory_bytes() == 50000  # the smallest of both
    v2.write_text("999999999\n")
    assert machine_memory_bytes() == 100000  # a limit above the machine's memory changes nothing
    assert default_untiled_max_pixels() == 100000 // 2 // 2048 == 24
    assert type(default_untiled_max_pixels()) is int  # a pixel count, printed and compared as one


def test_only_images_over_the_budget_are_tiled_and_only_when_no_tiling_was_asked():
    params = DreamParams()
    assert with_auto_tiles(params, 1000, 1000) is params
    assert with_auto_tiles(params, 1001, 1000) == DreamParams(tile_size=AUTO_TILE_SIZE) and AUTO_TILE_SIZE == 512
    assert with_auto_tiles(DreamParams(tile_size=300), 10**9, 1000).tile_size == 300


# --- presets from a params file -------------------------------------------------------------------

def test_an_unknown_preset_names_the_valid_ones():
    with pytest.raises(ValueError) as error:
        get_preset("nope")
    assert str(error.value) == ("unknown preset 'nope'; valid: classic, tutorial, keras_io, keras2, vgg16, "
                                "vgg16_jitter, lapnorm")
    assert get_preset("classic") is PRESETS["classic"]


def test_a_preset_changes_only_what_its_settings_name():
    mine = preset_from_settings("mine", {"step": 800, "octaves": 2})
    base = PRESETS[DEFAULT_PRESET]
    assert (mine.name, mine.model, mine.layers, mine.guide, mine.description, mine.step_model) == (
        "mine", base.model, base.layers, None, "vgg16 with changes", None)
    assert mine.params == dataclasses.replace(base.params, step=800.0, octaves=2)
    assert type(mine.params.step) is float and type(mine.params.octaves) is int
    other = preset_from_settings("m2", {"base": "classic", "model": "inception_v3", "layers": ["mixed3", "mixed5[1]:2"],
                                        "guide": "g.png", "description": "d"})
    assert (other.model, other.guide, other.description, other.step_model) == ("inception_v3", "g.png", "d", None)
    assert other.layers == (LayerTerm("mixed3"), LayerTerm("mixed5", 2.0, (1,)))
    assert other.params == PRESETS["classic"].params
    assert preset_from_settings("m3", {"layers": {"a": 2}}).layers == (LayerTerm("a", 2.0),)
    assert preset_from_settings("m4", {"layers": "b:3"}).layers == (LayerTerm("b", 3.0),)


def test_another_model_brings_its_layers_and_keeps_the_step_in_the_bases_units():
    moved = preset_from_settings("mine", {"model": "vgg19"})
    assert (moved.model, moved.layers, moved.params.max_loss, moved.step_model) == ("vgg19", (), None, "vgg16")
    assert moved.params.step == PRESETS["vgg16"].params.step
    given = preset_from_settings("mine", {"model": "vgg19", "step": 3, "max_loss": 5})
    assert (given.layers, given.params.max_loss, given.step_model, given.params.step) == ((), 5.0, None, 3.0)
    # A preset based on a moved one keeps the units of the first model, and its own step does not.
    presets = {**PRESETS, "moved": moved}
    assert preset_from_settings("again", {"base": "moved", "model": "resnet50"}, presets).step_model == "vgg16"
    assert preset_from_settings("same", {"base": "moved", "model": "vgg19"}, presets).step_model == "vgg16"
    assert preset_from_settings("same", {"base": "moved"}, presets).step_model == "vgg16"
    assert preset_from_settings("stepped", {"base": "moved", "step": 2.0}, presets).step_model is None
    assert preset_from_settings("kept", {"base": "classic", "model": None}).model == "inception_v3"
    # The base's max_loss (classic: 15) is on its own network's loss scale: it does not move.
    assert PRESETS["classic"].params.max_loss == 15.0
    assert preset_from_settings("moved", {"base": "classic", "model": "vgg16"}).params.max_loss is None
    assert preset_from_settings("kept", {"base": "classic", "model": "inception_v3"}).params.max_loss == 15.0


def test_a_guide_is_inherited_from_the_base():
    guided = preset_from_settings("guided", {"guide": "g.png"})
    presets = {**PRESETS, "guided": guided}
    assert preset_from_settings("after", {"base": "guided", "octaves": 2}, presets).guide == "g.png"
    assert preset_from_settings("other", {"base": "guided", "guide": "h.png"}, presets).guide == "h.png"


ALL_KEYS = ("base, model, layers, guide, mask, mask_feather, channels, channel_capture, parameterization, init, "
            "description, octaves, octave_scale, iterations, step, max_loss, "
            "grad_norm, clip_min, clip_max, clip_norm, step_mode, jitter, tile_size, seed, min_octave_size, "
            "lap_levels, grad_blur, tv_weight, objective, upscale_octaves, keep_upscaled, random_scale_min, "
            "random_scale_max, random_rotate, grad_eps, activation_border, reinject_detail, clip_pixels, "
            "tile_grid, octave_sizes")
LAYERS_KIND = "layers must be text like 'mixed4:1.0,mixed5', a list of such terms or a mapping of layer: weight"


@pytest.mark.parametrize("settings,message", [
    ({"zz": 1, "aa": 2}, f"unknown setting(s) aa, zz; valid: {ALL_KEYS}"),
    ({"octaves": True}, "preset 'x': octaves must be an integer, got True"),
    ({"octaves": 2.0}, "preset 'x': octaves must be an integer, got 2.0"),
    ({"octaves": list(range(10))}, "preset 'x': octaves must be an integer, got [0, 1, 2, 3, ...]"),
    ({"max_loss": "a"}, "preset 'x': max_loss must be a number or null, got 'a'"),
    ({"step": "1"}, "preset 'x': step must be a number, got '1'"),
    ({"step": None}, "preset 'x': step must be a number, got None"),
    ({"step": False}, "preset 'x': step must be a number, got False"),
    ({"grad_norm": 3}, "preset 'x': grad_norm must be text, got 3"),
    ({"keep_upscaled": 1}, "preset 'x': keep_upscaled must be true or false, got 1"),
    ({"model": 3}, "preset 'x': model must be text, got 3"),
    ({"description": "x" * 100}, None),
    ({"guide": ["x" * 100]}, "preset 'x': guide must be text, got ['xxxxxxxxxxxxxxxxx...xxxxxxxxxxxxxxxxxx']"),
    ({"layers": {"a": True}}, f"preset 'x': {LAYERS_KIND}, got {{'a': True}}"),
    ({"layers": {1: 2}}, f"preset 'x': {LAYERS_KIND}, got {{1: 2}}"),
    ({"layers": ["a", 1]}, f"preset 'x': {LAYERS_KIND}, got ['a', 1]"),
    ({"layers": ("a",)}, f"preset 'x': {LAYERS_KIND}, got ('a',)"),
    ({"layers": None}, f"preset 'x': {LAYERS_KIND}, got None"),
    ({"max_loss": None, "step": 2, "layers": {"a": 1, "b": 2.5}}, None),
    ({"step": 2.5, "grad_norm": "std", "keep_upscaled": True, "guide": None}, None),
])
def test_a_mistyped_setting_is_one_clear_line(settings, message):
    if message is None:
        preset_from_settings("x", settings)
        return
    with pytest.raises(ValueError) as error:
        preset_from_settings("x", settings)
    assert str(error.value) == message


def test_a_preset_reads_its_layers_from_text():
    assert Preset("p", "vgg16", "a:2,b").layers == (LayerTerm("a", 2.0), LayerTerm("b"))  # type: ignore[arg-type]


def test_settings_values_take_their_fields_type():
    assert _as_field_type(800, float) == 800.0 and type(_as_field_type(800, float)) is float
    assert type(_as_field_type(800, float | None)) is float
    assert _as_field_type(True, float) is True and type(_as_field_type(3, int)) is int
    assert _as_field_type("a", str) == "a"
    assert short_repr("x" * 100) == "'xxxxxxxxxxxxxxxxx...xxxxxxxxxxxxxxxxxx'"
    assert short_repr({i: i for i in range(10)}) == "{0: 0, 1: 1, 2: 2, 3: 3, ...}"
