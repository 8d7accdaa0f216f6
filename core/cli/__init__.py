"""The ``shootwatch`` command: the argument parser, settings, and one function per subcommand.

Exit codes: 0 all is well; 1 the work was done but something needs attention (a root offline,
a partial scan); 2 the command could not run (bad config, bad argument, unusable catalogue);
130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from core.cli import darktable, demo, ingest, output, service, stages, triage
from core.cli.invocation import (
    EXIT_ATTENTION,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Invocation,
    UsageError,
)
from core.config import SETTINGS, ConfigError, Settings, load_settings, setting_values
from core.demo import DemoError
from core.engine.control import ask
from core.engine.lock import running_engine_pid
from core.media.kinds import FILE_KINDS
from core.media.photos import MediaCounts, MediaSync
from core.media.pool import MediaPool
from core.scan.reconcile import ScanError, reconcile_roots
from core.store import CatalogueError, open_catalogue, queries
from core.store.models import ROOT_KINDS, Root


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shootwatch",
        description="Watch your photo library, follow darktable, triage with the keyboard.",
        epilog="Run 'shootwatch COMMAND --help' for a command's options.",
    )
    parser.add_argument("--config", metavar="FILE", help="settings file (TOML)")
    parser.add_argument("--db", metavar="FILE", help="catalogue file (SQLite)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    add = commands.add_parser("add", help="add a folder to watch (a root)")
    add.add_argument("path", metavar="PATH")
    add.add_argument("--kind", choices=ROOT_KINDS, default="library", help="default: library")

    roots = commands.add_parser("roots", help="list the roots and their state")
    roots.add_argument("--json", action="store_true", help="print JSON")

    scan = commands.add_parser("scan", help="bring the catalogue up to date with the disk")
    scan.add_argument("path", metavar="PATH", nargs="?", help="the root to scan (default: all)")
    scan.add_argument("--json", action="store_true", help="print JSON")
    scan.add_argument("--workers", type=int, metavar="N", help="parallel scan processes")
    scan.add_argument(
        "--accept-empty",
        action="store_true",
        help="accept that a root is now empty and remove its records (normally an empty root "
        "is taken for an unmounted drive and nothing is removed)",
    )

    history = commands.add_parser("history", help="list recent scans")
    history.add_argument("--json", action="store_true", help="print JSON")
    history.add_argument("--limit", type=int, default=20, metavar="N", help="default: 20")

    status = commands.add_parser(
        "status",
        help="roots, the engine, counts and the last scan; exit code 1 when something needs "
        "you, 2 when the engine is down",
    )
    status.add_argument("--json", action="store_true", help="print JSON")

    commands.add_parser("config", help="show the settings in effect and where they come from")
    service.add_commands(commands)
    darktable.add_commands(commands)
    triage.add_commands(commands)
    stages.add_commands(commands)
    ingest.add_commands(commands)
    demo.add_commands(commands)
    return parser


def command_names() -> set[str]:
    """Every subcommand the parser knows (the app launcher hands these to ``main``)."""
    return {
        name
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
        for name in action.choices
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    out, err = sys.stdout, sys.stderr
    if args.command is None:
        parser.print_help(out)
        return EXIT_OK
    try:
        if args.command == "demo":  # its own settings and catalogue: not the user's
            return demo.build_demo(args, out, err)
        overrides = {"catalogue": args.db, "scan.workers": getattr(args, "workers", None)}
        settings = load_settings(args.config, overrides)
        if args.command == "config":
            return show_config(settings, out)
        if args.command == "run":  # the engine opens the catalogue itself
            return service.run_engine(settings, err)
        command = (
            DARKTABLE_COMMANDS[args.darktable_command]
            if args.command == "darktable"
            else COMMANDS[args.command]
        )
        with open_catalogue(settings.catalogue) as catalogue:
            return command(Invocation(args, settings, catalogue, out, err))
    except (ConfigError, CatalogueError, UsageError, DemoError) as error:
        prefix = "config error" if isinstance(error, ConfigError) else "error"
        err.write(f"shootwatch: {prefix}: {error}\n")
        return EXIT_ERROR
    except ScanError as error:
        err.write(f"shootwatch: scan failed: {error}\n")
        return EXIT_ATTENTION
    except KeyboardInterrupt:
        err.write("\nshootwatch: interrupted; nothing was removed, run it again to finish.\n")
        return EXIT_INTERRUPTED


def _real_folder(path: str) -> str:
    real = os.path.realpath(os.path.expanduser(path))
    if not os.path.isdir(real):
        raise UsageError(f"{path} is not a folder.")
    return real


def add_root(run: Invocation) -> int:
    args, out = run.args, run.out
    path = _real_folder(args.path)
    try:
        root, added = queries.add_root(path, args.kind)
    except queries.RootOverlap as error:
        raise UsageError(str(error)) from None
    if not added:
        out.write(f"{path} is already a {root.kind} root\n")
        return EXIT_OK
    out.write(f"added {args.kind} root {path}\nnext: 'shootwatch scan' to index it\n")
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
            out.write(f"{s.root.path}: {s.root.state_reason}\n")
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
        "added_at": root.added_at,
        "seen_at": root.seen_at,
        "last_run": output.sync_run_dict(summary.last_run) if summary.last_run else None,
    }


def scan(run: Invocation) -> int:
    args, out, err = run.args, run.out, run.err
    engine_pid = running_engine_pid(run.settings.catalogue)
    if engine_pid:
        # One writer per catalogue: the running engine does the scan.
        reply = ask(run.settings.catalogue, {"command": "rescan", "path": args.path})
        if reply is not None and reply.get("ok"):
            out.write(
                f"the running engine (pid {engine_pid}) will scan: {', '.join(reply['roots'])}; "
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
            err.write(f"scanning the whole root {root.path}\n")
        roots = [root]
    else:
        roots = list(Root.select().order_by(Root.path))
        if not roots:
            raise UsageError("no roots yet: add one with 'shootwatch add PATH'")
    progress = output.ProgressLine(err)
    # Files this scan finds changed are described again: the media backlog finds only files
    # never looked at, and a changed one may now be junk, or cut short.
    before = queries.last_event_id(run.catalogue.db.connection())
    try:
        reports = reconcile_roots(
            run.catalogue,
            roots,
            run.settings.scan,
            kind="manual",
            on_progress=None if args.json else progress,
            accept_empty=args.accept_empty,
        )
    finally:
        progress.clear()
    _describe_photos(run, quiet=args.json, events_after=before)
    if args.json:
        output.print_json([report.as_dict() for report in reports], out)
    else:
        for report in reports:
            out.write(output.scan_summary(report) + "\n")
    return EXIT_OK if all(r.status == "completed" for r in reports) else EXIT_ATTENTION


def _describe_photos(run: Invocation, quiet: bool, events_after: int) -> None:
    """What the engine does in the background, done here when no engine runs: new and changed
    files (those of the events after ``events_after``) described, grouped into photos,
    previews built (in worker processes)."""
    pool = MediaPool(run.settings.scan.workers) if run.settings.scan.workers > 1 else None
    media = MediaSync(run.catalogue.db, run.settings.media, pool, events_after=events_after)
    line = output.ProgressLine(run.err)

    def progress(counts: MediaCounts) -> None:
        if line.enabled and not quiet:
            line.write(
                f"photos: {output.count(counts.described)} files described, "
                f"{output.count(counts.previews)} previews"
            )

    try:
        counts = media.run_until_idle(progress)
    finally:
        line.clear()
        if pool is not None:
            pool.close()
    if not quiet and (counts.described or counts.previews):
        run.err.write(
            f"photos: {output.count(counts.described)} files described, "
            f"{output.count(counts.previews)} previews built\n"
        )


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
            out.write(f"run {sync_run.id}: {sync_run.error}\n")
    return EXIT_OK


def status(run: Invocation) -> int:
    args, out = run.args, run.out
    summaries = queries.root_summaries()
    problems = []
    for s in summaries:
        if s.root.state != "online":
            problems.append(f"{s.root.path} is {s.root.state}: {s.root.state_reason}")
        elif s.last_run is not None and s.last_run.status in ("failed", "partial"):
            problems.append(f"{s.root.path}: last scan {s.last_run.status}: {s.last_run.error}")
        elif s.last_run is None:
            problems.append(f"{s.root.path} has never been scanned: run 'shootwatch scan'")
        if s.unhashed:
            problems.append(f"{s.root.path}: {output.count(s.unhashed)} files could not be read")
    engine_pid = running_engine_pid(run.settings.catalogue)
    beats = queries.heartbeats() if engine_pid else []
    down = False
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
                "catalogue": str(run.settings.catalogue),
                "engine": {
                    "pid": engine_pid,
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
        out.write(f"catalogue {run.settings.catalogue}\n")
        if engine_pid:
            components = ", ".join(f"{beat.component} {beat.status}" for beat in beats)
            out.write(f"engine running (pid {engine_pid}): {components}\n")
        else:
            out.write("no engine running ('shootwatch run' starts one)\n")
        if not summaries:
            out.write("no roots yet: add one with 'shootwatch add PATH'\n")
        for s in summaries:
            last = s.last_run
            last_scan = f"{output.when(last.started_at)} ({last.status})" if last else "never"
            out.write(
                f"{s.root.path} ({s.root.kind}, {s.root.state}): {output.count(s.files)} files, "
                f"{output.size(s.bytes)}; last scan {last_scan}\n"
            )
        for problem in problems:
            out.write(f"! {problem}\n")
        out.write("healthy\n" if healthy else "needs attention\n")
    if down:
        return EXIT_ERROR
    return EXIT_OK if healthy else EXIT_ATTENTION


def show_config(settings: Settings, out: TextIO) -> int:
    source = settings.config_file or "no file (defaults)"
    out.write(f"# settings file: {source}\n# catalogue: {settings.catalogue}\n")
    values = setting_values(settings)
    for setting in SETTINGS:
        out.write(f"\n# {setting.help}\n{setting.key} = {_toml_value(values[setting.key])}\n")
    out.write(f"\n# file kinds recorded: {', '.join(FILE_KINDS)}\n")
    return EXIT_OK


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return str(value)


COMMANDS = {
    "add": add_root,
    "roots": list_roots,
    "scan": scan,
    "history": history,
    "status": status,
    "events": service.events,
    "rescan": service.rescan,
    "show": darktable.show,
    "report": darktable.report,
    "decide": triage.decide,
    "undo": triage.undo,
    "stages": stages.stages,
    "jobs": stages.jobs,
    "retry": stages.retry,
    "run-stage": stages.run_stage,
    "cancel": stages.cancel,
    "ingest": ingest.ingest,
    "redo": triage.redo,
}
DARKTABLE_COMMANDS = {"stats": darktable.stats, "recent-edits": darktable.recent_edits}
