"""Copying a whole catalogue into an empty one, on either back end (a SQLite file, a database
on a PostgreSQL server): every table of the models with every row and its id, written in one
transaction on the destination and verified (each table's row count and checksum, read back
from the destination) before that transaction commits. The source is only read.

What makes it safe:

- The tables and their columns are the models' (``core.store.models``), so a table or a
  column added to the models is copied with no change here. A source with a table or a
  column the models do not know is refused rather than copied without it.
- The source is read as one snapshot, read-only, and must be of this program's schema
  version: a source of an older one is refused, not brought forward (that would write it).
- Nothing is committed to the destination until every table matches: a copy cut short
  (killed, a server gone, a mismatch) leaves it as it was, empty, and a second try works.
- No engine may write the source or the destination meanwhile: on a SQLite file the copy
  holds the engine lock itself (``core.engine.lock``), so none starts while it runs.

The checksum of a table is the blake3 of its rows in the order of its primary key, each row
in one canonical form whatever the back end gave: NULL as None, booleans as booleans (SQLite
keeps 0 and 1), floats as floats (written in full by ``repr``, which round-trips exactly),
integers as integers, text as text. PostgreSQL sorts the catalogue's text in byte order
(``COLLATE "C"``, ``core.store.dialect``), as SQLite does, so both give the rows in one order.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from blake3 import blake3
from peewee import (
    AutoField,
    BooleanField,
    CompositeKey,
    Database,
    DatabaseError,
    FloatField,
    InterfaceError,
    Model,
    OperationalError,
    SqliteDatabase,
    sort_models,
)

from core.catalogue_location import is_server, shown
from core.store import dialect, migrations
from core.store.database import (
    BUSY_TIMEOUT_MS,
    PRAGMAS,
    CatalogueDatabase,
    CatalogueError,
    create_catalogue_file,
)
from core.store.models import MODELS


def _database_failures() -> tuple[type[BaseException], ...]:
    """What a database or its driver raises: peewee's errors, and the drivers' own, which the
    fast paths (``dialect.insert_rows``, ``dialect.rows_in_batches``) meet directly."""
    driver = sys.modules.get("psycopg")  # loaded with the first connection to a server
    return (DatabaseError, OperationalError, InterfaceError, sqlite3.Error) + (
        (driver.Error,) if driver is not None else ()
    )


class CopyRefused(Exception):
    """The copy cannot be made, or was not finished; the message says why and what to do.
    Nothing was committed to the destination."""


@dataclass(frozen=True)
class TableCopy:
    """One table copied: its rows and their checksum, the same in the source and the copy."""

    table: str
    rows: int
    checksum: str


# Called as the copy goes: its step ("copying" a table's rows, "verifying" the copy of a
# table), the table, its rows done so far, and how many it has.
Progress = Callable[[str, str, int, int], None]


@dataclass(frozen=True)
class _Table:
    """How a model's table is copied: its columns (the models' order), its rows' order, and
    the columns whose values need a canonical form."""

    name: str
    columns: tuple[str, ...]
    order: tuple[str, ...]
    booleans: tuple[int, ...]
    floats: tuple[int, ...]
    numbered: bool  # an id the database gives itself (its sequence, on PostgreSQL)

    @classmethod
    def of(cls, model: type[Model]) -> _Table:
        fields = model._meta.sorted_fields
        key = model._meta.primary_key
        if isinstance(key, CompositeKey):
            order = tuple(model._meta.fields[name].column_name for name in key.field_names)
        else:
            order = (key.column_name,)
        return cls(
            name=model._meta.table_name,
            columns=tuple(field.column_name for field in fields),
            order=order,
            booleans=tuple(i for i, f in enumerate(fields) if isinstance(f, BooleanField)),
            floats=tuple(i for i, f in enumerate(fields) if isinstance(f, FloatField)),
            numbered=isinstance(key, AutoField),
        )

    def select(self) -> str:
        names = ", ".join(f'"{column}"' for column in self.columns)
        order = ", ".join(f'"{column}"' for column in self.order)
        return f'SELECT {names} FROM "{self.name}" ORDER BY {order}'

    def canonical(self, rows: list[tuple]) -> list[tuple]:
        """``rows`` with each value in its canonical form (the module's docstring)."""
        if not self.booleans and not self.floats:
            return rows
        out = []
        for row in rows:
            values = list(row)
            for i in self.booleans:
                if values[i] is not None:
                    values[i] = bool(values[i])
            for i in self.floats:
                if values[i] is not None:
                    values[i] = float(values[i])
            out.append(tuple(values))
        return out


class _Tally:
    """A table's row count and checksum, fed its canonical rows in order."""

    def __init__(self) -> None:
        self.rows = 0
        self._hash = blake3()

    def add(self, rows: list[tuple]) -> None:
        self.rows += len(rows)
        self._hash.update("".join(f"{row!r}\n" for row in rows).encode("utf-8", "surrogatepass"))

    def result(self, table: str) -> TableCopy:
        return TableCopy(table, self.rows, self._hash.hexdigest())


TABLES = tuple(_Table.of(model) for model in sort_models(MODELS))  # parents before children


def copy_catalogue(
    source: Path | str, destination: Path | str, progress: Progress | None = None
) -> list[TableCopy]:
    """Copy the catalogue at ``source`` into the empty one at ``destination`` (each a SQLite
    file's path or a ``postgresql://`` URL), verified; each table's count and checksum.
    CopyRefused, with nothing committed to the destination, when it cannot be done."""
    _refuse_an_unknown_scheme(source)
    _refuse_an_unknown_scheme(destination)
    if _same_file(source, destination):
        raise CopyRefused("the source and the destination are the same catalogue.")
    src = _open_source(source)
    made_file = None
    try:
        with _engine_kept_off(source, writable=False):
            _check_source(src, source)
            if not is_server(destination) and not Path(destination).expanduser().exists():
                made_file = Path(destination).expanduser()
            dst = _open_destination(destination)
            try:
                with _engine_kept_off(destination, writable=True):
                    copied = _copy(src, source, dst, destination, progress)
                made_file = None  # committed: the file is the copy
                return copied
            finally:
                dst.close()
    finally:
        src.close()
        if made_file is not None:
            _remove_sqlite_file(made_file)


def _refuse_an_unknown_scheme(location: Path | str) -> None:
    if isinstance(location, str) and "://" in location and not is_server(location):
        raise CopyRefused(
            f"{shown(location)} is neither a file's path nor a postgresql:// URL: name a "
            "SQLite file or postgresql://user@host/database."
        )


def _same_file(a: Path | str, b: Path | str) -> bool:
    if is_server(a) or is_server(b):
        return a == b
    try:
        return Path(a).expanduser().samefile(Path(b).expanduser())
    except OSError:
        return False


def _open_source(location: Path | str) -> Database:
    """The source, connected, that this process cannot write."""
    named = shown(location)
    if is_server(location):
        db = _server_database(location, options="-c default_transaction_read_only=on")
    else:
        path = Path(location).expanduser()
        if not path.is_file():
            raise CopyRefused(f"there is no catalogue at {named}: name an existing one to copy.")
        db = SqliteDatabase(
            f"file:{quote(str(path.resolve()))}?{_read_only_mode(path)}",
            uri=True,
            pragmas={"busy_timeout": BUSY_TIMEOUT_MS},
        )
    try:
        db.connect()
    except _database_failures() as error:
        raise CopyRefused(f"cannot open {named}: {_reason(error)}.") from error
    return db


def _server_database(location: str, **options: object) -> Database:
    try:
        return dialect.PostgresCatalogueDatabase(location, **options)
    except ImportError as error:
        raise CopyRefused(
            f"{shown(location)} is on a PostgreSQL server and its driver is not installed "
            f"({error.name or 'psycopg'}): pip install 'shootwatch[postgres]'."
        ) from error


def _read_only_mode(path: Path) -> str:
    """How SQLite opens the source file read-only. A reader of a catalogue (in WAL mode) makes
    its shared-memory file beside it; in a folder it cannot write (a snapshot, a mounted
    backup) it cannot, and there the file is read as it is on disk, which holds every row
    when no write-ahead log beside it holds more. CopyRefused when one does."""
    if os.access(path.parent, os.W_OK):
        return "mode=ro"
    log = path.with_name(path.name + "-wal")
    if log.exists() and log.stat().st_size > 0:
        raise CopyRefused(
            f"{path} is in a folder this user cannot write, and its write-ahead log "
            f"({log.name}) holds changes SQLite can only read with that folder writable: copy "
            "the folder somewhere writable, then copy the catalogue from there."
        )
    return "mode=ro&immutable=1"


def _check_source(db: Database, location: Path | str) -> None:
    """Refuse a source that is not a catalogue of this program's schema, or that holds a
    table or a column the models do not know (it would not be copied)."""
    named = shown(location)
    try:
        version = dialect.schema_version(db)
        tables = _tables(db)
        columns = {table.name: _columns(db, table.name) for table in TABLES if table.name in tables}
    except _database_failures() as error:
        raise CopyRefused(f"{named} is not a shootwatch catalogue: {_reason(error)}.") from error
    if version == 0:
        raise CopyRefused(f"{named} is not a shootwatch catalogue: name one to copy.")
    if version > migrations.LATEST:
        raise CopyRefused(
            f"{named} was written by a newer shootwatch (schema {version}; this one knows up "
            f"to {migrations.LATEST}): copy it with that shootwatch."
        )
    if version < migrations.LATEST:
        raise CopyRefused(
            f"{named} is a catalogue of schema {version}, older than this shootwatch's "
            f"({migrations.LATEST}): bring it forward first by opening it once "
            f"('shootwatch --db {named} status'), then copy it."
        )
    known = {table.name for table in TABLES}
    if tables - known or known - tables:
        names = ", ".join(sorted(tables ^ known))
        raise CopyRefused(
            f"{named} does not have the tables this shootwatch knows (differing: {names}): "
            "copy it with the shootwatch that wrote it."
        )
    for table in TABLES:
        if set(columns[table.name]) != set(table.columns):
            names = ", ".join(sorted(set(columns[table.name]) ^ set(table.columns)))
            raise CopyRefused(
                f"{named}'s table {table.name} does not have the columns this shootwatch knows "
                f"(differing: {names}): copy it with the shootwatch that wrote it."
            )


def _tables(db: Database) -> set[str]:
    # SQLite's own tables (sqlite_stat1 after an ANALYZE) are not the catalogue's.
    return {name for name in dialect.catalogue_tables(db) if not name.startswith("sqlite_")}


def _columns(db: Database, table: str) -> list[str]:
    return [column.name for column in db.get_columns(table)]


def _open_destination(location: Path | str) -> Database:
    """The destination, connected: a SQLite file is made (its owner's alone) when missing."""
    named = shown(location)
    if is_server(location):
        db = _server_database(location)
    else:
        path = Path(location).expanduser()
        try:
            create_catalogue_file(path)
        except CatalogueError as error:
            raise CopyRefused(str(error)) from error
        db = CatalogueDatabase(path, pragmas=PRAGMAS, check_same_thread=False)
    try:
        db.connect()
    except _database_failures() as error:
        raise CopyRefused(f"cannot open {named}: {_reason(error)}.") from error
    return db


def _needs_tables(db: Database, location: Path | str) -> bool:
    """Whether the destination, which must be empty, needs its tables made: an empty one has
    no tables at all, or is a catalogue of this schema with no rows (as a first command on a
    new database makes it). CopyRefused when it is not empty."""
    named = shown(location)
    try:
        version = dialect.schema_version(db)
        tables = _tables(db)
        if not tables and version == 0:
            return True
        known = {table.name for table in TABLES}
        if version == migrations.LATEST and tables == known:
            held = sum(
                db.execute_sql(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0] for table in known
            )
            if held == 0:
                return False
            what = f"a catalogue holding {held:,} rows"
        elif version == 0:
            what = f"a database with other tables ({', '.join(sorted(tables)[:5])})"
        else:
            what = f"a catalogue of schema {version}"
    except _database_failures() as error:
        raise CopyRefused(f"cannot use {named} as the copy: {_reason(error)}.") from error
    raise CopyRefused(
        f"{named} is not empty ({what}): a copy goes into a new SQLite file or an empty "
        "PostgreSQL database."
    )


def _copy(
    src: Database,
    source: Path | str,
    dst: Database,
    destination: Path | str,
    progress: Progress | None,
) -> list[TableCopy]:
    """Every table of ``src`` into ``dst``, in one transaction on each (a snapshot read on the
    source), committed only when every table reads back the same."""
    making = _needs_tables(dst, destination)
    table = None
    try:
        with src.atomic(), dst.atomic():
            dialect.begin_one_snapshot(src)
            if making:
                with dst.bind_ctx(MODELS):
                    dst.create_tables(MODELS)
            totals = {
                t.name: src.execute_sql(f'SELECT COUNT(*) FROM "{t.name}"').fetchone()[0]
                for t in TABLES
            }
            copied = []
            for table in TABLES:
                copied.append(_copy_table(src, dst, table, totals[table.name], progress))
                if table.numbered:
                    dialect.continue_ids_after(dst, table.name, table.order[0])
            for table, expected in zip(TABLES, copied, strict=True):
                if progress is not None:
                    progress("verifying", table.name, 0, expected.rows)
                found = _tally(dst, table)
                if found != expected:
                    raise CopyRefused(
                        f"the copy of table {table.name} does not match its source (source: "
                        f"{expected.rows:,} rows, checksum {expected.checksum[:16]}; copy: "
                        f"{found.rows:,} rows, checksum {found.checksum[:16]}): nothing was "
                        f"committed to {shown(destination)}."
                    )
            table = None
            # Written last, in the same transaction: a destination with a schema version has
            # every row.
            dialect.set_schema_version(dst, migrations.LATEST)
    except _database_failures() as error:
        where = f"copying table {table.name}" if table is not None else "copying"
        raise CopyRefused(
            f"{where} from {shown(source)} to {shown(destination)} failed: {_reason(error)}; "
            f"nothing was committed to {shown(destination)}: run the copy again."
        ) from error
    return copied


def _copy_table(
    src: Database, dst: Database, table: _Table, total: int, progress: Progress | None
) -> TableCopy:
    tally = _Tally()
    if progress is not None:
        progress("copying", table.name, 0, total)
    for batch in dialect.rows_in_batches(src, table.select()):
        rows = table.canonical(batch)
        dialect.insert_rows(dst, table.name, table.columns, rows)
        tally.add(rows)
        if progress is not None:
            progress("copying", table.name, tally.rows, total)
    return tally.result(table.name)


def _tally(db: Database, table: _Table) -> TableCopy:
    tally = _Tally()
    for batch in dialect.rows_in_batches(db, table.select()):
        tally.add(table.canonical(batch))
    return tally.result(table.name)


@contextlib.contextmanager
def _engine_kept_off(location: Path | str, writable: bool) -> Iterator[None]:
    """No engine runs on the catalogue at ``location`` while the copy reads or writes it:
    the copy holds the engine lock itself (``core.engine.lock``), so one started meanwhile
    (an app, ``shootwatch run``) finds it taken and writes nothing. A source this process
    cannot open for writing (a read-only file) is only checked. On a server the lock is the
    server's advisory lock, taken the same way."""
    from core.engine.lock import EngineLock, EngineRunning, running_engine_pid

    path = location if is_server(location) else Path(location).expanduser()
    lock = EngineLock(path)
    try:
        lock.acquire()
    except EngineRunning as running:
        raise _engine_running(location, running.pid) from running
    except OSError:
        if writable:
            raise
        lock = None
    if lock is None and (pid := running_engine_pid(path)) is not None:
        raise _engine_running(location, pid)
    try:
        yield
    finally:
        if lock is not None:
            lock.release()


def _engine_running(location: Path | str, pid: int | None) -> CopyRefused:
    return CopyRefused(
        f"an engine runs on {shown(location)} (pid {pid or 'unknown'}): stop it (the app, or "
        "'shootwatch run') and copy again."
    )


def _remove_sqlite_file(path: Path) -> None:
    """A destination file this copy made and did not finish: removed, with SQLite's files
    beside it, so nothing is left that looks like a catalogue."""
    for name in (path, *(path.with_name(path.name + end) for end in ("-wal", "-shm", "-turn"))):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


def _reason(error: BaseException) -> str:
    return str(error).strip().replace("\n", " ").rstrip(".")
