"""What a command says when the world fails under it: one sentence for a catalogue that cannot
be read or written (read-only, a full disk, locked), for a file-system error, and the quiet end
when the reader of its output goes away (``| head``), in place of a traceback."""

from __future__ import annotations

import errno
import os
import sqlite3
import sys
from pathlib import Path

import peewee

from core.catalogue_location import is_server
from core.catalogue_location import shown as location_shown
from core.cli.output import shown

DATABASE_ERRORS = (peewee.DatabaseError, sqlite3.DatabaseError)
# Below this much free space SQLite cannot grow its write-ahead log or open its shared memory:
# whatever it reports then ("disk I/O error" at opening), the disk is full.
FULL_BELOW_BYTES = 256 * 1024
EXIT_BROKEN_PIPE = 128 + 13  # as a shell reports a Unix tool stopped by SIGPIPE


def catalogue_failure(error: BaseException, catalogue: Path | str) -> str:
    """Why the catalogue could not be used, as one sentence saying what to do."""
    return known_catalogue_failure(error, catalogue) or (
        f"the catalogue {shown(location_shown(catalogue))} could not be used: "
        f"{shown(_first_failure(error))}."
    )


def known_catalogue_failure(error: BaseException, catalogue: Path | str) -> str | None:
    """The sentence for a catalogue file on a full disk, read-only or locked; None for the rest
    (and for a catalogue on a server, whose own message says what happened)."""
    if is_server(catalogue):
        return None
    text = str(_first_failure(error))
    if "disk is full" in text or _disk_full(catalogue):
        return (
            f"the disk holding the catalogue {shown(catalogue)} is full: nothing more was "
            "written to it; free some space and run the command again."
        )
    if "readonly" in text or "read-only" in text:
        return (
            f"{_read_only_part(catalogue)} is read-only, so the catalogue cannot be written: "
            "make it writable by you, or choose another catalogue with --db."
        )
    if "locked" in text:
        return (
            f"the catalogue {shown(catalogue)} stayed busy ({text}): another process is "
            "writing it; run the command again."
        )
    return None


def _first_failure(error: BaseException) -> BaseException:
    # When a write fails (a full disk), SQLite ends the transaction itself and peewee's
    # rollback then fails with "cannot rollback - no transaction is active": the error to
    # tell is the one that came first.
    while "no transaction is active" in str(error) and error.__context__ is not None:
        error = error.__context__
    return error


def _disk_full(catalogue: Path) -> bool:
    try:
        disk = os.statvfs(catalogue.parent)
    except OSError:
        return False
    return disk.f_bavail * disk.f_frsize < FULL_BELOW_BYTES


def _read_only_part(catalogue: Path) -> str:
    if catalogue.exists() and not os.access(catalogue, os.W_OK):
        return f"the catalogue file {shown(catalogue)}"
    if not os.access(catalogue.parent, os.W_OK):
        return (
            f"the catalogue's folder {shown(catalogue.parent)} (SQLite writes its journal files "
            "beside the catalogue)"
        )
    return f"the catalogue {shown(catalogue)} or its file system"


def file_failure(error: OSError) -> str:
    """A file-system error outside the catalogue, as one sentence."""
    where = f" ({shown(error.filename)})" if error.filename else ""
    if error.errno == errno.ENOSPC:
        return f"the disk is full{where}: free some space and run the command again."
    if error.errno == errno.EROFS:
        return f"the file system is read-only{where}."
    if error.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied{where}."
    return f"{shown(error.strerror or error)}{where}."


def end_quietly_after_broken_pipe() -> int:
    """The reader of the output went away (``| head`` has what it wants): the rest goes
    nowhere, so the interpreter's last flush cannot fail, and the exit code is a Unix tool's
    stopped by SIGPIPE."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is not a file here (a test's capture)
        pass
    return EXIT_BROKEN_PIPE
