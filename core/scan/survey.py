"""One survey: walk part of a root, compare it with the catalogue, hash what is new or changed.

A survey reads the catalogue and the disk and writes nothing; it runs in a worker process (or in
the calling one) and returns the differences, so an unchanged tree sends back almost nothing.
The reconciler splits a root into surveys and writes their results.
"""

from __future__ import annotations

import mmap
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from stat import S_ISREG
from typing import NamedTuple

from core.catalogue_location import is_server
from core.files import last_written_ns
from core.media.kinds import kind_from_name
from core.scan.hashing import describe_os_error, hash_file
from core.scan.ignore import IgnoreRules, is_storable_name
from core.store.queries import (
    KnownFile,
    KnownRows,
    SurveyScope,
    known_files_of_surveys,
    load_known_files,
    missing_files,
    open_read_only,
    recorded_contents,
)


@dataclass(frozen=True)
class SurveyTask:
    catalogue_path: str
    root_id: int
    root_path: str
    rel_dir: str  # "" is the root folder itself
    recursive: bool
    claimed_children: tuple[str, ...]  # sub-folders of rel_dir that other surveys cover
    ignore: tuple[str, ...]
    excluded_paths: tuple[str, ...]  # relative paths never recorded (the catalogue's own files)
    hash_retries: int
    # Files modified less than this long ago are left for later (still being copied?): they
    # are neither recorded nor counted missing, and come back in ``unsettled``.
    settle_ns: int = 0
    # With no watcher to come back for it (a scan from the command line), a new or changed file
    # that changed less than this long ago is hashed once it has held still this long; one
    # that never does is recorded with the reason and no content (see ``_hash_when_still``).
    hold_still_ns: int = 0

    @property
    def scope(self) -> SurveyScope:
        return SurveyScope(self.root_id, self.rel_dir, self.recursive, self.claimed_children)


class SeenFile(NamedTuple):
    """A file on disk that is new, changed, or could not be hashed before (a tuple: cheap to
    send between processes)."""

    rel_path: str
    size: int
    mtime_ns: int
    kind: str
    blake3: str | None
    error: str | None
    record_id: int | None  # the existing record, if the catalogue knew this path
    # What that record held before: a file replaced in place may have moved elsewhere.
    previous_blake3: str | None = None
    previous_size: int | None = None
    # What the file is, made from the bytes hashed (core.media.describe's record), so the
    # media pipeline does not read it again; None when not made (unhashed, or it failed).
    description: str | None = None


@dataclass
class SurveyResult:
    rel_dir: str
    files_seen: int = 0
    files_hashed: int = 0
    bytes_hashed: int = 0
    changed: list[SeenFile] = field(default_factory=list)
    missing: list[KnownFile] = field(default_factory=list)  # records not found on disk
    unreadable_folders: list[tuple[str, str]] = field(default_factory=list)  # (rel_dir, reason)
    unreadable_files: list[tuple[str, str]] = field(default_factory=list)  # (rel_path, reason)
    unsettled: list[str] = field(default_factory=list)  # rel_paths modified too recently

    # Sent between processes as plain tuples: pickling 100k named tuples cost 4x as much.
    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["changed"] = [tuple(seen) for seen in self.changed]
        state["missing"] = [tuple(known) for known in self.missing]
        return state

    def __setstate__(self, state: dict) -> None:
        state["changed"] = list(map(SeenFile._make, state["changed"]))
        state["missing"] = list(map(KnownFile._make, state["missing"]))
        self.__dict__.update(state)


class SurveyCounters:
    """Progress shared with the process that shows it (multiprocessing Values or None).

    Updating a shared Value takes a lock (~8 us), so a survey adds to local totals and
    publishes them at most every ``PUBLISH_BYTES`` hashed or at the end of each folder.
    """

    PUBLISH_BYTES = 64 * 1024 * 1024

    def __init__(self, files_seen=None, bytes_hashed=None) -> None:
        self.files_seen = files_seen
        self.bytes_hashed = bytes_hashed
        self._files = 0
        self._bytes = 0

    def add(self, files_seen: int = 0, bytes_hashed: int = 0) -> None:
        self._files += files_seen
        self._bytes += bytes_hashed
        if self._bytes >= self.PUBLISH_BYTES:
            self.publish()

    def publish(self) -> None:
        if self.files_seen is not None and self._files:
            with self.files_seen.get_lock():
                self.files_seen.value += self._files
        if self.bytes_hashed is not None and self._bytes:
            with self.bytes_hashed.get_lock():
                self.bytes_hashed.value += self._bytes
        self._files = self._bytes = 0


# Per-process state: a worker keeps its read-only connection and compiled rules between tasks.
_counters = SurveyCounters()
_connection: tuple[tuple[int, str, int], sqlite3.Connection] | None = None
_rules: dict[tuple[tuple[str, ...], tuple[str, ...]], IgnoreRules] = {}


def install_counters(counters: SurveyCounters) -> None:
    global _counters
    _counters = counters


def _catalogue_connection(path: str) -> sqlite3.Connection:
    global _connection
    # Keyed by the process (a connection must never cross a fork) and the file itself (a
    # catalogue replaced at the same path is another catalogue); a server's by its URL.
    key = (os.getpid(), path, 0 if is_server(path) else os.stat(path).st_ino)
    if _connection is None or _connection[0] != key:
        if _connection is not None and _connection[0][0] == key[0]:
            _connection[1].close()
        _connection = (key, open_read_only(path))
    return _connection[1]


def close_catalogue_connection() -> None:
    """Close this process's connection, if it has one: a scan that surveyed in its own process
    closes it when done, since SQLite tidies the write-ahead log away only when the
    catalogue's last connection closes (left behind, its files would outlive the process)."""
    global _connection
    if _connection is not None and _connection[0][0] == os.getpid():
        _connection[1].close()
    _connection = None


def _ignore_rules(task: SurveyTask) -> IgnoreRules:
    key = (task.ignore, task.excluded_paths)
    if key not in _rules:
        _rules[key] = IgnoreRules(task.ignore, task.excluded_paths)
    return _rules[key]


def scanned_subfolders(root_path: str, rel_dir: str, rules: IgnoreRules) -> list[str] | None:
    """Names of the sub-folders a scan enters, or None when the folder cannot be listed."""
    prefix = rel_dir + "/" if rel_dir else ""
    try:
        with os.scandir(os.path.join(root_path, rel_dir) if rel_dir else root_path) as entries:
            return sorted(
                entry.name
                for entry in entries
                if entry.is_dir(follow_symlinks=False)
                and not rules.ignores(prefix + entry.name, entry.name, True)
                and is_storable_name(entry.name)  # the parent's survey reports the others
            )
    except OSError:
        return None


def _printable(rel_path: str) -> str:
    """A name with undecodable bytes, shown as \\xNN escapes (it cannot be stored as text)."""
    return os.fsencode(rel_path).decode("utf-8", "backslashreplace")


def surveys(tasks: list[SurveyTask]) -> Iterator[SurveyResult]:
    """Each task's survey, in their order, one at a time as they are asked for (closing this
    stops between two). The catalogue's records are read for all of them at once where that
    is cheaper (a server: see ``known_files_of_surveys``)."""
    by_catalogue = {task.catalogue_path for task in tasks}
    if len(by_catalogue) != 1:  # never in a scan (one catalogue); nothing to read at once
        for task in tasks:
            yield survey(task)
        return
    connection = _catalogue_connection(tasks[0].catalogue_path)
    known_files = known_files_of_surveys(connection, [task.scope for task in tasks])
    try:
        for task, known in zip(tasks, known_files, strict=True):
            yield survey(task, known)
    finally:
        known_files.close()


def survey(task: SurveyTask, known_files: tuple[KnownRows, set[str]] | None = None) -> SurveyResult:
    """Survey ``task``'s part of its root; ``known_files``, when given, is what the
    catalogue holds there, read already (``surveys``)."""
    connection = _catalogue_connection(task.catalogue_path)
    if known_files is None:
        known_files = load_known_files(connection, *task.scope)
    known, unhashed = known_files
    ignores = _ignore_rules(task).ignores
    result = SurveyResult(task.rel_dir)
    vanished: list[tuple[str, int, int, int]] = []
    root_path = task.root_path
    pop_known = known.pop
    stat = os.stat
    stack = [task.rel_dir]
    settled_before = time.time_ns() - task.settle_ns if task.settle_ns else None
    changed_after = time.time_ns() - task.hold_still_ns if task.hold_still_ns else None
    changing: list[tuple[str, tuple[str, int, int, int] | None, os.stat_result]] = []
    # The hot loop of every scan: one pass per entry, no calls that can be avoided.
    while stack:
        rel_dir = stack.pop()
        prefix = rel_dir + "/" if rel_dir else ""
        try:
            fd = os.open(
                os.path.join(root_path, rel_dir) if rel_dir else root_path,
                os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC,
            )
        except OSError as error:
            result.unreadable_folders.append((rel_dir or ".", describe_os_error(error)))
            continue
        seen_here = 0
        try:
            with os.scandir(fd) as entries:
                for entry in entries:
                    name = entry.name
                    rel_path = prefix + name
                    if entry.is_file(follow_symlinks=False):
                        if ignores(rel_path, name, False):
                            continue
                        if not name.isascii() and not is_storable_name(name):
                            reason = "name is not valid UTF-8: rename the file to record it"
                            result.unreadable_files.append((_printable(rel_path), reason))
                            continue
                        try:
                            st = stat(name, dir_fd=fd, follow_symlinks=False)
                        except FileNotFoundError:
                            continue  # gone between listing and stat: it is not on disk
                        except OSError as error:
                            result.unreadable_files.append((rel_path, describe_os_error(error)))
                            pop_known(rel_path, None)  # present but unreadable: keep its record
                            continue
                        row = pop_known(rel_path, None)
                        if settled_before is not None and last_written_ns(st) > settled_before:
                            result.unsettled.append(rel_path)
                            continue
                        seen_here += 1
                        if (
                            row is not None
                            and row[2] == st.st_size
                            and row[3] == st.st_mtime_ns
                            and not (unhashed and rel_path in unhashed)
                        ):
                            continue
                        if changed_after is not None and st.st_ctime_ns > changed_after:
                            changing.append((rel_path, row, st))  # hashed once it holds still
                            continue
                        stated = (st.st_size, st.st_mtime_ns)
                        if not _hash_into(result, task, fd, rel_path, name, row, stated):
                            seen_here -= 1
                            if row is not None:
                                vanished.append(row)
                    elif entry.is_dir(follow_symlinks=False):
                        if ignores(rel_path, name, True):
                            continue
                        if not is_storable_name(name):
                            reason = "folder name is not valid UTF-8: rename it to record its files"
                            result.unreadable_files.append((_printable(rel_path), reason))
                        elif task.recursive:
                            stack.append(rel_path)
                    # symlinks, FIFOs, sockets and devices are not photos: passed over
        except OSError as error:
            result.unreadable_folders.append((rel_dir or ".", describe_os_error(error)))
        finally:
            os.close(fd)
        result.files_seen += seen_here
        _counters.add(files_seen=seen_here)
        _counters.publish()
    if changing:
        _hash_when_still(result, task, changing, vanished)
    # Records not found on disk: the reconciler removes them or pairs them with new files.
    result.missing = missing_files(connection, [*known.values(), *vanished])
    _add_previous_contents(connection, result)
    return result


def _add_previous_contents(connection: sqlite3.Connection, result: SurveyResult) -> None:
    ids = [seen.record_id for seen in result.changed if seen.record_id is not None]
    if not ids:
        return
    previous = recorded_contents(connection, ids)
    result.changed = [
        seen._replace(
            previous_blake3=previous[seen.record_id][0], previous_size=previous[seen.record_id][1]
        )
        if seen.record_id in previous
        else seen
        for seen in result.changed
    ]


def survey_batch(tasks: list[SurveyTask]) -> list[SurveyResult]:
    return list(surveys(tasks))


def _hash_when_still(
    result: SurveyResult,
    task: SurveyTask,
    changing: list[tuple[str, tuple[str, int, int, int] | None, os.stat_result]],
    vanished: list[tuple[str, int, int, int]],
) -> None:
    """Hash the files that changed a moment ago once they have held still for
    ``task.hold_still_ns``. A file hashed in a pause of its writer would be recorded with a
    part of its content, as if complete: so it waits until its status (size and times) has not
    changed for that long, then it is hashed as any other file. One that changes in each of
    ``hash_retries + 1`` waits is recorded with the reason and no content, and read again by
    the next scan. (The status time is the kernel's, set by every write: a copy that keeps the
    original's modification time still shows it.)"""
    hold = task.hold_still_ns
    started = time.monotonic()
    for _wait in range(task.hash_retries + 1):
        newest = max(st.st_ctime_ns for _rel, _row, st in changing)
        # Held still since its last change, only the rest of the time is waited for; a time
        # ahead of this clock (a file server's) waits the whole time, once.
        time.sleep(max(0, min(hold, newest + hold - time.time_ns())) / 1e9)
        still_changing = []
        for rel_path, row, before in changing:
            folder, name = os.path.split(rel_path)
            fd = None
            try:
                folder_path = os.path.join(task.root_path, folder)
                fd = os.open(folder_path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                now = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if not S_ISREG(now.st_mode):
                    raise FileNotFoundError(rel_path)  # replaced by something else: not a file
                if _status(now) != _status(before):
                    still_changing.append((rel_path, row, now))
                    continue
                if _hash_into(result, task, fd, rel_path, name, row, _status(now)[:2]):
                    continue
            except (FileNotFoundError, NotADirectoryError):
                pass  # gone meanwhile, or its folder: as a file that vanished while hashed
            except OSError as error:  # present but unreadable now: its record is kept
                result.files_seen -= 1
                result.unreadable_files.append((rel_path, describe_os_error(error)))
                continue
            finally:
                if fd is not None:
                    os.close(fd)
            result.files_seen -= 1
            if row is not None:
                vanished.append(row)
        changing = still_changing
        if not changing:
            return
    reason = (
        f"still being written: it kept changing for {time.monotonic() - started:.0f} s; "
        "the next scan reads it again"
    )
    for rel_path, row, st in changing:
        kind = kind_from_name(os.path.basename(rel_path))
        record_id = row[1] if row is not None else None
        seen = SeenFile(rel_path, st.st_size, st.st_mtime_ns, kind, None, reason, record_id)
        result.changed.append(seen)


def _status(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _hash_into(
    result: SurveyResult,
    task: SurveyTask,
    dir_fd: int,
    rel_path: str,
    name: str,
    row: tuple[str, int, int, int] | None,
    stated: tuple[int, int],
) -> bool:
    """Hash a new or changed file into ``result``; False if it vanished before it was read."""
    kind = kind_from_name(name)
    look = partial(_description_record, os.path.join(task.root_path, rel_path))
    outcome = hash_file(name, task.hash_retries, dir_fd=dir_fd, expected=stated, look=look)
    result.bytes_hashed += outcome.bytes_read
    _counters.add(bytes_hashed=outcome.bytes_read)
    if outcome.vanished:
        return False
    if outcome.blake3 is not None:
        result.files_hashed += 1
    record_id = row[1] if row is not None else None
    result.changed.append(
        SeenFile(
            rel_path,
            outcome.size,
            outcome.mtime_ns,
            kind,
            outcome.blake3,
            outcome.error,
            record_id,
            description=outcome.looked,
        )
    )
    return True


def _description_record(path: str, content: bytes | mmap.mmap) -> str:
    """The file's description (what the media workers would make of it; a sidecar's marks),
    made from its bytes in hand (core.media.describe)."""
    # Imported here: a scan that hashes nothing loads no image library.
    from core.media.describe import describe_content

    return describe_content(path, content).as_record()
