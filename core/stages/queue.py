"""The job queue: which photos a stage is due for (a query, not a folder scan), claiming a job
atomically, retries with backoff, and the jobs a crash left running.

A stage is due for a photo when the photo qualifies (approved, for the stages that need it;
the input artifact made, for a stage that works from another's output; an XMP sidecar, for a
stage that reads it) and it has no artifact
made from what the photo is now: its original's blake3, its sidecar's (for the stages that
read it), and the stage's parameters. So an edited original, a sidecar darktable rewrote, or a
changed setting makes the artifact stale, and the photo is due again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from peewee import SqliteDatabase

from core.store import dialect
from core.store.writing import BoundedWrites

# A job waiting, running, failed (until retried) or cancelled (until asked again) stands.
STANDING = "('pending', 'running', 'failed', 'cancelled')"
BACKOFF_SECONDS = 30.0  # the first retry waits this long, each next one twice as long
BACKOFF_LIMIT = 3600.0


@dataclass(frozen=True)
class Due:
    """What makes a stage due: the query's parameters, taken from the stage's definition."""

    stage: str
    params_hash: str
    approved_only: bool = True
    after: str | None = None  # works from this stage's artifact
    reads_sidecar: bool = False


@dataclass(frozen=True)
class Claimed:
    job_id: int
    photo_id: int
    stage: str
    attempts: int  # this run included


def _due_sql(db: SqliteDatabase, due: Due) -> tuple[str, list]:
    if due.after is None:
        source = "p.blake3"
    else:
        source = "(SELECT i.blake3 FROM artifact i WHERE i.photo_id = p.id AND i.stage = ?)"
    sidecar = (
        "(SELECT s.blake3 FROM file s WHERE s.photo_id = p.id AND s.role = 'sidecar'"
        " ORDER BY s.rel_path LIMIT 1)"
    )
    where = ["EXISTS (SELECT 1 FROM file f WHERE f.photo_id = p.id AND f.role = 'original')"]
    args: list = []
    if due.approved_only:
        where.append("p.decision = 'approved'")
    if due.after is not None:
        where.append(
            "EXISTS (SELECT 1 FROM artifact i WHERE i.photo_id = p.id AND i.stage = ?"
            " AND i.blake3 IS NOT NULL)"
        )
        args.append(due.after)
    if due.reads_sidecar:  # nothing to read until darktable (or the photographer) writes it
        where.append("EXISTS (SELECT 1 FROM file s WHERE s.photo_id = p.id AND s.role = 'sidecar')")
    same = dialect.same_as(db)
    fresh = f"a.source_blake3 {same} {source} AND a.params_hash = ?"
    fresh_args = [due.after] if due.after is not None else []
    fresh_args.append(due.params_hash)
    if due.reads_sidecar:
        fresh += f" AND a.sidecar_blake3 {same} {sidecar}"
    where.append(
        f"NOT EXISTS (SELECT 1 FROM artifact a WHERE a.photo_id = p.id AND a.stage = ? AND {fresh})"
    )
    args += [due.stage, *fresh_args]
    where.append(
        f"NOT EXISTS (SELECT 1 FROM job j WHERE j.photo_id = p.id AND j.stage = ? AND j.status"
        f" IN {STANDING})"
    )
    args.append(due.stage)
    return "SELECT p.id FROM photo p WHERE " + " AND ".join(where), args


def queue_due(db: SqliteDatabase, due: Due, photo_ids: list[int] | None = None) -> int:
    """Queue a job for every photo the stage is due for (or for those of ``photo_ids`` that
    are due); returns how many were queued. The photos are found first, holding no lock (the
    query looks at every photo: about 0.1 s for 100,000); their jobs are then written in
    transactions of about 0.1 s, each only if no job stands for its photo by then."""
    sql, args = _due_sql(db, due)
    if photo_ids is not None:
        among, ids = dialect.one_of(db, "p.id", photo_ids)
        sql += f" AND {among}"
        args.append(ids)
    found = [row[0] for row in db.execute_sql(sql, args)]
    if not found:
        return 0
    queued, now = 0, time.time()
    with BoundedWrites(db) as writes:
        for chunk in writes.chunks(found):
            among, ids = dialect.one_of(db, "p.id", chunk)
            cursor = db.execute_sql(
                "INSERT INTO job (photo_id, stage, status, attempts, queued_at, next_attempt_at)"
                " SELECT p.id, ?, 'pending', 0, ?, NULL FROM photo p"
                f" WHERE {among} AND NOT EXISTS ("
                "  SELECT 1 FROM job j WHERE j.photo_id = p.id AND j.stage = ?"
                f"  AND j.status IN {STANDING})",
                (due.stage, now, ids, due.stage),
            )
            queued += cursor.rowcount
    return queued


def claim(db: SqliteDatabase, stages: list[str], now: float | None = None) -> Claimed | None:
    """Take the oldest pending job of these stages whose retry time has come: one statement,
    so two runners can never take the same job."""
    if not stages:
        return None
    now = time.time() if now is None else now
    marks = ", ".join("?" * len(stages))
    row = db.execute_sql(
        "UPDATE job SET status = 'running', started_at = ?, attempts = attempts + 1"
        " WHERE id = (SELECT id FROM job WHERE status = 'pending'"
        f"  AND stage IN ({marks}) AND (next_attempt_at IS NULL OR next_attempt_at <= ?)"
        "  ORDER BY next_attempt_at IS NOT NULL, id LIMIT 1)"
        " AND status = 'pending' RETURNING id, photo_id, stage, attempts",
        [now, *stages, now],
    ).fetchone()
    return Claimed(*row) if row else None


def finish(db: SqliteDatabase, job_id: int) -> None:
    db.execute_sql(
        "UPDATE job SET status = 'completed', finished_at = ?, last_error = NULL WHERE id = ?",
        (time.time(), job_id),
    )


def backoff(attempts: int) -> float:
    return min(BACKOFF_LIMIT, BACKOFF_SECONDS * 2 ** max(0, attempts - 1))


def fail(db: SqliteDatabase, job_id: int, error: str, max_attempts: int) -> bool:
    """Record the error; the job waits for its next attempt, or has failed for good after
    ``max_attempts``. Returns True when it failed for good."""
    attempts = db.execute_sql("SELECT attempts FROM job WHERE id = ?", (job_id,)).fetchone()[0]
    now = time.time()
    if attempts >= max_attempts:
        db.execute_sql(
            "UPDATE job SET status = 'failed', last_error = ?, finished_at = ? WHERE id = ?",
            (error, now, job_id),
        )
        return True
    db.execute_sql(
        "UPDATE job SET status = 'pending', last_error = ?, next_attempt_at = ? WHERE id = ?",
        (error, now + backoff(attempts), job_id),
    )
    return False


def recover_running(db: SqliteDatabase) -> int:
    """Jobs left running by a crash go back to waiting (the one runner holds the engine lock,
    so nothing else can be running them); returns how many."""
    return db.execute_sql(
        "UPDATE job SET status = 'pending', next_attempt_at = NULL,"
        " last_error = 'the engine stopped while this job ran; it runs again'"
        " WHERE status = 'running'"
    ).rowcount


def cancel_stage(db: SqliteDatabase, stage: str) -> int:
    """Every job of a stage not finished yet is cancelled."""
    return db.execute_sql(
        "UPDATE job SET status = 'cancelled', finished_at = ?"
        " WHERE stage = ? AND status IN ('pending', 'running')",
        (time.time(), stage),
    ).rowcount
