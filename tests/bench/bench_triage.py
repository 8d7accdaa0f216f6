"""The triage benchmark: key press -> new photo on screen, and start -> first paint.

Run from the repository root (a standalone script, not a pytest test):

    python3 tests/bench/bench_triage.py [--photos N] [--catalogue-photos M] [--pace S] [--keep]

It builds a library of N photos (default 200): real camera JPEGs (from ../shared/fixtures/camera
when it is beside the checkout, else tests/fixtures/camera), each copy made distinct by bytes
after its end marker, scanned into a real catalogue with EXIF read and previews built as the
engine does. It then drives the real app with Pilot at 160x48 (half-blocks, as in tmux):

- **with prefetch**: `space` through all N photos, one press every S seconds (default 0.25 s,
  a brisk culling pace), the default prefetch of 3 on each side;
- **not yet cached**: the same with prefetch off and the preview cache emptied, so each press
  builds the preview from the original, decodes and draws it;
- **start to first paint** with M photos in the catalogue (default 100,000: the N real ones plus
  rows added with SQL): from creating the app to its first screen, and to the first photo drawn.

Latency is measured inside the app, as DESIGN.md advises (Pilot's own press/pause cost more
than the app does): from the key's action to the screen refresh after the new frame is shown.
References measured in the same run: a full Pillow decode of one original (what a viewer
without previews pays per photo) and `cp` of one preview.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.config import load_settings
from core.media.photos import MediaSync, preview_cache_dir
from core.media.pool import MediaPool
from core.scan.reconcile import reconcile_roots
from core.store import open_catalogue, queries
from tests.bench.benchtools import (
    print_verdicts,
    reference_cp,
    reference_decode,
    table_lines,
    work_tree,
)
from tui.app import ShootwatchApp
from tui.panes.triage import TriagePane
from tui.widgets.photo_view import PhotoView

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("nikon_d90.jpg", "canon_eos1000d_orient6.jpg", "pentax_ist_d.jpg",
           "panasonic_dmc-lx3_gps.jpg", "minolta_dimage_a1.jpg")  # fmt: skip
FALLBACK = ("nikon_coolpix_p6000_gps_DSCN0010.jpg", "apple_iphone5_orient3_gps.jpg",
            "samsung_galaxy_s_orient6_gps.jpg")  # fmt: skip
SIZE = (160, 48)


def source_files() -> list[Path]:
    shared = REPO.parent / "shared" / "fixtures" / "camera"
    found = [shared / name for name in SOURCES if (shared / name).exists()]
    return found or [REPO / "tests" / "fixtures" / "camera" / name for name in FALLBACK]


def build_library(base: Path, photos: int) -> tuple[Path, list[Path]]:
    """N distinct JPEGs in shoot folders of 50, a config file pointing everything at ``base``."""
    sources = [path.read_bytes() for path in source_files()]
    made = []
    for n in range(photos):
        folder = base / "photos" / f"2025-03-{1 + n // 50:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"IMG_{n:05d}.JPG"
        path.write_bytes(sources[n % len(sources)] + f"shootwatch-bench-{n}".encode())
        made.append(path)
    config = base / "shootwatch.toml"
    config.write_text(
        f'catalogue = "{base / "catalogue.db"}"\n'
        f'darktable.library = "{base / "no-darktable" / "library.db"}"\n'
        f'media.preview_cache = "{base / "previews"}"\n'
    )
    return config, made


def index(config: Path) -> None:
    settings = load_settings(config)
    with open_catalogue(settings.catalogue) as catalogue:
        root, _ = queries.add_root(str(config.parent / "photos"))
        reconcile_roots(catalogue, [root], settings.scan, kind="manual")
        pool = MediaPool(2)
        try:
            MediaSync(catalogue.db, settings.media, pool).run_until_idle()
        finally:
            pool.close()


def add_catalogue_rows(config: Path, total: int) -> int:
    """Photo and file rows up to ``total`` photos, taken after the real ones (as a large
    catalogue holds older shoots the queue does not start with, here newer ones)."""
    settings = load_settings(config)
    with open_catalogue(settings.catalogue) as catalogue:
        db = catalogue.db
        have = db.execute_sql("SELECT count(*) FROM photo").fetchone()[0]
        root_id = db.execute_sql("SELECT id FROM root").fetchone()[0]
        start = time.time() + 86400
        with db.atomic():
            for first in range(have, total, 10_000):
                rows = range(first, min(total, first + 10_000))
                db.execute_sql(
                    "INSERT INTO photo (blake3, capture_time, decision, rating, labels,"
                    " created_at, metadata_at) SELECT 'bench' || value, ? + value, 'pending',"
                    " 0, 0, ?, ? FROM json_each(?)",
                    (start, start, start, "[" + ",".join(map(str, rows)) + "]"),
                )
                db.execute_sql(
                    "INSERT INTO file (root_id, rel_path, size, mtime_ns, blake3, hashed_at,"
                    " last_seen, scan_generation, kind, photo_id, role, format)"
                    " SELECT ?, 'later/' || p.blake3 || '.JPG', 1, 1, p.blake3, ?, ?, 0, 'jpeg',"
                    " p.id, 'original', 'jpeg' FROM photo p WHERE p.blake3 LIKE 'bench%'"
                    " AND p.id NOT IN (SELECT photo_id FROM file WHERE photo_id IS NOT NULL)",
                    (root_id, start, start),
                )
        return db.execute_sql("SELECT count(*) FROM photo").fetchone()[0]


async def drive(config: Path, presses: int, pace: float, prefetch: bool) -> list[float]:
    settings = load_settings(config)
    if not prefetch:
        from dataclasses import replace

        settings = replace(settings, tui=replace(settings.tui, prefetch=0))
    with open_catalogue(settings.catalogue) as catalogue:
        app = ShootwatchApp(settings, catalogue, engine="off")
        async with app.run_test(size=SIZE) as pilot:
            pane = app.query_one(TriagePane)
            await wait_drawn(pilot, pane)
            await pilot.pause(pace)
            pane.latencies.clear()
            for _ in range(presses):
                await pilot.press("space")
                await wait_drawn(pilot, pane)
                await pilot.pause(pace)
            return list(pane.latencies)


async def wait_drawn(pilot, pane: TriagePane, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = pane.query_one(PhotoView).frame
        if frame is not None and frame.photo_id == pane.photo_id and frame.strips:
            return
        await asyncio.sleep(0.002)
    raise RuntimeError("a photo was never drawn")


async def first_paint(config: Path) -> tuple[float, float]:
    settings = load_settings(config)
    started = time.perf_counter()
    with open_catalogue(settings.catalogue) as catalogue:
        app = ShootwatchApp(settings, catalogue, engine="off")
        async with app.run_test(size=SIZE) as pilot:
            screen = time.perf_counter() - started
            pane = app.query_one(TriagePane)
            await wait_drawn(pilot, pane)
            await pilot.pause(0)
            return screen, time.perf_counter() - started


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--catalogue-photos", type=int, default=100_000)
    parser.add_argument("--pace", type=float, default=0.25, help="seconds between presses")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    with work_tree("shootwatch-bench-triage-", keep=args.keep) as base:
        for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
            os.environ[name] = str(base / name.lower())
        config, originals = build_library(base, args.photos)
        started = time.perf_counter()
        index(config)
        print(
            f"{args.photos} photos indexed with previews in {time.perf_counter() - started:.1f} s"
        )
        presses = args.photos - 1
        cached = asyncio.run(drive(config, presses, args.pace, prefetch=True))
        settings = load_settings(config)
        previews = preview_cache_dir(settings.media)
        some_preview = next(previews.rglob("*.jpg"))
        cp_time = reference_cp(some_preview)
        shutil.rmtree(previews)
        uncached = asyncio.run(drive(config, presses, args.pace, prefetch=False))
        decode_time = reference_decode(originals[0])
        total = add_catalogue_rows(config, args.catalogue_photos)
        paints = [asyncio.run(first_paint(config)) for _ in range(3)]
        screen = statistics.median(p[0] for p in paints)
        photo = statistics.median(p[1] for p in paints)
        with Image.open(originals[0]) as image:
            source = f"{image.width}x{image.height} JPEG"
    print(f"\n{presses} presses each at 160x48, half-blocks; reference original: {source}\n")
    p95_cached, p95_uncached = percentile(cached, 0.95), percentile(uncached, 0.95)
    rows = [
        ("key -> frame, prefetch (p50 / p95)",
         f"{ms(statistics.median(cached))} / {ms(p95_cached)}",
         f"cp of a preview {ms(cp_time)}", "", "p95 <= 50 ms"),
        ("key -> frame, not cached (p50 / p95)",
         f"{ms(statistics.median(uncached))} / {ms(p95_uncached)}",
         f"Pillow full decode of the original {ms(decode_time)}",
         f"{p95_uncached / decode_time:.2f}", "p95 <= 300 ms"),
        (f"start -> first screen, {total:,} photos", ms(screen), "", "", ""),
        (f"start -> first photo drawn, {total:,} photos", ms(photo), "", "", "<= 1.5 s"),
    ]  # fmt: skip
    for line in table_lines(rows):
        print(line)
    print_verdicts(
        [f"{len(cached)} and {len(uncached)} latencies measured (one per press)"],
        [
            ("key -> frame p95 with prefetch <= 50 ms", ms(p95_cached), p95_cached <= 0.050),
            ("key -> frame p95 not cached <= 300 ms", ms(p95_uncached), p95_uncached <= 0.300),
            ("start to first paint <= 1.5 s", ms(photo), photo <= 1.5),
        ],
    )
    return 0 if len(cached) == presses and len(uncached) == presses else 1


if __name__ == "__main__":
    sys.exit(main())
