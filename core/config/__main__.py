"""python3 -m core.config --markdown | --update README.md: the README's configuration reference,
printed, or written between the README's settings markers."""

from __future__ import annotations

import sys
from pathlib import Path

from core.config.reference import readme_with_reference, reference_markdown
from core.files import write_atomically


def main(argv: list[str]) -> int:
    if argv == ["--markdown"]:
        sys.stdout.write(reference_markdown())
        return 0
    if len(argv) == 2 and argv[0] == "--update":
        readme = Path(argv[1])
        write_atomically(readme, readme_with_reference(readme.read_text("utf-8")).encode())
        return 0
    sys.stderr.write("use: python3 -m core.config --markdown | --update README.md\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
