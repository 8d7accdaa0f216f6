"""`python -m tui`: the same as the `shootwatch` command."""

import sys

from tui.launch import main

sys.exit(main())
