"""blake3 of a file that may be changing: stat, hash, stat again, and retry if it moved under us."""

from __future__ import annotations

import mmap
import os
from collections.abc import Callable
from typing import NamedTuple

import blake3

from core.files import open_descriptor

# Above this size the file is mapped and hashed on several threads; below, one read is faster.
LARGE_FILE_BYTES = 16 * 1024 * 1024
# An explicit count, never blake3.AUTO: AUTO uses a process-wide thread pool, and a process
# forked after using it (the scan workers) deadlocks the first time it hashes a large file.
HASH_THREADS = max(1, min(os.cpu_count() or 1, 8))


class HashOutcome(NamedTuple):
    blake3: str | None  # None when the file could not be hashed
    size: int
    mtime_ns: int
    bytes_read: int
    error: str | None = None
    vanished: bool = False
    looked: object = None  # what ``look`` made of the bytes hashed (None: nothing, or it failed)


# What a hash's caller makes of the file's bytes while they are in hand (read, or mapped).
Look = Callable[[bytes | mmap.mmap], object]


def describe_os_error(error: OSError) -> str:
    """A short reason a person can act on."""
    if isinstance(error, PermissionError):
        return "permission denied"
    if isinstance(error, FileNotFoundError):
        return "vanished while being read"
    return error.strerror or str(error)


def _digest_fd(fd: int, size: int, look: Look | None) -> tuple[str, object]:
    if size >= LARGE_FILE_BYTES:
        with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as mapped:
            digest = blake3.blake3(mapped, max_threads=HASH_THREADS).hexdigest()
            return digest, _looked(look, mapped)
    # A read of a regular file stops short only at its end, so one read does; asking for a
    # byte more than fstat said means a file that grew or shrank hashes differently, and the
    # fstat after the read tells the caller it changed.
    data = os.read(fd, size + 1)
    return blake3.blake3(data).hexdigest(), _looked(look, data)


def _looked(look: Look | None, content: bytes | mmap.mmap) -> object:
    """What ``look`` makes of the bytes just hashed; None when it fails: a file is hashed
    whatever its content, and its reader reads it again to say what is wrong."""
    if look is None:
        return None
    try:
        return look(content)
    except Exception:
        return None


def _failed(error: OSError, bytes_read: int) -> HashOutcome:
    vanished = isinstance(error, FileNotFoundError)
    return HashOutcome(None, 0, 0, bytes_read, describe_os_error(error), vanished)


def hash_file(
    path: str,
    retries: int = 3,
    dir_fd: int | None = None,
    expected: tuple[int, int] | None = None,
    look: Look | None = None,
) -> HashOutcome:
    """Hash ``path`` (relative to ``dir_fd`` when given) and return it with the size and mtime
    the hash belongs to.

    The size and mtime before reading (``expected``, from the caller's own stat, or else the
    open file's) are compared with the open file's after reading: if they differ, the file
    changed while it was read and is read again, up to ``retries`` times; if it never holds
    still, the outcome carries an error and no hash, so a half-written file is never recorded
    as complete. (A file replaced by a rename while read is still consistent: the hash, size
    and mtime all belong to the file that was read, and the next scan sees the new one.)

    ``look``, given the file's bytes while they are in hand (the whole file, read or mapped),
    makes what the outcome carries as ``looked``: from the read the hash belongs to, so the
    file need not be read again.
    """
    bytes_read = 0
    for _attempt in range(retries + 1):
        try:
            fd, before = open_descriptor(path, dir_fd=dir_fd, follow_symlinks=False)
        except OSError as error:
            return _failed(error, bytes_read)
        try:
            if expected is None:
                expected = (before.st_size, before.st_mtime_ns)
            digest, looked = _digest_fd(fd, expected[0], look)
            after = os.fstat(fd)
        except OSError as error:
            return _failed(error, bytes_read)
        except ValueError as error:  # mmap of a file truncated to nothing under us
            return HashOutcome(None, 0, 0, bytes_read, str(error))
        finally:
            os.close(fd)
        bytes_read += expected[0]
        if expected == (after.st_size, after.st_mtime_ns):
            return HashOutcome(digest, after.st_size, after.st_mtime_ns, bytes_read, looked=looked)
        expected = None  # changed: take the file as it is now and read it again
    return HashOutcome(
        None,
        after.st_size,
        after.st_mtime_ns,
        bytes_read,
        f"kept changing while being hashed ({retries + 1} tries): probably still being copied",
    )
