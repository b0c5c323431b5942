"""The machine a figure was measured on: CPU model, cores, AVX-512 or not."""
from __future__ import annotations

import os
import platform


def machine_info() -> dict[str, object]:
    model, flags = platform.processor() or "unknown", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model in ("unknown", "", "x86_64"):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return {"cpu": model, "cpus": os.cpu_count(), "avx512": "avx512f" in flags,
            "platform": platform.platform(), "python": platform.python_version()}
