"""Named queries on the stage queue's jobs: counts per stage and status, the failed jobs, and
the photographer's retry and cancel."""

from __future__ import annotations

import time

from peewee import SqliteDatabase

from core.store.models import JOB_STATUSES


def job_counts(db: SqliteDatabase) -> dict[str, dict[str, int]]:
    """stage -> status -> jobs, every status present (0 when none)."""
    counts: dict[str, dict[str, int]] = {}
    for stage, status, count in db.execute_sql(
        "SELECT stage, status, count(*) FROM job GROUP BY stage, status ORDER BY stage"
    ):
        counts.setdefault(stage, dict.fromkeys(JOB_STATUSES, 0))[status] = count
    return counts


def failed_job_count(db: SqliteDatabase) -> int:
    return db.execute_sql("SELECT count(*) FROM job WHERE status = 'failed'").fetchone()[0]


def failed_jobs(db: SqliteDatabase, offset: int, limit: int) -> list[tuple]:
    """(job id, stage, file, attempts, last error, finished at) of failed jobs, newest first."""
    return db.execute_sql(
        "SELECT j.id, j.stage, COALESCE(f.rel_path, '(photo ' || j.photo_id || ')'), j.attempts,"
        " j.last_error, j.finished_at FROM job j"
        " LEFT JOIN file f ON f.photo_id = j.photo_id AND f.role = 'original'"
        " WHERE j.status = 'failed' GROUP BY j.id ORDER BY j.finished_at DESC, j.id DESC"
        " LIMIT ? OFFSET ?",
        (limit, offset),
    ).fetchall()


def retry_job(db: SqliteDatabase, job_id: int) -> bool:
    """A failed or cancelled job back to pending, to run now with its tries counted afresh;
    False if it was neither."""
    cursor = db.execute_sql(
        "UPDATE job SET status = 'pending', attempts = 0, next_attempt_at = NULL"
        " WHERE id = ? AND status IN ('failed', 'cancelled')",
        (job_id,),
    )
    return cursor.rowcount == 1


def cancel_job(db: SqliteDatabase, job_id: int) -> bool:
    """A job that has not finished is cancelled; False if it had."""
    cursor = db.execute_sql(
        "UPDATE job SET status = 'cancelled', finished_at = ?"
        " WHERE id = ? AND status IN ('pending', 'running', 'failed')",
        (time.time(), job_id),
    )
    return cursor.rowcount == 1
