"""Compare, pressed in the real app on a real catalogue: the pick and a candidate of a burst
side by side, the candidate moved, promoted, rejected; the pick kept and the rest of the burst
rejected in one batch, taken back by one undo. What the keys do is read back from disk."""

from __future__ import annotations

import pytest

from tests.tui.burst_helpers import (
    decisions,
    demo_before,
    demo_burst,
    make_app,
    make_burst,
    photo_id,
    set_sharpness,
    stand_on,
    tiles_drawn,
)
from tests.tui.conftest import Library
from tests.tui.demo_app import demo_app
from tui.app import ShootwatchApp
from tui.panes.compare import CompareScreen
from tui.widgets.photo_view import PhotoView
from tui.widgets.tile import PhotoTile

pytestmark = pytest.mark.anyio
SIZE = (120, 36)
BURST = [f"IMG_000{n}.JPG" for n in range(1, 6)]


def shown(screen: CompareScreen) -> tuple[int | None, int | None]:
    return (screen.query_one("#pick", PhotoTile).photo_id,
            screen.query_one("#candidate", PhotoTile).photo_id)  # fmt: skip


async def open_compare(pilot, library: Library, on: int) -> CompareScreen:
    await stand_on(pilot, on)
    await pilot.press("c")
    screen = await tiles_drawn(pilot)
    assert isinstance(screen, CompareScreen)
    return screen


async def test_compare_shows_the_photo_as_pick_and_the_next_frame_as_candidate(library):
    ids = make_burst(library, BURST)
    async with make_app(library).run_test(size=SIZE) as pilot:
        screen = await open_compare(pilot, library, ids[1])
        assert shown(screen) == (ids[1], ids[2])
        caption = str(screen.query_one("#candidate PhotoTile .caption, #candidate .caption")
                      .render())  # fmt: skip
        assert "IMG_0003.JPG" in caption
        head = str(screen.query_one("#head").render())
        assert "burst of 5" in head and "candidate 2 / 4" in head


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (["right"], 3),
        (["l"], 3),
        (["right", "right"], 4),
        (["right", "right", "right"], 0),  # round the burst, passing over the pick (1)
        (["left"], 0),
        (["h", "h"], 4),
        (["right", "left"], 2),
    ],
)
async def test_left_and_right_move_the_candidate_round_the_burst(library, keys, expected):
    ids = make_burst(library, BURST)
    async with make_app(library).run_test(size=SIZE) as pilot:
        screen = await open_compare(pilot, library, ids[1])
        await pilot.press(*keys)
        await tiles_drawn(pilot)
        assert shown(screen) == (ids[1], ids[expected])
        assert decisions(library, ids) == ["pending"] * 5  # moving decides nothing


async def test_enter_promotes_the_candidate_and_triage_stands_on_the_new_pick(library):
    ids = make_burst(library, BURST)
    async with make_app(library).run_test(size=SIZE) as pilot:
        screen = await open_compare(pilot, library, ids[0])
        await pilot.press("right", "enter")  # the third frame becomes the pick
        await tiles_drawn(pilot)
        assert shown(screen) == (ids[2], ids[3])
        assert decisions(library, ids) == ["pending"] * 5
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(pilot.app.screen, CompareScreen)
        assert pilot.app.query_one("#triage").photo_id == ids[2]


async def test_x_rejects_the_candidate_and_shows_the_next(library):
    ids = make_burst(library, BURST)
    async with make_app(library).run_test(size=SIZE) as pilot:
        screen = await open_compare(pilot, library, ids[0])
        await pilot.press("x")
        await tiles_drawn(pilot)
        assert decisions(library, ids) == ["pending", "rejected", "pending", "pending", "pending"]
        assert shown(screen) == (ids[0], ids[2])
        caption = str(screen.query_one("#candidate .caption").render())
        assert "pending" in caption
        await pilot.press("left")
        await tiles_drawn(pilot)
        assert "rejected" in str(screen.query_one("#candidate .caption").render())


async def test_k_keeps_the_pick_rejects_the_rest_and_one_undo_takes_it_all_back(library):
    ids = make_burst(library, BURST)
    async with make_app(library).run_test(size=SIZE) as pilot:
        await open_compare(pilot, library, ids[0])
        await pilot.press("right", "enter")  # the pick is now the third frame
        await pilot.press("K")
        await tiles_drawn(pilot)
        assert decisions(library, ids) == ["rejected", "rejected", "approved", "rejected",
                                           "rejected"]  # fmt: skip
        await pilot.press("c")  # back to triage
        await pilot.pause()
        pane = pilot.app.query_one("#triage")
        assert pane.photo_id == ids[2]
        position = str(pane.query_one("#position").render())
        assert "1 approved" in position
        await pilot.press("ctrl+z")
        await pilot.pause()
        assert decisions(library, ids) == ["pending"] * 5
        await pilot.press("ctrl+y")
        await pilot.pause()
        assert decisions(library, ids) == ["rejected", "rejected", "approved", "rejected",
                                           "rejected"]  # fmt: skip


async def test_a_photo_of_no_burst_is_compared_with_the_next_photo_of_the_queue(library):
    first, second = photo_id(library, "DSC_0101.JPG"), photo_id(library, "DSC_0102.JPG")
    async with make_app(library).run_test(size=SIZE) as pilot:
        screen = await open_compare(pilot, library, first)
        assert shown(screen) == (first, second)
        assert "no burst" in str(screen.query_one("#head").render())
        await pilot.press("right")  # one other photo: the candidate stays
        await tiles_drawn(pilot)
        assert shown(screen) == (first, second)


async def test_each_frame_says_its_sharpness_rank_in_the_burst(library):
    ids = make_burst(library, BURST)
    set_sharpness(library, {"IMG_0001.JPG": 40.0, "IMG_0002.JPG": 120.0, "IMG_0003.JPG": 80.0,
                            "IMG_0004.JPG": None, "IMG_0005.JPG": None})  # fmt: skip
    async with make_app(library).run_test(size=SIZE) as pilot:
        screen = await open_compare(pilot, library, ids[0])
        pick = str(screen.query_one("#pick .caption").render())
        candidate = str(screen.query_one("#candidate .caption").render())
        assert "3rd sharpest of 5" in pick  # ranked among the burst's five frames
        assert "sharpest of 5" in candidate and "2nd" not in candidate
        await pilot.press("right", "right", "right")  # IMG_0005: not measured (yet)
        await tiles_drawn(pilot)
        assert "not measured" in str(screen.query_one("#candidate .caption").render())


def frame_zooms(screen: CompareScreen) -> list[object]:
    """The zoom (loupe place, or None for the whole photo) each tile's frame was drawn at."""
    return [tile.query_one(PhotoView).frame.zoom for tile in screen.query(PhotoTile)]


async def test_z_zooms_both_frames_at_one_place_and_the_candidate_keeps_it(library):
    ids = make_burst(library, BURST)
    async with make_app(library).run_test(size=SIZE) as pilot:
        screen = await open_compare(pilot, library, ids[0])
        assert frame_zooms(screen) == [None, None]
        await pilot.press("z")
        await tiles_drawn(pilot)
        place = screen.loupe
        assert place.zoom == 1.0
        assert frame_zooms(screen) == [place, place]  # both drawn through the one loupe
        assert "loupe 100 %" in str(screen.query_one("#head").render())
        await pilot.press("right")  # the arrow moves the candidate, the loupe stays
        await tiles_drawn(pilot)
        assert shown(screen) == (ids[0], ids[2])
        assert screen.loupe == place and frame_zooms(screen) == [place, place]
        await pilot.press("enter")  # a new pick: the same place on it
        await tiles_drawn(pilot)
        assert shown(screen) == (ids[2], ids[3]) and frame_zooms(screen) == [place, place]


@pytest.mark.parametrize(
    ("key", "moves"),
    [("l", (1, 0)), ("h", (-1, 0)), ("j", (0, 1)), ("k", (0, -1)), ("L", (1, 0))],
)
async def test_hjkl_pan_both_frames_together_while_zoomed(library, key, moves):
    ids = make_burst(library, BURST)
    async with make_app(library).run_test(size=SIZE) as pilot:
        screen = await open_compare(pilot, library, ids[0])
        await pilot.press("plus", "plus", "plus")  # 200 %: room to pan every way
        await tiles_drawn(pilot)
        before = screen.loupe
        assert before.zoom == 2.0
        await pilot.press(key)
        await tiles_drawn(pilot)
        after = screen.loupe
        assert shown(screen) == (ids[0], ids[1])  # panning is not a candidate move
        dx, dy = after.x - before.x, after.y - before.y
        assert (dx > 0) - (dx < 0) == moves[0] and (dy > 0) - (dy < 0) == moves[1]
        assert frame_zooms(screen) == [after, after]


async def test_out_of_the_loupe_h_and_l_move_the_candidate(library):
    ids = make_burst(library, BURST)
    async with make_app(library).run_test(size=SIZE) as pilot:
        screen = await open_compare(pilot, library, ids[0])
        await pilot.press("plus", "minus")  # 50 %, then back to fit
        await tiles_drawn(pilot)
        assert not screen.loupe.zoomed
        await pilot.press("l", "l", "h")
        await tiles_drawn(pilot)
        assert shown(screen) == (ids[0], ids[2])
        assert frame_zooms(screen) == [None, None]


async def test_compare_opens_at_the_place_of_the_triage_loupe(library):
    ids = make_burst(library, BURST)
    async with make_app(library).run_test(size=SIZE) as pilot:
        pane = await stand_on(pilot, ids[0])
        await pilot.press("z", "l")  # the loupe in triage, panned
        place = pane.loupe
        assert place.zoomed
        await pilot.press("c")
        screen = await tiles_drawn(pilot)
        assert screen.loupe == place and frame_zooms(screen) == [place, place]


async def test_a_graphics_renderer_gets_both_pictures_also_through_the_loupe(library):
    from tui.graphics import Graphics

    ids = make_burst(library, BURST)
    app = ShootwatchApp(library.settings, library.catalogue, engine="off",
                        graphics=Graphics("kitty", False, (10, 20)))  # fmt: skip
    async with app.run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one("#triage")
        pane.load_queue("all", ids[0])
        await pilot.press("c")
        screen = await tiles_drawn(pilot)
        for zoom in (None, "z"):
            if zoom:
                await pilot.press(zoom)
                await tiles_drawn(pilot)
            for tile in screen.query(PhotoTile):
                frame = tile.query_one(PhotoView).frame
                assert frame.picture is not None and frame.encoded is not None
                assert not frame.strips
                assert frame.zoom == (screen.loupe if zoom else None)
            if zoom:  # the terminal's own pixels: ten by twenty per cell, the view's worth
                cells = frame.size
                assert frame.picture.size == (cells.width * 10, cells.height * 20)


@pytest.mark.parametrize("size", [(80, 24), (160, 48), (240, 70)])
def test_compare_snapshot(snap_compare, size):
    with demo_burst() as ids:
        assert snap_compare(demo_app(), terminal_size=size, run_before=demo_before(ids[1], "c"))


def test_compare_through_the_loupe_snapshot(snap_compare):
    with demo_burst() as ids:
        assert snap_compare(demo_app(), terminal_size=(160, 48),
                            run_before=demo_before(ids[1], "c", "z"))  # fmt: skip
