"""Survey: the frames of a burst at once, up to nine, as many as the terminal holds, each with
its stars, decision and sharpness; one frame has the focus, and the keys decide about it, open
it in triage, or keep it and reject the rest of the burst.

The grid is chosen from the screen's size: the layout that draws a 3:2 frame largest, with
no tile smaller than MIN_TILE; a burst longer than the grid scrolls with the focus.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Container
from textual.geometry import Size

from tui import keymap
from tui.loupe import LoupePlace
from tui.panes.burst_view import BurstSource, BurstView
from tui.widgets.tile import PhotoTile

MOST_FRAMES = 9
# A tile's border (2 cells each way) and caption (2 lines) around a picture of at least
# 20 x 5 cells: smaller, a frame is too small to tell two frames apart.
TILE_FRAME = (2, 4)
MIN_PICTURE = (20, 5)
MIN_TILE = (MIN_PICTURE[0] + TILE_FRAME[0], MIN_PICTURE[1] + TILE_FRAME[1])


@dataclass(frozen=True)
class Grid:
    columns: int
    rows: int
    count: int  # tiles shown (up to columns * rows)
    tile_width: int  # cells
    tile_height: int


def survey_grid(width: int, height: int, frames: int) -> Grid:
    """The grid for ``frames`` frames in ``width`` x ``height`` cells: as many frames as fit
    (up to MOST_FRAMES), laid out so that a 3:2 frame is drawn largest (half-block pixels
    are square: one cell wide, two tall), with fewer empty places on a tie."""
    for count in range(max(1, min(frames, MOST_FRAMES)), 0, -1):
        best: tuple[tuple[float, int], Grid] | None = None
        for columns in range(1, count + 1):
            rows = math.ceil(count / columns)
            tile_w, tile_h = width // columns, height // rows
            if tile_w < MIN_TILE[0] or tile_h < MIN_TILE[1]:
                continue
            pixels_w = tile_w - TILE_FRAME[0]
            pixels_h = (tile_h - TILE_FRAME[1]) * 2
            scale = min(pixels_w / 3, pixels_h / 2)
            score = (scale, -(columns * rows - count))
            if best is None or score > best[0]:
                best = (score, Grid(columns, rows, count, tile_w, tile_h))
        if best is not None:
            return best[1]
    return Grid(1, 1, 1, max(1, width), max(1, height))  # a tiny terminal: one frame


def first_shown(members: list[int], current: int, grid: Grid, was: int = 0) -> int:
    """Where the frames shown begin, ``current`` among them: from ``was``, a row at a time."""
    at, first = members.index(current), was
    while at < first:
        first -= grid.columns
    while at >= first + grid.count:
        first += grid.columns
    return max(0, min(first, len(members) - grid.count))


def picture_size(grid: Grid) -> Size:
    """The cells a frame is drawn in, inside a tile's border and over its caption."""
    return Size(grid.tile_width - TILE_FRAME[0], grid.tile_height - TILE_FRAME[1])


class SurveyScreen(BurstView):
    BINDINGS = keymap.bindings("survey", {})
    DEFAULT_CSS = """
    SurveyScreen > #tiles { layout: grid; }
    SurveyScreen PhotoTile { width: 100%; height: 100%; }
    """

    def __init__(self, source: BurstSource) -> None:
        super().__init__(source)
        self.current = 0  # the frame with the focus
        self.first_shown = 0
        self.grid: Grid | None = None
        self._laying_out = False  # tiles are being mounted or removed

    def start(self, current: int, loupe: LoupePlace) -> None:  # a survey shows whole frames
        self.current = current
        self.first_shown = 0

    def first_frames(self, members: list[int], current: int, screen: Size
                     ) -> tuple[list[int], Size]:  # fmt: skip
        grid = survey_grid(screen.width, screen.height - 2, len(members))
        first = first_shown(members, current, grid)
        shown = members[first : first + grid.count]
        return [current, *(photo_id for photo_id in shown if photo_id != current)], (
            picture_size(grid)
        )

    def compose_tiles(self) -> ComposeResult:
        yield Container(id="tiles")

    # --- drawing -----------------------------------------------------------------------------

    def show_tiles(self) -> None:
        # The screen's size less its head and footer lines: the tiles' area, known before it
        # is laid out (whose size then follows the grid's).
        width, height = self.app.size.width, self.app.size.height - 2
        if self._laying_out or width < 1 or height < 1 or not self.members:
            return
        grid = survey_grid(width, height, len(self.members))
        if grid != self.grid:
            self._laying_out = True
            self.call_later(self._lay_out, grid)
            return
        if self.current not in self.members:
            self.current = self.members[0]
        count = grid.count
        self.first_shown = first_shown(self.members, self.current, grid, self.first_shown)
        shown = self.members[self.first_shown : self.first_shown + count]
        tiles = list(self.query(PhotoTile))
        for n, tile in enumerate(tiles):
            photo_id = shown[n] if n < len(shown) else None
            tile.set_class(photo_id == self.current, "-focused")
            if photo_id is None:
                tile.show_photo(None, "")
            else:
                tile.show_photo(
                    self.facts[photo_id], f"{self.first_shown + n + 1} / {len(self.members)}"
                )
        self._show_head(shown)
        focused = [tile for tile in tiles if tile.photo_id == self.current]
        rest = [tile for tile in tiles if tile.photo_id != self.current]
        following = self.members[self.first_shown + count : self.first_shown + count + grid.columns]
        before = self.members[max(0, self.first_shown - grid.columns) : self.first_shown]
        self.want(focused + rest, following + before)

    async def _lay_out(self, grid: Grid) -> None:
        """Tiles for ``grid``, then shown once they are mounted."""
        area = self.query_one("#tiles", Container)
        try:
            area.styles.grid_size_columns = grid.columns
            area.styles.grid_size_rows = grid.rows
            area.styles.grid_columns = str(grid.tile_width)
            area.styles.grid_rows = str(grid.tile_height)
            have = list(area.query_children(PhotoTile))
            if len(have) > grid.count:
                await area.remove_children(have[grid.count :])
            elif len(have) < grid.count:
                tiles = [PhotoTile(self.source.graphics) for _ in range(grid.count - len(have))]
                await area.mount_all(tiles)
            self.grid = grid
        finally:
            self._laying_out = False
        self.call_after_refresh(self.show_tiles)  # once the tiles have their size

    def _show_head(self, shown: list[int]) -> None:
        head = Text(no_wrap=True, overflow="ellipsis")
        head.append("survey", style="bold")
        total = len(self.members)
        head.append(f"  burst of {total}" if self.in_burst else "  no burst: the next photos")
        if len(shown) < total:
            head.append(f"  ·  frames {self.first_shown + 1}-{self.first_shown + len(shown)}")
        facts = self.facts[self.current]
        head.append(f"  ·  {self.members.index(self.current) + 1} / {total} {facts.name}")
        self.set_head(head)

    # --- keys --------------------------------------------------------------------------------

    def action_move(self, across: int, down: int) -> None:
        if self.grid is None or not self.members:
            return
        at = self.members.index(self.current) + across + down * self.grid.columns
        self.current = self.members[max(0, min(at, len(self.members) - 1))]
        self.show_tiles()

    def action_decide(self, decision: str) -> None:
        self.decide(self.current, decision)

    def action_open(self) -> None:
        self.dismiss(self.current)

    def action_keep_focused(self) -> None:
        self.keep_one(self.current)

    def action_close(self) -> None:
        self.dismiss(None)
