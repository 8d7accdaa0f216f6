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
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from peewee import Database

from core.config import Settings
from core.ingest.move import (
    Journaled,
    MoveFailed,
    method_for,
    place,
    recover,
    remove_source,
    sync_folders,
    temporary_for,
)
from core.ingest.plan import Batch, IngestNeeds, Move, Plan, plan_ingest
from core.store import queries
from core.store.dialect import insert_returning_id
from core.store.events import EventKind, record_event
from core.store.models import Root

CHUNK = 256  # files moved between two folder syncs and commits
PLACE_WORKERS = 2


class IngestUnavailable(Exception):
    """Ingest cannot run with these settings; the message says why and what to do."""


@dataclass
class IngestReport:
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
    _make_folder(path, "ingest.destination")
    root = queries.root_for_path(path)
    if root is not None:
        if root.kind == "inbox":
            raise IngestUnavailable(f"ingest.destination {path} is inside the inbox {root.path}")
        return root
    try:
        root, _ = queries.add_root(path, kind="library")
    except queries.RootOverlap as error:
        raise IngestUnavailable(f"ingest.destination: {error}") from None
    return root


def add_inboxes(settings: Settings) -> None:
    """The inboxes the settings name, as inbox roots (those already roots stay as they are)."""
    for folder in settings.ingest.inboxes:
        path = os.path.realpath(folder)
        root = queries.root_for_path(path)
        if root is not None and root.path == path and root.kind == "inbox":
            continue
        if root is not None:
            raise IngestUnavailable(
                f"ingest.inboxes: {path} is in the {root.kind} root {root.path}, not an inbox"
            )
        _make_folder(path, "ingest.inboxes:")
        try:
            queries.add_root(path, kind="inbox")
        except queries.RootOverlap as error:
            raise IngestUnavailable(f"ingest.inboxes: {error}") from None


def _make_folder(path: str, setting: str) -> None:
    """The folder a setting names, made if it is not there; IngestUnavailable when it cannot
    be (a file in its place, no permission), which whoever runs ingest says once."""
    if os.path.lexists(path) and not os.path.isdir(path):
        raise IngestUnavailable(f"{setting} {path} is a file, not a folder: name a folder")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise IngestUnavailable(f"{setting} {path} cannot be made: {error.strerror}") from None


def has_inbox(db: Database) -> bool:
    return db.execute_sql("SELECT 1 FROM root WHERE kind = 'inbox' LIMIT 1").fetchone() is not None


def recover_moves(db: Database) -> list[tuple[int, str]]:
    """Close the moves a crash left open, with an event for each (called before a first pass)."""
    outcomes = recover(db)
    for move_id, outcome in outcomes:
        with db.atomic():
            _close(db, move_id, outcome, None)
            if outcome == "done":
                _move_record(db, move_id)
            record_event(
                EventKind.INGEST_RECOVERED, "ingest", payload={"move": move_id, "outcome": outcome}
            )
    return outcomes


def run_ingest(
    db: Database,
    settings: Settings,
    dry_run: bool = False,
    progress: Progress | None = None,
    now: float | None = None,
    write: Write = write_here,
    cancel: threading.Event | None = None,
) -> IngestReport:
    if settings.ingest.inboxes:
        write(lambda: add_inboxes(settings))
    root = write(lambda: destination_root(settings))
    try:
        plan = plan_ingest(db, settings.ingest, root.path, settings.scan.ignore, now)
    except IngestNeeds as error:
        raise IngestUnavailable(
            f"the ingest names or folders use {{{error.args[0]}}}, which only an ingest from a "
            "card fills (shootwatch ingest --from CARD); the inbox has no value for it"
        ) from None
    report = IngestReport(waiting=plan.waiting)
    if dry_run:
        for batch in plan.batches:
            for move in batch.moves:
                _count(report, batch, move, "would be")
        return report
    _carry_out_plan(db, plan, root, report, progress, write, cancel)
    return report


def _carry_out_plan(
    db: Database,
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
    for chunk in _chunks(plan.batches):
        if cancel is not None and cancel.is_set():  # between chunks: nothing is left open
            return
        journaled = write(partial(_journal, db, chunk, root))
        placed: list[tuple[Batch, Move, Journaled]] = []
        failed: list[tuple[Batch, Move, Journaled, str]] = []
        untouched: list[Journaled] = []  # a stop came first: closed as never started
        removed: set[int] = set()  # renamed where links are not possible: no source left
        # Two at a time: a copy across disks is the kernel copying and blake3 reading back,
        # both outside the GIL, so one file's check overlaps the next one's copy.
        batches: dict[int, list[Journaled]] = {}  # a RAW, its JPEG and its sidecar together
        for batch, _, entry in journaled:
            batches.setdefault(id(batch), []).append(entry)
        with ThreadPoolExecutor(PLACE_WORKERS, thread_name_prefix="shootwatch-ingest") as pool:
            placing = pool.map(partial(_placed_batch, cancel=cancel), batches.values())
            outcomes = (outcome for batch_outcomes in placing for outcome in batch_outcomes)
            for (batch, move, entry), outcome in zip(journaled, outcomes, strict=True):
                source_left, reason = outcome
                if reason is _NOT_STARTED:
                    untouched.append(entry)
                elif reason is not None:
                    failed.append((batch, move, entry, reason))
                else:
                    if not source_left:
                        removed.add(entry.move_id)
                    placed.append((batch, move, entry))
                done += 1
                if progress is not None:
                    progress(done, total, report)
        # Each new name on disk before any old one goes; each old one gone before "done".
        sync_folders({e.destination.parent for _, _, e in placed if e.destination})
        for _, _, entry in placed:
            if entry.move_id not in removed:
                remove_source(entry)
        sync_folders({m.source.parent for _, m, _ in placed})
        write(partial(_finish_chunk, db, placed, failed, untouched, root, inboxes))
        for batch, move, _ in placed:
            _count(report, batch, move, "")
        for _, move, _, reason in failed:
            report.failed += 1
            report.lines.append({"file": str(move.source), "done": "failed", "why": reason})


# Why a move was not made: a stop came before it started (its files were not touched).
_NOT_STARTED = "not started: the engine was stopping"


def _placed_batch(
    entries: list[Journaled], cancel: threading.Event | None
) -> list[tuple[bool, str | None]]:
    """Each file of a batch placed, in order. A stop lets the batches already under way
    finish and starts no other: the rest of the chunk is closed as never started, so a stop
    leaves no move open for the next start to repair, and no batch half filed."""
    if cancel is not None and cancel.is_set():
        return [(True, _NOT_STARTED)] * len(entries)
    return [_placed(entry) for entry in entries]


def _placed(entry: Journaled) -> tuple[bool, str | None]:
    """(whether the source is still to be removed, why it failed or None)."""
    try:
        return place(entry), None
    except MoveFailed as error:
        return True, str(error)
    except OSError as error:
        return True, _os_reason(error)


def _chunks(batches: list[Batch]) -> Iterator[list[Batch]]:
    """Whole batches, about CHUNK files at a time: folder syncs and commits are per chunk."""
    chunk: list[Batch] = []
    size = 0
    for batch in batches:
        if chunk and size + len(batch.moves) > CHUNK:
            yield chunk
            chunk, size = [], 0
        chunk.append(batch)
        size += len(batch.moves)
    if chunk:
        yield chunk


def _finish_chunk(
    db: Database,
    placed: list[tuple[Batch, Move, Journaled]],
    failed: list[tuple[Batch, Move, Journaled, str]],
    untouched: list[Journaled],
    root: Root,
    inboxes: dict[str, Root],
) -> None:
    with db.atomic():
        for entry in untouched:
            _close(db, entry.move_id, "rolled_back", _NOT_STARTED)
        for batch, move, entry in placed:
            _close(db, entry.move_id, "done", None)
            _record(db, batch, move, root, inboxes.get(batch.inbox))
        for batch, move, entry, reason in failed:
            _close(db, entry.move_id, "failed", reason)
            record_event(EventKind.INGEST_FAILED, "ingest", root=inboxes.get(batch.inbox),
                         path=_relative(move.source, batch.inbox),
                         payload={"error": reason})  # fmt: skip


def _journal(db: Database, chunk: list[Batch], root: Root) -> list[tuple[Batch, Move, Journaled]]:
    """Every move of the chunk written down as an intent, before any file is touched."""
    entries = []
    with db.atomic():
        for batch in chunk:
            batch_id = uuid.uuid4().hex
            for move in batch.moves:
                entries.append((batch, move, _intent(db, batch_id, move, root)))
    return entries


def _intent(db: Database, batch_id: str, move: Move, root: Root) -> Journaled:
    method = method_for(move.source, move.destination, move.action == "duplicate")
    dest_root_id = dest_rel = None
    if move.action == "ingest" and move.destination is not None:
        dest_root_id, dest_rel = root.id, _relative(move.destination, root.path)
    move_id = insert_returning_id(
        db,
        "INSERT INTO ingest_move (batch, method, state, source, destination, blake3,"
        " size, file_id, dest_root_id, dest_rel_path, started_at)"
        " VALUES (?, ?, 'intent', ?, ?, ?, ?, ?, ?, ?, ?)",
        (batch_id, method, str(move.source),
         str(move.destination) if move.destination else None, move.blake3, move.size,
         move.file_id, dest_root_id, dest_rel, time.time()),
    )  # fmt: skip
    temporary = None
    if move.destination is not None:
        temporary = temporary_for(move.destination, move_id)
        db.execute_sql(
            "UPDATE ingest_move SET temporary = ? WHERE id = ?", (str(temporary), move_id)
        )
    return Journaled(move_id, method, move.source, move.destination, temporary, move.blake3,
                     move.size)  # fmt: skip


def _close(db: Database, move_id: int, state: str, error: str | None) -> None:
    db.execute_sql(
        "UPDATE ingest_move SET state = ?, finished_at = ?, error = ? WHERE id = ?",
        (state, time.time(), error, move_id),
    )


def _record(db: Database, batch: Batch, move: Move, root: Root, inbox: Root | None) -> None:
    """The catalogue follows the file: an ingested file's record moves to its new place
    (photo, decisions and hash kept: nothing is hashed again); a duplicate's record goes, as
    the file is now in a hidden folder or deleted."""
    source_rel = _relative(move.source, batch.inbox)
    if move.action == "duplicate":
        db.execute_sql("DELETE FROM file WHERE id = ?", (move.file_id,))
        record_event(
            EventKind.DUPLICATE, "ingest", root=inbox, path=source_rel,
            payload={"of": move.duplicate_of,
                     "moved_to": str(move.destination) if move.destination else None},
        )  # fmt: skip
        return
    assert move.destination is not None
    dest_rel = _relative(move.destination, root.path)
    _move_file_record(db, move.file_id, root.id, dest_rel)
    dated = batch.dated
    kind = EventKind.INGESTED if dated.day is not None else EventKind.UNDATED
    record_event(
        kind, "ingest", root=root, path=dest_rel,
        payload={"from": str(move.source), "day": f"{dated.day:%Y-%m-%d}" if dated.day else None,
                 "date_source": dated.source},
    )  # fmt: skip


def _move_record(db: Database, move_id: int) -> None:
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


def _move_file_record(db: Database, file_id: int, root_id: int, rel_path: str) -> None:
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
    why = batch.dated.source  # where the date came from, or why there is none
    if move.action == "duplicate":
        report.duplicates += 1
        done, why = "duplicate", f"already in the catalogue: {move.duplicate_of}"
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
        "why": why,
    })  # fmt: skip


def _relative(path: Path, root: str) -> str:
    return os.path.relpath(path, root)


def _os_reason(error: OSError) -> str:
    return f"{error.strerror or error}: {error.filename or ''}".rstrip(": ")
