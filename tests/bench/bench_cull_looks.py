"""The looks benchmark: perceptual hash + focus score (+ clipping) of photos from their
previews, in photos/s, next to Pillow decoding the same previews.

Run from the repository root (a standalone script, not a pytest test):

    python3 tests/bench/bench_cull_looks.py [--photos N] [--repeat R] [--keep]

It builds the previews of the real photos at hand (the camera samples in tests/fixtures/camera
and, when it is beside the checkout, the shared set; the demo's photos), with
``render_preview`` at the default 1600-pixel long edge as the media pipeline does, keeping those
of camera frames (a long edge of at least 1,440 px; small pictures are left out), and a tree of
N preview files (default 5,000) linked to them in turn (hard links: the content is real, the
disk cost is that of the few previews), read once beforehand so the page cache is warm. Then,
R rounds each (default 3), interleaved, the median kept:

- ``measure(open_preview(path))`` for every preview (what the pipeline runs per photo: draft
  decode at 800 px, hash, focus score and where, clipping) in a pool of 2 worker processes fed
  batches of 50 paths, and in this process alone;
- the reference: Pillow decoding each of the same previews in full (``Image.open().load()``),
  in the same pool and batches, and in this process alone.

In this process the rate per second of its CPU time is given too: on a machine shared with
other work, the wall-clock rates say what the work got, that one what it costs.

The target (>= 200 photos/s on 2 cores) is reported as met or missed and never fails the run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from benchtools import print_verdicts, table_lines, work_tree
from PIL import Image

from core.media.looks import ANALYSIS_LONG_EDGE, measure, open_preview
from core.media.preview import DEFAULT_LONG_EDGE, PreviewUnavailable, render_preview
from core.media.sniff import sniff

REPO = Path(__file__).resolve().parents[2]
SOURCES = (
    REPO / "tests" / "fixtures" / "camera",
    REPO.parent / "shared" / "fixtures" / "camera",
    *sorted((REPO / "core" / "demo" / "photos").glob("*")),
)
WORKERS = 2
BATCH = 50
TARGET_PER_SECOND = 200.0
# A camera frame's preview has the setting's long edge; the samples' small pictures (web-sized
# demo photos, thumbnails) would make the work look smaller than a shoot's.
FULL_SIZE_SHARE = 0.9


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=5000, help="previews measured (5,000)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of each, median kept (3)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary tree")
    return parser.parse_args(argv)


def base_previews(folder: Path) -> list[Path]:
    """The preview of every real photo at hand that has one, as the pipeline builds it."""
    folder.mkdir(parents=True)
    seen: set[str] = set()
    made = []
    for source in SOURCES:
        for path in sorted(source.glob("*")) if source.is_dir() else ():
            if path.name in seen or path.name.startswith("bad_") or not path.is_file():
                continue
            seen.add(path.name)
            sniffed = sniff(path)
            if sniffed.reason is not None or sniffed.kind not in ("jpeg", "raw"):
                continue
            try:
                data = render_preview(path, sniffed.format, None, DEFAULT_LONG_EDGE)
            except (PreviewUnavailable, OSError):
                continue
            target = folder / f"{len(made):03d}_{path.stem}.jpg"
            target.write_bytes(data)
            with Image.open(target) as image:
                if max(image.size) < DEFAULT_LONG_EDGE * FULL_SIZE_SHARE:
                    target.unlink()  # a small picture: its preview is no camera frame's
                    continue
            made.append(target)
    return made


def preview_tree(folder: Path, bases: list[Path], count: int) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    for index in range(count):
        base = bases[index % len(bases)]
        path = folder / f"{index:05d}.jpg"
        try:
            os.link(base, path)
        except OSError:
            path.write_bytes(base.read_bytes())
        paths.append(path)
    for path in paths:  # the page cache warm: what is timed is the CPU
        path.read_bytes()
    return paths


def measure_batch(paths: list[str]) -> int:
    for path in paths:
        measure(open_preview(path))
    return len(paths)


def decode_batch(paths: list[str]) -> int:
    for path in paths:
        with Image.open(path) as image:
            image.load()
    return len(paths)


def rate_here(work: Callable[[list[str]], int], paths: list[str]) -> tuple[float, float]:
    """(photos per second of wall time, per second of this process's CPU time): on a machine
    shared with other work the second says what the work costs, the first what it got."""
    started, cpu = time.perf_counter(), time.process_time()
    work(paths)
    return (
        len(paths) / (time.perf_counter() - started),
        len(paths) / (time.process_time() - cpu),
    )


def rate_in_pool(
    pool: ProcessPoolExecutor, work: Callable[[list[str]], int], paths: list[str]
) -> float:
    batches = [paths[at : at + BATCH] for at in range(0, len(paths), BATCH)]
    started = time.perf_counter()
    done = sum(pool.map(work, batches))
    return done / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with work_tree("shootwatch-bench-looks-", keep=args.keep) as base:
        progress("building the previews of the real photos at hand ...")
        bases = base_previews(base / "bases")
        sizes = [Image.open(path).size for path in bases]
        progress(f"  {len(bases)} previews, long edge {max(max(size) for size in sizes)} px")
        paths = [str(path) for path in preview_tree(base / "previews", bases, args.photos)]
        average = statistics.mean(os.path.getsize(path) for path in bases)
        # One photo alone in this process: what the first measure costs is imports, not work.
        measure_batch(paths[:2])
        ours_pool, reference_pool, ours_here, reference_here = [], [], [], []
        with ProcessPoolExecutor(WORKERS) as pool:
            list(pool.map(measure_batch, [paths[:2]] * WORKERS))  # workers started and warm
            for round_number in range(args.repeat):
                progress(f"round {round_number + 1} of {args.repeat} ...")
                ours_pool.append(rate_in_pool(pool, measure_batch, paths))
                reference_pool.append(rate_in_pool(pool, decode_batch, paths))
                progress(f"  pool: {ours_pool[-1]:,.0f} vs {reference_pool[-1]:,.0f} photos/s")
        share = paths[: max(BATCH, len(paths) // 5)]  # one process: a fifth is enough
        for _ in range(args.repeat):
            ours_here.append(rate_here(measure_batch, share))
            reference_here.append(rate_here(decode_batch, share))
    pool_rate, pool_reference = statistics.median(ours_pool), statistics.median(reference_pool)
    here_rate = statistics.median(wall for wall, _cpu in ours_here)
    here_reference = statistics.median(wall for wall, _cpu in reference_here)
    cpu_rate = statistics.median(cpu for _wall, cpu in ours_here)
    cpu_reference = statistics.median(cpu for _wall, cpu in reference_here)
    rows = [
        (
            f"hash + sharpness + clipping, {WORKERS} processes, {len(paths):,} previews",
            f"{pool_rate:,.0f} photos/s",
            f"{pool_reference:,.0f} photos/s (Pillow decode)",
            f"{pool_rate / pool_reference:.2f}",
            f">= {TARGET_PER_SECOND:.0f}/s",
        ),
        (
            f"the same, 1 process, {len(share):,} previews",
            f"{here_rate:,.0f} photos/s",
            f"{here_reference:,.0f} photos/s (Pillow decode)",
            f"{here_rate / here_reference:.2f}",
            "(info)",
        ),
        (
            "the same, per second of CPU time",
            f"{cpu_rate:,.0f} photos/s",
            f"{cpu_reference:,.0f} photos/s (Pillow decode)",
            f"{cpu_rate / cpu_reference:.2f}",
            f"(x {WORKERS} cores: {cpu_rate * WORKERS:,.0f}/s)",
        ),
    ]
    print()
    print("\n".join(table_lines(rows)))
    print()
    notes = [
        f"{len(bases)} distinct previews of real photos ({DEFAULT_LONG_EDGE} px long edge, "
        f"{average / 1024:,.0f} KB on average), linked {len(paths):,} times; page cache warm",
        f"ours decodes in draft mode to {ANALYSIS_LONG_EDGE} px (a quarter of the pixels); "
        "the reference decodes every pixel",
        f"medians of {args.repeat} rounds; {os.cpu_count()} CPUs seen, {WORKERS} workers; "
        f"load average {os.getloadavg()[0]:.1f} at the end (other work slows both columns)",
    ]
    print_verdicts(
        notes,
        [
            (
                f"hash + sharpness of {len(paths):,} previews on {WORKERS} cores "
                f">= {TARGET_PER_SECOND:.0f} photos/s",
                f"{pool_rate:,.0f} photos/s",
                pool_rate >= TARGET_PER_SECOND,
            )
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
