"""The job under a flaky object store: each fault case against a clean run, in one run.

    python -m bench.storage_faults

The tests' S3 server (moto) behind the tests' fault-injecting proxy (tests/fault_proxy.py),
20 small PNGs in a bucket dreamed into the bucket (`--octaves 1 --iterations 1`, FnApiRunner),
the command run as a fresh process. Cases: clean, 15% 5xx, 5% resets, 10% one-second delays,
all three at once, and a 20 s outage (every request 503) once three inputs are done, followed
by a rerun on a healthy store. Per case: requests and faults seen, exit status, inputs
dreamed / failed, leftovers (temporaries, open uploads, lease), wall time and its ratio to
the clean run. Results go to bench/storage_faults.json with the machine.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from bench.machine import machine_info
from tests.fault_proxy import Faults, flaky_s3
from tests.servers import s3_server
from tests.test_buckets import jsonl, keys
from tests.test_storage_faults import INPUTS, bucket_of_inputs, open_uploads, run_job

ROOT = Path(__file__).resolve().parent.parent
CASES = {
    "clean": Faults(seed=1),
    "15% 5xx": Faults(errors=0.15, seed=1),
    "5% resets": Faults(resets=0.05, seed=2),
    "10% delays of 1 s": Faults(delays=0.10, seed=3),
    "all three at once": Faults(errors=0.15, resets=0.05, delays=0.10, seed=4),
    "20 s outage mid-job": Faults(seed=5),
}


def outcome(store, bucket: str) -> dict:
    written = keys(store, bucket, "out/")
    errors = jsonl(store, bucket, "out/errors.jsonl") if "out/errors.jsonl" in written else None
    return {
        "records": sum(1 for k in written if k.startswith("out/.deepdream/records/")),
        "error_records": None if errors is None else len(errors),
        "leftovers": [k for k in written if k.endswith(".tmp") or "beam-temp-" in k or k.endswith("lease.json")]
        + [f"open upload {k}" for k in open_uploads(store, bucket)],
    }


def main() -> None:
    results = []
    with s3_server() as store:
        for name, faults in CASES.items():
            bucket, _ = bucket_of_inputs(store)
            stop = threading.Event()
            if "outage" in name:
                def watch(bucket=bucket, faults=faults, stop=stop) -> None:
                    while not stop.wait(0.2):
                        if len(keys(store, bucket, "out/.deepdream/records/")) >= 3:
                            faults.outage(20)
                            return
                threading.Thread(target=watch, daemon=True).start()
            with flaky_s3(store, faults) as flaky:
                clock = time.perf_counter()
                job = run_job(bucket, flaky.options)
                seconds = time.perf_counter() - clock
            stop.set()
            row = {"case": name, "exit": job.returncode, "seconds": round(seconds, 1),
                   "summary": job.stdout.splitlines()[0] if job.stdout else "",
                   "stderr_lines": len(job.stderr.splitlines()), "faults": dict(faults.counts),
                   **outcome(store, bucket)}
            if job.returncode != 0 or row["records"] < INPUTS:
                rerun = run_job(bucket, store.options)
                row["rerun"] = {"exit": rerun.returncode, "summary": rerun.stdout.splitlines()[0] if rerun.stdout else "",
                                **outcome(store, bucket)}
            results.append(row)
            print(json.dumps(row), flush=True)
    clean = results[0]["seconds"]
    for row in results:
        row["time_vs_clean"] = round(row["seconds"] / clean, 2)
    report = {"machine": machine_info(), "inputs": INPUTS, "results": results}
    (ROOT / "bench" / "storage_faults.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["machine"]))


if __name__ == "__main__":
    main()
