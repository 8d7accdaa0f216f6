"""The low-level acts on files, each in one place.

Opening a file to read it when it may no longer be a file: a FIFO, socket or device can sit
where the catalogue saw a photo or a sidecar. Opening a FIFO to read waits for a writer, for ever,
so a preview, an EXIF read or a hash would hang its thread; these openings never wait, and refuse
anything but a regular file with a reason (an OSError, so callers' handlers already say it).

Writing a file atomically (``write_atomically``): whoever reads it, and whatever stops the
machine, sees the old file or the new one, never part of one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Callable
from typing import BinaryIO

NOT_REGULAR = "not a regular file (a FIFO, socket or device)"


class NotRegularFile(OSError):
    """The path names a FIFO, socket or device where a file was expected."""


def open_descriptor(
    path: str | os.PathLike, *, dir_fd: int | None = None, follow_symlinks: bool = True
) -> tuple[int, os.stat_result]:
    """A read-only descriptor of the regular file at ``path``, with its status (the check needs
    it; a hash loop uses it too); IsADirectoryError for a folder, NotRegularFile for anything
    else. O_NONBLOCK only changes how a FIFO or device opens: reads of a regular file are
    unaffected."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
    if not follow_symlinks:
        flags |= os.O_NOFOLLOW
    fd = os.open(path, flags, dir_fd=dir_fd)
    try:
        status = os.fstat(fd)
        if stat.S_ISDIR(status.st_mode):  # as the system says it when a directory is read
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), os.fsdecode(path))
        if not stat.S_ISREG(status.st_mode):
            raise NotRegularFile(errno.EINVAL, NOT_REGULAR, os.fsdecode(path))
    except BaseException:
        os.close(fd)
        raise
    return fd, status


def open_to_read(path: str | os.PathLike) -> BinaryIO:
    """The regular file at ``path``, opened for reading in binary; NotRegularFile otherwise."""
    return os.fdopen(open_descriptor(path)[0], "rb")


# --- writing --------------------------------------------------------------------------------

TEMPORARY_SUFFIX = ".tmp"  # with a leading dot: hidden, so never catalogued even if left behind
_TEMPORARY_NAME_ATTEMPTS = 8


def write_atomically(
    path: str | os.PathLike,
    content: bytes | Callable[[BinaryIO], object],
    *,
    mode: int | None = None,
    mtime_ns: int | None = None,
) -> os.stat_result:
    """Replace the file at ``path`` with ``content``: bytes, or a function that writes into the
    open file. ``mtime_ns`` stamps it (its access and modification times) once it is written.

    It is written under a hidden temporary name in the same folder, flushed to disk, renamed
    over ``path``, and the folder is flushed so the rename is on disk too: a reader, a crash or
    a power cut sees the old file or the new one, never part of one, and a failure leaves no
    temporary file. The new file's permissions are ``mode`` when given; else those of the file
    it replaces; else a new file's usual ones (0o666 less the umask), never the 0o600 of a
    temporary file by accident. Returns the status of the file written: its size and mtime are
    those ``path`` has now (a rename changes neither)."""
    path = os.fspath(path)
    folder, name = os.path.split(path)
    if mode is None:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            mode = stat.S_IMODE(os.stat(path).st_mode)
    descriptor, temporary = _new_temporary(folder, name)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            if callable(content):
                content(handle)
            else:
                handle.write(content)
            handle.flush()
            if mtime_ns is not None:  # after the last write, which would stamp it again
                os.utime(handle.fileno(), ns=(mtime_ns, mtime_ns))
            os.fsync(handle.fileno())
            written = os.fstat(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    sync_folder(folder or ".")
    return written


def _new_temporary(folder: str, name: str) -> tuple[int, str]:
    """A new hidden file beside ``name``, created with 0o666 less the umask (mkstemp's 0o600
    would outlive the rename)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
    attempts = 0
    while True:
        temporary = os.path.join(folder, f".{name}.{secrets.token_hex(4)}{TEMPORARY_SUFFIX}")
        try:
            return os.open(temporary, flags, 0o666), temporary
        except FileExistsError:
            attempts += 1
            if attempts == _TEMPORARY_NAME_ATTEMPTS:
                raise


def sync_folder(folder: str | os.PathLike) -> None:
    """The names created, renamed or removed in ``folder`` reach the disk, not only the files'
    data. A folder that cannot be opened or synced (some file systems refuse) is left as it is:
    the data itself was synced."""
    try:
        handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def last_written_ns(status: os.stat_result) -> int:
    """When a file last changed, for telling whether it holds still: its modification time,
    unless that is later than its change time. The kernel sets the change time on every write;
    a modification time can be in the future (a camera's clock ahead, kept by the copy), and
    a file dated tomorrow must not wait until tomorrow to count as settled."""
    return min(status.st_mtime_ns, status.st_ctime_ns)
