"""Writes that leave the catalogue to others: bulk writes commit in pieces another connection
sees arrive, a transaction begins only after a decision waiting for its turn (in this process
and in another), and a transaction SQLite refuses because someone wrote under it runs again."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core.store import turns, writing
from core.store.dialect import sql_for
from core.store.models import Event, FileRecord
from core.store.writing import BoundedWrites, run_transaction
from tests.helpers import REPO, catalogued, on_disk, record_ids, scan, write
from tests.postgres_cluster import BOTH_BACKENDS, connect_directly

EVENT = "INSERT INTO event (at, kind, source, path) VALUES (?, 'added', 'test', ?)"


def committed_events(location: Path | str) -> int:
    other = connect_directly(location)
    try:
        return other.execute("SELECT count(*) FROM event").fetchone()[0]
    finally:
        other.close()


@BOTH_BACKENDS
@pytest.mark.parametrize(
    ("budget", "seen"),
    [
        # A row budget of four pieces: committed every fourth piece, the rest at the end.
        ({"seconds": 3600, "rows": 1000}, [0, 0, 0, 0, 1000, 1000, 1000, 1000, 2000, 2000, 2000]),
        # A time budget already spent after each piece: committed after every piece.
        ({"seconds": 0, "rows": 10**9}, [250 * n for n in range(11)]),
    ],
)
def test_bulk_writes_commit_in_pieces_that_others_see_arrive(catalogue, budget, seen):
    rows = [(time.time(), f"file-{n}") for n in range(2600)]
    observed = []
    with BoundedWrites(catalogue.db, chunk_rows=250, **budget) as writes:
        for piece in writes.chunks(rows):
            observed.append(committed_events(catalogue.location))
            catalogue.db.cursor().executemany(sql_for(catalogue.db, EVENT), piece)
    assert observed == seen
    assert committed_events(catalogue.location) == 2600
    assert writes.transactions == len(set(seen))


@BOTH_BACKENDS
def test_bulk_writes_inside_an_open_transaction_wait_for_its_end(catalogue):
    rows = [(time.time(), f"file-{n}") for n in range(1000)]
    with catalogue.db.atomic():
        with BoundedWrites(catalogue.db, seconds=0, chunk_rows=100) as writes:
            for piece in writes.chunks(rows):
                catalogue.db.cursor().executemany(sql_for(catalogue.db, EVENT), piece)
        assert committed_events(catalogue.location) == 0  # the outer transaction decides
    assert committed_events(catalogue.location) == 1000


def _begin_in_thread(db) -> tuple[threading.Thread, threading.Event, threading.Event]:
    """A writer on another thread (the engine's, hosted in the app): (thread, asked, began)."""
    asked, began = threading.Event(), threading.Event()

    def begin() -> None:
        asked.set()
        with db.atomic():
            began.set()
            db.execute_sql(EVENT, (time.time(), "engine"))
        db.close()

    thread = threading.Thread(target=begin)
    thread.start()
    return thread, asked, began


def test_a_transaction_begins_after_the_decision_whose_turn_it_is(catalogue):
    with catalogue.db.turns.first():
        thread, asked, began = _begin_in_thread(catalogue.db)
        asked.wait(10)
        time.sleep(0.3)  # room for a writer that does not wait to begin (and be caught)
        assert not began.is_set()
        catalogue.db.execute_sql(EVENT, (time.time(), "decision"))  # its own writes go on
    thread.join(10)
    order = [e.path for e in Event.select().order_by(Event.id)]
    assert order == ["decision", "engine"]


def test_a_decision_in_another_process_holds_up_the_next_transaction(catalogue):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from pathlib import Path; from core.store.turns import Turns\n"
         "with Turns(Path(sys.argv[1])).first():\n"
         "    print('turn', flush=True); sys.stdin.readline()",
         str(catalogue.path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        assert holder.stdout.readline() == "turn\n"
        thread, asked, began = _begin_in_thread(catalogue.db)
        asked.wait(10)
        time.sleep(0.3)
        assert not began.is_set()
    finally:
        holder.communicate("done\n", timeout=10)
    thread.join(10)
    assert began.is_set()


def test_a_turn_held_too_long_holds_nobody_up_for_good(catalogue, monkeypatch):
    """A decision stopped while holding its turn (Ctrl-Z on ``decide``): the engine goes on."""
    monkeypatch.setattr(turns, "MAX_WAIT_SECONDS", 0.2)
    with catalogue.db.turns.first():
        thread, _, began = _begin_in_thread(catalogue.db)
        assert began.wait(30)  # still inside the turn
    thread.join(10)


@pytest.mark.parametrize(
    ("catalogue_backend", "runs", "seen"),
    # SQLite refuses the transaction's first write, at once (no busy wait helps): it runs
    # again, holding the lock from BEGIN, and sees the decision. PostgreSQL lets it write (each
    # statement sees what was committed before it began): it runs once.
    [("sqlite", 2, 1), ("postgresql", 1, 0)],
)
def test_a_transaction_refused_for_a_write_under_it_runs_again(catalogue, runs, seen):
    """The transaction read, then another connection committed before its first write."""
    other = connect_directly(catalogue.location)
    attempts = []

    def work() -> int:
        attempts.append(catalogue.db.transaction_depth())
        seen = catalogue.db.execute_sql("SELECT count(*) FROM event").fetchone()[0]
        if len(attempts) == 1:  # commits between read and write
            other.execute(sql_for(catalogue.db, EVENT), (time.time(), "decision"))
        catalogue.db.execute_sql(EVENT, (time.time(), f"after {seen}"))
        return seen

    try:
        assert run_transaction(catalogue.db, work) == seen
    finally:
        other.close()
    assert len(attempts) == runs
    assert [e.path for e in Event.select().order_by(Event.id)] == ["decision", f"after {seen}"]


@BOTH_BACKENDS
def test_a_reconcile_written_one_row_a_transaction_keeps_every_identity(
    catalogue, library, monkeypatch
):
    """Moves, removals, updates and additions each committed on its own, then a swap and a
    renumbering (whose moves go in one transaction): the end is what one transaction made,
    and every record that moved keeps its id."""
    for n in range(1, 4):
        write(library / "card" / f"IMG_{n}.JPG", f"frame {n}")
    write(library / "a.JPG", "picture a")
    write(library / "b.JPG", "picture b, longer")
    for n in range(5):
        write(library / "day" / f"DSC_{n}.NEF", f"raw {n}")
    write(library / "gone.JPG", "deleted soon")
    write(library / "edited.JPG", "first version")
    scan(catalogue, library)
    before = record_ids(library)
    monkeypatch.setattr(writing, "WRITE_BUDGET_ROWS", 1)

    (library / "day").rename(library / "2024-06-01")  # a folder renamed
    (library / "gone.JPG").unlink()
    write(library / "edited.JPG", "second version, longer")
    write(library / "new.JPG", "arrived")
    last_event = Event.select().order_by(Event.id.desc()).first().id
    report = scan(catalogue, library)

    assert (report.files_moved, report.files_removed, report.files_added) == (5, 1, 1)
    assert report.files_updated == 1
    kinds = [e.kind for e in Event.select().where(Event.id > last_event)]
    assert sorted(kinds) == sorted(["moved"] * 5 + ["removed", "added", "modified"])

    for n in (3, 2, 1):  # a renumbering: every frame takes the next one's name
        (library / "card" / f"IMG_{n}.JPG").rename(library / "card" / f"IMG_{n + 1}.JPG")
    (library / "a.JPG").rename(library / "tmp")  # a swap
    (library / "b.JPG").rename(library / "a.JPG")
    (library / "tmp").rename(library / "b.JPG")
    report = scan(catalogue, library)

    assert (report.files_moved, report.files_removed, report.files_added) == (5, 0, 0)
    after = record_ids(library)
    for n in (1, 2, 3):
        assert after[f"card/IMG_{n + 1}.JPG"] == before[f"card/IMG_{n}.JPG"]
    assert (after["a.JPG"], after["b.JPG"]) == (before["b.JPG"], before["a.JPG"])
    for n in range(5):
        assert after[f"2024-06-01/DSC_{n}.NEF"] == before[f"day/DSC_{n}.NEF"]
    assert after["edited.JPG"] == before["edited.JPG"]
    assert catalogued(library) == on_disk(library)
    assert FileRecord.select().where(FileRecord.rel_path.startswith("/")).count() == 0
