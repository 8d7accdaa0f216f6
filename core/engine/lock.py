"""One engine per catalogue: a lock that belongs to the catalogue file itself, not to its name.

The engine holds an open-file-description lock (Linux's ``F_OFD_SETLK``) on a byte of the
catalogue file that SQLite never touches (SQLite locks bytes from 1 GiB to 1 GiB + 512; this
is at 1 TiB), so every name of the file meets the same lock: a symlink, a hard link in
another folder, a path written another way. A lock file beside the name, as before, let a
second engine start through a symlink or a hard link (and two engines writing one catalogue
through two names corrupt it: SQLite keeps its write-ahead log beside each name).

Why this kind of lock, and not another:

- The kernel releases it when the last descriptor of the open file goes, so a crash, a
  ``kill -9`` or the out-of-memory killer frees it; there is no stale state to clean up.
- A lock file named after the device and inode would need a folder every name can see and
  write; a hard link can be anywhere on the file system, and a runtime folder is per user.
- ``flock`` on the catalogue would do, except on NFS, where Linux turns it into a lock of the
  whole file, which SQLite's own locks then meet. A lock taken inside the database would need
  a write transaction held open, blocking every decision.
- A traditional POSIX lock (``lockf``) would be dropped as soon as any descriptor of the file
  closes in this process, which SQLite does all the time.

The holder's PID is in the lock too: the engine also locks the byte at ``PID_BASE + pid``,
and whoever asks reads the PID from where the conflicting lock starts. That lock is taken
before the engine byte and given up after it, so whoever finds the engine byte locked finds
the PID.

One rule follows from POSIX: closing any descriptor of a file drops the traditional locks this
process holds on it, which are SQLite's. So a descriptor of the catalogue opened here is not
closed while SQLite may have the file open in this process: each is kept, and reused by the
next lock or check of the same file (a few per catalogue, at most). Forked workers share the
engine's descriptor; they end with it (``core.workers``).

A catalogue on a PostgreSQL server has no file: there the lock is the server's advisory lock
(``core.engine.server_lock``), behind the same ``EngineLock`` and ``running_engine_pid``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import struct
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from core.catalogue_location import is_server, shown

if TYPE_CHECKING:
    from core.engine.server_lock import EngineHolder

ENGINE_BYTE = 1 << 40  # the byte whose lock is "an engine runs on this catalogue"
PID_BASE = ENGINE_BYTE + 1  # PID_BASE + pid: the byte that says which process it is
PID_SPAN = 1 << 22  # Linux PIDs are below 2**22 (PID_MAX_LIMIT)


def _server_lock():
    """core.engine.server_lock, loaded when a catalogue on a server (or a running engine)
    asks for it: a scan that finds nothing changed asks about a SQLite file's lock at every
    start (core.cli.unchanged_scan), and the server's lock costs its hashing module."""
    from core.engine import server_lock

    return server_lock


class EngineRunning(RuntimeError):
    """Another process runs the engine on this catalogue."""

    def __init__(self, pid: int | None, host: str | None = None) -> None:
        holder = _server_lock().EngineHolder(pid or 0, host)
        super().__init__(f"an engine already runs on this catalogue ({holder.said})")
        self.pid = pid
        self.host = host


# ``struct flock`` with 64-bit offsets, as the OFD commands always take it: type, whence,
# start, length, pid, in the C layout (native alignment, padded to its 8-byte end).
_FLOCK = struct.Struct("@hhqqi0q")


def _request(fd: int, command: int, kind: int, start: int, length: int) -> tuple[int, int]:
    """The lock request made; the kernel's answer as (type, start)."""
    answer = fcntl.fcntl(fd, command, _FLOCK.pack(kind, os.SEEK_SET, start, length, 0))
    found_kind, _, found_start, _, _ = _FLOCK.unpack(answer)
    return found_kind, found_start


def _try_lock(fd: int, start: int, length: int = 1) -> bool:
    try:
        _request(fd, fcntl.F_OFD_SETLK, fcntl.F_WRLCK, start, length)
    except OSError as error:
        if error.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _unlock(fd: int, start: int, length: int = 1) -> None:
    _request(fd, fcntl.F_OFD_SETLK, fcntl.F_UNLCK, start, length)


def _holder(fd: int, start: int, length: int = 1) -> int | None:
    """Where the lock another open file holds in [start, start + length) starts, or None."""
    kind, found_start = _request(fd, fcntl.F_OFD_GETLK, fcntl.F_WRLCK, start, length)
    return None if kind == fcntl.F_UNLCK else found_start


def _pid_of_holder(fd: int) -> int | None:
    found = _holder(fd, PID_BASE, PID_SPAN)
    return found - PID_BASE if found is not None else None


# Descriptors of catalogue files, by (device, inode), kept open (see the module's docstring):
# one per file for reading locks, and for taking them as many as held at once (each holder
# needs an open file of its own, or a second engine in this process would share the first
# one's lock and not be refused). Used and changed under _descriptors_lock only.
_checking: dict[tuple[int, int], int] = {}
_idle: dict[tuple[int, int], list[int]] = {}
_lent: set[int] = set()  # descriptors out with a holder
_descriptors_lock = threading.Lock()
KEPT_FILES = 16  # past this many catalogues, those this process no longer has open are let go


def _identity(status: os.stat_result) -> tuple[int, int]:
    return status.st_dev, status.st_ino


def _keep(identity: tuple[int, int], fd: int, checking: bool) -> int:
    """Keep ``fd`` (under the lock); returns the descriptor to use for ``identity``."""
    if checking and identity in _checking:  # opened twice in a race: keep both, use one
        _idle.setdefault(identity, []).append(fd)
        return _checking[identity]
    if len(_checking.keys() | _idle.keys()) >= KEPT_FILES:
        _let_go_of_unused(identity)
    if checking:
        _checking[identity] = fd
    return fd


def _let_go_of_unused(keep: tuple[int, int]) -> None:
    """Close the kept descriptors of files this process has no descriptor of but ours (held
    ones stay): with no descriptor, SQLite holds no lock on them to lose. Only a process that
    looks at many catalogues (a test run) gets here."""
    kept = set(_checking.values()) | {fd for fds in _idle.values() for fd in fds} | _lent
    in_use = set()
    for name in os.listdir("/proc/self/fd"):
        if int(name) not in kept:
            with contextlib.suppress(OSError):
                in_use.add(_identity(os.stat(f"/proc/self/fd/{name}")))
    for identity in (_checking.keys() | _idle.keys()) - in_use - {keep}:
        for fd in [_checking.pop(identity, None), *_idle.pop(identity, [])]:
            if fd is not None:
                os.close(fd)


def _descriptor_for_locking(catalogue: Path) -> int:
    """An open, writable descriptor of the catalogue file, for one holder; given back with
    ``_give_back`` when its lock is gone (OSError if the file cannot be opened)."""
    identity = _identity(os.stat(catalogue))
    with _descriptors_lock:
        if _idle.get(identity):
            fd = _idle[identity].pop()
            _lent.add(fd)
            return fd
    fd = os.open(catalogue, os.O_RDWR | os.O_CLOEXEC)
    with _descriptors_lock:
        fd = _keep(_identity(os.fstat(fd)), fd, checking=False)
        _lent.add(fd)
        return fd


def _give_back(fd: int) -> None:
    identity = _identity(os.fstat(fd))
    with _descriptors_lock:
        _lent.discard(fd)
        _idle.setdefault(identity, []).append(fd)


def running_engine_holder(catalogue: Path | str) -> EngineHolder | None:
    """Which process holds the catalogue's engine lock (its PID 0 if it cannot be told; its
    machine's name when on a server and not this machine), or None when no engine runs."""
    if is_server(catalogue):
        return _server_lock().running_engine(str(catalogue))
    pid = running_engine_pid(catalogue)
    return None if pid is None else _server_lock().EngineHolder(pid)


def running_engine_pid(catalogue: Path | str) -> int | None:
    """The PID of the engine holding the catalogue's lock (0 if it cannot be told), or None
    when no engine runs on it. A catalogue that does not exist has none (and is not created).
    On a server, the PID is on the machine ``running_engine_holder`` names."""
    if is_server(catalogue):
        holder = _server_lock().running_engine(str(catalogue))
        return None if holder is None else holder.pid
    try:
        identity = _identity(os.stat(catalogue))
    except OSError:
        return None
    with _descriptors_lock:  # held while the descriptor is used: nothing closes it meanwhile
        fd = _checking.get(identity)
        if fd is None:
            try:
                fd = os.open(catalogue, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                return None
            fd = _keep(_identity(os.fstat(fd)), fd, checking=True)
        if _holder(fd, ENGINE_BYTE) is None:
            return None
        pid = _pid_of_holder(fd)
    return pid if pid is not None else 0


def catalogue_identity(catalogue: Path | str) -> str:
    """What names the catalogue file whatever name is used: its device and inode (its
    resolved path while it does not exist); a catalogue on a server, its URL without its
    password."""
    if is_server(catalogue):
        return shown(catalogue)
    try:
        device, inode = _identity(os.stat(catalogue))
    except OSError:
        return str(catalogue.resolve())
    return f"{device}:{inode}"


class EngineLock:
    def __init__(self, catalogue: Path | str) -> None:
        self.catalogue = catalogue
        self._fd: int | None = None
        self._pid_byte: int | None = None
        self.on_server = (
            _server_lock().ServerEngineLock(catalogue) if is_server(catalogue) else None
        )

    def acquire(self) -> None:
        """Take the lock (the catalogue must exist); EngineRunning if another engine has it."""
        if self.on_server is not None:
            try:
                self.on_server.acquire()
            except _server_lock().ServerEngineRunning as running:
                raise EngineRunning(running.holder.pid, running.holder.host) from None
            return
        fd = _descriptor_for_locking(self.catalogue)
        # Taken first, so that whoever finds the engine byte locked finds the PID. Only a
        # process with the same PID in another PID namespace (a container) could hold it.
        pid_byte = PID_BASE + os.getpid()
        has_pid = _try_lock(fd, pid_byte)
        if not _try_lock(fd, ENGINE_BYTE):
            if has_pid:
                _unlock(fd, pid_byte)
            holder = _pid_of_holder(fd)
            _give_back(fd)
            raise EngineRunning(holder)
        self._fd, self._pid_byte = fd, pid_byte if has_pid else None

    def release(self) -> None:
        if self.on_server is not None:
            self.on_server.release()
        if self._fd is not None:
            _unlock(self._fd, ENGINE_BYTE)  # first, for the same reason
            if self._pid_byte is not None:
                _unlock(self._fd, self._pid_byte)
            _give_back(self._fd)
            self._fd = self._pid_byte = None
