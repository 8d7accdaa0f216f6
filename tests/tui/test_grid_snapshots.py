"""What the contact-sheet grid and the filmstrip look like, pinned as SVG snapshots of the demo
library at three terminal sizes (half-blocks), as tests/tui/test_snapshots.py pins the panes.
After an intended change: `pytest tests/tui/test_grid_snapshots.py --snapshot-update`.

Each ends on the photo it started on: the app keeps its position in the demo catalogue, which
the other snapshot tests of the run open too."""

from __future__ import annotations

import pytest

from tests.tui.demo_app import demo_app, settle
from tui.panes.grid import Grid
from tui.panes.triage import TriagePane
from tui.widgets.filmstrip import Filmstrip

SIZES = [(80, 24), (160, 48), (240, 70)]


async def thumbnails_drawn(pilot, widget_class) -> None:
    pane = pilot.app.query_one(TriagePane)
    widget = pane.query_one(widget_class)
    picture = widget.layout.picture if widget_class is Grid else widget.picture
    for _ in range(1500):
        shown = widget.visible()
        if shown and all(pane.thumbnails.get(pid, picture) for pid in shown):
            break
        await pilot.pause(0.02)
    await pilot.pause(0.1)


def before(widget_class, *keys: str):
    async def run_before(pilot) -> None:
        await settle(pilot, pilot.app)
        await pilot.press(*keys)
        await thumbnails_drawn(pilot, widget_class)
        await settle(pilot, pilot.app)

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
def test_grid(snap_compare, size):
    assert snap_compare(demo_app(), terminal_size=size, run_before=before(Grid, "t"))


def test_grid_with_a_selection(snap_compare):
    keys = ("t", "space", "right", "space", "right", "space", "left", "left")
    assert snap_compare(demo_app(), terminal_size=(160, 48), run_before=before(Grid, *keys))


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
def test_filmstrip(snap_compare, size):
    assert snap_compare(demo_app(), terminal_size=size, run_before=before(Filmstrip, "s"))
