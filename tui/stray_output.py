"""Keeping what C libraries print off the screen: LibRaw writes "Unexpected end of file" for a
cut-short RAW straight to the process's stderr, which is the terminal the app draws on (Textual
draws through ``sys.__stderr__``). While the app runs, descriptor 2 goes to a file instead and
the app draws through a copy of the terminal's descriptor."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def stray_output_to(log: Path) -> Iterator[None]:
    """While inside, what is written to descriptor 2 by anything but the app goes to ``log``
    (appended); on a stderr that is no terminal nothing changes (no screen to spoil)."""
    original = sys.__stderr__
    if original is None or not os.isatty(2):
        yield
        return
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        target = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError:  # nowhere to keep it: dropped rather than drawn over the photo
        target = os.open(os.devnull, os.O_WRONLY)
    original.flush()
    terminal = os.dup(2)
    drawing = os.fdopen(terminal, "w", encoding=original.encoding, errors=original.errors)
    os.dup2(target, 2)
    os.close(target)
    sys.__stderr__ = drawing  # where Textual's driver writes
    try:
        yield
    finally:
        drawing.flush()
        os.dup2(terminal, 2)
        sys.__stderr__ = original
        drawing.close()
