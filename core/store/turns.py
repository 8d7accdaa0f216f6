"""Decisions go first: whose turn it is to write to the catalogue.

SQLite does not queue writers. One that finds the write lock taken polls for it (its busy
handler sleeps 1, 2, 5 ... up to 100 ms between tries), so a writer that begins its next
transaction the moment it commits the last one, as the engine does through a long index, wins
nearly every time: measured with back-to-back 100 ms transactions, decisions waited 0.5 s at the
median, 4.6 s at p95, and one in forty gave up after the 5 s busy timeout.

So a decision takes its turn first: an exclusive lock on a file beside the catalogue
(``<catalogue>-turn``), held while it waits for SQLite's write lock and writes. Every other
transaction, before it begins, waits while a turn is held (see ``CatalogueDatabase.begin``).
A decision then waits for the transaction in progress alone, which the engine keeps short
(``core.store.writing``). The waits are bounded: a decision process stopped while holding
its turn (Ctrl-Z) delays the engine by MAX_WAIT_SECONDS, never for good.

flock locks belong to an open file, not to a process: a decision made in the app holds up the
engine's writer thread hosted in the same app too. Where the file cannot be made (a read-only
folder), there are no turns and SQLite's own waiting is all there is.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

SUFFIX = "-turn"
MAX_WAIT_SECONDS = 2.0  # the longest anyone waits for a turn held by someone else
POLL_SECONDS = 0.002


def turn_path(catalogue: Path) -> Path:
    return catalogue.with_name(catalogue.name + SUFFIX)


class Turns:
    """The turns of one catalogue, for the connections of one process."""

    def __init__(self, catalogue: Path | None) -> None:
        # None: a catalogue on a server, which queues its writers itself (core.store.dialect).
        self.path = turn_path(catalogue) if catalogue is not None else None
        self._holding = threading.local()  # this thread holds a turn: its own writes go on
        self._probe: int | None = None  # an open file to look at the lock with
        self._probe_lock = threading.Lock()

    def _open(self) -> int | None:
        if self.path is None:
            return None
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return None

    @contextlib.contextmanager
    def first(self) -> Iterator[None]:
        """Hold a turn: transactions that begin elsewhere wait until it ends. Each turn opens
        the file anew, so it excludes the other threads of this process as well."""
        fd = self._open()
        if fd is None:
            yield
            return
        try:
            _wait_for(fd, fcntl.LOCK_EX)  # another decision's turn: they are short
            self._holding.turn = True
            yield
        finally:
            self._holding.turn = False
            os.close(fd)  # releases the lock

    def wait(self) -> None:
        """Before a transaction begins: wait while a decision holds its turn."""
        if getattr(self._holding, "turn", False):
            return
        with self._probe_lock:
            if self._probe is None:
                self._probe = self._open()
                if self._probe is None:
                    self._probe = -1  # no file, no turns
            if self._probe >= 0 and _wait_for(self._probe, fcntl.LOCK_SH):
                fcntl.flock(self._probe, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._probe_lock:
            if self._probe is not None and self._probe >= 0:
                os.close(self._probe)
            self._probe = None


def _wait_for(fd: int, kind: int) -> bool:
    """Take the lock within MAX_WAIT_SECONDS; False if it could not be had in that time."""
    deadline = time.monotonic() + MAX_WAIT_SECONDS
    while True:
        try:
            fcntl.flock(fd, kind | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_SECONDS)
        except OSError:  # a file system without locks: no turns
            return False
