"""The bytes a photo change writes to the terminal, on real frames: real JPEGs decoded by Pillow,
drawn as half-blocks for a 160x48 pane and turned into escape codes as the app's console does.
The codes are read back cell by cell, as a terminal would, to see what the screen shows."""

from __future__ import annotations

import math
import re

import pytest
from PIL import Image
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.strip import Strip

from tests.helpers import REPO_CAMERA
from tui.frames import open_drafted
from tui.widgets.photo_codes import encode_line
from tui.widgets.photo_view import (
    BACKGROUND,
    MAX_DELTA_E,
    fitted,
    halfblock_strips,
    lab_bytes,
)

SIZE = Size(160, 48)
SOURCES = ("nikon_coolpix_p6000_gps_DSCN0010.jpg", "samsung_galaxy_s_orient6_gps.jpg",
           "kodak_dc240_1999.jpg", "apple_iphone5_orient3_gps.jpg", "gopro_hero4_lightroom.jpg",
           "olympus_pen_e-p3.jpg", "sony_dsc-hx5v_gps.jpg")  # fmt: skip
SGR = re.compile(r"\x1b\[([0-9;]*)m")
Cell = tuple[str, tuple[int, ...] | None, tuple[int, ...] | None]  # (r, g, b) or (one of 256,)


def console(system: str = "truecolor") -> Console:
    return Console(color_system=system, force_terminal=True, width=SIZE.width)


def cells_shown(codes: str) -> list[Cell]:
    """What a terminal shows for one line of codes: each cell's character, foreground and
    background (a space shows no foreground, so it has none here)."""
    fg = bg = None
    cells: list[Cell] = []
    position = 0
    for match in [*SGR.finditer(codes), None]:
        end = match.start() if match else len(codes)
        for char in codes[position:end]:
            cells.append((char, None if char == " " else fg, bg))
        if match is None:
            break
        position = match.end()
        params = [int(p) if p else 0 for p in match.group(1).split(";")]
        while params:
            code = params.pop(0)
            if code == 0:
                fg = bg = None
            elif code == 39:
                fg = None
            elif code == 49:
                bg = None
            elif code in (38, 48):
                kind = params.pop(0)  # 2: red, green, blue; 5: one of 256
                colour = tuple(params.pop(0) for _ in range(3 if kind == 2 else 1))
                fg, bg = (colour, bg) if code == 38 else (fg, colour)
            else:
                raise AssertionError(f"an unexpected code {code} in {match.group(0)!r}")
    return cells


def textual_codes(strip: Strip, system: str = "truecolor") -> str:
    """The line as Textual writes any strip: each segment with its whole style and a reset.
    (Styles made anew: Rich keeps a style's codes for the first colour system it was written
    in, and the tests write the same photo in two.)"""
    segments = [Segment(text, Style(color=s.color, bgcolor=s.bgcolor)) for text, s, _ in strip]
    return Strip(segments, strip.cell_length).render(console(system))


def photo(name: str) -> Image.Image:
    return open_drafted(str(REPO_CAMERA / name), (SIZE.width, SIZE.height * 2))


def pixels_shown(strips: list[Strip]) -> list[list[tuple[int, int, int]]]:
    """The half-block pixels on screen, two rows per line."""
    rows = []
    for strip in strips:
        cells = cells_shown(strip.render(console()))
        assert len(cells) == SIZE.width
        rows.append([bg if char == " " else fg for char, fg, bg in cells])
        rows.append([bg for char, fg, bg in cells])
    return rows


@pytest.mark.parametrize("system", ["truecolor", "256"])
@pytest.mark.parametrize("max_delta_e", [0, MAX_DELTA_E, 8])
@pytest.mark.parametrize("name", SOURCES)
def test_the_codes_show_the_cells_textual_would_show(name, max_delta_e, system):
    strips = halfblock_strips(photo(name), SIZE, max_delta_e=max_delta_e)
    assert len(strips) == SIZE.height
    for strip in strips:
        ours = strip.render(console(system))
        assert cells_shown(ours) == cells_shown(textual_codes(strip, system))
        assert ("8;2;" in ours) == (system == "truecolor")


@pytest.mark.parametrize("name", SOURCES)
def test_each_colour_is_written_only_where_it_changes(name):
    """The bound from the frame itself: three bytes a cell, one colour code (at most 20 bytes:
    ``ESC[38;2;255;255;255m``) for each change of a colour the cells show (a space shows no
    foreground),
    one reset a line."""
    strips = halfblock_strips(photo(name), SIZE)
    for strip in strips:
        cells = cells_shown(textual_codes(strip))
        changes = 0
        fg = bg = None
        for char, cell_fg, cell_bg in cells:
            if char != " " and cell_fg != fg:
                changes, fg = changes + 1, cell_fg
            if cell_bg != bg:
                changes, bg = changes + 1, cell_bg
        written = len(strip.render(console()).encode())
        assert written <= 3 * len(cells) + 20 * changes + len("\x1b[0m")


def test_a_photo_change_writes_half_the_bytes_textual_would():
    """Over real photos, the frames as written against the same photos drawn without merging
    colours and written the way Textual writes any strip (2.0 times as many bytes, measured;
    1.5 times when colours were told apart by the plain CIELAB distance)."""
    ours = textual = 0
    for name in SOURCES:
        picture = photo(name)
        ours += sum(len(s.render(console()).encode()) for s in halfblock_strips(picture, SIZE))
        unmerged = halfblock_strips(picture, SIZE, max_delta_e=0)
        textual += sum(len(textual_codes(s).encode()) for s in unmerged)
    assert ours * 1.9 <= textual, f"{ours:,} bytes against {textual:,}"


def lab(picture: Image.Image) -> list[tuple[float, float, float]]:
    """CIELAB of each pixel (Pillow keeps L* times 2.55 and a*, b* plus 128)."""
    codes = lab_bytes(picture)
    return [
        (codes[i] / 2.55, codes[i + 1] - 128, codes[i + 2] - 128) for i in range(0, len(codes), 3)
    ]


def distance(one: tuple[float, float, float], other: tuple[float, float, float]) -> float:
    """CIE94 (graphic arts: kL = kC = kH = 1, K1 = 0.045, K2 = 0.015), with the chroma of the
    weights the geometric mean of both colours' so that it is the same both ways."""
    (l1, a1, b1), (l2, a2, b2) = one, other
    c1, c2 = math.hypot(a1, b1), math.hypot(a2, b2)
    mean_chroma = math.sqrt(c1 * c2)
    d_chroma = c1 - c2
    d_hue_squared = max(0.0, (a1 - a2) ** 2 + (b1 - b2) ** 2 - d_chroma**2)
    return math.sqrt(
        (l1 - l2) ** 2
        + (d_chroma / (1 + 0.045 * mean_chroma)) ** 2
        + d_hue_squared / (1 + 0.015 * mean_chroma) ** 2
    )


def as_picture(rows: list[list[tuple[int, int, int]]]) -> Image.Image:
    picture = Image.new("RGB", (len(rows[0]), len(rows)))
    picture.putdata([pixel for row in rows for pixel in row])
    return picture


@pytest.mark.parametrize("max_delta_e", [1.0, 2.5, MAX_DELTA_E, 8.0])
@pytest.mark.parametrize("name", [*SOURCES, "gradient"])
def test_every_pixel_shown_is_within_the_threshold_of_its_own_colour(name, max_delta_e):
    if name == "gradient":  # a sky: where merging joins the most
        picture = Image.linear_gradient("L").resize((160, 96)).convert("RGB")
        picture = Image.merge("RGB", (picture.getchannel(0).point(lambda v: v // 3 + 40),
                                      picture.getchannel(0).point(lambda v: v // 2 + 60),
                                      Image.new("L", (160, 96), 200)))  # fmt: skip
    else:
        picture = photo(name)
        picture = picture.resize(fitted(picture.size, SIZE)).convert("RGB")
    # Values the drawing keeps as they are (it drops each channel's two lowest bits).
    picture = picture.point(lambda value: value & 0xFC)
    strips = halfblock_strips(picture, SIZE, max_delta_e=max_delta_e)
    shown = pixels_shown(strips)
    left = (SIZE.width - picture.width) // 2
    top = 2 * ((SIZE.height - (picture.height + picture.height % 2) // 2) // 2)
    inside = [row[left : left + picture.width] for row in shown[top : top + picture.height]]
    originals, drawn = lab(picture), lab(as_picture(inside))
    worst = max(distance(original, pixel) for original, pixel in zip(originals, drawn, strict=True))
    # Lab here is kept to whole steps (L* in steps of 1/2.55): a pixel drawn in its own colour
    # converts the same way, another is measured to within those steps.
    assert worst <= max_delta_e + 0.01
    merged = sum(1 for strip in strips for _ in strip)
    unmerged = sum(1 for strip in halfblock_strips(picture, SIZE, max_delta_e=0) for _ in strip)
    assert merged <= unmerged
    rows_outside = shown[:top] + shown[top + picture.height :]
    assert all(pixel == BACKGROUND for row in rows_outside for pixel in row)


def test_a_style_beyond_colours_is_written_as_textual_writes_it():
    segments = [
        Segment("ab", Style(color="#102030", bgcolor="#405060")),
        Segment("c", Style(bold=True, color="#102030")),
        Segment("d", Style(color="#102030", bgcolor="#405060")),
    ]
    codes = encode_line(segments)
    assert "\x1b[1;38;2;16;32;48mc\x1b[0m" in codes
    assert codes.endswith("\x1b[38;2;16;32;48;48;2;64;80;96md\x1b[0m")


@pytest.mark.parametrize(
    ("one", "other", "joined"),
    [
        ((200, 32, 32), (192, 40, 40), True),  # a red a little less saturated: 7.3 in CIELAB
        ((200, 32, 32), (200, 32, 40), True),  # a red turned a little: 4.0 in CIELAB
        ((200, 32, 32), (212, 44, 44), False),  # the same red 3.5 L* lighter
        ((120, 120, 120), (124, 124, 124), True),  # greys 1.6 apart
        ((120, 120, 120), (128, 128, 128), False),  # greys 3.1 apart: CIE94 is CIELAB there
        ((40, 60, 160), (40, 60, 176), True),  # a saturated blue, more so
        ((40, 60, 160), (52, 72, 168), False),  # the same blue, lighter
    ],
)
def test_saturated_colours_join_across_chroma_never_across_lightness(one, other, joined):
    """Stripes of two colours, 8 pixels wide: drawn as one colour when they look alike (CIE94
    within the threshold), each in its own when not. The eye tells saturated colours apart by
    their chroma less than CIELAB says; it tells lightness apart the same in every colour."""
    picture = Image.new("RGB", (SIZE.width, SIZE.height * 2), one)
    for left in range(8, SIZE.width, 16):
        picture.paste(other, (left, 0, left + 8, picture.height))
    assert (distance(*lab(picture.crop((0, 0, 9, 1)))[7:9]) <= MAX_DELTA_E) == joined
    strips = halfblock_strips(picture, SIZE)
    segments = {len(list(strip)) for strip in strips}
    assert segments == ({1} if joined else {SIZE.width // 8})
