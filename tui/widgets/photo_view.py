"""The photo on screen: a picture turned into terminal cells, and the widget that shows it.

Half-blocks ("▀" with the upper pixel as foreground and the lower as background) work in every
terminal and in tmux. The lines are built away from the UI thread (see tui.frames), so showing
the next photo is only swapping strips. Where the terminal has sixel or kitty graphics (inside
tmux too, through its passthrough) the photo is sent as real pixels, encoded in the frame
thread as well (tui.graphics).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import Image, ImageCms
from rich.color import Color, ColorTriplet, ColorType
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region, Size
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from tui.delivery import DeliveryCheck
from tui.exposure import NO_AIDS, Aids, Exposure
from tui.graphics import (
    FIRST_IMAGE_ID,
    KITTY,
    LAST_IMAGE_ID,
    Encoded,
    Graphics,
    control,
    kitty_forget,
    kitty_show,
    placeholder_cells,
    placeholder_strip,
    placeholder_style,
    sixel_show,
)
from tui.widgets.photo_codes import PhotoStrip

UPPER_HALF = "▀"
BACKGROUND = (12, 12, 12)
# How far (CIE94 distance, see LabPixels) a half-block pixel may be drawn from its own colour.
# About 2.3 is the least difference one sees between two patches; at 2.5 a photo at 160 columns
# looks the same side by side and is written in about half the bytes (tests/tui/
# test_photo_codes.py). With the plain CIELAB distance, from 3 on skies and clouds showed
# horizontal streaks: the runs of one colour became visible.
MAX_DELTA_E = 2.5


@dataclass(frozen=True)
class Frame:
    """One photo drawn for one pane size: ready strips (half-blocks), or the picture itself and
    its encoding for a graphics terminal, or the reason there is nothing to draw."""

    photo_id: int
    size: Size  # cells
    zoom: bool
    strips: list[Strip] = field(default_factory=list)
    picture: Image.Image | None = None  # for sixel / kitty
    reason: str | None = None
    encoded: Encoded | None = None  # the picture, ready for a sixel / kitty terminal
    aids: Aids = NO_AIDS  # the exposure aids asked for when it was drawn
    exposure: Exposure | None = None  # what they say of this picture
    marked: Frame | None = None  # the same with its clipping painted, to blink with


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
    most ``max_delta_e`` (CIE94 distance): smooth areas become runs of one colour, written to
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
    lab = LabPixels(picture)
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
        upper_at, lower_at = y * width, (y + 1) * width  # pixel indexes in ``lab``
        segments = [pad_left] if pad_left else []
        # Each half is drawn in the colour of a pixel near it in its run (see ``_runs``): the
        # colour is written to the terminal once per run, and the cells join into segments.
        fg_from = _runs(lab, upper_at, width, near)
        bg_from = _runs(lab, lower_at, width, near)
        run_key: bytes | None = None
        run = 0
        for x in range(width):
            at = bg_from[x]
            if lab.distance(lower_at + at, upper_at + x) <= near:
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


def _runs(lab: LabPixels, start_at: int, width: int, near: float) -> list[int]:
    """For each pixel of a line (``width`` pixels from index ``start_at`` of ``lab``), the
    pixel (0 to width - 1) whose colour it is drawn in: the runs are as long as one of their
    pixels stays within ``near`` (a squared CIE94 distance) of every other, so each pixel is
    drawn at most that far from its own colour."""
    chosen: list[int] = []
    lightness, a_star, b_star, chroma, root = lab.lightness, lab.a, lab.b, lab.chroma, lab.root
    distance = lab.distance
    start = anchor = 0
    at = start_at
    anchor_l, anchor_a, anchor_b, anchor_c, anchor_r = (
        (lightness[at], a_star[at], b_star[at], chroma[at], root[at]) if width else (0, 0, 0, 0, 0)
    )
    for x in range(width):
        at = start_at + x
        # LabPixels.distance written out: this runs for every pixel.
        both = anchor_r * root[at]
        chroma_scale, hue_scale = 1 + 0.045 * both, 1 + 0.015 * both
        d_c = anchor_c - chroma[at]
        d_ab = (anchor_a - a_star[at]) ** 2 + (anchor_b - b_star[at]) ** 2
        if (anchor_l - lightness[at]) ** 2 + d_c * d_c / (chroma_scale * chroma_scale) + (
            d_ab - d_c * d_c
        ) / (hue_scale * hue_scale) > near:
            # The newcomer may hold the run together where the anchor cannot.
            if all(distance(at, start_at + i) <= near for i in range(start, x)):
                chosen[start:x] = [x] * (x - start)
            else:
                start = x
            anchor = x
            anchor_l, anchor_a, anchor_b = lightness[at], a_star[at], b_star[at]
            anchor_c, anchor_r = chroma[at], root[at]
        chosen.append(anchor)
    return chosen


class LabPixels:
    """A picture's pixels in CIELAB (L*, a*, b*, and the chroma C*), by index (y * width + x),
    and how different two of them look: the CIE94 distance (graphic arts weights), which
    tolerates larger differences of chroma and hue in saturated colours, where the eye sees
    them less than the plain CIELAB distance says. About 2.3 is the least difference one sees;
    the chroma weights use both pixels' chroma (their geometric mean), so the distance is the
    same both ways."""

    __slots__ = ("a", "b", "chroma", "lightness", "root")

    def __init__(self, picture: Image.Image) -> None:
        # In plain Python (as fast as numpy at these sizes): numpy's import would cost the
        # app's start 70-150 ms before its first photo.
        codes = lab_bytes(picture)
        # Pillow keeps L* times 2.55, a* and b* plus 128
        self.lightness: list[float] = [value / 2.55 for value in codes[0::3]]
        self.a: list[float] = [value - 128.0 for value in codes[1::3]]
        self.b: list[float] = [value - 128.0 for value in codes[2::3]]
        self.chroma: list[float] = list(map(math.hypot, self.a, self.b))
        self.root: list[float] = list(map(math.sqrt, self.chroma))  # two multiplied: their mean

    def distance(self, one: int, other: int) -> float:
        """The squared CIE94 distance of pixels ``one`` and ``other``."""
        both = self.root[one] * self.root[other]
        chroma_scale, hue_scale = 1 + 0.045 * both, 1 + 0.015 * both
        d_c = self.chroma[one] - self.chroma[other]
        d_ab = (self.a[one] - self.a[other]) ** 2 + (self.b[one] - self.b[other]) ** 2
        return (
            (self.lightness[one] - self.lightness[other]) ** 2
            + d_c * d_c / (chroma_scale * chroma_scale)
            + (d_ab - d_c * d_c) / (hue_scale * hue_scale)
        )


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


def lab_bytes(picture: Image.Image) -> bytes:
    """An RGB picture's pixels in CIELAB, three bytes each as Pillow keeps them: L* times 2.55,
    a* and b* plus 128. Distances in CIELAB are about how different two colours look (about
    2.3 is the least one sees)."""
    return ImageCms.applyTransform(picture, _SRGB_TO_LAB).tobytes()


# Shared by the frame threads and kept between photos: photos repeat their colours.
_COLORS: dict[bytes, Color] = {}
_STYLES: dict[bytes, Style] = {}
_DROP_LOW_BITS = [value & 0xFC for value in range(256)] * 3
_SRGB_TO_LAB = ImageCms.buildTransform(
    ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), "RGB", "LAB"
)


def _color(rgb: bytes) -> Color:
    return Color("", ColorType.TRUECOLOR, triplet=ColorTriplet(rgb[0], rgb[1], rgb[2]))


_image_ids = itertools.cycle(range(FIRST_IMAGE_ID, LAST_IMAGE_ID + 1))
_image_ids_in_use: set[int] = set()  # across the app's views (the UI thread's alone)


def _take_image_id() -> int:
    """An id no view's picture holds in the terminal now."""
    for _ in range(LAST_IMAGE_ID - FIRST_IMAGE_ID + 1):
        image_id = next(_image_ids)
        if image_id not in _image_ids_in_use:
            _image_ids_in_use.add(image_id)
            return image_id
    return next(_image_ids)  # every id held (never, with a few views of two pictures each)


def changed_bands(old: Frame | None, new: Frame, size: Size) -> list[tuple[int, int]] | None:
    """The lines (top, bottom) where ``new``'s half-blocks differ from ``old``'s, both drawn
    whole for ``size``: the rest of the screen shows ``new`` already (a photo's letterbox, the
    same photo drawn again, its clipping blinking). None when every line is to be drawn."""
    if old is None or not _whole(old, size) or not _whole(new, size):
        return None
    bands: list[tuple[int, int]] = []
    for y, (was, now) in enumerate(zip(old.strips, new.strips, strict=True)):
        # Lines that differ mostly differ in their first segments: the comparison stops there.
        if was == now:
            continue
        if bands and bands[-1][1] == y:
            bands[-1] = (bands[-1][0], y + 1)
        else:
            bands.append((y, y + 1))
    return bands


def _whole(frame: Frame, size: Size) -> bool:
    """Half-block strips filling ``size`` (not a reason, not a picture for a graphics
    terminal)."""
    return (
        frame.size == size
        and frame.encoded is None
        and len(frame.strips) == size.height
        and all(strip.cell_length == size.width for strip in frame.strips)
    )


class PhotoView(Widget):
    """Shows a Frame: its strips line by line, its picture as real pixels, or a reason.

    kitty pictures sit under placeholder cells whose colour names the image (the picture
    fitted in the whole pane). Each new picture has an id of its own, and the previous one is
    freed after it: cells naming a picture that never arrived are blank, never the previous
    photo (a picture found missing is sent again, tui.delivery). A sixel is drawn over blank
    cells each time the view is drawn, since any text drawn there covers it.

    A frame with a marked twin (its clipping painted, tui.exposure) blinks: the view swaps the
    two every BLINK_SECONDS. In kitty the twin has an image id of its own, so each picture is
    sent once and a blink only names the other image in the cells."""

    DEFAULT_CSS = """
    PhotoView { width: 1fr; height: 1fr; background: rgb(12,12,12); }
    """

    class Shown(Message):
        """A frame is on screen now (the pane's other parts say what goes with it)."""

        def __init__(self, frame: Frame) -> None:
            super().__init__()
            self.frame = frame

    def __init__(self, graphics: Graphics | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.frame: Frame | None = None
        self.graphics = graphics
        # kitty's names for the pictures this view keeps in the terminal: the frame's and its
        # marked twin's, a new id for each new picture (see _forget_all_but)
        self._names: list[tuple[Encoded, int]] = []
        self._to_send: dict[int, str] = {}  # kitty pictures waiting to be written, by id
        self._to_forget: list[int] = []  # ids of pictures no longer shown, to free after them
        self._sent: dict[int, Encoded] = {}  # what each id holds in the terminal
        self._placeholders: tuple[tuple[Size, bool], list[list[str]]] | None = None
        self._placeholders_shown: tuple[Size, int] | None = None  # cells, the id they name
        self.pane_offset = (0, 0)  # where tmux's pane is in the outer terminal (sixel)
        self.on_screen: Frame | None = None  # the frame, or its marked twin while it blinks
        self._blink_timer = None
        self._to_send_bytes = 0  # the pictures' own bytes among them, for the delivery check
        self._delivery: DeliveryCheck | None = None

    class Lost(Message):
        """A picture this view sent did not reach the terminal (tui.delivery)."""

        bubble = False

    def on_mount(self) -> None:
        if self.graphics is not None and self.graphics.passthrough:
            # One check per app, shared by its views (the compare pane has several).
            check = getattr(self.app, "picture_delivery", None)
            if check is None:
                check = self.app.picture_delivery = DeliveryCheck()
            self._delivery = check
            check.join(id(self), self._picture_lost)

    def on_unmount(self) -> None:
        if self._delivery is not None:
            self._delivery.leave(id(self))
        _image_ids_in_use.difference_update(image_id for _, image_id in self._names)
        _image_ids_in_use.difference_update(self._to_forget)

    @property
    def image_id(self) -> int | None:
        """The id naming the frame's picture in the terminal (kitty), once it has one."""
        return self._named(self.frame.encoded if self.frame is not None else None)

    @property
    def marked_image_id(self) -> int | None:
        """... and its marked twin's."""
        marked = self.frame.marked if self.frame is not None else None
        return self._named(marked.encoded if marked is not None else None)

    def _picture_lost(self) -> None:  # the delivery check's thread
        self.post_message(self.Lost())

    def on_photo_view_lost(self, message: Lost) -> None:
        """Send the picture on screen again (and its twin at its next blink)."""
        self._sent.clear()
        frame = self.on_screen
        if frame is not None and frame.encoded is not None:
            if frame.encoded.protocol == KITTY:
                self._present(frame)
            else:
                self.refresh()

    def show(self, frame: Frame) -> None:
        previous, self.frame = self.frame, frame
        self._forget_all_but(frame)
        self.post_message(self.Shown(frame))
        # Keep the blink's phase: a new photo shows its marks at once if they were showing.
        marked_now = previous is not None and self.on_screen is previous.marked
        if frame.marked is None:
            if self._blink_timer is not None:
                self._blink_timer.pause()
            self._present(frame)
            return
        if self._blink_timer is None:
            self._blink_timer = self.set_interval(BLINK_SECONDS, self._blink)
        else:
            self._blink_timer.resume()
        self._present(frame.marked if marked_now else frame)

    def _blink(self) -> None:
        frame = self.frame
        if frame is None or frame.marked is None:
            return
        self._present(frame if self.on_screen is frame.marked else frame.marked)

    def _present(self, frame: Frame) -> None:
        previous, self.on_screen = self.on_screen, frame
        encoded = frame.encoded if self.graphics is not None else None
        if encoded is not None and encoded.protocol == KITTY:
            image_id = self._image_id_of(frame)
            if self._sent.get(image_id) is not encoded:
                self._to_send[image_id] = kitty_show(encoded, image_id, self.graphics.passthrough)
                self._to_send_bytes += len(encoded.data)
                self._sent[image_id] = encoded
            if self._placeholders_shown == (encoded.cells, image_id) and encoded.cells == self.size:
                # The cells on screen name this image already: only a new picture goes.
                if self._to_send:
                    self.refresh(Region(0, 0, self.size.width, 1))
                return
        bands = None if encoded is not None else changed_bands(previous, frame, self.size)
        if bands is None:
            self.refresh()
        elif bands:  # only the lines that differ from those on screen are written again
            width = self.size.width
            self.refresh(*(Region(0, top, width, bottom - top) for top, bottom in bands))

    def _image_id_of(self, frame: Frame) -> int:
        image_id = self._named(frame.encoded)
        if image_id is None:
            image_id = _take_image_id()
            self._names.append((frame.encoded, image_id))
        return image_id

    def _named(self, encoded: Encoded | None) -> int | None:
        for known, image_id in self._names:
            if known is encoded:
                return image_id
        return None

    def _forget_all_but(self, frame: Frame) -> None:
        """Free the ids of pictures ``frame`` does not show. Each new picture has an id of its
        own, so a picture that never reached the terminal (tui.delivery) leaves its cells
        blank until it is sent again, rather than showing the previous photo."""
        keep = [frame.encoded, frame.marked.encoded if frame.marked is not None else None]
        for encoded, image_id in [name for name in self._names if name[0] is not None]:
            if not any(encoded is kept for kept in keep):
                self._names.remove((encoded, image_id))
                self._to_send.pop(image_id, None)
                if self._sent.pop(image_id, None) is not None:
                    self._to_forget.append(image_id)
                else:
                    _image_ids_in_use.discard(image_id)

    class Resized(Message):
        """The view has a new size: its photo is to be drawn for it."""

    def on_resize(self) -> None:
        self.post_message(self.Resized())
        if self.graphics is not None and self.graphics.passthrough:
            from tui.renderer import pane_offset  # the pane may have moved with the window

            self.pane_offset = pane_offset()

    def render_lines(self, crop: Region) -> list[Strip]:
        """A drawn frame's own strips, as the frame thread turned them into escape codes:
        Textual's usual path wraps every line in a new strip, and the UI thread then turns the
        photo's thousands of segments into escape codes again on every photo change."""
        frame = self.on_screen
        size = self.size
        encoded = frame.encoded if frame is not None and self.graphics is not None else None
        if encoded is not None and encoded.cells == size:
            return self._graphics_lines(frame, encoded, crop)
        self._placeholders_shown = None
        if (
            frame is None
            or not frame.strips
            or frame.size != size
            or len(frame.strips) != size.height
            or any(strip.cell_length != size.width for strip in frame.strips)
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

    def _graphics_lines(self, frame: Frame, encoded: Encoded, crop: Region) -> list[Strip]:
        """Placeholder cells (kitty) or blank cells under a sixel. No line filter: the
        placeholders' colour is the image's name, not a colour to change."""
        if encoded.protocol == KITTY:
            at_margin = self.region.right >= self.screen.size.width
            rows = self._placeholder_rows(encoded.cells, at_margin)
            image_id = self._image_id_of(frame)
            style = placeholder_style(image_id)
            passthrough = self.graphics.passthrough
            strips = []
            for y in range(crop.y, crop.bottom):
                prefix = "".join(self._to_send.values())
                if self._to_forget and prefix:  # after the new picture, in the same write
                    prefix += "".join(kitty_forget(old, passthrough) for old in self._to_forget)
                    _image_ids_in_use.difference_update(self._to_forget)
                    self._to_forget.clear()
                self._to_send.clear()
                strips.append(placeholder_strip(rows[y][crop.x : crop.right], style, prefix))
            self._handed_to_tmux(self._to_send_bytes)
            self._to_send_bytes = 0
            self._placeholders_shown = (encoded.cells, image_id)
            return strips
        blank = Strip([Segment(" " * crop.width, _BACKGROUND_STYLE)], crop.width)
        strips = [blank] * crop.height
        if strips:
            # Last, after the blank cells it covers; from the view's top-left, whatever part
            # of it is drawn now (the sixel is the whole view).
            top = self.region.y + self.pane_offset[0]
            left = self.region.x + self.pane_offset[1]
            sixel = sixel_show(encoded, top, left, self.graphics.passthrough)
            strips[-1] = Strip([*blank, control(sixel)], crop.width)
            self._handed_to_tmux(len(encoded.data))
        return strips

    def _handed_to_tmux(self, nbytes: int) -> None:
        if nbytes and self._delivery is not None:
            self._delivery.sent(nbytes, self._picture_lost)

    def _placeholder_rows(self, cells: Size, at_margin: bool) -> list[list[str]]:
        if self._placeholders is None or self._placeholders[0] != (cells, at_margin):
            rows = [placeholder_cells(row, cells.width, at_margin) for row in range(cells.height)]
            self._placeholders = ((cells, at_margin), rows)
        return self._placeholders[1]

    def render_line(self, y: int) -> Strip:
        frame = self.on_screen
        width = self.size.width
        if frame is None:
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


_BACKGROUND_STYLE = Style(bgcolor=Color.from_rgb(*BACKGROUND))
BLINK_SECONDS = 0.5  # clipping marks on, then off, each this long
