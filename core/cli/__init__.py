"""The ``shootwatch`` command: the command line read, the settings and the catalogue opened, the
command run, and every failure a person can act on said in one sentence.

Exit codes: 0 all is well; 1 the work was done but something needs attention (a root offline,
a partial scan, files that could not be read); 2 the command could not run, said in one
sentence (bad config, bad argument, no catalogue, one that cannot be used or written), or the
engine is down (status); 130 interrupted; 141 its output was closed early (``| head``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from core.catalogue_location import is_server, shown
from core.cli import output
from core.cli.invocation import (
    EXIT_ATTENTION,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    Invocation,
    UsageError,
)
from core.cli.parser import (
    build_parser,
    command_function,
    command_names,
    command_word,
    not_a_command,
)
from core.config import ConfigError, load_settings

__all__ = ["build_parser", "command_names", "main"]

# A command pays at start for what it uses: the parser is built without importing any
# command's module, and the command's module is imported when it runs; the modules above stay
# light (no scanner, engine, media pipeline, image library or worker pool), and what only some
# commands need is imported inside them (tests/core/test_cli_imports.py and
# tests/core/test_cli_startup.py hold this).

# Commands that may make the catalogue they are given: they record what they find (the darktable
# commands and reports record darktable's state when no engine does). The others read, or change
# what is already catalogued: on a catalogue that does not exist they say so rather than make one.
CREATE_A_CATALOGUE = frozenset(
    {"add", "scan", "rescan", "ingest", "card", "run", "darktable", "report"}
)


# Commands that name the catalogues they use (the demo makes its own; a copy names its source
# and its destination): the settings are not read, and their catalogue is not opened.
NAME_THEIR_OWN_CATALOGUES = frozenset({"demo", "catalogue"})


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    out, err = sys.stdout, sys.stderr
    word = command_word(argv)
    if word is not None and word not in command_names():
        err.write(f"shootwatch: error: {not_a_command(word)}\n")
        return EXIT_ERROR
    # A command line that names its command needs that command's options alone; one asking
    # for help may be asking for the list of commands.
    asks_help = "-h" in argv or "--help" in argv
    parser = build_parser(None if asks_help else word)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, or one sentence about the command line
        return exit_.code if isinstance(exit_.code, int) else EXIT_ERROR
    if args.command is None:
        parser.print_help(out)
        return EXIT_OK
    try:
        code = _run(args, out, err)
        out.flush()  # here, where a reader that went away can still be noticed
        return code
    except BrokenPipeError:
        from core.cli import failures

        return failures.end_quietly_after_broken_pipe()


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """The command, with every failure a person can act on said in one sentence."""
    catalogue: Path | str | None = None
    try:
        if args.command in NAME_THEIR_OWN_CATALOGUES:  # not the settings' catalogue
            return command_function(args.command)(args, out, err)
        overrides = {
            "catalogue": args.db,
            "scan.workers": getattr(args, "workers", None),
            "triage.name": getattr(args, "person", None),  # --as NAME
        }
        settings = load_settings(args.config, overrides)
        on_server = is_server(settings.catalogue)
        catalogue = settings.catalogue if on_server else Path(settings.catalogue).expanduser()
        if args.command == "config":
            return command_function("config")(settings, out)
        _refuse_names_the_catalogue_cannot_hold(args, Path(shown(catalogue)))
        if args.command == "run":  # the engine opens the catalogue itself
            return command_function("run")(settings, err)
        if args.command == "scan":
            # Most scans change nothing: told without loading the full scan (or the ORM).
            from core.cli.unchanged_scan import scan_if_unchanged

            code = scan_if_unchanged(args, settings, catalogue, out, err)
            if code is not None:
                return code
        command = command_function(args.command)
        if not on_server and args.command not in CREATE_A_CATALOGUE and not catalogue.exists():
            raise UsageError(
                f"there is no catalogue at {catalogue} yet: 'shootwatch add FOLDER' makes one "
                "(or --db names another)"
            )
        from core.store import open_catalogue

        with open_catalogue(catalogue) as opened:
            return command(Invocation(args, settings, opened, out, err))
    except (
        ConfigError,
        *_loaded("core.store.database", "CatalogueError"),
        UsageError,
        *_loaded("core.demo", "DemoError"),
        *_loaded("core.store.copying", "CopyRefused"),
    ) as error:
        prefix = "config error" if isinstance(error, ConfigError) else "error"
        said = None
        catalogue_error = _loaded("core.store.database", "CatalogueError")
        if isinstance(error, catalogue_error) and error.__cause__ is not None:
            from core.cli import failures

            said = failures.known_catalogue_failure(error.__cause__, catalogue or Path())
        err.write(f"shootwatch: {prefix}: {said or output.shown(error)}\n")
        return EXIT_ERROR
    except _loaded("core.scan.reconcile", "ScanError") as error:
        err.write(f"shootwatch: scan failed: {output.shown(error)}\n")
        return EXIT_ATTENTION
    except KeyboardInterrupt:
        err.write("\nshootwatch: interrupted; nothing was removed, run it again to finish.\n")
        return EXIT_INTERRUPTED
    except _database_errors() as error:
        from core.cli import failures

        said = failures.catalogue_failure(error, catalogue or Path())
        err.write(f"shootwatch: error: {said}\n")
        return EXIT_ERROR
    except BrokenPipeError:
        raise
    except OSError as error:
        from core.cli import failures

        err.write(f"shootwatch: error: {failures.file_failure(error)}\n")
        return EXIT_ERROR


def _database_errors() -> tuple[type[BaseException], ...]:
    """What the catalogue's drivers raise: SQLite's, and peewee's once a command loaded it."""
    import sqlite3

    return (sqlite3.DatabaseError, *_loaded("peewee", "DatabaseError"))


def _loaded(module: str, name: str) -> tuple[type[BaseException], ...]:
    """The exception class ``name`` of ``module`` if the command loaded that module, else none:
    a module a command did not load raised nothing (and loading it here would cost every
    command what only some use)."""
    loaded = sys.modules.get(module)
    return (getattr(loaded, name),) if loaded is not None else ()


def _refuse_names_the_catalogue_cannot_hold(args: argparse.Namespace, catalogue: Path) -> None:
    """A name with bytes that are not UTF-8 cannot be stored or looked up in the catalogue."""
    names = [getattr(args, "path", None), *(getattr(args, "paths", None) or ()),
             *(getattr(args, "photo", None) or ())]  # fmt: skip
    names = [name for name in names if isinstance(name, str)]
    if str(catalogue).isascii() and all(name.isascii() for name in names):
        return  # the common case, told without loading the scanner
    from core.scan.ignore import is_storable_name

    for name in names:
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
