"""Named queries: every piece of SQL the rest of the program needs, in one place.

The reconciler's hot paths use raw cursors and ``executemany`` (measured ~6x faster than model
instances for 100k rows); everything else uses the peewee models.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import NamedTuple

from peewee import SqliteDatabase, fn

from core.catalogue_location import is_server
from core.store.dialect import ServerReadOnlyConnection, executemany, reads_an_index_alone
from core.store.events import EventKind, record_event
from core.store.models import FileRecord, Heartbeat, Root, SyncRun, UnreadableFolder


class KnownFile(NamedTuple):
    """A file record the reconciler did not find on disk (with its hash, to pair moves)."""

    record_id: int
    rel_path: str
    size: int
    mtime_ns: int
    blake3: str | None
    root_id: int | None = None  # another root's record (a move between roots); None: this one


# What a survey compares with the disk: rel_path -> (rel_path, record_id, size, mtime_ns).
# Plain tuples, because 100k of them are loaded for every reconcile of a large root.
KnownRows = dict[str, tuple[str, int, int, int]]


def open_read_only(catalogue_path: str) -> sqlite3.Connection | ServerReadOnlyConnection:
    """A separate read-only connection (used by scan workers in other processes), to the
    catalogue's file or, given a ``postgresql://`` URL, to its server."""
    if is_server(catalogue_path):
        return ServerReadOnlyConnection(catalogue_path)
    connection = sqlite3.connect(
        f"file:{catalogue_path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
    )
    connection.execute("PRAGMA busy_timeout = 5000")
    return connection


def _path_ranges(
    rel_dir: str, recursive: bool, claimed_children: Sequence[str]
) -> list[tuple[str, str | None]]:
    """Half-open ranges of rel_path [low, high) that a survey of ``rel_dir`` covers.

    '/' sorts just before '0', so every path below folder F lies in [F + '/', F + '0'). A
    survey that is not recursive covers its folder minus the sub-trees of the claimed children:
    the gaps between them, which hold its own files and any records under sub-folders that
    have vanished.
    """
    low, high = (rel_dir + "/", rel_dir + "0") if rel_dir else ("", None)
    if recursive:
        return [(low, high)]
    ranges = []
    for child in sorted(low + name + "/" for name in claimed_children):
        ranges.append((low, child))
        low = child[:-1] + "0"
    ranges.append((low, high))
    return ranges


def load_known_files(
    connection: sqlite3.Connection | ServerReadOnlyConnection,
    root_id: int,
    rel_dir: str,
    recursive: bool,
    claimed_children: Sequence[str] = (),
) -> tuple[KnownRows, set[str]]:
    """The records a survey of ``rel_dir`` covers (see ``_path_ranges``), and the paths among
    them that have no hash yet (``known_files_of_surveys`` reads many surveys' at once)."""
    if reads_an_index_alone(connection):
        return _known_files_from_index(connection, root_id, rel_dir, recursive, claimed_children)
    surveys = known_files_of_surveys(
        connection, [SurveyScope(root_id, rel_dir, recursive, tuple(claimed_children))]
    )
    try:
        return next(surveys)
    finally:
        surveys.close()


def _known_files_from_index(
    connection: sqlite3.Connection,
    root_id: int,
    rel_dir: str,
    recursive: bool,
    claimed_children: Sequence[str] = (),
) -> tuple[KnownRows, set[str]]:
    """``load_known_files`` on SQLite: reads the covering index (size + mtime) and the small
    partial index of unhashed records; it never touches the table itself."""
    known: KnownRows = {}
    unhashed: set[str] = set()
    for low, high in _path_ranges(rel_dir, recursive, claimed_children):
        bounds = "rel_path >= ?" + (" AND rel_path < ?" if high is not None else "")
        args = (root_id, low, high) if high is not None else (root_id, low)
        rows = connection.execute(
            f"SELECT rel_path, id, size, mtime_ns FROM file WHERE root_id = ? AND {bounds}", args
        ).fetchall()
        known.update(zip(map(itemgetter(0), rows), rows, strict=True))  # in C: 100k rows a scan
        unhashed.update(
            row[0]
            for row in connection.execute(
                f"SELECT rel_path FROM file WHERE root_id = ? AND {bounds} AND blake3 IS NULL",
                args,
            )
        )
    return known, unhashed


class SurveyScope(NamedTuple):
    """What part of a root one survey covers (see ``_path_ranges``)."""

    root_id: int
    rel_dir: str
    recursive: bool
    claimed_children: tuple[str, ...] = ()


# A server's rows of known files come this many at a time (a round trip each).
KNOWN_ROWS_PER_FETCH = 10_000
# Every bounded range of every survey as a table of its own, each read from the (root_id,
# rel_path) index in the order of the ranges (a function's rows WITH ORDINALITY come in that
# order: no sort), with the number of the survey it is of. The subquery is LATERAL and kept
# from being merged into the join (OFFSET 0) so that each range is an index range: merged, the
# server's planner, which cannot tell how few rows a range holds, compares every file with
# every range (a hash join on the root: 40 times slower for 200 folders).
_KNOWN_FILES_IN_RANGES = (
    "SELECT r.survey, f.rel_path, f.id, f.size, f.mtime_ns, f.no_hash"
    " FROM unnest(?::bigint[], ?::bigint[], ?::text[], ?::text[])"
    " WITH ORDINALITY AS r(survey, root_id, low, high, n),"
    " LATERAL (SELECT rel_path, id, size, mtime_ns, blake3 IS NULL AS no_hash FROM file"
    " WHERE root_id = r.root_id AND rel_path >= r.low AND rel_path < r.high OFFSET 0) AS f"
    " ORDER BY r.n"
)


def known_files_of_surveys(
    connection: sqlite3.Connection | ServerReadOnlyConnection, scopes: Sequence[SurveyScope]
) -> Iterator[tuple[KnownRows, set[str]]]:
    """What ``load_known_files`` gives for each of ``scopes``, in their order, each read when
    it is asked for. On SQLite, a survey's own queries (its covering index), as it starts. On
    a server, where each query is a round trip, one query for all of them, its rows streamed
    (its transaction open until the last survey's are read, or this is closed); and one more
    for each survey of a root's own folder, whose last range has no upper bound (an index
    range needs one)."""
    if reads_an_index_alone(connection):
        for scope in scopes:
            yield _known_files_from_index(connection, *scope)
        return
    ranges = [
        (number, scope.root_id, low, high)
        for number, scope in enumerate(scopes)
        for low, high in _path_ranges(scope.rel_dir, scope.recursive, scope.claimed_children)
    ]
    columns = [
        list(column) for column in zip(*(r for r in ranges if r[3] is not None), strict=True)
    ]
    rows = (
        connection.stream(_KNOWN_FILES_IN_RANGES, columns, KNOWN_ROWS_PER_FETCH)
        if columns
        else None
    )
    # The rows come in the order of the surveys (ORDER BY): the first of the next survey's
    # is read with the last of this one's, and kept for it.
    next_row = None
    try:
        next_row = next(rows, None) if rows is not None else None
        for number, scope in enumerate(scopes):
            known: KnownRows = {}
            unhashed: set[str] = set()
            while next_row is not None and next_row[0] == number:
                _survey, rel_path, record_id, size, mtime_ns, no_hash = next_row
                known[rel_path] = (rel_path, record_id, size, mtime_ns)
                if no_hash:
                    unhashed.add(rel_path)
                next_row = next(rows, None)
            unbounded = [low for number_of, _root, low, high in ranges
                         if number_of == number and high is None]  # fmt: skip
            for low in unbounded:
                for rel_path, record_id, size, mtime_ns, no_hash in connection.execute(
                    "SELECT rel_path, id, size, mtime_ns, blake3 IS NULL FROM file"
                    " WHERE root_id = ? AND rel_path >= ?",
                    (scope.root_id, low),
                ):
                    known[rel_path] = (rel_path, record_id, size, mtime_ns)
                    if no_hash:
                        unhashed.add(rel_path)
            yield known, unhashed
    finally:
        if rows is not None:
            rows.close()


def recorded_contents(
    connection: sqlite3.Connection, record_ids: Sequence[int]
) -> dict[int, tuple[str | None, int]]:
    """record_id -> (blake3, size) as the catalogue has them."""
    contents: dict[int, tuple[str | None, int]] = {}
    for start in range(0, len(record_ids), 500):
        chunk = list(record_ids[start : start + 500])
        marks = ", ".join("?" * len(chunk))
        for record_id, digest, size in connection.execute(
            f"SELECT id, blake3, size FROM file WHERE id IN ({marks})", chunk
        ):
            contents[record_id] = (digest, size)
    return contents


def missing_files(
    connection: sqlite3.Connection, rows: Iterable[tuple[str, int, int, int]]
) -> list[KnownFile]:
    """Known rows that were not found on disk, with their blake3 (moves are paired by it)."""
    rows = list(rows)
    contents = recorded_contents(connection, [row[1] for row in rows])
    return [
        KnownFile(record_id, rel_path, size, mtime_ns, contents.get(record_id, (None, 0))[0])
        for rel_path, record_id, size, mtime_ns in rows
    ]


def records_with_contents(
    db: SqliteDatabase, contents: Iterable[tuple[str, int]]
) -> list[KnownFile]:
    """The file records, in any root, holding any of these (blake3, size) contents."""
    wanted = list(set(contents))
    found: list[KnownFile] = []
    for start in range(0, len(wanted), 400):
        chunk = wanted[start : start + 400]
        marks = ", ".join("(?, ?)" for _ in chunk)
        flat = [value for pair in chunk for value in pair]
        found += [
            KnownFile(*row)
            for row in db.execute_sql(
                "SELECT id, rel_path, size, mtime_ns, blake3, root_id FROM file"
                f" WHERE (blake3, size) IN (VALUES {marks})",
                flat,
            ).fetchall()
        ]
    return found


def held_records(db: SqliteDatabase, record_ids: Sequence[int]) -> list[KnownFile]:
    """These records as they are now (those that still exist), with their root."""
    found: list[KnownFile] = []
    for start in range(0, len(record_ids), 500):
        chunk = list(record_ids[start : start + 500])
        marks = ", ".join("?" * len(chunk))
        found += [
            KnownFile(*row)
            for row in db.execute_sql(
                "SELECT id, rel_path, size, mtime_ns, blake3, root_id FROM file"
                f" WHERE id IN ({marks})",
                chunk,
            ).fetchall()
        ]
    return found


def existing_contents(
    db: SqliteDatabase, contents: Iterable[tuple[str, int]]
) -> set[tuple[str, int]]:
    """Which of these (blake3, size) pairs some file record already has."""
    wanted = set(contents)
    hashes = sorted({blake3 for blake3, _size in wanted})
    found: set[tuple[str, int]] = set()
    for start in range(0, len(hashes), 500):
        chunk = hashes[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        # By blake3 alone, sizes compared here: SQLite searches the (blake3, size) index for an
        # IN list, where a row-value IN (VALUES ...) reads all of it, once per survey: a
        # realtime run of many small folders paid for the whole library in each.
        rows = db.execute_sql(f"SELECT blake3, size FROM file WHERE blake3 IN ({marks})", chunk)
        found.update(pair for pair in map(tuple, rows.fetchall()) if pair in wanted)
    return found


def count_files(root: Root) -> int:
    return FileRecord.select().where(FileRecord.root == root).count()


def insert_files(db: SqliteDatabase, rows: Iterable[tuple]) -> None:
    """rows: (root_id, rel_path, size, mtime_ns, blake3, hashed_at, last_seen, generation, kind,
    error, description). A record another writer made for the same name in the meantime (a
    card's copy, catalogued as it takes its name, while a scan surveys its folder) keeps its id
    and photo and takes what this row says: both saw the same file."""
    executemany(
        db,
        "INSERT INTO file (root_id, rel_path, size, mtime_ns, blake3, hashed_at, last_seen,"
        " scan_generation, kind, error, description) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (root_id, rel_path) DO UPDATE SET size = excluded.size,"
        " mtime_ns = excluded.mtime_ns, blake3 = excluded.blake3, hashed_at = excluded.hashed_at,"
        " last_seen = excluded.last_seen, scan_generation = excluded.scan_generation,"
        " kind = excluded.kind, error = excluded.error, description = excluded.description",
        rows,
    )


def update_files(db: SqliteDatabase, rows: Iterable[tuple]) -> None:
    """rows: (rel_path, size, mtime_ns, blake3, hashed_at, last_seen, generation, kind, error,
    description, record_id). Also used for moves: the record keeps its id and photo."""
    executemany(
        db,
        "UPDATE file SET rel_path = ?, size = ?, mtime_ns = ?, blake3 = ?, hashed_at = ?,"
        " last_seen = ?, scan_generation = ?, kind = ?, error = ?, description = ? WHERE id = ?",
        rows,
    )


def move_files(db: SqliteDatabase, rows: Sequence[tuple]) -> None:
    """rows: (root_id, rel_path, size, mtime_ns, blake3, hashed_at, last_seen, generation,
    kind, error, description, record_id): records that change path, perhaps root. Two steps,
    because one record may move into the path another is leaving (a swap, a renumbering):
    every moving record first takes a path no file can have (rel_paths never start with '/'),
    then its new one."""
    executemany(
        db, "UPDATE file SET rel_path = '/moving/' || id WHERE id = ?", ((row[-1],) for row in rows)
    )
    executemany(
        db,
        "UPDATE file SET root_id = ?, rel_path = ?, size = ?, mtime_ns = ?, blake3 = ?,"
        " hashed_at = ?, last_seen = ?, scan_generation = ?, kind = ?, error = ?,"
        " description = ? WHERE id = ?",
        rows,
    )


def delete_files(db: SqliteDatabase, record_ids: Iterable[int]) -> None:
    executemany(db, "DELETE FROM file WHERE id = ?", ((i,) for i in record_ids))


class RootOverlap(ValueError):
    """A folder inside another root, or holding one: a folder belongs to one root only."""


def add_root(
    path: str, kind: str = "library", device: str | None = None, mount_point: str | None = None
) -> tuple[Root, bool]:
    """(the root at ``path``, whether it was added now); ``path`` is absolute and real;
    ``device`` and ``mount_point`` say which file system it is on (core.scan.roots)."""
    clash = overlapping_root(path)
    if clash is not None and clash.path == path:
        return clash, False
    if clash is not None:
        raise RootOverlap(
            f"{path} overlaps the root {clash.path}: a folder can belong to one root only."
        )
    root = Root.create(
        path=path, kind=kind, added_at=time.time(), device=device, mount_point=mount_point
    )
    record_event(EventKind.ROOT_ADDED, "cli", root=root, path=path, payload={"kind": kind})
    return root, True


def root_for_path(path: str) -> Root | None:
    """The root whose folder is ``path`` or contains it."""
    containing = [
        root
        for root in Root.select()
        if path == root.path or path.startswith(root.path.rstrip("/") + "/")
    ]
    return max(containing, key=lambda root: len(root.path), default=None)


def overlapping_root(path: str) -> Root | None:
    """A root that is ``path``, lies inside it, or contains it."""
    for root in Root.select():
        inner, outer = sorted((root.path.rstrip("/") + "/", path.rstrip("/") + "/"), key=len)
        if outer.startswith(inner):
            return root
    return None


def sample_files(root_id: int, count: int) -> list[tuple[str, int, int]]:
    """(rel_path, size, mtime_ns) of up to ``count`` records of a root, spread over its
    records from the oldest to the newest."""
    db = FileRecord._meta.database
    low, high = db.execute_sql(
        "SELECT MIN(id), MAX(id) FROM file WHERE root_id = ?", (root_id,)
    ).fetchone()
    if low is None:
        return []
    found: dict[int, tuple[str, int, int]] = {}
    for step in range(count):
        at = low + (high - low) * step // max(1, count - 1)
        row = db.execute_sql(
            "SELECT id, rel_path, size, mtime_ns FROM file WHERE root_id = ? AND id >= ?"
            " ORDER BY id LIMIT 1",
            (root_id, at),
        ).fetchone()
        if row is not None:
            found[row[0]] = row[1:]
    return list(found.values())


def note_folders_read(
    root_id: int,
    surveyed: Iterable[tuple[str, bool]],
    unreadable: Iterable[tuple[str, str]],
    now: float,
) -> None:
    """After a run that read the folders ``surveyed`` (rel_dir, recursive) of a root: those
    it could read are no longer unreadable; ``unreadable`` (rel_dir, reason) are, now."""
    surveyed = list(surveyed)

    def read_now(rel_path: str) -> bool:
        return any(
            rel_path == rel_dir
            or (recursive and (rel_dir == "" or rel_path.startswith(rel_dir + "/")))
            for rel_dir, recursive in surveyed
        )

    known = UnreadableFolder.select().where(UnreadableFolder.root == root_id)
    gone = [row.rel_path for row in known if read_now(row.rel_path)]
    rows = [
        {"root": root_id, "rel_path": "" if rel == "." else rel, "reason": reason, "seen_at": now}
        for rel, reason in unreadable
    ]
    with UnreadableFolder._meta.database.atomic():
        if gone:
            UnreadableFolder.delete().where(
                (UnreadableFolder.root == root_id) & UnreadableFolder.rel_path.in_(gone)
            ).execute()
        if rows:
            UnreadableFolder.insert_many(rows).on_conflict(
                conflict_target=[UnreadableFolder.root, UnreadableFolder.rel_path],
                preserve=[UnreadableFolder.reason, UnreadableFolder.seen_at],
            ).execute()


def forget_unreadable_folders(root_id: int, rel_paths: Sequence[str]) -> None:
    """Folders that were unreadable and are gone."""
    UnreadableFolder.delete().where(
        (UnreadableFolder.root == root_id) & UnreadableFolder.rel_path.in_(list(rel_paths))
    ).execute()


def unreadable_folders(root_id: int) -> list[tuple[str, str]]:
    """(rel_path, reason) of the folders of a root that the last run to look could not read."""
    query = UnreadableFolder.select().where(UnreadableFolder.root == root_id)
    return [(row.rel_path, row.reason) for row in query.order_by(UnreadableFolder.rel_path)]


def said_unreadable(
    db: SqliteDatabase, root_id: int, items: Sequence[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Which of ``items`` (rel_path, reason) the catalogue already says are unreadable for that
    reason, so a problem is said once and again only when its reason changes or it was put
    right: a file record's last read error, a folder noted unreadable, or else the path's last
    ``unreadable`` event with nothing said of the path since."""
    said: set[tuple[str, str]] = set()
    paths = sorted({path for path, _ in items})
    for chunk in _chunks(paths):
        marks = ",".join("?" * len(chunk))
        said.update(
            (path or ".", reason)
            for path, reason in db.execute_sql(
                f"SELECT rel_path, reason FROM unreadable_folder "
                f"WHERE root_id = ? AND rel_path IN ({marks})",
                [root_id, *("" if path == "." else path for path in chunk)],
            )
        )
        said.update(
            db.execute_sql(
                f"SELECT rel_path, error FROM file WHERE root_id = ? AND rel_path IN ({marks}) "
                f"AND error IS NOT NULL",
                [root_id, *chunk],
            )
        )
        # The event log has no index by path; by kind it has, and these events are few.
        last_said = db.execute_sql(
            f"SELECT id, path, payload FROM event WHERE id IN (SELECT max(id) FROM event "
            f"WHERE kind = ? AND root_id = ? AND path IN ({marks}) GROUP BY path)",
            [EventKind.UNREADABLE.value, root_id, *chunk],
        ).fetchall()
        for event_id, path, payload in last_said:
            since = db.execute_sql(
                "SELECT 1 FROM event WHERE id > ? AND root_id = ? AND path = ? LIMIT 1",
                (event_id, root_id, path),
            ).fetchone()
            if since is None:
                try:
                    said.add((path, json.loads(payload or "{}").get("reason")))
                except (ValueError, AttributeError):
                    continue
    return said


def _chunks(values: Sequence, size: int = 400) -> Iterable[Sequence]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclass(frozen=True)
class RootSummary:
    root: Root
    files: int
    bytes: int
    unhashed: int
    last_run: SyncRun | None
    unreadable_folders: tuple[tuple[str, str], ...] = ()  # (rel_path, reason)


def root_summaries() -> list[RootSummary]:
    # Two queries, each read from an index alone (counts and sizes from the covering index,
    # the unhashed from the partial one): one query over the table took 30 ms at 100,000
    # files, these two 6 ms.
    totals = {
        row[0]: row[1:]
        for row in FileRecord.select(
            FileRecord.root, fn.COUNT(FileRecord.id), fn.COALESCE(fn.SUM(FileRecord.size), 0)
        )
        .group_by(FileRecord.root)
        .tuples()
    }
    unhashed_by_root = dict(
        FileRecord.select(FileRecord.root, fn.COUNT(FileRecord.id))
        .where(FileRecord.blake3.is_null())
        .group_by(FileRecord.root)
        .tuples()
    )
    summaries = []
    for root in Root.select().order_by(Root.path):
        files, size = totals.get(root.id, (0, 0))
        summaries.append(
            RootSummary(
                root,
                files,
                size,
                unhashed_by_root.get(root.id, 0),
                last_sync_run(root),
                tuple(unreadable_folders(root.id)),
            )
        )
    return summaries


def last_sync_run(root: Root | None = None) -> SyncRun | None:
    query = SyncRun.select().order_by(SyncRun.id.desc())
    if root is not None:
        query = query.where(SyncRun.root == root)
    return query.first()


def recent_sync_runs(limit: int = 20, offset: int = 0) -> list[SyncRun]:
    return list(SyncRun.select().order_by(SyncRun.id.desc()).limit(limit).offset(offset))


def sync_run_count() -> int:
    return SyncRun.select().count()


def save_heartbeat(component: str, status: str, task: str | None, error: str | None) -> None:
    Heartbeat.insert(
        component=component, status=status, task=task, error=error, beat_at=time.time()
    ).on_conflict(
        conflict_target=[Heartbeat.component],
        preserve=[Heartbeat.status, Heartbeat.task, Heartbeat.error, Heartbeat.beat_at],
    ).execute()


def heartbeats() -> list[Heartbeat]:
    return list(Heartbeat.select().order_by(Heartbeat.component))


def folder_count() -> int:
    """How many folders hold catalogued files (the inotify watches a watcher needs, roughly)."""
    # rtrim(p, replace(p, '/', '')) strips the file name, leaving its folder with a '/'.
    cursor = FileRecord._meta.database.execute_sql(
        "SELECT COUNT(DISTINCT root_id || ':' || rtrim(rel_path, replace(rel_path, '/', '')))"
        " FROM file"
    )
    return cursor.fetchone()[0]


def fail_unfinished_runs(reason: str) -> int:
    return (
        SyncRun.update(status="failed", error=reason, finished_at=time.time())
        .where(SyncRun.status == "running")
        .execute()
    )


class RootIndex:
    """The roots' paths, to tell which root holds a path: innermost first (a snapshot; call
    ``refresh`` when roots may have changed)."""

    def __init__(self) -> None:
        self.paths: dict[int, str] = {}
        self._longest_first: list[tuple[str, int]] = []

    def refresh(self) -> RootIndex:
        self.paths = {root.id: root.path.rstrip("/") or "/" for root in Root.select()}
        self._longest_first = sorted(
            ((path, root_id) for root_id, path in self.paths.items()), key=lambda i: -len(i[0])
        )
        return self

    def locate(self, path: str) -> tuple[int | None, str]:
        """(root id, path relative to it) for a path inside a root, else (None, the path)."""
        for root_path, root_id in self._longest_first:
            if path.startswith(root_path + "/"):
                return root_id, path[len(root_path) + 1 :]
        return None, path
