"""Moving one file out of an inbox without ever losing or doubling it, and the journal that
makes a crash at any step repairable.

Each move is written to the journal (``ingest_move``, state ``intent``) before the file is
touched, and closed (``done``) in the same transaction that moves its catalogue record. On
the same file system a move is a hard link to the new name (which fails rather than replace a
file there) and the removal of the old one. Across file systems the file is copied to a hidden
temporary name beside its destination, flushed to disk, read back and checked against its
blake3, linked to its name, and only then is the source removed. ``recover`` looks at each move
a crash left open and finishes it (the file is complete at its destination) or undoes it (it
is not): each photo ends up exactly once in the library, and no half-copied file remains.
"""

from __future__ import annotations

import contextlib
import errno
import os
from dataclasses import dataclass
from pathlib import Path

import blake3
from peewee import Database

from core.files import open_to_read, sync_folder

TEMPORARY_PREFIX = ".shootwatch-ingest-"  # hidden: never catalogued, even if left behind


class MoveFailed(Exception):
    """The move did not happen; the source is where it was."""


@dataclass(frozen=True)
class Journaled:
    move_id: int
    method: str  # rename, copy, quarantine, delete
    source: Path
    destination: Path | None
    temporary: Path | None
    blake3: str
    size: int


def method_for(source: Path, destination: Path | None, quarantine: bool) -> str:
    if destination is None:
        return "delete"
    if quarantine:
        return "quarantine"
    return "rename" if _same_device(source, destination) else "copy"


def _same_device(source: Path, destination: Path) -> bool:
    folder = destination.parent
    while not folder.exists():  # the dated folder may not be there yet
        folder = folder.parent
    return os.stat(source).st_dev == os.stat(folder).st_dev


def temporary_for(destination: Path, move_id: int) -> Path:
    return destination.with_name(f"{TEMPORARY_PREFIX}{move_id}.tmp")


# --- carrying a move out ------------------------------------------------------------------


def place(move: Journaled) -> bool:
    """Put the file at its destination (the journal row already says ``intent``), leaving the
    source where it is; True when the source is still to be removed (``remove_source``), after
    the destination folders are synced. Raises MoveFailed, the source as it was, when the file
    could not be placed."""
    if move.method == "delete":
        _check_unchanged(move)
        return True
    assert move.destination is not None
    try:
        move.destination.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise MoveFailed(_describe(error, move.destination)) from None
    if move.method in ("rename", "quarantine"):
        try:
            return _link_without_replacing(move.source, move.destination)
        except OSError as error:
            if error.errno != errno.EXDEV:  # a bind mount or a quarantine on another disk
                raise MoveFailed(_describe(error, move.destination)) from None
    _copy_verified(move)
    return True


def remove_source(move: Journaled) -> None:
    os.unlink(move.source)


def sync_folders(folders: set[Path]) -> None:
    """The new and removed names reach the disk, not only the files' data: once per folder
    for a whole chunk of moves (a folder sync costs milliseconds on a journaling disk)."""
    for folder in sorted(folders):
        sync_folder(folder)


def _check_unchanged(move: Journaled) -> None:
    if os.stat(move.source).st_size != move.size:
        raise MoveFailed("the file changed since it was catalogued")


def _link_without_replacing(source: Path, destination: Path) -> bool:
    """The file under its new name too; True when the old name is still to be removed."""
    try:
        os.link(source, destination, follow_symlinks=False)
        return True
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
    # A file system without hard links (exFAT, some network shares): rename, after checking
    # that nothing is there (rename would replace it).
    if os.path.lexists(destination):
        raise FileExistsError(errno.EEXIST, "a file of that name is there", str(destination))
    os.rename(source, destination)
    return False


def _copy_verified(move: Journaled) -> None:
    assert move.destination is not None and move.temporary is not None
    temporary = move.temporary
    try:
        with open_to_read(move.source) as source, open(temporary, "xb") as target:
            stat = os.fstat(source.fileno())
            if stat.st_size != move.size:
                raise MoveFailed("the file changed since it was catalogued")
            _copy_bytes(source.fileno(), target.fileno(), stat.st_size)
            os.fsync(target.fileno())
        os.utime(temporary, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        if _hash_file(temporary) != move.blake3:
            raise MoveFailed(
                "the copy does not match the catalogued content (the file changed, or the "
                "destination disk wrote something else): the original stays in the inbox"
            )
        os.link(temporary, move.destination)  # fails rather than replace a file there
    except MoveFailed:
        _remove_quietly(temporary)
        raise
    except OSError as error:
        _remove_quietly(temporary)
        raise MoveFailed(_describe(error, move.destination)) from None
    _remove_quietly(temporary)


def _copy_bytes(source: int, target: int, size: int) -> None:
    """In the kernel (no copy through Python), the whole file."""
    done = 0
    while done < size:
        sent = os.sendfile(target, source, done, min(size - done, 1 << 30))
        if sent == 0:
            raise MoveFailed("the file got shorter while it was copied")
        done += sent


def _hash_file(path: Path) -> str:
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    hasher.update_mmap(path)
    return hasher.hexdigest()


def _remove_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _describe(error: OSError, destination: Path | None) -> str:
    if error.errno == errno.EEXIST:
        return f"{destination} appeared meanwhile: nothing is replaced, it is tried again"
    if error.errno == errno.ENOSPC:
        return "the destination disk is full"
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"no permission to write {destination.parent if destination else 'there'}"
    return f"{error.strerror or error} ({destination})"


# --- after a crash ------------------------------------------------------------------------


def recover(db: Database) -> list[tuple[int, str]]:
    """Finish or undo every move a crash left open; returns (move id, what was done)."""
    rows = db.execute_sql(
        "SELECT id, method, source, destination, temporary, blake3, size FROM ingest_move"
        " WHERE state = 'intent' ORDER BY id"
    ).fetchall()
    outcomes = []
    for row in rows:
        move = Journaled(row[0], row[1], Path(row[2]), _path(row[3]), _path(row[4]), row[5],
                         row[6])  # fmt: skip
        outcomes.append((move.move_id, resolve(move)))
    return outcomes


def resolve(move: Journaled) -> str:
    """What an open move's files say happened: "done" (the file is complete at its
    destination; the source is removed if it is still there) or "rolled_back" (the source
    is where it was; any partial copy is removed)."""
    if move.temporary is not None:
        _remove_quietly(move.temporary)  # never linked: a complete copy has its name already
    source_there = os.path.lexists(move.source)
    if move.method == "delete":
        return "rolled_back" if source_there else "done"
    assert move.destination is not None
    destination_there = os.path.lexists(move.destination)
    if destination_there and (not source_there or _same_file(move)):
        if source_there:
            os.unlink(move.source)
            sync_folder(move.source.parent)
        return "done"
    return "rolled_back"


def _same_file(move: Journaled) -> bool:
    """The destination is the source's content: the same inode (a link), or a verified copy
    (linked to its name only after the check)."""
    assert move.destination is not None
    try:
        if os.path.samefile(move.source, move.destination):
            return True
        return (
            os.stat(move.destination).st_size == move.size
            and _hash_file(move.destination) == move.blake3
        )
    except OSError:
        return False


def _path(value: str | None) -> Path | None:
    return Path(value) if value is not None else None
