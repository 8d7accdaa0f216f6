"""python3 -m core.config --markdown | --update docs/settings.md: the configuration reference,
printed, or written between the settings markers of a Markdown file (docs/settings.md)."""

from __future__ import annotations

import sys
from pathlib import Path

from core.config.reference import (
    REFERENCE_END,
    REFERENCE_START,
    reference_markdown,
    with_reference,
)
from core.files import write_atomically

HOME = "docs/settings.md"  # where the repository keeps the reference


def main(argv: list[str]) -> int:
    if argv == ["--markdown"]:
        sys.stdout.write(reference_markdown())
        return 0
    if len(argv) == 2 and argv[0] == "--update":
        page = Path(argv[1])
        try:
            text = page.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as error:
            sys.stderr.write(f"{page}: cannot be read ({error}); the reference is in {HOME}\n")
            return 2
        if REFERENCE_START not in text or REFERENCE_END not in text.partition(REFERENCE_START)[2]:
            sys.stderr.write(
                f"{page} has no {REFERENCE_START} ... {REFERENCE_END} markers to write the "
                f"reference between; the reference is in {HOME}\n"
            )
            return 2
        write_atomically(page, with_reference(text).encode())
        return 0
    sys.stderr.write(f"use: python3 -m core.config --markdown | --update {HOME}\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
