"""How photos reach the terminal: the renderer chosen before the app starts, and the graphics
path (textual-image's widgets, for sixel and kitty terminals) wired into the photo view."""

from __future__ import annotations

import pytest
from PIL import Image
from textual.app import App
from textual.geometry import Size

from tui.renderer import HALFBLOCK, apply_colors, choose_renderer
from tui.widgets.photo_view import Frame, PhotoView, centre_crop, fitted, halfblock_strips

pytestmark = pytest.mark.anyio


def test_half_blocks_when_asked_inside_tmux_or_without_a_terminal(monkeypatch):
    assert choose_renderer("halfblock") == (HALFBLOCK, None)
    monkeypatch.setenv("TMUX", "/tmp/tmux-0/default,1,0")
    assert choose_renderer("auto") == (HALFBLOCK, None)  # tmux passes no sixel through
    monkeypatch.delenv("TMUX")
    assert choose_renderer("auto") == (HALFBLOCK, None)  # pytest's stdout is not a terminal


def test_sixel_and_kitty_are_textual_image_widgets():
    from textual_image.widget import SixelImage, TGPImage

    assert choose_renderer("sixel") == ("sixel", SixelImage)
    assert choose_renderer("kitty") == ("kitty", TGPImage)


def test_colours(monkeypatch):
    monkeypatch.delenv("COLORTERM", raising=False)
    monkeypatch.setenv("TMUX", "/tmp/tmux-0/default,1,0")
    assert apply_colors("auto") == "truecolor"
    monkeypatch.delenv("COLORTERM")
    monkeypatch.delenv("TMUX")
    monkeypatch.setenv("TERM", "xterm-256color")
    assert apply_colors("auto") == "auto"
    assert apply_colors("truecolor") == "truecolor"
    assert apply_colors("256") == "auto"


def test_half_blocks_fit_centre_and_keep_proportions():
    picture = Image.new("RGB", (300, 100), (200, 30, 30))
    cells = Size(40, 20)
    assert fitted(picture.size, cells) == (40, 13)  # 3:1 in a 40x40-pixel box
    strips = halfblock_strips(picture, cells)
    assert len(strips) == 20 and all(strip.cell_length == 40 for strip in strips)
    drawn = [n for n, strip in enumerate(strips) if "▀" in strip.text]
    assert drawn and drawn[0] > 0 and drawn[-1] < 19  # centred, with bands above and below
    assert centre_crop(Image.new("RGB", (1000, 1000)), cells).size == (40, 40)


class Graphics(App):
    def compose(self):
        from textual_image.widget import HalfcellImage  # the same interface as Sixel and TGP

        yield PhotoView(HalfcellImage, id="photo")


async def test_a_graphics_renderer_gets_the_picture_itself():
    async with Graphics().run_test(size=(60, 20)) as pilot:
        view = pilot.app.query_one(PhotoView)
        first = Image.new("RGB", (64, 48), (10, 200, 10))
        view.show(Frame(1, view.size, False, picture=first))
        await pilot.pause()
        assert len(view.children) == 1 and view.children[0].image is first
        second = Image.new("RGB", (64, 48), (200, 10, 10))
        view.show(Frame(2, view.size, False, picture=second))
        await pilot.pause()
        assert len(view.children) == 1 and view.children[0].image is second
