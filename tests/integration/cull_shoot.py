"""A shoot as a cull meets it: 1,000 camera JPEGs made from real photos, in bursts of 2 to 8
frames (the camera drifting, the focus missing by known amounts in all frames but one) and
single shots between them, written with a body and a capture time to the hundredth, then
scanned, described, previewed and measured by the real pipeline into a real catalogue."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from tests.bursts_sequences import (
    START,
    Frame,
    blurred,
    catalogue_shoot,
    real_sources,
    shifted,
    write_frame,
)

LONG_EDGE = 640  # small frames: a thousand of them are made in seconds


@dataclass
class CullShoot:
    shoot: object  # tests.bursts_sequences.Shoot
    bursts: list[list[str]] = field(default_factory=list)  # file names, in shot order
    sharpest: dict[int, str] = field(default_factory=dict)  # burst index -> its crisp frame
    names: list[str] = field(default_factory=list)  # every photo, in shot order


def make_cull_shoot(tmp_path: Path, photos: int = 1000, seed: int = 18) -> CullShoot:
    rng = random.Random(seed)
    sources = []
    for path in real_sources():
        image = Image.open(path).convert("RGB")
        image.thumbnail((LONG_EDGE, LONG_EDGE))
        sources.append(image)
    frames: list[Frame] = []
    made = CullShoot(None)
    wall, n = START, 0
    while n < photos:
        base = sources[len(made.bursts) % len(sources)]
        size = min(rng.choice((1, 1, 2, 3, 5, 6, 8)), photos - n)
        names = [f"DSC_{n + i:04d}.JPG" for i in range(size)]
        if size == 1:
            frames.append(Frame(names[0], base, wall))
        else:
            crisp = rng.randrange(size)  # the frame the focus was on
            for i, name in enumerate(names):
                moved = shifted(base, 0.004 * i, 0.002 * (i % 2))
                image = moved if i == crisp else blurred(moved, 1.5 + (abs(i - crisp) % 3))
                frames.append(Frame(name, image, wall + 0.3 * i))
            made.sharpest[len(made.bursts)] = names[crisp]
            made.bursts.append(names)
        made.names += names
        n += size
        wall += 45 + rng.random() * 30  # the next moment: another subject, well apart
    made.shoot = catalogue_shoot(tmp_path, frames, sharpness=True)
    return made


__all__ = ["CullShoot", "make_cull_shoot", "write_frame"]
