"""The contact sheet of the triage pane: as many thumbnails of the queue as the pane holds, each
with a caption (name, decision, stars, selected), the focus on the photo the single view shows,
and a selection of several photos (one by one, a range, a whole burst) that the decision keys
then decide for all at once.

It shows the triage pane's queue and stands on its photo: a move here moves the pane at once
(``move_pane``, in the same key handler, so the sheet and the pane's lines are painted in one
frame), and the pane tells the grid (``follow``) whenever its queue, photo or a photo's
decision changes. Only the tiles on screen are read and drawn; the next page is drawn ahead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.segment import Segment
from textual.geometry import Region, Size
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from core.store.photos import burst_members
from core.triage.people import SeenDecisions
from core.triage.tiles import TileFacts, tile_facts
from tui import keymap
from tui.widgets.photo_codes import PhotoStrip
from tui.widgets.thumbnails import ThumbnailMaker, blank, caption, margin, picture_line

# A tile's cells, its margin and caption included: a 3:2 picture of 25 x 8 cells (half-block
# pixels are square: 25 x 16). The pane's room is shared out among whole tiles.
TILE_WIDTH = 26
TILE_HEIGHT = 9


@dataclass(frozen=True)
class Layout:
    """How a pane of ``size`` cells is cut into tiles."""

    columns: int
    rows: int
    tile_width: int
    tile_height: int

    @property
    def picture(self) -> Size:
        return Size(max(1, self.tile_width - 1), max(1, self.tile_height - 1))

    @property
    def page(self) -> int:
        return self.columns * self.rows


def layout_for(size: Size) -> Layout:
    columns = max(1, size.width // TILE_WIDTH)
    rows = max(1, size.height // TILE_HEIGHT)
    return Layout(columns, rows, max(2, size.width // columns), max(2, size.height // rows))


class Grid(Widget, can_focus=True):
    class Opened(Message):
        """The photo at ``index`` is to be seen alone."""

        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    BINDINGS = keymap.bindings("grid", {})
    DEFAULT_CSS = """
    Grid { width: 1fr; height: 1fr; background: rgb(12,12,12); }
    """

    def __init__(
        self,
        db,
        thumbnails: ThumbnailMaker,
        move_pane: Callable[[int], None],
        seen: SeenDecisions | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.db = db
        self.seen = seen  # the pane's: whose decisions the captions' marks show
        self.thumbnails = thumbnails
        self._move_pane = move_pane  # the triage pane stands on the queue's index given
        self.photo_ids: list[int] = []
        self.index = 0  # the focus, in the queue
        self.top = 0  # the first row of tiles on screen
        self.selected: set[int] = set()
        self._anchor: int | None = None  # where a shift+arrow range started
        self._before_range: frozenset[int] = frozenset()  # the selection before that range
        self._facts: dict[int, TileFacts] = {}
        # The tiles on screen whose pictures were drawn when last painted: a thumbnail that
        # arrives repaints its own tile, not the sheet (a sheet is about as many bytes to the
        # terminal as a photo; tmux spends its time reading them).
        self._painted: set[int] = set()
        self.latencies: list[float] = []  # key -> every tile on screen drawn, seconds
        self._pressed_at: float | None = None

    @property
    def layout(self) -> Layout:
        return layout_for(self.size)

    @property
    def photo_id(self) -> int | None:
        return self.photo_ids[self.index] if self.photo_ids else None

    def visible(self) -> list[int]:
        """The photo ids of the tiles on screen, in reading order."""
        layout = self.layout
        first = self.top * layout.columns
        return self.photo_ids[first : first + layout.page]

    def all_drawn(self) -> bool:
        """Every tile on screen has its picture (or the reason it has none)."""
        picture = self.layout.picture
        return all(self.thumbnails.get(pid, picture) is not None for pid in self.visible())

    # --- following the pane ------------------------------------------------------------------

    def follow(self, photo_ids: list[int], index: int) -> None:
        """Show this queue standing on ``index``: the selection keeps the photos still in it."""
        if photo_ids is self.photo_ids and index == self.index and self.display:
            self._update_captions()  # where it stands already (it moved there itself)
            return
        if photo_ids is not self.photo_ids:
            members = set(photo_ids)
            self.selected &= members
            self._before_range = frozenset(self._before_range & members)
            self._anchor = None
        self.photo_ids = photo_ids
        self.index = max(0, min(index, len(photo_ids) - 1))
        self._keep_focus_in_view()
        self.update_tiles()

    def update_tiles(self, repaint: bool = True) -> None:
        """Read the captions of the tiles on screen, ask for their pictures (then the next
        page's, then the previous page's), and draw (all of it, unless not ``repaint``)."""
        if not self.display or self.size.width < 1:
            return
        layout = self.layout
        shown = self.visible()
        self._facts = tile_facts(self.db, shown, self.seen)
        picture = layout.picture
        self._painted = {pid for pid in shown if self.thumbnails.get(pid, picture) is not None}
        first = self.top * layout.columns
        after = self.photo_ids[first + layout.page : first + 2 * layout.page]
        before = self.photo_ids[max(0, first - layout.page) : first]
        focus = [self.photo_id] if self.photo_id in shown else []
        on_screen = [*focus, *shown]
        wanted = [*on_screen, *after, *reversed(before)]
        self.thumbnails.want([(pid, picture) for pid in wanted], len(on_screen))
        if repaint:
            self.refresh()
        self._mark_if_drawn()
        self.call_after_refresh(self.thumbnails.painted)

    def thumbnails_ready(self) -> None:
        """Some thumbnails were drawn (the pane says so on the UI thread): their tiles are
        painted again, and only theirs."""
        layout = self.layout
        picture = layout.picture
        for at, photo_id in enumerate(self.visible()):
            if photo_id in self._painted or self.thumbnails.get(photo_id, picture) is None:
                continue
            self._painted.add(photo_id)
            row, column = divmod(at, layout.columns)
            self.refresh(Region(column * layout.tile_width, row * layout.tile_height,
                                layout.tile_width, picture.height))  # fmt: skip
        self._mark_if_drawn()

    def _refresh_tile(self, index: int) -> None:
        layout = self.layout
        row, column = divmod(index, layout.columns)
        row -= self.top
        if 0 <= row < layout.rows:
            self.refresh(Region(column * layout.tile_width, row * layout.tile_height,
                                layout.tile_width, layout.tile_height))  # fmt: skip

    def _update_captions(self) -> None:
        """The captions read again (a decision, stars): painted again where they changed."""
        layout = self.layout
        shown = self.visible()
        facts = tile_facts(self.db, shown, self.seen)
        changed, self._facts = facts != self._facts, facts
        if changed:
            for row in range(layout.rows):
                y = (row + 1) * layout.tile_height - 1
                self.refresh(Region(0, y, self.size.width, 1))

    def _mark_if_drawn(self) -> None:
        if self._pressed_at is None or not self.all_drawn():
            return
        pressed, self._pressed_at = self._pressed_at, None
        self.call_after_refresh(lambda: self.latencies.append(time.perf_counter() - pressed))

    def on_resize(self) -> None:
        self._keep_focus_in_view()
        self.update_tiles()

    def on_show(self) -> None:
        # Its thumbnails are asked for again: the filmstrip may have asked for others since.
        self._keep_focus_in_view()
        self.update_tiles()

    def _keep_focus_in_view(self) -> None:
        layout = self.layout
        row = self.index // layout.columns
        if row < self.top:
            self.top = row
        elif row >= self.top + layout.rows:
            self.top = row - layout.rows + 1
        last_top = max(0, -(-len(self.photo_ids) // layout.columns) - layout.rows)
        self.top = max(0, min(self.top, last_top))

    # --- drawing -----------------------------------------------------------------------------

    def render_lines(self, crop: Region) -> list[Strip]:
        """Rows of tiles joined from ready thumbnail lines (nothing is decoded or drawn here),
        written with the photo view's own escape codes."""
        width = self.size.width
        strips: list[Strip] = [self._line(y, width) for y in range(crop.y, crop.bottom)]
        filters = self.get_line_filters()
        if filters:
            background = self.background_colors[1]
            for line_filter in filters:
                strips = [strip.apply_filter(line_filter, background) for strip in strips]
        left, right = crop.column_span
        if (left, right) != (0, width):
            strips = [strip.crop(left, right) for strip in strips]
        return strips

    def _line(self, y: int, width: int) -> Strip:
        layout = self.layout
        row, line = divmod(y, layout.tile_height)
        if row >= layout.rows:
            return PhotoStrip(blank(width), width)
        picture = layout.picture
        first = (self.top + row) * layout.columns
        segments: list[Segment] = []
        for column in range(layout.columns):
            at = first + column
            if at >= len(self.photo_ids):
                segments += blank(layout.tile_width)
                continue
            photo_id = self.photo_ids[at]
            focused, selected = at == self.index, photo_id in self.selected
            segments.append(margin(focused, selected))
            if line < picture.height:
                thumbnail = self.thumbnails.get(photo_id, picture)
                segments += picture_line(thumbnail, picture, line)
            else:
                segments += caption(self._facts.get(photo_id), picture.width, focused, selected)
        segments += blank(width - layout.columns * layout.tile_width)
        return PhotoStrip(segments, width)

    # --- keys --------------------------------------------------------------------------------

    def action_step(self, columns: int, rows: int, extend: bool = False) -> None:
        """Move the focus by ``columns`` tiles and ``rows`` rows (``extend``: the selection
        grows to the range from where the shift+arrows started)."""
        if not self.photo_ids:
            return
        target = self.index + columns + rows * self.layout.columns
        if rows and not 0 <= target < len(self.photo_ids):
            target = max(0, min(target, len(self.photo_ids) - 1))
        if not 0 <= target < len(self.photo_ids):
            return
        self._move(target, extend)

    def action_page(self, pages: int) -> None:
        """A page down (or up): the sheet scrolls by a screenful, the focus with it."""
        if not self.photo_ids:
            return
        layout = self.layout
        was_top, self.top = self.top, max(0, self.top + pages * layout.rows)
        target = max(0, min(self.index + pages * layout.page, len(self.photo_ids) - 1))
        self._move(target, was_top=was_top)

    def _move(self, target: int, extend: bool = False, was_top: int | None = None) -> None:
        if extend:
            if self._anchor is None:
                self._anchor, self._before_range = self.index, frozenset(self.selected)
            low, high = sorted((self._anchor, target))
            self.selected = set(self._before_range) | set(self.photo_ids[low : high + 1])
        else:
            self._anchor = None
        self._pressed_at = time.perf_counter()
        was_top = self.top if was_top is None else was_top
        was_index = self.index
        self.index = target
        self._keep_focus_in_view()
        # Within the page, only the two tiles whose focus mark moved are painted again: a
        # few KB to the terminal rather than the whole sheet.
        within_page = self.top == was_top and not extend
        self.update_tiles(repaint=not within_page)
        if within_page:
            self._refresh_tile(was_index)
            self._refresh_tile(target)
        self._move_pane(target)

    def action_open(self) -> None:
        if self.photo_ids:
            self.post_message(self.Opened(self.index))

    def action_toggle_selected(self) -> None:
        photo_id = self.photo_id
        if photo_id is None:
            return
        self.selected ^= {photo_id}
        self._anchor = None
        self._refresh_tile(self.index)

    def action_select_burst(self) -> None:
        """The focused photo's whole burst joins the selection (those of it in this queue)."""
        photo_id = self.photo_id
        if photo_id is None:
            return
        queued = set(self.photo_ids)
        members = [pid for pid in burst_members(self.db, photo_id) if pid in queued]
        self.selected |= set(members)
        self._anchor = None
        self.refresh()
        if len(members) > 1:
            self.notify(f"{len(members)} photos of the burst selected", timeout=2)
        else:
            self.notify("This photo is in no burst: it alone is selected.", timeout=2)

    def action_clear_selection(self) -> None:
        if not self.selected:  # nothing to clear: escape does what it does elsewhere
            self.app.action_dismiss_overlay()
            return
        self.selected.clear()
        self._anchor = None
        self.refresh()
