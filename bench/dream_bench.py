"""Benchmark: the engine against the classic per-step loop, whole process, same weights.

    python -m bench.dream_bench                 # classic preset, 3 photos, 3 repeats
    python -m bench.dream_bench --memory        # 4096x4096 with tiling: peak RSS

Each run is a fresh Python process (TensorFlow import, model build and tracing included),
timed from outside with its peak RSS read from the kernel (wait4). The baseline is
bench/classic_loop.py, the seed's loop written plainly (docs/design.md); (b) is transforms.dream.Dreamer.
Both use InceptionV3 with the same seeded random weights (ImageNet weights need a download;
speed does not depend on the values), or --weights PATH for real ones. Medians of the
repeats are reported, with the ratio engine/baseline, and written as JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.machine import machine_info

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
# Photos of different sizes around 640x427, made from the committed samples.
DEFAULT_SIZES = ("640x427", "600x450", "560x560")
CLASSIC = {"mixed4": 1.0, "mixed5": 1.5, "mixed6": 2.0, "mixed7": 2.5}
QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "")}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="Runs of each side (median reported).")
    parser.add_argument("--sizes", default=",".join(DEFAULT_SIZES), help="WxH of each photo, comma separated.")
    parser.add_argument("--octaves", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=30, help="Steps per octave (classic: 30).")
    parser.add_argument("--weights", default=None, help="InceptionV3 no-top weights file; default: seeded random.")
    parser.add_argument("--gpu", action="store_true", help="Let TensorFlow see GPUs (default: CPU only).")
    parser.add_argument("--json", default=None,
                        help="Where to write results (default bench/results.json, bench/memory.json "
                        "with --memory, bench/profile.json with --profile).")
    parser.add_argument("--memory", action="store_true", help="Run the 4096x4096 tiled memory check instead.")
    parser.add_argument("--precision", default="float32",
                        help="The engine's --precision (the baseline is always float32).")
    parser.add_argument("--profile", action="store_true",
                        help="Profile engine steps at the first size and print where the time goes.")
    parser.add_argument("--memory_size", type=int, default=4096)
    parser.add_argument("--tile_size", type=int, default=512)
    parser.add_argument("--worker", choices=["baseline", "engine", "memory", "profile"], help=argparse.SUPPRESS)
    parser.add_argument("--images_dir", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# --- inside a worker process ------------------------------------------------------------------

def build_model(weights: str | None):
    import keras

    keras.utils.set_random_seed(1234)  # the same random weights in every process
    model = keras.applications.InceptionV3(include_top=False, weights=None)
    if weights:
        model.load_weights(weights)
    return model


def load_images(images_dir: str) -> list[tuple[str, Any]]:
    import numpy as np
    from PIL import Image

    return [(p.name, np.asarray(Image.open(p).convert("RGB"))) for p in sorted(Path(images_dir).glob("*.png"))]


def run_worker(args: argparse.Namespace) -> dict[str, Any]:
    """Dream every photo once; returns per-image timings, losses and the images' paths."""
    import numpy as np
    from PIL import Image

    images = load_images(args.images_dir)
    model = build_model(args.weights)
    out_dir = Path(args.images_dir) / f"out-{args.worker}"
    out_dir.mkdir(exist_ok=True)
    results = []
    if args.worker == "baseline":
        from bench.classic_loop import reference_dream

        for name, rgb in images:
            seconds: list[float] = []
            started = time.perf_counter()
            image, trace = reference_dream(
                model, CLASSIC, rgb, octaves=args.octaves, iterations=args.iterations,
                max_loss=15.0, octave_seconds=seconds,
            )
            elapsed = time.perf_counter() - started
            Image.fromarray(image).save(out_dir / name)
            results.append({
                "name": name, "seconds": elapsed,
                "octaves": [{"shape": list(s), "steps": len(losses), "seconds": t, "losses": losses}
                            for (s, losses), t in zip(trace, seconds, strict=True)],
            })
    else:
        from transforms.dream import Dreamer, DreamParams
        from transforms.dream.preprocessing import INCEPTION

        dreamer = Dreamer(model, CLASSIC, INCEPTION, min_input_size=75, precision=args.precision)
        params = DreamParams(octaves=args.octaves, iterations=args.iterations, max_loss=15.0)
        for name, rgb in images:
            result = dreamer.dream(rgb, params)
            Image.fromarray(result.image).save(out_dir / name)
            results.append({
                "name": name, "seconds": result.seconds,
                "octaves": [{"shape": [o.height, o.width], "steps": o.steps_run, "seconds": o.seconds,
                             "losses": o.losses} for o in result.octaves],
            })
    return {"images": results, "out_dir": str(out_dir), "pixels": [int(np.prod(r.shape[:2])) for _, r in images]}


def run_memory_worker(args: argparse.Namespace) -> dict[str, Any]:
    """One big image, tiled, every octave a step: what bounds memory is the tile."""
    import numpy as np

    from transforms.dream import Dreamer, DreamParams
    from transforms.dream.preprocessing import INCEPTION

    side = args.memory_size
    yy, xx = np.mgrid[0:side, 0:side]
    rgb = np.stack([xx * 255 // side, yy * 255 // side, (xx ^ yy) & 255], axis=-1).astype(np.uint8)
    dreamer = Dreamer(build_model(args.weights), CLASSIC, INCEPTION, min_input_size=75)
    params = DreamParams(octaves=args.octaves, iterations=args.iterations, max_loss=None,
                         tile_size=args.tile_size)
    result = dreamer.dream(rgb, params)
    return {"seconds": result.seconds, "octaves": [[o.height, o.width, o.seconds] for o in result.octaves]}


def run_profile_worker(args: argparse.Namespace) -> dict[str, Any]:
    """Engine steps under TensorFlow's profiler: time per op type, summed over threads."""
    import collections

    import tensorflow as tf

    from transforms.dream import Dreamer, DreamParams
    from transforms.dream.preprocessing import INCEPTION

    try:
        from tsl.profiler.protobuf import xplane_pb2
    except ImportError:
        from tensorflow.tsl.profiler.protobuf import xplane_pb2

    (_, rgb), *_ = load_images(args.images_dir)
    dreamer = Dreamer(build_model(args.weights), CLASSIC, INCEPTION, 75, precision=args.precision,
                      fold_batch_norm=os.environ.get("BENCH_NO_FOLD") is None)
    params = DreamParams(octaves=1, iterations=args.iterations, max_loss=None)
    dreamer.dream(rgb, params)  # trace outside the profile
    log_dir = Path(args.images_dir) / "profile"
    tf.profiler.experimental.start(str(log_dir))
    wall = dreamer.dream(rgb, params).seconds
    tf.profiler.experimental.stop()
    space = xplane_pb2.XSpace()
    space.ParseFromString(next(log_dir.rglob("*.xplane.pb")).read_bytes())
    by_op: collections.Counter[str] = collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                # 'node/name:OpType' are kernels; ExecutorState::Process spans enclose them.
                if ":" in name and not name.startswith("ExecutorState"):
                    by_op[name.rsplit(":", 1)[1]] += event.duration_ps
    steps = args.iterations
    return {"shape": list(rgb.shape[:2]), "seconds_per_step": wall / steps,
            "op_ms_per_step": {op: ps / 1e9 / steps for op, ps in by_op.most_common(15)}}


# --- the parent: spawn, time, compare -----------------------------------------------------------

def spawn(args: argparse.Namespace, worker: str, images_dir: str) -> dict[str, Any]:
    """Run one worker process; wall time and peak RSS measured from outside."""
    command = [sys.executable, "-m", "bench.dream_bench", "--worker", worker, "--images_dir", images_dir,
               "--octaves", str(args.octaves), "--iterations", str(args.iterations),
               "--memory_size", str(args.memory_size), "--tile_size", str(args.tile_size),
               "--precision", args.precision]
    if args.weights:
        command += ["--weights", args.weights]
    env = {**os.environ, **QUIET_ENV}
    if args.gpu:
        env.pop("CUDA_VISIBLE_DEVICES", None)
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    output = process.stdout.read() if process.stdout else b""
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise RuntimeError(f"{worker} worker failed (status {status}); run it by hand: {' '.join(command)}")
    report = json.loads(output.decode().strip().splitlines()[-1])
    report.update(wall_seconds=wall, peak_rss_mib=usage.ru_maxrss / 1024)
    return report


def make_photos(sizes: list[tuple[int, int]], directory: Path) -> None:
    from PIL import Image

    sources = sorted(SAMPLES.glob("*.jpg"))
    for i, (width, height) in enumerate(sizes):
        photo = Image.open(sources[i % len(sources)]).convert("RGB").resize((width, height), Image.LANCZOS)
        photo.save(directory / f"photo{i}_{width}x{height}.png")


def matmul_peak_gflops() -> float:
    """Median GFLOP/s of a large float32 matmul on this machine: the yardstick for convs."""
    import tensorflow as tf

    n = 2048
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    tf.matmul(a, b).numpy()
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(4):
            c = tf.matmul(a, b)
        c.numpy()
        runs.append(4 * 2 * n**3 / (time.perf_counter() - started) / 1e9)
    return statistics.median(runs)


def step_gflop(shapes: list[tuple[int, int]], weights: str | None) -> dict[str, float]:
    """GFLOP of one classic step (forward, gradient w.r.t. the image, update) per shape,
    counted by TensorFlow's profiler on the baseline's traced step."""
    import tensorflow as tf
    from tensorflow.python.profiler import model_analyzer, option_builder

    from bench.classic_loop import classic_step

    step = classic_step(build_model(weights), CLASSIC)

    flops = {}
    for height, width in shapes:
        graph = step.get_concrete_function(
            tf.TensorSpec([1, height, width, 3], tf.float32), tf.TensorSpec([], tf.float32)
        ).graph
        options = option_builder.ProfileOptionBuilder(
            option_builder.ProfileOptionBuilder.float_operation()
        ).with_empty_output().build()
        profile = model_analyzer.profile(graph, options=options)
        flops[f"{height}x{width}"] = profile.total_float_ops / 1e9
    return flops


def summarize(args: argparse.Namespace, runs: dict[str, list[dict]], flops: dict[str, float], peak: float) -> dict:
    import numpy as np
    from PIL import Image

    summary: dict[str, Any] = {}
    n_images = len(runs["baseline"][0]["images"])
    for side, reports in runs.items():
        walls = [r["wall_seconds"] for r in reports]
        octave_rows: dict[str, list[float]] = {}
        compute, total_flop = 0.0, 0.0
        for report in reports:
            for image in report["images"]:
                for octave in image["octaves"]:
                    key = "x".join(map(str, octave["shape"]))
                    if octave["steps"]:
                        octave_rows.setdefault(key, []).append(octave["seconds"] / octave["steps"])
                    compute += octave["seconds"]
                    total_flop += flops.get(key, 0.0) * octave["steps"]
        summary[side] = {
            "wall_seconds_median": statistics.median(walls),
            "wall_seconds": walls,
            "images_per_second": n_images / statistics.median(walls),
            "dream_seconds_per_image_median": statistics.median(
                i["seconds"] for r in reports for i in r["images"]),
            "seconds_per_step_by_octave": {k: statistics.median(v) for k, v in sorted(octave_rows.items())},
            "peak_rss_mib_median": statistics.median(r["peak_rss_mib"] for r in reports),
            "achieved_gflops": total_flop / compute if compute else None,
        }
    summary["ratio_images_per_second"] = (
        summary["engine"]["images_per_second"] / summary["baseline"]["images_per_second"]
    )
    # Same weights, same photos: how far apart are the outputs?
    base, engine = runs["baseline"][-1], runs["engine"][-1]
    level_diffs, loss_diffs = [], []
    for a, b in zip(base["images"], engine["images"], strict=True):
        x = np.asarray(Image.open(Path(base["out_dir"]) / a["name"]), dtype=int)
        y = np.asarray(Image.open(Path(engine["out_dir"]) / b["name"]), dtype=int)
        level_diffs.append(float(np.abs(x - y).mean()))
        first_a, first_b = a["octaves"][0]["losses"][:3], b["octaves"][0]["losses"][:3]
        loss_diffs.append(max(abs(p - q) / max(abs(p), 1e-12) for p, q in zip(first_a, first_b, strict=True)))
    summary["output_agreement"] = {
        "mean_abs_level_difference_per_image": level_diffs,
        "max_relative_loss_difference_first_3_steps": max(loss_diffs),
    }
    summary["matmul_peak_gflops"] = peak
    summary["step_gflop_by_shape"] = flops
    return summary


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        worker = {"memory": run_memory_worker, "profile": run_profile_worker}.get(args.worker, run_worker)
        print(json.dumps(worker(args)))
        return 0
    machine = machine_info()
    with tempfile.TemporaryDirectory() as images_dir:
        if args.profile:
            sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")][:1]
            make_photos(sizes, Path(images_dir))
            report = spawn(args, "profile", images_dir)
            result = {"machine": machine, "profile": report}
            print(f"engine at {report['shape']}: {report['seconds_per_step']:.3f} s per step (wall); "
                  "kernel time per step, summed over threads:")
            total = sum(report["op_ms_per_step"].values())
            for op, ms in report["op_ms_per_step"].items():
                print(f"  {op:40} {ms:7.1f} ms  {100 * ms / total:5.1f}%")
        elif args.memory:
            report = spawn(args, "memory", images_dir)
            result = {"machine": machine, "memory_check": {
                "size": args.memory_size, "tile_size": args.tile_size, "octaves": args.octaves,
                "iterations": args.iterations, **report}}
            print(f"{args.memory_size}x{args.memory_size}, tiles of {args.tile_size}: "
                  f"peak RSS {report['peak_rss_mib']:.0f} MiB, {report['wall_seconds']:.0f} s whole process")
        else:
            sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
            make_photos(sizes, Path(images_dir))
            runs: dict[str, list[dict]] = {"baseline": [], "engine": []}
            for repeat in range(args.repeats):
                for side in runs:  # alternate, so drifts in machine load hit both sides
                    runs[side].append(spawn(args, side, images_dir))
                    print(f"repeat {repeat + 1}/{args.repeats} {side}: "
                          f"{runs[side][-1]['wall_seconds']:.1f} s", flush=True)
            shapes = sorted({tuple(o["shape"]) for r in runs["baseline"] for i in r["images"] for o in i["octaves"]})
            result = {"machine": machine, "settings": vars(args),
                      **summarize(args, runs, step_gflop(shapes, args.weights), matmul_peak_gflops())}
            print_table(result)
    mode = "memory" if args.memory else "profile" if args.profile else "results"
    target = Path(args.json or ROOT / "bench" / f"{mode}.json")
    target.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results: {target}")
    return 0


def print_table(result: dict) -> None:
    peak = result["matmul_peak_gflops"]
    print(f"\n{'':10} {'wall s':>8} {'img/s':>7} {'peak RSS MiB':>13} {'GFLOP/s':>8} {'of matmul peak':>15}")
    for side in ("baseline", "engine"):
        row = result[side]
        gflops = row["achieved_gflops"] or 0.0
        print(f"{side:10} {row['wall_seconds_median']:8.1f} {row['images_per_second']:7.4f} "
              f"{row['peak_rss_mib_median']:13.0f} {gflops:8.1f} {100 * gflops / peak:14.0f}%")
        for shape, seconds in row["seconds_per_step_by_octave"].items():
            print(f"{'':12}octave {shape}: {seconds:.3f} s per step")
    print(f"\nratio engine/baseline (images/s, whole process): {result['ratio_images_per_second']:.2f}x")
    agreement = result["output_agreement"]
    print(f"outputs: mean |difference| per image {[f'{d:.2f}' for d in agreement['mean_abs_level_difference_per_image']]} "
          f"grey levels; first-3-step losses within {agreement['max_relative_loss_difference_first_3_steps']:.1e}")
    print(f"matmul peak {peak:.0f} GFLOP/s")


if __name__ == "__main__":
    sys.exit(main())
