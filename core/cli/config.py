"""``shootwatch config``: the settings in effect, as TOML, and where they come from."""

from __future__ import annotations

from typing import TextIO

from core.catalogue_location import shown as location_shown
from core.cli import output
from core.cli.invocation import EXIT_OK
from core.config import Settings, settings_toml
from core.media.kinds import FILE_KINDS
from core.records import replace


def show_config(settings: Settings, out: TextIO) -> int:
    source = settings.config_file or "no file (defaults)"
    catalogue = location_shown(settings.catalogue)
    out.write(f"# settings file: {output.shown(source)}\n")
    out.write(f"# catalogue: {output.shown(catalogue)}\n")
    if catalogue != str(settings.catalogue):  # a server's password is never printed
        out.write("# (the catalogue's password is not shown: ~/.pgpass can hold it)\n")
        settings = replace(settings, catalogue=catalogue)
    out.write(settings_toml(settings))
    out.write(f"\n# file kinds recorded: {', '.join(FILE_KINDS)}\n")
    return EXIT_OK
