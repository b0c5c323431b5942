"""Killed and survived mutants per module, from the kept mutation run's mutants/ (docs/testing.md).

    python tools/mutation_summary.py [--survivors]

mutmut 3.8 files a mutant under "timeout" when pytest answered with a usage error (exit 4):
that happens when the mutant breaks the import of a test module (a preset table or
DreamParams built at import raises), so the node ids it was given are not found. The tests
did fail there: this summary counts exit 255 as killed, "at import", and real timeouts
(SIGXCPU) apart. A mutant whose tests crashed the interpreter (-11, a segfault inside
TensorFlow) failed them too: killed.
"""
from __future__ import annotations

import collections
import glob
import json
import sys

KIND = {1: "killed", 3: "killed", -11: "killed", 255: "killed at import", 0: "survived", 5: "no tests", 33: "no tests",
        -24: "timeout", 24: "timeout", 152: "timeout", 36: "timeout", None: "not checked"}
COLUMNS = ("killed", "killed at import", "survived", "no tests", "timeout", "not checked", "other")


def main() -> None:
    print("| module | mutants | " + " | ".join(COLUMNS) + " |")
    print("| --- | ---: |" + " ---: |" * len(COLUMNS))
    survivors = []
    for path in sorted(glob.glob("mutants/**/*.py.meta", recursive=True)):
        codes = json.load(open(path))["exit_code_by_key"]
        kinds = collections.Counter(KIND.get(code, "other") for code in codes.values())
        module = path.removeprefix("mutants/").removesuffix(".meta")
        print(f"| {module} | {len(codes)} | " + " | ".join(str(kinds[c]) for c in COLUMNS) + " |")
        survivors += [name for name, code in codes.items() if KIND.get(code) == "survived"]
    if "--survivors" in sys.argv:
        print("\nsurvivors (mutmut show NAME prints one):")
        print("\n".join(f"  {name}" for name in survivors))


if __name__ == "__main__":
    main()
