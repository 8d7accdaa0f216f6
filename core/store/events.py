"""The event log: every kind of event (what it means, who writes it), the groups of kinds that
consumers follow, the two ways events are written, and the one typed reader every consumer
(the engine's components, the app, the CLI) reads the log through, since an id.

Kinds are stored as their text, so a catalogue written before this enum reads the same.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from peewee import Database

from core.catalogue_location import is_server
from core.store.dialect import NO_LIMIT, ServerEventListener, announce_events, executemany
from core.store.models import Event as EventRow
from core.store.models import Root


class EventKind(StrEnum):
    """Every kind of event the log holds: what each means, and who writes it."""

    # --- files: the reconciler (source "reconcile"), for scans and the watcher's realtime runs
    ADDED = "added"  # a file new under a root (a root's first index says INDEXED instead)
    MODIFIED = "modified"  # a file's size or modification time changed; hashed again
    MOVED = "moved"  # a file changed path and kept its record; payload: from
    REMOVED = "removed"  # a file gone from a folder walked whole; payload: blake3, size
    UNREADABLE = "unreadable"  # a file or folder that could not be read; payload: reason
    INDEXED = "indexed"  # a root's first index: one event for its files; files, bytes, run
    ROOT_OFFLINE = "root_offline"  # a root missing or unreadable, nothing removed; reason
    ROOT_ONLINE = "root_online"  # an offline root readable again
    # --- roots: `shootwatch add` (source "cli")
    ROOT_ADDED = "root_added"  # a folder became a root; payload: kind
    # --- the inbox: ingest (source "ingest")
    INGESTED = "ingested"  # a file moved from the inbox to its dated folder; payload: from, day
    UNDATED = "undated"  # a file moved from the inbox to the undated folder (no capture date)
    DUPLICATE = "duplicate"  # an inbox file already catalogued, set aside; payload: of, moved_to
    INGEST_FAILED = "ingest_failed"  # a move out of the inbox failed; payload: error
    INGEST_RECOVERED = "ingest_recovered"  # a move a crash left open, closed; move, outcome
    # --- cards: ingest --from CARD (source "ingest")
    CARD_COPIED = "card_copied"  # a card file copied, verified, catalogued; card, from, backup
    CARD_COPY_FAILED = "card_copy_failed"  # a card file not copied; payload: card, from, error
    CARD_SAFE = "card_safe"  # a card the engine copied is safe to format; card, files, copied
    CARD_NOT_SAFE = "card_not_safe"  # a card the engine copied is not; card, files, problems
    # --- stages: the stage runner (source "stage")
    STAGE_QUEUED = "stage_queued"  # jobs queued for a stage; payload: stage, jobs
    STAGE_DONE = "stage_done"  # a job made its artifact (the path); payload: stage, photo
    STAGE_FAILED = "stage_failed"  # a job failed; payload: stage, photo, error, attempt, final
    # --- the engine itself (source "engine")
    COMPONENT_STATE = "component_state"  # a component's health changed; component, status, was
    WATCHER_FALLBACK = "watcher_fallback"  # a root (or all) scanned on a schedule, not watched
    WATCHER_OVERFLOW = "watcher_overflow"  # too many changes at once: reconciled when quiet
    # --- darktable: the darktable sync (source "darktable"); payloads carry the image's state
    DARKTABLE_LIBRARY_SYNCED = "darktable_library_synced"  # a library followed from now on
    DARKTABLE_IMPORTED = "darktable_imported"  # an image new in darktable's library
    DARKTABLE_REMOVED = "darktable_removed"  # an image gone from darktable's library
    EDITED = "edited"  # an image's edit history changed; payload: altered, was_altered, ...
    REEDITED_AFTER_EXPORT = "reedited_after_export"  # edited again after its last export
    REJECTED = "rejected"  # rejected or un-rejected in darktable; payload: rejected, was
    RATED = "rated"  # stars changed in darktable; payload: stars, was
    LABELLED = "labelled"  # colour labels changed in darktable; payload: labels, was
    TAGGED = "tagged"  # tags changed in darktable; payload: tags, added, removed
    EXPORTED = "exported"  # darktable's export time moved; payload: exported_at, was
    EXPORT_WRITTEN = "export_written"  # an export's file, paired with it; payload: export_path
    NEEDS_PROCESSING = "needs_processing"  # a new image file darktable has not imported
    NOT_IMPORTED = "not_imported"  # an image file in a film roll folder, never imported
    DARKTABLE_ORPHANED = "darktable_orphaned"  # a file gone that darktable still has
    SIDECAR_ORPHANED = "sidecar_orphaned"  # an XMP sidecar whose image is gone
    SIDECAR_UNREADABLE = "sidecar_unreadable"  # an XMP sidecar that could not be parsed
    # --- the app (source "app"), on a server catalogue: the engine may be on another machine
    SHOOT_ON_SCREEN = "shoot_on_screen"  # a folder on screen: previews first; payload: machine


# --- the groups of kinds consumers follow --------------------------------------------------

# One file's record changed: the darktable sync follows these for what they mean to darktable.
FILE_CHANGES = (EventKind.ADDED, EventKind.MODIFIED, EventKind.MOVED, EventKind.REMOVED)
# A file ingest put into the library, its record written with it: moved from an inbox, or a
# card's verified copy.
INGEST_ARRIVALS = (EventKind.INGESTED, EventKind.UNDATED, EventKind.CARD_COPIED)
# Every change to which files the catalogue holds: the media sync follows these.
FILE_EVENTS = (*FILE_CHANGES, EventKind.INDEXED, *INGEST_ARRIVALS)
# The event's path names a file that is there now (to describe again).
FILE_IS_THERE = (EventKind.ADDED, EventKind.MODIFIED, EventKind.MOVED, *INGEST_ARRIVALS)
# Files that may make new photos: the app's triage queue looks for them.
NEW_FILES = (EventKind.ADDED, EventKind.MOVED, EventKind.INDEXED, EventKind.CARD_COPIED)

_DECLARED: dict[str, EventKind] = {kind.value: kind for kind in EventKind}


class UndeclaredEventKind(ValueError):
    """A kind EventKind does not declare: a programming error when written, a typo when asked
    for."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"event kind {kind!r} is not declared in core.store.events.EventKind")
        self.kind = kind


def declared(kind: str) -> EventKind:
    """The declared kind with this text; an undeclared one is refused, so no kind is written
    that the enum does not list."""
    try:
        return _DECLARED[kind]
    except KeyError:
        raise UndeclaredEventKind(kind) from None


def _read_kind(text: str) -> EventKind:
    """The kind of a stored event. One this version does not declare (written by a newer
    shootwatch on the same catalogue) is read as itself rather than refused."""
    kind = _DECLARED.get(text)
    if kind is None:
        kind = str.__new__(EventKind, text)
        kind._value_ = text
        kind._name_ = "UNDECLARED"
    return kind


# --- writing ----------------------------------------------------------------------------------


def insert_events(db: Database, rows: Iterable[tuple]) -> None:
    """Many events at once (the reconciler, the darktable sync). rows: (at, kind, source,
    root_id, path, photo_id, payload_json)."""

    def checked(row: tuple) -> tuple:
        declared(row[1])
        return row

    executemany(
        db,
        "INSERT INTO event (at, kind, source, root_id, path, photo_id, payload)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (checked(row) for row in rows),
    )
    announce_events(db)


def record_shoot_on_screen(db: Database, root_id: int, rel_dir: str, machine: str) -> None:
    """An app's shoot on screen (``rel_dir`` of a root, "" for the root itself), for an
    engine that may run on another machine (core.media.photos follows it)."""
    payload = json.dumps({"machine": machine})
    row = (time.time(), EventKind.SHOOT_ON_SCREEN, "app", root_id, rel_dir, None, payload)
    with db.atomic():
        insert_events(db, [row])


def record_event(
    kind: EventKind,
    source: str,
    root: Root | None = None,
    path: str | None = None,
    payload: dict | None = None,
) -> EventRow:
    """One event, now."""
    event = EventRow.create(
        at=time.time(),
        kind=declared(kind),
        source=source,
        root=root,
        path=path,
        payload=json.dumps(payload) if payload is not None else None,
    )
    announce_events(EventRow._meta.database)
    return event


# --- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    """One event of the log, as every consumer reads it."""

    id: int
    at: float
    kind: EventKind
    source: str
    root_id: int | None
    path: str | None
    photo_id: int | None
    payload: dict | None


READ_LIMIT = 5000  # events one read returns unless told otherwise
_COLUMNS = "id, at, kind, source, root_id, path, photo_id, payload"


# The JSON scanner without json.loads' checks around it (every payload here was written whole
# by json.dumps): measured 0.3 µs a payload against 1.3 µs, and a burst of 2,000 events reaches
# the app in one read, on its UI thread.
_scan_json = json.JSONDecoder().scan_once


def _payload(text: str | None) -> dict | None:
    if not text:
        return None
    try:
        payload, end = _scan_json(text, 0)
    except (StopIteration, ValueError):
        return None  # not JSON, so not ours: nothing to tell from it
    if end != len(text):
        try:
            payload = json.loads(text)  # padded, or not JSON after all
        except ValueError:
            return None
    return payload if isinstance(payload, dict) else None


def _event(row: tuple) -> Event:
    event_id, at, kind, source, root_id, path, photo_id, payload = row
    return Event(event_id, at, _read_kind(kind), source, root_id, path, photo_id, _payload(payload))


class EventReader:
    """One consumer's place in the event log: the events after the last one it read, oldest
    first, of the kinds it follows (every kind when none are given).

    ``connection`` is a plain connection (any thread or process can follow the log with its
    own), or the catalogue's peewee database, read through its connection on the calling
    thread (the engine's writer, which sees its own writes).
    """

    def __init__(
        self,
        connection: sqlite3.Connection | Database,
        kinds: Iterable[EventKind] = (),
        since_id: int = 0,
    ) -> None:
        self._connection = connection
        self.kinds = tuple(declared(kind) for kind in kinds)
        self.last_id = since_id  # the id of the last event read; the next read starts after it
        marks = ", ".join("?" * len(self.kinds))
        self._of_kinds = [f"kind IN ({marks})"] if self.kinds else []

    def _execute(self, sql: str, args: Sequence = ()) -> list[tuple]:
        connection = self._connection
        if isinstance(connection, Database):  # either back end (core.store.dialect)
            return connection.execute_sql(sql, args).fetchall()
        return connection.execute(sql, args).fetchall()

    def _rows(self, where: list[str], args: list, order: str, limit: int) -> list[tuple]:
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        sql = f"SELECT {_COLUMNS} FROM event {clause}ORDER BY id {order} LIMIT ?"
        return self._execute(sql, [*args, limit])

    def newest_id(self) -> int:
        """The id of the newest event of the log, of any kind (0 when it is empty)."""
        return self._execute("SELECT COALESCE(MAX(id), 0) FROM event")[0][0]

    def from_now(self) -> EventReader:
        """Skip whatever the log holds now: the next read returns only events to come."""
        self.last_id = self.newest_id()
        return self

    def read(self, limit: int | None = READ_LIMIT, since: float | None = None) -> list[Event]:
        """The next events (at most ``limit``; None: all of them), oldest first, and only
        those at or after the time ``since`` when given; the reader moves past them."""
        where, args = ["id > ?", *self._of_kinds], [self.last_id, *self.kinds]
        if since is not None:
            where.append("at >= ?")
            args.append(since)
        rows = self._rows(where, args, "ASC", NO_LIMIT if limit is None else limit)
        events = [_event(row) for row in rows]
        if events:
            self.last_id = events[-1].id
        return events

    def newest(self, limit: int) -> list[Event]:
        """The newest ``limit`` events, oldest first; the reader goes on after them (from now,
        when there are none)."""
        rows = self._rows(self._of_kinds, list(self.kinds), "DESC", limit)
        events = [_event(row) for row in reversed(rows)]
        if events:
            self.last_id = events[-1].id
        else:
            self.from_now()
        return events


def events_at(root_id: int | None, path: str, limit: int) -> list[Event]:
    """The newest ``limit`` events about one path (relative to its root, or absolute when it
    is in no root), newest first."""
    rows = (
        EventRow.select(
            EventRow.id, EventRow.at, EventRow.kind, EventRow.source, EventRow.root,
            EventRow.path, EventRow.photo, EventRow.payload,
        )
        .where((EventRow.root == root_id) & (EventRow.path == path))
        .order_by(EventRow.id.desc())
        .limit(limit)
        .tuples()
    )  # fmt: skip
    return [_event(row) for row in rows]


class NewEvents:
    """How a follower of the log (``events --follow``, the app) learns that new events may be
    there: on a server, told by the server as the transaction that wrote them commits (LISTEN
    and NOTIFY, ``core.store.dialect``); on a SQLite file, by looking every ``poll_seconds``."""

    def __init__(self, location: str | object, poll_seconds: float) -> None:
        self.poll_seconds = poll_seconds
        self._listener = ServerEventListener(location) if is_server(location) else None

    @property
    def told(self) -> bool:
        """Whether the server tells of new events (no poll)."""
        return self._listener is not None

    @property
    def lost(self) -> str | None:
        """On a server, why it tells nothing now (its connection dropped, it cannot be
        reached); None while it listens, and on SQLite."""
        return self._listener.lost if self._listener is not None else None

    def wait(self, timeout: float) -> bool:
        """Whether to read the log now: on a server, True once new events were announced (or
        the listening started again after a restart), False after ``timeout`` without any; on
        SQLite, True after ``poll_seconds``."""
        if self._listener is not None:
            return self._listener.wait(timeout)
        time.sleep(self.poll_seconds)
        return True

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
