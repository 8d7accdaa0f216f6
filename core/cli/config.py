"""``shootwatch config``: the settings in effect, as TOML, and where they come from."""

from __future__ import annotations

from typing import TextIO

from core.catalogue_location import shown as location_shown
from core.cli import output
from core.cli.invocation import EXIT_OK
from core.config import Settings, settings_toml
from core.media.kinds import FILE_KINDS


def show_config(settings: Settings, out: TextIO) -> int:
    source = settings.config_file or "no file (defaults)"
    out.write(f"# settings file: {output.shown(source)}\n")
    out.write(f"# catalogue: {output.shown(location_shown(settings.catalogue))}\n")
    out.write(settings_toml(settings))
    out.write(f"\n# file kinds recorded: {', '.join(FILE_KINDS)}\n")
    return EXIT_OK
