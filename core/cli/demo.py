"""``shootwatch demo [FOLDER]``: build the demo library (photos and a darktable library shipped
with shootwatch) in a folder of its own and say how to open it. It never reads or writes the
user's catalogue; opening the app is the launcher's part."""

from __future__ import annotations

import argparse
import os
import shlex
import tempfile
from pathlib import Path
from typing import TextIO

from core.cli.invocation import EXIT_OK
from core.cli.output import shown


def build_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Build the demo (the core command never opens the app: it always acts as --no-open)."""
    from core.demo import create_demo  # the demo's photos, darktable library and scan

    if args.folder is None:
        folder = Path(tempfile.mkdtemp(prefix="shootwatch-demo-"))
    else:
        folder = Path(os.path.expanduser(args.folder))
    made = create_demo(folder, progress=lambda step: err.write(f"demo: {shown(step)}\n"))
    out.write(
        f"demo library in {shown(made.folder)}\n"
        f"open it with: shootwatch --config {shown(shlex.quote(str(made.config_file)))}\n"
        f"photos copied into {shown(made.inbox)} are filed into its library by the day they "
        "were taken\n"
    )
    return EXIT_OK
