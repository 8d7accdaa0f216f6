"""The contact-sheet grid, its selection and the filmstrip, driven in the real app on a real
catalogue: where the focus goes, what is selected, what a decision on a selection puts on disk
and how one undo takes all of it back, and the filmstrip following the photo on screen."""

from __future__ import annotations

import pytest

from tests.tui.conftest import Library
from tui.app import ShootwatchApp
from tui.panes.grid import Grid, layout_for
from tui.panes.triage import TriagePane
from tui.widgets.filmstrip import Filmstrip
from tui.widgets.photo_view import PhotoView
from tui.widgets.thumbnails import WAITING_MARK

pytestmark = pytest.mark.anyio
SMALL = (80, 24)  # 3 tiles across, 2 rows: 6 a page, the 15 photos of the queue on 3 pages


def make_app(library: Library) -> ShootwatchApp:
    return ShootwatchApp(library.settings, library.catalogue, engine="off")


async def wait_until(pilot, test, what: str) -> None:
    """Up to a generous deadline, as the machine may be loaded (the time is not asserted)."""
    for _ in range(1500):
        if test():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"never: {what}")


async def open_grid(pilot) -> tuple[TriagePane, Grid]:
    pane = pilot.app.query_one(TriagePane)
    await wait_until(pilot, lambda: pane.queue is not None, "a queue")
    await pilot.press("t")
    grid = pane.query_one(Grid)
    await wait_until(pilot, lambda: grid.display and grid.size.width > 0, "the grid shown")
    await wait_until(pilot, grid.all_drawn, "every tile on screen drawn")
    return pane, grid


def screen_text(widget) -> str:
    return "\n".join(strip.text for strip in widget.render_lines(widget.region.reset_offset))


def strip_drawn(strip: Filmstrip) -> bool:
    return all(strip.thumbnails.get(pid, strip.picture) for pid in strip.visible())


def stored(library: Library, photo_id: int) -> tuple:
    return library.catalogue.db.execute_sql(
        "SELECT decision, rating, labels FROM photo WHERE id = ?", (photo_id,)
    ).fetchone()


async def test_t_opens_the_grid_on_the_photo_on_screen_and_closes_it(library):
    async with make_app(library).run_test(size=SMALL) as pilot:
        pane = pilot.app.query_one(TriagePane)
        await pilot.press("space", "space")
        pane, grid = await open_grid(pilot)
        assert not pane.query_one(PhotoView).display
        assert grid.photo_ids == pane.queue.photo_ids
        assert grid.index == pane.index == 2
        assert pilot.app.focused is grid
        # Every tile on screen has its picture and its caption, the file's name in it.
        text = screen_text(grid)
        assert WAITING_MARK not in text
        assert grid.visible() == pane.queue.photo_ids[:6]
        assert pane.card.path.rsplit("/", 1)[1].split(".")[0] in text
        await pilot.press("t")
        assert not grid.display and pane.query_one(PhotoView).display
        assert pilot.app.focused is pane


@pytest.mark.parametrize(
    ("keys", "index"),
    [
        (("right",), 1),
        (("l", "l"), 2),
        (("down",), 3),
        (("j", "j"), 6),
        (("j", "right", "k"), 1),
        (("l", "l", "h", "left"), 0),
        (("down", "up"), 0),
        (("left",), 0),  # at the first photo: it stays
        (("j", "j", "j", "j", "j", "j"), 14),  # down past the last row: the last photo
    ],
)
async def test_arrows_and_hjkl_move_the_focus_and_the_pane_with_it(library, keys, index):
    async with make_app(library).run_test(size=SMALL) as pilot:
        pane, grid = await open_grid(pilot)
        assert layout_for(grid.size).columns == 3
        await pilot.press(*keys)
        assert grid.index == pane.index == index
        assert pane.photo_id == pane.queue.photo_ids[index]
        # The facts line names the focused photo, as in the single view.
        facts = str(pane.query_one("#facts").render())
        assert pane.card.path.endswith(facts.split()[0])
        assert grid.photo_id in grid.visible()


async def test_page_down_and_up_scroll_a_page_and_draw_it(library):
    async with make_app(library).run_test(size=SMALL) as pilot:
        pane, grid = await open_grid(pilot)
        ids = pane.queue.photo_ids
        await pilot.press("pagedown")
        assert (grid.index, grid.top) == (6, 2)
        assert grid.visible() == ids[6:12]
        await wait_until(pilot, grid.all_drawn, "the next page drawn")
        await pilot.press("pagedown")
        assert grid.index == pane.index == 12
        assert grid.visible() == ids[9:15]  # the last page is a full screen, ending the queue
        await pilot.press("pageup", "pageup")
        assert (grid.index, grid.top) == (0, 0)
        assert grid.visible() == ids[:6]
        assert len(grid.latencies) >= 1  # key -> page drawn, kept for the benchmark


async def test_enter_shows_the_focused_photo_alone(library):
    async with make_app(library).run_test(size=SMALL) as pilot:
        pane, grid = await open_grid(pilot)
        await pilot.press("j", "l", "enter")
        assert not grid.display
        assert pane.index == 4
        view = pane.query_one(PhotoView)
        await wait_until(pilot, lambda: view.frame is not None
                         and view.frame.photo_id == pane.queue.photo_ids[4]
                         and bool(view.frame.strips), "the photo drawn")  # fmt: skip


async def test_the_grid_follows_the_filter_and_stands_on_the_same_photo(library):
    async with make_app(library).run_test(size=SMALL) as pilot:
        pane, grid = await open_grid(pilot)
        await pilot.press("j")
        standing = grid.photo_id
        pane.load_queue("all")
        await pilot.pause()
        assert len(grid.photo_ids) == 17 and grid.photo_ids == pane.queue.photo_ids
        assert grid.photo_id == standing == pane.photo_id


async def test_space_toggles_shift_arrows_select_a_range_and_escape_clears(library):
    async with make_app(library).run_test(size=SMALL) as pilot:
        pane, grid = await open_grid(pilot)
        ids = pane.queue.photo_ids
        await pilot.press("right", "space")
        assert grid.selected == {ids[1]}
        await pilot.press("space")
        assert grid.selected == set()
        await pilot.press("space", "right", "shift+right", "shift+right")
        assert grid.selected == set(ids[1:5])
        await pilot.press("shift+left", "shift+left", "shift+left")
        assert grid.selected == {ids[1], ids[2]}  # the range shrank back to its start
        await pilot.press("shift+down")  # a row down: the range from 2 to 4 again
        assert grid.index == 4
        assert grid.selected == set(ids[1:5])
        # The selection shows: a mark in the caption of each selected photo.
        assert screen_text(grid).count("◆") == 4
        await pilot.press("escape")
        assert grid.selected == set()
        assert "◆" not in screen_text(grid)


async def test_b_selects_the_focused_photos_whole_burst(library):
    db = library.catalogue.db
    async with make_app(library).run_test(size=SMALL) as pilot:
        pane, grid = await open_grid(pilot)
        ids = pane.queue.photo_ids
        burst = ids[3:7]  # the burst another part of the engine would have found
        with db.atomic():
            db.execute_sql(
                "UPDATE photo SET burst = ? WHERE id IN (SELECT value FROM json_each(?))",
                (burst[0], str(burst)),
            )
        await pilot.press("j", "l")  # ids[4], inside the burst
        await pilot.press("b")
        assert grid.selected == set(burst)
        await pilot.press("l", "l", "l")  # ids[7]: in no burst, it alone joins
        await pilot.press("b")
        assert grid.selected == {*burst, ids[7]}


async def test_a_decision_on_a_selection_is_made_for_all_and_one_undo_takes_it_back(library):
    db = library.catalogue.db
    async with make_app(library).run_test(size=SMALL) as pilot:
        pane, grid = await open_grid(pilot)
        ids = pane.queue.photo_ids
        chosen = ids[1:4]
        # Each photo starts different: stars and a label on one, stars on another.
        with db.atomic():
            db.execute_sql("UPDATE photo SET rating = 2, labels = 5 WHERE id = ?", (chosen[0],))
            db.execute_sql("UPDATE photo SET rating = 4 WHERE id = ?", (chosen[2],))
        before = {photo_id: stored(library, photo_id) for photo_id in ids}
        await pilot.press("right", "space", "shift+right", "shift+right")
        assert grid.selected == set(chosen)
        pilot.app.clear_notifications()
        await pilot.press("x")
        for photo_id in ids:
            expected = before[photo_id]
            if photo_id in chosen:
                expected = ("rejected", *expected[1:])
            assert stored(library, photo_id) == expected
        assert grid.index == 3  # no advance: the selection is still there to act on
        assert any("3 photos" in note.message for note in pilot.app._notifications)
        position = str(pane.query_one("#position").render())
        assert "0 approved, 5 rejected, 12 pending of 17" in position
        # The captions show the decision at once.
        assert screen_text(grid).count("✗") == 3
        await pilot.press("ctrl+z")
        assert {photo_id: stored(library, photo_id) for photo_id in ids} == before
        position = str(pane.query_one("#position").render())
        assert "0 approved, 2 rejected, 15 pending of 17" in position


async def test_stars_and_labels_on_a_selection_and_their_single_undo(library):
    async with make_app(library).run_test(size=SMALL) as pilot:
        pane, _grid = await open_grid(pilot)
        ids = pane.queue.photo_ids
        before = {photo_id: stored(library, photo_id) for photo_id in ids}
        await pilot.press("space", "l", "l", "space")  # ids[0] and ids[2], not ids[1]
        await pilot.press("3")
        assert [stored(library, pid)[1] for pid in ids[:3]] == [3, before[ids[1]][1], 3]
        await pilot.press("ctrl+z")
        assert {photo_id: stored(library, photo_id) for photo_id in ids} == before
        # A label: on both (one lacked it), and one undo takes it off both.
        await pilot.press("6")
        assert [stored(library, pid)[2] & 1 for pid in (ids[0], ids[2])] == [1, 1]
        await pilot.press("ctrl+z")
        assert {photo_id: stored(library, photo_id) for photo_id in ids} == before


async def test_without_a_selection_the_keys_decide_for_the_focused_photo(library):
    async with make_app(library).run_test(size=SMALL) as pilot:
        pane, grid = await open_grid(pilot)
        ids = pane.queue.photo_ids
        await pilot.press("l", "a")
        assert stored(library, ids[1])[0] == "approved"
        assert stored(library, ids[0])[0] == "pending"
        assert pane.index == grid.index == 2  # auto-advance moves the focus too


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_the_filmstrip_follows_the_photo_on_screen(library, size):
    async with make_app(library).run_test(size=size) as pilot:
        pane = pilot.app.query_one(TriagePane)
        await wait_until(pilot, lambda: pane.queue is not None, "a queue")
        await pilot.press("s")
        strip = pane.query_one(Filmstrip)
        await wait_until(pilot, lambda: strip.display and strip.size.width > 0, "the strip")
        for presses in range(8):
            assert strip.index == pane.index == presses
            assert strip.photo_ids[strip.index] == pane.photo_id
            assert pane.photo_id in strip.visible()
            await wait_until(pilot, lambda: strip_drawn(strip), "the strip drawn")
            await pilot.press("space")
        # The photo view is still drawn, above the strip.
        view = pane.query_one(PhotoView)
        assert view.size.height == pane.size.height - 2 - strip.size.height
        await pilot.press("s")
        assert not strip.display
