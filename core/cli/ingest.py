"""``shootwatch ingest``: file the inbox roots into the library once, here and now, or say what
would be done (``--dry-run``)."""

from __future__ import annotations

from core.cli import output
from core.cli.invocation import EXIT_ATTENTION, EXIT_OK, Invocation, UsageError
from core.engine.lock import running_engine_pid
from core.store.models import Root


def ingest(run: Invocation) -> int:
    from core.ingest.run import (
        IngestReport,
        IngestUnavailable,
        add_inboxes,
        recover_moves,
        run_ingest,
    )
    from core.scan.reconcile import reconcile_roots

    args = run.args
    db = run.catalogue.db
    engine = running_engine_pid(run.settings.catalogue)
    if engine and not args.dry_run:
        raise UsageError(
            f"the engine (pid {engine}) files the inbox by itself; "
            "'shootwatch events --kind ingested' shows what it did"
        )
    try:
        add_inboxes(run.settings)
    except IngestUnavailable as error:
        raise UsageError(str(error)) from None
    inboxes = list(Root.select().where(Root.kind == "inbox").order_by(Root.path))
    if not inboxes:
        raise UsageError(
            "no inbox root yet: add one with 'shootwatch add PATH --kind inbox' "
            "(or name it in ingest.inboxes)"
        )
    if not engine:
        for move_id, outcome in recover_moves(db):
            run.err.write(f"move {move_id}, cut short earlier: {output.shown(outcome)}\n")
        # The inboxes' files catalogued and hashed first: what is filed is what was read.
        progress = output.ProgressLine(run.err)
        try:
            reconcile_roots(run.catalogue, inboxes, run.settings.scan, kind="manual",
                            on_progress=None if args.json else progress)  # fmt: skip
        finally:
            progress.clear()
    line = output.ProgressLine(run.err)

    def progress_line(done: int, total: int, report: IngestReport) -> None:
        line.write(f"ingesting {done:,} / {total:,}, {report.duplicates:,} duplicates")

    try:
        report = run_ingest(db, run.settings, dry_run=args.dry_run,
                            progress=progress_line if line.enabled else None)  # fmt: skip
    except IngestUnavailable as error:
        raise UsageError(str(error)) from None
    finally:
        line.clear()
    if args.json:
        output.print_json(report.__dict__, run.out)
    else:
        for entry in report.lines:
            where = f" → {entry['to']}" if entry.get("to") else ""
            why = f"  ({entry['why']})" if entry.get("why") else ""
            run.out.write(output.shown(f"{entry['done']}: {entry['file']}{where}{why}") + "\n")
        verb = "would be filed" if args.dry_run else "filed"
        run.out.write(
            f"{report.ingested + report.undated:,} {verb} ({report.undated:,} undated), "
            f"{report.duplicates:,} duplicates, {report.failed:,} failed, "
            f"{report.waiting:,} still settling\n"
        )
    return EXIT_ATTENTION if report.failed else EXIT_OK
