"""The stage queue from the command line: ``stages`` (jobs per stage and status), ``jobs``,
``retry``, ``run-stage`` (make a stage's artifacts here and now) and ``report artifacts``."""

from __future__ import annotations

from core.cli import output
from core.cli.invocation import EXIT_ATTENTION, EXIT_OK, Invocation, UsageError
from core.cli.triage import photo_of
from core.config import ConfigError
from core.engine.lock import running_engine_pid
from core.stages.queue import cancel_stage
from core.store.jobs import cancel_job, job_counts, requeue_jobs
from core.store.models import JOB_STATUSES


def stages(run: Invocation) -> int:
    counts = job_counts(run.catalogue.db)
    if run.args.json:
        output.print_json(counts, run.out)
        return EXIT_OK
    if not counts:
        run.out.write("no jobs yet: stages run on approved photos while the engine runs\n")
        return EXIT_OK
    rows = [(stage, *(output.count(by[s]) for s in JOB_STATUSES)) for stage, by in counts.items()]
    output.table(rows, ("STAGE", *(s.upper() for s in JOB_STATUSES)), run.out)
    return EXIT_ATTENTION if any(by["failed"] for by in counts.values()) else EXIT_OK


def jobs(run: Invocation) -> int:
    args = run.args
    where, params = [], []
    if args.failed:
        where.append("j.status = 'failed'")
    if args.stage:
        where.append("j.stage = ?")
        params.append(args.stage)
    sql = (
        "SELECT j.id, j.stage, j.status, j.attempts, j.last_error, j.queued_at, j.finished_at,"
        " j.photo_id, (SELECT f.rel_path FROM file f WHERE f.photo_id = j.photo_id"
        " AND f.role = 'original' LIMIT 1) FROM job j"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + " ORDER BY j.id DESC LIMIT ?"
    )
    rows = run.catalogue.db.execute_sql(sql, [*params, args.limit]).fetchall()
    found = [
        {"job": r[0], "stage": r[1], "status": r[2], "attempts": r[3], "error": r[4],
         "queued_at": r[5], "finished_at": r[6], "photo": r[7], "file": r[8]}
        for r in rows
    ]  # fmt: skip
    if args.json:
        output.print_json(found, run.out)
        return EXIT_OK
    if not found:
        run.out.write("no such jobs\n")
        return EXIT_OK
    table = [(str(j["job"]), j["stage"], j["status"], str(j["attempts"]), j["file"] or "-",
              output.when(j["finished_at"] or j["queued_at"])) for j in found]  # fmt: skip
    output.table(table, ("JOB", "STAGE", "STATUS", "TRIES", "PHOTO", "WHEN"), run.out)
    for j in found:
        if j["error"] and j["status"] in ("failed", "pending"):
            run.out.write(f"job {j['job']}: {output.shown(j['error'])}\n")
    return EXIT_OK


def retry(run: Invocation) -> int:
    db = run.catalogue.db
    if run.args.job is not None:
        if not requeue_jobs(db, job_id=run.args.job):
            raise UsageError(f"job {run.args.job} is not failed or cancelled")
        run.out.write(f"job {run.args.job} will run again\n")
        return EXIT_OK
    count = requeue_jobs(db, stage=run.args.stage)
    run.out.write(f"{count:,} job{'s' if count != 1 else ''} will run again\n")
    return EXIT_OK


def cancel(run: Invocation) -> int:
    db = run.catalogue.db
    if run.args.job is not None:
        if not cancel_job(db, run.args.job):
            raise UsageError(f"job {run.args.job} has finished")
        run.out.write(f"job {run.args.job} cancelled\n")
        return EXIT_OK
    count = cancel_stage(db, run.args.stage)
    run.out.write(f"{count:,} job{'s' if count != 1 else ''} of {run.args.stage} cancelled\n")
    return EXIT_OK


def run_stage(run: Invocation) -> int:
    from core.stages.runner import RunCounts, StageRunner, stage_defs  # images, commands

    args = run.args
    if running_engine_pid(run.settings.catalogue):
        raise UsageError("an engine runs on this catalogue and runs the stages itself")
    try:
        defs = {
            d.name: d for d in stage_defs(run.settings.stages, run.settings.media.preview_long_edge)
        }
    except ConfigError as error:
        raise UsageError(str(error)) from None
    if args.stage not in defs:
        known = ", ".join(defs) or "none: enable some under [stages]"
        raise UsageError(f"{args.stage!r} is not a stage in effect (they are: {known})")
    stage = defs[args.stage]
    runner = StageRunner(run.catalogue.db, run.settings.stages, [stage], media=run.settings.media)
    line = output.ProgressLine(run.err)

    def progress(counts: RunCounts) -> None:
        line.write(f"{args.stage}: {counts.done:,} made, {counts.failed:,} failures")

    photo_ids = [int(p) if p.isdigit() else photo_of(p) for p in args.photo or ()]
    try:
        if photo_ids:
            _make_again(run.catalogue.db, stage.name, photo_ids)
            runner.queue([stage.name], photo_ids)
            waiting = _waiting(run.catalogue.db, stage.name, photo_ids)
            if len(waiting) < len(set(photo_ids)):
                needs = "approved photos" if stage.approved_only else "photos"
                if stage.after:
                    needs += f" with a {stage.after}"
                if stage.reads_sidecar:
                    needs += " with an XMP sidecar"
                left = ", ".join(str(p) for p in sorted(set(photo_ids) - waiting))
                run.err.write(f"{args.stage} runs on {needs}; not queued: {left}\n")
        counts = runner.run_until_idle([stage.name], progress if line.enabled else None)
    finally:
        line.clear()
        runner.close()
    run.out.write(
        f"{args.stage}: {counts.done:,} made, {counts.failed:,} failures "
        f"({counts.queued:,} queued)\n"
    )
    return EXIT_ATTENTION if counts.failed else EXIT_OK


def _make_again(db, stage: str, photo_ids: list[int]) -> None:
    """Asked for by name, a photo is made again: its artifact counts as stale (the row stays
    until the new one replaces it), and its failed or cancelled job runs again."""
    marks = ", ".join("?" * len(photo_ids))
    with db.atomic():
        db.execute_sql(
            f"UPDATE artifact SET params_hash = NULL WHERE stage = ? AND photo_id IN ({marks})",
            [stage, *photo_ids],
        )
        requeue_jobs(db, stage=stage, photo_ids=photo_ids)


def _waiting(db, stage: str, photo_ids: list[int]) -> set[int]:
    marks = ", ".join("?" * len(photo_ids))
    rows = db.execute_sql(
        "SELECT photo_id FROM job WHERE stage = ? AND status = 'pending'"
        f" AND photo_id IN ({marks})",
        [stage, *photo_ids],
    )
    return {row[0] for row in rows}


def artifacts_report(run: Invocation) -> int:
    """Photos with what their stages made, the gallery's view: one row per photo."""
    rows = run.catalogue.db.execute_sql(
        "SELECT p.id, (SELECT f.rel_path FROM file f WHERE f.photo_id = p.id"
        " AND f.role = 'original' ORDER BY f.id LIMIT 1), p.capture_time, p.rating, p.labels,"
        " a.stage, a.path, a.width, a.height, a.size, a.blurhash"
        " FROM photo p JOIN artifact a ON a.photo_id = p.id"
        " ORDER BY p.capture_time IS NOT NULL, p.capture_time, p.id, a.id"  # undated first
    ).fetchall()
    by_photo: dict[int, dict] = {}
    for photo_id, file, taken, stars, labels, stage, path, width, height, size, blurhash in rows:
        found_photo = by_photo.setdefault(photo_id, {
            "photo": photo_id, "file": file, "taken": taken, "stars": stars, "labels": labels,
            "artifacts": {}, "blurhash": None,
        })  # fmt: skip
        found_photo["artifacts"][stage] = {
            "path": path, "width": width, "height": height, "size": size
        }  # fmt: skip
        if stage == "blurhash" and blurhash is not None:
            found_photo["blurhash"] = blurhash
    found = list(by_photo.values())
    if run.args.json:
        output.print_json(found, run.out)
        return EXIT_OK
    if not found:
        run.out.write("no artifacts yet\n")
        return EXIT_OK
    table = [(str(p["photo"]), p["file"] or "-", ", ".join(sorted(p["artifacts"])),
              p["blurhash"] or "-") for p in found]  # fmt: skip
    output.table(table, ("PHOTO", "FILE", "MADE", "BLURHASH"), run.out)
    return EXIT_OK
