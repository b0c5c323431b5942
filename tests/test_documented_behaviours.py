"""Behaviours the docs (README.md, docs/*.md) promise, each observed through its effect:
the file the job really wrote, whether work was really redone, the steps really run, what
a server really saw."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from pipeline.run import run
from tests.conftest import read_jsonl

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ["--runner", "FnApiRunner"]
# A tiny .keras model (milliseconds per step) with a visible step: 1 octave, 1-2 steps.
TINY = ["--layers=conv3:1", "--octaves=1", "--step=0.1", "--step_mode=pixel", "--max_loss=none"]


@pytest.fixture(scope="module")
def other_model_file(tmp_path_factory) -> Path:
    """The tiny model's architecture with other random weights."""
    keras.utils.set_random_seed(99)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="conv3")(x)
    path = tmp_path_factory.mktemp("other") / "other.keras"
    keras.Model(inputs, x, name="other").save(path)
    return path


def smooth_photo(path: Path, size: tuple[int, int] = (48, 64)) -> Path:
    """A smooth seeded photo-like image (gradients, few edges): JPEG quality shows in its size."""
    height, width = size
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.stack([xx / width * 255, yy / height * 255, (xx + yy) / (width + height) * 255], axis=-1)
    rgb = rgb + np.random.default_rng(0).normal(0, 6, rgb.shape)
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(path)
    return path


# 1. --format and --quality through the whole job (docs/options.md: "output encoding")

@pytest.mark.parametrize("image_format,pillow_name,suffix", [("jpeg", "JPEG", ".jpg"), ("webp", "WEBP", ".webp")])
def test_format_and_quality_are_what_the_written_file_really_is(model_file, tmp_path, image_format,
                                                                pillow_name, suffix):
    source = smooth_photo(tmp_path / "in.png")
    common = [f"--input={source}", f"--model={model_file}", *TINY, "--iterations=1",
              f"--format={image_format}", *RUNNER]
    written = {}
    for quality in (95, 20):
        out = tmp_path / f"q{quality}"
        assert run([*common, f"--output={out}", f"--quality={quality}"]).dreamed == 1
        (record,) = read_jsonl(out / "metadata.jsonl")
        path = Path(record["output_uri"])
        assert path == out / f"in{suffix}"
        with Image.open(path) as image:
            assert image.format == pillow_name and image.size == (64, 48)
            written[quality] = (path.stat().st_size, np.asarray(image.convert("RGB"), dtype=int))
    (large, fine), (small, coarse) = written[95], written[20]
    assert small < 0.8 * large, (small, large)  # lower quality, smaller file ...
    assert np.abs(fine - coarse).mean() < 12  # ... of the same dream


# 2. Resuming (docs/records.md): "Changing a setting that shapes the image (model, layers,
# octave settings, format, --max_size) redoes the work"; the same command skips it.

def _settings(model_file: Path, **changes: str) -> list[str]:
    settings = {"model": str(model_file), "layers": "conv3:1", "format": "png", **changes}
    return [f"--{name}={value}" for name, value in settings.items()]


@pytest.mark.parametrize("change", ["model", "layers", "format", "max_size"])
def test_changing_a_setting_that_shapes_the_image_redoes_the_work(model_file, other_model_file, tmp_path, change):
    source = smooth_photo(tmp_path / "in.png")
    out = tmp_path / "out"
    loop = ["--octaves=1", "--iterations=1", "--step=0.1", "--step_mode=pixel", "--max_loss=none", *RUNNER]
    first = run([f"--input={source}", f"--output={out}", *_settings(model_file), *loop])
    assert first.dreamed == 1
    before = (out / "in.png").stat().st_mtime_ns, (out / "in.png").read_bytes()
    changed = {"model": {"model": str(other_model_file)}, "layers": {"layers": "conv2:1"},
               "format": {"format": "jpeg"}, "max_size": {"max_size": "56"}}[change]
    again = run([f"--input={source}", f"--output={out}", *_settings(model_file, **changed), *loop])
    assert (again.dreamed, again.skipped) == (1, 0)
    (record,) = read_jsonl(out / "metadata.jsonl")
    written = Path(record["output_uri"])
    assert written.stat().st_mtime_ns > before[0]
    with Image.open(written) as image:
        if change == "format":
            assert written.name == "in.jpg" and image.format == "JPEG"
        elif change == "max_size":
            assert image.size == (56, 42)
        else:  # another model or objective: another dream in the same file
            assert written.name == "in.png" and written.read_bytes() != before[1]


def test_the_same_command_again_redoes_nothing(model_file, tmp_path):
    source = smooth_photo(tmp_path / "in.png")
    out = tmp_path / "out"
    args = [f"--input={source}", f"--output={out}", *_settings(model_file, max_size="56"), "--octaves=1",
            "--iterations=1", "--step=0.1", "--step_mode=pixel", "--max_loss=none", *RUNNER]
    assert run(args).dreamed == 1
    image, record = out / "in.png", out / ".deepdream" / "records" / "in.json"
    before = [(p.stat().st_mtime_ns, p.read_bytes()) for p in (image, record)]
    again = run(args)
    assert (again.dreamed, again.skipped) == (0, 1)
    assert [(p.stat().st_mtime_ns, p.read_bytes()) for p in (image, record)] == before
    assert len(read_jsonl(out / "metadata.jsonl")) == 1


# 3. docs/controls.md: "Command-line options win over the file, the file over the preset",
# observed in the octaves and steps the dream really ran.

def test_options_win_over_the_params_file_which_wins_over_the_preset(model_file, tmp_path):
    source = smooth_photo(tmp_path / "in.png", (96, 128))  # large enough for 3 octaves of the tiny model
    params = tmp_path / "params.yaml"
    # The vgg16 preset: 3 octaves x 10 steps, scale 1.4. The file: 2 octaves x 3 steps.
    params.write_text("preset: vgg16\noctaves: 2\niterations: 3\nstep: 0.1\nstep_mode: pixel\n")
    out = tmp_path / "out"
    summary = run([f"--input={source}", f"--output={out}", f"--params={params}", f"--model={model_file}",
                   "--layers=conv3:1", "--iterations=1", *RUNNER])
    assert summary.dreamed == 1
    (record,) = read_jsonl(out / "metadata.jsonl")
    octaves = record["octaves"]
    assert len(octaves) == 2  # the file's octaves, not the preset's 3
    assert [len(o["losses"]) for o in octaves] == [1, 1]  # the option's steps, not the file's 3
    # Neither sets the octave scale: the preset's 1.4 sizes the first octave.
    assert (octaves[0]["height"], octaves[0]["width"]) == (int(96 / 1.4), int(128 / 1.4))


# 4. docs/records.md: the report comes in "Pages of 200 images (report-2.html, ...)".

def test_the_report_has_pages_of_200_images(model_file, tmp_path):
    """201 records (one real record copied, each naming its own small input and output
    file): report.html holds 200 cards, report-2.html the last one, and the pages link."""
    import json
    import re
    import shutil

    from pipeline.report import write_report

    (tmp_path / "in").mkdir()
    source = smooth_photo(tmp_path / "in" / "000.png")
    out = tmp_path / "out"
    run([f"--input={source}", f"--output={out}", f"--model={model_file}", *TINY, "--iterations=1", *RUNNER])
    (template,) = read_jsonl(out / "metadata.jsonl")
    lines = []
    for i in range(201):
        name = f"{i:03d}.png"
        if i:
            shutil.copy(source, tmp_path / "in" / name)
            shutil.copy(out / "000.png", out / name)
        lines.append(json.dumps({**template, "input_uri": str(tmp_path / "in" / name),
                                 "output_uri": str(out / name)}))
    (out / "metadata.jsonl").write_text("\n".join(lines) + "\n")

    first = Path(write_report(str(out)))
    assert first == out / "report.html"
    pages = sorted(p.name for p in out.glob("report*.html"))
    assert pages == ["report-2.html", "report.html"]
    one, two = (out / "report.html").read_text(), (out / "report-2.html").read_text()
    assert one.count('class="card"') == 200 and two.count('class="card"') == 1
    names = lambda page: re.findall(r'<div class="name">[^<]*/([^/<]+)</div>', page)  # noqa: E731
    assert names(one) == [f"{i:03d}.png" for i in range(200)] and names(two) == ["200.png"]
    assert 'href="report-2.html"' in one and 'href="report.html"' in two
    assert len(list((out / "report_files").glob("*.jpg"))) == 402  # before and after, each image


# 5. docs/records.md: "afterwards `python -m pipeline.report OUT [storage options]` (e.g. the
# job's `--s3_...` flags for an output in a bucket), writes `OUT/report.html`".

def test_the_report_command_works_on_an_output_in_a_bucket(s3, model_file, tmp_path):
    """A job's output (dreamed locally, then put in a bucket as a bucket job leaves it: image
    and records under s3://, output_uri naming the object): the command, given the job's S3
    options and nothing else, writes the report and the thumbnails there."""
    import json
    import uuid

    bucket = f"b-{uuid.uuid4().hex[:12]}"
    client = s3.client()
    client.create_bucket(Bucket=bucket)
    source = smooth_photo(tmp_path / "in.png")
    local = tmp_path / "out"
    run([f"--input={source}", f"--output={local}", f"--model={model_file}", *TINY, "--iterations=1", *RUNNER])
    out = f"s3://{bucket}/out"
    (record,) = read_jsonl(local / "metadata.jsonl")
    client.put_object(Bucket=bucket, Key="out/in.png", Body=(local / "in.png").read_bytes())
    client.put_object(Bucket=bucket, Key="out/metadata.jsonl",
                      Body=json.dumps({**record, "output_uri": f"{out}/in.png"}).encode() + b"\n")
    client.put_object(Bucket=bucket, Key="out/errors.jsonl", Body=b"")

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}  # the options alone reach it
    done = subprocess.run([sys.executable, "-m", "pipeline.report", out, *s3.options], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == f"{out}/report.html"
    listed = {item["Key"] for item in client.list_objects_v2(Bucket=bucket, Prefix="out/")["Contents"]}
    assert {"out/report.html", "out/report_files/0-in.jpg", "out/report_files/0-out.jpg"} <= listed
    page = client.get_object(Bucket=bucket, Key="out/report.html")["Body"].read().decode()
    assert page.count('class="card"') == 1 and "unavailable" not in page
    thumb = client.get_object(Bucket=bucket, Key="out/report_files/0-out.jpg")["Body"].read()
    with Image.open(io.BytesIO(thumb)) as image:  # the dream's thumbnail, read from the bucket
        expected = Image.open(local / "in.png").convert("RGB")
        assert image.format == "JPEG" and image.size == expected.size
        assert np.abs(np.asarray(image, dtype=int) - np.asarray(expected, dtype=int)).mean() < 8


# 6. docs/options.md: exit 2 when the job could not start ("a missing manifest"); "Each start
# error is one line on stderr"; checked "Before any input is read".

def test_a_missing_input_list_is_one_line_exit_2_and_nothing_written(tmp_path):
    smooth_photo(tmp_path / "in.png")  # an input the job could dream, were it to start
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's job, launched from elsewhere
    done = subprocess.run([sys.executable, "-m", "pipeline", "--input=in.png", "--input_list=missing.txt",
                           "--output=out", *RUNNER], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.splitlines() == [
        f"beam-deepdream: error: --input_list {str(tmp_path / 'missing.txt')!r} does not exist"]
    assert done.stdout == ""
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # no out/, nothing else


# 7. docs/buckets-and-dataflow.md, URL inputs: "Proxy variables (HTTP_PROXY) are not used."

def test_proxy_variables_are_not_used_for_url_inputs(model_file, tmp_path, monkeypatch):
    import socketserver
    import threading

    from tests.servers import http_server, serve_bytes

    seen: list[bytes] = []

    class RecordingProxy(socketserver.StreamRequestHandler):
        def handle(self) -> None:  # any request line at all (GET http://..., CONNECT host:443)
            seen.append(self.rfile.readline())
            self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    proxy = socketserver.ThreadingTCPServer(("127.0.0.1", 0), RecordingProxy)
    proxy.daemon_threads = True
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    proxy_url = f"http://127.0.0.1:{proxy.server_address[1]}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, proxy_url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)

    served: list[str] = []
    image = smooth_photo(tmp_path / "photo.png").read_bytes()

    def photo(request) -> None:
        served.append(request.path)
        serve_bytes(image)(request)

    try:
        with http_server({"/photo.png": photo}) as base:
            manifest = tmp_path / "urls.txt"
            manifest.write_text(f"{base}/photo.png\n")
            summary = run([f"--input_list={manifest}", f"--output={tmp_path / 'out'}", "--allow_private_urls",
                           f"--model={model_file}", *TINY, "--iterations=1", *RUNNER])
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert (summary.dreamed, summary.failed) == (1, 0), read_jsonl(tmp_path / "out" / "errors.jsonl")
    assert served == ["/photo.png"]  # fetched from the server itself ...
    assert seen == []  # ... and nothing went to the proxy


# 8. docs/options.md: "--preprocessing MODE: inception, caffe, torch or raw pixels, for .keras
# models" (docs/controls.md: "say its pixel convention with --preprocessing").

def test_preprocessing_on_the_command_line_reaches_the_model(model_file, tmp_path):
    """The same .keras model and step under two conventions: each job's image is the dream
    of that convention (the Dreamer given it directly), and the two differ."""
    from transforms.dream import Dreamer, DreamParams
    from transforms.dream.models import get_model_spec

    source = smooth_photo(tmp_path / "in.png")
    rgb = np.asarray(Image.open(source).convert("RGB"))
    dreams = {}
    for units in ("caffe", "torch"):
        out = tmp_path / units
        summary = run([f"--input={source}", f"--output={out}", f"--model={model_file}", f"--preprocessing={units}",
                       "--layers=conv3:1", "--octaves=1", "--iterations=2", "--step=1.5", "--step_mode=pixel",
                       *RUNNER])
        assert summary.dreamed == 1
        (record,) = read_jsonl(out / "metadata.jsonl")
        dreams[units] = np.asarray(Image.open(out / "in.png"), dtype=int)
        expected = Dreamer.from_spec(get_model_spec(str(model_file), units), layers="conv3:1").dream(
            rgb, DreamParams(**record["params"])).image
        difference = int(np.abs(dreams[units] - expected).max())
        assert difference <= 1, (units, difference)
    assert np.abs(dreams["caffe"] - dreams["torch"]).mean() > 5


# 9. docs/records.md, Watching a job: "on a terminal, local runs print a live line, `12/300
# images done, 0.45/s, ETA 640 s` (the total is known for `--input` patterns; manifests show `?`)".

def test_the_progress_line_shows_a_total_for_patterns_and_a_question_mark_for_manifests(
        model_file, tmp_path, monkeypatch):
    import re

    import pipeline.run as job
    from pipeline.progress import ProgressLine

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    shown = io.StringIO()
    monkeypatch.setattr(sys, "stderr", Terminal())  # the job prints its line on terminals only
    # The job's own choice of total, written where the test can read it, often.
    monkeypatch.setattr(job, "ProgressLine",
                        lambda output, total: ProgressLine(output, total, stream=shown, interval=0.05))
    source = smooth_photo(tmp_path / "in.png")
    manifest = tmp_path / "list.txt"
    manifest.write_text(f"{source}\n")
    common = [f"--model={model_file}", *TINY, "--iterations=1", *RUNNER]
    for inputs, name in (([f"--input={source}"], "pattern"), ([f"--input_list={manifest}"], "manifest")):
        shown.seek(0)
        shown.truncate()
        assert run([*inputs, f"--output={tmp_path / name}", *common]).dreamed == 1
        lines = shown.getvalue()
        if name == "pattern":
            assert re.search(r"\r[01]/1 images done, [0-9.]+/s", lines), lines[-200:]
        else:
            assert re.search(r"\r[01]/\? images done, [0-9.]+/s", lines), lines[-200:]
            assert "/1 images" not in lines and "ETA" not in lines


# 10. docs/records.md, Records: the metadata example and the errors.jsonl fields are the ones
# the job writes (the issue found `traceback`, stage `probe` and five params keys missing).

def test_records_md_names_every_field_the_job_writes(model_file, tmp_path):
    import re

    from pipeline.summary import STAGES

    (tmp_path / "in").mkdir()
    smooth_photo(tmp_path / "in" / "photo.png")
    (tmp_path / "in" / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    summary = run([f"--input={tmp_path / 'in'}/*.png", f"--output={out}", f"--model={model_file}", *TINY,
                   "--iterations=1", *RUNNER])
    assert (summary.dreamed, summary.failed) == (1, 1)
    (record,) = read_jsonl(out / "metadata.jsonl")
    (error,) = read_jsonl(out / "errors.jsonl")
    written = {*record, *record["params"], *(k for o in record["octaves"] for k in o),
               *(k for term in record["layers"] for k in term)}
    doc = (ROOT / "docs" / "records.md").read_text()
    example = doc.split("```json", 1)[1].split("```", 1)[0]
    assert set(re.findall(r'"([a-z_]+)":', example)) == written
    errors = doc.split("`errors.jsonl`, one line per failed input", 1)[1].split("Colour modes", 1)[0]
    named = set(re.findall(r"`([a-z_]+)`", errors))
    assert set(error) <= named and set(STAGES) <= named, (set(error) | set(STAGES)) - named
