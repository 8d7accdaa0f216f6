"""Real pixels for terminals that have graphics: a picture encoded once, away from the UI thread,
for the kitty graphics protocol or as sixel, and the escape codes that put it on screen,
wrapped for tmux's passthrough when the app runs inside tmux.

kitty pictures are shown through Unicode placeholders: cells of U+10EEEE whose foreground colour
names the image and whose diacritics name the cell's row and column in it. tmux keeps them as
ordinary text (it redraws, scrolls and clips them like any other), and only the picture itself
travels through passthrough. A sixel is drawn at the cursor by the terminal that receives it,
so inside tmux the cursor of the outer terminal is moved to the pane first, and put back.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

from PIL import Image
from rich.color import Color
from rich.segment import ControlType, Segment
from rich.style import Style
from textual.geometry import Size
from textual.strip import Strip

KITTY = "kitty"
SIXEL = "sixel"
PLACEHOLDER = "\U0010eeee"
# kitty's row / column diacritics (rowcolumn-diacritics.txt of its graphics protocol), as
# ranges of code points: the n-th one names row or column n.
_DIACRITIC_RANGES = (
    (0x0305, 0x0305), (0x030D, 0x030E), (0x0310, 0x0310), (0x0312, 0x0312), (0x033D, 0x033F),
    (0x0346, 0x0346), (0x034A, 0x034C), (0x0350, 0x0352), (0x0357, 0x0357), (0x035B, 0x035B),
    (0x0363, 0x036F), (0x0483, 0x0487), (0x0592, 0x0595), (0x0597, 0x0599), (0x059C, 0x05A1),
    (0x05A8, 0x05A9), (0x05AB, 0x05AC), (0x05AF, 0x05AF), (0x05C4, 0x05C4), (0x0610, 0x0617),
    (0x0657, 0x065B), (0x065D, 0x065E), (0x06D6, 0x06DC), (0x06DF, 0x06E2), (0x06E4, 0x06E4),
    (0x06E7, 0x06E8), (0x06EB, 0x06EC), (0x0730, 0x0730), (0x0732, 0x0733), (0x0735, 0x0736),
    (0x073A, 0x073A), (0x073D, 0x073D), (0x073F, 0x0741), (0x0743, 0x0743), (0x0745, 0x0745),
    (0x0747, 0x0747), (0x0749, 0x074A), (0x07EB, 0x07F1), (0x07F3, 0x07F3), (0x0816, 0x0819),
    (0x081B, 0x0823), (0x0825, 0x0827), (0x0829, 0x082D), (0x0951, 0x0951), (0x0953, 0x0954),
    (0x0F82, 0x0F83), (0x0F86, 0x0F87), (0x135D, 0x135F), (0x17DD, 0x17DD), (0x193A, 0x193A),
    (0x1A17, 0x1A17), (0x1A75, 0x1A7C), (0x1B6B, 0x1B6B), (0x1B6D, 0x1B73), (0x1CD0, 0x1CD2),
    (0x1CDA, 0x1CDB), (0x1CE0, 0x1CE0), (0x1DC0, 0x1DC1), (0x1DC3, 0x1DC9), (0x1DCB, 0x1DCC),
    (0x1DD1, 0x1DE6), (0x1DFE, 0x1DFE), (0x20D0, 0x20D1), (0x20D4, 0x20D7), (0x20DB, 0x20DC),
    (0x20E1, 0x20E1), (0x20E7, 0x20E7), (0x20E9, 0x20E9), (0x20F0, 0x20F0), (0x2CEF, 0x2CF1),
    (0x2DE0, 0x2DFF), (0xA66F, 0xA66F), (0xA67C, 0xA67D), (0xA6F0, 0xA6F1), (0xA8E0, 0xA8F1),
    (0xAAB0, 0xAAB0), (0xAAB2, 0xAAB3), (0xAAB7, 0xAAB8), (0xAABE, 0xAABF), (0xAAC1, 0xAAC1),
    (0xFE20, 0xFE26), (0x10A0F, 0x10A0F), (0x10A38, 0x10A38), (0x1D185, 0x1D189),
    (0x1D1AA, 0x1D1AD), (0x1D242, 0x1D244),
)  # fmt: skip
DIACRITICS = tuple(
    chr(code) for first, last in _DIACRITIC_RANGES for code in range(first, last + 1)
)
MAX_CELLS = len(DIACRITICS)  # the widest and tallest a kitty picture can be, in cells
# Image ids are 256-colour indexes: tmux passes "38;5;N" on to any terminal unchanged, while it
# turns 24-bit colours into the nearest of 256 for a terminal it does not know has them (and
# 0-15 may be written as the 16 basic colours).
FIRST_IMAGE_ID, LAST_IMAGE_ID = 16, 255
KITTY_CHUNK = 4096  # base64 bytes in one kitty command, as the protocol asks
# tmux drops an escape sequence longer than its input buffer (1 MB): a long sixel is sent in
# several passthrough sequences, which the outer terminal reads as one.
PASSTHROUGH_PIECE = 256 * 1024
_INVISIBLE = ((ControlType.CURSOR_FORWARD, 0),)  # a control segment: no cells, written as is


@dataclass(frozen=True)
class Graphics:
    """How pictures reach this terminal: the protocol, whether through tmux's passthrough, and
    the size of a cell in pixels (a sixel is drawn pixel for pixel)."""

    protocol: str  # KITTY or SIXEL
    passthrough: bool = False
    cell_pixels: tuple[int, int] = (10, 20)


@dataclass(frozen=True)
class Encoded:
    """A picture made ready for the terminal for a pane of ``cells``: kitty's base64 PNG, or a
    whole sixel sequence, covering the pane with the picture fitted and centred in it."""

    protocol: str
    cells: Size
    data: str


def passthrough(sequence: str) -> str:
    """``sequence`` for the terminal outside tmux: tmux hands on the inside of a
    ``ESC P tmux;`` sequence (with its escapes doubled) when allow-passthrough is on."""
    return "\x1bPtmux;" + sequence.replace("\x1b", "\x1b\x1b") + "\x1b\\"


def canvas(
    picture: Image.Image,
    cells: Size,
    cell_pixels: tuple[int, int],
    background: tuple[int, int, int],
    upscale: bool,
    fit: bool = True,
) -> Image.Image:
    """``picture`` fitted and centred in a pane of ``cells`` (``background`` around it), at the
    pane's size in pixels; or, when not ``upscale`` and the picture is smaller than that, at the
    picture's own scale (a kitty terminal scales the whole canvas up itself, for fewer bytes).
    Not ``fit`` (the loupe): the picture's pixels one for one, centred, never scaled."""
    box_w, box_h = cells.width * cell_pixels[0], cells.height * cell_pixels[1]
    scale = min(box_w / picture.width, box_h / picture.height)
    if not fit:
        scale = 1.0
        picture = picture.crop((0, 0, min(picture.width, box_w), min(picture.height, box_h)))
    elif scale > 1 and not upscale:
        box_w, box_h, scale = round(box_w / scale), round(box_h / scale), 1.0
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    fitted = picture.convert("RGB")
    if fitted.size != size:
        factor = min(fitted.width // size[0], fitted.height // size[1])
        if factor >= 2:  # integer shrinking first: cheap, and the resize after it is small
            fitted = fitted.reduce(factor)
        fitted = fitted.resize(size, Image.Resampling.BILINEAR)
    sheet = Image.new("RGB", (max(1, box_w), max(1, box_h)), background)
    sheet.paste(fitted, ((box_w - size[0]) // 2, (box_h - size[1]) // 2))
    return sheet


def encode(
    picture: Image.Image,
    cells: Size,
    graphics: Graphics,
    background: tuple[int, int, int],
    fit: bool = True,
) -> Encoded:
    """A frame thread: ``picture`` fitted to a pane of ``cells`` (or, not ``fit``, one for one:
    the loupe), encoded for ``graphics``."""
    if graphics.protocol == KITTY:
        sheet = canvas(picture, cells, graphics.cell_pixels, background, False, fit)
        png = io.BytesIO()
        # Level 1: a quarter of level 6's time for a few per cent more bytes.
        sheet.save(png, "PNG", compress_level=1)
        return Encoded(KITTY, cells, base64.standard_b64encode(png.getvalue()).decode("ascii"))
    from textual_image._sixel import image_to_sixels  # its encoder: quantising, bands, runs

    sheet = canvas(picture, cells, graphics.cell_pixels, background, True, fit)
    return Encoded(SIXEL, cells, image_to_sixels(sheet, background=(*background, 1.0)))


def kitty_show(encoded: Encoded, image_id: int, through_tmux: bool) -> str:
    """The escape codes that give the terminal the picture as image ``image_id`` (replacing
    what that id held) and place it over the pane's placeholder cells."""
    data = encoded.data
    chunks = [data[at : at + KITTY_CHUNK] for at in range(0, len(data), KITTY_CHUNK)] or [""]
    # q=2: the terminal answers nothing (an answer would arrive as keys).
    commands = [
        f"\x1b_Ga=t,t=d,f=100,i={image_id},q=2,m={int(len(chunks) > 1)};{chunks[0]}\x1b\\",
        *(
            f"\x1b_Gm={int(n < len(chunks) - 1)};{chunk}\x1b\\"
            for n, chunk in enumerate(chunks[1:], start=1)
        ),
        f"\x1b_Ga=p,U=1,i={image_id},c={encoded.cells.width},r={encoded.cells.height},q=2\x1b\\",
    ]
    if through_tmux:
        return "".join(passthrough(command) for command in commands)
    return "".join(commands)


def kitty_forget(image_id: int, through_tmux: bool) -> str:
    """The escape code that frees image ``image_id`` and its placements in the terminal."""
    command = f"\x1b_Ga=d,d=I,i={image_id},q=2\x1b\\"
    return passthrough(command) if through_tmux else command


def placeholder_cells(row: int, width: int, bare_last: bool = False) -> list[str]:
    """The text of each cell of placeholder row ``row``: the placeholder, its row, its column.

    ``bare_last``: the last cell is the placeholder alone, which kitty reads as the cell after
    its left neighbour. For the terminal's last column: tmux (3.3) puts the diacritics written
    there on the cell before it, as its cursor waits at the margin."""
    row_mark = DIACRITICS[row]
    cells = [PLACEHOLDER + row_mark + DIACRITICS[column] for column in range(width)]
    if bare_last and cells:
        cells[-1] = PLACEHOLDER
    return cells


def placeholder_style(image_id: int) -> Style:
    return Style(color=Color.from_ansi(image_id))


def sixel_show(encoded: Encoded, top: int, left: int, through_tmux: bool) -> str:
    """The escape codes that draw a sixel with its top-left corner at cell (``top``, ``left``)
    of the terminal (0-based), the cursor saved before and restored after: the app's idea of
    where the cursor is stays true."""
    move = f"\x1b7\x1b[{top + 1};{left + 1}H"
    if not through_tmux:
        return move + encoded.data + "\x1b8"
    data = encoded.data
    pieces = [data[at : at + PASSTHROUGH_PIECE] for at in range(0, len(data), PASSTHROUGH_PIECE)]
    pieces[0] = move + pieces[0]
    pieces[-1] = pieces[-1] + "\x1b8"
    return "".join(passthrough(piece) for piece in pieces)


def control(text: str) -> Segment:
    """Escape codes as a segment that takes no cells: Textual writes it as it is."""
    return Segment(text, None, _INVISIBLE)


def placeholder_strip(cells: list[str], style: Style, prefix: str = "") -> Strip:
    segments = [control(prefix)] if prefix else []
    segments.append(Segment("".join(cells), style))
    return Strip(segments, len(cells))
