"""Opening the catalogue: file permissions, SQLite settings (WAL, busy timeout, foreign keys),
creating or upgrading the schema, and a clear error when the file is not usable. Its
transactions begin after a decision waiting for its turn (``core.store.turns``). A
``postgresql://`` location opens a catalogue on a PostgreSQL server instead
(``core.store.dialect``)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from peewee import Database, DatabaseError, OperationalError, SqliteDatabase

from core.catalogue_location import is_server, shown
from core.store import dialect, migrations
from core.store.models import MODELS, database
from core.store.sqlite_file import BUSY_TIMEOUT_MS, PRAGMAS  # noqa: F401 (named here too)
from core.store.turns import Turns


class CatalogueDatabase(SqliteDatabase):
    """The catalogue's connections (one per thread). Every transaction begins after the
    decision whose turn it is, if one is waiting, and takes the write lock at its start: one
    that read first and wrote later would be refused at its first write, at once, whenever
    another connection committed in between (``core.store.writing.run_transaction`` is the
    one way to read first, and runs such a transaction again)."""

    def __init__(self, path: Path, **kwargs: object) -> None:
        kwargs.setdefault("lock_type", "IMMEDIATE")
        super().__init__(str(path), **kwargs)
        self.turns = Turns(path)

    def begin(self, lock_type: str | None = None) -> None:
        self.turns.wait()
        super().begin(lock_type)

    def close(self) -> bool:
        self.turns.close()
        return super().close()


class CatalogueError(RuntimeError):
    """The catalogue cannot be opened or used; the message says why and what to do."""


class Catalogue:
    """An open catalogue. The models are bound to it while it is open (one per process).
    ``location`` is its file's path or its server's URL; ``path`` is its file (None for a
    catalogue on a server)."""

    def __init__(self, location: Path | str, db: Database) -> None:
        self.location = location
        self.path = None if is_server(location) else Path(location)
        self.db = db

    def close(self) -> None:
        if not self.db.is_closed():
            self.db.close()

    def __enter__(self) -> Catalogue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def create_catalogue_file(path: Path) -> None:
    """Create the catalogue's file (empty) and its folder when missing, readable by its owner
    only: it lists every photo and its location. CatalogueError if it cannot be."""
    try:
        if not path.parent.exists():
            path.parent.mkdir(parents=True, mode=0o700)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError as error:
        raise CatalogueError(
            f"cannot create the catalogue {path}: {error.strerror or error}; "
            "choose another place with --db or the 'catalogue' setting."
        ) from error


def open_catalogue(location: Path | str) -> Catalogue:
    """Open (creating or upgrading when needed) the catalogue at ``location``: a SQLite file's
    path, or a ``postgresql://`` URL."""
    if is_server(location):
        try:
            server = dialect.PostgresCatalogueDatabase(location)
        except ImportError as error:
            raise CatalogueError(
                f"{shown(location)} is on a PostgreSQL server and its driver is not installed "
                f"({error.name or 'psycopg'}): pip install 'shootwatch[postgres]'."
            ) from error
        return _open_schema(location, server)
    path = Path(location).expanduser()
    create_catalogue_file(path)
    return _open_schema(path, CatalogueDatabase(path, pragmas=PRAGMAS, check_same_thread=False))


def _open_schema(location: Path | str, db: Database) -> Catalogue:
    """Connect ``db``, create or upgrade its schema, and bind the models to it."""
    named = shown(location)
    if is_server(location):
        try:
            db.connect()
        except (DatabaseError, OperationalError) as error:
            db.close()
            # The reason's first line: libpq adds a hint on a line of its own.
            reason = str(error).strip().splitlines()[0] if str(error).strip() else "no reply"
            raise CatalogueError(
                f"cannot open the catalogue {named}: {reason}; nothing was read or changed "
                "(if its server is away, run the command again once it is back)."
            ) from error
    try:
        # A catalogue of this version costs one query here: its schema version. The tables
        # are looked at only to tell an empty database from another program's.
        version = migrations.schema_version(db)
        tables = dialect.catalogue_tables(db) if version == 0 else set()
        if version == 0 and not tables:
            database.initialize(db)
            with db.atomic():
                db.create_tables(MODELS)
                dialect.set_schema_version(db, migrations.LATEST)
        elif version == 0:
            kind = "an SQLite file" if isinstance(db, SqliteDatabase) else "a database"
            raise CatalogueError(
                f"{named} is {kind} but not a shootwatch catalogue "
                f"(it has tables {', '.join(sorted(tables)[:5])}); choose another with --db."
            )
        elif version > migrations.LATEST:
            raise CatalogueError(
                f"{named} was written by a newer shootwatch (schema {version}; this one knows up "
                f"to {migrations.LATEST}): upgrade shootwatch."
            )
        else:
            database.initialize(db)
            if version < migrations.LATEST:
                migrations.upgrade(db, version)
    except (DatabaseError, OperationalError, sqlite3.DatabaseError) as error:
        db.close()
        reason = str(error).strip().replace("\n", " ")
        raise CatalogueError(f"cannot open the catalogue {named}: {reason}.") from error
    except CatalogueError:
        db.close()
        raise
    return Catalogue(location, db)
