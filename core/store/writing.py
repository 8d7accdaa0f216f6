"""Write transactions that leave the catalogue to others often.

SQLite has one write lock per catalogue: while the engine's writer holds it, a decision made in
the app or with ``shootwatch decide`` waits. So the engine's bulk writes (a reconcile's records,
the media's descriptions) commit in pieces: a transaction ends once it has held the lock for
WRITE_BUDGET_SECONDS or written WRITE_BUDGET_ROWS rows, whichever comes first, and the next one
begins after any decision that is waiting (see ``core.store.turns``). Each piece leaves the
catalogue consistent. Committing more often costs a little: 100,000 new records took about a
fifth longer to write in pieces of 0.1 s than in pieces of 20,000 rows (their random blake3 keys
make each piece rewrite much the same index pages), a few percent of a first index.

A transaction that reads before it writes runs through ``run_transaction``: its reads take no
lock, and SQLite's refusal of it when someone committed in between ("database is locked",
SQLITE_BUSY_SNAPSHOT, at once and without waiting) is answered by running it again.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from peewee import OperationalError, SqliteDatabase

WRITE_BUDGET_SECONDS = 0.1  # what a decision may have to wait for the engine's writer
WRITE_BUDGET_ROWS = 5_000  # rows a transaction writes at most (about 0.1 s when unloaded)
CHUNK_ROWS = 500  # rows written between two looks at the clock
SQLITE_BUSY = 5

T = TypeVar("T")


def is_busy(error: BaseException) -> bool:
    """Whether ``error`` is SQLite's "database is locked": another connection holds the write
    lock (past the busy timeout), or wrote since this transaction's snapshot."""
    for candidate in (error, *getattr(error, "args", ())[:1], error.__cause__, error.__context__):
        if isinstance(candidate, sqlite3.Error) and candidate.sqlite_errorcode is not None:
            return candidate.sqlite_errorcode & 0xFF == SQLITE_BUSY
    return isinstance(error, (OperationalError, sqlite3.OperationalError)) and (
        "database is locked" in str(error)
    )


def run_transaction(db: SqliteDatabase, work: Callable[[], T]) -> T:
    """``work()`` in one transaction that takes the write lock at its first write, so its
    reads hold up nobody. SQLite refuses such a transaction, at once and without waiting, when
    another connection committed between its first read and its first write (a decision, say);
    it is then run again in a transaction that takes the lock at its start and so cannot be
    refused. ``work`` must touch nothing but the catalogue: a refused run is rolled back."""
    if db.transaction_depth() > 0:  # inside someone else's transaction: theirs decides
        with db.atomic():
            return work()
    try:
        with db.atomic(lock_type="DEFERRED"):
            return work()
    except (OperationalError, sqlite3.OperationalError) as error:
        if not is_busy(error):
            raise
    with db.atomic(lock_type="IMMEDIATE"):
        return work()


class BoundedWrites:
    """One logical write (a reconcile's batch) as a series of transactions, each ending once
    it has held the write lock for the time or row budget::

        with BoundedWrites(db) as writes:
            for chunk in writes.chunks(rows):
                insert(chunk)

    Inside a transaction someone else opened it cannot commit, and writes everything in that
    transaction instead.
    """

    def __init__(
        self,
        db: SqliteDatabase,
        seconds: float | None = None,
        rows: int | None = None,
        chunk_rows: int | None = None,
    ) -> None:
        self.db = db
        self.seconds = WRITE_BUDGET_SECONDS if seconds is None else seconds
        self.rows = WRITE_BUDGET_ROWS if rows is None else rows
        self.chunk_rows = min(self.rows, CHUNK_ROWS if chunk_rows is None else chunk_rows)
        self.transactions = 0  # how many committed rows (for the tests and benchmarks)
        self._atomic = None
        self._transaction = None
        self._began = 0.0
        self._written = 0

    def __enter__(self) -> BoundedWrites:
        self._atomic = self.db.atomic()
        self._transaction = self._atomic.__enter__()
        self._began, self._written = time.perf_counter(), 0
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._atomic.__exit__(*exc_info)
        if exc_info[0] is None and self._written:
            self.transactions += 1

    def chunks(self, rows: Sequence[T]) -> Iterator[Sequence[T]]:
        """``rows`` in pieces of ``chunk_rows``; between pieces the transaction is committed
        when it has used its budget."""
        for start in range(0, len(rows), self.chunk_rows):
            piece = rows[start : start + self.chunk_rows]
            yield piece
            self.wrote(len(piece))

    def wrote(self, rows: int) -> None:
        """``rows`` more were written: commit and begin again if the budget is used up."""
        self._written += rows
        spent = time.perf_counter() - self._began >= self.seconds or self._written >= self.rows
        if spent and self.db.transaction_depth() == 1:
            self._transaction.commit()  # peewee begins the next one, after a waiting decision
            self.transactions += 1
            self._began, self._written = time.perf_counter(), 0
