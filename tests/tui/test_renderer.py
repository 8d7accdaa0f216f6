"""How photos reach the terminal: the renderer chosen before the app starts (from the terminal,
or inside tmux from what tmux knows of the terminal it runs in), and real pixels (kitty
placeholders, sixel, through tmux's passthrough) in the photo view. The same through a real
tmux: tests/tui/test_tmux_graphics.py."""

from __future__ import annotations

import functools
import itertools
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from textual.app import App
from textual.geometry import Region, Size

from tui.graphics import (
    DIACRITICS,
    PASSTHROUGH_PIECE,
    PLACEHOLDER,
    Encoded,
    Graphics,
    encode,
    passthrough,
    sixel_show,
)
from tui.renderer import (
    HALFBLOCK,
    Choice,
    TmuxFacts,
    apply_colors,
    choose_renderer,
    decide,
    pane_offset,
    tmux_facts,
)
from tui.widgets.photo_view import (
    BACKGROUND,
    Frame,
    PhotoView,
    centre_crop,
    fitted,
    halfblock_strips,
)

pytestmark = pytest.mark.anyio


def test_half_blocks_when_asked_when_tmux_does_not_answer_or_without_a_terminal(monkeypatch):
    assert choose_renderer("halfblock") == Choice(HALFBLOCK)
    # a tmux that does not answer (its socket is gone): nothing is known of the terminal
    env = {"TMUX": "/nonexistent/tmux-socket,1,0", "TMUX_PANE": "%0", "TERM": "tmux-256color"}
    assert choose_renderer("auto", env) == Choice(HALFBLOCK)
    assert choose_renderer("auto", {"TERM": "xterm-kitty"}) == Choice(HALFBLOCK)  # no tty


def test_sixel_and_kitty_when_asked_outside_tmux():
    assert choose_renderer("sixel", {}) == Choice("sixel", Graphics("sixel", False, (10, 20)))
    assert choose_renderer("kitty", {}) == Choice("kitty", Graphics("kitty", False, (10, 20)))


def facts(termname="xterm-256color", termtype="", features="", passthrough=True, cells=None):
    return TmuxFacts(termname, termtype, features, passthrough, cells)


IN_TMUX = {"TMUX": "/tmp/tmux-0/default,1,0", "TERM": "tmux-256color", "TERM_PROGRAM": "tmux"}


@pytest.mark.parametrize(
    ("tmux", "env", "expected"),
    [
        (facts(termtype="kitty(0.35.2)"), {}, "kitty"),
        (facts("xterm-kitty"), {}, "kitty"),
        (facts(termtype="ghostty 1.1.3"), {}, "kitty"),
        (facts(), {"KITTY_WINDOW_ID": "3"}, "kitty"),  # the server was started in kitty
        (facts("foot"), {}, "sixel"),
        (facts(termtype="foot(1.16.2)"), {}, "sixel"),
        (facts(termtype="WezTerm 20240203-110809-5046fc22"), {}, "sixel"),  # no placeholders
        (facts(termtype="iTerm2 3.5.0"), {}, "sixel"),
        (facts(), {"LC_TERMINAL": "iTerm2"}, "sixel"),  # iTerm2's, passed on by ssh
        (facts(features="RGB,sixel,title"), {}, "sixel"),  # a tmux built with sixel says so
        (facts(termtype="XTerm(390)"), {}, "halfblock"),
        (facts(termtype="VTE(7600)"), {}, "halfblock"),
        (facts(), {}, "halfblock"),
    ],
)
def test_inside_tmux_the_outer_terminal_decides(tmux, env, expected):
    choice = decide("auto", {**IN_TMUX, **env}, tmux)
    assert choice.name == expected and choice.note is None
    if expected != HALFBLOCK:
        assert choice.graphics == Graphics(expected, True, (10, 20))


def test_inside_tmux_the_setting_overrides_and_tmux_gives_the_cell_size():
    tmux = facts(termtype="XTerm(390)", cells=(9, 18))
    assert decide("sixel", IN_TMUX, tmux).graphics == Graphics("sixel", True, (9, 18))
    assert decide("kitty", IN_TMUX, tmux).graphics == Graphics("kitty", True, (9, 18))
    assert decide("halfblock", IN_TMUX, facts("xterm-kitty")) == Choice(HALFBLOCK)


@pytest.mark.parametrize("setting", ["auto", "kitty", "sixel"])
def test_without_passthrough_half_blocks_and_the_line_that_enables_it(setting):
    choice = decide(setting, IN_TMUX, facts("xterm-kitty", passthrough=False))
    assert choice.name == HALFBLOCK and choice.graphics is None
    assert "set -g allow-passthrough on" in choice.note


def test_no_advice_for_a_terminal_without_graphics():
    assert decide("auto", IN_TMUX, facts(passthrough=False)) == Choice(HALFBLOCK)


def test_outside_tmux_the_terminal_answers():
    env = {"TERM": "xterm-256color"}
    assert decide("auto", env, None, direct="sixel").graphics == Graphics("sixel", False)
    assert decide("auto", env, None, direct=None) == Choice(HALFBLOCK)


def test_tmux_answers_about_its_client(tmp_path):
    """A real tmux on a private socket, no client: passthrough as set, the terminal unknown."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (CI installs it)")
    socket = f"shootwatch-facts-{os.getpid()}"
    run = functools.partial(subprocess.run, check=True, capture_output=True, text=True,
                            env=dict(os.environ))  # fmt: skip
    run(["tmux", "-L", socket, "-f", "/dev/null", "new-session", "-d", "-s", "f", "sleep 60"])
    path = run(["tmux", "-L", socket, "display-message", "-p", "#{socket_path}"]).stdout
    try:
        env = {"TMUX": f"{path.strip()},1,0", "TMUX_PANE": "%0"}
        assert tmux_facts(env) == facts("", passthrough=False)
        run(["tmux", "-L", socket, "set", "-g", "allow-passthrough", "on"])
        assert tmux_facts(env).passthrough
        assert pane_offset(env) == (0, 0)
    finally:
        run(["tmux", "-L", socket, "kill-server"])
        Path(path.strip()).unlink(missing_ok=True)  # a killed server leaves its socket


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


class OnePhoto(App):
    def __init__(self, graphics: Graphics) -> None:
        super().__init__()
        self.graphics = graphics

    def compose(self):
        yield PhotoView(self.graphics, id="photo")


async def test_a_kitty_photo_is_placeholder_cells_and_its_picture_sent_once():
    async with OnePhoto(Graphics("kitty", True)).run_test(size=(60, 20)) as pilot:
        view = pilot.app.query_one(PhotoView)
        picture = Image.new("RGB", (64, 48), (10, 200, 10))
        encoded = encode(picture, view.size, view.graphics, BACKGROUND)
        view.show(Frame(1, view.size, False, picture=picture, encoded=encoded))
        lines = view.render_lines(Region(0, 0, 60, 20))
        assert [strip.cell_length for strip in lines] == [60] * 20
        first = "".join(segment.text for segment in lines[0])
        assert first.startswith("\x1bPtmux;\x1b\x1b_Ga=t,") and "U=1" in first
        assert f"i={view.image_id}" in first and "c=60,r=20" in first
        cells = "".join(segment.text for segment in lines[5] if not segment.control)
        assert cells.startswith(PLACEHOLDER + DIACRITICS[5] + DIACRITICS[0] + PLACEHOLDER)
        assert cells.endswith(PLACEHOLDER)  # the terminal's last column: bare
        again = view.render_lines(Region(0, 0, 60, 20))  # drawn again: the picture is there
        assert "\x1b_G" not in "".join(segment.text for segment in again[0])


async def test_each_new_kitty_picture_has_an_id_of_its_own_and_the_old_one_is_freed():
    """A picture that never reaches the terminal (tmux dropped it) leaves its cells naming an
    id the terminal does not hold: blank cells, never the previous photo under this one's
    name. The previous picture is freed in the same write, after the new one."""
    async with OnePhoto(Graphics("kitty", True)).run_test(size=(60, 20)) as pilot:
        view = pilot.app.query_one(PhotoView)
        shown = []
        for colour in ((10, 200, 10), (200, 10, 10), (10, 10, 200)):
            picture = Image.new("RGB", (64, 48), colour)
            encoded = encode(picture, view.size, view.graphics, BACKGROUND)
            view.show(Frame(1, view.size, False, picture=picture, encoded=encoded))
            lines = view.render_lines(Region(0, 0, 60, 20))
            first = "".join(segment.text for segment in lines[0])
            names = {segment.style.color.number for segment in lines[7] if not segment.control}
            shown.append((view.image_id, first, names))
        ids = [image_id for image_id, _, _ in shown]
        assert len(set(ids)) == 3
        for (old, _, _), (new, first, names) in itertools.pairwise(shown):
            assert names == {new}
            sent, freed = first.index(f"i={new},"), first.index(f"a=d,d=I,i={old},")
            assert sent < freed
        assert "a=d" not in shown[0][1]


async def test_a_sixel_photo_is_drawn_after_blank_cells_each_time():
    async with OnePhoto(Graphics("sixel", False, (4, 8))).run_test(size=(30, 10)) as pilot:
        view = pilot.app.query_one(PhotoView)
        picture = Image.new("RGB", (64, 48), (10, 200, 10))
        encoded = encode(picture, view.size, view.graphics, BACKGROUND)
        assert encoded.data.startswith('\x1bP0;0;0q"1;1;120;80')  # the view, pixel for pixel
        view.show(Frame(1, view.size, False, picture=picture, encoded=encoded))
        for _ in range(2):
            lines = view.render_lines(Region(0, 0, 30, 10))
            last = "".join(segment.text for segment in lines[-1])
            assert last.endswith("\x1b7\x1b[1;1H" + encoded.data + "\x1b8")


def test_the_placeholder_diacritics_are_kittys():
    from textual_image.renderable.tgp import _NUMBER_TO_DIACRITIC  # from the same table

    assert tuple(chr(code) for code in _NUMBER_TO_DIACRITIC) == DIACRITICS


def test_passthrough_doubles_every_escape():
    assert passthrough("\x1b_Gi=1\x1b\\") == "\x1bPtmux;\x1b\x1b_Gi=1\x1b\x1b\\\x1b\\"


def test_a_long_sixel_goes_through_tmux_in_pieces():
    data = "\x1bPq" + "~" * (PASSTHROUGH_PIECE * 2) + "\x1b\\"
    sent = sixel_show(Encoded("sixel", Size(1, 1), data), 2, 3, through_tmux=True)
    assert sent.count("\x1bPtmux;") == 3
    unwrapped = "".join(
        piece.removesuffix("\x1b\\").replace("\x1b\x1b", "\x1b")
        for piece in sent.split("\x1bPtmux;")[1:]
    )
    assert unwrapped == "\x1b7\x1b[3;4H" + data + "\x1b8"


@pytest.mark.parametrize("protocol", ["kitty", "sixel"])
def test_the_loupe_is_sent_pixel_for_pixel(protocol):
    """A loupe's picture is not scaled to the pane: at 100 % one photo pixel is one screen
    pixel, centred, the rest background (a fitted photo is scaled: kitty scales it up itself)."""
    import base64
    import io

    picture = Image.new("RGB", (64, 48), (10, 200, 10))
    picture.putpixel((0, 0), (255, 0, 0))
    graphics = Graphics(protocol, True, (4, 8))
    cells = Size(30, 10)  # 120 x 80 pixels
    loupe = encode(picture, cells, graphics, BACKGROUND, fit=False)
    if protocol == "sixel":
        assert loupe.data.startswith('\x1bP0;0;0q"1;1;120;80')
        return
    sheet = Image.open(io.BytesIO(base64.standard_b64decode(loupe.data))).convert("RGB")
    assert sheet.size == (120, 80)
    assert sheet.getpixel((28, 16)) == (255, 0, 0)  # the corner pixel, unscaled, centred
    assert sheet.getpixel((29, 17)) == (10, 200, 10)
    assert sheet.getpixel((27, 16)) == BACKGROUND
    fitted = encode(picture, cells, graphics, BACKGROUND)  # the pane's shape, the photo's scale
    assert Image.open(io.BytesIO(base64.standard_b64decode(fitted.data))).size == (72, 48)
