"""The reconciler benchmark: ``shootwatch scan`` of a synthetic camera library as the user runs
it (whole processes, the user's settings file and catalogue), timed against find and b3sum.

Run from the repository root (a standalone script, not a pytest test):

    python tests/bench/bench_reconcile.py [--files N] [--repeat R] [--index-repeat I]
        [--workers W] [--keep [DIR]] [--json FILE]

Every file is camera-like: a real JPEG whose EXIF gives its make, model and capture time (its
folder's day), padded with its own random bytes to 4-50 KB. It times, in one run and on the
same files, each a whole ``shootwatch scan`` process (the installed script's entry):

- a first scan into a fresh catalogue: walk, hash, describe (sniff, EXIF) and group into
  photos (previews of more than 1,000 photos are left to the engine, as the scan says), next
  to ``b3sum`` of the same files on as many cores as shootwatch's scan workers, run right
  before it;
- a scan of the unchanged tree, next to ``find -printf`` run right before it (medians);
- a scan after 1% of the files changed, 1% were removed and 0.5% moved, whose counts must be
  exact.

Targets (issue 19's) are reported as met or missed and never fail the run; a wrong count exits
with 1.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import platform
import random
import resource
import sqlite3
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

from core.config import WatchSettings, default_workers

SEED = 20240601
FILES_PER_FOLDER = 100
MAX_YEARS = 10
FIRST_YEAR = 2015
MIN_SIZE = 4 * 1024
MAX_SIZE = 50 * 1024
BUFFER = 64 * 1024
NAME_PATTERNS = (("IMG", "CR2"), ("DSC", "NEF"), ("IMG", "JPG"))
SECONDS_BETWEEN_SHOTS = 7
SETTLE_SECONDS = WatchSettings().settle_seconds  # the default, as the settings file keeps it
MB = 1_000_000  # throughput and memory unit

# Issue 19's targets: a first scan (hash + describe) of 100,000 camera-like files in at most
# 60 s, i.e. at least this many files a second, judged from 10,000 files (below that the
# process's start is a large share); peak memory; a no-change scan at most this many times
# find from 10,000 files (4x) and from 100,000 (2x).
FIRST_SCAN_FILES_PER_S = 100_000 / 60
FIRST_SCAN_JUDGED_FROM = 10_000
PEAK_TARGET_MB = 200
NO_CHANGE_TARGETS = ((100_000, 2.0), (10_000, 4.0))


def no_change_target(files: int) -> float | None:
    return next((ratio for size, ratio in NO_CHANGE_TARGETS if files >= size), None)


# --- the synthetic library -----------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """Where file number ``i`` of ``files`` lives: YYYY/YYYY-MM-DD/ folders of ~100 files."""

    files: int

    @property
    def folders(self) -> int:
        return max(1, round(self.files / FILES_PER_FOLDER))

    @property
    def years(self) -> int:
        return max(min(MAX_YEARS, self.folders), -(-self.folders // 365))

    @property
    def days_per_year(self) -> int:
        return -(-self.folders // self.years)

    def folder(self, number: int) -> str:
        year_index, day = divmod(number, self.days_per_year)
        spacing = max(1, 365 // self.days_per_year)
        date = datetime.date(FIRST_YEAR + year_index, 1, 1) + datetime.timedelta(day * spacing)
        return f"{date.year:04d}/{date.isoformat()}"

    def files_in(self, number: int) -> int:
        share, extra = divmod(self.files, self.folders)
        return share + (1 if number < extra else 0)

    def rel_paths(self) -> Iterator[str]:
        """Every file's relative path, in build order (the file number is its position)."""
        for number in range(self.folders):
            folder = self.folder(number)
            for index in range(self.files_in(number)):
                prefix, extension = NAME_PATTERNS[index % len(NAME_PATTERNS)]
                yield f"{folder}/{prefix}_{index + 1:04d}.{extension}"

    def moved_folder(self) -> str:
        year = FIRST_YEAR + self.years
        return f"{year:04d}/{year:04d}-12-31-imported"


PLACEHOLDER_TIME = "2000:01:01 00:00:00"


def camera_jpeg() -> tuple[bytes, int, int]:
    """A small real JPEG with a camera's EXIF; where its capture time's text is, and where a
    padding segment goes (right after the EXIF segment)."""
    image = Image.new("RGB", (160, 120), (90, 120, 150))
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "Canon EOS R5"
    exif.get_ifd(0x8769)[0x9003] = PLACEHOLDER_TIME
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    data = buffer.getvalue()
    at = 2  # the segments after the start-of-image marker, up to the EXIF one and past it
    while data[at : at + 2] != b"\xff\xe1":
        at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
    after_exif = at + 2 + int.from_bytes(data[at + 2 : at + 4], "big")
    return data, data.index(PLACEHOLDER_TIME.encode()), after_exif


class ContentMaker:
    """Distinct camera-like files, fast: one JPEG with its capture time written in, padded by a
    comment segment holding a unique 8-byte counter and random bytes (so the file still ends
    with its end-of-image marker, as a camera's does)."""

    def __init__(self) -> None:
        self.buffer = os.urandom(BUFFER)
        self.counter = 0
        self.jpeg, self.time_at, self.pad_at = camera_jpeg()

    def make(self, size: int, taken: datetime.datetime) -> bytes:
        self.counter += 1
        stamp = taken.strftime("%Y:%m:%d %H:%M:%S").encode()
        head = self.jpeg[: self.time_at] + stamp + self.jpeg[self.time_at + len(stamp) :]
        padding = max(8, size - len(head) - 4)
        segment = b"\xff\xfe" + (padding + 2).to_bytes(2, "big")
        filler = self.counter.to_bytes(8, "little") + self.buffer[: padding - 8]
        return head[: self.pad_at] + segment + filler + head[self.pad_at :]


# Files written an hour ago: a scan waits for files changed within the settle time.
WRITTEN_AGO_NS = 3600 * 1_000_000_000


def write_file(path: str, data: bytes, mtime_ns: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, data)
        os.utime(fd, ns=(mtime_ns, mtime_ns))
    finally:
        os.close(fd)


def taken_at(rel_path: str) -> datetime.datetime:
    """The capture time of a file: its folder's day, a shot every few seconds from 9 o'clock."""
    folder, _, name = rel_path.rpartition("/")
    day = datetime.date.fromisoformat(folder.rpartition("/")[2][:10])
    shot = int(name.split("_")[1].split(".")[0])
    return datetime.datetime.combine(day, datetime.time(9)) + datetime.timedelta(
        seconds=shot * SECONDS_BETWEEN_SHOTS
    )


def build_library(root: Path, layout: Layout, maker: ContentMaker) -> int:
    """Write the library under ``root``; returns its total size in bytes."""
    sizes = random.Random(SEED)
    total = 0
    made: set[str] = set()
    mtime_ns = time.time_ns() - WRITTEN_AGO_NS
    for rel_path in layout.rel_paths():
        folder = rel_path.rpartition("/")[0]
        if folder not in made:
            os.makedirs(root / folder, exist_ok=True)
            made.add(folder)
        data = maker.make(sizes.randint(MIN_SIZE, MAX_SIZE), taken_at(rel_path))
        write_file(str(root / rel_path), data, mtime_ns)
        total += len(data)
    return total


@dataclass(frozen=True)
class Changes:
    changed: int
    removed: int
    moved: int


def change_library(root: Path, layout: Layout, maker: ContentMaker) -> Changes:
    """Rewrite 1% of the files (new content and size, later mtime), delete 1%, move 0.5%."""
    counts = Changes(
        changed=max(1, layout.files // 100),
        removed=max(1, layout.files // 100),
        moved=max(1, layout.files // 200),
    )
    picker = random.Random(SEED + 1)
    chosen = set(picker.sample(range(layout.files), counts.changed + counts.removed + counts.moved))
    order = sorted(chosen, key=lambda _: picker.random())
    to_change = set(order[: counts.changed])
    to_remove = set(order[counts.changed : counts.changed + counts.removed])
    moved_folder = root / layout.moved_folder()
    moved_folder.mkdir(parents=True)
    for number, rel_path in enumerate(layout.rel_paths()):
        if number not in chosen:
            continue
        path = root / rel_path
        if number in to_change:
            rewrite(path, rel_path, maker)
        elif number in to_remove:
            path.unlink()
        else:
            path.rename(moved_folder / f"R{number:06d}_{path.name}")
    return counts


def rewrite(path: Path, rel_path: str, maker: ContentMaker) -> None:
    """New content of another size, 10 s later than the old (still long before the scan)."""
    before = path.stat()
    size = before.st_size + 1024 if before.st_size + 1024 <= MAX_SIZE else before.st_size - 1024
    write_file(str(path), maker.make(size, taken_at(rel_path)), before.st_mtime_ns + 10**10)


# --- measuring ------------------------------------------------------------------------------


@dataclass
class Checks:
    """Correctness of the reports: a wrong count is a bug, not a slow run."""

    mismatches: list[str] = field(default_factory=list)

    def expect(self, what: str, report: dict[str, Any], **expected: int | str) -> None:
        for name, want in expected.items():
            got = report.get(name)
            if got != want:
                self.fail(f"{what}: {name} = {got!r}, expected {want!r}")

    def fail(self, line: str) -> None:
        print(f"MISMATCH {line}", flush=True)
        self.mismatches.append(line)


@dataclass
class Session:
    """What the steps of one benchmark run share."""

    args: argparse.Namespace
    base: Path
    layout: Layout
    checks: Checks
    maker: ContentMaker = field(default_factory=ContentMaker)
    total_bytes: int = 0
    env: dict[str, str] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    rows: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    targets: list[tuple[str, str, bool | None]] = field(default_factory=list)

    @property
    def library(self) -> Path:
        return self.base / "library"

    @property
    def catalogue(self) -> Path:
        return self.base / "catalogue" / "catalogue.db"  # outside the library root

    @property
    def workers(self) -> int:
        return self.args.workers or default_workers()

    def shootwatch(self, *argv: str) -> list[str]:
        return [sys.executable, "-c", SHOOTWATCH, *argv]

    def scan(self, what: str) -> tuple[float, dict[str, Any]]:
        """A whole ``shootwatch scan --json`` process: its seconds and its report."""
        seconds, result = run_timed(self.shootwatch("scan", "--json"), self.env, ok=(0, 1))
        reports = json.loads(result.stdout)
        if len(reports) != 1:
            self.checks.fail(f"{what}: {len(reports)} reports, expected 1")
        if result.returncode:
            self.checks.fail(f"{what}: exit code {result.returncode}")
        return seconds, reports[0]


def progress(message: str) -> None:
    print(message, flush=True)


def median(values: list[float]) -> float:
    return statistics.median(values)


def shell_seconds(command: str) -> float:
    return run_timed(["sh", "-c", command])[0]


def measure(session: Session) -> None:
    build(session)
    set_up_user(session)
    measure_first_scan(session)
    measure_no_change(session)
    measure_changes(session)


def build(session: Session) -> None:
    layout = session.layout
    progress(f"building {layout.files:,} camera-like files in {layout.folders:,} folders ...")
    session.library.mkdir()
    started = time.perf_counter()
    session.total_bytes = build_library(session.library, layout, session.maker)
    seconds = time.perf_counter() - started
    progress(f"  built {session.total_bytes / MB:,.0f} MB in {seconds:.1f} s")
    session.figures["library"] = {
        "files": layout.files,
        "folders": layout.folders,
        "bytes": session.total_bytes,
        "build_seconds": seconds,
    }


def set_up_user(session: Session) -> None:
    """The user's environment, with a settings file where shootwatch looks for it."""
    env = environment(session.base)
    env.pop("SHOOTWATCH_DB", None)  # the catalogue comes from the settings file
    session.env = env
    lines = [f"catalogue = {json.dumps(str(session.catalogue))}"]
    if session.args.workers:
        lines += ["", "[scan]", f"workers = {session.args.workers}"]
    write_settings(env, "\n".join(lines) + "\n")
    session.catalogue.parent.mkdir()


def fresh_catalogue(session: Session) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{session.catalogue}{suffix}").unlink(missing_ok=True)
    run_timed(session.shootwatch("add", str(session.library)), session.env)


def catalogued_photos(session: Session) -> tuple[int, int]:
    """(files described, photos) in the catalogue: the first scan's work beyond hashing."""
    with sqlite3.connect(f"file:{session.catalogue}?mode=ro", uri=True) as db:
        described = db.execute("SELECT COUNT(*) FROM file WHERE format IS NOT NULL").fetchone()[0]
        photos = db.execute("SELECT COUNT(*) FROM photo").fetchone()[0]
    return described, photos


def measure_first_scan(session: Session) -> None:
    """A first scan into a fresh catalogue ``--index-repeat`` times, each right after b3sum of
    the same files on as many cores (both ways of using them: see b3sum_commands)."""
    files, repeat, workers = session.layout.files, session.args.index_repeat, session.workers
    listed = session.base / "files.list"
    with listed.open("wb") as out:
        for rel_path in session.layout.rel_paths():
            out.write(bytes(session.library / rel_path) + b"\0")
    b3sum = b3sum_commands(str(listed), workers)
    for command in b3sum.values():
        shell_seconds(command)  # warm-up: the page cache holds the files for every run alike
    b3sum_runs: dict[str, list[float]] = {name: [] for name in b3sum}
    scans: list[float] = []
    for attempt in range(repeat):
        for name, command in b3sum.items():
            b3sum_runs[name].append(shell_seconds(command))
        fresh_catalogue(session)
        progress(f"first scan {attempt + 1}/{repeat} (whole process, {workers} workers) ...")
        seconds, report = session.scan("first scan")
        session.checks.expect("first scan", report, status="completed", files_scanned=files,
                              files_added=files, files_hashed=files,
                              bytes_hashed=session.total_bytes)  # fmt: skip
        scans.append(seconds)
    # The largest process so far: add, the scans and their workers (b3sum's are far smaller).
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / MB
    described, photos = catalogued_photos(session)
    if described != files:
        session.checks.fail(f"first scan: {described:,} files described, expected {files:,}")
    seconds = median(scans)
    b3sum_medians = {name: median(runs) for name, runs in b3sum_runs.items()}
    best = min(b3sum_medians, key=b3sum_medians.__getitem__)
    reference = b3sum_medians[best]
    rate = files / seconds
    session.figures["first_scan"] = {
        "workers": workers, "median_seconds": seconds, "runs": scans, "files_per_s": rate,
        "mb_per_s": session.total_bytes / MB / seconds, "files_described": described,
        "photos": photos, "peak_mb": peak_mb,
        "b3sum": {name: {"median": b3sum_medians[name], "runs": runs}
                  for name, runs in b3sum_runs.items()},
        "ratio_to_b3sum": seconds / reference,
    }  # fmt: skip
    others = "; ".join(f"{name} {b3sum_medians[name]:.2f} s" for name in b3sum if name != best)
    session.rows += [
        (f"first scan, {files:,} files: hash, describe, group ({photos:,} photos)",
         f"{seconds:.2f} s, {rate:,.0f} files/s, {session.total_bytes / MB / seconds:,.0f} MB/s",
         f"{best} {reference:.2f} s, {session.total_bytes / MB / reference:,.0f} MB/s",
         f"{seconds / reference:.1f}x", f">= {FIRST_SCAN_FILES_PER_S:,.0f} files/s"
         if files >= FIRST_SCAN_JUDGED_FROM else "(info)"),
        ("  b3sum on equal cores, the other way", "", others, "", "(info)"),
        ("first scan peak memory (largest process)", f"{peak_mb:.0f} MB", "", "",
         f"<= {PEAK_TARGET_MB} MB"),
    ]  # fmt: skip
    if files >= FIRST_SCAN_JUDGED_FROM:
        session.targets.append(
            (f"first scan (hash + describe) >= {FIRST_SCAN_FILES_PER_S:,.0f} files/s "
             "(100,000 in 60 s)", f"{rate:,.0f} files/s", rate >= FIRST_SCAN_FILES_PER_S)
        )  # fmt: skip
    session.targets.append((f"first scan peak memory <= {PEAK_TARGET_MB} MB", f"{peak_mb:.0f} MB",
                            peak_mb <= PEAK_TARGET_MB))  # fmt: skip


def find_command(session: Session) -> list[str]:
    return ["find", str(session.library), "-printf", r"%s %T@ %p\n"]


def measure_no_change(session: Session) -> None:
    """Scans of the unchanged tree, each right after a find (a warm-up round first), so both
    see the same moments of a shared, noisy machine; the ratio is of the two medians."""
    repeat, files = session.args.repeat, session.layout.files
    progress(f"no-change scan, each after a find: a warm-up and {repeat} rounds ...")
    finds, scans, starts = [], [], []
    for round_number in range(repeat + 1):
        found = run_timed(find_command(session))[0]
        started = run_timed([sys.executable, "-c", "pass"], session.env)[0]
        scanned, report = session.scan("no-change scan")
        session.checks.expect("no-change scan", report, status="completed", files_scanned=files,
                              files_added=0, files_updated=0, files_moved=0, files_removed=0,
                              files_hashed=0)  # fmt: skip
        if round_number:
            finds.append(found)
            starts.append(started)
            scans.append(scanned)
    scan, find, start = median(scans), median(finds), median(starts)
    ratio = scan / find
    target = no_change_target(files)
    session.figures["find_seconds"] = {"median": find, "runs": finds}
    session.figures["no_change"] = {"median_seconds": scan, "runs": scans, "ratio_to_find": ratio,
                                    "python_start_seconds": start}  # fmt: skip
    session.rows += [
        (f"scan no change, {files:,} files", f"{scan * 1000:.0f} ms",
         f"find -printf {find * 1000:.0f} ms", f"{ratio:.1f}x",
         f"<= {target}x" if target else "(info)"),
        ("  the interpreter's own start, same rounds", "", f"python -c pass {start * 1000:.0f} ms",
         "", "(info)"),
    ]  # fmt: skip
    if target is not None:
        session.targets.append((f"whole-process scan of an unchanged {files:,}-file library <= "
                                f"{target}x find", f"{ratio:.1f}x", ratio <= target))  # fmt: skip


def measure_changes(session: Session) -> None:
    progress("changing 1%, removing 1% and moving 0.5% of the files ...")
    changes = change_library(session.library, session.layout, session.maker)
    # A scan waits for files changed within the settle time to hold still (no watcher comes
    # back for them): a user's scan comes later than that, so the benchmark waits it out.
    time.sleep(SETTLE_SECONDS + 0.5)
    found = run_timed(find_command(session))[0]
    progress("scan after the changes ...")
    seconds, report = session.scan("scan after changes")
    session.checks.expect("scan after changes", report, status="completed",
                          files_updated=changes.changed, files_removed=changes.removed,
                          files_moved=changes.moved, files_added=0,
                          files_hashed=changes.changed + changes.moved)  # fmt: skip
    session.figures["changed_scan"] = {"seconds": seconds, "find_seconds": found,
                                       "report": report}  # fmt: skip
    session.rows.append(
        (f"scan after {changes.changed:,} changed, {changes.removed:,} removed, "
         f"{changes.moved:,} moved (describes the changed)", f"{seconds * 1000:.0f} ms",
         f"find -printf {found * 1000:.0f} ms", f"{seconds / found:.1f}x", "(info)")
    )  # fmt: skip


# --- output ---------------------------------------------------------------------------------


def environment_figures(args: argparse.Namespace, workers: int) -> dict[str, Any]:
    return {
        "files": args.files,
        "repeat": args.repeat,
        "index_repeat": args.index_repeat,
        "workers": workers,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000, help="files in the library")
    parser.add_argument("--repeat", type=int, default=5, help="rounds of the no-change scan")
    parser.add_argument(
        "--index-repeat",
        type=int,
        default=None,
        help="first scans, each into a fresh catalogue (default 1 from 50,000 files, else 3)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="scan.workers in the settings file (default: not set, shootwatch's default of one "
        "per core); b3sum gets as many cores",
    )
    parser.add_argument(
        "--workdir", metavar="DIR", help="make the temporary tree inside DIR (default: $TMPDIR)"
    )
    parser.add_argument(
        "--keep",
        nargs="?",
        const="",
        metavar="DIR",
        help="keep the tree afterwards (made inside DIR when given)",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write every figure as JSON")
    args = parser.parse_args(argv)
    if args.files < 10:
        parser.error("--files must be at least 10")
    if args.index_repeat is None:
        args.index_repeat = 1 if args.files >= 50_000 else 3
    if min(args.repeat, args.index_repeat, args.workers or 1) < 1:
        parser.error("--repeat, --index-repeat and --workers must be at least 1")
    if args.keep:
        args.workdir = args.keep
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    checks = Checks()
    with work_tree("shootwatch-bench-", args.workdir, keep=args.keep is not None) as base:
        session = Session(args=args, base=base, layout=Layout(args.files), checks=checks)
        print(f"bench_reconcile: {platform.python_implementation()} {platform.python_version()}, "
              f"{os.cpu_count()} cores, {session.workers} scan workers, b3sum on "
              f"{session.workers} cores")  # fmt: skip
        measure(session)
    print()
    print("\n".join(table_lines(session.rows)))
    notes = [
        "whole processes: the shootwatch script's entry (tui.launch:main) with the user's "
        "settings file and catalogue; medians; each reference timed right before its "
        "measurement, page cache warm for both",
        f"b3sum gets shootwatch's {session.workers} cores, both ways (--num-threads "
        f"{session.workers}, and {session.workers} processes side by side); the faster is the "
        "reference; it hashes only, where a first scan also describes and groups",
        "the first scan leaves previews of more than 1,000 photos to the engine (and says so)",
        f"the scan after the changes starts once they are {SETTLE_SECONDS:g} s old (the settle "
        "time a scan waits for a file changed a moment ago to hold still)",
    ]
    print_verdicts(notes, session.targets)
    if args.json is not None:
        document = {"environment": environment_figures(args, session.workers), **session.figures,
                    "targets": [{"name": name, "value": shown, "met": met}
                                for name, shown, met in session.targets],
                    "mismatches": checks.mismatches}  # fmt: skip
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        print(f"figures written to {args.json}")
    if checks.mismatches:
        print(f"{len(checks.mismatches)} mismatch(es): the scan reported wrong counts")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
