"""The command line's grammar: every command with its options and help, where each command's
function lives, and the one sentence said for a command line that does not parse.

Building the parser imports no command's module: a command's module is imported when that
command runs (``command_function``), so ``status`` does not pay for the darktable reports, the
burst grouping or the stage queue (tests/core/test_cli_imports.py holds this).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from core.cli.invocation import EXIT_ERROR
from core.darktable.facts import LABEL_NAMES

PROG = "shootwatch"
OPTIONS_WITH_VALUES = ("--config", "--db")
Parser = argparse.ArgumentParser


def _add(parser: Parser) -> None:
    from core.store.models import ROOT_KINDS  # the models only for the command that names one

    parser.add_argument("path", metavar="PATH")
    parser.add_argument("--kind", choices=ROOT_KINDS, default="library", help="default: library")


def _json(parser: Parser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


def _nothing(parser: Parser) -> None:
    pass


def _as_person(parser: Parser) -> None:
    parser.add_argument(
        "--as", dest="person", metavar="NAME",
        help="who decides, for this command (default: the setting triage.name, $USER@host)",
    )  # fmt: skip


def _decisions(parser: Parser) -> None:
    parser.add_argument("--by", metavar="NAME", help="only this person's decisions")
    parser.add_argument(
        "--conflicts", action="store_true",
        help="the photos people disagree on (approved by one, rejected by another), with each "
        "person's decision, until a decision made with 'decide --resolve' settles them",
    )  # fmt: skip
    parser.add_argument(
        "--limit", type=int, metavar="N", default=None,
        help="the newest N decisions only (default: all)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print JSON")


def _scan(parser: Parser) -> None:
    parser.add_argument("path", metavar="PATH", nargs="?", help="the root to scan (default: all)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--workers", type=int, metavar="N", help="parallel scan processes")
    parser.add_argument(
        "--accept-empty",
        action="store_true",
        help="accept a root as it is now, empty or on another drive than the one recorded, and "
        "remove the records of what is not there (normally such a root is taken for an "
        "unmounted drive, or another drive in its place, and nothing is removed)",
    )
    parser.add_argument(
        "--previews",
        action="store_true",
        help="build every missing preview before returning (without it, a scan that finds "
        "many leaves them to the engine, which builds them in the background: the shoot on "
        "screen first, then newest first)",
    )


def _history(parser: Parser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--limit", type=int, default=20, metavar="N", help="default: 20")


def _events(parser: Parser) -> None:
    parser.add_argument(
        "--since", metavar="TIME", help="only events since TIME: 2024-06-01, 2024-06-01T18:00, "
        "or an age such as 10m, 2h, 3d"
    )  # fmt: skip
    parser.add_argument("--kind", action="append", metavar="KIND", help="only this kind (repeat)")
    parser.add_argument("--limit", type=int, default=50, metavar="N", help="default: the last 50")
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing new events")
    parser.add_argument("--json", action="store_true", help="one JSON object a line")


def _rescan(parser: Parser) -> None:
    parser.add_argument("path", metavar="PATH", nargs="?", help="the root (default: all)")


def _darktable(parser: Parser) -> None:
    sub = parser.add_subparsers(dest="darktable_command", metavar="COMMAND", required=True)
    stats = sub.add_parser("stats", help="per shoot: in darktable, edited, rated, exported")
    stats.add_argument("--json", action="store_true", help="print JSON")
    recent = sub.add_parser(
        "recent-edits", help="the latest edits made in darktable, by darktable's change time"
    )
    recent.add_argument("--limit", type=int, default=20, metavar="N", help="default: 20")
    recent.add_argument("--json", action="store_true", help="print JSON")


def _show(parser: Parser) -> None:
    parser.add_argument("path", metavar="PATH")
    parser.add_argument("--json", action="store_true", help="print JSON")


def _report(parser: Parser) -> None:
    parser.add_argument(
        "report",
        choices=("unfinished", "exported", "velocity", "artifacts"),
        help="unfinished: edited but not exported since, or rated and not edited yet; "
        "exported: what was exported since --since; velocity: edits per hour; "
        "artifacts: each photo with what the stages made of it",
    )
    parser.add_argument(
        "--since",
        metavar="TIME",
        help="2024-06-01, 2024-06-01T18:00 or an age such as 90m, 12h, 7d "
        "(default: 7d for exported, 24h for velocity)",
    )
    parser.add_argument(
        "--min-stars", type=int, default=1, metavar="N",
        help="unfinished: rated at least N stars in darktable (default: 1, darktable's "
        "'1 star or better', the import default star included)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print JSON")


def _decide(parser: Parser) -> None:
    parser.add_argument(
        "paths", metavar="PATH", nargs="+",
        help="any file of the photo; several photos are one decision, taken back by one undo",
    )  # fmt: skip
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--approve", action="store_true")
    what.add_argument("--reject", action="store_true")
    what.add_argument("--pending", action="store_true", help="back to undecided")
    what.add_argument("--stars", type=int, metavar="N", choices=range(6), help="0 to 5")
    what.add_argument("--label", choices=LABEL_NAMES, help="toggle a colour label")
    parser.add_argument(
        "--resolve", action="store_true",
        help="settle what people disagree on: this decision stands over everyone's before it "
        "('decisions --conflicts' lists them)",
    )  # fmt: skip
    _as_person(parser)


def _undo_redo(parser: Parser) -> None:
    _as_person(parser)


def _keep(parser: Parser) -> None:
    parser.add_argument("path", metavar="PATH", help="any file of the photo to keep")
    _as_person(parser)


def _bursts(parser: Parser) -> None:
    parser.add_argument(
        "path", metavar="PATH", nargs="?",
        help="a folder (the bursts with photos under it) or any file of a photo (its burst); "
        "default: every burst",
    )  # fmt: skip
    parser.add_argument(
        "--regroup", action="store_true",
        help="group every photo again by the settings' rules first (after changing "
        "triage.burst_gap_seconds or triage.burst_hash_distance)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print JSON")


def _jobs(parser: Parser) -> None:
    parser.add_argument("--failed", action="store_true", help="only the failed ones")
    parser.add_argument("--stage", metavar="S", help="only this stage's")
    parser.add_argument("--limit", type=int, default=50, metavar="N", help="default: 50")
    parser.add_argument("--json", action="store_true", help="print JSON")


def _retry(parser: Parser) -> None:
    which = parser.add_mutually_exclusive_group()
    which.add_argument("job", nargs="?", type=int, metavar="JOB", help="one job, by number")
    which.add_argument("--stage", metavar="S", help="every failed job of this stage")


def _cancel(parser: Parser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("job", nargs="?", type=int, metavar="JOB", help="one job, by number")
    which.add_argument("--stage", metavar="S", help="every waiting or running job of this stage")


def _run_stage(parser: Parser) -> None:
    parser.add_argument("stage", metavar="S", help="a stage in effect (see shootwatch config)")
    parser.add_argument(
        "--photo",
        action="append",
        metavar="PHOTO",
        help="only this photo: its number (as in jobs) or one of its files; repeatable. "
        "Made again even if its artifact is up to date",
    )


def _ingest(parser: Parser) -> None:
    parser.add_argument(
        "--from",
        dest="card",
        metavar="CARD",
        help="copy this card (its mount point, or any folder of camera files) into "
        "ingest.destination and ingest.backup, every copy read back and verified; the card is "
        "never written to. Says at the end whether the card is safe to format",
    )
    parser.add_argument(
        "--job",
        metavar="NAME",
        help="with --from: the job's name, for {job} in ingest.names and ingest.folders (and "
        "{seq} then counts per job)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="say what would be done; move nothing"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def _card(parser: Parser) -> None:
    parser.add_argument("path", metavar="CARD", help="the card's mount point, or the folder")
    parser.add_argument(
        "--reread",
        action="store_true",
        help="read every copy back and match it with the card (slow: reads all of them)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def _demo(parser: Parser) -> None:
    parser.add_argument(
        "folder",
        metavar="FOLDER",
        nargs="?",
        help="a new or empty folder for it (default: a new temporary folder); a folder that "
        "already holds the demo is used as it is",
    )
    parser.add_argument(
        "--no-open", action="store_true", help="only create the library; do not open the app"
    )


def _catalogue(parser: Parser) -> None:
    sub = parser.add_subparsers(dest="catalogue_command", metavar="COMMAND", required=True)
    copy = sub.add_parser(
        "copy",
        help="copy a whole catalogue into an empty one, every row and id, verified",
        description="Copy the catalogue SRC into DST, each a SQLite file or "
        "postgresql://user@host/database: every table, every row with its id, in one "
        "transaction, verified by each table's rows and checksum before it is committed. SRC "
        "is only read and must be of this shootwatch's schema; DST must be empty (a new file, "
        "or an empty database); no engine may run on either. A copy cut short leaves DST "
        "empty: run it again.",
    )
    copy.add_argument("source", metavar="SRC", help="the catalogue to copy")
    copy.add_argument("destination", metavar="DST", help="where the copy goes: empty")
    copy.add_argument(
        "--json", action="store_true", help="print each table's rows and checksum as JSON"
    )


# Every command, in the help's order: its function as "module:function" (imported when the
# command runs), its line in the help, and its options. "config", "run", "demo" and
# "catalogue" run without the settings' catalogue (core.cli._run).
COMMANDS: dict[str, tuple[str, str, Callable[[Parser], None]]] = {
    "add": ("core.cli.roots:add_root", "add a folder to watch (a root)", _add),
    "roots": ("core.cli.roots:list_roots", "list the roots and their state", _json),
    "scan": ("core.cli.scanning:scan", "bring the catalogue up to date with the disk", _scan),
    "history": ("core.cli.roots:history", "list recent scans", _history),
    "status": (
        "core.cli.roots:status",
        "roots, the engine, counts and the last scan; exit code 1 when something needs you, "
        "2 when the engine is down",
        _json,
    ),
    "config": (
        "core.cli.config:show_config",
        "show the settings in effect and where they come from",
        _nothing,
    ),
    "run": (
        "core.cli.service:run_engine",
        "run the engine in the foreground as a service (watcher, scheduled scans); stops "
        "cleanly on Ctrl-C or SIGTERM",
        _nothing,
    ),
    "events": ("core.cli.service:events", "the event log: what changed, and when", _events),
    "rescan": (
        "core.cli.service:rescan",
        "ask the running engine to reconcile now (or scan here if none runs)",
        _rescan,
    ),
    "darktable": ("core.cli.darktable:darktable", "edit progress from darktable", _darktable),
    "show": (
        "core.cli.darktable:show",
        "one file: on disk, in the catalogue, in darktable",
        _show,
    ),
    "report": ("core.cli.darktable:report", "reports from darktable's state", _report),
    "decide": ("core.cli.triage:decide", "approve, reject, rate or label a photo", _decide),
    "keep": (
        "core.cli.triage:keep",
        "approve a photo and reject the other frames of its burst (one undo)",
        _keep,
    ),
    "undo": (
        "core.cli.triage:undo",
        "take back your last decision (also one made in the app), never someone else's",
        _undo_redo,
    ),
    "redo": ("core.cli.triage:redo", "make again your last decision undone", _undo_redo),
    "decisions": (
        "core.cli.people:decisions",
        "the decision log: who decided what on which photo, and when; --conflicts: the photos "
        "people disagree on",
        _decisions,
    ),
    "bursts": (
        "core.cli.bursts:bursts",
        "bursts (photos of one body within seconds and alike in look): each photo's "
        "sharpness, its rank and decision, and the pick",
        _bursts,
    ),
    "stages": ("core.cli.stages:stages", "jobs per stage and status", _json),
    "jobs": ("core.cli.stages:jobs", "the stage queue's jobs, newest first", _jobs),
    "retry": ("core.cli.stages:retry", "run failed (or cancelled) jobs again", _retry),
    "cancel": (
        "core.cli.stages:cancel",
        "cancel a job, or every unfinished job of a stage",
        _cancel,
    ),
    "run-stage": (
        "core.cli.stages:run_stage",
        "make a stage's artifacts here and now, for every photo due (or some)",
        _run_stage,
    ),
    "ingest": (
        "core.cli.ingest:ingest",
        "file the inbox roots into dated folders of ingest.destination, skipping duplicates "
        "(the engine does this by itself while it runs); --from CARD copies a card, verified",
        _ingest,
    ),
    "card": (
        "core.cli.ingest:card",
        "whether a card is safe to format: every file on it copied and verified in "
        "ingest.destination and ingest.backup, or already in the library (exit 0 only then)",
        _card,
    ),
    "catalogue": (
        "core.cli.catalogue:catalogue",
        "copy a catalogue between a SQLite file and a PostgreSQL server (copy SRC DST)",
        _catalogue,
    ),
    "demo": (
        "core.cli.demo:build_demo",
        "a demo library to try shootwatch on: photos, a darktable library, previews",
        _demo,
    ),
}


def command_names() -> frozenset[str]:
    """Every command (the app launcher hands these to ``core.cli.main``)."""
    return frozenset(COMMANDS)


def command_function(name: str) -> Callable[..., int]:
    """The function that runs the command ``name``, its module imported now."""
    module, function = COMMANDS[name][0].split(":")
    return getattr(importlib.import_module(module), function)


def command_word(argv: Sequence[str]) -> str | None:
    """The first word that is not an option (or the value of --config or --db)."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word in OPTIONS_WITH_VALUES:
            skip = True
        elif word == "--":
            return None
        elif not word.startswith("-"):
            return word
    return None


def not_a_command(word: str) -> str:
    """The sentence for a word where a command was expected."""
    import difflib  # only for a command line that went wrong

    close = difflib.get_close_matches(word, COMMANDS, n=1)
    meant = f"did you mean '{close[0]}'? " if close else ""
    return f"'{word}' is not a {PROG} command: {meant}'{PROG} --help' lists them"


class CommandLineParser(argparse.ArgumentParser):
    """A parser whose complaint is one sentence with where to read more, not a usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"{PROG}: error: {message} ('{self.prog} --help' says more)\n")

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse makes a formatter for each option it adds, and its own asks shutil for the
        # terminal's width: shutil loads the compression modules, 2 ms of every command's start.
        return self.formatter_class(prog=self.prog, width=_help_width())


def _help_width() -> int:
    """The width help is written in, as argparse's own: $COLUMNS, else the terminal's, less 2."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return (columns or 80) - 2


def build_parser(command: str | None = None) -> CommandLineParser:
    """The parser of every command, or of ``command`` alone: a command line that names its
    command needs no other's options (building them all costs every start a few ms)."""
    parser = CommandLineParser(
        prog=PROG,
        description="Watch your photo library, follow darktable, triage with the keyboard.",
        epilog=f"Run '{PROG} COMMAND --help' for a command's options.",
    )
    parser.add_argument("--config", metavar="FILE", help="settings file (TOML)")
    parser.add_argument(
        "--db", metavar="FILE", help="catalogue: a SQLite file, or postgresql://user@host/database"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_function, line, options) in COMMANDS.items():
        if command is None or name == command:
            options(commands.add_parser(name, help=line))
    return parser
