"""Opening a file to read it when it may no longer be a file: a FIFO, socket or device can sit
where the catalogue saw a photo or a sidecar. Opening a FIFO to read waits for a writer, for ever,
so a preview, an EXIF read or a hash would hang its thread; these openings never wait, and refuse
anything but a regular file with a reason (an OSError, so callers' handlers already say it).
"""

from __future__ import annotations

import errno
import os
import stat
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
