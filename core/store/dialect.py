"""Where the catalogue's two back ends differ: SQLite (a file, the default) and PostgreSQL (a
server, named by a ``postgresql://`` URL). Everything else in the store speaks to both alike.

- Which back end a catalogue location names: ``core.catalogue_location``.
- The column types: PostgreSQL's INTEGER and REAL are 4 bytes, too small for a file's size or
  mtime in nanoseconds and too coarse for a unix time (REAL keeps 7 digits: 128 s), so there an
  integer is BIGINT and a float DOUBLE PRECISION, which SQLite's INTEGER and REAL already are.
- Text order: the store finds the files under a folder by a range of paths ("dir/" < path <
  "dir0"), which holds in byte order (SQLite's). A server's database may sort text by a
  language's rules, where "A/y" and "á/w" fall between "a/" and "a0": every text column there
  is declared ``COLLATE "C"``.
- The schema version: SQLite's ``user_version``; on PostgreSQL a one-row table
  (``core.store.server_catalogue``, which the quick look at an unchanged library reads too).
- The migrator that applies a step of ``core.store.migrations``.
- Transactions: SQLite's ``BEGIN IMMEDIATE``/``DEFERRED`` name its one write lock;
  PostgreSQL locks rows, and its writers wait for each other instead of failing. A
  transaction that reads a row to write it from what it read (a decision's "before") holds
  the row first (``lock_rows``): ``FOR UPDATE`` there, nothing more on SQLite.
- Equal, NULL to NULL (``same_as``): SQLite's ``IS``, PostgreSQL's ``IS NOT DISTINCT FROM``.
- One row per group (``groups_pick_a_row``): SQLite's bare columns in a GROUP BY; PostgreSQL
  refuses them, so there a subquery picks the row.
- The larger of two values (``larger_of``): SQLite's ``max`` of two arguments, PostgreSQL's
  ``GREATEST`` (its ``max`` is only the aggregate).
- A value in a JSON payload (``json_value``): SQLite's ``json_extract``, PostgreSQL's ``->>``.
- A list as one parameter (``one_of``): SQLite's ``json_each`` of a JSON list, PostgreSQL's
  ``= ANY`` of an array.
- Placeholders: the store's own SQL is written with SQLite's ``?``; on PostgreSQL each becomes
  ``%s`` (and a literal ``%`` is doubled), here, as it is run (``PostgresCatalogueDatabase``),
  or by ``sql_for`` where a driver's cursor is used directly.
- What a scan's surveys compare with the disk (``core.store.queries.known_files_of_surveys``):
  on SQLite, each survey's ranges of paths read from a covering index, a query each; on a
  server, where each query is a round trip, every survey's ranges in one query (an array of
  ranges joined to the files), its rows streamed through a cursor on the server.
- Copying a whole catalogue (``core.store.copying``): a snapshot read (PostgreSQL's REPEATABLE
  READ, said first in the transaction), rows streamed in batches (a cursor on the server),
  written fastest (SQLite's prepared INSERT, PostgreSQL's COPY), and the ids a table gives
  itself continued past those copied (PostgreSQL's sequence; SQLite's rowid does it alone).
- Turns (``core.store.turns``): SQLite does not queue writers, so a decision takes its turn
  through a file beside the catalogue; PostgreSQL queues them, and there is no file.
- New events (``announce_events``, ``ServerEventListener``): on PostgreSQL, a transaction that
  writes events notifies a channel as it commits (NOTIFY), and followers of the log wait on
  it (LISTEN); SQLite has no such thing, and its followers poll.
- The server away (``server_unreachable``, ``reach_server``): a connection the server ended
  (a restart) or cannot make (stopped, unreachable); a SQLite file is never away that way.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from peewee import Database, DatabaseProxy, PostgresqlDatabase, SqliteDatabase

from core.database_drivers import hand_psycopg_to_peewee
from core.store import server_catalogue
from core.store.server_catalogue import NO_JIT, SCHEMA_TABLE, postgres_placeholders
from core.store.turns import Turns

if TYPE_CHECKING:
    from playhouse.migrate import SchemaMigrator

EVENTS_CHANNEL = "shootwatch_events"  # PostgreSQL: NOTIFY'd as events are written
# How long a listener takes the announcements already come after the one it waited for (a
# timeout of 0 is no timeout to psycopg).
DRAIN_SECONDS = 0.001
NO_LIMIT = 2**62  # a LIMIT that is none, on both back ends (SQLite's -1 is not PostgreSQL's)


class PostgresCatalogueDatabase(PostgresqlDatabase):
    """The catalogue's connections to a PostgreSQL server (one per thread)."""

    field_types = {  # noqa: RUF012 (peewee's own class attribute)
        **PostgresqlDatabase.field_types,
        "INT": "BIGINT",
        "FLOAT": "DOUBLE PRECISION",
        "AUTO": "BIGSERIAL",
        "TEXT": 'TEXT COLLATE "C"',
    }

    def __init__(self, url: str, **kwargs: object) -> None:
        hand_psycopg_to_peewee()  # peewee's import left it out (core.database_drivers)
        super().__init__(url, **kwargs)
        self.turns = Turns(None)

    def cursor(self, named_cursor: object = None) -> object:
        # A connection the server ended (a restart) is replaced at its next use, outside a
        # transaction: the one it was in is lost, and its error was raised there.
        connection = self._state.conn
        if connection is not None and connection.closed and not self.in_transaction():
            self.close()
        return super().cursor(named_cursor)

    def begin(self, lock_type: str | None = None, isolation_level: str | None = None) -> None:
        # lock_type is SQLite's (see the module's docstring): PostgreSQL has no equivalent.
        super().begin(isolation_level)

    def execute_sql(self, sql: str, params: object = None) -> object:
        return super().execute_sql(postgres_placeholders(sql, bool(params)), params)


def server_unreachable(error: BaseException) -> bool:
    """Whether ``error`` (or what it wraps: peewee's errors carry the driver's) says that the
    catalogue's server cannot be reached: the connection was ended under its user (the server
    restarted, stopped, crashed) or cannot be made. A refusal of the server (a lock not
    granted, a constraint) is not that, and neither is any SQLite error."""
    psycopg = sys.modules.get("psycopg")  # not imported: no server was ever asked
    if psycopg is None:
        return False
    seen: set[int] = set()
    candidates = [error]
    while candidates:
        candidate = candidates.pop()
        if candidate is None or id(candidate) in seen:
            continue
        seen.add(id(candidate))
        if isinstance(candidate, (psycopg.OperationalError, psycopg.InterfaceError)):
            state = candidate.sqlstate or ""
            # No SQLSTATE: the client's own (connection failed, the server closed it); class
            # 08 is a connection exception, 57P0x the server shutting down or starting up.
            if not state or state.startswith(("08", "57P")):
                return True
        wrapped = candidate.args[0] if getattr(candidate, "args", None) else None
        candidates += [candidate.__cause__, candidate.__context__]
        if isinstance(wrapped, BaseException):
            candidates.append(wrapped)
    return False


def connection_was_ended(db: Database) -> bool:
    """Whether this thread's connection of ``db`` was found ended by its server (a restart):
    the next query outside a transaction is made on a new one (``cursor``)."""
    if _is_sqlite(db):
        return False
    connection = getattr(db._state, "conn", None)
    return connection is not None and connection.closed and not db.in_transaction()


def reach_server(db: Database) -> None:
    """Ask the catalogue's server something it answers at once, on this thread's connection:
    a connection the server ended meanwhile is made again (once); the driver's error when the
    server cannot be reached."""
    try:
        db.execute_sql("SELECT 1").fetchone()
    except Exception:
        if not connection_was_ended(db):
            raise
        db.execute_sql("SELECT 1").fetchone()  # on a new connection (``cursor``)


def sql_for(db: Database, sql: str) -> str:
    """The store's SQL (``?`` placeholders) for ``db``'s driver, to run on its cursor."""
    return sql if _is_sqlite(db) else postgres_placeholders(sql)


def _is_sqlite(db: Database | DatabaseProxy) -> bool:
    """Whether ``db`` (or the database a models' proxy stands for) is SQLite."""
    return isinstance(db.obj if isinstance(db, DatabaseProxy) else db, SqliteDatabase)


def schema_version(db: Database) -> int:
    """The catalogue's schema version; 0 for an empty database (or another program's)."""
    if _is_sqlite(db):
        return db.execute_sql("PRAGMA user_version").fetchone()[0]
    return server_catalogue.schema_version(db)


def set_schema_version(db: Database, version: int) -> None:
    if _is_sqlite(db):
        db.execute_sql(f"PRAGMA user_version = {version:d}")
        return
    db.execute_sql(f'CREATE TABLE IF NOT EXISTS "{SCHEMA_TABLE}" (version INTEGER NOT NULL)')
    db.execute_sql(f'DELETE FROM "{SCHEMA_TABLE}"')
    db.execute_sql(f'INSERT INTO "{SCHEMA_TABLE}" (version) VALUES (%s)', (version,))


def catalogue_tables(db: Database) -> set[str]:
    """The tables in the catalogue's database, less the schema version's own."""
    return set(db.get_tables()) - {SCHEMA_TABLE}


def migrator(db: Database) -> SchemaMigrator:
    from playhouse.migrate import PostgresqlMigrator, SqliteMigrator

    return SqliteMigrator(db) if _is_sqlite(db) else PostgresqlMigrator(db)


def executemany(db: Database, sql: str, rows: Iterable[Sequence]) -> None:
    """The store's SQL (``?`` placeholders) run once per row on ``db``'s driver cursor (the
    fastest way to write many rows through either driver)."""
    db.cursor().executemany(sql_for(db, sql), rows)


def insert_returning_id(db: Database, sql: str, params: Sequence) -> int:
    """Run one INSERT of the store's SQL and return the new row's id (SQLite's ``lastrowid``;
    psycopg has none, so there ``RETURNING id``)."""
    if _is_sqlite(db):
        return db.execute_sql(sql, params).lastrowid
    return db.execute_sql(f"{sql} RETURNING id", params).fetchone()[0]


def lock_rows(db: Database, table: str, ids: Iterable[int]) -> None:
    """Hold the rows of ``table`` with ``ids`` until the transaction ends, so that no other
    writer changes them between this one's read and its write. SQLite's write lock (``BEGIN
    IMMEDIATE``) holds the whole catalogue already; PostgreSQL locks the rows, in the order of
    their ids, so that two transactions locking some of the same rows never deadlock."""
    ids = sorted(set(ids))
    if _is_sqlite(db) or not ids:
        return
    db.execute_sql(f"SELECT id FROM {table} WHERE id = ANY(?) ORDER BY id FOR UPDATE", (ids,))


def one_of(db: Database, column: str, values: Iterable) -> tuple[str, object]:
    """SQL that holds when ``column`` is one of ``values`` (any number of them: no limit on
    parameters), with its one ``?``, and that parameter: a JSON list SQLite reads with
    ``json_each``, an array on PostgreSQL (``= ANY``)."""
    if _is_sqlite(db):
        return f"{column} IN (SELECT value FROM json_each(?))", json.dumps(list(values))
    return f"{column} = ANY(?)", list(values)


def same_as(db: Database | DatabaseProxy) -> str:
    """The operator for "equal, NULL equal to NULL": SQLite's ``IS`` (the standard's longer
    form only from SQLite 3.39), PostgreSQL's ``IS NOT DISTINCT FROM`` (its ``IS`` takes only
    NULL, TRUE or FALSE)."""
    return "IS" if _is_sqlite(db) else "IS NOT DISTINCT FROM"


def groups_pick_a_row(db: Database) -> bool:
    """Whether a GROUP BY may select columns it neither groups nor aggregates, each taken from
    one row of its group: SQLite's bare columns (its fastest way to keep one row per photo
    among a join's several); PostgreSQL refuses them."""
    return _is_sqlite(db)


def larger_of(db: Database | DatabaseProxy, first: str, second: str) -> str:
    """SQL for the larger of the SQL values ``first`` and ``second``: SQLite's ``max`` with
    two arguments; PostgreSQL's ``max`` is the aggregate alone, its ``GREATEST`` this."""
    return f"max({first}, {second})" if _is_sqlite(db) else f"GREATEST({first}, {second})"


def json_value(db: Database, column: str, key: str, sql_type: str) -> str:
    """SQL for the value at ``key`` of the JSON object in the text ``column``, as ``sql_type``
    (``BIGINT``, ``DOUBLE PRECISION``): SQLite's ``json_extract`` gives it typed already;
    PostgreSQL's ``->>`` gives text, cast here."""
    if _is_sqlite(db):
        return f"json_extract({column}, '$.{key}')"
    return f"CAST(CAST({column} AS json) ->> '{key}' AS {sql_type})"


class ServerReadOnlyConnection:
    """A read-only connection of its own to a catalogue on a server, taking the store's SQL
    (``?`` placeholders) as ``sqlite3.Connection.execute`` does, for the code that reads the
    catalogue beside peewee (``core.store.queries.open_read_only``).

    ``round_trips`` counts the statements sent and the batches of rows fetched: on a server
    each costs a round trip, which is what a read of many small parts pays for."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.round_trips = 0
        self._connection = self._connect()

    def _connect(self):
        import psycopg  # the optional driver: only a catalogue on a server needs it

        # No JIT (NO_JIT): a survey reads a library's files.
        return psycopg.connect(
            self.url, autocommit=True, options=f"-c default_transaction_read_only=on {NO_JIT}"
        )

    def execute(self, sql: str, params: Sequence = ()) -> object:
        import psycopg

        sql = postgres_placeholders(sql, bool(params))
        self.round_trips += 1
        try:
            return self._connection.execute(sql, params)
        except psycopg.OperationalError:
            if not self._connection.closed:
                raise
        # The server ended the connection (a restart): a read is asked again, once, on a new
        # one (an error here, when the server is still away, is the caller's).
        self._connection = self._connect()
        return self._connection.execute(sql, params)

    def stream(self, sql: str, params: Sequence, rows_per_fetch: int) -> Iterator[tuple]:
        """The rows of the store's query ``sql``, ``rows_per_fetch`` at a time through a
        cursor on the server (so a query of a whole library's files is never held in memory
        at once). Its read-only transaction lasts until the rows are all read or the iterator
        is closed; what ``execute`` asks meanwhile is asked inside it. As with ``execute``, a
        connection the server ended is made again, once, before the first rows."""
        import psycopg

        rows = self._stream(sql, params, rows_per_fetch)
        try:
            first = next(rows, None)
        except psycopg.OperationalError:
            if not self._connection.closed:
                raise
            self._connection = self._connect()
            rows = self._stream(sql, params, rows_per_fetch)
            first = next(rows, None)
        if first is None:
            return
        try:
            yield first
            yield from rows
        finally:
            rows.close()

    def _stream(self, sql: str, params: Sequence, rows_per_fetch: int) -> Iterator[tuple]:
        with (
            self._connection.transaction(),
            self._connection.cursor(name="shootwatch_stream") as cursor,
        ):
            self.round_trips += 1
            cursor.execute(postgres_placeholders(sql, bool(params)), params)
            while True:
                self.round_trips += 1
                rows = cursor.fetchmany(rows_per_fetch)
                if not rows:
                    return
                yield from rows

    def close(self) -> None:
        self._connection.close()


def reads_an_index_alone(connection: object) -> bool:
    """Whether a query of only indexed columns is answered from the index alone (SQLite's
    covering indexes), so splitting a read by index is cheaper than one wider query; a
    server's read-only connection reads the table's rows anyway, one round trip per query."""
    return not isinstance(connection, ServerReadOnlyConnection)


# Copying a whole catalogue (core.store.copying): how each back end reads a table's rows as one
# snapshot, writes them fastest, and goes on numbering them after the copy.
ROWS_PER_BATCH = 5000


def begin_one_snapshot(db: Database) -> None:
    """Make the transaction just begun on ``db`` read one snapshot throughout, and write
    nothing: PostgreSQL's first statement of the transaction says so; SQLite's deferred
    transaction reads one snapshot from its first read (in WAL mode) already."""
    if not _is_sqlite(db):
        db.execute_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")


def rows_in_batches(db: Database, sql: str) -> Iterator[list[tuple]]:
    """The rows of the store's query ``sql`` (no parameters), ``ROWS_PER_BATCH`` at a time,
    inside the transaction in progress: on PostgreSQL through a cursor on the server, so a
    table of millions of rows is not held in memory at once."""
    if _is_sqlite(db):
        cursor = db.cursor()
        cursor.execute(sql)
    else:
        cursor = db.connection().cursor(name="shootwatch_rows")
        cursor.itersize = ROWS_PER_BATCH
        cursor.execute(postgres_placeholders(sql, False))
    try:
        while batch := cursor.fetchmany(ROWS_PER_BATCH):
            yield batch
    finally:
        cursor.close()


def insert_rows(db: Database, table: str, columns: Sequence[str], rows: Sequence[Sequence]) -> None:
    """Insert ``rows`` (values in the order of ``columns``) into ``table``, as given, ids
    included: SQLite's prepared INSERT run once per row, PostgreSQL's COPY (several times
    faster there than INSERTs)."""
    names = ", ".join(f'"{column}"' for column in columns)
    if _is_sqlite(db):
        marks = ", ".join("?" * len(columns))
        db.cursor().executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)
        return
    with db.cursor() as cursor, cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)


def continue_ids_after(db: Database, table: str, column: str) -> None:
    """After rows were written with their ids, make the next row ``table`` numbers itself get
    an id past the largest: PostgreSQL's sequence is moved there; SQLite numbers a new row
    after the largest id by itself."""
    if _is_sqlite(db):
        return
    db.execute_sql(
        f'SELECT setval(pg_get_serial_sequence(%s, %s), COALESCE(MAX("{column}"), 0) + 1, false)'
        f' FROM "{table}"',
        (f'"{table}"', column),
    )


def announce_events(db: Database) -> None:
    """Tell whoever follows the log that events were written: on PostgreSQL, a NOTIFY, which
    the server sends when the transaction that wrote them commits (and never if it does not).
    On SQLite, nothing: its followers poll."""
    if not _is_sqlite(db):
        db.execute_sql(f"NOTIFY {EVENTS_CHANNEL}")


class ServerEventListener:
    """A connection of its own to a catalogue on a server, LISTENing for new events. It is
    made at the first ``wait`` and again after the server dropped it (a restart)."""

    CONNECT_SECONDS = 10
    RETRY_SECONDS = 1.0

    def __init__(self, url: str) -> None:
        self.url = url
        self._connection = None
        # Why the listening stopped, while the server cannot be reached (None while it
        # listens, or has not begun to).
        self.lost: str | None = None

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for new events. True when some were announced, and
        when the listening (re)starts: what was written while nobody listened is not known,
        so the caller reads. False when nothing came, or the server cannot be reached now."""
        import psycopg

        if self._connection is None:
            try:
                self._connection = psycopg.connect(
                    self.url, autocommit=True, connect_timeout=self.CONNECT_SECONDS
                )
                self._connection.execute(f"LISTEN {EVENTS_CHANNEL}")
            except psycopg.Error as error:
                self.close()
                self.lost = first_line(error)
                # The server is away: tried again at the next wait, within a second.
                time.sleep(min(timeout, self.RETRY_SECONDS))
                return False
            self.lost = None
            return True
        try:
            told = any(True for _ in self._connection.notifies(timeout=timeout, stop_after=1))
            if told:  # those that came with it are news of the same events: one read takes all
                for _ in self._connection.notifies(timeout=DRAIN_SECONDS):
                    pass
        except psycopg.Error as error:  # the server dropped the connection: listen again next time
            self.close()
            self.lost = first_line(error)
            return False
        return told

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # already gone with the server
                connection.close()


def first_line(error: BaseException) -> str:
    """The driver's reason, in one line (libpq adds hints on lines of their own)."""
    said = str(error).strip()
    return said.splitlines()[0] if said else type(error).__name__
