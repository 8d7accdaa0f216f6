"""The `shootwatch` command: with no command (or with folders) it opens the app, `shootwatch demo`
builds the demo library and opens it, and every other command is core's (core.cli)."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence

from core import cli
from core.catalogue_location import is_server
from core.cli.invocation import EXIT_ERROR, EXIT_OK
from core.cli.parser import command_word
from core.config import ConfigError, Settings, load_settings


def app_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shootwatch",
        description="Open the shootwatch app: triage with the keyboard, follow the engine and "
        "darktable. FOLDERs are added as photo roots first. 'shootwatch demo' opens a demo "
        "library; 'shootwatch help' lists the other commands.",
    )
    parser.add_argument("folders", metavar="FOLDER", nargs="*", help="a photo folder to add")
    parser.add_argument("--config", metavar="FILE", help="settings file (TOML)")
    parser.add_argument(
        "--db", metavar="FILE", help="catalogue: a SQLite file, or postgresql://user@host/database"
    )
    parser.add_argument(
        "--no-engine",
        action="store_true",
        help="do not start an engine here: look at the catalogue as it is (an engine already "
        "running on it is attached to either way)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = command_word(argv)
    if command == "help":
        return cli.main(["--help"])
    if command == "demo":
        return _demo(argv)
    if command in cli.command_names():
        return cli.main(argv)
    args = app_parser().parse_args(argv)
    from core.store import CatalogueError  # the app's path: the catalogue, loaded here

    try:
        settings = load_settings(args.config, {"catalogue": args.db})
        return open_app(settings, args.folders, engine="off" if args.no_engine else "auto")
    except (ConfigError, CatalogueError, ValueError) as error:
        prefix = "config error" if isinstance(error, ConfigError) else "error"
        sys.stderr.write(f"shootwatch: {prefix}: {error}\n")
        return EXIT_ERROR


def _demo(argv: list[str]) -> int:
    if "--no-open" in argv or "-h" in argv or "--help" in argv:
        return cli.main(argv)
    from core.demo import DemoError, create_demo  # building the demo is core's work
    from core.store import CatalogueError

    parser = argparse.ArgumentParser(prog="shootwatch demo")
    parser.add_argument("folder", nargs="?")
    parser.add_argument("--config")
    parser.add_argument("--db")
    args = parser.parse_args([word for word in argv if word != "demo"])
    folder = args.folder or _new_demo_folder()
    try:
        demo = create_demo(_path(folder), progress=lambda step: sys.stderr.write(f"demo: {step}\n"))
        settings = load_settings(demo.config_file)
    except (DemoError, ConfigError, CatalogueError) as error:
        sys.stderr.write(f"shootwatch: demo: {error}\n")
        return EXIT_ERROR
    sys.stderr.write(
        f"demo library in {demo.folder}; open it again with: "
        f"{_this_command()} --config {demo.config_file}\n"
        f"photos copied into {demo.inbox} are filed into its library by the day they were taken\n"
    )
    return open_app(settings, [])


def _this_command() -> str:
    """How to run this shootwatch again: its name when that is what the shell finds, else its
    path (installed in a virtual environment that is not on PATH)."""
    import shutil

    here = os.path.abspath(sys.argv[0])
    found = shutil.which("shootwatch")
    if os.path.basename(here) != "shootwatch":
        return "shootwatch"  # run some other way (python -m, tests): the installed name
    if found is not None and os.path.realpath(found) == os.path.realpath(here):
        return "shootwatch"
    return shlex.quote(here)


def _new_demo_folder() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="shootwatch-demo-")


def _path(text: str):
    from pathlib import Path

    return Path(os.path.expanduser(text)).resolve()


def stray_output_log(settings: Settings):
    """Where what C libraries print while the app runs is kept: beside the catalogue's file,
    or in the user's data folder for a catalogue on a server."""
    if is_server(settings.catalogue):
        from core.config.settings import default_catalogue_path

        return default_catalogue_path().with_name("server-catalogue.messages.log")
    return settings.catalogue.with_name(settings.catalogue.name + ".messages.log")


def open_app(settings: Settings, folders: Sequence[str], engine: str = "auto") -> int:
    from core.store import open_catalogue, queries
    from tui import keymap
    from tui.renderer import apply_colors, choose_renderer
    from tui.stray_output import stray_output_to

    keymap.check_keys(settings.tui.keys)
    with open_catalogue(settings.catalogue) as catalogue:
        for folder in folders:
            path = os.path.realpath(os.path.expanduser(folder))
            if not os.path.isdir(path):
                raise ValueError(f"{folder} is not a folder")
            root, added = queries.add_root(path)
            if added:
                sys.stderr.write(f"added library root {root.path}\n")
        # Both before the app takes the terminal: the terminal (or tmux) is asked now.
        choice = choose_renderer(settings.tui.renderer)
        apply_colors(settings.tui.colors)
        from tui.app import ShootwatchApp

        app = ShootwatchApp(settings, catalogue, engine, choice.graphics, choice.name,
                            renderer_note=choice.note)  # fmt: skip
        with stray_output_to(stray_output_log(settings)):
            app.run()
    return EXIT_OK
