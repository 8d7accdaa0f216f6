"""The photo on screen: a picture turned into terminal cells, and the widget that shows it.

Half-blocks ("▀" with the upper pixel as foreground and the lower as background) work in every
terminal and in tmux. The lines are built away from the UI thread (see tui.frames), so showing
the next photo is only swapping strips. Where the terminal has sixel or kitty graphics the
photo is drawn by textual-image instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import Image
from rich.color import Color, ColorTriplet, ColorType
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widget import Widget

UPPER_HALF = "▀"
BACKGROUND = (12, 12, 12)


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
) -> list[Strip]:
    """``image`` scaled to fit ``cells`` (or cropped 1:1 at the centre when ``zoom``), centred,
    as one Strip per terminal line. ``between_lines`` is called after each line (drawing holds
    Python's lock; the caller can let the UI thread have it)."""
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
    left = (cells.width - width) // 2
    top = (cells.height - height // 2) // 2
    blank = Strip([Segment(" " * cells.width, Style(bgcolor=Color.from_rgb(*BACKGROUND)))])
    pad_left = Segment(" " * left, Style(bgcolor=Color.from_rgb(*BACKGROUND))) if left else None
    right = cells.width - width - left
    pad_right = Segment(" " * right, Style(bgcolor=Color.from_rgb(*BACKGROUND))) if right else None
    styles, colors = _STYLES, _COLORS
    if len(styles) > 400_000:  # about 100 MB: start again rather than grow without end
        styles.clear()
        colors.clear()
    strips = [blank] * top
    row_bytes = width * 3
    for y in range(0, height, 2):
        if between_lines is not None:
            between_lines()
        upper = pixels[y * row_bytes : (y + 1) * row_bytes]
        lower = pixels[(y + 1) * row_bytes : (y + 2) * row_bytes]
        segments = [pad_left] if pad_left else []
        run_style: Style | None = None
        run = 0
        for x in range(0, row_bytes, 3):
            key = upper[x : x + 3] + lower[x : x + 3]
            style = styles.get(key)
            if style is None:
                upper_rgb, lower_rgb = key[:3], key[3:]
                fg = colors.get(upper_rgb) or colors.setdefault(upper_rgb, _color(upper_rgb))
                bg = colors.get(lower_rgb) or colors.setdefault(lower_rgb, _color(lower_rgb))
                style = styles[key] = Style.from_color(fg, bg)
            if style is run_style:
                run += 1
                continue
            if run:
                segments.append(Segment(UPPER_HALF * run, run_style))
            run_style, run = style, 1
        if run:
            segments.append(Segment(UPPER_HALF * run, run_style))
        if pad_right:
            segments.append(pad_right)
        strips.append(Strip(segments, cells.width))
    strips.extend([blank] * (cells.height - len(strips)))
    return strips


# Shared by the frame threads and kept between photos: photos repeat their colours.
_COLORS: dict[bytes, Color] = {}
_STYLES: dict[bytes, Style] = {}
_DROP_LOW_BITS = [value & 0xFC for value in range(256)] * 3


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
