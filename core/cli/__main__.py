"""``python -m core.cli``: the same as the ``shootwatch`` command."""

from core.cli import main

raise SystemExit(main())
