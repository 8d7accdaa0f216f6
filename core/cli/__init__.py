"""The ``shootwatch`` command: the argument parser, settings, and one function per subcommand.

Exit codes: 0 all is well; 1 the work was done but something needs attention (a root offline,
a partial scan, files that could not be read); 2 the command could not run, said in one
sentence (bad config, bad argument, no catalogue, one that cannot be used or written), or the
engine is down (status); 130 interrupted; 141 its output was closed early (``| head``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from core.cli import (
    bursts,
    darktable,
    demo,
    failures,
    ingest,
    output,
    service,
    stages,
    triage,
)
from core.cli.invocation import (
    EXIT_ATTENTION,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Invocation,
    UsageError,
)
from core.config import ConfigError, Settings, load_settings, settings_toml
from core.engine.lock import running_engine_pid
from core.media.kinds import FILE_KINDS
from core.store import CatalogueError, open_catalogue, queries
from core.store.models import ROOT_KINDS, Root, SyncRun

# A command pays at start for what it uses: every command builds the whole parser, so the
# modules above and the command modules' own tops stay light (no scanner, engine, media
# pipeline or image library), and what only some commands need is imported inside them
# (tests/core/test_cli_startup.py holds this).


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
        help="accept a root as it is now, empty or on another drive than the one recorded, and "
        "remove the records of what is not there (normally such a root is taken for an "
        "unmounted drive, or another drive in its place, and nothing is removed)",
    )
    scan.add_argument(
        "--previews",
        action="store_true",
        help="build every missing preview before returning (without it, a scan that finds "
        "many leaves them to the engine, which builds them in the background: the shoot on "
        "screen first, then newest first)",
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
    bursts.add_commands(commands)
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


# Commands that may make the catalogue they are given: they record what they find (the darktable
# commands and reports record darktable's state when no engine does). The others read, or change
# what is already catalogued: on a catalogue that does not exist they say so rather than make one.
CREATE_A_CATALOGUE = frozenset(
    {"add", "scan", "rescan", "ingest", "card", "run", "darktable", "report"}
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    out, err = sys.stdout, sys.stderr
    if args.command is None:
        parser.print_help(out)
        return EXIT_OK
    try:
        code = _run(args, out, err)
        out.flush()  # here, where a reader that went away can still be noticed
        return code
    except BrokenPipeError:
        return failures.end_quietly_after_broken_pipe()


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """The command, with every failure a person can act on said in one sentence."""
    catalogue: Path | None = None
    try:
        if args.command == "demo":  # its own settings and catalogue: not the user's
            return demo.build_demo(args, out, err)
        overrides = {"catalogue": args.db, "scan.workers": getattr(args, "workers", None)}
        settings = load_settings(args.config, overrides)
        catalogue = Path(settings.catalogue).expanduser()
        if args.command == "config":
            return show_config(settings, out)
        _refuse_names_the_catalogue_cannot_hold(args, catalogue)
        if args.command == "run":  # the engine opens the catalogue itself
            return service.run_engine(settings, err)
        command = (
            DARKTABLE_COMMANDS[args.darktable_command]
            if args.command == "darktable"
            else COMMANDS[args.command]
        )
        if args.command not in CREATE_A_CATALOGUE and not catalogue.exists():
            raise UsageError(
                f"there is no catalogue at {catalogue} yet: 'shootwatch add FOLDER' makes one "
                "(or --db names another)"
            )
        with open_catalogue(catalogue) as opened:
            return command(Invocation(args, settings, opened, out, err))
    except (ConfigError, CatalogueError, UsageError, *_loaded("core.demo", "DemoError")) as error:
        prefix = "config error" if isinstance(error, ConfigError) else "error"
        said = None
        if isinstance(error, CatalogueError) and error.__cause__ is not None:
            said = failures.known_catalogue_failure(error.__cause__, catalogue or Path())
        err.write(f"shootwatch: {prefix}: {said or output.shown(error)}\n")
        return EXIT_ERROR
    except _loaded("core.scan.reconcile", "ScanError") as error:
        err.write(f"shootwatch: scan failed: {output.shown(error)}\n")
        return EXIT_ATTENTION
    except KeyboardInterrupt:
        err.write("\nshootwatch: interrupted; nothing was removed, run it again to finish.\n")
        return EXIT_INTERRUPTED
    except failures.DATABASE_ERRORS as error:
        said = failures.catalogue_failure(error, catalogue or Path())
        err.write(f"shootwatch: error: {said}\n")
        return EXIT_ERROR
    except BrokenPipeError:
        raise
    except OSError as error:
        err.write(f"shootwatch: error: {failures.file_failure(error)}\n")
        return EXIT_ERROR


def _loaded(module: str, name: str) -> tuple[type[BaseException], ...]:
    """The exception class ``name`` of ``module`` if the command loaded that module, else none:
    a module a command did not load raised nothing (and loading it here would cost every
    command what only some use)."""
    loaded = sys.modules.get(module)
    return (getattr(loaded, name),) if loaded is not None else ()


def _refuse_names_the_catalogue_cannot_hold(args: argparse.Namespace, catalogue: Path) -> None:
    """A name with bytes that are not UTF-8 cannot be stored or looked up in the catalogue."""
    from core.scan.survey import is_storable_name

    names = [getattr(args, "path", None), *(getattr(args, "paths", None) or ()),
             *(getattr(args, "photo", None) or ())]  # fmt: skip
    for name in (name for name in names if isinstance(name, str)):
        if not is_storable_name(name):
            raise UsageError(
                f"{output.shown(name)}: the name is not valid UTF-8, so the catalogue cannot "
                "hold it; rename it to record it ('shootwatch scan' lists such names)"
            )
    if not is_storable_name(str(catalogue)):
        raise UsageError(
            f"the catalogue's path {output.shown(catalogue)} is not valid UTF-8: choose another "
            "with --db"
        )


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


def scan(run: Invocation) -> int:
    from core.cli import scanning
    from core.engine.control import ask

    args, out, err = run.args, run.out, run.err
    engine_pid = running_engine_pid(run.settings.catalogue)
    if engine_pid and args.accept_empty:
        raise UsageError(
            f"--accept-empty is not something to ask the running engine (pid {engine_pid}): "
            "stop it, run this scan, and start it again"
        )
    if engine_pid:
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
    return scanning.scan_here(
        run, roots, accept_empty=args.accept_empty, all_previews=args.previews
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
    engine_pid = running_engine_pid(run.settings.catalogue)
    beats = queries.heartbeats()
    down = False
    if not engine_pid:
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
        out.write(f"catalogue {output.shown(run.settings.catalogue)}\n")
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


def show_config(settings: Settings, out: TextIO) -> int:
    source = settings.config_file or "no file (defaults)"
    out.write(f"# settings file: {output.shown(source)}\n")
    out.write(f"# catalogue: {output.shown(settings.catalogue)}\n")
    out.write(settings_toml(settings))
    out.write(f"\n# file kinds recorded: {', '.join(FILE_KINDS)}\n")
    return EXIT_OK


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
    "keep": triage.keep,
    "undo": triage.undo,
    "stages": stages.stages,
    "jobs": stages.jobs,
    "retry": stages.retry,
    "run-stage": stages.run_stage,
    "cancel": stages.cancel,
    "ingest": ingest.ingest,
    "card": ingest.card,
    "redo": triage.redo,
    "bursts": bursts.bursts,
}
DARKTABLE_COMMANDS = {"stats": darktable.stats, "recent-edits": darktable.recent_edits}
