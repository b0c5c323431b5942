"""Benchmark: the whole command a user runs, against the classic loop, each a fresh process.

    python -m bench.whole_command                    # every case, 3 interleaved repeats
    python -m bench.whole_command --cases two,rerun --repeats 2

Cases (docs/performance.md):
  two        2 photos (640x427, 560x373), classic preset: `python -m pipeline ... --weights W`
             against bench/classic_loop.py on the same photos with the same weights W
  twelve     12 photos of the same sizes and others, the same two sides
  quickstart the README's quickstart (samples/*.jpg, the default preset), whole command
  rerun      the quickstart again into the same output: nothing is left to do

With --engine, the 2- and 12-photo cases also run the engine alone (bench/dream_bench's engine
worker: TensorFlow, one model, the Dreamer, no Beam, no checks) as a fresh process: the best
the command could do, so what is left between the two is the command's own cost.

Both sides are timed from outside (wall clock of the process, TensorFlow import included) and
load the same seeded random InceptionV3 weights (ImageNet weights need a download; speed does
not depend on the values). The command's time is split into the engine's dream time (from
its records: the octave loops, the one trace included) and everything else (imports, checks,
model builds, Beam, decode, writes, records, report). Medians, ratios, the machine: JSON in
bench/whole_command.json.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.dream_bench import QUIET_ENV, ROOT, SAMPLES, make_photos
from bench.machine import machine_info

SIZES = {"two": ["640x427", "560x373"],
         "twelve": ["640x427", "560x373", "600x450", "512x512", "427x640", "480x360"] * 2}
CASES = ("two", "twelve", "quickstart", "rerun")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=",".join(CASES), help=f"Comma separated, of {', '.join(CASES)}.")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=str(ROOT / "bench" / "whole_command.json"))
    parser.add_argument("--before", default=None,
                        help="Another checkout (an earlier commit): its command runs too, as side 'before'.")
    parser.add_argument("--engine", action="store_true",
                        help="Also run the engine alone as a fresh process (side 'engine'): the command's bound.")
    return parser.parse_args(argv)


def _timed(command: list[str], cwd: Path) -> tuple[float, str]:
    env = {**os.environ, **QUIET_ENV}
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return wall, done.stdout


def save_weights(path: Path) -> None:
    """The seeded random InceptionV3 the baseline's build_model makes, as a weights file."""
    code = ("from bench.dream_bench import build_model; import sys; "
            "build_model(None).save_weights(sys.argv[1])")
    subprocess.run([sys.executable, "-c", code, str(path)], cwd=ROOT, check=True,
                   env={**os.environ, **QUIET_ENV})


def command_run(inputs: str, output: Path, extra: list[str], cwd: Path = ROOT) -> dict[str, Any]:
    wall, stdout = _timed([sys.executable, "-m", "pipeline", "--input", inputs, "--output", str(output),
                           *extra], cwd)
    summary = next(line for line in stdout.splitlines() if " dreamed, " in line)
    job = re.search(r" in ([0-9.]+) s", summary)
    records = [json.loads(line) for line in (output / "metadata.jsonl").read_text().splitlines() if line]
    dreamed_now = int(summary.split(": ", 1)[1].split(" dreamed")[0])
    dream = sum(r["dream_seconds"] for r in records) if dreamed_now else 0.0
    return {"wall_seconds": wall, "job_seconds": float(job.group(1)) if job else None,
            "dream_seconds": dream, "other_seconds": wall - dream, "summary": summary,
            "first_losses": {Path(r["input_uri"]).name: r["octaves"][0]["losses"][:3] for r in records}}


def worker_run(images_dir: Path, weights: Path, worker: str = "baseline") -> dict[str, Any]:
    """bench/dream_bench's worker as a fresh process: the classic loop, or the engine alone."""
    wall, stdout = _timed([sys.executable, "-m", "bench.dream_bench", "--worker", worker,
                           "--images_dir", str(images_dir), "--weights", str(weights)], ROOT)
    report = json.loads(stdout.strip().splitlines()[-1])
    shutil.rmtree(report["out_dir"], ignore_errors=True)
    dream = sum(i["seconds"] for i in report["images"])
    return {"wall_seconds": wall, "dream_seconds": dream, "other_seconds": wall - dream,
            "first_losses": {i["name"]: i["octaves"][0]["losses"][:3] for i in report["images"]}}


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def summarize(case: str, runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    row: dict[str, Any] = {side: {"runs": got, **{f"{k}_median": _median(got, k) for k in (
        "wall_seconds", "dream_seconds", "other_seconds")}} for side, got in runs.items()}
    if "baseline" in runs:
        row["ratio"] = row["baseline"]["wall_seconds_median"] / row["command"]["wall_seconds_median"]
        if "engine" in runs:
            row["engine_ratio"] = row["baseline"]["wall_seconds_median"] / row["engine"]["wall_seconds_median"]
        base, ours = runs["baseline"][-1]["first_losses"], runs["command"][-1]["first_losses"]
        row["max_relative_loss_difference_first_3_steps"] = max(
            abs(p - q) / max(abs(p), 1e-12) for name in base for p, q in zip(base[name], ours[name], strict=True))
    return row


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cases = [c for c in args.cases.split(",") if c]
    unknown = set(cases) - set(CASES)
    if unknown:
        raise SystemExit(f"unknown cases {sorted(unknown)}; valid: {', '.join(CASES)}")
    results: dict[str, Any] = {"machine": machine_info(), "settings": vars(args), "cases": {}}
    runs: dict[str, dict[str, list]] = {case: {} for case in cases}
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        weights = scratch / "inception_v3_seeded.weights.h5"
        if {"two", "twelve"} & set(cases):
            save_weights(weights)
        for case in ("two", "twelve"):
            if case in cases:
                (scratch / case).mkdir()
                make_photos([tuple(int(v) for v in s.split("x")) for s in SIZES[case]], scratch / case)
        for repeat in range(args.repeats):
            for case in cases:
                out = scratch / f"out-{case}-{repeat}"
                if case in ("two", "twelve"):
                    # Alternate which side goes first, so drifts in load hit both.
                    sides = (["baseline", "command"] + (["engine"] if args.engine else [])
                             + (["before"] if args.before else []))
                    if repeat % 2:
                        sides.reverse()
                    for side in sides:
                        classic = ["--preset", "classic", "--weights", str(weights)]
                        if side in ("baseline", "engine"):
                            got = worker_run(scratch / case, weights, side)
                        else:
                            got = command_run(str(scratch / case / "*.png"), out, classic,
                                              Path(args.before) if side == "before" else ROOT)
                        runs[case].setdefault(side, []).append(got)
                        print(f"repeat {repeat + 1} {case} {side}: {got['wall_seconds']:.1f} s", flush=True)
                        shutil.rmtree(out, ignore_errors=True)
                elif case == "quickstart" or case == "rerun":
                    for side, root in [("command", ROOT)] + ([("before", Path(args.before))] if args.before else []):
                        quickstart_out = scratch / f"out-quickstart-{side}-{repeat}"
                        if case == "rerun" and not quickstart_out.exists():
                            command_run(str(SAMPLES / "*.jpg"), quickstart_out, [], root)  # untimed: to rerun
                        got = command_run(str(SAMPLES / "*.jpg"), quickstart_out, [], root)
                        runs[case].setdefault(side, []).append(got)
                        print(f"repeat {repeat + 1} {case} {side}: {got['wall_seconds']:.1f} s ({got['summary']})",
                              flush=True)
    for case in cases:
        results["cases"][case] = summarize(case, runs[case])
    print_table(results)
    Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {args.json}")
    return 0


def print_table(results: dict[str, Any]) -> None:
    machine = results["machine"]
    print(f"\n{machine['cpu']}, {machine['cpus']} cores, AVX-512: {machine['avx512']}")
    print(f"{'case':12} {'side':9} {'wall s':>8} {'dream s':>8} {'other s':>8} {'ratio':>7}")
    for case, row in results["cases"].items():
        for side in ("baseline", "before", "command", "engine"):
            if side in row:
                ratio_key = {"command": "ratio", "engine": "engine_ratio"}.get(side, "")
                ratio = f"{row[ratio_key]:.2f}x" if ratio_key in row else ""
                print(f"{case:12} {side:9} {row[side]['wall_seconds_median']:8.1f} "
                      f"{row[side]['dream_seconds_median']:8.1f} {row[side]['other_seconds_median']:8.1f} {ratio:>7}")


if __name__ == "__main__":
    sys.exit(main())
