"""The app on a catalogue on a PostgreSQL server, attached to an engine that runs in another
process (``shootwatch run``): it says which engine it attached to, shows the engine's health,
and gets the engine's events as the server announces them (LISTEN/NOTIFY), not by polling."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import load_settings
from core.store import open_catalogue
from core.store.events import EventKind
from tests.faults.crashes import processes_outliving
from tests.helpers import write
from tests.server_engines import OTHER_MACHINE, Engines
from tests.tui.test_panes import SIZE, cells, status_text, wait_until
from tui import app as app_module
from tui.app import ShootwatchApp
from tui.panes.events import EventsPane
from tui.widgets.windowed_table import WindowedTable

pytestmark = pytest.mark.anyio


@pytest.fixture
def catalogue_backend() -> str:
    return "postgresql"


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """The engine's root: an empty folder (not the app tests' catalogued library)."""
    path = tmp_path / "library"
    path.mkdir()
    return path


@pytest.fixture
def engines(tmp_path, postgres_server, catalogue_location) -> Iterator[Engines]:
    started = Engines(tmp_path, catalogue_location)
    try:
        yield started
    finally:
        started.end()
    assert processes_outliving(Path(os.environ["HOME"])) == {}


@pytest.mark.parametrize("engine_on", [None, OTHER_MACHINE], ids=["here", "another machine"])
@pytest.mark.parametrize("files", [1, 40])
async def test_an_app_attached_from_another_process_gets_the_engines_events_through_notify(
    engines, library, monkeypatch, engine_on, files
):
    # The app's poll would come after the test has long ended: what arrives was announced.
    monkeypatch.setattr(app_module, "EVENT_POLL_SECONDS", 3600.0)
    assert engines.command("add", str(library)).returncode == 0
    engine = engines.start(engine_on)
    engines.wait_watching(engine)
    settings = load_settings(engines.config, {"catalogue": engines.catalogue})
    with open_catalogue(settings.catalogue) as catalogue:
        app = ShootwatchApp(settings, catalogue, engine="auto")
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.link.attached_pid == engine.pid, polls=300)
            assert app.link.engine is None  # attached: no second engine here
            await wait_until(pilot, lambda: "attached" in status_text(app), polls=100)
            assert "● watcher" in status_text(app)  # the engine's health, from its heartbeats
            await pilot.press("E")
            pane = app.query_one(EventsPane)
            for n in range(files):
                write(library / "2024-06-01" / f"IMG_{n:04d}.JPG", f"photo {n}")

            def added() -> int:
                """every file's event in the live events pane"""
                return pane.kinds.get(EventKind.ADDED, 0)

            await wait_until(pilot, lambda: added() >= files, polls=600)
            await pilot.pause(0.5)  # anything more (a second copy) would be here by now
            assert added() == files
            newest = cells(app.query_one("#events-table", WindowedTable), 0)  # newest first
            assert newest[1] == "added" and "2024-06-01" in newest[2], newest
            await pilot.press("q")
