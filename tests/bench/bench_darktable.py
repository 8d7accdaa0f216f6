"""The darktable poller benchmark: polls of a 100,000-image library.db, and change -> Event time.

Run from the repository root (a standalone script, not a pytest test):

    python3 tests/bench/bench_darktable.py [--images N] [--rounds R] [--latency-samples S]
                                           [--keep]

The library is the real darktable 4.2 fixture (tests/fixtures/darktable-4.2) with its rows
copied K = ceil(N / 17) times by SQL, in darktable's own schema: each copy has its own film
rolls (folders suffixed ``_<k>``, not on disk), images with shifted ids, and the rows darktable
keeps per image (history_hash, color_labels, tagged_images, history, module_order,
masks_history, meta_data). It then times, in one run:

- the first full read of the library and its apply to a fresh catalogue (the startup cost);
- a poll when nothing changed (``LibraryReader.read()`` returns None), and the same after
  darktable wrote something that is not an image (a row of selected_images);
- a poll after 100 images changed in one write (stars, colour labels, change and export
  times), read and apply apart; the apply must report exactly 100 changed images;
- through a running engine at its real cadence, the time from a write to library.db to its
  "rated" Event row. It includes the deliberate quiet time (darktable.quiet_seconds, 1 s).

The references are measured in the same rounds as the polls, interleaved with them: the
sqlite3 command line scanning the images table once (its process start included), and a plain
Python sqlite3 connect, ``SELECT id, flags FROM images``, fetchall and close. Speed targets
are reported as met or missed and never fail the run; a wrong poll result fails it.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import importlib.util
import math
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from benchtools import print_verdicts, table_lines, work_tree

from core.config import Settings, load_settings
from core.darktable import poller as poller_module
from core.darktable.facts import darktable_time
from core.darktable.library import LibraryPaths
from core.darktable.poller import LibraryReader
from core.darktable.sync import ApplyReport, DarktableSync, LibraryRead
from core.engine import Engine
from core.store import open_catalogue
from core.store.models import DarktableImage, Event

SEED = 20240603
SQLITE_CLI = "/usr/bin/sqlite3"
CLI_SCAN_SQL = "SELECT count(*), sum(flags) FROM images"
CLI_START_SQL = "SELECT 1"  # opens the file and reads its schema: the scan's overhead
PER_IMAGE_TABLES = {  # darktable's tables with one or more rows per image: the image id column
    "history_hash": "imgid",
    "color_labels": "imgid",
    "tagged_images": "imgid",
    "history": "imgid",
    "module_order": "imgid",
    "masks_history": "imgid",
    "meta_data": "id",
}
NOT_AN_IMAGE_WRITE = (  # what darktable writes when the selection changes: no image changes
    "INSERT OR REPLACE INTO selected_images VALUES (5)",
    "DELETE FROM selected_images WHERE imgid = 5",
)
CHANGED_IMAGES = 100
CHANGED_ONE_TARGET = 0.150  # a poll after darktable changed one image: read and applied
CHANGE_KINDS = ("stars", "label", "edited", "exported")
NEXT_STARS_SQL = "(flags & ~7) | ((flags & 7) % 5 + 1)"  # other stars than now, 1 to 5
WRITE_BUSY_SECONDS = 10.0  # our writes may wait for a read of the engine's to finish

EVENT_POLL_SECONDS = 0.02  # how often the catalogue is read for the Event row
LATENCY_SPACING = 1.5  # seconds from one change to the next: each is its own poll
GAP_AFTER_ROW = 0.3  # and at least this long after the last one's Event row was read
EVENT_TIMEOUT_MARGIN = 10.0  # over the engine's fallback poll interval: then the row is missed
FIRST_SYNC_TIMEOUT = 900.0
POLL_SECONDS = 60.0  # darktable.poll_seconds for the engine: only the watch wakes it up
QUIET_SECONDS = 1.0  # darktable.quiet_seconds (the default)

NO_CHANGE_TARGET = 0.150  # seconds, the median of a no-change poll at 100k images
LATENCY_TARGET = 2.0  # seconds from a change to its Event row (p95)

EVENT = Event._meta.table_name
DARKTABLE_IMAGE = DarktableImage._meta.table_name


def load_darktable_fixture() -> ModuleType:
    """tests/darktable_fixture.py, by its path: this script runs with tests/bench on sys.path."""
    path = Path(__file__).resolve().parents[1] / "darktable_fixture.py"
    spec = importlib.util.spec_from_file_location("darktable_fixture", path)
    assert spec is not None and spec.loader is not None, f"cannot load {path}"
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


# --- the big library ------------------------------------------------------------------------


@dataclass(frozen=True)
class BigLibrary:
    paths: LibraryPaths  # library.db, and data.db in config/ (a copy of it is beside library.db)
    images: int
    film_rolls: int
    copies: int  # of the fixture's rows, the fixture itself included
    build_seconds: float
    size: int  # bytes of library.db after the build


def table_columns(connection: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in connection.execute(f"PRAGMA table_info({table})")]


def copy_rows(
    connection: sqlite3.Connection,
    table: str,
    shifted: dict[str, str],
    original: str,
) -> None:
    """Insert one copy of ``table``'s fixture rows (``original``: the WHERE that picks them)
    for every k in the temp table ``copies``; ``shifted`` maps a column to its expression in k.
    Every other column, as PRAGMA table_info lists them, is copied as it is."""
    columns = table_columns(connection, table)
    values = ", ".join(shifted.get(column, column) for column in columns)
    connection.execute(
        f"INSERT INTO {table} ({', '.join(columns)})"
        f" SELECT {values} FROM {table}, copies WHERE {original} ORDER BY k",
    )


def build_library(base: Path, images_wanted: int) -> BigLibrary:
    """copy_fixture(base), then the fixture's rows copied until there are ``images_wanted``
    images (rounded up to whole copies), in one transaction."""
    darktable = load_darktable_fixture().copy_fixture(base)
    paths: LibraryPaths = darktable.paths
    shutil.copy(paths.data, paths.library.parent / "data.db")  # where the engine looks
    started = time.perf_counter()
    connection = sqlite3.connect(paths.library, isolation_level=None)
    try:
        fixture_images, image_stride = connection.execute(
            "SELECT count(*), max(id) FROM images"
        ).fetchone()
        fixture_rolls, roll_stride = connection.execute(
            "SELECT count(*), max(id) FROM film_rolls"
        ).fetchone()
        copies = max(1, math.ceil(images_wanted / fixture_images))
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("CREATE TEMP TABLE copies (k INTEGER PRIMARY KEY)")
        connection.execute(  # k = 1 .. copies - 1: the fixture's own rows are copy 0
            "WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < ?)"
            " INSERT INTO temp.copies SELECT k FROM n WHERE k < ?",
            (copies - 1, copies),
        )
        copy_rows(
            connection,
            "film_rolls",
            {"id": f"id + {roll_stride} * k", "folder": "folder || '_' || k"},
            f"id <= {roll_stride}",
        )
        copy_rows(
            connection,
            "images",
            {
                "id": f"id + {image_stride} * k",
                "group_id": f"group_id + {image_stride} * k",
                "film_id": f"film_id + {roll_stride} * k",
            },
            f"id <= {image_stride}",
        )
        for table, image_column in PER_IMAGE_TABLES.items():
            if table in tables:
                copy_rows(
                    connection,
                    table,
                    {image_column: f"{image_column} + {image_stride} * k"},
                    f"{image_column} <= {image_stride}",
                )
        connection.execute("COMMIT")
        connection.execute("DROP TABLE temp.copies")
        images, rolls = connection.execute(
            "SELECT (SELECT count(*) FROM images), (SELECT count(*) FROM film_rolls)"
        ).fetchone()
    finally:
        connection.close()
    seconds = time.perf_counter() - started
    assert images == fixture_images * copies, f"{images} images after copying"
    assert rolls == fixture_rolls * copies, f"{rolls} film rolls after copying"
    return BigLibrary(paths, images, rolls, copies, seconds, paths.library.stat().st_size)


def write_library(library: Path, change: Callable[[sqlite3.Connection], None]) -> float:
    """One short write transaction, as darktable makes them; the wall-clock time right after
    its commit."""
    connection = sqlite3.connect(library, isolation_level=None, timeout=WRITE_BUSY_SECONDS)
    try:
        connection.execute("BEGIN IMMEDIATE")
        change(connection)
        connection.execute("COMMIT")
        return time.time()
    finally:
        connection.close()


def change_images(connection: sqlite3.Connection, image_ids: list[int], rng: random.Random) -> None:
    """Each image changes one way, in turn: stars, a colour label on or off, a later change
    time, a later export time. Every one of them changes the image's state."""
    now = darktable_time(time.time())
    for number, image_id in enumerate(image_ids):
        kind = CHANGE_KINDS[number % len(CHANGE_KINDS)]
        if kind == "stars":
            connection.execute(
                f"UPDATE images SET flags = {NEXT_STARS_SQL} WHERE id = ?", (image_id,)
            )
        elif kind == "label":
            color = rng.randrange(5)
            removed = connection.execute(
                "DELETE FROM color_labels WHERE imgid = ? AND color = ?", (image_id, color)
            ).rowcount
            if not removed:
                connection.execute("INSERT INTO color_labels VALUES (?, ?)", (image_id, color))
        else:
            column = "change_timestamp" if kind == "edited" else "export_timestamp"
            connection.execute(
                f"UPDATE images SET {column} = ? WHERE id = ?", (now + number, image_id)
            )


# --- measuring ------------------------------------------------------------------------------


def percentile(values: list[float], percent: float) -> float:
    """Nearest-rank percentile (the value below which ``percent`` % of them are)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def run_cli(library: Path, sql: str) -> float:
    command = [SQLITE_CLI, "-readonly", str(library), sql]
    taken, _ = timed(lambda: subprocess.run(command, check=True, stdout=subprocess.DEVNULL))
    return taken


def python_scan(library: Path) -> None:
    connection = sqlite3.connect(library)
    try:
        connection.execute("SELECT id, flags FROM images").fetchall()
    finally:
        connection.close()


@dataclass
class References:
    """The reference reads, one of each per round, taken in the rounds they are compared with."""

    cli_scan: list[float] = field(default_factory=list)
    cli_start: list[float] = field(default_factory=list)
    python_scan: list[float] = field(default_factory=list)

    def measure(self, library: Path) -> None:
        self.cli_start.append(run_cli(library, CLI_START_SQL))
        self.cli_scan.append(run_cli(library, CLI_SCAN_SQL))
        self.python_scan.append(timed(lambda: python_scan(library))[0])

    def figures(self) -> dict[str, float]:
        return {
            "cli_scan": statistics.median(self.cli_scan),
            "cli_start": statistics.median(self.cli_start),
            "python_scan": statistics.median(self.python_scan),
        }


class ReadTimer:
    """Seconds spent in each library read LibraryReader.read() makes, by wrapping the names the
    poller module imported (in this process only, while in use; no file is touched)."""

    NAMES = (
        "read_film_rolls",
        "read_coarse_sums",
        "read_fine_sums",
        "read_images",
        "read_tag_names",
    )

    def __init__(self) -> None:
        self.spent = dict.fromkeys(self.NAMES, 0.0)
        self._originals: dict[str, Callable] = {}

    def _wrap(self, name: str, original: Callable) -> Callable:
        def timed_read(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.spent[name] += time.perf_counter() - started

        return timed_read

    def __enter__(self) -> ReadTimer:
        for name in self.NAMES:
            self._originals[name] = getattr(poller_module, name)
            setattr(poller_module, name, self._wrap(name, self._originals[name]))
        return self

    def __exit__(self, *exc_info: object) -> None:
        for name, original in self._originals.items():
            setattr(poller_module, name, original)

    def take(self) -> dict[str, float]:
        spent, self.spent = self.spent, dict.fromkeys(self.NAMES, 0.0)
        return spent


def median_parts(rounds: list[dict[str, float]]) -> dict[str, float]:
    return {name: statistics.median(parts[name] for parts in rounds) for name in rounds[0]}


# --- the results ------------------------------------------------------------------------------


def ms(value: float) -> str:
    return f"{value * 1000:,.1f} ms"


def sec(value: float) -> str:
    return f"{value:.3f} s"


@dataclass
class Results:
    rows: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    targets: list[tuple[str, str, bool | None]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def row(
        self, measure: str, ours: str = "", reference: str = "", ratio: str = "", target: str = ""
    ) -> None:
        self.rows.append((measure, ours, reference, ratio, target))

    def compared(
        self, measure: str, ours: float, shown: str, references: dict[str, float], target: str
    ) -> None:
        """``ours`` against both references, each on its own line."""
        cli = references["cli_scan"]
        cli_text = f"sqlite3 CLI scan {ms(cli)} ({ms(cli - references['cli_start'])} w/o start)"
        self.row(measure, shown, cli_text, f"{ours / cli:.1f}", target)
        python = references["python_scan"]
        self.row("", "", f"python scan {ms(python)}", f"{ours / python:.1f}")

    def target(self, line: str, shown: str, met: bool | None) -> None:
        self.targets.append((line, shown, met))


@dataclass
class Session:
    """What the steps of one benchmark run share."""

    args: argparse.Namespace
    base: Path
    library: BigLibrary
    results: Results
    rng: random.Random = field(default_factory=lambda: random.Random(SEED))

    @property
    def paths(self) -> LibraryPaths:
        return self.library.paths

    @property
    def rounds(self) -> int:
        return self.args.rounds


def progress(message: str) -> None:
    print(message, flush=True)


def measure_first_read(session: Session, reader: LibraryReader, sync: DarktableSync) -> None:
    progress("first full read and apply (the startup cost) ...")
    references = References()
    references.measure(session.paths.library)
    with ReadTimer() as read_timer:
        read_seconds, read = timed(reader.read)
        parts = read_timer.take()
    assert read is not None and read.buckets is None, "the first read must be a full one"
    apply_seconds, report = timed(lambda: sync.apply(read))
    assert report.first_sync and report.new == session.library.images, (
        f"first apply: {report.new} new images of {session.library.images:,}"
    )
    total = read_seconds + apply_seconds
    progress(f"  read {sec(read_seconds)}, apply {sec(apply_seconds)}")
    session.results.compared(
        "first full read + apply (startup, once)",
        total,
        f"{sec(total)} (read {sec(read_seconds)}, apply {sec(apply_seconds)})",
        references.figures(),
        "(info)",
    )
    session.results.row(
        "  of which read_images (every image)", ms(parts["read_images"]), target="(info)"
    )


def measure_no_change(
    session: Session, reader: LibraryReader, label: str, write_between: bool
) -> float:
    """Polls with no image changed, each after the references; returns the median."""
    progress(f"{label}: {session.rounds} rounds ...")
    references = References()
    polls, parts = [], []
    with ReadTimer() as read_timer:
        for number in range(session.rounds):
            references.measure(session.paths.library)
            if write_between:
                sql = NOT_AN_IMAGE_WRITE[number % len(NOT_AN_IMAGE_WRITE)]
                write_library(session.paths.library, lambda c, sql=sql: c.execute(sql))
            read_timer.take()
            poll_seconds, read = timed(reader.read)
            parts.append(read_timer.take())
            assert read is None, f"{label}: a poll read {len(read.states)} images, expected none"
            polls.append(poll_seconds)
    median = statistics.median(polls)
    spent = median_parts(parts)
    shown = f"{ms(median)} (p90 {ms(percentile(polls, 90))})"
    progress(f"  median {shown}")
    target = f"<= {ms(NO_CHANGE_TARGET)}" if not write_between else "(info)"
    session.results.compared(label, median, shown, references.figures(), target)
    session.results.row(
        "  of which read_coarse_sums (a pass per table)",
        ms(spent["read_coarse_sums"]),
        target="(info)",
    )
    return median


@dataclass(frozen=True)
class ChangedPoll:
    read_seconds: float
    apply_seconds: float
    parts: dict[str, float]
    report: ApplyReport
    read: LibraryRead


def poll_after_changes(
    session: Session, reader: LibraryReader, sync: DarktableSync, read_timer: ReadTimer, count: int
) -> ChangedPoll:
    image_ids = session.rng.sample(range(1, session.library.images + 1), count)
    write_library(session.paths.library, lambda c: change_images(c, image_ids, session.rng))
    read_timer.take()
    read_seconds, read = timed(reader.read)
    parts = read_timer.take()
    assert read is not None, f"no change seen after {count} images changed"
    apply_seconds, report = timed(lambda: sync.apply(read))
    assert report.changed == count, f"{report.changed} images reported changed, expected {count}"
    assert report.new == 0 and report.removed == 0, f"unexpected report {report}"
    return ChangedPoll(read_seconds, apply_seconds, parts, report, read)


def measure_changes(
    session: Session, reader: LibraryReader, sync: DarktableSync, count: int
) -> float:
    """Polls after ``count`` images changed; the median of read + apply."""
    what = "1 changed image" if count == 1 else f"{count} changed images"
    progress(f"polls after {what}: {session.rounds} rounds ...")
    references = References()
    polls: list[ChangedPoll] = []
    with ReadTimer() as read_timer:
        for _ in range(session.rounds):
            references.measure(session.paths.library)
            polls.append(poll_after_changes(session, reader, sync, read_timer, count))
    reads = [poll.read_seconds for poll in polls]
    applies = [poll.apply_seconds for poll in polls]
    totals = [poll.read_seconds + poll.apply_seconds for poll in polls]
    images_read = statistics.median(len(poll.read.states) for poll in polls)
    buckets = statistics.median(len(poll.read.buckets or ()) for poll in polls)
    events = statistics.median(poll.report.events for poll in polls)
    spent = median_parts([poll.parts for poll in polls])
    median = statistics.median(totals)
    shown = f"{ms(median)} (p90 {ms(percentile(totals, 90))})"
    progress(f"  read + apply median {shown}")
    results = session.results
    results.compared(
        f"poll with {what}: read + apply",
        median,
        shown,
        references.figures(),
        f"<= {ms(CHANGED_ONE_TARGET)}" if count == 1 else "(info)",
    )
    read_text = f"{ms(statistics.median(reads))} (p90 {ms(percentile(reads, 90))})"
    results.row(
        f"  read ({buckets:,.0f} buckets, {images_read:,.0f} images)", read_text, target="(info)"
    )
    for name in ReadTimer.NAMES:
        results.row(f"    of which {name}", ms(spent[name]), target="(info)")
    python_part = statistics.median(poll.read_seconds - sum(poll.parts.values()) for poll in polls)
    results.row("    of which the rest (states in Python)", ms(python_part), target="(info)")
    apply_text = f"{ms(statistics.median(applies))} (p90 {ms(percentile(applies, 90))})"
    results.row(f"  apply ({events:,.0f} events)", apply_text, target="(info)")
    return median


# --- change -> Event through the engine ---------------------------------------------------------


class CatalogueReader:
    """A read-only connection of its own to the engine's catalogue: what others would see."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)

    def close(self) -> None:
        self.db.close()

    def snapshot_images(self) -> int:
        return self.db.execute(f"SELECT count(*) FROM {DARKTABLE_IMAGE}").fetchone()[0]

    def last_event(self) -> int:
        return self.db.execute(f"SELECT COALESCE(MAX(id), 0) FROM {EVENT}").fetchone()[0]

    def rated_at(self, after_event: int, image_id: int) -> float | None:
        row = self.db.execute(
            f"SELECT at FROM {EVENT} WHERE id > ? AND kind = 'rated'"
            " AND json_extract(payload, '$.darktable_id') = ? ORDER BY id LIMIT 1",
            (after_event, image_id),
        ).fetchone()
        return row[0] if row else None


def engine_settings(base: Path, library: Path) -> Settings:
    settings = load_settings(None, {"catalogue": str(base / "engine" / "catalogue.db")})
    return dataclasses.replace(
        settings,
        darktable=dataclasses.replace(
            settings.darktable,
            library=library,
            data=None,  # data.db beside library.db, as darktable keeps it
            explicit=True,
            quiet_seconds=QUIET_SECONDS,
            poll_seconds=POLL_SECONDS,
        ),
    )


def wait_for_first_sync(session: Session, engine: Engine, reader: CatalogueReader) -> float:
    started = time.perf_counter()
    deadline = time.monotonic() + FIRST_SYNC_TIMEOUT
    while reader.snapshot_images() != session.library.images:
        if time.monotonic() > deadline:
            raise SystemExit(
                f"the engine's first darktable sync did not finish in {FIRST_SYNC_TIMEOUT:g} s "
                f"({reader.snapshot_images():,} of {session.library.images:,} images)"
            )
        time.sleep(0.1)
    while engine.states()["darktable"].status != "idle" and time.monotonic() < deadline:
        time.sleep(0.05)
    return time.perf_counter() - started


@dataclass(frozen=True)
class Latency:
    image_id: int
    to_row: float | None  # Event.at minus the commit time; None: no row in time
    to_seen: float | None  # until this process read the row


def change_to_event(session: Session, reader: CatalogueReader, timeout: float) -> Latency:
    """Set other stars on one random image; wait for its "rated" Event row."""
    image_id = session.rng.randrange(1, session.library.images + 1)
    after = reader.last_event()
    sql = f"UPDATE images SET flags = {NEXT_STARS_SQL} WHERE id = ?"
    committed = write_library(session.paths.library, lambda c: c.execute(sql, (image_id,)))
    deadline = committed + timeout
    while time.time() < deadline:
        at = reader.rated_at(after, image_id)
        if at is not None:
            return Latency(image_id, at - committed, time.time() - committed)
        time.sleep(EVENT_POLL_SECONDS)
    return Latency(image_id, None, None)


def measure_latency(session: Session) -> list[Latency]:
    settings = engine_settings(session.base, session.paths.library)
    samples = session.args.latency_samples
    progress(f"starting the engine on {session.paths.library} ...")
    engine = Engine(settings)
    engine.start()
    reader: CatalogueReader | None = None
    try:
        reader = CatalogueReader(settings.catalogue)
        first_sync = wait_for_first_sync(session, engine, reader)
        progress(f"  first darktable sync done after {sec(first_sync)}")
        session.results.row(
            "engine: start to first full sync done", sec(first_sync), target="(info)"
        )
        timeout = POLL_SECONDS + EVENT_TIMEOUT_MARGIN
        latencies = []
        for number in range(samples + 1):  # the first is a warm-up: the watch is surely up
            started = time.monotonic()
            latency = change_to_event(session, reader, timeout)
            what = f"change {number}/{samples}" if number else "warm-up change"
            shown = sec(latency.to_row) if latency.to_row is not None else "no Event row"
            progress(f"  {what} (image {latency.image_id}): {shown}")
            if number:
                latencies.append(latency)
            time.sleep(max(GAP_AFTER_ROW, LATENCY_SPACING - (time.monotonic() - started)))
    finally:
        if reader is not None:
            reader.close()
        engine.stop()
    record_latency(session, latencies)
    return latencies


def record_latency(session: Session, latencies: list[Latency]) -> None:
    results = session.results
    rows = [latency.to_row for latency in latencies if latency.to_row is not None]
    seen = [latency.to_seen for latency in latencies if latency.to_seen is not None]
    missed = len(latencies) - len(rows)
    if not rows:
        results.row("change -> Event row (engine)", f"none of {len(latencies)} seen")
        results.target(f"change -> Event <= {LATENCY_TARGET:g} s", "no Event row", False)
        return
    median, p95 = statistics.median(rows), percentile(rows, 95)
    shown = f"{sec(median)} (p95 {sec(p95)}, max {sec(max(rows))})"
    results.row(
        f"change -> Event row, {len(rows)} changes",
        shown,
        f"quiet_seconds {QUIET_SECONDS:g} s",
        f"{median / QUIET_SECONDS:.2f}",
        f"p95 <= {LATENCY_TARGET:g} s",
    )
    results.row(
        "  until this process read the row",
        f"{sec(statistics.median(seen))} (p95 {sec(percentile(seen, 95))})",
        target="(info)",
    )
    if missed:
        results.row("  changes without an Event row", str(missed), target="0")
    results.notes.append(
        f"change -> Event includes the deliberate quiet time of {QUIET_SECONDS:g} s "
        "(darktable.quiet_seconds): a poll waits until library.db has been quiet that long."
    )
    met = p95 <= LATENCY_TARGET and not missed
    results.target(
        f"change -> Event <= {LATENCY_TARGET:g} s",
        f"p95 {sec(p95)}, median {sec(median)}, {missed} missed",
        met,
    )


# --- the run --------------------------------------------------------------------------------


def measure_polls(session: Session) -> None:
    catalogue = open_catalogue(session.base / "catalogue" / "catalogue.db")
    try:
        sync = DarktableSync(catalogue.db)
        reader = LibraryReader(session.paths)
        measure_first_read(session, reader, sync)
        median = measure_no_change(session, reader, "no-change poll", write_between=False)
        measure_no_change(
            session, reader, "no-change poll after a non-image write", write_between=True
        )
        one_changed = measure_changes(session, reader, sync, 1)
        measure_changes(session, reader, sync, CHANGED_IMAGES)
    finally:
        catalogue.close()  # the models are bound to one catalogue per process: the engine's next
    session.results.target(
        f"no-change poll <= {ms(NO_CHANGE_TARGET)}",
        f"median {ms(median)} at {session.library.images:,} images",
        median <= NO_CHANGE_TARGET,
    )
    session.results.target(
        f"poll after 1 changed image <= {ms(CHANGED_ONE_TARGET)}",
        f"median {ms(one_changed)} at {session.library.images:,} images",
        one_changed <= CHANGED_ONE_TARGET,
    )


def print_table(session: Session) -> None:
    results, library = session.results, session.library
    lines = table_lines(results.rows)
    print()
    print(
        f"library: {library.images:,} images, {library.film_rolls:,} film rolls, "
        f"{library.size / 1e6:,.0f} MB; {session.rounds} rounds, medians; ratio: ours / reference"
    )
    print("\n".join(lines))
    print_verdicts(results.notes, results.targets)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--images", type=int, default=100_000, help="images in the library (default 100000)"
    )
    parser.add_argument(
        "--rounds", type=int, default=15, help="timed polls of each kind (default 15)"
    )
    parser.add_argument(
        "--latency-samples",
        type=int,
        default=10,
        help="changes timed to their Event row through the engine (default 10)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    if args.images < CHANGED_IMAGES * 2:
        parser.error(f"--images must be at least {CHANGED_IMAGES * 2}")
    if min(args.rounds, args.latency_samples) < 1:
        parser.error("--rounds and --latency-samples must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = Results()
    with work_tree("shootwatch-bench-darktable-", keep=args.keep) as base:
        progress(f"building a library of {args.images:,} images in {base} ...")
        library = build_library(base, args.images)
        progress(
            f"  built {library.images:,} images ({library.copies:,} copies of the fixture), "
            f"{library.film_rolls:,} film rolls, {library.size / 1e6:,.0f} MB "
            f"in {sec(library.build_seconds)}"
        )
        session = Session(args=args, base=base, library=library, results=results)
        measure_polls(session)
        gc.collect()  # the snapshot of the polls above is gone before the engine forks
        latencies = measure_latency(session)
    print_table(session)
    if any(latency.to_row is None for latency in latencies):
        print("a change had no Event row within the engine's fallback poll interval")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
