"""One engine per catalogue: an advisory lock on a file beside it, holding the engine's PID.

The kernel releases the lock when its process dies, however it dies, so a stale lock file left
by a crash is simply taken over; the PID inside is only for telling people who runs.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class EngineRunning(RuntimeError):
    """Another process runs the engine on this catalogue."""

    def __init__(self, pid: int | None) -> None:
        super().__init__(f"an engine already runs on this catalogue (pid {pid or 'unknown'})")
        self.pid = pid


def lock_path(catalogue: Path) -> Path:
    return catalogue.with_name(catalogue.name + ".lock")


def running_engine_pid(catalogue: Path) -> int | None:
    """The PID of the engine holding the lock, or None when no engine runs."""
    path = lock_path(catalogue)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 32, 0).decode(errors="replace").strip()
            return int(text) if text.isdigit() else 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class EngineLock:
    def __init__(self, catalogue: Path) -> None:
        self.path = lock_path(catalogue)
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            raise EngineRunning(int(text) if text.isdigit() else None) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
