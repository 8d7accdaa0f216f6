"""The roots and what the catalogue knows of them: ``add``, ``roots``, ``history`` and
``status``."""

from __future__ import annotations

import os
import time

from core.catalogue_location import shown as location_shown
from core.cli import output
from core.cli.invocation import EXIT_ATTENTION, EXIT_ERROR, EXIT_OK, Invocation, UsageError
from core.engine.lock import running_engine_holder, running_engine_pid
from core.store import queries
from core.store.models import Root, SyncRun


def _real_folder(path: str) -> str:
    real = os.path.realpath(os.path.expanduser(path))
    if not os.path.isdir(real):
        raise UsageError(f"{path} is not a folder.")
    return real


def add_root(run: Invocation) -> int:
    from core.scan.roots import identify

    args, out = run.args, run.out
    path = _real_folder(args.path)
    # The file system it is on now: an unmounted drive is told from it later (core.scan.roots).
    identity = identify(path)
    try:
        root, added = queries.add_root(
            path,
            args.kind,
            device=identity.device if identity else None,
            mount_point=identity.mount_point if identity else None,
        )
    except queries.RootOverlap as error:
        raise UsageError(str(error)) from None
    if not added:
        out.write(f"{output.shown(path)} is already a {root.kind} root\n")
        return EXIT_OK
    engine_pid = running_engine_pid(run.settings.catalogue)
    if engine_pid:
        then = f"the running engine (pid {engine_pid}) indexes it now and watches it"
    else:
        then = "next: 'shootwatch scan' to index it"
    out.write(f"added {args.kind} root {output.shown(path)}\n{then}\n")
    return EXIT_OK


def list_roots(run: Invocation) -> int:
    args, out = run.args, run.out
    summaries = queries.root_summaries()
    if args.json:
        output.print_json([_root_dict(s) for s in summaries], out)
        return EXIT_OK
    if not summaries:
        out.write("no roots yet: add one with 'shootwatch add PATH'\n")
        return EXIT_OK
    rows = [
        (
            s.root.path,
            s.root.kind,
            s.root.state,
            output.count(s.files),
            output.size(s.bytes),
            output.when(s.last_run.started_at if s.last_run else None),
        )
        for s in summaries
    ]
    output.table(rows, ("ROOT", "KIND", "STATE", "FILES", "SIZE", "LAST SCAN"), out)
    for s in summaries:
        if s.root.state_reason:
            out.write(output.shown(f"{s.root.path}: {s.root.state_reason}") + "\n")
    return EXIT_OK


def _root_dict(summary: queries.RootSummary) -> dict:
    root = summary.root
    return {
        "path": root.path,
        "kind": root.kind,
        "state": root.state,
        "state_reason": root.state_reason,
        "files": summary.files,
        "bytes": summary.bytes,
        "unhashed": summary.unhashed,
        "unreadable_folders": [
            {"folder": rel, "reason": reason} for rel, reason in summary.unreadable_folders
        ],
        "device": root.device,
        "mount_point": root.mount_point,
        "added_at": root.added_at,
        "seen_at": root.seen_at,
        "last_run": output.sync_run_dict(summary.last_run) if summary.last_run else None,
    }


def history(run: Invocation) -> int:
    args, out = run.args, run.out
    runs = queries.recent_sync_runs(args.limit)
    if args.json:
        output.print_json([output.sync_run_dict(sync_run) for sync_run in runs], out)
        return EXIT_OK
    if not runs:
        out.write("no scans yet: run 'shootwatch scan'\n")
        return EXIT_OK
    rows = [
        (
            str(sync_run.id),
            output.when(sync_run.started_at),
            sync_run.kind,
            sync_run.root.path if sync_run.root_id is not None else "-",
            sync_run.status,
            output.count(sync_run.files_scanned),
            f"+{output.count(sync_run.files_added)}",
            f"~{output.count(sync_run.files_updated)}",
            f">{output.count(sync_run.files_moved)}",
            f"-{output.count(sync_run.files_removed)}",
            output.size(sync_run.bytes_hashed),
            output.seconds(sync_run.duration),
        )
        for sync_run in runs
    ]
    headers = ("RUN", "STARTED", "KIND", "ROOT", "STATUS", "SCANNED", "ADDED", "UPDATED",
               "MOVED", "REMOVED", "HASHED", "TOOK")  # fmt: skip
    output.table(rows, headers, out)
    for sync_run in runs:
        if sync_run.error:
            out.write(f"run {sync_run.id}: {output.shown(sync_run.error)}\n")
    return EXIT_OK


def status(run: Invocation) -> int:
    args, out = run.args, run.out
    summaries = queries.root_summaries()
    problems = []
    for s in summaries:
        if s.root.state != "online":
            problems.append(f"{s.root.path} is {s.root.state}: {s.root.state_reason}")
        elif s.unreadable_folders:
            # Until a run reads them again, whatever runs of other folders say since.
            folders = "; ".join(f"{rel or '.'}: {why}" for rel, why in s.unreadable_folders[:3])
            more = len(s.unreadable_folders) - 3
            problems.append(
                f"{s.root.path}: {len(s.unreadable_folders)} folder(s) cannot be read, so "
                f"nothing under them is removed: {folders}"
                + (f" and {more} more" if more > 0 else "")
            )
        elif s.last_run is not None and s.last_run.status in ("failed", "partial"):
            problems.append(f"{s.root.path}: last scan {s.last_run.status}: {s.last_run.error}")
        elif s.last_run is None:
            problems.append(f"{s.root.path} has never been scanned: run 'shootwatch scan'")
        # Files recorded without their content, and what the last whole scan could not read
        # at all (names that are not UTF-8, unreadable folders): neither is all well.
        last_whole = _last_whole_scan(s.root)
        unreadable = max(s.unhashed, last_whole.files_unreadable if last_whole else 0)
        if unreadable:
            problems.append(
                f"{s.root.path}: {output.count(unreadable)} files or folders could not be read "
                "('shootwatch events --kind unreadable' says why)"
            )
    holder = running_engine_holder(run.settings.catalogue)
    beats = queries.heartbeats()
    down = False
    if holder is None:
        # An engine that stops says so in its last beats ("off"); one that was killed could not.
        if any(beat.status != "off" for beat in beats):
            last = max(beat.beat_at for beat in beats)
            problems.append(
                f"the engine stopped without closing (killed?) at {output.moment(last)}; "
                "'shootwatch run' starts it again"
            )
            down = True
        beats = []
    for beat in beats:
        if beat.status in ("degraded", "down"):
            problems.append(f"{beat.component} {beat.status}: {beat.error}")
            down = down or beat.status == "down"
        if time.time() - beat.beat_at > 30:
            problems.append(
                f"the engine has not reported for {output.seconds(time.time() - beat.beat_at)}"
            )
            down = True
            break
    healthy = not problems
    if args.json:
        output.print_json(
            {
                "healthy": healthy,
                "catalogue": location_shown(run.settings.catalogue),
                "engine": {
                    "pid": holder.pid if holder else None,
                    "host": holder.host if holder else None,
                    "components": [
                        {
                            "component": beat.component,
                            "status": beat.status,
                            "task": beat.task,
                            "error": beat.error,
                            "beat_at": beat.beat_at,
                        }
                        for beat in beats
                    ],
                },
                "roots": [_root_dict(s) for s in summaries],
                "problems": problems,
            },
            out,
        )
    else:
        out.write(f"catalogue {output.shown(location_shown(run.settings.catalogue))}\n")
        if holder is not None:
            components = ", ".join(f"{beat.component} {beat.status}" for beat in beats)
            out.write(f"engine running ({holder.said}): {components}\n")
        else:
            out.write("no engine running ('shootwatch run' starts one)\n")
        if not summaries:
            out.write("no roots yet: add one with 'shootwatch add PATH'\n")
        for s in summaries:
            last = s.last_run
            last_scan = f"{output.when(last.started_at)} ({last.status})" if last else "never"
            out.write(
                f"{output.shown(s.root.path)} ({s.root.kind}, {s.root.state}): "
                f"{output.count(s.files)} files, "
                f"{output.size(s.bytes)}; last scan {last_scan}\n"
            )
        for problem in problems:
            out.write(f"! {output.shown(problem)}\n")
        out.write("healthy\n" if healthy else "needs attention\n")
    if down:
        return EXIT_ERROR
    return EXIT_OK if healthy else EXIT_ATTENTION


def _last_whole_scan(root: Root) -> SyncRun | None:
    """The root's last finished scan of all of it (the watcher's runs cover some folders)."""
    return (
        SyncRun.select()
        .where(SyncRun.root == root, SyncRun.kind != "realtime", SyncRun.status != "running")
        .order_by(SyncRun.id.desc())
        .first()
    )
