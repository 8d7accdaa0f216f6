"""A ``shootwatch scan`` that finds nothing changed, told with the catalogue's driver alone.

Most scans of a library change nothing, and the whole process is what a person waits for: the
interpreter, the ORM and the catalogue's models cost more than the walk of 10,000 files. So
before the full scan (core.cli.scanning, core.scan.reconcile) loads any of it, this looks with
the driver (``sqlite3`` for a file, ``psycopg`` for a server: core.cli.quick_catalogue, where
the two differ) and ``os.scandir``: the catalogue's schema this code's, no engine running on
it, every root online on the file system recorded for it, no folder of it known unreadable,
each file the catalogue knows there with the same size and modification time and a content,
no other file, no name the catalogue cannot hold, nothing for the media pipeline to do. Then
it records what the full scan records for such a run (the run in ``history``, each root seen
now) and prints the same summary, with the same exit code.

Anything else (a file added, changed, removed or renamed, a root offline, unmounted or on
another drive, an engine running, a catalogue to upgrade or unreadable, a server that cannot
be reached, options other than the settings' own) is the full scan's, which then runs as if
this had not looked: nothing is written here unless every root was found unchanged. The
comparison is the survey's (core.scan.survey: size and mtime_ns of each regular file, the
same ignore rules, the files without a content read again), so a file the full scan would
record anew is never called unchanged here. The run is recorded in one transaction that
holds the roots it records (SQLite's write lock, a server's row locks) and finds each as it
was looked at.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
import time
from pathlib import Path
from typing import TextIO

from core.cli.invocation import EXIT_OK
from core.cli.output import previews_left, scan_summary
from core.cli.quick_catalogue import QuickCatalogue, open_quick
from core.config import Settings
from core.records import frozen_record
from core.scan.ignore import IgnoreRules, excluded_paths, is_storable_name
from core.scan.mounts import RootIdentity, identify
from core.scan.report import ReconcileReport
from core.store.backlog import (
    any_photo_without_metadata,
    files_not_described,
    photos_without_metadata,
    preview_work,
)

# From this many files known under a root, its walk is shared with a forked copy of this
# process (``_same_files``); below, the fork costs more than the half of the walk it saves.
SHARED_WALK_FROM = 5_000
SHARED_FOLDERS = 8  # the walk is shared once the first levels have this many folders


@frozen_record
class _RootSeen:
    root_id: int
    path: str
    identity: RootIdentity
    files: int
    started_at: float
    finished_at: float
    duration: float


def scan_if_unchanged(
    args: argparse.Namespace,
    settings: Settings,
    catalogue: Path | str,
    out: TextIO,
    err: TextIO,
) -> int | None:
    """``shootwatch scan`` of every root when nothing changed under any of them: its exit code,
    the run recorded and its summary printed. None when the full scan must run (nothing was
    written then)."""
    if args.path is not None or args.accept_empty or args.previews or args.json:
        return None
    # Not made yet, an engine running (it scans: core.cli.scanning asks it), a server that
    # cannot be reached: the full scan's, which makes it, asks the engine or says why not.
    connection = open_quick(catalogue)
    if connection is None:
        return None
    try:
        seen = _all_unchanged(connection, settings)
        if seen is None:
            return None
        left, builds = preview_work(connection, all_previews=False)
        if builds or _describing_waits(connection):
            return None  # the scan describes, or builds previews: the full scan's work
        if not _record(connection, seen):
            return None
    except (*connection.errors, OSError):
        return None  # looked at again by the full scan, which says what is wrong
    finally:
        connection.close()
    if left:
        err.write(previews_left(left))
    for root in seen:
        out.write(scan_summary(_report(root)) + "\n")
    return EXIT_OK


def _all_unchanged(connection: QuickCatalogue, settings: Settings) -> list[_RootSeen] | None:
    """Each root as this scan found it, when all are unchanged; None otherwise."""
    if not connection.schema_is_current():
        return None  # new, older (to upgrade) or newer: the store says what to do
    roots = connection.execute_sql(
        "SELECT id, path, state, device, mount_point FROM root ORDER BY path"
    ).fetchall()
    if not roots:
        return None  # the full scan says there is none
    seen = []
    for root_id, path, state, device, mount_point in roots:
        started_at, clock = time.time(), time.perf_counter()
        recorded = RootIdentity(device, mount_point) if device and mount_point else None
        if state != "online" or recorded is None or identify(path) != recorded:
            return None  # offline, never placed on a drive, or on another one now
        if connection.execute_sql(
            "SELECT 1 FROM unreadable_folder WHERE root_id = ? LIMIT 1", (root_id,)
        ).fetchone():
            return None  # a folder to read again and to clear: the full scan's
        known = _known_files(connection, root_id)
        if not known:
            return None  # a first index, or files without a content to read again
        rules = IgnoreRules(
            settings.scan.ignore,
            excluded_paths(path, connection.file, settings.scan.own_folders),
        )
        files = _same_files(path, known, rules)
        # The drive may have gone while it was read: as the full scan, look again.
        if files is None or identify(path) != recorded:
            return None
        duration = time.perf_counter() - clock
        seen.append(_RootSeen(root_id, path, recorded, files, started_at, time.time(), duration))
    return seen


def _known_files(connection: QuickCatalogue, root_id: int) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of each file the catalogue knows under the root; empty when any of
    them has no content recorded (the full scan reads those again)."""
    if connection.execute_sql(
        "SELECT 1 FROM file WHERE root_id = ? AND blake3 IS NULL LIMIT 1", (root_id,)
    ).fetchone():
        return {}
    rows = connection.rows(
        "SELECT rel_path, size, mtime_ns FROM file WHERE root_id = ?", (root_id,)
    )
    return {rel_path: (size, mtime_ns) for rel_path, size, mtime_ns in rows}


def _same_files(
    root_path: str, known: dict[str, tuple[int, int]], rules: IgnoreRules
) -> int | None:
    """How many files are under the root when they are exactly the ones ``known`` (each with
    its size and mtime_ns) and every folder could be read; None at the first difference.

    A large root is walked by two processes, this one and a fork of it, each over half of
    its folders: the walk is a stat per file, and the second core does half of them (as the
    full scan's survey workers do). Each takes the files it sees out of its own copy of
    ``known``, and their folders do not overlap, so the files seen are the ones known exactly
    when each saw no difference and together they saw as many as are known."""
    expected = len(known)
    if expected < SHARED_WALK_FROM or (os.cpu_count() or 1) < 2 or threading.active_count() > 1:
        files = _walk(root_path, [""], known, rules)
    else:
        files = _walk_shared(root_path, known, rules)
    return files if files == expected else None


def _walk_shared(
    root_path: str, known: dict[str, tuple[int, int]], rules: IgnoreRules
) -> int | None:
    """The files under the root that are as known, walked with a forked copy of this process
    (``_same_files``); None at the first difference either finds."""
    # The first levels here, until there are folders enough to share evenly.
    files, folders = 0, [""]
    while folders and len(folders) < SHARED_FOLDERS:
        below: list[str] = []
        for rel_dir in folders:
            seen = _look_in(root_path, rel_dir, known, rules, below)
            if seen is None:
                return None
            files += seen
        folders = sorted(below)
    if not folders:
        return files
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the copy: its half, its count (or -1) down the pipe, and gone
        code = 1
        try:
            os.close(read_end)
            theirs = _walk(root_path, folders[1::2], known, rules)
            os.write(write_end, b"%d" % (-1 if theirs is None else theirs))
            code = 0
        finally:
            os._exit(code)  # nothing of this process's to run again (no atexit, no flush)
    os.close(write_end)
    reaped = False
    try:
        mine = _walk(root_path, folders[0::2], known, rules)
        if mine is None:
            return None  # the copy is stopped below: its answer no longer matters
        with os.fdopen(read_end, "rb") as answer:
            read_end = -1
            said = answer.read()
        os.waitpid(pid, 0)
        reaped = True
        theirs = int(said) if said else -1  # nothing said: it failed
        return None if theirs < 0 else files + mine + theirs
    finally:
        if read_end >= 0:
            os.close(read_end)
        if not reaped:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def _walk(
    root_path: str, folders: list[str], known: dict[str, tuple[int, int]], rules: IgnoreRules
) -> int | None:
    """The files as known in ``folders`` and every folder below them, taken out of
    ``known``; None at the first difference."""
    files = 0
    stack = list(folders)
    while stack:
        seen = _look_in(root_path, stack.pop(), known, rules, stack)
        if seen is None:
            return None
        files += seen
    return files


def _look_in(
    root_path: str,
    rel_dir: str,
    known: dict[str, tuple[int, int]],
    rules: IgnoreRules,
    folders: list[str],
) -> int | None:
    """The files of one folder (not below it) that are as known, taken out of ``known``,
    its folders added to ``folders``; None at the first difference or when it cannot be
    read (gone or unreadable while read: the full scan says which)."""
    ignores = rules.ignores
    pop_known = known.pop
    stat = os.stat
    files = 0
    prefix = rel_dir + "/" if rel_dir else ""
    try:
        fd = os.open(
            os.path.join(root_path, rel_dir) if rel_dir else root_path,
            os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC,
        )
    except OSError:
        return None
    try:
        with os.scandir(fd) as entries:
            for entry in entries:
                name = entry.name
                rel_path = prefix + name
                if entry.is_file(follow_symlinks=False):
                    if ignores(rel_path, name, False):
                        continue
                    if not name.isascii() and not is_storable_name(name):
                        return None
                    st = stat(name, dir_fd=fd, follow_symlinks=False)
                    if pop_known(rel_path, None) != (st.st_size, st.st_mtime_ns):
                        return None
                    files += 1
                elif entry.is_dir(follow_symlinks=False):
                    if ignores(rel_path, name, True):
                        continue
                    if not is_storable_name(name):
                        return None
                    folders.append(rel_path)
                # symlinks, FIFOs, sockets and devices are not photos: passed over
    except OSError:
        return None
    finally:
        os.close(fd)
    return files


def _describing_waits(connection: QuickCatalogue) -> bool:
    """Whether the media pipeline has files to describe or EXIF to read (the full scan does
    it before it returns)."""
    if files_not_described(connection, 0, 1):
        return True
    return any_photo_without_metadata(connection) and bool(
        photos_without_metadata(connection, 0, 1)
    )


def _record(connection: QuickCatalogue, seen: list[_RootSeen]) -> bool:
    """Record each root's run and that it was seen online now, as the full scan does for a
    run that changed nothing, in one transaction; False (nothing written) when a root
    changed in the catalogue meanwhile."""
    connection.begin_recording(root.root_id for root in seen)
    try:
        for root in seen:
            row = connection.execute_sql(
                "SELECT path, state, device, mount_point FROM root WHERE id = ?",
                (root.root_id,),
            ).fetchone()
            if row != (root.path, "online", root.identity.device, root.identity.mount_point):
                connection.rollback()
                return False
            connection.execute_sql(
                "INSERT INTO sync_run (kind, root_id, status, started_at, finished_at, duration,"
                " files_scanned, files_added, files_updated, files_moved, files_removed,"
                " files_hashed, files_unreadable, bytes_hashed, error)"
                " VALUES ('manual', ?, 'completed', ?, ?, ?, ?, 0, 0, 0, 0, 0, 0, 0, NULL)",
                (root.root_id, root.started_at, root.finished_at, root.duration, root.files),
            )
            connection.execute_sql(
                "UPDATE root SET state = 'online', state_reason = NULL, seen_at = ?,"
                " device = ?, mount_point = ? WHERE id = ?",
                (root.finished_at, root.identity.device, root.identity.mount_point, root.root_id),
            )
        connection.commit()
    except BaseException:
        connection.rollback()
        raise
    return True


def _report(root: _RootSeen) -> ReconcileReport:
    # The run's id is not printed (the JSON output, which has it, is the full scan's).
    return ReconcileReport(
        run_id=0,
        root_path=root.path,
        status="completed",
        files_scanned=root.files,
        files_added=0,
        files_updated=0,
        files_moved=0,
        files_removed=0,
        files_hashed=0,
        files_unreadable=0,
        bytes_hashed=0,
        duration=root.duration,
        error=None,
    )
