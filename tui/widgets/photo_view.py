"""The photo on screen: a picture turned into terminal cells, and the widget that shows it.

Half-blocks ("▀" with the upper pixel as foreground and the lower as background) work in every
terminal and in tmux. The lines are built away from the UI thread (see tui.frames), so showing
the next photo is only swapping strips. Where the terminal has sixel or kitty graphics the
photo is drawn by textual-image instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import Image, ImageCms
from rich.color import Color, ColorTriplet, ColorType
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widget import Widget

from tui.widgets.photo_codes import PhotoStrip

UPPER_HALF = "▀"
BACKGROUND = (12, 12, 12)
# How far (CIELAB distance) a half-block pixel may be drawn from its own colour. About 2.3 is
# the least difference one sees between two patches; at 2.5 a photo at 160 columns looks the
# same side by side and is written in two thirds of the bytes (tests/tui/test_photo_codes.py).
# From 3 on, skies and clouds show horizontal streaks: the runs of one colour become visible.
MAX_DELTA_E = 2.5


@dataclass(frozen=True)
class Frame:
    """One photo drawn for one pane size: ready strips (half-blocks), or the picture itself for
    a graphics renderer, or the reason there is nothing to draw."""

    photo_id: int
    size: Size  # cells
    zoom: bool
    strips: list[Strip] = field(default_factory=list)
    picture: Image.Image | None = None  # for sixel / kitty
    reason: str | None = None


def fitted(image_size: tuple[int, int], cells: Size) -> tuple[int, int]:
    """The largest size in pixels with the image's proportions that fits ``cells`` drawn as
    half-blocks (one pixel wide, two tall per cell: terminal cells are about twice as tall as
    wide, so half-block pixels are about square)."""
    width, height = image_size
    box_w, box_h = max(1, cells.width), max(2, cells.height * 2)
    scale = min(box_w / width, box_h / height)
    return max(1, round(width * scale)), max(2, round(height * scale))


def centre_crop(image: Image.Image, cells: Size) -> Image.Image:
    """The middle of ``image`` at one image pixel per half-block pixel: a 1:1 view."""
    box_w, box_h = cells.width, cells.height * 2
    left = max(0, (image.width - box_w) // 2)
    top = max(0, (image.height - box_h) // 2)
    return image.crop((left, top, min(image.width, left + box_w), min(image.height, top + box_h)))


def halfblock_strips(
    image: Image.Image,
    cells: Size,
    zoom: bool = False,
    between_lines: Callable[[], None] | None = None,
    max_delta_e: float = MAX_DELTA_E,
) -> list[Strip]:
    """``image`` scaled to fit ``cells`` (or cropped 1:1 at the centre when ``zoom``), centred,
    as one Strip per terminal line. ``between_lines`` is called after each line (drawing holds
    Python's lock; the caller can let the UI thread have it).

    A pixel may be drawn in the colour of a neighbour on its line when the two differ by at
    most ``max_delta_e`` (CIELAB distance): smooth areas become runs of one colour, written to
    the terminal once, while detail, whose neighbours differ by more, is kept."""
    if cells.width < 1 or cells.height < 1:
        return []
    if zoom:
        picture = centre_crop(image, cells).convert("RGB")
    else:
        target = fitted(image.size, cells)
        picture = image.convert("RGB")
        if picture.size != target:
            # reduce() first: integer shrinking is cheap and makes the final resize small.
            factor = min(picture.width // target[0], picture.height // target[1])
            if factor >= 2:
                picture = picture.reduce(factor)
            picture = picture.resize(target, Image.Resampling.BILINEAR)
    # The two lowest bits of each channel go: invisible at this size, and photos then share
    # far more colours, so the colour and style objects below are mostly made once.
    picture = picture.point(_DROP_LOW_BITS)
    width, height = picture.size
    if height % 2:  # half-blocks pair pixel rows
        padded = Image.new("RGB", (width, height + 1), BACKGROUND)
        padded.paste(picture, (0, 0))
        picture, height = padded, height + 1
    pixels = picture.tobytes()
    labs = lab_rows(picture)
    left = (cells.width - width) // 2
    top = (cells.height - height // 2) // 2
    background = Style(bgcolor=Color.from_rgb(*BACKGROUND))
    blank = PhotoStrip([Segment(" " * cells.width, background)], cells.width)
    pad_left = Segment(" " * left, background) if left else None
    right = cells.width - width - left
    pad_right = Segment(" " * right, background) if right else None
    styles, colors = _STYLES, _COLORS
    if len(styles) > 400_000:  # about 100 MB: start again rather than grow without end
        styles.clear()
        colors.clear()
    near = max_delta_e * max_delta_e
    strips = [blank] * top
    row_bytes = width * 3
    for y in range(0, height, 2):
        if between_lines is not None:
            between_lines()
        upper = pixels[y * row_bytes : (y + 1) * row_bytes]
        lower = pixels[(y + 1) * row_bytes : (y + 2) * row_bytes]
        upper_labs, lower_labs = labs[y], labs[y + 1]
        segments = [pad_left] if pad_left else []
        # Each half is drawn in the colour of a pixel near it in its run (see ``_runs``): the
        # colour is written to the terminal once per run, and the cells join into segments.
        fg_from, bg_from = _runs(upper_labs, near), _runs(lower_labs, near)
        run_key: bytes | None = None
        run = 0
        for x in range(width):
            at = bg_from[x]
            bg_lab = lower_labs[at]
            if _near(bg_lab, upper_labs[x], near):
                key = lower[at * 3 : at * 3 + 3]  # both halves in it: a space, no foreground
            else:
                key = upper[fg_from[x] * 3 : fg_from[x] * 3 + 3] + lower[at * 3 : at * 3 + 3]
            if key == run_key:
                run += 1
                continue
            if run:
                segments.append(_segment(run_key, run, styles, colors))
            run_key, run = key, 1
        if run:
            segments.append(_segment(run_key, run, styles, colors))
        if pad_right:
            segments.append(pad_right)
        strips.append(PhotoStrip(segments, cells.width))
    strips.extend([blank] * (cells.height - len(strips)))
    return strips


def _runs(labs: list[tuple[float, float, float]], near: float) -> list[int]:
    """For each pixel of a line, the pixel whose colour it is drawn in: the runs are as long
    as one of their pixels stays within ``near`` (a squared distance) of every other, so each
    pixel is drawn at most that far from its own colour."""
    chosen: list[int] = []
    start = anchor = 0
    anchor_lab = labs[0] if labs else None
    for x, pixel in enumerate(labs):
        if not _near(anchor_lab, pixel, near):
            # The newcomer may hold the run together where the anchor cannot.
            if all(_near(pixel, labs[i], near) for i in range(start, x)):
                anchor, anchor_lab = x, pixel
                chosen[start:x] = [x] * (x - start)
            else:
                start = anchor = x
                anchor_lab = pixel
        chosen.append(anchor)
    return chosen


def _near(a: tuple[float, float, float], b: tuple[float, float, float], limit: float) -> bool:
    return (a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2 + (a[2] - b[2]) ** 2 <= limit


def _segment(key: bytes, run: int, styles: dict, colors: dict) -> Segment:
    """``run`` cells of ``key``: an upper and a lower colour (a half-block), or one colour
    (spaces in it)."""
    style = styles.get(key)
    if style is None:
        if len(key) == 3:
            style = Style(bgcolor=colors.get(key) or colors.setdefault(key, _color(key)))
        else:
            upper_rgb, lower_rgb = key[:3], key[3:]
            fg = colors.get(upper_rgb) or colors.setdefault(upper_rgb, _color(upper_rgb))
            bg = colors.get(lower_rgb) or colors.setdefault(lower_rgb, _color(lower_rgb))
            style = Style.from_color(fg, bg)
        styles[key] = style
    return Segment((UPPER_HALF if len(key) == 6 else " ") * run, style)


def lab_rows(picture: Image.Image) -> list[list[tuple[float, float, float]]]:
    """An RGB picture's pixels in CIELAB, row by row: distances there are about how different
    two colours look (a difference of about 2.3 is the least one sees)."""
    converted = ImageCms.applyTransform(picture, _SRGB_TO_LAB).tobytes()
    width = picture.width
    # Pillow keeps L* scaled to 0-255 and a*, b* offset by 128.
    pixels = [
        (converted[i] / 2.55, converted[i + 1] - 128, converted[i + 2] - 128)
        for i in range(0, len(converted), 3)
    ]
    return [pixels[row : row + width] for row in range(0, len(pixels), width)]


# Shared by the frame threads and kept between photos: photos repeat their colours.
_COLORS: dict[bytes, Color] = {}
_STYLES: dict[bytes, Style] = {}
_DROP_LOW_BITS = [value & 0xFC for value in range(256)] * 3
_SRGB_TO_LAB = ImageCms.buildTransform(
    ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), "RGB", "LAB"
)


def _color(rgb: bytes) -> Color:
    return Color("", ColorType.TRUECOLOR, triplet=ColorTriplet(rgb[0], rgb[1], rgb[2]))


class PhotoView(Widget):
    """Shows a Frame: its strips line by line, a graphics widget's picture, or a reason."""

    DEFAULT_CSS = """
    PhotoView { width: 1fr; height: 1fr; background: rgb(12,12,12); }
    """

    def __init__(self, graphics: type[Widget] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.frame: Frame | None = None
        self._graphics_class = graphics  # a textual-image widget class, for sixel / kitty
        self._graphics: Widget | None = None

    def show(self, frame: Frame) -> None:
        self.frame = frame
        if self._graphics_class is not None and frame.picture is not None:
            self._show_graphics(frame.picture)
        self.refresh()

    def _show_graphics(self, picture: Image.Image) -> None:
        if self._graphics is None:
            self._graphics = self._graphics_class(picture)
            self._graphics.styles.width = "100%"
            self._graphics.styles.height = "100%"
            self.mount(self._graphics)
        else:
            self._graphics.image = picture

    def render_lines(self, crop: Region) -> list[Strip]:
        """A drawn frame's own strips, as the frame thread turned them into escape codes:
        Textual's usual path wraps every line in a new strip, and the UI thread then turns the
        photo's thousands of segments into escape codes again on every photo change."""
        frame = self.frame
        size = self.size
        if (
            frame is None
            or not frame.strips
            or frame.size != size
            or len(frame.strips) != size.height
            or any(strip.cell_length != size.width for strip in frame.strips)
            or (frame.picture is not None and self._graphics is not None)
        ):
            return super().render_lines(crop)
        strips = frame.strips[crop.y : crop.bottom]
        filters = self.get_line_filters()
        if filters:  # as the styles cache does (a filter's result is cached in the strip)
            background = self.background_colors[1]
            for line_filter in filters:
                strips = [strip.apply_filter(line_filter, background) for strip in strips]
        left, right = crop.column_span
        if (left, right) != (0, size.width):
            strips = [strip.crop(left, right) for strip in strips]
        return strips

    def render_line(self, y: int) -> Strip:
        frame = self.frame
        width = self.size.width
        if frame is None or (frame.picture is not None and self._graphics is not None):
            return Strip.blank(width, self.rich_style)
        if frame.reason and not frame.strips:
            if y == self.size.height // 2:
                text = frame.reason[: max(0, width - 2)]
                pad = max(0, (width - len(text)) // 2)
                return Strip([Segment(" " * pad + text, Style(color="grey62"))]).adjust_cell_length(
                    width, self.rich_style
                )
            return Strip.blank(width, self.rich_style)
        if y < len(frame.strips):
            return frame.strips[y].adjust_cell_length(width, self.rich_style)
        return Strip.blank(width, self.rich_style)
