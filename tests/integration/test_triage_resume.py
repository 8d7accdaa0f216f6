"""Reconnecting to a cull in a real tmux: the app, a whole process, is ended as an SSH session
ends it (tmux kill-session) or killed outright (SIGKILL) mid-cull, opened again, and shows the
photo where the cull stopped with the whole shoot's counters, read from the catalogue alone.

Skipped where tmux is not installed, unless SHOOTWATCH_REQUIRE_TMUX=1 (as in CI).
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.test_tmux_e2e import REQUIRED, TMUX, Session
from tests.tui.conftest import build_library

pytestmark = pytest.mark.skipif(
    TMUX is None and not REQUIRED, reason="tmux is not installed (CI installs it)"
)
REPO = Path(__file__).resolve().parents[2]
COUNTERS = re.compile(r"(\d+) / (\d+) — (\d+) approved, (\d+) rejected, (\d+) pending of (\d+)")


def open_app(socket: str, tmp_path: Path) -> Session:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {"HOME": str(home), "PYTHONPATH": str(REPO), "TERM": "tmux-256color"}
    config = tmp_path / "tmux.conf"
    config.write_text('set -g default-terminal "tmux-256color"\nset -sg escape-time 10\n')
    command = f"{sys.executable} -m tui --config {tmp_path / 'shootwatch.toml'} --no-engine"
    subprocess.run(
        ["tmux", "-L", socket, "-f", str(config), "new-session", "-d", "-s", "sw",
         "-x", "160", "-y", "48",
         *(part for key, value in env.items() for part in ("-e", f"{key}={value}")),
         command],
        check=True,
    )  # fmt: skip
    return Session(socket)


def counters(session: Session, expected: tuple[int, ...]) -> str:
    def shown(screen: str):
        match = COUNTERS.search(screen)
        return screen if match and tuple(map(int, match.groups())) == expected else None

    return session.wait_for(shown, f"the counters {expected}")


def kept_photo(catalogue: Path) -> int | None:
    connection = sqlite3.connect(f"file:{catalogue}?mode=ro", uri=True)
    try:
        row = connection.execute(
            "SELECT json_extract(value, '$.photo_id') FROM meta WHERE key = 'app.triage_position'"
        ).fetchone()
        return row[0] if row else None
    finally:
        connection.close()


@pytest.mark.parametrize("end", ["kill-session", "SIGKILL"])
def test_a_cull_ended_with_its_session_resumes_where_it_stopped(tmp_path, end):
    if TMUX is None:
        pytest.fail("SHOOTWATCH_REQUIRE_TMUX=1 but tmux is not installed")
    library = build_library(tmp_path)
    catalogue = library.settings.catalogue
    (img_0005,) = library.catalogue.db.execute_sql(
        "SELECT photo_id FROM file WHERE role = 'original' AND rel_path LIKE '%/IMG_0005.JPG'"
    ).fetchone()
    library.catalogue.close()
    socket = f"shootwatch-resume-{os.getpid()}"
    try:
        session = open_app(socket, tmp_path)
        # darktable's sidecars rejected IMG_0009 and IMG_0010: 15 pending of the 17
        counters(session, (1, 15, 0, 2, 15, 17))
        session.keys("Space")  # IMG_0001 skipped
        counters(session, (2, 15, 0, 2, 15, 17))
        for key, expected in (("a", (3, 15, 1, 2, 14, 17)), ("a", (4, 15, 2, 2, 13, 17)),
                              ("x", (5, 15, 2, 3, 12, 17))):  # fmt: skip
            session.keys(key)
            counters(session, expected)
        assert "IMG_0005.JPG" in session.screen()
        deadline = time.monotonic() + 30
        while kept_photo(catalogue) != img_0005 and time.monotonic() < deadline:
            time.sleep(0.05)  # the photo on screen reaches the catalogue within a moment
        assert kept_photo(catalogue) == img_0005
        if end == "SIGKILL":
            pid = int(session.tmux("list-panes", "-t", "sw", "-F", "#{pane_pid}").strip())
            os.kill(pid, signal.SIGKILL)
        session.tmux("kill-session", "-t", "sw")

        session = open_app(socket, tmp_path)
        # The pending queue now: IMG_0001, IMG_0005 … IMG_0008, IMG_0011 and the street: 12,
        # IMG_0005 second.
        screen = counters(session, (2, 12, 2, 3, 12, 17))
        assert "IMG_0005.JPG" in screen
        session.keys("a")
        counters(session, (3, 12, 3, 3, 11, 17))
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)
