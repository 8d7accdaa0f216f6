"""The ingest benchmark: 25 MB camera files dropped into an inbox and filed into dated folders,
on the same file system (renames) and across file systems (verified copies), in files/s and
MB/s, next to `cp` (and `mv`) of the same files in the same run.

Run from the repository root (a standalone script, not a pytest test), as root for the
cross-device part (it mounts two tmpfs file systems; without them it says so and skips it):

    python3 tests/bench/bench_ingest.py [--files N] [--round R] [--keep]

Each file starts with a real JPEG header whose EXIF gives one of ten capture days, then 64 KB
of random bytes (every file is its own photo), and is 25 MB in all. Same device: N sparse files
on the work folder's file system, catalogued by the reconciler (not timed), then one ingest
pass (timed: plan, EXIF dates, journal, moves, catalogue). Across devices: the files are real
data on one tmpfs and are filed into another, R at a time (what fits in memory); each round
`cp` copies the same files first, then the ingest pass moves them (copy, fsync, read back and
check blake3, link, remove the source).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.config import load_settings
from core.ingest.run import run_ingest
from core.scan.reconcile import reconcile_roots
from core.store import open_catalogue, queries
from tests.bench.benchtools import print_verdicts, table_lines, work_tree

FILE_SIZE = 25 * 1000 * 1000
HEAD_RANDOM = 64 * 1024


def camera_head(day: int) -> bytes:
    image = Image.new("RGB", (160, 120), (90, 120, 150))
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "Canon EOS R5"
    exif.get_ifd(0x8769)[0x9003] = f"2025:03:{day + 1:02d} 14:{day:02d}:00"
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


HEADS = [camera_head(day) for day in range(10)]
BODY = os.urandom(1 << 20) * (FILE_SIZE // (1 << 20) + 1)  # real data for the tmpfs files


def write_file(path: Path, n: int, sparse: bool) -> None:
    head = HEADS[n % 10] + os.urandom(HEAD_RANDOM)
    with open(path, "wb") as handle:
        handle.write(head)
        if sparse:
            handle.truncate(FILE_SIZE)
        else:
            handle.write(memoryview(BODY)[: FILE_SIZE - len(head)])
    old = time.time() - 60
    os.utime(path, (old, old))


def make_card(inbox: Path, first: int, count: int, sparse: bool) -> list[Path]:
    folder = inbox / f"DCIM/{100 + first // 1000}CANON"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(first, first + count):
        path = folder / f"IMG_{n:05d}.CR3"
        write_file(path, n, sparse)
        paths.append(path)
    return paths


def settings_for(base: Path, destination: Path):
    return load_settings(
        None,
        {"catalogue": str(base / "catalogue.db"), "ingest.destination": str(destination),
         "ingest.settle_seconds": 0.0},
    )  # fmt: skip


def catalogue_inbox(settings, inbox: Path) -> None:
    with open_catalogue(settings.catalogue) as catalogue:
        root = queries.root_for_path(str(inbox))
        if root is None:
            root, _ = queries.add_root(str(inbox), kind="inbox")
        reconcile_roots(catalogue, [root], settings.scan, kind="manual")


def ingest(settings) -> tuple[float, int]:
    with open_catalogue(settings.catalogue) as catalogue:
        started = time.perf_counter()
        report = run_ingest(catalogue.db, settings)
        elapsed = time.perf_counter() - started
    if report.failed or report.duplicates:
        raise SystemExit(f"ingest: {report.failed} failed, {report.duplicates} duplicates")
    return elapsed, report.ingested


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - started


# --- same device --------------------------------------------------------------------------


def same_device(base: Path, files: int) -> dict[str, float]:
    inbox, originals = base / "inbox", base / "Originals"
    inbox.mkdir()
    paths = make_card(inbox, 0, files, sparse=True)
    # References first, on the same files: cp (sparse-aware, as cp is by default) and mv.
    copies = base / "cp-copy"
    cp_time = timed(["cp", "-r", str(inbox), str(copies)])
    moved = base / "mv-moved"
    moved.mkdir()
    mv_time = timed(["mv", *map(str, copies.rglob("*.CR3")), str(moved)])
    shutil.rmtree(copies)
    shutil.rmtree(moved)
    settings = settings_for(base, originals)
    started = time.perf_counter()
    catalogue_inbox(settings, inbox)
    catalogue_time = time.perf_counter() - started
    elapsed, ingested = ingest(settings)
    assert ingested == files and not any(p.exists() for p in paths)
    return {"time": elapsed, "cp": cp_time, "mv": mv_time, "catalogue": catalogue_time}


# --- across devices -----------------------------------------------------------------------


@contextlib.contextmanager
def two_tmpfs(base: Path, size_gb: int) -> Iterator[tuple[Path, Path] | None]:
    mounts = [base / "tmpfs-a", base / "tmpfs-b"]
    mounted = []
    try:
        for mount in mounts:
            mount.mkdir()
            result = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", f"size={size_gb}g", "shootwatch-bench", str(mount)],
                capture_output=True,
                text=True,
            )
            if result.returncode != 0:
                print(f"cannot mount tmpfs ({result.stderr.strip()}): cross-device part skipped")
                yield None
                return
            mounted.append(mount)
        yield mounts[0], mounts[1]
    finally:
        for mount in reversed(mounted):
            subprocess.run(["umount", str(mount)], check=False)


def cross_device(base: Path, files: int, per_round: int) -> dict[str, float] | None:
    size_gb = int(per_round * FILE_SIZE * 1.2 / 1e9) + 1
    with two_tmpfs(base, size_gb) as mounts:
        if mounts is None:
            return None
        source_fs, target_fs = mounts
        inbox, originals = source_fs / "inbox", target_fs / "Originals"
        inbox.mkdir()
        settings = settings_for(base / "cross", originals)
        (base / "cross").mkdir()
        totals = {"time": 0.0, "cp": 0.0, "rounds": 0}
        for first in range(0, files, per_round):
            count = min(per_round, files - first)
            make_card(inbox, first, count, sparse=False)
            copies = target_fs / "cp-copy"
            totals["cp"] += timed(["cp", "-r", str(inbox), str(copies)])
            shutil.rmtree(copies)
            catalogue_inbox(settings, inbox)
            elapsed, ingested = ingest(settings)
            assert ingested == count
            totals["time"] += elapsed
            totals["rounds"] += 1
            shutil.rmtree(originals)  # the next round needs the memory
            originals.mkdir()
    return totals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--round", type=int, default=100, help="cross-device files per round")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    with work_tree("shootwatch-bench-ingest-", keep=args.keep) as base:
        for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
            os.environ[name] = str(base / name.lower())
        same = same_device(base, args.files)
        cross = cross_device(base, args.files, args.round)

    mb = args.files * FILE_SIZE / 1e6
    rows = [
        ("same device: ingest (rename)", f"{args.files / same['time']:,.0f} files/s "
         f"({same['time']:.2f} s, {mb / same['time']:,.0f} MB/s)",
         f"cp -r {args.files / same['cp']:,.0f} files/s ({same['cp']:.2f} s); "
         f"mv {args.files / same['mv']:,.0f} files/s ({same['mv']:.2f} s)",
         f"{same['cp'] / same['time']:.2f}", ">= 200 files/s"),
        ("same device: cataloguing the inbox first (not timed above)",
         f"{same['catalogue']:.1f} s", "", "", ""),
    ]  # fmt: skip
    verdicts = [("same device >= 200 files/s", f"{args.files / same['time']:,.0f} files/s",
                 args.files / same["time"] >= 200)]  # fmt: skip
    if cross is not None:
        ratio = cross["cp"] / cross["time"]
        rows.append(
            ("across devices: ingest (verified copy)",
             f"{args.files / cross['time']:,.1f} files/s ({mb / cross['time']:,.0f} MB/s)",
             f"cp -r {mb / cross['cp']:,.0f} MB/s ({cross['cp']:.1f} s)", f"{ratio:.2f}",
             ">= 0.8 x cp")
        )  # fmt: skip
        verdicts.append(("across devices >= 0.8 x cp throughput", f"{ratio:.2f} x cp",
                         ratio >= 0.8))  # fmt: skip
    print(f"\n{args.files:,} files of {FILE_SIZE / 1e6:.0f} MB ({mb / 1000:,.1f} GB); "
          f"{os.cpu_count()} cores\n")  # fmt: skip
    for line in table_lines(rows):
        print(line)
    notes = ["ratio: the reference's time over shootwatch's (same files, same run)"]
    if cross is not None:
        notes.append(f"across devices: two tmpfs, {cross['rounds']} rounds of {args.round} files")
    print_verdicts(notes, verdicts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
