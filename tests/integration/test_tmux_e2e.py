"""End to end in a real tmux: `shootwatch demo` opens in a 160x48 session, keys are typed with
send-keys, the screen is read with capture-pane, and the decisions are read back from the
catalogue file. Killing the app mid-triage loses no decision the screen showed as made.

Skipped where tmux is not installed, unless SHOOTWATCH_REQUIRE_TMUX=1 (as in CI).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

TMUX = shutil.which("tmux")
REQUIRED = os.environ.get("SHOOTWATCH_REQUIRE_TMUX") == "1"
pytestmark = pytest.mark.skipif(
    TMUX is None and not REQUIRED, reason="tmux is not installed (CI installs it)"
)
POSITION = re.compile(r"(\d+) / (\d+) — (\d+) approved, (\d+) rejected")
REPO = Path(__file__).resolve().parents[2]


class Session:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], check=True, capture_output=True, text=True
        ).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "sw")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "sw", *keys)

    def wait_for(self, test, what: str, timeout: float = 90.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            found = test(screen)
            if found:
                return found
            time.sleep(0.1)
        raise AssertionError(f"the screen never showed {what}; it shows:\n{self.screen()}")

    def position(self, approved: int, rejected: int) -> re.Match:
        def shown(screen: str):
            match = POSITION.search(screen)
            if match and (int(match[3]), int(match[4])) == (approved, rejected):
                return match
            return None

        return self.wait_for(shown, f"{approved} approved, {rejected} rejected")


@pytest.fixture(params=["tmux-256color", "xterm-256color"])
def session(tmp_path: Path, request):
    """The app in tmux, with TERM as tmux sets it, and as an SSH session from an xterm has it."""
    if TMUX is None:
        pytest.fail("SHOOTWATCH_REQUIRE_TMUX=1 but tmux is not installed")
    socket = f"shootwatch-test-{os.getpid()}"
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "PYTHONPATH": str(REPO),
        "TERM": request.param,
    }
    config = tmp_path / "tmux.conf"
    # As a photographer's tmux.conf would have it: escape is not held back half a second.
    config.write_text('set -g default-terminal "tmux-256color"\nset -sg escape-time 10\n')
    command = f"{sys.executable} -m tui demo {tmp_path / 'demo'}"
    subprocess.run(
        [
            "tmux",
            "-L",
            socket,
            "-f",
            str(config),
            "new-session",
            "-d",
            "-s",
            "sw",
            "-x",
            "160",
            "-y",
            "48",
            *(part for key, value in env.items() for part in ("-e", f"{key}={value}")),
            command,
        ],
        check=True,
    )
    yield Session(socket)
    subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)


def decisions(catalogue: Path) -> dict[str, int]:
    connection = sqlite3.connect(f"file:{catalogue}?mode=ro", uri=True)
    try:
        return dict(connection.execute("SELECT decision, count(*) FROM photo GROUP BY decision"))
    finally:
        connection.close()


def test_triage_in_tmux_lands_in_the_catalogue_and_survives_a_kill(session, tmp_path):
    catalogue = tmp_path / "demo" / "catalogue.db"
    session.wait_for(POSITION.search, "the counters")
    # The two photos the demo's darktable sidecars reject are rejected from the start, and
    # the whole shoot's counters count them.
    rejected = decisions(catalogue).get("rejected", 0)
    assert rejected == 2
    first = session.position(0, rejected)
    total = int(first[2])
    shoot = int(re.search(r"pending of (\d+)", session.screen())[1])
    assert shoot >= 20, "the demo has every shipped photo in the catalogue"
    assert total == shoot - rejected, "and every one not rejected in the pending queue"
    assert "Triage" in session.screen() and "approve" in session.screen().lower()

    session.keys("a")
    session.position(1, rejected)
    session.keys("x")
    session.position(1, rejected + 1)
    session.keys("p")
    shown = session.position(2, rejected + 1)
    assert int(shown[1]) == 4, "auto-advance moved on after each decision"
    assert decisions(catalogue).get("approved") == 2
    assert decisions(catalogue).get("rejected") == rejected + 1

    # Undo, then the other panes, then back.
    session.keys("C-z")
    session.position(1, rejected + 1)
    assert decisions(catalogue).get("approved") == 1
    session.keys("E")
    session.wait_for(lambda s: "root_added" in s or "darktable" in s, "the live events pane")
    session.keys("D")
    session.wait_for(lambda s: "2024-10-05_mountains" in s, "the edit progress pane")
    session.keys("T")
    session.position(1, rejected + 1)

    # The information overlay opens with a key and closes with escape.
    session.keys("i")
    session.wait_for(lambda s: "exposure" in s, "the information overlay")
    session.keys("Escape")
    session.wait_for(lambda s: "exposure" not in s, "the overlay closed by escape")

    # Decide, and the moment the screen says so, kill the app without warning.
    session.keys("a")
    session.position(2, rejected + 1)
    pid = int(session.tmux("list-panes", "-t", "sw", "-F", "#{pane_pid}").strip())
    os.kill(pid, signal.SIGKILL)
    assert decisions(catalogue).get("approved") == 2
    assert decisions(catalogue).get("rejected") == rejected + 1
