"""Controls through the whole job: a user's .keras model, a params file with presets, a
manifest with a preset column, batching, and launch-time validation."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.run import main, run
from tests.conftest import read_jsonl

RUNNER = ["--runner", "FnApiRunner"]


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("in")
    rng = np.random.default_rng(5)
    for i in range(4):  # four of one size, so batches fill
        Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(root / f"same{i}.png")
    Image.fromarray(rng.integers(0, 256, (50, 46, 3), dtype=np.uint8)).save(root / "other.png")
    return root


@pytest.fixture(scope="module")
def params_file(model_file, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("params") / "params.yaml"
    path.write_text(
        f"model: {model_file}\n"
        "layers: conv2:1.0,conv3[1,5]:2.0\n"
        "octaves: 2\niterations: 3\nstep: 0.05\nstep_mode: pixel\nmax_loss: none\n"
        "presets:\n"
        "  tiny_std:\n"
        f"    model: {model_file}\n"
        "    layers: conv3:1\n"
        "    grad_norm: std\n    step: 0.02\n    iterations: 2\n    octaves: 1\n    jitter: 3\n"
    )
    return path


def test_manifest_rows_pick_their_preset(images, params_file, tmp_path):
    manifest = tmp_path / "list.csv"
    manifest.write_text(
        "uri,preset\n"
        f"{images / 'same0.png'}\n"
        f"{images / 'same1.png'},tiny_std\n"
        f"{images / 'other.png'},no_such_preset\n"
    )
    out = tmp_path / "out"
    summary = run([f"--input_list={manifest}", f"--output={out}", f"--params={params_file}", *RUNNER])
    assert (summary.dreamed, summary.failed) == (2, 1)
    records = {Path(r["input_uri"]).name: r for r in read_jsonl(out / "metadata.jsonl")}
    default, custom = records["same0.png"], records["same1.png"]
    assert default["preset"] == "vgg16" and default["model"].endswith("tiny.keras")
    assert default["layers"] == [
        {"name": "conv2", "channels": None, "weight": 1.0},
        {"name": "conv3", "channels": [1, 5], "weight": 2.0},
    ]
    assert default["params"]["step_mode"] == "pixel" and default["params"]["max_loss"] is None
    assert [o["steps_run"] for o in default["octaves"]] == [3, 3]
    assert default["octaves"][0]["effective_step"] == pytest.approx(0.05, rel=1e-3)
    assert custom["preset"] == "tiny_std" and custom["grad_norm"] == "std"
    assert custom["params"]["jitter"] == 3 and [o["steps_run"] for o in custom["octaves"]] == [2]
    assert default["settings_key"] != custom["settings_key"]
    (error,) = read_jsonl(out / "errors.jsonl")
    assert error["stage"] == "preset" and "valid: " in error["message"] and "tiny_std" in error["message"]


def test_batches_give_the_images_of_one_by_one(images, model_file, tmp_path):
    common = [f"--input={images}/*.png", f"--model={model_file}", "--layers=conv3:1",
              "--octaves=2", "--iterations=3", "--step=0.05", "--step_mode=pixel",
              "--jitter=2", "--seed=9", *RUNNER]
    single = run([*common, f"--output={tmp_path / 'one'}"])
    batched = run([*common, f"--output={tmp_path / 'batched'}", "--batch_size=3"])
    assert single.dreamed == batched.dreamed == 5
    assert batched.distributions["batch_size"][3] == 3  # (count, sum, min, max)
    # docs/controls.md: bit-identical on CPUs, to one grey level elsewhere (untiled here).
    on_cpu = all(r["device"].startswith("CPU") for r in read_jsonl(tmp_path / "batched" / "metadata.jsonl"))
    for path in sorted((tmp_path / "one").glob("*.png")):
        a = np.asarray(Image.open(path), dtype=int)
        b = np.asarray(Image.open(tmp_path / "batched" / path.name), dtype=int)
        assert np.abs(a - b).max() <= (0 if on_cpu else 1), path.name


def test_same_seed_same_output_across_runs(images, model_file, tmp_path):
    common = [f"--input={images}/same0.png", f"--model={model_file}", "--layers=conv3:1",
              "--octaves=1", "--iterations=3", "--step=0.05", "--step_mode=pixel", "--jitter=4", *RUNNER]
    for name, seed in [("a", 1), ("b", 1), ("c", 2)]:
        run([*common, f"--output={tmp_path / name}", f"--seed={seed}"])
    a, b, c = (np.asarray(Image.open(tmp_path / n / "same0.png")) for n in "abc")
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c).max() > 0


@pytest.mark.parametrize(
    "args,message",
    [
        (["--layers=conv3[99]:1"], "channels 0-15"),
        (["--layers=conv9:1"], "unknown layer.*valid: .*conv1"),
        (["--layers=conv3:x"], "not a number"),
        (["--tile_size=-1"], "tile_size must be >= 0"),
        (["--guide=/no/such/guide.png"], "guide image .* cannot be used"),
    ],
)
def test_invalid_controls_stop_before_any_input_is_read(images, model_file, tmp_path, capsys, args, message):
    out = tmp_path / "out"
    code = main([f"--input={images}/*.png", f"--output={out}", f"--model={model_file}", "--layers=conv3:1", *args, *RUNNER])
    assert code == 2
    assert __import__("re").search(message, capsys.readouterr().err)
    assert not out.exists()


def test_params_file_errors_name_the_valid_settings(images, tmp_path, capsys):
    params = tmp_path / "p.json"
    params.write_text(json.dumps({"octavez": 3}))
    code = main([f"--input={images}/*.png", f"--output={tmp_path / 'out'}", f"--params={params}", *RUNNER])
    assert code == 2 and "unknown setting(s) octavez" in capsys.readouterr().err


def test_list_layers_prints_names_and_shapes(model_file, capsys):
    assert main(["--list_layers", f"--model={model_file}"]) == 0
    printed = capsys.readouterr().out
    assert "conv3" in printed and "(None, None, None, 16)" in printed


def test_preset_defined_in_a_params_file_is_chosen_by_name(images, params_file, tmp_path):
    out = tmp_path / "out"
    summary = run([f"--input={images}/same0.png", f"--output={out}", f"--params={params_file}",
                   "--preset=tiny_std", *RUNNER])
    assert summary.dreamed == 1
    (record,) = read_jsonl(out / "metadata.jsonl")
    assert record["preset"] == "tiny_std" and record["grad_norm"] == "std"


def test_unknown_preset_lists_the_valid_ones(images, tmp_path, capsys):
    from transforms.dream.presets import PRESETS

    code = main([f"--input={images}/*.png", f"--output={tmp_path / 'out'}", "--preset=nope", *RUNNER])
    assert code == 2 and "valid: " + ", ".join(PRESETS) in capsys.readouterr().err


@pytest.mark.parametrize(
    "line,expected",
    [
        ("photos/a.jpg", ("photos/a.jpg", None)),
        ("photos/a.jpg,strong", ("photos/a.jpg", "strong")),
        ("photos/a.jpg, vgg16_jitter ", ("photos/a.jpg", "vgg16_jitter")),
        ("http://host/x,y.jpg", ("http://host/x,y.jpg", None)),
        ("http://host/x,y.jpg,dots", ("http://host/x,y.jpg", "dots")),
    ],
)
def test_manifest_rows_with_and_without_a_preset_column(line, expected):
    from transforms.read import parse_manifest_line

    ((uri, claim),) = parse_manifest_line(line)
    assert (uri, claim.preset) == expected


def test_manifest_header_and_comments_are_skipped():
    from transforms.read import parse_manifest_line

    assert parse_manifest_line("uri,preset") == parse_manifest_line("# note") == parse_manifest_line("  ") == []


def test_guided_job_records_its_guide(images, model_file, tmp_path):
    out = tmp_path / "out"
    guide = images / "other.png"
    summary = run([f"--input={images}/same0.png", f"--output={out}", f"--model={model_file}",
                   "--layers=conv3:1", f"--guide={guide}", "--octaves=1", "--iterations=2", *RUNNER])
    assert summary.dreamed == 1
    (record,) = read_jsonl(out / "metadata.jsonl")
    assert record["guide"] == str(guide)
    dreamed = np.asarray(Image.open(out / "same0.png"), dtype=int)
    assert np.abs(dreamed - np.asarray(Image.open(images / "same0.png"))).mean() > 0.1


def test_a_failing_batch_costs_only_its_bad_image(photo):
    """The batch is retried one by one, so the bad image alone becomes an error record."""
    from transforms.dream import DreamResult, OctaveRecord
    from transforms.dream.presets import PRESETS
    from transforms.dreaming import DreamBatch, _LoadedDreamers
    from transforms.elements import ImageToDream, InputFile
    from transforms.recipe import Recipe
    from transforms.stages import ERRORS

    class OneBadImage:
        def dream(self, rgb, params):
            if rgb.max() == 0:
                raise ValueError("cannot dream an all-black image")
            return DreamResult(rgb, [OctaveRecord(0, 200, 264, [1.0], 1, False, 0.1)], 0.01, "CPU:0")

        def dream_batch(self, images, params):
            return [self.dream(rgb, params) for rgb in images]

    step = DreamBatch({"vgg16": Recipe(PRESETS["vgg16"])})
    step._loaded = _LoadedDreamers(lambda name: OneBadImage())
    images = [photo, np.zeros_like(photo), photo]
    batch = [ImageToDream(InputFile(f"in/{i}.png", str(i), "vgg16"), rgb, "PNG", "RGB", 264, 200)
             for i, rgb in enumerate(images)]
    outputs = list(step.process(("200x264/vgg16", batch)))
    errors = [o.value for o in outputs if getattr(o, "tag", None) == ERRORS]
    dreamed = [o for o in outputs if getattr(o, "tag", None) != ERRORS]
    assert [e["uri"] for e in errors] == ["in/1.png"] and "all-black" in errors[0]["message"]
    assert [d.decoded.source.uri for d in dreamed] == ["in/0.png", "in/2.png"]


def test_options_and_the_file_win_over_a_manifest_rows_builtin_preset(images, tmp_path):
    """A row naming vgg16_jitter (10 steps x 3 octaves, jitter 32) is dreamed with the
    command line's steps and octaves and the file's jitter."""
    params = tmp_path / "params.yaml"
    params.write_text("jitter: 8\n")
    manifest = tmp_path / "list.csv"
    manifest.write_text(f"{images / 'same0.png'},vgg16_jitter\n{images / 'same1.png'}\n")
    out = tmp_path / "out"
    summary = run([f"--input_list={manifest}", f"--output={out}", f"--params={params}",
                   "--iterations=2", "--octaves=1", *RUNNER])
    assert summary.dreamed == 2
    for record in read_jsonl(out / "metadata.jsonl"):
        assert [o["steps_run"] for o in record["octaves"]] == [2], record["preset"]
        assert record["params"]["jitter"] == 8, record["preset"]


def test_a_number_spelled_either_way_makes_one_settings_key(tmp_path):
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.config import JobConfig
    from pipeline.options import DreamOptions
    from transforms.resume import settings_key

    params = tmp_path / "params.yaml"
    params.write_text("step: 800\njitter: 16\n")

    def key(*args: str) -> str:
        options = PipelineOptions(["--input=x", "--output=y", *args]).view_as(DreamOptions)
        return settings_key(JobConfig.from_options(options).job_metadata())

    assert key(f"--params={params}") == key("--step=800", "--jitter=16") == key("--step=800.0", "--jitter=16")
    assert key("--step=800") != key("--step=801")


def test_a_typo_in_the_params_file_is_reported_even_when_an_option_replaces_it(tmp_path, capsys):
    params = tmp_path / "params.yaml"
    params.write_text("iterations: many\n")
    assert main(["--input=x.png", f"--output={tmp_path / 'out'}", f"--params={params}", "--iterations=2"]) == 2
    assert "iterations" in capsys.readouterr().err


def test_params_written_by_a_program_are_read_as_numbers(tmp_path):
    """json.dumps writes 1e-06; YAML 1.2 (and people) write 1e-2: both are numbers, with
    the same settings key as the same values on the command line."""
    import json as json_module

    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.config import JobConfig
    from pipeline.options import DreamOptions
    from transforms.resume import settings_key

    as_json = tmp_path / "p.json"
    as_json.write_text(json_module.dumps({"grad_eps": 1e-06, "step": 0.01, "preset": "lapnorm"}))
    as_yaml = tmp_path / "p.yaml"
    as_yaml.write_text("grad_eps: 1e-6\nstep: 1e-2\npreset: lapnorm\n")

    def key(*args: str) -> str:
        options = PipelineOptions(["--input=x", "--output=y", *args]).view_as(DreamOptions)
        return settings_key(JobConfig.from_options(options).job_metadata())

    command_line = key("--grad_eps=0.000001", "--step=0.01", "--preset=lapnorm")
    assert key(f"--params={as_json}") == key(f"--params={as_yaml}") == command_line


# --- the Dreamer the job's Dream step loads ---------------------------------------------------

def job_dreamer(model_file: Path, *args: str):
    """The Dreamer the job's Dream step loads for these options, built the job's way (options ->
    JobConfig -> recipes -> Dream.setup() -> the recipe's shared model), with a function
    that dreams one image through the step's ModelHandler."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.config import JobConfig
    from pipeline.options import DreamOptions
    from transforms.dreaming import Dream

    options = PipelineOptions(["--input=x", "--output=y", f"--model={model_file}", "--layers=conv3:1",
                               "--preprocessing=inception", "--octaves=1", "--iterations=3", "--step=0.05",
                               "--step_mode=pixel", "--max_loss=none", *args])
    config = JobConfig.from_options(options.view_as(DreamOptions))
    stage = Dream(config.recipes)
    stage.setup()
    handler = stage._handlers[config.preset.name]
    dreamer = stage._loaded.get(config.preset.name)

    def dream(rgb: np.ndarray):
        (prediction,) = handler.run_inference([rgb], dreamer)
        return prediction.inference

    return dreamer, dream


def test_the_jobs_dreamer_dreams_towards_its_guide(images, model_file):
    """--guide reaches the job's Dreamer: its objective is the dot product with the guide's
    features (the first recorded loss is that of the input), which its dream raises, and
    its dream is another than the unguided job's."""
    from transforms.dream.objective import guide_loss, guide_vectors
    from transforms.dream.preprocessing import INCEPTION

    guide_path = images / "other.png"
    rgb = np.asarray(Image.open(images / "same0.png"))
    guided, dream_guided = job_dreamer(model_file, f"--guide={guide_path}")
    _, dream_plain = job_dreamer(model_file)
    extractor, terms = guided._extractor, guided.terms
    towards = guide_vectors(extractor(INCEPTION.preprocess(np.asarray(Image.open(guide_path)))), terms)

    def dot(image: np.ndarray) -> float:
        return float(guide_loss(extractor(INCEPTION.preprocess(image)), terms, towards)[0])

    with_guide, without = dream_guided(rgb), dream_plain(rgb)
    assert with_guide.octaves[0].losses[0] == pytest.approx(dot(rgb), rel=1e-3)
    assert without.octaves[0].losses[0] != pytest.approx(dot(rgb), rel=0.1)
    assert dot(with_guide.image) > 2 * dot(rgb)  # measured: 0.24 -> 0.55
    assert np.abs(with_guide.image.astype(int) - without.image).mean() > 1.0, "another dream"


def test_the_jobs_dreamer_computes_in_the_precision_asked(images, model_file):
    """--precision mixed_float16 reaches the job's Dreamer: its layers compute (and its
    feature maps come out) in float16, and its dream differs from the float32 job's by
    rounding only; without the option everything is float32."""
    from transforms.dream.preprocessing import INCEPTION

    rgb = np.asarray(Image.open(images / "same0.png"))
    mixed, dream_mixed = job_dreamer(model_file, "--precision=mixed_float16")
    full, dream_full = job_dreamer(model_file)
    convolutions = [layer for layer in mixed._extractor.layers if layer.weights]
    assert len(convolutions) == 3 and {layer.compute_dtype for layer in convolutions} == {"float16"}
    assert [f.dtype.name for f in mixed._extractor(INCEPTION.preprocess(rgb)).values()] == ["float16"]
    assert [f.dtype.name for f in full._extractor(INCEPTION.preprocess(rgb)).values()] == ["float32"]
    diff = np.abs(dream_mixed(rgb).image.astype(int) - dream_full(rgb).image)
    assert 0 < diff.max() <= 8 and diff.mean() < 0.5, (diff.max(), diff.mean())


def test_the_jobs_dreamer_compiles_with_xla_only_with_jit(images, model_file):
    """--jit reaches the loop the job's Dreamer runs: its gradient is marked for XLA; the
    default job's is not."""
    from tests.test_controls import xla_compiled

    rgb = np.asarray(Image.open(images / "same0.png"))
    jitted, dream_jitted = job_dreamer(model_file, "--jit")
    plain, dream_plain = job_dreamer(model_file)
    dream_jitted(rgb), dream_plain(rgb)
    assert len(xla_compiled(jitted)) == 1
    assert len(plain._ascents) == 1 and xla_compiled(plain) == []
