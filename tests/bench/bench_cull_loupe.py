"""The loupe benchmark: key -> loupe drawn at 100 %, through a real tmux, on 24 MP JPEGs and on
24 MP RAWs, cold and prefetched, next to the fit view's next photo measured the same way.

Run from the repository root (a standalone script, not a pytest test):

    python3 tests/bench/bench_cull_loupe.py [--photos N] [--cold K] [--pace S] [--keep]

It builds two libraries of N photos each (default 40), scanned into a real catalogue with EXIF
read and previews built as the engine does, every photo given an AF point (with SQL, as the
looks helper would fill it):

- **24 MP JPEG**: real camera JPEGs enlarged to 6000 x 4000 with a little noise (sensor-like
  detail, so the JPEG decodes as a camera's does), each copy distinct;
- **24 MP RAW**: copies of the Nikon D7100 NEF of the camera samples (6036 x 4020 sensor,
  6000 x 4000 embedded JPEG: the loupe's pixels come from the embedded JPEG, as for most Canon
  and Nikon bodies);
- **LibRaw**: copies of the Canon EOS D30 CRW (2176 x 1448, embedded JPEG 1440 x 960: at
  100 % the RAW itself is developed by LibRaw); a small sensor, said so in the table.

Each library's app runs whole (``python -m tui``) in a 160x48 tmux on a private socket; keys are
typed with send-keys and the screen read with capture-pane until the position line names the new
photo and zoom *and* the photo area is drawn (half-blocks). Measured, in this order:

- **reference**: `space` in the fit view (previews cached, neighbours prefetched);
- **cold**: `z` the moment a photo is drawn, its pixels never decoded (the loupe off again and
  three photos on before the next one, past what the loupe drew ahead), until the loupe's line
  names the library's source (for the CRW: until LibRaw's pixels replace the embedded JPEG
  shown meanwhile, whose first frame is a row of its own);
- **after a pause**: `z` on a photo the photographer stopped on for a second and more: the app
  decodes the full-size pixels of the photo on screen in such a pause;
- **prefetched**: `space` with the loupe on at 100 %, after a pause for the neighbours;
- **pan**: `l` with the loupe on (the picture decoded, only cut and drawn).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.config import load_settings
from core.media.photos import MediaSync
from core.media.pool import MediaPool
from core.scan.reconcile import reconcile_roots
from core.store import open_catalogue, queries
from tests.bench.benchtools import print_verdicts, reference_decode, table_lines, work_tree
from tests.helpers import camera_sample, distinct_copy
from tests.tui.tmux_screen import POSITION, TMUX, TmuxProgram, app_env, photo_shown
from tui.frames import LATER_AFTER_SECONDS

REPO = Path(__file__).resolve().parents[2]
SIZE = (160, 48)
JPEG_SOURCES = ("nikon_d90.jpg", "canon_eos1000d_orient6.jpg", "panasonic_dmc-lx3_gps.jpg",
                "apple_iphone5_orient3_gps.jpg", "samsung_galaxy_s_orient6_gps.jpg")  # fmt: skip
AF_POINT = (0.62, 0.41)


@dataclass
class Seen:
    """Seconds from a key sent to its result drawn on the screen."""

    reference: list[float] = field(default_factory=list)
    cold: list[float] = field(default_factory=list)
    cold_first: list[float] = field(default_factory=list)  # anything drawn (a stand-in)
    paused: list[float] = field(default_factory=list)
    prefetched: list[float] = field(default_factory=list)
    pan: list[float] = field(default_factory=list)


def make_jpegs(folder: Path, count: int) -> Path:
    """24 MP JPEGs from real camera JPEGs; returns one of them (for the decode reference)."""
    sources = [camera_sample(name) for name in JPEG_SOURCES]
    sources = [path for path in sources if path is not None]
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True)
    made = []
    for n, path in enumerate(sources):
        with Image.open(path) as image:
            picture = image.convert("RGB").resize((6000, 4000), Image.Resampling.BICUBIC)
        noisy = np.asarray(picture, dtype=np.int16) + rng.integers(-6, 7, (4000, 6000, 3))
        out = folder / f"source{n}.jpg"
        Image.fromarray(noisy.clip(0, 255).astype(np.uint8)).save(out, quality=92)
        made.append(out.read_bytes())
        out.unlink()
    for n in range(count):
        (folder / f"DSC_{n:04d}.JPG").write_bytes(made[n % len(made)] + f"bench-{n}".encode())
    return folder / "DSC_0000.JPG"


def make_copies(folder: Path, name: str, suffix: str, count: int) -> Path | None:
    source = camera_sample(name)
    if source is None:
        return None
    data = source.read_bytes()
    folder.mkdir(parents=True)
    for n in range(count):
        (folder / f"RAW_{n:04d}{suffix}").write_bytes(distinct_copy(data, n))
    return folder / f"RAW_0000{suffix}"


def index(base: Path, photos: Path) -> Path:
    config = base / "shootwatch.toml"
    config.write_text(
        f'catalogue = "{base / "catalogue.db"}"\n'
        f'darktable.library = "{base / "no-darktable" / "library.db"}"\n'
        f'media.preview_cache = "{base / "previews"}"\n'
    )
    settings = load_settings(config)
    with open_catalogue(settings.catalogue) as catalogue:
        root, _ = queries.add_root(str(photos))
        reconcile_roots(catalogue, [root], settings.scan, kind="manual")
        pool = MediaPool(2)
        try:
            MediaSync(catalogue.db, settings.media, pool).run_until_idle()
        finally:
            pool.close()
        catalogue.db.execute_sql("UPDATE photo SET af_x = ?, af_y = ?", AF_POINT)
    return config


def position_of(screen: str) -> int | None:
    match = POSITION.search(screen)
    return int(match[1].replace(",", "")) if match else None


def drawn(screen: str, position: int, loupe: bool, source: str = "") -> bool:
    """Photo ``position`` drawn, in the loupe at 100 % from ``source`` (the loupe's line names
    it), or in the fit view."""
    in_loupe = "100 % at" in screen
    return photo_shown(screen, position) and in_loupe == loupe and (source in screen)


def measure(
    base: Path, config: Path, photos: int, cold: int, pace: float, name: str, source: str
) -> Seen:
    command = f"{sys.executable} -m tui --config {config} --no-engine"
    program = TmuxProgram(command, base, app_env(base / "home", REPO), SIZE, name=name)
    seen = Seen()
    position = 1

    def key(
        sent: str,
        into: list[float] | None,
        step: int,
        loupe: bool,
        pause: float,
        first: list[float] | None = None,
    ) -> None:
        """Send a key and wait for its photo drawn, in the loupe from the library's source;
        ``first``: when anything of it is (a RAW's embedded JPEG, standing in)."""
        nonlocal position
        position += step
        started = time.perf_counter()
        program.keys(sent)
        if first is not None:
            program.wait_for(lambda s: drawn(s, position, loupe), f"photo {position}", 60, 0.002)
            first.append(time.perf_counter() - started)
        wanted = source if loupe else ""
        program.wait_for(
            lambda s: drawn(s, position, loupe, wanted), f"photo {position}", 60, 0.002
        )
        if into is not None:
            into.append(time.perf_counter() - started)
        time.sleep(pause)

    def past_the_neighbours(pause_on_arrival: float) -> None:
        key("z", None, 0, loupe=False, pause=pace)  # the loupe off, its neighbours decoded
        for n in range(3):  # past the neighbours the loupe drew ahead
            key("Space", None, 1, loupe=False, pause=pace if n < 2 else pause_on_arrival)

    try:
        program.wait_for(position_of, "a photo", timeout=120)
        program.keys("Home")
        program.wait_for(lambda s: drawn(s, 1, False), "the first photo", 120)
        time.sleep(pace)
        for _ in range(min(10, photos // 4)):  # the reference: the fit view's next photo
            key("Space", seen.reference, 1, loupe=False, pause=pace)
        key("Space", None, 1, loupe=False, pause=0.05)
        for _ in range(cold):
            # z at once on a photo just drawn: nothing of it decoded beyond its preview
            key("z", seen.cold, 0, loupe=True, pause=pace, first=seen.cold_first)
            past_the_neighbours(pause_on_arrival=2 * LATER_AFTER_SECONDS + pace)
            # z after a pause on the photo: its pixels were decoded in the pause
            key("z", seen.paused, 0, loupe=True, pause=pace)
            past_the_neighbours(pause_on_arrival=0.05)
        key("z", None, 0, loupe=True, pause=2 * pace)
        while position < photos:
            key("Space", seen.prefetched, 1, loupe=True, pause=2 * pace)
        for _ in range(10):
            key("l", seen.pan, 0, loupe=True, pause=pace / 2)
    finally:
        program.close()
    return seen


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def p50_p95(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{ms(statistics.median(values))} / {ms(percentile(values, 0.95))} (n={len(values)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=76)
    parser.add_argument("--cold", type=int, default=8, help="cold loupe openings per library")
    parser.add_argument("--pace", type=float, default=1.0, help="seconds between keys")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if TMUX is None:
        print("tmux is not installed: nothing measured")
        return 1
    photos = max(args.photos, 8 * args.cold + 12)
    rows, targets, notes = [], [], []
    with work_tree("shootwatch-bench-loupe-", keep=args.keep) as base:
        for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
            os.environ[name] = str(base / name.lower())
        libraries = []
        sample = make_jpegs(base / "jpeg" / "photos", photos)
        libraries.append(("24 MP JPEG", base / "jpeg", sample, "the JPEG itself"))
        raw = make_copies(base / "raw" / "photos", "nikon_d7100_truncated.NEF", ".NEF", photos)
        if raw is not None:
            libraries.append(("24 MP RAW (NEF, embedded JPEG)", base / "raw", raw, "embedded JPEG"))
        crw = make_copies(base / "crw" / "photos", "canon_eos_d30.CRW", ".CRW", photos)
        if crw is not None:
            libraries.append(("2 MP RAW (CRW, LibRaw)", base / "crw", crw, "RAW (LibRaw)"))
        for label, folder, sample, source in libraries:
            started = time.perf_counter()
            config = index(folder, folder / "photos")
            print(f"{label}: {photos} photos indexed in {time.perf_counter() - started:.1f} s")
            seen = measure(folder, config, photos, args.cold, args.pace, folder.name, source)
            reference = percentile(seen.reference, 0.95)
            stand_in = seen.cold_first if source == "RAW (LibRaw)" else []
            for what, values, target in (
                ("fit view, next photo (reference)", seen.reference, ""),
                ("loupe 100 %, cold (z at once)", seen.cold, "p95 <= 200 ms"),
                ("loupe 100 %, cold: the embedded JPEG standing in", stand_in, ""),
                ("loupe 100 %, z after a pause on the photo", seen.paused, ""),
                ("loupe 100 %, next photo prefetched", seen.prefetched, "p95 <= 50 ms"),
                ("loupe 100 %, pan (l)", seen.pan, ""),
            ):
                if not values:
                    continue
                ratio = f"{percentile(values, 0.95) / reference:.2f}"
                rows.append((f"{label}: {what}", p50_p95(values), f"fit next p95 {ms(reference)}",
                             ratio, target))  # fmt: skip
            for what, values, limit in (("cold", seen.cold, 0.200),
                                        ("prefetched", seen.prefetched, 0.050)):  # fmt: skip
                p95 = percentile(values, 0.95)
                targets.append((f"{label} loupe {what} p95 <= {ms(limit)}", ms(p95), p95 <= limit))
            decode = reference_decode(sample) if sample.suffix.upper() == ".JPG" else None
            if decode is not None:
                notes.append(f"{label}: Pillow's full decode of one photo {ms(decode)}")
    notes.append(
        "key -> screen through tmux 3.3a at 160x48, half-blocks; the screen polled with"
        " capture-pane (a few ms per poll, the same for every row); p95 of this few samples is"
        " close to their worst"
    )
    print()
    for line in table_lines(rows):
        print(line)
    print_verdicts(notes, targets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
