"""The demo library opened in the app with a pinned clock and size, for the snapshot tests and
screenshots/make_screenshots.py: the same picture every run, on every machine."""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from core.config import Settings, load_settings
from core.demo import create_demo
from core.store import open_catalogue
from tui.app import ShootwatchApp
from tui.panes.triage import TriagePane
from tui.widgets.photo_view import PhotoView

SIZE = (160, 48)
PINNED = datetime(2025, 3, 8, 18, 30, tzinfo=UTC).timestamp()
# A fixed place: paths are on screen (the events pane shows the root), so they must not vary.
FOLDER = Path(tempfile.gettempdir()) / "shootwatch-snapshot-demo"
PANE_KEYS = {
    "triage": ["T"],
    "events": ["E"],
    "history": ["H"],
    "stages": ["S"],
    "progress": ["D"],
}


@functools.cache
def demo_settings() -> Settings:
    """The demo, built once per process, its times moved to the pinned clock."""
    os.environ["TZ"] = "UTC"
    time.tzset()
    _hold_the_folder()
    shutil.rmtree(FOLDER, ignore_errors=True)
    demo = create_demo(FOLDER)
    settings = load_settings(demo.config_file)
    with open_catalogue(settings.catalogue) as catalogue:
        pin_clock(catalogue.db, PINNED)
    return settings


_held: list = []


def _hold_the_folder() -> None:
    """The folder is this process's until it exits: another test run on the machine (another
    checkout, say) waits here rather than build the demo again under this one's feet."""
    lock = open(FOLDER.with_name(FOLDER.name + ".lock"), "a")  # noqa: SIM115 (held open)
    fcntl.flock(lock, fcntl.LOCK_EX)
    _held.append(lock)


def pin_clock(db, at: float) -> None:
    """Every time the panes show, as if the demo had been built at ``at``: events a second
    apart before it, scans of one second each."""
    with db.atomic():
        last = db.execute_sql("SELECT COALESCE(MAX(id), 0) FROM event").fetchone()[0]
        db.execute_sql("UPDATE event SET at = ? - (? - id)", (at, last))
        db.execute_sql(
            "UPDATE sync_run SET started_at = ? - 600 + id * 60, finished_at = ? - 599 + id * 60,"
            " duration = 1.0",
            (at, at),
        )
        db.execute_sql("UPDATE root SET added_at = ? - 3600, seen_at = ?", (at, at))


def demo_app() -> ShootwatchApp:
    settings = demo_settings()
    catalogue = open_catalogue(settings.catalogue)
    return ShootwatchApp(settings, catalogue, engine="off", clock=lambda: PINNED)


async def settle(pilot, app: ShootwatchApp) -> None:
    """Wait for the photo to be drawn, then clear notifications (they fade on a timer)."""
    pane = app.query_one(TriagePane)
    view = pane.query_one(PhotoView)
    for _ in range(500 if app.pane == "triage" else 0):
        await pilot.pause(0.02)
        frame = view.frame
        drawn = frame is not None and frame.strips
        if drawn and (frame.photo_id, frame.size) == (pane.photo_id, view.size):
            break
    app.clear_notifications()
    await pilot.pause()
