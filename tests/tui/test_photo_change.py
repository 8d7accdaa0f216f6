"""What a photo change costs the screen: only the lines of the photo that differ from those on
screen are drawn again, and the lines about the photo are repainted, never laid out. Real JPEGs
drawn as half-blocks, the real app on a real catalogue."""

from __future__ import annotations

import pytest
from PIL import Image
from textual.geometry import Size
from textual.screen import Screen

from tests.helpers import REPO_CAMERA
from tests.tui.conftest import Library
from tests.tui.test_triage_keys import make_app, settle
from tui.frames import open_drafted
from tui.panes.triage import TriagePane
from tui.widgets.photo_view import Frame, changed_bands, fitted, halfblock_strips

LANDSCAPE = "nikon_coolpix_p6000_gps_DSCN0010.jpg"
OTHER_LANDSCAPE = "sony_dsc-hx5v_gps.jpg"
PORTRAIT = "samsung_galaxy_s_orient6_gps.jpg"


def frame(name: str, size: Size, photo_id: int = 1) -> Frame:
    picture = open_drafted(str(REPO_CAMERA / name), (size.width, size.height * 2))
    return Frame(photo_id, size, False, strips=halfblock_strips(picture, size))


def lines(bands: list[tuple[int, int]]) -> set[int]:
    return {y for top, bottom in bands for y in range(top, bottom)}


@pytest.mark.parametrize("size", [Size(160, 43), Size(80, 20), Size(40, 40)])
def test_the_same_photo_drawn_again_writes_no_line(size: Size):
    first, again = frame(LANDSCAPE, size), frame(LANDSCAPE, size, photo_id=2)
    assert changed_bands(first, again, size) == []


@pytest.mark.parametrize("size", [Size(160, 43), Size(80, 20)])
def test_another_photo_filling_the_pane_writes_every_line(size: Size):
    bands = changed_bands(frame(LANDSCAPE, size), frame(OTHER_LANDSCAPE, size, 2), size)
    assert lines(bands) == set(range(size.height))


@pytest.mark.parametrize("size", [Size(40, 40), Size(60, 50), Size(30, 45)])
def test_the_letterbox_lines_of_a_tall_pane_are_not_written_again(size: Size):
    """Two landscape photos in a tall pane: the blank lines above and below are on screen
    already; every line with a photo in it is written."""
    old, new = frame(LANDSCAPE, size), frame(OTHER_LANDSCAPE, size, 2)
    blank = {y for y, strip in enumerate(new.strips) if strip == old.strips[0]}
    assert blank, "the pane is not tall enough for a letterbox"
    assert lines(changed_bands(old, new, size)) == set(range(size.height)) - blank


@pytest.mark.parametrize("rows", [(0, 1), (10, 11), (5, 9), (42, 43)])
def test_only_the_lines_that_changed_are_written(rows: tuple[int, int]):
    """A photo with some lines painted over (as clipping marks are): those lines only."""
    size = Size(160, 43)
    drafted = open_drafted(str(REPO_CAMERA / LANDSCAPE), (size.width, size.height * 2))
    picture = drafted.convert("RGB").resize(fitted(drafted.size, size))  # drawn as it is
    width, height = picture.size
    offset = (size.height - height // 2) // 2  # the photo's first line in the pane
    top, bottom = rows
    painted = picture.copy()
    box = (0, 2 * (top - offset), width, 2 * (bottom - offset))
    painted.paste(Image.new("RGB", (width, box[3] - box[1]), (255, 0, 255)), box[:2])
    old = Frame(1, size, False, strips=halfblock_strips(picture, size))
    new = Frame(1, size, False, strips=halfblock_strips(painted, size))
    assert changed_bands(old, new, size) == [rows]


def test_everything_is_drawn_when_the_screen_holds_something_else():
    size = Size(80, 20)
    drawn = frame(LANDSCAPE, size)
    assert changed_bands(None, drawn, size) is None
    assert changed_bands(Frame(1, size, False, reason="no preview"), drawn, size) is None
    assert changed_bands(frame(LANDSCAPE, Size(80, 21)), drawn, size) is None


@pytest.mark.anyio
@pytest.mark.parametrize("keys", [["space"], ["space"] * 3, ["a", "space", "backspace"]])
async def test_a_photo_change_lays_nothing_out(library: Library, keys: list[str]):
    """The facts and position lines say the new photo, repainted where they are: the screen
    is not laid out again (a layout of the whole screen cost 2 ms of each photo change)."""
    async with make_app(library).run_test(size=(120, 36)) as pilot:
        pane = pilot.app.query_one(TriagePane)
        await settle(pilot, pane)
        await pilot.pause(0.3)
        screen = pilot.app.screen
        layouts = []
        lay_out = Screen._refresh_layout.__get__(screen)
        screen._refresh_layout = lambda *args, **kwargs: (
            layouts.append(1),
            lay_out(*args, **kwargs),
        )
        for key in keys:
            await pilot.press(key)
            await settle(pilot, pane)
        position = str(pane.query_one("#position").render())
        assert position.startswith(f"{pane.index + 1} / ")
        assert pane.card.path.endswith(str(pane.query_one("#facts").render()).split()[0])
        assert layouts == []
