"""Thumbnails for the contact-sheet grid and the filmstrip: pictures drawn as half-blocks in a
background thread (from the preview cache, decoded at 1/8), the ones on screen first, then the
ones the next key will show; kept, most recently used, so scrolling back costs nothing. Also the
pieces a row of tiles is made of: a tile's picture lines, its caption, its margin.

The UI thread never decodes nor draws a picture: it joins ready lines into rows of tiles. The
thread tells the UI once that thumbnails are ready, and again only after the UI has looked
(``ready_seen``): a page of 60 thumbnails drawn in a row is one repaint or two, not sixty.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PIL import Image
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.strip import Strip

from core.darktable.facts import LABEL_NAMES
from core.triage.tiles import TileFacts
from tui.widgets.photo_view import BACKGROUND, halfblock_strips

# photo id, the least picture size in pixels -> the picture, or why there is none
PictureLoader = Callable[[int, tuple[int, int]], tuple[Image.Image | None, str | None]]
Key = tuple[int, Size]  # photo id, the picture's size in cells
# About 2,000 tiles: a 1,000-photo shoot at two tile sizes (grid and filmstrip), a few MB.
KEEP_THUMBNAILS = 2_000
# Thumbnails are small: a coarser colour match than the photo's own costs nothing one sees
# and writes fewer bytes to the terminal.
THUMBNAIL_DELTA_E = 4.0
# Thumbnails drawn ahead (the next page) wait for the screen to be painted after a key, as they
# would slow it down (the thread and the paint share Python's lock); at most this long.
AHEAD_WAITS_SECONDS = 0.3
WAITING_MARK = "◌"  # in the middle of a tile whose picture is not drawn yet

DECISION_MARKS = {"approved": ("✓", "bold green"), "rejected": ("✗", "bold red"),
                  "pending": ("·", "grey50")}  # fmt: skip
LABEL_COLOURS = {"red": "red", "yellow": "yellow", "green": "green", "blue": "dodger_blue1",
                 "purple": "medium_purple1"}  # fmt: skip
SELECTED_MARK = "◆"
_BACKGROUND = Style(bgcolor=Color.from_rgb(*BACKGROUND))
_CAPTION = Style(color="grey85", bgcolor="grey15")
_CAPTION_SELECTED = Style(color="white", bgcolor="dark_cyan")
_CAPTION_FOCUSED = Style(color="black", bgcolor="gold1", bold=True)
_FOCUS_BAR = Style(color="gold1", bgcolor=Color.from_rgb(*BACKGROUND))
_SELECTED_BAR = Style(color="dark_cyan", bgcolor=Color.from_rgb(*BACKGROUND))


@dataclass(frozen=True)
class Thumbnail:
    """One picture drawn for one tile size: its lines, or why there are none."""

    strips: list[Strip]
    reason: str | None = None


class ThumbnailMaker:
    """Draws the thumbnails last asked for (``want``), in order, in one thread of its own."""

    def __init__(
        self,
        load: PictureLoader,
        on_ready: Callable[[], None],
        keep: int = KEEP_THUMBNAILS,
    ) -> None:
        self._load = load
        self._on_ready = on_ready
        self._keep = keep
        self._thumbnails: OrderedDict[Key, Thumbnail] = OrderedDict()
        self._wanted: list[Key] = []
        self._on_screen = 0  # how many of the wanted are on screen (the rest are ahead)
        self._asked_at = 0.0  # when the keys were last asked for (monotonic)
        self._painted = True  # the screen has been painted since
        self._told = False  # the UI was told and has not looked since
        self._lock = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(
            target=self._draw_wanted, name="shootwatch-thumbnails", daemon=True
        )
        self._thread.start()

    def get(self, photo_id: int, size: Size) -> Thumbnail | None:
        with self._lock:
            thumbnail = self._thumbnails.get((photo_id, size))
            if thumbnail is not None:
                self._thumbnails.move_to_end((photo_id, size))
            return thumbnail

    def want(self, keys: Sequence[Key], on_screen: int | None = None) -> None:
        """Draw these, first things first, instead of what was wanted before; those after the
        first ``on_screen`` (the ones ahead) wait for ``painted`` (or a short while)."""
        on_screen = len(keys) if on_screen is None else on_screen
        with self._lock:
            self._wanted = [key for key in keys[:on_screen] if key not in self._thumbnails]
            self._on_screen = len(self._wanted)
            self._wanted += [key for key in keys[on_screen:] if key not in self._thumbnails]
            self._asked_at = time.monotonic()
            self._painted = on_screen >= len(keys)
            self._lock.notify_all()

    def painted(self) -> None:
        """The screen shows what was asked for: thumbnails ahead may be drawn now."""
        with self._lock:
            self._painted = True
            self._lock.notify_all()

    def ready_seen(self) -> None:
        """The UI has looked at what is ready: the next thumbnail drawn tells it again."""
        with self._lock:
            self._told = False

    def forget(self, photo_id: int) -> None:
        with self._lock:
            for key in [key for key in self._thumbnails if key[0] == photo_id]:
                del self._thumbnails[key]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._wanted = []
            self._lock.notify_all()
        self._thread.join(timeout=2)

    def _draw_wanted(self) -> None:
        while True:
            with self._lock:
                while not self._closed and not self._ready_to_draw():
                    self._lock.wait(timeout=0.05 if self._wanted else None)
                if self._closed:
                    return
                key = self._wanted.pop(0)
                self._on_screen = max(0, self._on_screen - 1)
                if key in self._thumbnails:
                    continue
            thumbnail = self._draw(key)
            with self._lock:
                if self._closed:
                    return
                self._thumbnails[key] = thumbnail
                while len(self._thumbnails) > self._keep:
                    self._thumbnails.popitem(last=False)
                tell, self._told = not self._told, True
            if tell:
                self._on_ready()

    def _ready_to_draw(self) -> bool:
        if not self._wanted:
            return False
        if self._on_screen or self._painted:
            return True
        return time.monotonic() - self._asked_at >= AHEAD_WAITS_SECONDS

    def _draw(self, key: Key) -> Thumbnail:
        photo_id, size = key
        try:
            picture, reason = self._load(photo_id, (size.width, size.height * 2))
            if picture is None:
                return Thumbnail([], reason or "no preview")
            strips = halfblock_strips(picture, size, max_delta_e=THUMBNAIL_DELTA_E)
        except Exception as error:  # a thumbnail that cannot be drawn says why, never crashes
            return Thumbnail([], f"cannot be shown: {error}")
        return Thumbnail(strips)


# --- the pieces of a row of tiles ---------------------------------------------------------------


def picture_line(thumbnail: Thumbnail | None, size: Size, y: int) -> list[Segment]:
    """Line ``y`` of a tile's picture area (``size`` cells): the drawn picture's, or blank with
    a mark in the middle while it is being drawn (a word when it cannot be)."""
    if thumbnail is not None and thumbnail.strips:
        strip = thumbnail.strips[y] if y < len(thumbnail.strips) else None
        if strip is not None and strip.cell_length == size.width:
            return list(strip)
        return [Segment(" " * size.width, _BACKGROUND)]
    if y != size.height // 2:
        return [Segment(" " * size.width, _BACKGROUND)]
    text = WAITING_MARK if thumbnail is None else "no picture" if size.width >= 10 else "-"
    pad = max(0, (size.width - len(text)) // 2)
    text = (" " * pad + text)[: size.width].ljust(size.width)
    return [Segment(text, Style(color="grey50", bgcolor=Color.from_rgb(*BACKGROUND)))]


def margin(focused: bool, selected: bool) -> Segment:
    """The column left of a tile: a bar beside the focused tile (and a selected one)."""
    if focused:
        return Segment("▌", _FOCUS_BAR)
    if selected:
        return Segment("▌", _SELECTED_BAR)
    return Segment(" ", _BACKGROUND)


def caption(
    facts: TileFacts | None,
    width: int,
    focused: bool = False,
    selected: bool = False,
    selectable: bool = True,
) -> list[Segment]:
    """A tile's one-line caption, ``width`` cells: selected mark (where photos can be
    selected), decision mark, the file name (without its extension when short of room, then
    cut in its middle, so the camera's number stays), labels and stars ("3★" when short)."""
    base = _CAPTION_FOCUSED if focused else _CAPTION_SELECTED if selected else _CAPTION
    if facts is None or width < 1:
        return [Segment(" " * max(0, width), base)]
    mark, mark_style = DECISION_MARKS.get(facts.decision, ("?", "grey50"))
    head = [Segment(SELECTED_MARK if selected else " ", base)] if selectable else []
    head.append(Segment(mark, base if focused else base + Style.parse(mark_style)))
    labels = [name for bit, name in enumerate(LABEL_NAMES) if facts.labels & (1 << bit)]
    name = facts.name
    stars = "★" * facts.rating
    room = width - len(head) - 1 - len(labels) - (len(stars) + 1 if stars else 0)
    if room < len(name):
        name = os.path.splitext(name)[0] or name
    if room < len(name) and stars:
        stars = f"{facts.rating}★"
        room = width - len(head) - 1 - len(labels) - len(stars) - 1
    if room < 4:  # a narrow tile: the name before the stars and labels
        labels, stars, room = [], "", width - len(head) - 1
    name = _shortened(name, max(0, room))
    segments = [*head, Segment(" " + name, base), Segment(" " * max(0, room - len(name)), base)]
    for label in labels:
        segments.append(Segment("●", base + Style(color=LABEL_COLOURS[label])))
    if stars:
        star_style = base if focused else base + Style(color="gold1")
        segments.append(Segment(" " + stars, star_style))
    return list(Segment.adjust_line_length(segments, width, base))


def _shortened(name: str, room: int) -> str:
    if len(name) <= room:
        return name
    if room <= 1:
        return name[:room]
    keep_end = (room - 1) // 2
    return name[: room - 1 - keep_end] + "…" + (name[-keep_end:] if keep_end else "")


def blank(width: int) -> list[Segment]:
    return [Segment(" " * width, _BACKGROUND)] if width > 0 else []
