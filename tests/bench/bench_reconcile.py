"""The reconciler benchmark: a synthetic photo library, timed against find and b3sum.

Run from the repository root (a standalone script, not a pytest test):

    python tests/bench/bench_reconcile.py [--files N] [--repeat R] [--keep [DIR]] [--json FILE]

It times, in one run and on the same files: a first index against ``b3sum`` (hashing speed), a
reconcile of an unchanged tree against ``find`` (listing speed), and a reconcile after 1% of
the files changed, 1% were removed and 0.5% moved, whose report counts must be exact. Speed
targets are reported as met or missed and never fail the run; a wrong count exits with 1.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchtools import work_tree

from core.config import ScanSettings
from core.scan.reconcile import ReconcileReport, ScanProgress, SurveyPool, reconcile_root
from core.store import Catalogue, open_catalogue
from core.store.models import Root

SEED = 20240601
FILES_PER_FOLDER = 100
MAX_YEARS = 10
FIRST_YEAR = 2015
MIN_SIZE = 1024
MAX_SIZE = 50 * 1024
BUFFER = 64 * 1024
NAME_PATTERNS = (("IMG", "CR2"), ("DSC", "NEF"), ("IMG", "JPG"))
MB = 1_000_000  # throughput unit (b3sum and shootwatch alike)
MIB = 1024 * 1024  # memory unit

INDEX_TARGET = 0.9  # first index: at least this fraction of b3sum's MB/s
NO_CHANGE_TARGET = 2.0  # unchanged tree with a warm pool: at most this many times find
RSS_TARGET_MIB = 200.0  # peak RSS of this process


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


class ContentMaker:
    """Distinct file contents, fast: one random buffer behind a unique 8-byte counter."""

    def __init__(self) -> None:
        self.buffer = os.urandom(BUFFER)
        self.counter = 0

    def make(self, size: int) -> bytes:
        self.counter += 1
        return self.counter.to_bytes(8, "little") + self.buffer[: size - 8]


def write_file(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def build_library(root: Path, layout: Layout, maker: ContentMaker) -> int:
    """Write the library under ``root``; returns its total size in bytes."""
    sizes = random.Random(SEED)
    total = 0
    made: set[str] = set()
    for rel_path in layout.rel_paths():
        folder = rel_path.rpartition("/")[0]
        if folder not in made:
            os.makedirs(root / folder, exist_ok=True)
            made.add(folder)
        size = sizes.randint(MIN_SIZE, MAX_SIZE)
        write_file(str(root / rel_path), maker.make(size))
        total += size
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
            rewrite(path, maker)
        elif number in to_remove:
            path.unlink()
        else:
            path.rename(moved_folder / f"R{number:06d}_{path.name}")
    return counts


def rewrite(path: Path, maker: ContentMaker) -> None:
    before = path.stat()
    size = before.st_size + 1024 if before.st_size + 1024 <= MAX_SIZE else before.st_size - 1024
    write_file(str(path), maker.make(size))
    later = before.st_mtime_ns + 10 * 1_000_000_000
    os.utime(path, ns=(before.st_atime_ns, later))


# --- measuring ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    runs: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.runs)


def time_runs(action: Callable[[], object], repeat: int) -> Timing:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        runs.append(time.perf_counter() - started)
    return Timing(runs)


def run_quietly(command: list[str] | str, shell: bool = False) -> None:
    subprocess.run(command, shell=shell, check=True, stdout=subprocess.DEVNULL)


def time_find(root: Path, repeat: int) -> Timing:
    command = ["find", str(root), "-type", "f", "-printf", "%p %s %T@\n"]
    run_quietly(command)  # warm the metadata cache
    return time_runs(lambda: run_quietly(command), repeat)


def time_b3sum(root: Path, repeat: int) -> Timing | None:
    if shutil.which("b3sum") is None:
        return None
    quoted = shlex.quote(str(root))
    command = f"find {quoted} -type f -print0 | xargs -0 -n 5000 b3sum > /dev/null"
    return time_runs(lambda: run_quietly(command, shell=True), max(3, repeat))


@dataclass
class Checks:
    """Correctness of the reports: a wrong count is a bug, not a slow run."""

    mismatches: list[str] = field(default_factory=list)

    def expect(self, what: str, report: ReconcileReport, **expected: int | str) -> None:
        for name, want in expected.items():
            got = getattr(report, name)
            if got != want:
                line = f"MISMATCH {what}: {name} = {got!r}, expected {want!r}"
                print(line, flush=True)
                self.mismatches.append(line)


@dataclass(frozen=True)
class Reconciled:
    seconds: float
    surveys_seconds: float  # until the last folder was walked and hashed
    report: ReconcileReport


def reconcile(
    catalogue: Catalogue, root: Root, workers: int, pool: SurveyPool | None = None
) -> Reconciled:
    started = time.perf_counter()
    surveys_done_at = [started]

    def on_progress(progress: ScanProgress) -> None:
        if progress.surveys_done == progress.surveys_total:
            surveys_done_at[0] = time.perf_counter()

    report = reconcile_root(
        catalogue, root, ScanSettings(workers=workers), on_progress=on_progress, pool=pool
    )
    finished = time.perf_counter()
    return Reconciled(finished - started, surveys_done_at[0] - started, report)


def rss_mib(who: int) -> float:
    return resource.getrusage(who).ru_maxrss * 1024 / MIB  # ru_maxrss is in KiB on Linux


def progress(message: str) -> None:
    print(message, flush=True)


# --- the run --------------------------------------------------------------------------------


@dataclass
class Results:
    figures: dict[str, Any] = field(default_factory=dict)
    rows: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    targets: list[dict[str, Any]] = field(default_factory=list)

    def row(
        self, measure: str, ours: str, reference: str = "", ratio: str = "", target: str = ""
    ) -> None:
        self.rows.append((measure, ours, reference, ratio, target))

    def target(self, name: str, value: float | None, wanted: str, met: bool | None) -> None:
        self.targets.append({"name": name, "value": value, "target": wanted, "met": met})


@dataclass
class Session:
    """What the steps of one benchmark run share."""

    args: argparse.Namespace
    library: Path
    catalogue_dir: Path
    layout: Layout
    results: Results
    checks: Checks
    maker: ContentMaker = field(default_factory=ContentMaker)
    total_bytes: int = 0
    find: Timing | None = None
    b3sum_rate: float | None = None
    paired_b3sum_runs: list[float] = field(default_factory=list)

    @property
    def workers(self) -> int:
        return self.args.workers

    @property
    def find_median(self) -> float:
        assert self.find is not None
        return self.find.median

    @property
    def find_text(self) -> str:
        return f"find {self.find_median:.3f} s"


def measure(session: Session) -> None:
    build(session)
    measure_references(session)
    catalogue: Catalogue | None = None
    try:
        catalogue, root = measure_first_index(session)
        # Cold first: while a pool is open its handler threads make a new pool use forkserver
        # instead of fork, which is not what a one-off scan (the CLI) does.
        cold = measure_no_change_cold(session, catalogue, root)
        with SurveyPool(session.workers) as pool:
            measure_no_change_warm(session, catalogue, root, pool, cold)
            measure_changes(session, catalogue, root, pool)
    finally:
        if catalogue is not None:
            catalogue.close()
    record_rss(session.results)


def build(session: Session) -> None:
    layout, library, figures = session.layout, session.library, session.results.figures
    progress(f"building {layout.files:,} files in {layout.folders:,} folders under {library} ...")
    library.mkdir()
    started = time.perf_counter()
    session.total_bytes = build_library(library, layout, session.maker)
    seconds = time.perf_counter() - started
    progress(f"  built {session.total_bytes / MB:,.0f} MB in {seconds:.1f} s")
    figures["library"] = {
        "files": layout.files,
        "folders": layout.folders,
        "bytes": session.total_bytes,
        "build_seconds": seconds,
    }
    figures["rss_after_build_mib"] = rss_mib(resource.RUSAGE_SELF)


def measure_references(session: Session) -> None:
    repeat, figures = session.args.repeat, session.results.figures
    progress(f"find: a warm-up and {repeat} runs ...")
    session.find = time_find(session.library, repeat)
    figures["find_seconds"] = {"median": session.find.median, "runs": session.find.runs}
    progress(f"b3sum: {max(3, repeat)} runs ...")
    b3sum = time_b3sum(session.library, repeat)
    if b3sum is None:
        print("b3sum not installed: hashing reference skipped", flush=True)
        figures["b3sum"] = None
        return
    session.b3sum_rate = session.total_bytes / MB / b3sum.median
    figures["b3sum"] = {"median": b3sum.median, "runs": b3sum.runs, "mb_per_s": session.b3sum_rate}


def measure_first_index(session: Session) -> tuple[Catalogue, Root]:
    """Index into a fresh catalogue ``--index-repeat`` times; the last one stays open."""
    runs: list[Reconciled] = []
    catalogue: Catalogue | None = None
    repeat, files = session.args.index_repeat, session.layout.files
    try:
        for attempt in range(repeat):
            if catalogue is not None:
                catalogue.close()  # the models are bound to one catalogue per process
                catalogue = None
            if session.b3sum_rate is not None:
                # A b3sum run right before each index: both see the same moment of the machine.
                paired = time_b3sum(session.library, 1)
                session.paired_b3sum_runs.append(paired.runs[0])
            progress(f"first index {attempt + 1}/{repeat} ({session.workers} workers) ...")
            catalogue = open_catalogue(session.catalogue_dir / f"catalogue-{attempt}.db")
            root = Root.create(path=str(session.library), kind="library", added_at=time.time())
            indexed = reconcile(catalogue, root, session.workers)
            session.checks.expect(
                "first index",
                indexed.report,
                status="completed",
                files_scanned=files,
                files_added=files,
                files_hashed=files,
                bytes_hashed=session.total_bytes,
            )
            runs.append(indexed)
    except BaseException:
        if catalogue is not None:
            catalogue.close()
        raise
    record_index(session, runs)
    return catalogue, root


def record_index(session: Session, runs: list[Reconciled]) -> None:
    seconds = statistics.median(run.seconds for run in runs)
    rate = statistics.median(run.report.bytes_hashed / MB / run.seconds for run in runs)
    b3sum_rate = session.b3sum_rate
    if session.paired_b3sum_runs:
        b3sum_rate = session.total_bytes / MB / statistics.median(session.paired_b3sum_runs)
    ratio = rate / b3sum_rate if b3sum_rate else None
    last = runs[-1].report
    session.results.figures["first_index"] = {
        "workers": session.workers,
        "median_seconds": seconds,
        "runs": [run.seconds for run in runs],
        "files": last.files_added,
        "bytes_hashed": last.bytes_hashed,
        "mb_per_s": rate,
        "ratio_to_b3sum": ratio,
        "report": last.as_dict(),
    }
    session.results.row(
        f"first index ({session.workers} workers, {last.files_added:,} files)",
        f"{seconds:.2f} s, {rate:,.0f} MB/s",
        f"b3sum {b3sum_rate:,.0f} MB/s" if b3sum_rate else "b3sum skipped",
        f"{ratio:.2f}" if ratio is not None else "-",
        f">= {INDEX_TARGET:.2f}",
    )
    hashing_rate = statistics.median(
        run.report.bytes_hashed / MB / run.surveys_seconds for run in runs
    )
    hashing_ratio = hashing_rate / b3sum_rate if b3sum_rate else None
    session.results.figures["first_index"]["hashing_phase_mb_per_s"] = hashing_rate
    session.results.figures["first_index"]["hashing_phase_ratio_to_b3sum"] = hashing_ratio
    session.results.row(
        "  of which walking + hashing (until the last folder)",
        f"{hashing_rate:,.0f} MB/s",
        f"b3sum {b3sum_rate:,.0f} MB/s" if b3sum_rate else "b3sum skipped",
        f"{hashing_ratio:.2f}" if hashing_ratio is not None else "-",
        "(info)",
    )
    session.results.target(
        f"first index >= {INDEX_TARGET} x b3sum MB/s",
        ratio,
        f">= {INDEX_TARGET}",
        ratio >= INDEX_TARGET if ratio is not None else None,
    )


def reconcile_unchanged(
    session: Session, catalogue: Catalogue, root: Root, pool: SurveyPool | None, what: str
) -> float:
    done = reconcile(catalogue, root, session.workers, pool)
    session.checks.expect(
        what,
        done.report,
        status="completed",
        files_scanned=session.layout.files,
        files_added=0,
        files_updated=0,
        files_moved=0,
        files_removed=0,
        files_hashed=0,
    )
    return done.seconds


def measure_no_change_cold(session: Session, catalogue: Catalogue, root: Root) -> float:
    progress("no-change reconcile, cold (forks its own workers) ...")
    return reconcile_unchanged(session, catalogue, root, None, "cold no-change reconcile")


def measure_no_change_warm(
    session: Session, catalogue: Catalogue, root: Root, pool: SurveyPool, cold: float
) -> None:
    repeat, results = session.args.repeat, session.results
    progress(f"no-change reconcile with a warm pool, each after a find: {repeat} runs ...")
    # Interleaved with find, so that both see the same moments of a shared, noisy machine;
    # the ratio is of the two medians.
    reconciles, finds = [], []
    for _ in range(repeat):
        finds.append(time_find(session.library, 1).runs[0])
        reconciles.append(
            reconcile_unchanged(session, catalogue, root, pool, "no-change reconcile")
        )
    warm, paired_find = Timing(reconciles), Timing(finds)
    warm_ratio, cold_ratio = warm.median / paired_find.median, cold / session.find_median
    results.figures["no_change_warm"] = {
        "median_seconds": warm.median,
        "runs": warm.runs,
        "find_runs": paired_find.runs,
        "ratio_to_find": warm_ratio,
    }
    results.figures["no_change_cold"] = {"seconds": cold, "ratio_to_find": cold_ratio}
    results.row(
        "no-change reconcile, warm pool",
        f"{warm.median:.3f} s",
        f"find {paired_find.median:.3f} s",
        f"{warm_ratio:.2f}",
        f"<= {NO_CHANGE_TARGET:.1f}",
    )
    results.row(
        "no-change reconcile, cold (own workers)",
        f"{cold:.3f} s",
        session.find_text,
        f"{cold_ratio:.2f}",
        "(info)",
    )
    results.target(
        f"no-change reconcile (warm pool) <= {NO_CHANGE_TARGET} x find",
        warm_ratio,
        f"<= {NO_CHANGE_TARGET}",
        warm_ratio <= NO_CHANGE_TARGET,
    )


def measure_changes(session: Session, catalogue: Catalogue, root: Root, pool: SurveyPool) -> None:
    progress("changing 1%, removing 1% and moving 0.5% of the files ...")
    changes = change_library(session.library, session.layout, session.maker)
    progress("reconcile after the changes (warm pool) ...")
    changed = reconcile(catalogue, root, session.workers, pool)
    report = changed.report
    session.checks.expect(
        "reconcile after changes",
        report,
        status="completed",
        files_updated=changes.changed,
        files_removed=changes.removed,
        files_moved=changes.moved,
        files_added=0,
        files_hashed=changes.changed + changes.moved,
    )
    ratio = changed.seconds / session.find_median
    session.results.figures["changed_reconcile"] = {
        "seconds": changed.seconds,
        "ratio_to_find": ratio,
        "expected": {
            "files_updated": changes.changed,
            "files_removed": changes.removed,
            "files_moved": changes.moved,
        },
        "report": report.as_dict(),
    }
    session.results.row(
        f"reconcile after {changes.changed:,} changed, {changes.removed:,} removed, "
        f"{changes.moved:,} moved",
        f"{changed.seconds:.3f} s",
        session.find_text,
        f"{ratio:.2f}",
        "(info)",
    )


def record_rss(results: Results) -> None:
    own = rss_mib(resource.RUSAGE_SELF)
    child = rss_mib(resource.RUSAGE_CHILDREN)
    after_build = results.figures["rss_after_build_mib"]
    results.figures["peak_rss_mib"] = {"this_process": own, "largest_child_process": child}
    results.row(
        "peak RSS, this process",
        f"{own:,.0f} MiB",
        f"{after_build:,.0f} MiB after building",
        "",
        f"<= {RSS_TARGET_MIB:.0f} MiB",
    )
    results.row("peak RSS, largest child process", f"{child:,.0f} MiB", "", "", "(info)")
    results.target(
        f"peak RSS of this process <= {RSS_TARGET_MIB:.0f} MiB",
        own,
        f"<= {RSS_TARGET_MIB:.0f} MiB",
        own <= RSS_TARGET_MIB,
    )


# --- output ---------------------------------------------------------------------------------


def print_table(results: Results) -> None:
    header = ("measure", "shootwatch", "reference", "ratio", "target")
    rows = [header, *results.rows]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = [
        " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    print()
    print("\n".join(line.rstrip() for line in lines))
    print()
    for target in results.targets:
        value = target["value"]
        shown = f"{value:.2f}" if value is not None else "-"
        verdict = {True: "met", False: "MISSED", None: "not measured"}[target["met"]]
        print(f"target {target['name']}: {verdict} ({shown})")


def environment(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "files": args.files,
        "repeat": args.repeat,
        "index_repeat": args.index_repeat,
        "workers": args.workers,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "b3sum": shutil.which("b3sum") is not None,
    }


def write_json(path: Path, results: Results, checks: Checks, args: argparse.Namespace) -> None:
    document = {
        "environment": environment(args),
        **results.figures,
        "targets": results.targets,
        "mismatches": checks.mismatches,
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"figures written to {path}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000, help="files in the library")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each timed step")
    parser.add_argument(
        "--index-repeat",
        type=int,
        default=None,
        help="first indexes, each into a fresh catalogue (default 1 from 50,000 files, else 3)",
    )
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="survey worker processes"
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
    if min(args.repeat, args.index_repeat, args.workers) < 1:
        parser.error("--repeat, --index-repeat and --workers must be at least 1")
    if args.keep:
        args.workdir = args.keep
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results, checks = Results(), Checks()
    with work_tree("shootwatch-bench-", args.workdir, keep=args.keep is not None) as base:
        session = Session(
            args=args,
            library=base / "library",
            catalogue_dir=base / "catalogue",  # outside the library root
            layout=Layout(args.files),
            results=results,
            checks=checks,
        )
        measure(session)
    print_table(results)
    if args.json is not None:
        write_json(args.json, results, checks, args)
    if checks.mismatches:
        print(f"{len(checks.mismatches)} count mismatch(es): the reconciler reported wrong counts")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
