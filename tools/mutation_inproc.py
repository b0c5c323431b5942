"""Check mutmut's mutants in one process: each mutant's tests run by pytest.main, TensorFlow
imported once (docs/testing.md, "In one process").

    python tools/mutation_inproc.py prepare                 # mutmut's mutants/ and its stats, no mutant run
    python tools/mutation_inproc.py check PATTERN... [--rerun | --survivors]

`prepare` does what `mutmut run` does before its first mutant (copies and mutates the sources
into mutants/, runs the selected tests once to learn which test calls which function) and
stops there. `check` takes mutmut's names or fnmatch patterns ('transforms.dream.mask.*'), and
for each mutant not checked yet (every one matched with --rerun, the survivors with
--survivors: after adding tests, `prepare` again first to copy them and learn what they call) sets MUTANT_UNDER_TEST and
runs, inside mutants/, the tests mutmut's stats give its function, stopping at the first
failure: a failure is killed (exit 1), all passing survived (0), no test calling it "no
tests" (33), over its time limit a timeout (36). The results go into mutmut's .meta files,
so `mutmut results`, `mutmut show` and tools/mutation_summary.py read them. At the end the
unmutated tests run again in the same process and must pass: a mutant that left state behind
(a cache, a global) would show there.

Caveats, against mutmut's fresh process per mutant: code that runs only at import (module
constants, a table built at import) ran once, unmutated, so its mutants survive here: check
those with `mutmut run NAME`. A mutant that hangs in C code (a TensorFlow kernel) is not
interrupted by the alarm.
"""
from __future__ import annotations

import fnmatch
import glob
import json
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
KILLED, SURVIVED, NO_TESTS, TIMEOUT = 1, 0, 33, 36  # mutmut's exit codes for each
RESULT = {KILLED: "killed", SURVIVED: "survived", NO_TESTS: "no tests", TIMEOUT: "timeout"}
MIN_LIMIT_S = 60.0  # a mutant's wall limit: this, or 10x its tests' own time if longer


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


def check(patterns: list[str], redo: str) -> int:
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
            if not tests:
                code = NO_TESTS
            else:
                limit = max(MIN_LIMIT_S, 10 * sum(durations.get(t, 1.0) for t in tests))
                code = _run_tests(tests, name, limit, log)
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
    if args[:1] == ["check"] and len(args) > 1:
        flags = [a for a in args[1:] if a in ("--rerun", "--survivors")]
        return check([a for a in args[1:] if a not in flags], flags[0] if flags else "")
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
