"""One engine per catalogue on a PostgreSQL server: an advisory lock, held by a connection of
the engine's own for the engine's whole life, and who holds it.

Why this lock, and not another:

- The server keeps it per database, so it is per catalogue, and every machine that reaches the
  database meets the same lock: its key comes from a fixed name, not from anything local.
- It is the session's: when the engine's process ends, however it ends (``kill -9``, the
  machine's power), the server ends the session and the lock with it; nothing stale is left.
  The same holds when the server itself restarts: the engine then has to take it again
  (``ServerEngineLock.take_again``), and gives way if another engine took it meanwhile.
- A row in a table would need the row's holder to be told alive or dead; the lock's holder is
  alive by definition.

Who holds it is read from the server: the lock's session (``pg_locks``) and that session's
``application_name`` (``pg_stat_activity``, which every role may read), which the engine sets
to its PID and its machine's name.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
from dataclasses import dataclass

from core.catalogue_location import shown

LOCK_NAME = "shootwatch engine"
# The advisory lock's 64-bit key: the same on every machine and in every version.
LOCK_KEY = int.from_bytes(
    hashlib.blake2b(LOCK_NAME.encode(), digest_size=8).digest(), "big", signed=True
)
# pg_locks shows a 64-bit advisory key as two unsigned 32-bit halves, and objsubid 1.
_KEY_HIGH, _KEY_LOW = (LOCK_KEY >> 32) & 0xFFFF_FFFF, LOCK_KEY & 0xFFFF_FFFF
APPLICATION_PREFIX = "shootwatch engine pid "
NAME_BYTES = 63  # PostgreSQL keeps this much of an application_name (NAMEDATALEN - 1)
CONNECT_SECONDS = 10


@dataclass(frozen=True)
class EngineHolder:
    """The process that holds a catalogue's engine lock: its PID (0 when it cannot be told)
    and its machine's name (None when it is this machine, or cannot be told)."""

    pid: int
    host: str | None = None

    @property
    def said(self) -> str:
        """As a sentence names it: "pid 123", "pid 123 on studio-nas"."""
        return f"pid {self.pid or 'unknown'}" + (f" on {self.host}" if self.host else "")


def this_host() -> str:
    return socket.gethostname()


def application_name(pid: int, host: str) -> str:
    """The engine's lock connection's name, which tells who holds the lock."""
    return f"{APPLICATION_PREFIX}{pid}@{host}".encode()[:NAME_BYTES].decode(errors="ignore")


def holder_from_name(name: str | None) -> EngineHolder:
    """The holder an application_name tells (PID 0 when it is not an engine's name)."""
    pid, _, host = (name or "").removeprefix(APPLICATION_PREFIX).partition("@")
    if not (name or "").startswith(APPLICATION_PREFIX) or not pid.isdigit():
        return EngineHolder(0)
    return EngineHolder(int(pid), host if host and host != this_host() else None)


def _connect(url: str, **kwargs: object):
    """A connection of its own to the catalogue's server (CatalogueError when it cannot be
    reached: the sentence the command line says)."""
    import psycopg  # the optional driver: only a catalogue on a server needs it

    from core.store import CatalogueError

    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_SECONDS, **kwargs)
    except psycopg.Error as error:
        reason = str(error).strip().replace("\n", " ")
        raise CatalogueError(f"cannot reach the catalogue {shown(url)}: {reason}.") from error


_HOLDER_SQL = """
SELECT activity.application_name FROM pg_locks AS lock
JOIN pg_stat_activity AS activity ON activity.pid = lock.pid
WHERE lock.locktype = 'advisory' AND lock.granted AND lock.objsubid = 1
  AND lock.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND lock.classid::bigint = %s AND lock.objid::bigint = %s
"""


def _holder(connection) -> EngineHolder | None:
    row = connection.execute(_HOLDER_SQL, (_KEY_HIGH, _KEY_LOW)).fetchone()
    return None if row is None else holder_from_name(row[0])


def running_engine(url: str) -> EngineHolder | None:
    """The engine holding the lock of the catalogue at ``url``, or None when none runs."""
    with _connect(url) as connection:
        return _holder(connection)


def running_engine_on(connection) -> EngineHolder | None:
    """As ``running_engine``, asked on a psycopg connection of the caller's to that catalogue
    (in autocommit): no connection of its own to make."""
    return _holder(connection)


class ServerEngineRunning(RuntimeError):
    """Raised by ``ServerEngineLock`` (core.engine.lock turns it into EngineRunning)."""

    def __init__(self, holder: EngineHolder) -> None:
        super().__init__(holder.said)
        self.holder = holder


class ServerEngineLock:
    """The advisory lock on the catalogue at ``url``, on a connection of its own."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._connection = None

    def acquire(self) -> None:
        """Take the lock; ServerEngineRunning if another engine has it."""
        connection = _connect(self.url, application_name=application_name(os.getpid(), this_host()))
        if not self._try(connection):
            holder = _holder(connection) or EngineHolder(0)
            connection.close()
            raise ServerEngineRunning(holder)
        self._connection = connection

    @staticmethod
    def _try(connection) -> bool:
        taken = connection.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()
        return bool(taken[0])

    def is_held(self) -> bool:
        """Whether the lock's session is still alive (a server restart ends it)."""
        connection = self._connection
        if connection is None or connection.closed:
            return False
        try:
            connection.execute("SELECT 1")
        except Exception:  # the session is gone, whatever the driver calls it
            return False
        return True

    def take_again(self) -> None:
        """After the server ended the lock's session: take the lock on a new connection
        (ServerEngineRunning if another engine took it meanwhile; CatalogueError while the
        server cannot be reached)."""
        self._drop_connection()
        self.acquire()

    def release(self) -> None:
        self._drop_connection()  # the session's end gives the lock up

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # already gone with the server
                connection.close()
