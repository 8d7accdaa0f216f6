"""The README's keymap and configuration reference say what the code does: every action and
every setting is documented (a new one without a line in the README fails here)."""

from __future__ import annotations

import re
from pathlib import Path

from core.config import SETTINGS, TABLE_SETTINGS
from tui.keymap import ACTIONS, display

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


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


def test_every_setting_is_in_the_configuration_reference():
    reference = section("## Configuration")
    for setting in SETTINGS:
        table, _, key = setting.key.rpartition(".")
        if setting.key in TABLE_SETTINGS:  # a table of the photographer's own names
            assert f"[{setting.key}]" in reference, f"[{setting.key}] is not documented"
            continue
        if table:
            block = reference[reference.index(f"[{table}]") :]
            assert re.search(rf"^{key} = ", block, re.M), f"{setting.key} is not documented"
        else:
            assert re.search(rf"^{key} = ", reference, re.M), f"{setting.key} is not documented"
