"""A program in a real tmux on a private socket, as a photographer runs shootwatch over SSH:
keys typed with send-keys, the screen read with capture-pane, the bytes the program wrote to its
terminal counted through pipe-pane. Used by the key-repeat test and the triage benchmark."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

TMUX = shutil.which("tmux")
PHOTO_CELL = "▀"  # a half-block: every cell of a photo drawn in tmux is one
POSITION = re.compile(r"(\d[\d,]*) / (\d[\d,]*) — (\d[\d,]*) approved, (\d[\d,]*) rejected")
Found = TypeVar("Found")


class TmuxProgram:
    """One program in a detached tmux session of its own server (``-L``): closing the server
    ends the program and everything tmux started."""

    def __init__(
        self,
        command: str,
        workdir: Path,
        env: Mapping[str, str],
        size: tuple[int, int] = (160, 48),
        name: str = "sw",
        options: Sequence[str] = (),
    ) -> None:
        """``options``: more lines for the session's tmux.conf ("set -g allow-passthrough on")."""
        self.socket = f"shootwatch-{name}-{os.getpid()}-{time.monotonic_ns()}"
        self.target = name
        self.output = workdir / f"{name}.pty-bytes"
        config = workdir / f"{name}.tmux.conf"
        # As a photographer's tmux.conf would have it: escape is not held back half a second.
        lines = ['set -g default-terminal "tmux-256color"', "set -sg escape-time 10", *options]
        config.write_text("".join(f"{line}\n" for line in lines))
        settings = [part for key, value in env.items() for part in ("-e", f"{key}={value}")]
        self.tmux("-f", str(config), "new-session", "-d", "-s", name, "-x", str(size[0]),
                  "-y", str(size[1]), *settings, command)  # fmt: skip
        self.socket_path = Path(self.tmux("display-message", "-p", "#{socket_path}").strip())
        self.output.touch()
        # Everything the program writes to its terminal, appended to a file (-o: output only).
        self.tmux("pipe-pane", "-o", "-t", name, f"cat >> {self.output}")

    def tmux(self, *args: str) -> str:
        # os.environ given explicitly: under pytest the C library's environment holds LINES=24
        # and COLUMNS=80 (set by a plugin), which a server started with it hands every pane,
        # and the app in it then draws for 80x24 whatever the pane's size.
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], check=True, capture_output=True, text=True,
            env=dict(os.environ),
        ).stdout  # fmt: skip

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.target)

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.target, *keys)

    def bytes_written(self) -> int:
        return self.output.stat().st_size

    def wait_for(
        self, test: Callable[[str], Found | None], what: str, timeout: float, poll: float = 0.01
    ) -> Found:
        deadline = time.monotonic() + timeout
        while True:
            found = test(self.screen())
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"the screen never showed {what}; it shows:\n{self.screen()}")
            time.sleep(poll)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)
        self.socket_path.unlink(missing_ok=True)  # a killed server leaves its socket behind


def photo_shown(screen: str, position: int, minimum_cells: int = 400) -> bool:
    """The triage pane stands on photo ``position`` (1-based) and its photo is drawn: the
    pane blanks the photo area until the frame of the photo on screen is ready, and never
    shows another photo's frame, so half-blocks beside the new position are that photo."""
    match = POSITION.search(screen)
    if match is None or int(match[1].replace(",", "")) != position:
        return False
    return screen.count(PHOTO_CELL) >= minimum_cells


def app_env(home: Path, repo: Path) -> dict[str, str]:
    """The environment of an app started in tmux: its own home, this checkout first."""
    return {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "PYTHONPATH": str(repo),
        "TERM": "tmux-256color",
    }
