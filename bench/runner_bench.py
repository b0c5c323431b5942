"""The whole quickstart command on each runner the project tests, as a user runs it.

    python -m bench.runner_bench                 # 3 rounds
    python -m bench.runner_bench --repeats 5

Each case is `python -m pipeline --input 'samples/*.jpg' --output OUT` (default preset,
iterations and octaves as the quickstart) as a fresh process, timed from outside, into a
fresh output: the FnApiRunner (Beam's offline fallback, what every test ran before), Prism
(Beam's Go runner, what DirectRunner runs first online) with its release zip in a fresh
Beam cache (first run: unpacked) and then the same cache (later runs), and the
PortableRunner against Beam's job service with a separate SDK worker pool (the protocol of
Flink, Spark and Dataflow Runner v2; the services are started once, before the rounds).
Rounds interleave the cases; medians and ratios to the FnApiRunner of the same run go to
bench/runners.json with the machine. Needs Prism: BEAM_DEEPDREAM_PRISM=$(.ci/build-prism).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import apache_beam

from bench.machine import machine_info

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ["--input", str(ROOT / "samples" / "*.jpg")]


def timed(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pipeline", *args], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0 or "3 dreamed" not in done.stdout:
        raise RuntimeError(f"{args}: {done.stdout[-500:]} {done.stderr[-2000:]}")
    return seconds


def prism_home(prism: str, folder: Path) -> Path:
    """A HOME whose Beam cache holds Prism's release zip, as after an online first run."""
    name = f"apache_beam-v{apache_beam.__version__}-prism-linux-amd64"
    cache = folder / ".apache_beam" / "cache" / "prism" / "bin"
    cache.mkdir(parents=True)
    with zipfile.ZipFile(cache / f"{name}.zip", "w") as archive:
        archive.write(prism, name)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=str(ROOT / "bench" / "runners.json"))
    args = parser.parse_args(argv)
    prism = os.environ.get("BEAM_DEEPDREAM_PRISM")
    if not prism or not os.path.isfile(prism):
        parser.error("build Prism first: export BEAM_DEEPDREAM_PRISM=$(.ci/build-prism)")
    sys.path.insert(0, str(ROOT))
    from tests.servers import job_service

    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    times: dict[str, list[float]] = {name: [] for name in
                                     ("fnapi", "prism_first", "prism_later", "portable")}
    with tempfile.TemporaryDirectory() as scratch, job_service(scratch) as service:
        work = Path(scratch)
        later_home = prism_home(prism, work / "home-later")
        timed([*QUICKSTART, "--output", str(work / "warm"), "--runner", "FnApiRunner"], env)  # disk cache
        for round_ in range(args.repeats):
            out = work / f"round{round_}"
            first_home = prism_home(prism, work / f"home-first{round_}")
            cases = {
                "fnapi": ([*QUICKSTART, "--output", str(out / "fnapi"), "--runner", "FnApiRunner"], env),
                "prism_first": ([*QUICKSTART, "--output", str(out / "prism_first")],
                                {**env, "HOME": str(first_home)}),
                "prism_later": ([*QUICKSTART, "--output", str(out / "prism_later")],
                                {**env, "HOME": str(later_home)}),
                "portable": ([*QUICKSTART, "--output", str(out / "portable"), *service.options()], env),
            }
            if round_ == 0:  # the later runs' cache is unpacked once, outside the timing
                timed(cases["prism_later"][0][:2] + ["--output", str(work / "unpack")], cases["prism_later"][1])
            for name, (case_args, case_env) in cases.items():
                times[name].append(timed(case_args, case_env))
                print(f"round {round_ + 1}: {name} {times[name][-1]:.1f} s", flush=True)
            shutil.rmtree(first_home)
    medians = {name: statistics.median(values) for name, values in times.items()}
    result = {
        "machine": machine_info(),
        "command": "python -m pipeline --input 'samples/*.jpg' --output OUT [runner options]",
        "seconds": times,
        "median_s": {name: round(value, 2) for name, value in medians.items()},
        "ratio_to_fnapi": {name: round(value / medians["fnapi"], 2) for name, value in medians.items()},
    }
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("median_s", "ratio_to_fnapi")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
