"""What every subcommand gets, the error it raises for a person, and the exit codes."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TextIO

from core.config import Settings
from core.records import frozen_record

if TYPE_CHECKING:
    from core.store import Catalogue

EXIT_OK, EXIT_ATTENTION, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """The command cannot do what was asked; the message says what to do instead."""


@frozen_record
class Invocation:
    """What every subcommand gets."""

    args: argparse.Namespace
    settings: Settings
    catalogue: Catalogue
    out: TextIO
    err: TextIO
