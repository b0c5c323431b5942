"""Make docs/before_after.jpg from the samples and a quickstart run's output directory."""
from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image


def before_after(samples: Path, dreamed: Path, target: Path) -> None:
    pairs = [(p, dreamed / f"{p.stem}.png") for p in sorted(samples.glob("*.jpg"))]
    images = [(Image.open(a).convert("RGB"), Image.open(b).convert("RGB")) for a, b in pairs]
    height = max(a.height for a, _ in images)
    canvas = Image.new("RGB", (sum(a.width for a, _ in images), 2 * height), "white")
    x = 0
    for before, after in images:
        canvas.paste(before, (x, 0))
        canvas.paste(after, (x, height))
        x += before.width
    canvas.save(target, quality=88)


if __name__ == "__main__":
    before_after(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
