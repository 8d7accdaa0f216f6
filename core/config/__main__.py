"""python3 -m core.config --markdown | --update docs/settings.md: the configuration reference,
printed, or written between the settings markers of a Markdown file (docs/settings.md)."""

from __future__ import annotations

import sys
from pathlib import Path

from core.config.reference import reference_markdown, with_reference
from core.files import write_atomically


def main(argv: list[str]) -> int:
    if argv == ["--markdown"]:
        sys.stdout.write(reference_markdown())
        return 0
    if len(argv) == 2 and argv[0] == "--update":
        page = Path(argv[1])
        write_atomically(page, with_reference(page.read_text("utf-8")).encode())
        return 0
    sys.stderr.write("use: python3 -m core.config --markdown | --update docs/settings.md\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
