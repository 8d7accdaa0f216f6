"""The event log benchmark: writing events and reading them back as typed events, next to the
same rows written and read as plain tuples.

Run from the repository root (a standalone script, not a pytest test):

    python3 tests/bench/bench_events.py [--events N] [--keep]

It writes N events (default 100,000) as a reconcile of moves writes them (two thirds `moved`
with a payload, a third `added` without) through ``insert_events``, then reads them all
through an ``EventReader`` in reads of 2,000 (what the app takes in one 10 Hz poll). Reference,
same run: the same rows written with a plain ``executemany`` of text kinds, and read with a
plain ``SELECT`` as tuples (what the cursors before the reader did). Each figure is the best
of three rounds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.store import open_catalogue, queries
from core.store.events import EventKind, EventReader, insert_events
from tests.bench.benchtools import print_verdicts, table_lines, work_tree

APP_READ = 2000  # tui.app.DELIVER_LIMIT: the events one poll of the app takes
INSERT = (
    "INSERT INTO event (at, kind, source, root_id, path, photo_id, payload)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def best_of(rounds: int, run: Callable[[], object], reference: Callable[[], object]):
    """(best seconds of ``run``, best of ``reference``), the two taking turns so that a
    growing file or a busy moment weighs on both alike."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        for measured, work in zip(times, (run, reference), strict=True):
            started = time.perf_counter()
            work()
            measured.append(time.perf_counter() - started)
    return min(times[0]), min(times[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    count = args.events
    now = time.time()
    rows = [
        (now, EventKind.MOVED if n % 3 else EventKind.ADDED, "reconcile", None,
         f"2024/2024-06-{n % 28 + 1:02d}/IMG_{n:06d}.CR2", None,
         json.dumps({"from": f"old/IMG_{n:06d}.CR2"}) if n % 3 else None)
        for n in range(count)
    ]  # fmt: skip
    text_rows = [(row[0], row[1].value, *row[2:]) for row in rows]
    with work_tree("shootwatch-bench-events-", keep=args.keep) as base:
        catalogue = open_catalogue(base / "catalogue.db")
        db = catalogue.db

        def write_events() -> None:
            with db.atomic():
                insert_events(db, rows)

        def write_tuples() -> None:
            with db.atomic():
                db.cursor().executemany(INSERT, text_rows)

        written, written_reference = best_of(3, write_events, write_tuples)
        connection = queries.open_read_only(str(catalogue.path))
        last = count  # read the first round's events, as a consumer following the log would

        def read_events() -> None:
            reader = EventReader(connection)
            while reader.last_id < last:
                reader.read(APP_READ)

        def read_tuples() -> None:
            after = 0
            while after < last:
                batch = connection.execute(
                    "SELECT id, at, kind, source, root_id, path, photo_id, payload FROM event"
                    " WHERE id > ? ORDER BY id LIMIT ?",
                    (after, APP_READ),
                ).fetchall()
                after = batch[-1][0]

        read, read_reference = best_of(3, read_events, read_tuples)
        connection.close()
        catalogue.close()

    reads = count / APP_READ
    per_read = read / reads * 1000
    per_read_reference = read_reference / reads * 1000
    print(f"\n{count:,} events (2/3 moved with a payload, 1/3 added), best of 3 rounds\n")
    rows_out = [
        ("write with insert_events (EventKind)", f"{count / written:,.0f} events/s",
         f"executemany of text {count / written_reference:,.0f}/s",
         f"{written_reference / written:.2f}", ""),
        ("read as typed Events, 2,000 a read", f"{per_read:.2f} ms a read",
         f"tuples {per_read_reference:.2f} ms a read", f"{read_reference / read:.2f}", ""),
    ]  # fmt: skip
    for line in table_lines(rows_out):
        print(line)
    print_verdicts(
        ["ratio: the reference's time over shootwatch's (1.00: as fast as plain tuples)",
         "a read is what the app does on its UI thread in one 10 Hz poll during a burst; "
         "folding 2,000 events into the events pane costs ~12 ms there (DESIGN.md)"],
        [],
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
