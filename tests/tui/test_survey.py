"""Survey, pressed in the real app on a real catalogue: a burst's frames in a grid as large as
the terminal allows, the focus moved with arrows, decisions on the focused frame, the focused
frame opened in triage, kept while the rest is rejected (one undo takes it back)."""

from __future__ import annotations

import pytest

from tests.tui.burst_helpers import (
    decisions,
    demo_before,
    demo_burst,
    make_app,
    make_burst,
    stand_on,
    tiles_drawn,
)
from tests.tui.demo_app import demo_app
from tui.panes.survey import MIN_TILE, SurveyScreen, survey_grid
from tui.widgets.tile import PhotoTile

pytestmark = pytest.mark.anyio
SIZE = (160, 48)
BURST = [f"IMG_{n:04d}.JPG" for n in range(1, 12)]  # eleven frames


@pytest.mark.parametrize(
    ("width", "height", "frames", "expected"),
    [
        (80, 22, 9, (3, 2, 6)),  # 80x24 less the head and footer: fewer than nine
        (80, 22, 4, (2, 2, 4)),
        (80, 22, 2, (2, 1, 2)),
        (160, 46, 9, (3, 3, 9)),
        (160, 46, 11, (3, 3, 9)),  # never more than nine
        (160, 46, 5, (3, 2, 5)),
        (200, 58, 9, (3, 3, 9)),
        (240, 68, 9, (3, 3, 9)),
        (240, 68, 1, (1, 1, 1)),
        (40, 12, 9, (1, 1, 1)),
        (10, 4, 3, (1, 1, 1)),  # smaller than any tile: one frame all the same
    ],
)
def test_the_grid_holds_as_many_frames_as_fit_up_to_nine(width, height, frames, expected):
    grid = survey_grid(width, height, frames)
    assert (grid.columns, grid.rows, grid.count) == expected
    assert grid.columns * grid.tile_width <= width and grid.rows * grid.tile_height <= height
    if grid.count > 1:
        assert grid.tile_width >= MIN_TILE[0] and grid.tile_height >= MIN_TILE[1]


def tiles(screen: SurveyScreen) -> list[int | None]:
    return [tile.photo_id for tile in screen.query(PhotoTile)]


def focused(screen: SurveyScreen) -> list[int | None]:
    return [tile.photo_id for tile in screen.query(PhotoTile) if tile.has_class("-focused")]


async def open_survey(pilot, on: int) -> SurveyScreen:
    await stand_on(pilot, on)
    await pilot.press("v")
    screen = await tiles_drawn(pilot)
    assert isinstance(screen, SurveyScreen)
    return screen


@pytest.mark.parametrize(("size", "shown"), [((80, 24), 6), ((160, 48), 9), ((240, 70), 9)])
async def test_survey_shows_as_many_frames_as_the_terminal_allows(library, size, shown):
    ids = make_burst(library, BURST)
    async with make_app(library).run_test(size=size) as pilot:
        screen = await open_survey(pilot, ids[0])
        assert tiles(screen) == ids[:shown]
        assert focused(screen) == [ids[0]]
        assert "burst of 11" in str(screen.query_one("#head").render())


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (["right"], 1),
        (["l", "l"], 2),
        (["down"], 3),
        (["j", "right"], 4),
        (["down", "up"], 0),
        (["left"], 0),  # at the first frame: stays
        (["k"], 0),
        (["down", "down", "down", "down"], 10),  # the last row: to the last frame
    ],
)
async def test_arrows_move_the_focus_through_the_grid(library, keys, expected):
    ids = make_burst(library, BURST)
    async with make_app(library).run_test(size=SIZE) as pilot:
        screen = await open_survey(pilot, ids[0])
        await pilot.press(*keys)
        await tiles_drawn(pilot)
        assert screen.current == ids[expected]
        assert focused(screen) == [ids[expected]]
        assert ids[expected] in tiles(screen)


async def test_a_longer_burst_scrolls_with_the_focus(library):
    ids = make_burst(library, BURST)
    async with make_app(library).run_test(size=SIZE) as pilot:
        screen = await open_survey(pilot, ids[0])
        await pilot.press("down", "down", "down")  # the tenth frame: one row further
        await tiles_drawn(pilot)
        assert tiles(screen) == ids[2:11]
        assert "frames 3-11" in str(screen.query_one("#head").render())


async def test_a_and_x_decide_about_the_focused_frame(library):
    ids = make_burst(library, BURST[:4])
    async with make_app(library).run_test(size=SIZE) as pilot:
        screen = await open_survey(pilot, ids[0])
        await pilot.press("right", "a", "right", "x")
        await pilot.pause()
        assert decisions(library, ids) == ["pending", "approved", "rejected", "pending"]
        captions = [str(tile.query_one(".caption").render()) for tile in screen.query(PhotoTile)]
        assert "approved" in captions[1] and "rejected" in captions[2]


async def test_enter_opens_the_focused_frame_in_triage(library):
    ids = make_burst(library, BURST[:4])
    async with make_app(library).run_test(size=SIZE) as pilot:
        await open_survey(pilot, ids[0])
        await pilot.press("right", "right", "enter")
        await pilot.pause()
        assert not isinstance(pilot.app.screen, SurveyScreen)
        assert pilot.app.query_one("#triage").photo_id == ids[2]


async def test_escape_goes_back_to_the_photo_it_came_from(library):
    ids = make_burst(library, BURST[:4])
    async with make_app(library).run_test(size=SIZE) as pilot:
        await open_survey(pilot, ids[1])
        await pilot.press("right", "escape")
        await pilot.pause()
        assert not isinstance(pilot.app.screen, SurveyScreen)
        assert pilot.app.query_one("#triage").photo_id == ids[1]


async def test_k_keeps_the_focused_frame_and_one_undo_takes_the_whole_batch_back(library):
    ids = make_burst(library, BURST[:6])
    async with make_app(library).run_test(size=SIZE) as pilot:
        await open_survey(pilot, ids[0])
        await pilot.press("right", "down", "K")  # the fifth frame
        await pilot.pause()
        kept = ["rejected"] * 4 + ["approved", "rejected"]
        assert decisions(library, ids) == kept
        await pilot.press("v")
        await pilot.pause()
        await pilot.press("ctrl+z")
        await pilot.pause()
        assert decisions(library, ids) == ["pending"] * 6


@pytest.mark.parametrize("size", [(80, 24), (160, 48), (240, 70)])
def test_survey_snapshot(snap_compare, size):
    with demo_burst() as ids:
        assert snap_compare(demo_app(), terminal_size=size,
                            run_before=demo_before(ids[1], "v", "right"))  # fmt: skip


async def test_survey_opened_again_on_another_burst_shows_that_burst(library):
    first = make_burst(library, BURST[:4])
    second = make_burst(library, ["DSC_0101.JPG", "DSC_0102.JPG", "DSC_0103.JPG"])
    async with make_app(library).run_test(size=SIZE) as pilot:
        screen = await open_survey(pilot, first[2])
        assert tiles(screen) == first and focused(screen) == [first[2]]
        await pilot.press("v")
        again = await open_survey(pilot, second[1])
        assert again is screen  # kept: its tiles laid out, its frames drawn
        assert tiles(again) == second and focused(again) == [second[1]]
        assert "burst of 3" in str(again.query_one("#head").render())


async def test_a_still_photo_of_a_burst_has_its_survey_drawn_before_it_is_opened(library):
    ids = make_burst(library, BURST[:5])
    async with make_app(library).run_test(size=SIZE) as pilot:
        pane = await stand_on(pilot, ids[1])
        view = None
        for _ in range(1500):  # the pane looks a few times a second; the machine may be slow
            await pilot.pause(0.02)
            view = pane._burst_views.get(SurveyScreen)
            if view is not None:
                wanted, size = view.first_frames(ids, ids[1], pilot.app.size)
                if all(view.frames.get(photo, size, None) for photo in wanted):
                    break
        else:
            raise AssertionError("the survey's frames were never drawn ahead")
        assert sorted(wanted) == sorted(ids)
        await pilot.press("v")
        await pilot.pause()
        tiles_now = list(pilot.app.screen.query(PhotoTile))
        assert [tile.photo_id for tile in tiles_now] == ids
        assert all(tile.drawn for tile in tiles_now)  # at once: nothing left to draw
