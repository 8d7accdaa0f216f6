"""The app on a catalogue on a PostgreSQL server that restarts, or stops a while, under it (the
tests' private cluster, really stopped and started), with the engine hosted in the app or
running as another process (``shootwatch run``): the app says the connection dropped, then
that it is back, and its keys work again without a restart; a decision key pressed while the
server is down is refused on screen, shown as not made, and nothing of it is written; after
the server is back the same key works and the catalogue holds the decision once; undo takes
back a decision made before the outage; the live events pane follows the engine again."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.store.events import EventKind
from tests.faults.crashes import processes_outliving, processes_under
from tests.helpers import write
from tests.postgres_cluster import connect_directly
from tests.server_engines import Engines
from tests.tui.conftest import Library, build_library
from tests.tui.test_panes import SIZE, status_text, wait_until
from tui import app as app_module
from tui.app import ShootwatchApp
from tui.panes.events import EventsPane
from tui.panes.triage import TriagePane

pytestmark = pytest.mark.anyio

DROPPED = "The connection to the catalogue's server dropped"
BACK = "The catalogue's server is back"
AWAY_ON_STATUS = "catalogue's server cannot be reached"
REFUSED = "Not saved: the catalogue's server cannot be reached"
POLLS = 1200  # 0.1 s each: a bound for a hang, far above what any step takes


@pytest.fixture
def catalogue_backend() -> str:
    return "postgresql"


@pytest.fixture
def server_library(tmp_path, postgres_server, catalogue_location) -> Iterator[Library]:
    built = build_library(tmp_path, catalogue=catalogue_location)
    built.catalogue.close()  # the app opens its own
    try:
        yield built
    finally:
        if not postgres_server.is_running():  # a failed test leaves it as the next needs it
            postgres_server.start_server()


@pytest.fixture
def engines(tmp_path, catalogue_location, postgres_server) -> Iterator[Engines]:
    base = tmp_path / "engine-side"
    base.mkdir()
    started = Engines(base, catalogue_location)
    try:
        yield started
    finally:
        started.end()
    home = Path(os.environ["HOME"])
    # multiprocessing's helpers of this process (an engine hosted in the app started them)
    # live as long as it does; every other process must have ended.
    helpers = {pid for pid, line in processes_under(home).items()
               if f"parent {os.getpid()}," in line and "multiprocessing" in line}  # fmt: skip
    assert processes_outliving(home, keep=helpers) == {}


def photo_row(catalogue: str, photo_id: int) -> tuple[str, int]:
    """(the photo's decision, how many Decision rows it has), as another process sees them."""
    connection = connect_directly(catalogue)
    try:
        decision = connection.execute(
            "SELECT decision FROM photo WHERE id = %s", (photo_id,)
        ).fetchone()[0]
        logged = connection.execute(
            "SELECT count(*) FROM decision WHERE photo_id = %s", (photo_id,)
        ).fetchone()[0]
    finally:
        connection.close()
    return decision, logged


def position(pane: TriagePane) -> str:
    return str(pane.query_one("#position").content)


def record_notifications(app: ShootwatchApp) -> list[str]:
    """Every notification the app gives from now on, kept after it has gone from the screen."""
    told: list[str] = []
    notify = app.notify

    def recorded(message, *args, **kwargs):
        told.append(str(message))
        return notify(message, *args, **kwargs)

    app.notify = recorded
    return told


def said(told: list[str], words: str) -> int:
    return sum(words in message for message in told)


@pytest.mark.parametrize("pressed", ["before", "during", "after"])
@pytest.mark.parametrize(
    "away_seconds", [0.0, 1.0, 5.0], ids=["restart", "stopped 1 s", "stopped 5 s"]
)
@pytest.mark.parametrize("engine_at", ["in the app", "another process"])
async def test_the_app_through_a_server_restart_or_outage(
    server_library, engines, postgres_server, catalogue_location, monkeypatch, engine_at,
    away_seconds, pressed,
):  # fmt: skip
    # Events reach the pane only as the server announces them: the poll would come too late.
    monkeypatch.setattr(app_module, "EVENT_POLL_SECONDS", 3600.0)
    settings = server_library.settings
    if engine_at == "another process":
        engine = engines.start()
        engines.wait_watching(engine)
    from core.store import open_catalogue

    with open_catalogue(settings.catalogue) as catalogue:
        app = ShootwatchApp(settings, catalogue, engine="auto")
        told = record_notifications(app)
        async with app.run_test(size=SIZE) as pilot:
            pane = app.query_one(TriagePane)
            if engine_at == "another process":
                await wait_until(pilot, lambda: app.link.attached_pid == engine.pid, polls=POLLS)
            else:
                await wait_until(pilot, lambda: app.link.engine is not None, polls=POLLS)
            await wait_until(pilot, lambda: "● watcher" in status_text(app), polls=POLLS)
            await wait_until(pilot, lambda: pane.card is not None, polls=POLLS)
            photo_id = pane.photo_id
            assert pane.card.decision == "pending"

            if pressed == "before":
                await pilot.press("x")
                assert photo_row(catalogue_location, photo_id) == ("rejected", 1)
                await pilot.press("k")  # back on it (auto-advance moved on)
                assert pane.photo_id == photo_id

            await asyncio.to_thread(postgres_server.stop_server)
            await wait_until(pilot, lambda: said(told, DROPPED), polls=POLLS)
            await wait_until(pilot, lambda: AWAY_ON_STATUS in status_text(app), polls=POLLS)
            if pressed == "during":
                counted = position(pane)
                await pilot.press("x")
                await wait_until(pilot, lambda: said(told, REFUSED), polls=POLLS)
                assert pane.photo_id == photo_id  # not moved on: nothing was made
                assert pane.card.decision == "pending"
                assert position(pane) == counted  # the counters did not move
            await pilot.pause(away_seconds)
            await asyncio.to_thread(postgres_server.start_server)
            await wait_until(pilot, lambda: said(told, BACK), polls=POLLS)
            await wait_until(pilot, lambda: AWAY_ON_STATUS not in status_text(app), polls=POLLS)
            assert said(told, DROPPED) == said(told, BACK) == 1
            if pressed == "during":  # the refused decision was not kept for later
                assert photo_row(catalogue_location, photo_id) == ("pending", 0)

            if pressed in ("during", "after"):  # the same key, now that the server is back
                assert pane.photo_id == photo_id
                await pilot.press("x")
                assert photo_row(catalogue_location, photo_id) == ("rejected", 1)
                assert pane.photo_id != photo_id  # moved on, as after any decision

            # Undo across the outage: the decision comes back off, on screen and on disk.
            await pilot.press("ctrl+z")
            assert pane.photo_id == photo_id and pane.card.decision == "pending"
            assert photo_row(catalogue_location, photo_id) == ("pending", 2)

            # The live events pane follows the engine again (LISTEN again after the restart).
            events = app.query_one(EventsPane)
            before = events.kinds.get(EventKind.ADDED, 0)
            write(server_library.photos / "after" / "IMG_9000.JPG", "a file after the outage")
            await wait_until(
                pilot, lambda: events.kinds.get(EventKind.ADDED, 0) > before, polls=POLLS
            )
            await pilot.press("q")
