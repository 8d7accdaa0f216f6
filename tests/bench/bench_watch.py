"""The watcher benchmark: bursts of new files in a watched root, timed from close to Event row.

Run from the repository root (a standalone script, not a pytest test):

    python tests/bench/bench_watch.py [--library N] [--settle S] [--debounce-ms MS]
                                      [--sizes 1,100,2000] [--workdir DIR] [--json FILE]

A running engine (watcher and writer thread, as under the TUI or `shootwatch run`) watches a
fresh root, at the default settings (settle time and debounce as core.config declares them)
unless --settle or --debounce-ms say otherwise. With ``--library N`` the root first holds an
N-file library (small JPEG-like files named as a camera names them, in year/day folders) that
the engine indexes before the bursts, and the same bursts are run first under an empty root
in the same run, as the reference. Bursts of new files are written into folders that already
exist, then one burst of the largest size into new folders made during the burst (ten files
each). For every file the latency from its close to its "added" Event row is taken, and
reported over the settle time the run uses: the engine records a file only once it has not
changed for that long. A manual reconcile then acts as the backstop: afterwards the catalogue
must hold exactly the files on disk. Speed targets are reported as met or missed and never
fail the run. A missed file (no "added" Event row within the settle time and 30 s after its
burst: only a reconcile would find it) is a failure: the verdict line says FAILED and the run
exits with 1, as it does for a file still missing after the backstop reconcile.

With ``--renames 0,10,...`` it then runs the rename matrix (tests/faults/renames.py's
scenarios) under the real engine (``shootwatch run``, default settings): 40 folders of 50 files
renamed one after another that many milliseconds apart, once and in 8 waves (gaps up to
300 ms), a parent renamed and 10 of its folders moved 1 s later, folders moved between two
roots at each gap. Each row reports the files left unrecorded, the records that kept their id,
the time from the last move until the catalogue agreed with the disk and what ``status`` said,
next to the settle time (the engine waits that long by design) and a ``find`` of the same tree;
a verdict line says whether any file or id was lost. ``--short-renames`` (CI) runs the waves
and the moves between roots at the first gap only. The matrix reports; it never fails the run.

Each burst is written by a child process, as a copy by another program would be, so that the
writing does not wait on the GIL behind the engine's threads. The latency of a file written
early in a burst includes the rest of the burst: a folder is surveyed once its changes have
settled, so the "written in" and "after end" columns tell the burst's part from the engine's.
For each burst the watcher's sweeps are reported too (after a restart for new folders it reads
the mtime of each watched folder and lists only the changed ones and the new folders below
them): how many folders they checked and listed, and their seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import random
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from benchtools import work_tree

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the tests' rename harness

from core.config import Settings, WatchSettings, load_settings
from core.engine import Engine
from core.store import open_catalogue
from core.store.models import Event, FileRecord, Heartbeat, Root, SyncRun
from tests.faults.renames import (
    FILES,
    FOLDERS,
    WAVES,
    Scenario,
    across_roots_scenario,
    parent_scenario,
    run_scenario,
    waves_scenario,
)

SEED = 20240602
MIN_SIZE = 2 * 1024
MAX_SIZE = 20 * 1024
BUFFER = 64 * 1024
FILES_PER_NEW_FOLDER = 10  # the new-folders burst: 2,000 files into 200 folders
FILES_ALREADY_THERE = 10  # in each existing folder before the engine starts
POLL_SECONDS = 0.02  # how often the catalogue is read for new Event rows
GIVE_UP_SECONDS = 30.0  # after the settle time, a file without an Event row counts as missed
PROBE_TRIES = 5
BACKSTOP_TIMEOUT = 120.0
# The library: small files with a JPEG's first bytes, named and foldered as a camera's.
LIBRARY_FILES_PER_FOLDER = 200  # one day's shoot: 100,000 files are 500 day folders
LIBRARY_FOLDERS_PER_YEAR = 100
LIBRARY_FILE_BYTES = 512
JPEG_START = bytes.fromhex("ffd8ffe000104a46494600010100000100010000")  # SOI, a JFIF APP0
INDEX_SECONDS_PER_FILE = 0.01  # the startup reconcile's timeout grows with the library

TARGET_FILES = 2_000  # the burst the latency target is about
LATENCY_TARGET = 0.6  # p95 of close -> Event row, seconds over the settle time
# 8 waves at a gap of g ms take 8 x 40 x g ms of renames plus 7 pauses of 2 s: 1 s would be
# 5.6 min of renames alone and 2.5 s 13.6 min, so waves run only at gaps up to this one.
WAVES_LONGEST_GAP_MS = 300

EVENT = Event._meta.table_name
SYNC_RUN = SyncRun._meta.table_name
FILE = FileRecord._meta.table_name
HEARTBEAT = Heartbeat._meta.table_name


# --- the files ------------------------------------------------------------------------------


def content(buffer: bytes, number: int, size: int) -> bytes:
    """Distinct file contents, fast: one random buffer behind a unique 8-byte number."""
    return number.to_bytes(8, "little") + buffer[: size - 8]


class ContentMaker:
    """File numbers and sizes for the whole run, so that no two files have the same content."""

    def __init__(self) -> None:
        self.buffer = os.urandom(BUFFER)
        self.counter = 0
        self.sizes = random.Random(SEED)

    def reserve(self, files: int) -> tuple[int, list[int]]:
        """(the first of ``files`` unused numbers, a size for each)."""
        first = self.counter + 1
        self.counter += files
        return first, [self.sizes.randint(MIN_SIZE, MAX_SIZE) for _ in range(files)]

    def make(self) -> bytes:
        number, (size,) = self.reserve(1)
        return content(self.buffer, number, size)


def write_file(path: str, data: bytes) -> float:
    """Write and close ``path``; returns the wall-clock time right after the close."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    return time.time()


@dataclass
class Burst:
    """One burst: which files, in which folders, and when each was closed."""

    name: str
    root: Path
    rel_paths: list[str]
    new_folders: int = 0  # folders made during the burst (0: an existing folder)
    closed: dict[str, float] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    write_seconds: float = 0.0

    @property
    def files(self) -> int:
        return len(self.rel_paths)


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def existing_folder_burst(root: Path, number: int, files: int) -> Burst:
    folder = f"existing/burst-{number}-{files}"
    paths = [f"{folder}/IMG_{index + 1:05d}.CR2" for index in range(files)]
    return Burst(f"{plural(files, 'file')}, existing folder", root, paths)


def new_folders_burst(root: Path, files: int) -> Burst:
    folders = max(1, files // FILES_PER_NEW_FOLDER)
    paths = [
        f"new/shoot-{index % folders + 1:03d}/DSC_{index + 1:05d}.NEF" for index in range(files)
    ]
    paths.sort()  # folder by folder, as a copy from a card goes
    name = f"{plural(files, 'file')}, {plural(folders, 'new folder')}"
    return Burst(name, root, paths, new_folders=folders)


def prepare_root(root: Path, bursts: list[Burst], maker: ContentMaker) -> list[str]:
    """Make the existing folders, each with a few files, before the engine starts."""
    already = []
    for burst in bursts:
        if burst.new_folders:
            continue
        folder = burst.rel_paths[0].rpartition("/")[0]
        os.makedirs(root / folder)
        for index in range(FILES_ALREADY_THERE):
            rel_path = f"{folder}/OLD_{index + 1:04d}.JPG"
            write_file(str(root / rel_path), maker.make())
            already.append(rel_path)
    os.makedirs(root / "probe")
    return already


def write_files(
    root: str,
    rel_paths: list[str],
    sizes: list[int],
    first: int,
    make_folders: bool,
    connection: Connection,
) -> None:
    """In a child process, as another program copying files would: write every file as fast
    as possible, making folders on the way; send back each close time and the seconds taken."""
    buffer = os.urandom(BUFFER)
    made: set[str] = set()
    closed = []
    started = time.perf_counter()
    for number, (rel_path, size) in enumerate(zip(rel_paths, sizes, strict=True), start=first):
        folder = rel_path.rpartition("/")[0]
        if make_folders and folder not in made:
            os.makedirs(os.path.join(root, folder))
            made.add(folder)
        closed.append(write_file(os.path.join(root, rel_path), content(buffer, number, size)))
    connection.send((closed, time.perf_counter() - started))
    connection.close()


def write_burst(burst: Burst, maker: ContentMaker, reader: CatalogueReader) -> None:
    """Write the burst from a child process, reading Event rows meanwhile (the files of new
    folders can be recorded before the burst ends)."""
    first, sizes = maker.reserve(burst.files)
    context = multiprocessing.get_context("spawn")  # not fork: this process has threads
    receiving, sending = context.Pipe(duplex=False)
    arguments = (str(burst.root), burst.rel_paths, sizes, first, bool(burst.new_folders), sending)
    writer = context.Process(target=write_files, args=arguments, name="bench-writer")
    writer.start()
    sending.close()
    try:
        while not receiving.poll(POLL_SECONDS):
            reader.poll_events()
            if not writer.is_alive() and not receiving.poll():
                raise SystemExit(f"the writer process failed (exit code {writer.exitcode})")
        closed, burst.write_seconds = receiving.recv()
    finally:
        receiving.close()
        writer.join()
    burst.closed = dict(zip(burst.rel_paths, closed, strict=True))
    burst.sizes = dict(zip(burst.rel_paths, sizes, strict=True))


def files_on_disk(root: Path) -> dict[str, int]:
    found = {}
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            found[os.path.relpath(path, root)] = os.stat(path).st_size
    return found


def library_folder(number: int) -> str:
    """The year/day folder of the ``number``-th library folder."""
    year = 2000 + number // LIBRARY_FOLDERS_PER_YEAR
    day = number % LIBRARY_FOLDERS_PER_YEAR
    return f"library/{year}/{year}-{1 + day // 28:02d}-{1 + day % 28:02d}"


def build_library(root: Path, files: int) -> int:
    """``files`` distinct small files in year/day folders under ``root/library``; returns the
    number of folders made. Written directly (a few seconds for 100,000): their content
    matters only to the engine's index of them."""
    folders = 0
    body = bytes(LIBRARY_FILE_BYTES - len(JPEG_START) - 8)
    for number in range(files):
        if number % LIBRARY_FILES_PER_FOLDER == 0:
            folder = root / library_folder(number // LIBRARY_FILES_PER_FOLDER)
            folder.mkdir(parents=True)
            folders += 1
        data = JPEG_START + number.to_bytes(8, "little") + body
        fd = os.open(folder / f"DSC_{number:06d}.JPG", os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
    return folders


# --- reading the catalogue ------------------------------------------------------------------


class CatalogueReader:
    """A read-only connection of its own: what anyone else would see of the engine's writes."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        self.last_event = 0
        self.added: dict[str, tuple[float, float]] = {}  # path -> (Event.at, first seen at)
        self.added_twice: Counter[str] = Counter()
        self.other_events: dict[str, Counter[str]] = {}  # path -> kinds other than "added"
        self.fallbacks = 0  # watcher_fallback events: the watcher gave up at some point

    def close(self) -> None:
        self.db.close()

    def poll_events(self) -> None:
        rows = self.db.execute(
            f"SELECT id, at, kind, path FROM {EVENT} WHERE id > ? ORDER BY id",
            (self.last_event,),
        ).fetchall()
        seen = time.time()
        for event_id, at, kind, path in rows:
            self.last_event = event_id
            if kind == "added":
                if path in self.added:
                    self.added_twice[path] += 1
                else:
                    self.added[path] = (at, seen)
            elif kind == "watcher_fallback":
                self.fallbacks += 1
            elif path is not None:
                self.other_events.setdefault(path, Counter())[kind] += 1

    def sync_runs_busy_until(self) -> tuple[int, float]:
        """(runs still running, the latest start or finish of any run)."""
        running, latest = self.db.execute(
            f"SELECT SUM(status = 'running'), MAX(MAX(started_at, COALESCE(finished_at, 0)))"
            f" FROM {SYNC_RUN}"
        ).fetchone()
        return running or 0, latest or 0.0

    def last_sync_run(self) -> int:
        return self.db.execute(f"SELECT COALESCE(MAX(id), 0) FROM {SYNC_RUN}").fetchone()[0]

    def runs_by_kind(self, after_id: int) -> dict[str, dict[str, float]]:
        """The sync runs since ``after_id`` per kind: how many, the files they added, their
        seconds (a whole-root reconcile among a burst's runs is where its files waited)."""
        rows = self.db.execute(
            f"SELECT kind, COUNT(*), SUM(files_added), SUM(COALESCE(duration, 0)) FROM {SYNC_RUN}"
            " WHERE id > ? GROUP BY kind",
            (after_id,),
        ).fetchall()
        return {
            kind: {"runs": runs, "files_added": added or 0, "seconds": seconds}
            for kind, runs, added, seconds in rows
        }

    def failed_runs(self, after_id: int) -> list[dict[str, Any]]:
        rows = self.db.execute(
            f"SELECT id, kind, error FROM {SYNC_RUN} WHERE id > ? AND status = 'failed'"
            " ORDER BY id",
            (after_id,),
        ).fetchall()
        return [{"id": run_id, "kind": kind, "error": error} for run_id, kind, error in rows]

    def finished_run(self, kind: str, after_id: int) -> dict[str, Any] | None:
        self.db.row_factory = sqlite3.Row
        try:
            row = self.db.execute(
                f"SELECT * FROM {SYNC_RUN} WHERE kind = ? AND id > ? AND status != 'running'"
                " ORDER BY id LIMIT 1",
                (kind, after_id),
            ).fetchone()
        finally:
            self.db.row_factory = None
        return dict(row) if row is not None else None

    def media_state(self) -> tuple[str | None, str | None]:
        """(status, task) of the media component's heartbeat."""
        row = self.db.execute(
            f"SELECT status, task FROM {HEARTBEAT} WHERE component = 'media'"
        ).fetchone()
        return (row[0], row[1]) if row is not None else (None, None)

    def undescribed(self) -> int:
        """Files the media component has not looked at yet (no content type)."""
        return self.db.execute(f"SELECT COUNT(*) FROM {FILE} WHERE format IS NULL").fetchone()[0]

    def file_records(self) -> dict[str, int]:
        rows = self.db.execute(f"SELECT rel_path, size FROM {FILE}").fetchall()
        return dict(rows)


def wait_for_run(reader: CatalogueReader, kind: str, after_id: int, timeout: float) -> dict | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = reader.finished_run(kind, after_id)
        if run is not None:
            return run
        time.sleep(POLL_SECONDS)
    return None


def wait_for_files(reader: CatalogueReader, rel_paths: list[str], deadline: float) -> bool:
    """Poll until every path has an "added" Event row; False if the deadline came first."""
    waiting = set(rel_paths)
    while True:
        reader.poll_events()
        waiting.difference_update(reader.added.keys() & waiting)
        if not waiting:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS)


def wait_quiet(reader: CatalogueReader, window: float, timeout: float) -> float:
    """Wait until no sync run is running and none started or finished for ``window`` seconds
    (a late watcher batch would have started one by then); returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        running, latest = reader.sync_runs_busy_until()
        if not running and time.time() - latest >= window:
            break
        time.sleep(POLL_SECONDS)
    reader.poll_events()
    return time.monotonic() - started


# --- measuring ------------------------------------------------------------------------------


def percentile(values: list[float], percent: float) -> float | None:
    """Nearest-rank percentile (the value below which ``percent`` % of them are)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


def spread(values: list[float]) -> dict[str, float | None]:
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "max": max(values, default=None),
    }


@dataclass
class Results:
    library: int = 0  # files in the library the engine had indexed before the bursts
    figures: dict[str, Any] = field(default_factory=dict)
    bursts: list[dict[str, Any]] = field(default_factory=list)
    targets: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    missing_after_backstop: int = 0

    def target(
        self, name: str, value: float | None, wanted: str, met: bool | None, **more: Any
    ) -> None:
        self.targets.append({"name": name, "value": value, "target": wanted, "met": met, **more})

    def warn(self, line: str) -> None:
        print(line, flush=True)
        self.warnings.append(line)

    @property
    def missed(self) -> int:
        """Files of the bursts without an "added" Event row: only a reconcile would find them."""
        return sum(burst["missed"] for burst in self.bursts)

    def document(self) -> dict[str, Any]:
        return {
            "library": self.library,
            **self.figures,
            "bursts": self.bursts,
            "targets": self.targets,
            "warnings": self.warnings,
            "missed": self.missed,
            "missing_after_backstop": self.missing_after_backstop,
        }


@dataclass
class Session:
    """What the steps of one benchmark run share."""

    args: argparse.Namespace
    root: Path
    settings: Settings
    results: Results
    maker: ContentMaker = field(default_factory=ContentMaker)

    @property
    def settle(self) -> float:
        return self.settings.watch.settle_seconds

    @property
    def quiet_window(self) -> float:
        # A watcher batch comes at most a debounce after the last change; its folders are due
        # a settle time later; unsettled files are looked at again within 0.25 s.
        return self.settings.watch.debounce_ms / 1000 + self.settle + 0.3


def progress(message: str) -> None:
    print(message, flush=True)


def make_settings(base: Path, settle: float, debounce_ms: int) -> Settings:
    """Settings of this run only: an empty config file, so the user's own is not read."""
    base.mkdir(exist_ok=True)
    config = base / "config.toml"
    config.write_text("")
    return load_settings(
        config,
        {
            "catalogue": str(base / "catalogue" / "catalogue.db"),
            "watch.settle_seconds": settle,
            "watch.debounce_ms": debounce_ms,
        },
    )


def add_root(settings: Settings, root: Path) -> None:
    catalogue = open_catalogue(settings.catalogue)
    try:
        Root.create(path=str(root), added_at=time.time())
    finally:
        catalogue.close()  # the models are bound to one catalogue per process: the engine's


def wait_for_startup(session: Session, reader: CatalogueReader) -> None:
    timeout = BACKSTOP_TIMEOUT + session.results.library * INDEX_SECONDS_PER_FILE
    run = wait_for_run(reader, "startup", 0, timeout)
    if run is None or run["status"] != "completed":
        raise SystemExit(f"the engine's startup reconcile did not complete: {run}")
    session.results.figures["startup_reconcile"] = run


def wait_for_description(session: Session, reader: CatalogueReader) -> None:
    """Wait until the media component has described every file (its content type and EXIF
    read): the library is then indexed. Its previews are built afterwards, in the background,
    as after any first index; the bursts meet them being built (the figures say so)."""
    timeout = BACKSTOP_TIMEOUT + session.results.library * INDEX_SECONDS_PER_FILE
    started = time.monotonic()
    waiting = reader.undescribed()
    while waiting and time.monotonic() - started < timeout:
        time.sleep(POLL_SECONDS * 10)
        waiting = reader.undescribed()
    if waiting:
        session.results.warn(
            f"WARNING {waiting:,} files were not described {timeout:g} s after the startup "
            "reconcile: the bursts meet a library still being indexed"
        )
    waited = time.monotonic() - started
    status, task = reader.media_state()
    session.results.figures["described"] = {"seconds": waited, "media": f"{status}: {task}"}
    progress(f"  library described in {waited:.1f} s more (media {status}: {task})")


def probe_watcher(session: Session, reader: CatalogueReader) -> None:
    """Write single files until one is recorded: the watcher is then set up and live."""
    for attempt in range(1, PROBE_TRIES + 1):
        rel_path = f"probe/probe-{attempt}.JPG"
        closed = write_file(str(session.root / rel_path), session.maker.make())
        if wait_for_files(reader, [rel_path], time.monotonic() + session.settle + 3.0):
            at = reader.added[rel_path][0]
            session.results.figures["probe"] = {"attempts": attempt, "latency": at - closed}
            progress(f"  watcher live after {attempt} probe file(s), {at - closed:.3f} s")
            return
    session.results.warn(f"WARNING the watcher recorded none of {PROBE_TRIES} probe files")
    session.results.figures["probe"] = {"attempts": PROBE_TRIES, "latency": None}


def watcher_sweeps(engine: Engine, since_ns: int) -> dict[str, float]:
    """What the watcher's sweeps after its restarts (for new folders) read since then: how
    many, the watched folders whose mtime they read, the folders they listed, their seconds."""
    watcher = engine.watching.watcher
    sweeps = [sweep for sweep in getattr(watcher, "sweeps", ()) if sweep.since_ns >= since_ns]
    return {
        "sweeps": len(sweeps),
        "checked": sum(sweep.checked for sweep in sweeps),
        "listed": sum(len(sweep.listed) for sweep in sweeps),
        "appeared": sum(len(sweep.appeared) for sweep in sweeps),
        "seconds": sum(sweep.seconds for sweep in sweeps),
    }


def measure_burst(session: Session, reader: CatalogueReader, burst: Burst, engine: Engine) -> None:
    quiet = wait_quiet(reader, session.quiet_window, 60.0)
    progress(f"burst: {burst.name} (after {quiet:.1f} s of quiet) ...")
    before = reader.last_sync_run()
    started_ns = time.time_ns()
    write_burst(burst, session.maker, reader)
    deadline = time.monotonic() + session.settle + GIVE_UP_SECONDS
    wait_for_files(reader, burst.rel_paths, deadline)
    record_burst(session, reader, burst, reader.failed_runs(before))
    session.results.bursts[-1]["watcher_sweeps"] = sweeps = watcher_sweeps(engine, started_ns)
    if sweeps["sweeps"]:
        progress(
            f"  watcher sweeps: {sweeps['sweeps']}, {sweeps['checked']:,} watched folders "
            f"checked, {sweeps['listed']:,} listed, {sweeps['appeared']:,} appeared, "
            f"{sweeps['seconds']:.3f} s"
        )
    session.results.bursts[-1]["sync_runs"] = runs = reader.runs_by_kind(before)
    progress(
        "  sync runs: "
        + ", ".join(
            f"{kind} {run['runs']} ({run['files_added']:,} added, {run['seconds']:.2f} s)"
            for kind, run in sorted(runs.items())
        )
    )


def record_burst(
    session: Session, reader: CatalogueReader, burst: Burst, failed: list[dict[str, Any]]
) -> None:
    settle = session.settle
    raw, over, seen_over = [], [], []
    missed = []
    for rel_path in burst.rel_paths:
        if rel_path not in reader.added:
            missed.append(rel_path)
            continue
        at, seen = reader.added[rel_path]
        closed = burst.closed[rel_path]
        raw.append(at - closed)
        over.append(at - closed - settle)
        seen_over.append(seen - closed - settle)
    others = Counter()
    for rel_path in burst.rel_paths:
        others.update(reader.other_events.get(rel_path, Counter()))
    twice = sum(reader.added_twice[rel_path] for rel_path in burst.rel_paths)
    last_close = max(burst.closed.values())
    last_row = max((reader.added[p][0] for p in burst.rel_paths if p in reader.added), default=None)
    figures = {
        "name": burst.name,
        "files": burst.files,
        "new_folders": burst.new_folders,
        "write_seconds": burst.write_seconds,
        "over_settle": spread(over),
        "seen_over_settle": spread(seen_over),
        "raw": spread(raw),
        # From the burst's last close to its last Event.at, over settle: the engine's own part.
        "after_end": last_row - last_close - settle if last_row is not None else None,
        "missed": len(missed),
        "missed_paths": missed[:20],
        "added_twice": twice,
        "other_events": dict(others),
        "failed_runs": failed,
    }
    session.results.bursts.append(figures)
    shown = figures["over_settle"]
    progress(
        f"  written in {burst.write_seconds:.2f} s; over settle p50 {seconds(shown['p50'])}, "
        f"p95 {seconds(shown['p95'])}, max {seconds(shown['max'])}; missed {len(missed)}"
    )
    if missed:
        session.results.warn(
            f"WARNING {burst.name}: {len(missed)} file(s) had no 'added' Event row "
            f"{settle + GIVE_UP_SECONDS:g} s after the burst, e.g. {missed[0]}"
        )
    for run in failed:
        session.results.warn(
            f"WARNING {burst.name}: a {run['kind']} sync run failed: {run['error']}"
        )
    if twice or others:
        session.results.warn(
            f"WARNING {burst.name}: {twice} duplicate 'added' Event(s), other events {dict(others)}"
        )


def backstop(session: Session, reader: CatalogueReader, engine: Engine) -> None:
    """A manual reconcile of every root; then the catalogue must match the disk exactly."""
    wait_quiet(reader, session.quiet_window, 60.0)
    progress("backstop: manual reconcile of the root ...")
    before = reader.last_sync_run()
    requested = time.perf_counter()
    engine.request_rescan()
    run = wait_for_run(reader, "manual", before, BACKSTOP_TIMEOUT)
    waited = time.perf_counter() - requested
    disk = files_on_disk(session.root)
    records = reader.file_records()
    missing = sorted(set(disk) - set(records))
    extra = sorted(set(records) - set(disk))
    wrong_size = sorted(p for p in set(disk) & set(records) if disk[p] != records[p])
    results = session.results
    results.missing_after_backstop = len(missing)
    results.figures["backstop"] = {
        "run": run,
        "seconds": waited,
        "files_on_disk": len(disk),
        "file_records": len(records),
        "missing": len(missing),
        "missing_paths": missing[:20],
        "extra": len(extra),
        "extra_paths": extra[:20],
        "wrong_size": len(wrong_size),
        "wrong_size_paths": wrong_size[:20],
        "watcher_fallbacks": reader.fallbacks,
    }
    if run is None:
        results.warn(f"WARNING the manual reconcile did not finish in {BACKSTOP_TIMEOUT:g} s")
    elif run["status"] != "completed":
        results.warn(f"WARNING the manual reconcile ended {run['status']}: {run['error']}")
    elif run["files_added"] or run["files_updated"]:
        results.warn(
            f"WARNING the backstop found {run['files_added']} file(s) the watcher had not "
            f"recorded and {run['files_updated']} it had recorded differently"
        )
    if extra or wrong_size:
        results.warn(
            f"WARNING {len(extra)} record(s) of files not on disk, "
            f"{len(wrong_size)} record(s) with a size other than the file's"
        )
    if missing:
        print(f"MISSING {len(missing)} file(s) after the backstop reconcile, e.g. {missing[0]}")


def record_targets(session: Session) -> None:
    results = session.results
    measured = [burst for burst in results.bursts if burst["files"] == TARGET_FILES]
    name = f"{TARGET_FILES:,}-file burst p95 <= {LATENCY_TARGET} s over settle"
    if not measured:
        results.target(name, None, f"<= {LATENCY_TARGET} s", None)
    for burst in measured:
        p95 = burst["over_settle"]["p95"]
        met = p95 is not None and p95 <= LATENCY_TARGET and burst["missed"] == 0
        results.target(
            f"{name}, 0 missed ({burst['name']})",
            p95,
            f"<= {LATENCY_TARGET}",
            met,
            seen=burst["seen_over_settle"]["p95"],  # info: Event.at is stamped before the write
        )
    missed = results.missed
    results.target("0 files missed (no Event row without a reconcile)", missed, "0", missed == 0)
    missing = results.missing_after_backstop
    results.target("0 missing after the backstop reconcile", missing, "0", missing == 0)


def measure(session: Session, bursts: list[Burst]) -> None:
    session.root.mkdir()
    already = prepare_root(session.root, bursts, session.maker)
    library = session.results.library
    if library:
        progress(f"building a {library:,}-file library ...")
        clock = time.perf_counter()
        folders = build_library(session.root, library)
        built = time.perf_counter() - clock
        session.results.figures["library_build"] = {"folders": folders, "seconds": built}
        progress(f"  {library:,} files in {folders:,} folders in {built:.1f} s")
    add_root(session.settings, session.root)
    session.results.figures["files_before_start"] = len(already) + library
    progress(f"starting the engine on {session.root} (library of {library:,} files) ...")
    engine = Engine(session.settings)
    started = time.perf_counter()
    engine.start()
    reader: CatalogueReader | None = None
    try:
        reader = CatalogueReader(session.settings.catalogue)
        wait_for_startup(session, reader)
        progress(f"  startup reconcile done in {time.perf_counter() - started:.2f} s")
        wait_for_description(session, reader)
        probe_watcher(session, reader)
        for burst in bursts:
            measure_burst(session, reader, burst, engine)
        backstop(session, reader, engine)
    finally:
        if reader is not None:
            reader.close()
        engine.stop()
    record_targets(session)


# --- output ---------------------------------------------------------------------------------


def seconds(value: float | None) -> str:
    return f"{value:.3f}" if value is not None else "-"


def print_table(session: Session) -> None:
    results = session.results
    startup = results.figures.get("startup_reconcile") or {}
    index = (
        f" (indexed by the startup reconcile in "
        f"{startup['finished_at'] - startup['started_at']:.1f} s)"
        if startup.get("finished_at")
        else ""
    )
    print(f"\nlibrary of {results.library:,} files watched{index}:")
    header = (
        "burst",
        "files",
        "written in",
        "p50",
        "p95",
        "max",
        "seen p95",
        "raw p95",
        "after end",
        "missed",
    )
    rows = [header]
    for burst in results.bursts:
        over, seen, raw = burst["over_settle"], burst["seen_over_settle"], burst["raw"]
        rows.append(
            (
                burst["name"],
                f"{burst['files']:,}",
                f"{burst['write_seconds']:.3f}",
                seconds(over["p50"]),
                seconds(over["p95"]),
                seconds(over["max"]),
                seconds(seen["p95"]),
                seconds(raw["p95"]),
                seconds(burst["after_end"]),
                f"{burst['missed']:,}",
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = [
        " | ".join(
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    watch = session.settings.watch
    print(
        f"settle {watch.settle_seconds:g} s, debounce {watch.debounce_ms} ms. Seconds from each "
        "file's close: p50/p95/max of its Event.at over the settle time; seen p95: over the "
        f"settle time until this process could read the row (polled every {POLL_SECONDS} s); "
        "raw p95: Event.at, settle included; after end: from the burst's last close to its "
        "last Event.at, over the settle time."
    )
    print("\n".join(line.rstrip() for line in lines))
    backstop = results.figures.get("backstop")
    if backstop is not None:
        run = backstop["run"] or {}
        print(
            f"backstop reconcile: {run.get('status', 'not finished')} in "
            f"{backstop['seconds']:.2f} s, {run.get('files_added', 0)} added by it; "
            f"{backstop['files_on_disk']:,} files on disk, {backstop['file_records']:,} "
            f"records, {backstop['missing']} missing"
        )
    print()
    for target in results.targets:
        value = target["value"]
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        verdict = {True: "met", False: "MISSED", None: "not measured"}[target["met"]]
        shown = shown if value is not None else "-"
        if target.get("seen") is not None:
            shown += f"; row readable after {target['seen']:.3f}"
        print(f"target {target['name']}, library {results.library:,}: {verdict} ({shown})")


def environment(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    return {
        "sizes": args.sizes,
        "library": args.library,
        "renames": args.renames,
        "short_renames": args.short_renames,
        "settle_seconds": settings.watch.settle_seconds,
        "debounce_ms": settings.watch.debounce_ms,
        "scan_workers": settings.scan.workers,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "watchfiles": metadata.version("watchfiles"),
    }


def write_json(
    path: Path, sessions: list[Session], verdict: str, renames: dict[str, Any] | None
) -> None:
    document = {
        "environment": environment(sessions[0].args, sessions[0].settings),
        "runs": [session.results.document() for session in sessions],
        "verdict": verdict,
        "renames": renames,
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"figures written to {path}")


def watch_verdict(sessions: list[Session]) -> tuple[bool, str]:
    """(whether every file was recorded without a reconcile, the verdict line)."""
    files = sum(burst["files"] for session in sessions for burst in session.results.bursts)
    missed = sum(session.results.missed for session in sessions)
    missing = sum(session.results.missing_after_backstop for session in sessions)
    if not missed and not missing:
        return True, f"ok: 0 of {files:,} files missed, none missing after the backstop"
    where = "; ".join(
        f"library {session.results.library:,}, {burst['name']}: {burst['missed']:,}"
        for session in sessions
        for burst in session.results.bursts
        if burst["missed"]
    )
    return False, (
        f"FAILED: {missed:,} of {files:,} files missed ({where or 'none in the bursts'}), "
        f"{missing:,} missing after the backstop reconcile"
    )


def sizes(text: str) -> list[int]:
    try:
        values = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of whole numbers") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("burst sizes must be whole numbers from 1")
    return values


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = WatchSettings()
    parser.add_argument(
        "--settle",
        type=float,
        default=defaults.settle_seconds,
        metavar="SECONDS",
        help="watch.settle_seconds for the run (default: the setting's, "
        f"{defaults.settle_seconds:g})",
    )
    parser.add_argument(
        "--debounce-ms",
        type=int,
        default=defaults.debounce_ms,
        metavar="MS",
        help=f"watch.debounce_ms for the run (default: the setting's, {defaults.debounce_ms})",
    )
    parser.add_argument(
        "--library",
        type=library_size,
        default=0,
        metavar="N",
        help="an N-file library (year/day folders of camera-named JPEG-like files) under the "
        "root, indexed by the engine before the bursts; the bursts run under an empty root "
        "first, in the same run, as the reference (default 0: the empty root only)",
    )
    parser.add_argument(
        "--sizes",
        type=sizes,
        default=[1, 100, 2_000],
        metavar="N,N,...",
        help="files per burst into an existing folder (default 1,100,2000); the largest is "
        f"also written into new folders of {FILES_PER_NEW_FOLDER} files each",
    )
    parser.add_argument(
        "--workdir", metavar="DIR", help="make the temporary tree inside DIR (default: $TMPDIR)"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write every figure as JSON")
    parser.add_argument(
        "--renames",
        type=gaps,
        default=None,
        metavar="MS,MS,...",
        help="also run the rename matrix with these gaps between renames (e.g. "
        "0,10,50,100,300,1000,2500): one wave at each gap, 8 waves at each gap up to "
        f"{WAVES_LONGEST_GAP_MS} ms, a parent renamed then 10 of its folders moved, folders "
        "moved between two roots at each gap",
    )
    parser.add_argument(
        "--short-renames",
        action="store_true",
        help="run the 8 waves and the moves between roots only at the first gap of --renames "
        "(CI's short run)",
    )
    return parser.parse_args(argv)


def library_size(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("a library has 0 files or more")
    return value


def gaps(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of whole numbers") from None
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError("gaps are whole numbers of milliseconds from 0")
    return values


# --- the rename matrix ----------------------------------------------------------------------


def rename_scenarios(
    gaps_ms: list[int], short: bool
) -> tuple[list[tuple[int | None, Scenario]], list[str]]:
    """The rows to run, as (gap or None, scenario), and a sentence for each left out."""
    rows: list[tuple[int | None, Scenario]] = [(gap, waves_scenario(1, gap)) for gap in gaps_ms]
    left_out = []
    extra_gaps = gaps_ms[:1] if short else gaps_ms
    if short and len(gaps_ms) > 1:
        left_out.append(
            f"{WAVES} waves and moves between roots at {', '.join(map(str, gaps_ms[1:]))} ms "
            "(--short-renames: only at the first gap)"
        )
    too_long = [gap for gap in extra_gaps if gap > WAVES_LONGEST_GAP_MS]
    if too_long:
        left_out.append(
            f"{WAVES} waves at {', '.join(map(str, too_long))} ms (over "
            f"{WAVES_LONGEST_GAP_MS} ms a gap makes {WAVES} waves last minutes)"
        )
    rows += [(gap, waves_scenario(WAVES, gap)) for gap in extra_gaps if gap not in too_long]
    rows.append((None, parent_scenario()))
    rows += [(gap, across_roots_scenario(gap)) for gap in extra_gaps]
    return rows, left_out


def find_seconds(roots: list[Path]) -> float:
    """A `find` of the roots' files: the cheapest look at the whole tree, as a reference."""
    clock = time.perf_counter()
    subprocess.run(["find", *map(str, roots), "-type", "f"], capture_output=True)
    return time.perf_counter() - clock


def rename_row(gap: int | None, scenario: Scenario, workdir: str | None) -> dict[str, Any]:
    with work_tree("shootwatch-bench-renames-", workdir) as base:
        session, outcome = run_scenario(scenario, base)
        find = find_seconds(session.roots)
    healthy = outcome.status_code == 0
    problems = []
    if outcome.unrecorded:
        problems.append(f"{outcome.unrecorded:,} unrecorded")
    if outcome.kept < outcome.files:
        problems.append(f"{outcome.files - outcome.kept:,} ids lost")
    if outcome.stale or outcome.doubled:
        problems.append(f"{outcome.stale} stale and {outcome.doubled} doubled records")
    if healthy and problems:
        problems.append("status said healthy")  # the engine's word against the disk
    elif not healthy:
        problems.append("status not healthy")
    return {
        "scenario": scenario.name,
        "gap_ms": gap,
        "files": outcome.files,
        "unrecorded": outcome.unrecorded,
        "stale": outcome.stale,
        "doubled": outcome.doubled,
        "ids_kept": outcome.kept,
        "ids_kept_percent": 100 * outcome.kept / outcome.files if outcome.files else None,
        "quiet_seconds": outcome.quiet,
        "status_code": outcome.status_code,
        "status_problems": outcome.status.get("problems", []),
        "find_seconds": find,
        "failures": problems,
    }


def rename_matrix(gaps_ms: list[int], short: bool, workdir: str | None) -> dict[str, Any]:
    """Run the rename matrix, printing each row as it comes; every figure, for the JSON."""
    settle_floor = load_settings(None, {}).watch.settle_seconds
    scenarios, left_out = rename_scenarios(gaps_ms, short)
    print(
        f"\nrename matrix: {FOLDERS} folders x {FILES} files under `shootwatch run` with "
        f"default settings (settle {settle_floor:g} s: the engine waits that long by design); "
        "quiet: from the last move until the catalogue agreed with the disk and every record "
        "was back; find: `find` of the same tree in the same run, the reference"
    )
    for line in left_out:
        print(f"not run: {line}")
    header = ("scenario", "files", "unrecorded", "ids kept", "quiet", "find", "status", "verdict")
    print(f"| {' | '.join(header)} |")
    print(f"|{'---|' * len(header)}")
    rows = []
    for gap, scenario in scenarios:
        row = rename_row(gap, scenario, workdir)
        rows.append(row)
        print(
            f"| {row['scenario']} | {row['files']:,} | {row['unrecorded']:,} | "
            f"{row['ids_kept_percent']:.1f} % | {row['quiet_seconds']:.1f} s | "
            f"{row['find_seconds'] * 1000:.0f} ms | "
            f"{'healthy' if row['status_code'] == 0 else 'needs attention'} | "
            f"{'; '.join(row['failures']) or 'ok'} |",
            flush=True,
        )
    failed = [row for row in rows if row["failures"]]
    unrecorded = sum(row["unrecorded"] for row in rows)
    lost = sum(row["files"] - row["ids_kept"] for row in rows)
    if failed:
        verdict = (
            f"FAILED in {len(failed)} of {len(rows)} scenarios: {unrecorded:,} files "
            f"unrecorded, {lost:,} ids lost ("
            + "; ".join(f"{row['scenario']}: {', '.join(row['failures'])}" for row in failed)
            + ")"
        )
    else:
        verdict = f"ok: {len(rows)} scenarios, 0 files unrecorded, every id kept, status healthy"
    print(f"rename verdict: {verdict}")
    return {
        "folders": FOLDERS,
        "files_per_folder": FILES,
        "gaps_ms": gaps_ms,
        "settle_seconds": settle_floor,
        "not_run": left_out,
        "rows": rows,
        "unrecorded": unrecorded,
        "ids_lost": lost,
        "failed": len(failed),
        "verdict": verdict,
    }


def run_library(args: argparse.Namespace, library: int) -> Session:
    """The bursts under a fresh engine watching a root that holds a ``library``-file library."""
    with work_tree("shootwatch-bench-watch-", args.workdir) as base:
        settings = make_settings(base, args.settle, args.debounce_ms)
        root = base / "root"  # the catalogue is beside it, not inside
        bursts = [
            existing_folder_burst(root, number, files)
            for number, files in enumerate(args.sizes, start=1)
        ]
        bursts.append(new_folders_burst(root, max(args.sizes)))
        results = Results(library=library)
        session = Session(args=args, root=root, settings=settings, results=results)
        measure(session, bursts)
    print_table(session)
    return session


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # The empty root first: the reference for the library's figures, measured in the same run.
    libraries = [0, args.library] if args.library else [0]
    sessions = [run_library(args, library) for library in libraries]
    recorded, verdict = watch_verdict(sessions)
    print(f"\nwatch verdict: {verdict}")
    renames = None
    if args.renames:
        # Reported, never a failed run: its verdict line says what was lost.
        renames = rename_matrix(args.renames, args.short_renames, args.workdir)
    if args.json is not None:
        write_json(args.json, sessions, verdict, renames)
    return 0 if recorded else 1


if __name__ == "__main__":
    sys.exit(main())
