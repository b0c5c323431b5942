"""Check mutmut's mutants in one process: each mutant's tests run by pytest.main, TensorFlow
imported once (docs/testing.md, "In one process").

    python tools/mutation_inproc.py prepare                 # mutmut's mutants/ and its stats, no mutant run
    python tools/mutation_inproc.py check PATTERN... [--rerun | --survivors] [--tests=PREFIX,...]

`prepare` does what `mutmut run` does before its first mutant (copies and mutates the sources
into mutants/, runs the selected tests once to learn which test calls which function) and
stops there. `check` takes mutmut's names or fnmatch patterns ('transforms.dream.mask.*'), and
for each mutant not checked yet (every one matched with --rerun, the survivors with
--survivors: after adding tests, `prepare` again first to copy them and learn what they call) sets MUTANT_UNDER_TEST and
runs, inside mutants/, the tests mutmut's stats give its function, stopping at the first
failure: a failure is killed (exit 1), all passing survived (0), no test calling it "no
tests" (33), over its time limit a timeout (36). The results go into mutmut's .meta files,
so `mutmut results`, `mutmut show` and tools/mutation_summary.py read them. With --tests,
only the tests whose ids start with a prefix given run (all of them where none does): a quick
first pass with the targeted tests, whose survivors `--survivors` then checks against all. At the end the
unmutated tests run again in the same process and must pass: a mutant that left state behind
(a cache, a global) would show there.

Caveats, against mutmut's fresh process per mutant: code that runs only at import (module
constants, a table built at import) ran once, unmutated, so its mutants survive here: check
those with `mutmut run NAME`. A mutant that loops or grows inside TensorFlow, where the
alarm cannot interrupt it, is stopped by a watchdog thread: recorded as a timeout, and the
checker goes on in a fresh process; one that crashes the process (a segfault in TensorFlow:
`i - 1` for `i + 1` writes a TensorArray at -1) is recorded as killed (-11, as mutmut does).
"""
from __future__ import annotations

import fnmatch
import glob
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
KILLED, SURVIVED, NO_TESTS, TIMEOUT, CRASHED = 1, 0, 33, 36, -11  # mutmut's exit codes for each
RESULT = {KILLED: "killed", SURVIVED: "survived", NO_TESTS: "no tests", TIMEOUT: "timeout"}
MIN_LIMIT_S = 60.0  # a mutant's wall limit: this, or 10x its tests' own time if longer
MAX_RSS_BYTES = 8 << 30  # a mutant that grows the process past this is stopped (a timeout)


class MutantTimeout(BaseException):
    """Raised by the alarm: a BaseException, so that no test's `except Exception` takes it."""


def prepare() -> None:
    """mutants/ and mutmut-stats.json, as `mutmut run` leaves them before its first mutant."""
    import mutmut.__main__ as mm

    os.chdir(ROOT)
    mm.set_mutant_under_test("mutant_generation")
    os.makedirs("mutants", exist_ok=True)
    mm.copy_src_dir()
    mm.copy_also_copy_files()
    mm.setup_source_paths()
    mm.store_lines_covered_by_tests()
    mm.create_mutants(1)
    mm.collect_or_load_stats(mm.get_mutant_runner(1), mutants_caught_by_type_checker={},
                             apply_config_invalidation=False)


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise MutantTimeout()


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _watchdog(mutant: str, meta_path: str, limit_s: float, done: threading.Event) -> None:
    """Stops a mutant that the alarm cannot: one looping inside TensorFlow (a while_loop that
    never ends holds the interpreter in C) or growing without bound. Its result is recorded as
    a timeout; the supervisor starts a fresh checker, which goes on with the rest."""
    deadline = time.monotonic() + 1.5 * limit_s
    while not done.wait(0.5):
        if time.monotonic() > deadline or _rss_bytes() > MAX_RSS_BYTES:
            meta = json.loads(Path(meta_path).read_text())
            meta["exit_code_by_key"][mutant] = TIMEOUT
            Path(meta_path).write_text(json.dumps(meta, indent=4))
            os.write(2, f"{mutant}: timeout (stopped by the watchdog; restarting)\n".encode())
            os.kill(os.getpid(), signal.SIGKILL)  # the supervisor (main) starts a fresh checker


def _run_tests(tests: list[str], mutant: str, limit_s: float, log: Path) -> int:
    import pytest
    from mutmut.mutation.trampoline import set_mutant_under_test

    set_mutant_under_test(mutant)
    signal.setitimer(signal.ITIMER_REAL, limit_s)
    try:
        with open(log, "a") as out:
            out.write(f"\n=== {mutant or '(unmutated)'}\n")
            out.flush()
            saved = os.dup(1), os.dup(2)
            os.dup2(out.fileno(), 1)
            os.dup2(out.fileno(), 2)
            try:
                return int(pytest.main([*tests, "-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]))
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                os.close(saved[0])
                os.close(saved[1])
    except MutantTimeout:
        return TIMEOUT
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        set_mutant_under_test("")


def check(patterns: list[str], redo: str, prefixes: tuple[str, ...] = ()) -> int:
    """redo: "" (mutants not checked yet), "--rerun" (all matched) or "--survivors"."""
    from mutmut.utils.format_utils import mangled_name_from_mutant_name

    os.chdir(ROOT / "mutants")
    sys.path.insert(0, os.getcwd())
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT]
    os.environ.update(CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")
    signal.signal(signal.SIGALRM, _on_alarm)
    stats = json.loads(Path("mutmut-stats.json").read_text())
    tests_of = stats["tests_by_mangled_function_name"]
    durations = stats["duration_by_test"]
    log = Path("inproc.log")
    current = Path("inproc.current")  # the mutant being checked: left behind if it crashed the process
    if current.exists():
        crashed, crashed_meta = current.read_text().split("\n")
        meta = json.loads(Path(crashed_meta).read_text())
        if meta["exit_code_by_key"].get(crashed) in (None, SURVIVED):
            meta["exit_code_by_key"][crashed] = CRASHED
            Path(crashed_meta).write_text(json.dumps(meta, indent=4))
            print(f"{crashed}: killed (its tests crashed the process)", flush=True)
        current.unlink()
    start, counts, used = time.monotonic(), {KILLED: 0, SURVIVED: 0, NO_TESTS: 0, TIMEOUT: 0}, set()
    for meta_path in sorted(glob.glob("**/*.py.meta", recursive=True)):
        meta = json.loads(Path(meta_path).read_text())
        codes = meta["exit_code_by_key"]
        for name in sorted(codes):
            wanted = {"": codes[name] is None, "--rerun": True, "--survivors": codes[name] == SURVIVED}[redo]
            if not (wanted and any(fnmatch.fnmatch(name, p) for p in patterns)):
                continue
            # Fastest first: a killed mutant (most of them) stops at its first failing test.
            tests = sorted(tests_of.get(mangled_name_from_mutant_name(name), []), key=lambda t: (durations.get(t, 1.0), t))
            tests = ([t for t in tests if t.startswith(prefixes)] or tests) if prefixes else tests
            if not tests:
                code = NO_TESTS
            else:
                limit = max(MIN_LIMIT_S, 10 * sum(durations.get(t, 1.0) for t in tests))
                current.write_text(f"{name}\n{meta_path}")
                done = threading.Event()
                threading.Thread(target=_watchdog, args=(name, str(Path(meta_path).resolve()), limit, done),
                                 daemon=True).start()
                code = _run_tests(tests, name, limit, log)
                done.set()
                current.unlink()
                code = {0: SURVIVED, TIMEOUT: TIMEOUT}.get(code, KILLED)
                used.update(tests)
            codes[name] = code
            counts[code] += 1
            print(f"{name}: {RESULT[code]}", flush=True)
            Path(meta_path).write_text(json.dumps(meta, indent=4))
    print(f"killed {counts[KILLED]}, survived {counts[SURVIVED]}, no tests {counts[NO_TESTS]}, "
          f"timeout {counts[TIMEOUT]} in {time.monotonic() - start:.0f} s")
    if used:
        clean = _run_tests(sorted(used), "", max(MIN_LIMIT_S, 3 * sum(durations.get(t, 1.0) for t in used)), log)
        print("unmutated tests afterwards:", "pass" if clean == 0 else f"FAIL (exit {clean}): see mutants/{log}")
        return 0 if clean == 0 else 1
    return 0


def main() -> int:
    args = sys.argv[1:]
    if args[:1] == ["prepare"]:
        prepare()
        return 0
    if args[:1] == ["check"] and len(args) > 1 and not os.environ.get("MUTATION_INPROC_CHILD"):
        # A mutant may crash the interpreter (a segfault in TensorFlow) or be stopped by the
        # watchdog: the checking runs in a child, started again while it dies of a signal.
        while True:
            code = subprocess.call([sys.executable, *sys.argv], cwd=ROOT,
                                   env={**os.environ, "MUTATION_INPROC_CHILD": "1"})
            if code >= 0:
                return code
    if args[:1] == ["check"] and len(args) > 1:
        flags = [a for a in args[1:] if a in ("--rerun", "--survivors")]
        prefixes = tuple(p for a in args[1:] if a.startswith("--tests=") for p in a.removeprefix("--tests=").split(","))
        patterns = [a for a in args[1:] if a not in flags and not a.startswith("--tests=")]
        return check(patterns, flags[0] if flags else "", prefixes)
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
