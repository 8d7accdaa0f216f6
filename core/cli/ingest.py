"""``shootwatch ingest``: file the inbox roots into the library once, here and now, or copy a
card into it (``--from CARD``), or say what would be done (``--dry-run``); ``shootwatch card``:
whether a card is safe to format."""

from __future__ import annotations

import time

from core.cli import output
from core.cli.invocation import EXIT_ATTENTION, EXIT_OK, Invocation, UsageError
from core.engine.lock import running_engine_pid
from core.store.models import Root


def ingest(run: Invocation) -> int:
    if run.args.card is not None:
        return _ingest_card(run)
    if run.args.job is not None:
        raise UsageError("--job names the job of an ingest from a card: use it with --from CARD")
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


def _ingest_card(run: Invocation) -> int:
    from pathlib import Path

    from core.ingest.card import CardUnreadable
    from core.ingest.card_pass import CardIngestUnavailable, CardProgress, card_verdict, ingest_card

    args = run.args
    line = output.ProgressLine(run.err)
    started = time.monotonic()

    def progress(said: CardProgress) -> None:
        line.write(said.said(time.monotonic() - started))

    try:
        shown = progress if line.enabled and not args.json else None
        db, card_path = run.catalogue.db, Path(args.card)
        report = ingest_card(db, run.settings, card_path, dry_run=args.dry_run, progress=shown,
                             job=args.job)  # fmt: skip
        verdict = None if args.dry_run else card_verdict(db, run.settings, card_path)
    except (CardIngestUnavailable, CardUnreadable) as error:
        raise UsageError(str(error)) from None
    finally:
        line.clear()
    if args.json:
        payload = dict(report.__dict__)
        if verdict is not None:
            payload["safe_to_format"] = verdict.safe
            payload["problems"] = [{"file": f, "why": why} for f, why in verdict.problems]
        output.print_json(payload, run.out)
    else:
        for text in report.recovered:
            run.err.write(f"cut short earlier: {output.shown(text)}\n")
        for entry in report.lines:
            where = f" → {entry['to']}" if entry.get("to") else ""
            also = f" and {entry['backup']}" if entry.get("backup") else ""
            why = f"  ({entry['why']})" if entry.get("why") else ""
            said = f"{entry['done']}: {entry['file']}{where}{also}{why}"
            run.out.write(output.shown(said) + "\n")
        verb = "would be copied" if args.dry_run else "copied and verified"
        run.out.write(
            f"{report.card}: {report.copied:,} {verb} ({output.size(report.bytes_copied)}), "
            f"{report.already:,} copied before, {report.in_library:,} already in the library, "
            f"{report.failed:,} failed\n"
        )
        if verdict is not None:
            _say_verdict(verdict, run.out)
    if args.dry_run:
        return EXIT_ATTENTION if report.failed else EXIT_OK
    return EXIT_OK if verdict is not None and verdict.safe and not report.failed else EXIT_ATTENTION


def card(run: Invocation) -> int:
    from pathlib import Path

    from core.ingest.card import CardUnreadable
    from core.ingest.card_pass import card_verdict

    try:
        verdict = card_verdict(run.catalogue.db, run.settings, Path(run.args.path),
                               reread=run.args.reread)  # fmt: skip
    except CardUnreadable as error:
        raise UsageError(str(error)) from None
    if run.args.json:
        output.print_json(
            {"card": verdict.card.name, "uuid": verdict.card.uuid, "files": verdict.files,
             "copied": verdict.copied, "in_library": verdict.in_library,
             "safe_to_format": verdict.safe,
             "problems": [{"file": f, "why": why} for f, why in verdict.problems]},
            run.out,
        )  # fmt: skip
    else:
        _say_verdict(verdict, run.out)
    return EXIT_OK if verdict.safe else EXIT_ATTENTION


def _say_verdict(verdict, out) -> None:
    name = verdict.card.name
    if verdict.safe:
        out.write(
            f"{name}: safe to format: all {verdict.files:,} files are copied and verified "
            f"({verdict.copied:,}) or already in the library ({verdict.in_library:,})\n"
        )
        return
    for file, why in verdict.problems[:20]:
        out.write(output.shown(f"  {file}: {why}") + "\n")
    more = len(verdict.problems) - 20
    if more > 0:
        out.write(f"  … and {more:,} more\n")
    out.write(
        f"{name}: NOT safe to format: {len(verdict.problems):,} of {verdict.files:,} files "
        "are not safe elsewhere yet (above)\n"
    )
