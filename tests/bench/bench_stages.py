"""The stage benchmark: approved photos through thumb + web + blurhash, in photos/s and cores used.

Run from the repository root (a standalone script, not a pytest test):

    python3 tests/bench/bench_stages.py [--photos N] [--workers W] [--keep]

It makes one 24 MP (6000x4000) camera-like JPEG (a real camera sample scaled up, quality 92),
hard-links it N times (default 1,000) into a library, indexes the library as the engine does,
and, since copies of one file are one photo, gives each link a photo of its own in the
catalogue (with SQL: what is measured is the stages, not the grouping). All photos are approved.
The runner then makes thumb, web and blurhash for every photo with W workers (default: one per
core); then, starting over, web alone. The benchmark prints photos/s for both, and the CPU
time used divided by the wall time (cores used). Reference, same run: Pillow decoding the
source in full, and `cp` of it.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.config import StageSettings, load_settings
from core.scan.reconcile import reconcile_roots
from core.stages.runner import StageRunner
from core.store import open_catalogue, queries
from tests.bench.benchtools import (
    print_verdicts,
    reference_cp,
    reference_decode,
    table_lines,
    work_tree,
)

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "tests" / "fixtures" / "camera" / "nikon_coolpix_p6000_gps_DSCN0010.jpg"


def make_source(path: Path) -> None:
    """A 24 MP JPEG with a camera's EXIF: the sample scaled up (with its detail smoothed, the
    size a camera file of this resolution has at quality 92 is about right)."""
    with Image.open(SAMPLE) as sample:
        exif = sample.info.get("exif", b"")
        big = sample.convert("RGB").resize((6000, 4000), Image.Resampling.BICUBIC)
    big.save(path, quality=92, exif=exif)


def build(base: Path, photos: int) -> tuple[Path, Path]:
    source = base / "source.jpg"
    make_source(source)
    shoot = base / "photos" / "2025-03-08"
    shoot.mkdir(parents=True)
    for n in range(photos):
        os.link(source, shoot / f"IMG_{n:05d}.JPG")
    config = base / "shootwatch.toml"
    config.write_text(
        f'catalogue = "{base / "catalogue.db"}"\n'
        f'darktable.library = "{base / "no-darktable" / "library.db"}"\n'
        f'media.preview_cache = "{base / "previews"}"\n'
        f'stages.output = "{base / "art"}"\n'
    )
    settings = load_settings(config)
    with open_catalogue(settings.catalogue) as catalogue:
        root, _ = queries.add_root(str(base / "photos"))
        reconcile_roots(catalogue, [root], settings.scan, kind="manual")
        db = catalogue.db
        now = time.time()
        with db.atomic():
            for file_id, rel_path in db.execute_sql("SELECT id, rel_path FROM file").fetchall():
                photo_id = db.execute_sql(
                    "INSERT INTO photo (blake3, decision, rating, labels, created_at, format,"
                    " orientation, metadata_at) VALUES (?, 'approved', 0, 0, ?, 'jpeg', 1, ?)",
                    (f"bench-{rel_path}", now, now),
                ).lastrowid
                db.execute_sql(
                    "UPDATE file SET photo_id = ?, role = 'original', format = 'jpeg' WHERE id = ?",
                    (photo_id, file_id),
                )
    return config, source


def run_stages(
    config: Path, workers: int, enabled: tuple[str, ...] | None = None
) -> tuple[float, float, dict[str, int]]:
    settings = load_settings(config)
    stage_settings: StageSettings = replace(settings.stages, workers=workers)
    if enabled is not None:
        stage_settings = replace(stage_settings, enabled=enabled)
    with open_catalogue(settings.catalogue) as catalogue:
        if enabled is not None:  # start over: what the last run made would not be due
            with catalogue.db.atomic():
                catalogue.db.execute_sql("DELETE FROM artifact")
                catalogue.db.execute_sql("DELETE FROM job")
        runner = StageRunner(catalogue.db, stage_settings)
        cpu_before = _cpu()
        started = time.perf_counter()
        counts = runner.run_until_idle()
        wall = time.perf_counter() - started
        cpu = _cpu() - cpu_before
        runner.close()
    if counts.failed:
        raise SystemExit(f"{counts.failed} stage jobs failed")
    return wall, cpu, dict(counts.by_stage)


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    with work_tree("shootwatch-bench-stages-", keep=args.keep) as base:
        for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
            os.environ[name] = str(base / name.lower())
        config, source = build(base, args.photos)
        size_mb = source.stat().st_size / 1e6
        decode = reference_decode(source)
        cp_time = reference_cp(source)
        wall, cpu, by_stage = run_stages(config, args.workers)
        made = sorted((base / "art" / "web").iterdir())
        with Image.open(made[0]) as web:
            web_size = web.size
        web_wall, web_cpu, _ = run_stages(config, args.workers, enabled=("web",))

    cores = cpu / wall
    rate = args.photos / wall
    web_rate = args.photos / web_wall
    web_cores = web_cpu / web_wall
    print(f"\n{args.photos:,} approved photos, 6000x4000 JPEG source ({size_mb:.1f} MB), "
          f"{args.workers} workers; web JPEGs are {web_size[0]}x{web_size[1]}\n")  # fmt: skip
    rows = [
        ("photos through thumb + web + blurhash", f"{rate:.1f} photos/s ({wall:.1f} s)",
         f"Pillow full decode {decode * 1000:.0f} ms a photo ({1 / decode:.1f}/s one core)",
         f"{rate * decode:.2f}", ""),
        ("cores used (CPU time / wall time)", f"{cores:.2f}", f"{os.cpu_count()} cores", "",
         ">= 1.7"),
        ("web alone (web JPEGs only, a second run)", f"{web_rate:.1f} photos/s ({web_wall:.1f} s)",
         "", f"{web_rate * decode:.2f}", "web >= 8 photos/s"),
        ("cores used, web alone", f"{web_cores:.2f}", "", "", ""),
        ("jobs done", ", ".join(f"{k} {v:,}" for k, v in sorted(by_stage.items())),
         f"cp of the source {cp_time * 1000:.0f} ms", "", ""),
    ]  # fmt: skip
    for line in table_lines(rows):
        print(line)
    print_verdicts(
        ["ratio: photos/s times the reference's seconds for one full decode of the source",
         "cores used counts this process and its children only: other load lowers it"],
        [
            ("web >= 8 photos/s (24 MP JPEG sources)", f"{web_rate:.1f} photos/s",
             web_rate >= 8),
            ("both cores busy, >= 1.7 cores on average (whole pipeline)", f"{cores:.2f}",
             cores >= 1.7),
        ],
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
