"""The ingest benchmark: camera files dropped into an inbox and filed into dated folders by
``shootwatch ingest`` as the user runs it (a whole process that hashes every file, then files
it), on the same file system (renames) and across file systems (verified copies), next to
``b3sum`` plus ``mv`` or ``cp`` of the same files in the same run.

Run from the repository root (a standalone script, not a pytest test), as root for the
cross-device part (it mounts two tmpfs file systems; without them it says so and skips it):

    python3 tests/bench/bench_ingest.py [--files N] [--round R] [--file-mb M] [--keep]

Each file starts with a real JPEG header whose EXIF gives one of ten capture days, then 64 KB
of random bytes (every file is its own photo), then real data up to M MB (25 by default; no
sparse files, so every reference reads and writes every byte). The files are written, then
left for the default settle time (``ingest.settle_seconds``: a file is filed once it has held
still that long), then the references and ``shootwatch ingest`` run on them, with the user's
settings file (``ingest.destination``, ``ingest.inboxes``) and catalogue.

``shootwatch ingest`` catalogues the inbox first, which hashes every file (blake3, with the
scan's workers), then files them: so its references hash the same files with ``b3sum`` on as
many cores, plus ``mv`` (same device) or ``cp`` (across devices). Same device: N files on the
work folder's file system, renamed. Across devices: files on one tmpfs filed into another, R
at a time (what fits in memory), each a verified copy (copy, fsync, read back and check
blake3, link, remove the source).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench_cli import SHOOTWATCH, environment
from benchtools import (
    b3sum_commands,
    print_verdicts,
    run_timed,
    table_lines,
    work_tree,
    write_settings,
)
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.config import IngestSettings, default_workers

HEAD_RANDOM = 64 * 1024
SETTLE_SECONDS = IngestSettings().settle_seconds  # the default, as the settings file keeps it
TARGET_RATIO = 0.8  # at least this share of the reference's throughput


def camera_head(day: int) -> bytes:
    image = Image.new("RGB", (160, 120), (90, 120, 150))
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "Canon EOS R5"
    exif.get_ifd(0x8769)[0x9003] = f"2025:03:{day + 1:02d} 14:{day:02d}:00"
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


HEADS = [camera_head(day) for day in range(10)]


@dataclass(frozen=True)
class Card:
    """How the files are made: ``file_size`` bytes each, real data after the head."""

    file_size: int

    def body(self) -> bytes:
        return os.urandom(1 << 20) * (self.file_size // (1 << 20) + 1)

    def write_file(self, path: Path, n: int, body: bytes) -> None:
        head = HEADS[n % 10] + os.urandom(HEAD_RANDOM)
        with open(path, "wb") as handle:
            handle.write(head)
            handle.write(memoryview(body)[: max(0, self.file_size - len(head))])
        old = time.time() - 60
        os.utime(path, (old, old))

    def make(self, inbox: Path, first: int, count: int) -> list[Path]:
        folder = inbox / f"DCIM/{100 + first // 1000}CANON"
        folder.mkdir(parents=True, exist_ok=True)
        body = self.body()
        paths = []
        for n in range(first, first + count):
            path = folder / f"IMG_{n:05d}.CR3"
            self.write_file(path, n, body)
            paths.append(path)
        # Ingest files a file once it has held still for the settle time; a user's card copy
        # is older than that by the time they file it, so the benchmark waits it out.
        time.sleep(SETTLE_SECONDS + 0.5)
        return paths


class User:
    """The user's environment, settings file and catalogue, for ``shootwatch ingest``."""

    def __init__(self, base: Path, inbox: Path, destination: Path) -> None:
        base.mkdir(parents=True, exist_ok=True)
        self.env = environment(base)
        self.env.pop("SHOOTWATCH_DB", None)  # the catalogue comes from the settings file
        write_settings(
            self.env,
            f"catalogue = {json.dumps(str(base / 'catalogue.db'))}\n\n[ingest]\n"
            f"destination = {json.dumps(str(destination))}\n"
            f"inboxes = [{json.dumps(str(inbox))}]\n",
        )

    def ingest(self, expected: int) -> float:
        """A whole ``shootwatch ingest`` process: its seconds; all ``expected`` files filed."""
        command = [sys.executable, "-c", SHOOTWATCH, "ingest", "--json"]
        seconds, result = run_timed(command, self.env)
        report = json.loads(result.stdout)
        if report["ingested"] != expected or report["failed"] or report["duplicates"]:
            raise SystemExit(
                f"ingest filed {report['ingested']} of {expected} files, "
                f"{report['failed']} failed, {report['duplicates']} duplicates, "
                f"{report['waiting']} still settling"
            )
        return seconds


def timed(command: list[str]) -> float:
    return run_timed(command)[0]


def b3sum_seconds(paths: list[Path], listed: Path, workers: int) -> tuple[str, float]:
    """The faster way of b3sum on ``workers`` cores (see b3sum_commands) over ``paths``."""
    listed.write_bytes(b"".join(bytes(path) + b"\0" for path in paths))
    runs = {name: timed(["sh", "-c", command])
            for name, command in b3sum_commands(str(listed), workers).items()}  # fmt: skip
    best = min(runs, key=runs.__getitem__)
    return best, runs[best]


# --- same device --------------------------------------------------------------------------


def same_device(base: Path, files: int, card: Card, workers: int) -> dict[str, float | str]:
    inbox, originals = base / "inbox", base / "Originals"
    inbox.mkdir()
    paths = card.make(inbox, 0, files)
    # References first, on the same files: cp, mv and b3sum on equal cores.
    copies = base / "cp-copy"
    cp_time = timed(["cp", "-r", str(inbox), str(copies)])
    moved = base / "mv-moved"
    moved.mkdir()
    mv_time = timed(["mv", *map(str, copies.rglob("*.CR3")), str(moved)])
    shutil.rmtree(copies)
    shutil.rmtree(moved)
    b3sum_way, b3sum_time = b3sum_seconds(paths, base / "files.list", workers)
    user = User(base / "user", inbox, originals)
    elapsed = user.ingest(files)
    assert not any(path.exists() for path in paths)
    return {"time": elapsed, "cp": cp_time, "mv": mv_time, "b3sum": b3sum_time,
            "b3sum_way": b3sum_way}  # fmt: skip


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


def cross_device(
    base: Path, files: int, per_round: int, card: Card, workers: int
) -> dict[str, float | str] | None:
    size_gb = int(per_round * card.file_size * 1.2 / 1e9) + 1
    with two_tmpfs(base, size_gb) as mounts:
        if mounts is None:
            return None
        source_fs, target_fs = mounts
        inbox, originals = source_fs / "inbox", target_fs / "Originals"
        inbox.mkdir()
        user = User(base / "cross", inbox, originals)
        totals: dict[str, float | str] = {"time": 0.0, "cp": 0.0, "b3sum": 0.0, "rounds": 0}
        for first in range(0, files, per_round):
            count = min(per_round, files - first)
            paths = card.make(inbox, first, count)
            copies = target_fs / "cp-copy"
            totals["cp"] += timed(["cp", "-r", str(inbox), str(copies)])
            shutil.rmtree(copies)
            totals["b3sum_way"], b3sum_time = b3sum_seconds(paths, base / "files.list", workers)
            totals["b3sum"] += b3sum_time
            totals["time"] += user.ingest(count)
            totals["rounds"] += 1
            shutil.rmtree(originals)  # the next round needs the memory
            originals.mkdir()
    return totals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=200, help="files (default 200: 5 GB)")
    parser.add_argument("--round", type=int, default=100, help="cross-device files per round")
    parser.add_argument("--file-mb", type=float, default=25.0, help="each file's size in MB")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    card = Card(int(args.file_mb * 1e6))
    workers = default_workers()  # the scan's (the settings file leaves scan.workers as it is)
    with work_tree("shootwatch-bench-ingest-", keep=args.keep) as base:
        same = same_device(base, args.files, card, workers)
        cross = cross_device(base, args.files, args.round, card, workers)

    mb = args.files * card.file_size / 1e6
    reference = same["b3sum"] + same["mv"]
    ratio = reference / same["time"]
    rows = [
        ("same device: shootwatch ingest (hash, then rename)",
         f"{args.files / same['time']:,.1f} files/s ({same['time']:.2f} s, "
         f"{mb / same['time']:,.0f} MB/s)",
         f"{same['b3sum_way']} + mv {args.files / reference:,.1f} files/s "
         f"({same['b3sum']:.2f} + {same['mv']:.2f} s)",
         f"{ratio:.2f}", f">= {TARGET_RATIO} x reference"),
        ("  other references, same files", "",
         f"cp -r {mb / same['cp']:,.0f} MB/s ({same['cp']:.2f} s); "
         f"mv alone {args.files / same['mv']:,.0f} files/s", "", "(info)"),
    ]  # fmt: skip
    verdicts = [(f"same device >= {TARGET_RATIO} x (b3sum + mv) throughput", f"{ratio:.2f} x",
                 ratio >= TARGET_RATIO)]  # fmt: skip
    if cross is not None:
        reference = cross["cp"] + cross["b3sum"]
        ratio = reference / cross["time"]
        rows.append(
            ("across devices: shootwatch ingest (hash, then verified copy)",
             f"{args.files / cross['time']:,.1f} files/s ({mb / cross['time']:,.0f} MB/s)",
             f"cp -r + {cross['b3sum_way']} {mb / reference:,.0f} MB/s "
             f"({cross['cp']:.1f} + {cross['b3sum']:.1f} s)", f"{ratio:.2f}",
             f">= {TARGET_RATIO} x reference")
        )  # fmt: skip
        verdicts.append((f"across devices >= {TARGET_RATIO} x (cp + b3sum) throughput",
                         f"{ratio:.2f} x", ratio >= TARGET_RATIO))  # fmt: skip
    print(
        f"\n{args.files:,} files of {card.file_size / 1e6:g} MB ({mb / 1000:,.1f} GB); "
        f"{os.cpu_count()} cores, {workers} scan workers, b3sum on {workers} cores\n"
    )
    for line in table_lines(rows):
        print(line)
    notes = [
        "ratio: the reference's time over shootwatch's (same files, same run)",
        "shootwatch ingest: a whole process with the user's settings file; it hashes every "
        "file (cataloguing the inbox), then files it; the references hash the same files "
        f"with b3sum on {workers} cores (the faster of --num-threads {workers} and {workers} "
        "processes) and move (mv) or copy (cp -r) them",
        f"files written {SETTLE_SECONDS:g} s before (ingest.settle_seconds, the default); "
        "page cache warm for every side",
    ]
    if cross is not None:
        notes.append(f"across devices: two tmpfs, {cross['rounds']} rounds of {args.round} files")
    print_verdicts(notes, verdicts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
