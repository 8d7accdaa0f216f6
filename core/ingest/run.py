"""An ingest pass: the plan carried out, move by move through the journal, each file's
catalogue record moved with it, an event for each file, and a report of what was done.

Runs on the engine's ingest thread (or the ``ingest`` command's own), where files are read
and moved; every catalogue write goes through ``write``, which in the engine hands it to the
writer thread (the one thread that writes) and waits for it.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from peewee import SqliteDatabase

from core.config import Settings
from core.ingest.move import Journaled, MoveFailed, carry_out, method_for, recover, temporary_for
from core.ingest.plan import Batch, Move, Plan, plan_ingest
from core.store import queries
from core.store.models import Root


class IngestUnavailable(Exception):
    """Ingest cannot run with these settings; the message says why and what to do."""


@dataclass
class IngestReport:
    planned: int = 0
    ingested: int = 0
    duplicates: int = 0
    undated: int = 0
    failed: int = 0
    waiting: int = 0
    lines: list[dict] = field(default_factory=list)  # one per file: what was (or would be) done


Progress = Callable[[int, int, IngestReport], None]  # (files done, files planned, report)
Write = Callable[[Callable[[], object]], object]  # runs a catalogue write, returns its result


def write_here(apply: Callable[[], object]) -> object:
    return apply()


def destination_root(settings: Settings) -> Root:
    """The root the destination lies in; the destination becomes a library root if it is in
    none. Raises IngestUnavailable when ingest is not set up."""
    destination = settings.ingest.destination
    if destination is None:
        raise IngestUnavailable(
            "no ingest.destination is set: say which library folder photos are filed into"
        )
    path = os.path.realpath(destination)
    root = queries.root_for_path(path)
    if root is not None:
        if root.kind == "inbox":
            raise IngestUnavailable(f"ingest.destination {path} is inside the inbox {root.path}")
        return root
    os.makedirs(path, exist_ok=True)
    try:
        root, _ = queries.add_root(path, kind="library")
    except queries.RootOverlap as error:
        raise IngestUnavailable(f"ingest.destination: {error}") from None
    return root


def has_inbox(db: SqliteDatabase) -> bool:
    return db.execute_sql("SELECT 1 FROM root WHERE kind = 'inbox' LIMIT 1").fetchone() is not None


def recover_moves(db: SqliteDatabase) -> list[tuple[int, str]]:
    """Close the moves a crash left open, with an event for each (called before a first pass)."""
    outcomes = recover(db)
    for move_id, outcome in outcomes:
        with db.atomic():
            _close(db, move_id, outcome, None)
            if outcome == "done":
                _move_record(db, move_id)
            queries.record_event(
                "ingest_recovered", "ingest", payload={"move": move_id, "outcome": outcome}
            )
    return outcomes


def run_ingest(
    db: SqliteDatabase,
    settings: Settings,
    dry_run: bool = False,
    progress: Progress | None = None,
    now: float | None = None,
    write: Write = write_here,
    cancel: threading.Event | None = None,
) -> IngestReport:
    root = write(lambda: destination_root(settings))
    plan = plan_ingest(db, settings.ingest, root.path, settings.scan.ignore, now)
    report = IngestReport(waiting=plan.waiting)
    if dry_run:
        for batch in plan.batches:
            for move in batch.moves:
                _count(report, batch, move, "would be")
        return report
    _carry_out_plan(db, plan, root, report, progress, write, cancel)
    return report


def _carry_out_plan(
    db: SqliteDatabase,
    plan: Plan,
    root: Root,
    report: IngestReport,
    progress: Progress | None,
    write: Write,
    cancel: threading.Event | None,
) -> None:
    total = plan.files
    done = 0
    inboxes = {r.path: r for r in Root.select().where(Root.kind == "inbox")}
    for batch in plan.batches:
        if cancel is not None and cancel.is_set():  # between batches: nothing is left open
            return
        journaled = write(partial(_journal, db, batch, root))
        inbox = inboxes.get(batch.inbox)
        for move, entry in zip(batch.moves, journaled, strict=True):
            try:
                carry_out(entry)
            except (MoveFailed, OSError) as error:
                reason = str(error) if isinstance(error, MoveFailed) else _os_reason(error)
                write(partial(_failed, db, entry.move_id, reason, inbox, batch, move))
                report.failed += 1
                report.lines.append({"file": str(move.source), "done": "failed", "why": reason})
            else:
                write(partial(_done, db, entry.move_id, batch, move, root, inbox))
                _count(report, batch, move, "")
            done += 1
            if progress is not None:
                progress(done, total, report)


def _failed(db, move_id: int, reason: str, inbox: Root | None, batch: Batch, move: Move) -> None:
    with db.atomic():
        _close(db, move_id, "failed", reason)
        queries.record_event("ingest_failed", "ingest", root=inbox,
                             path=_relative(move.source, batch.inbox),
                             payload={"error": reason})  # fmt: skip


def _done(db, move_id: int, batch: Batch, move: Move, root: Root, inbox: Root | None) -> None:
    with db.atomic():
        _close(db, move_id, "done", None)
        _record(db, batch, move, root, inbox)


def _journal(db: SqliteDatabase, batch: Batch, root: Root) -> list[Journaled]:
    """Every move of the batch written down as an intent, before any file is touched."""
    batch_id = uuid.uuid4().hex
    entries = []
    with db.atomic():
        for move in batch.moves:
            method = method_for(move.source, move.destination, move.action == "duplicate")
            dest_root_id = dest_rel = None
            if move.action == "ingest" and move.destination is not None:
                dest_root_id, dest_rel = root.id, _relative(move.destination, root.path)
            move_id = db.execute_sql(
                "INSERT INTO ingest_move (batch, method, state, source, destination, blake3,"
                " size, file_id, dest_root_id, dest_rel_path, started_at)"
                " VALUES (?, ?, 'intent', ?, ?, ?, ?, ?, ?, ?, ?)",
                (batch_id, method, str(move.source),
                 str(move.destination) if move.destination else None, move.blake3, move.size,
                 move.file_id, dest_root_id, dest_rel, time.time()),
            ).lastrowid  # fmt: skip
            temporary = None
            if move.destination is not None:
                temporary = temporary_for(move.destination, move_id)
                db.execute_sql(
                    "UPDATE ingest_move SET temporary = ? WHERE id = ?", (str(temporary), move_id)
                )
            entries.append(Journaled(move_id, method, move.source, move.destination, temporary,
                                     move.blake3, move.size))  # fmt: skip
    return entries


def _close(db: SqliteDatabase, move_id: int, state: str, error: str | None) -> None:
    db.execute_sql(
        "UPDATE ingest_move SET state = ?, finished_at = ?, error = ? WHERE id = ?",
        (state, time.time(), error, move_id),
    )


def _record(db: SqliteDatabase, batch: Batch, move: Move, root: Root, inbox: Root | None) -> None:
    """The catalogue follows the file: an ingested file's record moves to its new place
    (photo, decisions and hash kept: nothing is hashed again); a duplicate's record goes, as
    the file is now in a hidden folder or deleted."""
    source_rel = _relative(move.source, batch.inbox)
    if move.action == "duplicate":
        db.execute_sql("DELETE FROM file WHERE id = ?", (move.file_id,))
        queries.record_event(
            "duplicate", "ingest", root=inbox, path=source_rel,
            payload={"of": move.duplicate_of,
                     "moved_to": str(move.destination) if move.destination else None},
        )  # fmt: skip
        return
    assert move.destination is not None
    dest_rel = _relative(move.destination, root.path)
    _move_file_record(db, move.file_id, root.id, dest_rel)
    dated = batch.dated
    queries.record_event(
        "ingested" if dated.day is not None else "undated", "ingest", root=root, path=dest_rel,
        payload={"from": str(move.source), "day": f"{dated.day:%Y-%m-%d}" if dated.day else None,
                 "date_source": dated.source},
    )  # fmt: skip


def _move_record(db: SqliteDatabase, move_id: int) -> None:
    """After a recovered move: its record follows, as it would have."""
    row = db.execute_sql(
        "SELECT file_id, dest_root_id, dest_rel_path, method FROM ingest_move WHERE id = ?",
        (move_id,),
    ).fetchone()
    file_id, root_id, rel_path, method = row
    if file_id is None:
        return
    if method in ("quarantine", "delete"):
        db.execute_sql("DELETE FROM file WHERE id = ?", (file_id,))
    elif root_id is not None:
        _move_file_record(db, file_id, root_id, rel_path)


def _move_file_record(db: SqliteDatabase, file_id: int, root_id: int, rel_path: str) -> None:
    # The watcher may have recorded the new file already: that record gives way to this one,
    # which carries the photo and its history.
    db.execute_sql(
        "DELETE FROM file WHERE root_id = ? AND rel_path = ? AND id != ?",
        (root_id, rel_path, file_id),
    )
    db.execute_sql(
        "UPDATE file SET root_id = ?, rel_path = ?, last_seen = ? WHERE id = ?",
        (root_id, rel_path, time.time(), file_id),
    )


def _count(report: IngestReport, batch: Batch, move: Move, prefix: str) -> None:
    if move.action == "duplicate":
        report.duplicates += 1
        done = "duplicate"
    elif batch.dated.day is None:
        report.undated += 1
        done = "undated"
    else:
        report.ingested += 1
        done = "ingested"
    report.lines.append({
        "file": str(move.source),
        "done": f"{prefix} {done}".strip(),
        "to": str(move.destination) if move.destination else None,
        "why": move.duplicate_of and f"already in the catalogue: {move.duplicate_of}"
        if move.action == "duplicate" else batch.dated.source,
    })  # fmt: skip


def _relative(path: Path, root: str) -> str:
    return os.path.relpath(path, root)


def _os_reason(error: OSError) -> str:
    return f"{error.strerror or error}: {error.filename or ''}".rstrip(": ")
