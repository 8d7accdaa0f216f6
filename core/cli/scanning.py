"""``shootwatch scan``, and scanning here when no engine runs (``scan``, and ``rescan`` without
an engine): the roots reconciled, then what the engine does in the background (new files
described, grouped into photos, previews built), and what the command says about it: a summary
per root, each file it could not read with the reason, and the exit code."""

from __future__ import annotations

import json
import os

from peewee import fn

from core.cli import output
from core.cli.invocation import EXIT_ATTENTION, EXIT_OK, Invocation, UsageError
from core.engine.lock import running_engine_pid
from core.scan.reconcile import ReconcileReport, reconcile_roots
from core.store import photos, queries
from core.store.backlog import SCAN_PREVIEWS_UP_TO, preview_work  # noqa: F401 (named here too)
from core.store.events import FILE_EVENTS, EventKind
from core.store.models import Event, Root

UNREADABLE_LISTED = 10  # per root; the event log has the rest
# The media pipeline's describing backlog (core.media.photos.MediaSync finds its work by these,
# after the file events): files not described, photos without their EXIF. Previews and looks
# are counted apart (preview_work): a scan may leave them to the engine.
MEDIA_BACKLOG = (photos.files_not_described, photos.photos_without_metadata)
# Up to this many files or photos waiting are described here, without worker processes: a
# fork each and the pickling of every result cost more than a few thousand files take (issue
# 19 measured the 2-worker media pool at 889 files/s where one process read 2,028 files/s).
DESCRIBE_HERE_UP_TO = 5_000


def scan(run: Invocation) -> int:
    """``shootwatch scan``: the running engine is asked to scan, or the roots are scanned here."""
    args, out, err = run.args, run.out, run.err
    engine_pid = running_engine_pid(run.settings.catalogue)
    if engine_pid and args.accept_empty:
        raise UsageError(
            f"--accept-empty is not something to ask the running engine (pid {engine_pid}): "
            "stop it, run this scan, and start it again"
        )
    if engine_pid:
        from core.engine.control import ask

        # One writer per catalogue: the running engine does the scan.
        reply = ask(run.settings.catalogue, {"command": "rescan", "path": args.path})
        if reply is not None and reply.get("ok"):
            out.write(
                f"the running engine (pid {engine_pid}) will scan: "
                f"{output.shown(', '.join(reply['roots']))}; "
                "follow it with 'shootwatch events -f' or 'shootwatch history'\n"
            )
            return EXIT_OK
        raise UsageError(
            f"an engine runs on this catalogue (pid {engine_pid}) but did not answer: "
            f"{(reply or {}).get('error', 'no reply')}"
        )
    if args.path is not None:
        path = os.path.realpath(os.path.expanduser(args.path))
        root = queries.root_for_path(path)
        if root is None:
            raise UsageError(f"{args.path} is not inside a root; add it first: shootwatch add PATH")
        if root.path != path and not args.json:
            err.write(f"scanning the whole root {output.shown(root.path)}\n")
        roots = [root]
    else:
        roots = list(Root.select().order_by(Root.path))
        if not roots:
            raise UsageError("no roots yet: add one with 'shootwatch add PATH'")
    return scan_here(run, roots, accept_empty=args.accept_empty, all_previews=args.previews)


def scan_here(
    run: Invocation, roots: list[Root], accept_empty: bool = False, all_previews: bool = False
) -> int:
    """Reconcile ``roots`` and describe their new files; 1 when something needs attention (a
    partial scan, files that could not be read or were still being written)."""
    quiet = bool(getattr(run.args, "json", False))
    last_event = Event.select(fn.MAX(Event.id)).scalar() or 0
    progress = output.ProgressLine(run.err)
    try:
        reports = reconcile_roots(
            run.catalogue,
            roots,
            run.settings.scan,
            kind="manual",
            on_progress=None if quiet else progress,
            accept_empty=accept_empty,
            # No watcher comes back for a file still being written: it is waited for here.
            hold_still_seconds=run.settings.watch.settle_seconds,
        )
    finally:
        progress.clear()
    # Files this scan found changed are described again: the media backlog finds only files
    # never looked at, and a changed one may now be junk, or cut short.
    describe_photos(run, quiet, events_after=last_event, all_previews=all_previews)
    if quiet:
        output.print_json([report.as_dict() for report in reports], run.out)
    else:
        for root, report in zip(roots, reports, strict=True):
            run.out.write(output.scan_summary(report) + "\n")
            _write_unreadable(run, root, report, last_event)
    return EXIT_OK if all(_all_well(report) for report in reports) else EXIT_ATTENTION


def _all_well(report: ReconcileReport) -> bool:
    return report.status == "completed" and not report.files_unreadable


def _write_unreadable(run: Invocation, root: Root, report: ReconcileReport, after: int) -> None:
    """The files and folders this scan could not read, each with its reason."""
    if not report.files_unreadable:
        return
    events = list(
        Event.select(Event.path, Event.payload)
        .where((Event.id > after) & (Event.kind == EventKind.UNREADABLE) & (Event.root == root))
        .order_by(Event.id)
        .limit(UNREADABLE_LISTED + 1)
    )
    for event in events[:UNREADABLE_LISTED]:
        reason = json.loads(event.payload or "{}").get("reason", "could not be read")
        run.out.write(f"  {output.shown(event.path)}: {output.shown(reason)}\n")
    if len(events) > UNREADABLE_LISTED:
        run.out.write("  ... and more: 'shootwatch events --kind unreadable' lists them all\n")


def describe_photos(
    run: Invocation, quiet: bool, events_after: int | None = None, all_previews: bool = False
) -> None:
    """What the engine does in the background, done here when no engine runs: new files (and
    those the events after ``events_after`` name) described and grouped into photos (in
    worker processes when there are many); then their previews built and looks measured when
    they are few (or ``all_previews``). Many are left to the engine, which builds them by
    priority: a first index of 100,000 photos is done when it is described, not hours of
    previews later."""
    db = run.catalogue.db
    waiting = _media_work_waiting(run, events_after, DESCRIBE_HERE_UP_TO + 1)
    left, builds = preview_work(db, all_previews)
    if not waiting and not builds:
        # The media pipeline, its image libraries and workers are not even loaded.
        if not quiet:
            _say_previews_left(run, left)
        return
    from core.media.photos import MediaCounts, MediaSync
    from core.triage.bursts import BurstRules

    # Files the scan described while hashing them are grouped from that, here: workers only
    # for many files still to be read (a scan cut short, files changed since).
    many = waiting > DESCRIBE_HERE_UP_TO and (
        photos.count_to_read(db, DESCRIBE_HERE_UP_TO + 1) > DESCRIBE_HERE_UP_TO
    )
    pool = None
    if many and run.settings.scan.workers > 1:
        from core.media.pool import MediaPool

        pool = MediaPool(run.settings.scan.workers)
    media = MediaSync(run.catalogue.db, run.settings.media, pool, events_after=events_after,
                      bursts=BurstRules.of(run.settings))  # fmt: skip
    line = output.ProgressLine(run.err)

    def progress(counts: MediaCounts) -> None:
        if line.enabled and not quiet:
            line.write(
                f"photos: {output.count(counts.described)} files described, "
                f"{output.count(counts.previews)} previews, {output.count(counts.looked)} measured"
            )

    try:
        media.previews = False
        counts = media.run_until_idle(progress)
        left, builds = preview_work(db, all_previews)
        if builds:
            media.previews = True
            counts = media.run_until_idle(progress)
            left = photos.count_without_preview(db)
    finally:
        line.clear()
        if pool is not None:
            pool.close()
    if quiet:
        return
    if counts.described or counts.previews or counts.looked:
        run.err.write(
            f"photos: {output.count(counts.described)} files described, "
            f"{output.count(counts.previews)} previews built, "
            f"{output.count(counts.looked)} measured\n"
        )
    _say_previews_left(run, left)


def _say_previews_left(run: Invocation, left: int) -> None:
    if left:
        run.err.write(output.previews_left(left))


def _media_work_waiting(run: Invocation, events_after: int | None, up_to: int) -> int:
    """How much the media pipeline has to do, counted up to ``up_to``: the files the events
    after ``events_after`` name, and its backlog. None of it after a scan that changed
    nothing in a catalogue whose photos are all described."""
    waiting = 0
    if events_after is not None:  # else the pipeline follows the events from now on
        changed = Event.select(Event.id).where(
            (Event.id > events_after) & Event.kind.in_(FILE_EVENTS)
        )
        waiting = changed.limit(up_to).count()
    db = run.catalogue.db
    for query in MEDIA_BACKLOG:
        if waiting >= up_to:
            break
        if query is photos.photos_without_metadata and not photos.any_photo_without_metadata(db):
            continue  # none, told at once (the query itself reads every file to say so)
        waiting += len(query(db, 0, up_to - waiting))
    return waiting
