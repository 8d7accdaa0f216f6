"""Opening the catalogue: file permissions, SQLite settings (WAL, busy timeout, foreign keys),
creating or upgrading the schema, and a clear error when the file is not usable. Its
transactions begin after a decision waiting for its turn (``core.store.turns``)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from peewee import DatabaseError, OperationalError, SqliteDatabase

from core.store import migrations
from core.store.models import MODELS, database
from core.store.turns import Turns

BUSY_TIMEOUT_MS = 5000
PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "normal",  # durable at each checkpoint; WAL keeps it consistent on a crash
    "foreign_keys": 1,
    "busy_timeout": BUSY_TIMEOUT_MS,
    "cache_size": -32_000,  # 32 MB
}


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
    """An open catalogue. The models are bound to it while it is open (one per process)."""

    def __init__(self, path: Path, db: SqliteDatabase) -> None:
        self.path = path
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


def open_catalogue(path: Path | str) -> Catalogue:
    """Open (creating or upgrading when needed) the catalogue at ``path``."""
    path = Path(path).expanduser()
    create_catalogue_file(path)
    db = CatalogueDatabase(path, pragmas=PRAGMAS, check_same_thread=False)
    try:
        db.connect()
        # A catalogue of this version costs one query here: its schema version. The tables
        # are looked at only to tell an empty file from another program's SQLite file.
        version = migrations.schema_version(db)
        tables = set(db.get_tables()) if version == 0 else set()
        if version == 0 and not tables:
            database.initialize(db)
            with db.atomic():
                db.create_tables(MODELS)
                db.execute_sql(f"PRAGMA user_version = {migrations.LATEST:d}")
        elif version == 0:
            raise CatalogueError(
                f"{path} is an SQLite file but not a shootwatch catalogue "
                f"(it has tables {', '.join(sorted(tables)[:5])}); choose another file with --db."
            )
        elif version > migrations.LATEST:
            raise CatalogueError(
                f"{path} was written by a newer shootwatch (schema {version}; this one knows up to "
                f"{migrations.LATEST}): upgrade shootwatch."
            )
        else:
            database.initialize(db)
            if version < migrations.LATEST:
                migrations.upgrade(db, version)
    except (DatabaseError, OperationalError, sqlite3.DatabaseError) as error:
        db.close()
        raise CatalogueError(f"cannot open the catalogue {path}: {error}.") from error
    except CatalogueError:
        db.close()
        raise
    return Catalogue(path, db)
