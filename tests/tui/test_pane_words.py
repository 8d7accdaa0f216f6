"""What a newcomer reads on the panes: every live event says what happened (and to what value),
the sync history's headers name the cells under them, and the footer says how to go on, get
help and quit, at 80 columns too. The real app on a real catalogue; text read off the screen."""

from __future__ import annotations

import time

import pytest
from rich.text import Text

from core.config import Settings, load_settings
from core.demo import create_demo
from core.store import open_catalogue
from core.store.events import Event, EventKind
from core.store.models import Root, SyncRun
from tests.tui.conftest import Library
from tests.tui.demo_app import settle
from tui.app import ShootwatchApp
from tui.panes.events import EventsPane
from tui.panes.triage import TriagePane
from tui.widgets.windowed_table import WindowedTable

pytestmark = pytest.mark.anyio
COMPONENTS = ("watcher", "reconciler", "media", "darktable", "stages", "ingest")


def make_app(library: Library) -> ShootwatchApp:
    return ShootwatchApp(library.settings, library.catalogue, engine="off")


def cells(table: WindowedTable, index: int) -> list[str]:
    row = table.row_at(index)
    assert row is not None, f"no row {index}"
    return [cell.plain if isinstance(cell, Text) else str(cell) for cell in row]


def screen_lines(app: ShootwatchApp) -> list[str]:
    """The screen as text, one string a line, as the terminal shows it."""
    strips = app.screen._compositor.render_strips()
    return ["".join(segment.text for segment in strip) for strip in strips]


def event(number: int, kind: EventKind, source: str, path=None, payload=None) -> Event:
    return Event(number, time.time() - 60 + number * 0.01, kind, source, None, path, None, payload)


async def test_live_events_say_what_happened_and_to_what(library: Library):
    start = [
        event(n, EventKind.COMPONENT_STATE, "engine", None,
              {"component": name, "status": "running", "was": "off"})
        for n, name in enumerate(COMPONENTS)
    ]  # fmt: skip
    later = [
        event(10, EventKind.STAGE_QUEUED, "stage", None, {"stage": "thumb", "jobs": 3}),
        event(11, EventKind.RATED, "darktable", "2024/a.NEF", {"stars": 3, "was": 1}),
        event(12, EventKind.REJECTED, "darktable", "2024/b.NEF", {"rejected": True, "was": False}),
        event(13, EventKind.LABELLED, "darktable", "2024/c.NEF",
              {"labels": ["red", "green"], "was": ["red"]}),
        event(14, EventKind.TAGGED, "darktable", "2024/d.NEF",
              {"tags": ["bride", "church"], "added": ["church"], "removed": ["rings"]}),
        event(15, EventKind.MOVED, "reconcile", "2024/e.NEF", {"from": "inbox/e.NEF"}),
    ]  # fmt: skip
    async with make_app(library).run_test(size=(160, 40)) as pilot:
        pane = pilot.app.query_one(EventsPane)
        pane.add_events(start + later)
        await pilot.press("E")
        table = pane.query_one(WindowedTable)
        rows = [cells(table, n) for n in range(7)]
        whats = {row[1]: row[2] for row in rows}
        assert whats["component_state"] == f"{', '.join(COMPONENTS)}: off → running"
        assert "in the root" not in whats["component_state"]
        assert whats["stage_queued"] == "3 thumb jobs queued"
        assert whats["rated"] == "2024/a.NEF: 3 stars (was 1)"
        assert whats["rejected"] == "2024/b.NEF: rejected"
        assert whats["labelled"] == "2024/c.NEF: red, green (was red)"
        assert whats["tagged"] == "2024/d.NEF: +church −rings"
        assert whats["moved"] == "2024/e.NEF: from inbox/e.NEF"
        await pilot.pause()
        shown = "\n".join(screen_lines(pilot.app))
        assert "3 thumb jobs queued" in shown and "2024/a.NEF: 3 stars (was 1)" in shown


async def test_a_burst_of_stage_events_and_of_ratings_still_says_what(library: Library):
    burst = [
        event(n, EventKind.STAGE_QUEUED, "stage", None, {"stage": "web", "jobs": 2})
        for n in range(3)
    ] + [
        event(10 + n, EventKind.RATED, "darktable", f"2024/{n}.NEF", {"stars": 2, "was": 0})
        for n in range(4)
    ]  # fmt: skip
    async with make_app(library).run_test(size=(160, 40)) as pilot:
        pane = pilot.app.query_one(EventsPane)
        pane.add_events(burst)
        table = pane.query_one(WindowedTable)
        whats = {cells(table, n)[1]: cells(table, n)[2] for n in range(2)}
        assert whats["stage_queued"] == "6 web jobs queued"
        assert whats["rated"] == "4 rated in 2024: 2 stars (was 0)"


# --- sync history ----------------------------------------------------------------------------


@pytest.mark.parametrize("width", [120, 160, 200])
async def test_sync_history_headers_name_the_cells_under_them(library: Library, width):
    now = time.time()
    SyncRun.create(kind="scheduled", root=Root.get(), status="completed", started_at=now,
                   finished_at=now + 2, duration=2.0, files_scanned=20_000, files_added=12_345,
                   files_updated=678, files_moved=9, files_removed=1_234)  # fmt: skip
    async with make_app(library).run_test(size=(width, 30)) as pilot:
        await pilot.press("H")
        await pilot.pause()
        table = pilot.app.query_one("#history-table", WindowedTable)
        header = table.render_line(0).text
        row = table.render_line(1).text
        for title, value in (("added", "12,345"), ("updated", "678"), ("moved", "9"),
                             ("removed", "1,234"), ("scanned", "20,000")):  # fmt: skip
            assert f" {title}" in header, f"{title!r} is cut from the header: {header!r}"
            # Right-aligned under its title: the value ends where the title ends.
            end = header.index(f" {title}") + 1 + len(title)
            assert row[:end].endswith(value), (title, header, row)


# --- the footer ------------------------------------------------------------------------------


async def footer_line(pilot) -> str:
    """The footer once drawn (it is laid out again after each change of pane or width)."""
    for _ in range(50):
        await pilot.pause(0.1)
        line = screen_lines(pilot.app)[-1]
        if "q quit" in line:
            return line
    return line


@pytest.mark.parametrize("width", [80, 100, 160])
@pytest.mark.parametrize("pane", ["T", "E", "H", "S", "D"])
async def test_the_footer_always_says_how_to_get_help_and_quit(library: Library, width, pane):
    async with make_app(library).run_test(size=(width, 24)) as pilot:
        await pilot.press(pane)
        footer = await footer_line(pilot)
        assert "? help" in footer and "q quit" in footer, footer


@pytest.mark.parametrize("width", [80, 160])
async def test_the_triage_footer_says_how_to_go_to_the_next_photo(library: Library, width):
    async with make_app(library).run_test(size=(width, 24)) as pilot:
        footer = await footer_line(pilot)
        for words in ("␣ next", "a approve", "x reject", "^z undo"):
            assert words in footer, (words, footer)


# --- the facts line --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Settings:
    """The demo library, in a folder of this module's own."""
    return load_settings(create_demo(tmp_path_factory.mktemp("demo") / "demo").config_file)


@pytest.mark.parametrize("width", [100, 120, 160])
async def test_the_facts_line_keeps_the_darktable_state_at_any_width(demo: Settings, width):
    """The demo's first photo has a long line of facts; what darktable knows of it (here: not
    imported) comes before the exposure, so it is not what the width cuts."""
    catalogue = open_catalogue(demo.catalogue)
    try:
        app = ShootwatchApp(demo, catalogue, engine="off")
        async with app.run_test(size=(width, 30)) as pilot:
            await settle(pilot, app)
            card = app.query_one(TriagePane).card
            assert card is not None and card.darktable
            name = card.path.rsplit("/", 1)[-1]
            line = next(line for line in screen_lines(app) if name in line)
            assert card.darktable in line, line
    finally:
        catalogue.close()
