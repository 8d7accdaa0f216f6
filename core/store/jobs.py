"""Named queries on the stage queue's jobs: counts per stage and status, the failed jobs, and
the photographer's retry (a job back to pending) and cancel."""

from __future__ import annotations

import time
from collections.abc import Sequence

from peewee import SqliteDatabase

from core.store.dialect import one_of
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


def requeue_jobs(
    db: SqliteDatabase,
    *,
    job_id: int | None = None,
    stage: str | None = None,
    photo_ids: Sequence[int] | None = None,
) -> int:
    """Failed and cancelled jobs back to pending: queued again now, to run at once with their
    tries counted afresh (a job waiting, running or done is left as it is). All of them, or
    only job ``job_id``, ``stage``'s, or ``photo_ids``' (these narrow each other). The last error
    stays, to be read until the job runs again. Returns how many went back."""
    sql = (
        "UPDATE job SET status = 'pending', attempts = 0, queued_at = ?,"
        " next_attempt_at = NULL, started_at = NULL, finished_at = NULL"
        " WHERE status IN ('failed', 'cancelled')"
    )
    args: list = [time.time()]
    if job_id is not None:
        sql += " AND id = ?"
        args.append(job_id)
    if stage is not None:
        sql += " AND stage = ?"
        args.append(stage)
    if photo_ids is not None:
        among, ids = one_of(db, "photo_id", photo_ids)
        sql += f" AND {among}"
        args.append(ids)
    return db.execute_sql(sql, args).rowcount


def cancel_job(db: SqliteDatabase, job_id: int) -> bool:
    """A job that has not finished is cancelled; False if it had."""
    cursor = db.execute_sql(
        "UPDATE job SET status = 'cancelled', finished_at = ?"
        " WHERE id = ? AND status IN ('pending', 'running', 'failed')",
        (time.time(), job_id),
    )
    return cursor.rowcount == 1
