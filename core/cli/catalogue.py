"""``shootwatch catalogue copy SRC DST``: a catalogue moved between a SQLite file and a
PostgreSQL server (either way, or file to file), every row and id, verified; progress on a
terminal, the counts and checksums as a table or as JSON. It names its own catalogues: the
settings' is not opened."""

from __future__ import annotations

import argparse
import time
from typing import TextIO

from core.catalogue_location import shown as location_shown
from core.cli import output
from core.cli.invocation import EXIT_OK

PROGRESS_EVERY_SECONDS = 0.2  # a terminal is redrawn this often, not at every batch


def catalogue(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """The ``catalogue`` commands (one so far: copy)."""
    from core.store.copying import copy_catalogue  # CopyRefused is said by core.cli

    progress = None if args.json or not err.isatty() else _TerminalProgress(err)
    started = time.monotonic()
    try:
        copied = copy_catalogue(args.source, args.destination, progress)
    finally:  # what is said next (the table, or why it failed) starts on a clean line
        if progress is not None:
            progress.done()
    seconds = time.monotonic() - started
    source, destination = location_shown(args.source), location_shown(args.destination)
    if args.json:
        output.print_json(
            {
                "source": source,
                "destination": destination,
                "rows": sum(table.rows for table in copied),
                "seconds": round(seconds, 3),
                "tables": [
                    {"table": t.table, "rows": t.rows, "checksum": t.checksum} for t in copied
                ],
            },
            out,
        )
        return EXIT_OK
    rows = [(t.table, output.count(t.rows), t.checksum[:16]) for t in copied]
    output.table(rows, ("TABLE", "ROWS", "CHECKSUM"), out)
    out.write(
        f"copied {output.shown(source)} into {output.shown(destination)}: "
        f"{sum(t.rows for t in copied):,} rows in {len(copied)} tables in "
        f"{output.seconds(seconds)}, each table verified (rows and checksum)\n"
    )
    return EXIT_OK


class _TerminalProgress:
    """The copy's progress on the terminal's one line: the step, the table, its rows done and
    its rows. Each table's start and end are always shown (where the copy is), what is between
    them every ``PROGRESS_EVERY_SECONDS``."""

    def __init__(self, err: TextIO) -> None:
        self._line = output.ProgressLine(err, interval=0)
        self._shown_at = 0.0

    def __call__(self, step: str, table: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done not in (0, total) and now - self._shown_at < PROGRESS_EVERY_SECONDS:
            return
        self._shown_at = now
        self._line.write(f"{step} {table}: {output.count(done)} of {output.count(total)} rows")

    def done(self) -> None:
        self._line.clear()
