"""What each pane looks like, pinned as SVG snapshots (pytest-textual-snapshot): the demo
library, a fixed clock and size, half-blocks for the photo. After an intended change of a
pane: `pytest tests/tui/test_snapshots.py --snapshot-update`, look at the report, and run
screenshots/make_screenshots.py for the README and docs/app.md."""

from __future__ import annotations

import pytest

from tests.tui.demo_app import PANE_KEYS, SIZE, demo_app, settle


def before(*keys: str):
    async def run_before(pilot) -> None:
        await settle(pilot, pilot.app)
        if keys:
            await pilot.press(*keys)
        await settle(pilot, pilot.app)

    return run_before


@pytest.mark.parametrize("pane", list(PANE_KEYS))
def test_each_pane(snap_compare, pane):
    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=before(*PANE_KEYS[pane]))


def test_triage_with_the_information_overlay(snap_compare):
    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=before("i"))


def test_triage_at_80x24(snap_compare):
    assert snap_compare(demo_app(), terminal_size=(80, 24), run_before=before())


def test_help_screen(snap_compare):
    assert snap_compare(demo_app(), terminal_size=SIZE, run_before=before("question_mark"))
