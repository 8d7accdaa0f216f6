"""The catalogue as the quick look at an unchanged library (core.cli.unchanged_scan) reads and
writes it, with its driver alone: a SQLite file through ``sqlite3``, a database on a PostgreSQL
server through ``psycopg`` (neither through peewee). What the two back ends do differently for
it is here, and nothing else: how the catalogue is opened, its schema version, whether an
engine runs on it, how the rows of a query of many are read, how the transaction that records
the run holds the roots it records, and what the driver raises. Both take the store's SQL
(``?`` placeholders) through ``execute_sql``, as core.store.backlog asks for it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from core.store.sqlite_file import PRAGMAS, SCHEMA_VERSION

# How long the quick look waits for a server to answer its connection: one that does not
# answer at once is the full scan's, which says what is wrong.
SERVER_CONNECT_SECONDS = 5


class SqliteCatalogue:
    """A catalogue file, as the store opens it (core.store.sqlite_file's settings)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.errors: tuple[type[BaseException], ...] = (sqlite3.Error,)
        self._connection = sqlite3.connect(path, isolation_level=None)
        try:
            for name, value in PRAGMAS.items():
                self._connection.execute(f"PRAGMA {name} = {value}")
        except sqlite3.Error:
            self._connection.close()
            raise
        self.execute_sql = self._connection.execute

    def rows(self, sql: str, params: Sequence[Any]) -> Iterable[tuple]:
        """The rows of a query of many, read as they are iterated."""
        return self.execute_sql(sql, params)

    @property
    def file(self) -> str:
        """The catalogue's file, which a scan leaves out of a root it lies in."""
        return str(self.path)

    def schema_is_current(self) -> bool:
        return self.execute_sql("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION

    def begin_recording(self, root_ids: Iterable[int]) -> None:
        """Begin the run's transaction: SQLite's one write lock holds every root."""
        from core.store.turns import Turns

        turns = Turns(self.path)
        try:
            turns.wait()  # a decision waiting for its turn goes first
        finally:
            turns.close()
        self.execute_sql("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.execute_sql("COMMIT")

    def rollback(self) -> None:
        if self._connection.in_transaction:
            self.execute_sql("ROLLBACK")

    def close(self) -> None:
        self._connection.close()


def open_sqlite(path: Path) -> SqliteCatalogue | None:
    """The catalogue file, when it exists and no engine runs on it; None otherwise (the full
    scan makes it, says why not, or asks the engine)."""
    if not path.is_file():
        return None
    from core.engine.lock import running_engine_pid

    if running_engine_pid(path) is not None:
        return None
    try:
        return SqliteCatalogue(path)
    except sqlite3.Error:
        return None


class ServerCatalogue:
    """A catalogue on a PostgreSQL server, on a connection of its own in autocommit (each read
    a statement of its own, as on SQLite), without JIT (it reads every file of a library)."""

    def __init__(self, url: str) -> None:
        import psycopg  # the optional driver: only a catalogue on a server needs it

        from core.store.server_catalogue import NO_JIT, postgres_placeholders

        self.errors = (psycopg.Error,)
        self._placeholders = postgres_placeholders
        self._connection = psycopg.connect(
            url, autocommit=True, connect_timeout=SERVER_CONNECT_SECONDS, options=NO_JIT
        )

    file = None  # no file of its own in any root

    def execute_sql(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._connection.execute(self._placeholders(sql, bool(params)), params)

    def rows(self, sql: str, params: Sequence[Any]) -> Iterable[tuple]:
        """The rows of a query of many, all at once in the binary format: a third less time
        than a row at a time in text for a library's files (their numbers are not parsed
        from text, and the rows are made in one call)."""
        with self._connection.cursor(binary=True) as cursor:
            cursor.execute(self._placeholders(sql, bool(params)), params)
            return cursor.fetchall()

    def schema_is_current(self) -> bool:
        from core.store import server_catalogue

        return server_catalogue.schema_version(self) == SCHEMA_VERSION

    def engine_running(self) -> bool:
        """Whether an engine holds the catalogue's lock (an advisory lock on the server)."""
        from core.engine.server_lock import running_engine_on

        return running_engine_on(self._connection) is not None

    def begin_recording(self, root_ids: Iterable[int]) -> None:
        """Begin the run's transaction, holding the rows of the roots it records (in the order
        of their ids, as core.store.dialect.lock_rows holds them) until it ends."""
        self.execute_sql("BEGIN")
        self.execute_sql(
            "SELECT id FROM root WHERE id = ANY(?) ORDER BY id FOR UPDATE", (sorted(root_ids),)
        )

    def commit(self) -> None:
        self.execute_sql("COMMIT")

    def rollback(self) -> None:
        from psycopg.pq import TransactionStatus

        status = self._connection.info.transaction_status
        if status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
            self.execute_sql("ROLLBACK")

    def close(self) -> None:
        self._connection.close()


def open_server(url: str) -> ServerCatalogue | None:
    """The catalogue on its server, when it can be reached and no engine runs on it; None
    otherwise (the full scan says what is wrong, or asks the engine)."""
    try:
        import psycopg
    except ImportError:
        return None  # the full scan says how to install it
    try:
        catalogue = ServerCatalogue(url)
    except psycopg.Error:
        return None
    try:
        if catalogue.engine_running():
            catalogue.close()
            return None
    except psycopg.Error:
        catalogue.close()
        return None
    return catalogue


QuickCatalogue = SqliteCatalogue | ServerCatalogue


def open_quick(location: Path | str) -> QuickCatalogue | None:
    """The catalogue at ``location`` (a file's path, or a server's URL) opened for the quick
    look; None when the full scan must run."""
    if isinstance(location, Path):
        return open_sqlite(location)
    return open_server(location)
