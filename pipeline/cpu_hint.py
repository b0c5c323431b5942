"""One line at launch when this CPU computes bfloat16 natively and the job asked for float32:
`--precision mixed_bfloat16` is much faster there, but it changes the output, so it stays a
choice the user makes (docs/performance.md has the figures)."""
from __future__ import annotations

# /proc/cpuinfo flags of the instructions oneDNN uses for bfloat16 convolutions.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set[str]:
    """This machine's CPU flags (empty where /proc/cpuinfo is not: macOS, Windows)."""
    try:
        with open(cpuinfo, encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def bfloat16_hint(precision: str, flags: set[str]) -> str | None:
    """The hint, or None where it does not apply (another precision, no native bfloat16)."""
    native = [flag for flag in BF16_FLAGS if flag in flags]
    if precision != "float32" or not native:
        return None
    return (f"beam-deepdream: note: this CPU has {' and '.join(f.upper() for f in native)}: "
            "--precision mixed_bfloat16 dreams about 1.6x faster here (a slightly different dream; "
            "see docs/performance.md)")
