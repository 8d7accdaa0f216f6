"""The README's keymap and configuration reference say what the code does: every action is
documented (a new one without a line in the README fails here), and the configuration reference
is the text the settings' declarations make (``python3 -m core.config --update README.md``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from core.config import reference_markdown
from core.config.reference import README_END, README_START
from tui.keymap import ACTIONS, display

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(title)
    end = README.find("\n## ", start + len(title))
    return README[start : end if end != -1 else None]


def test_every_action_is_in_the_keymap_table():
    keymap = section("### Keymap")
    for action in ACTIONS:
        name = action.name
        if re.fullmatch(r"stars_[1-4]", name):
            assert "`stars_0` … `stars_5`" in keymap
            continue
        assert f"`{name}`" in keymap, f"{name} is not in the README's keymap"
        first = display(action.keys[0])
        shown = {"right": "→", "left": "←", "down": "↓", "up": "↑", "␣": "space",
                 "⌫": "backspace", "^z": "ctrl+z", "^y": "ctrl+y", "^p": "ctrl+p",
                 "⇧tab": "shift+tab", "f1": "F1", "f5": "F5"}.get(first, first)  # fmt: skip
        assert f"`{shown}`" in keymap or shown in keymap, f"{name}: key {shown} not documented"


def configuration_reference() -> str:
    start = README.index(README_START) + len(README_START)
    return README[start : README.index(README_END)].removeprefix("\n")


def test_the_configuration_reference_is_the_one_the_declarations_make():
    assert configuration_reference() == reference_markdown(), (
        "the README's configuration reference is out of date: "
        "python3 -m core.config --update README.md"
    )


def test_the_reference_script_prints_the_readme_text_and_updates_a_readme(tmp_path):
    printed = subprocess.run(
        [sys.executable, "-m", "core.config", "--markdown"],
        cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert printed == configuration_reference()
    stale = tmp_path / "README.md"
    stale.write_text(f"# x\n\n{README_START}\n```toml\nold = 1\n```\n{README_END}\n\nafter\n")
    subprocess.run(
        [sys.executable, "-m", "core.config", "--update", str(stale)],
        cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), check=True,
    )  # fmt: skip
    assert stale.read_text() == (f"# x\n\n{README_START}\n{printed}{README_END}\n\nafter\n")
