"""What `shootwatch demo` says to run to open the demo again: a command that works from where
shootwatch is installed (a virtual environment not on PATH, or on it)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from tui import launch


def _script(folder: Path) -> Path:
    script = folder / "shootwatch"
    folder.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_a_shootwatch_not_on_path_is_named_by_its_path(tmp_path, monkeypatch):
    script = _script(tmp_path / "venv with space" / "bin")
    monkeypatch.setattr(sys, "argv", [str(script), "demo"])
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert launch._this_command() == f"'{script}'"


def test_the_shootwatch_on_path_is_named_by_its_name(tmp_path, monkeypatch):
    script = _script(tmp_path / "bin")
    monkeypatch.setattr(sys, "argv", [str(script), "demo"])
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}/usr/bin")
    assert launch._this_command() == "shootwatch"
