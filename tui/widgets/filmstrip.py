"""The filmstrip under the photo in the triage pane's single view: small thumbnails of the photos
around the one on screen, which is marked and kept in the middle (at the ends of the queue, as
near the middle as the queue allows). It follows the pane's position; it takes no keys."""

from __future__ import annotations

from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widget import Widget

from core.triage.people import SeenDecisions
from core.triage.tiles import TileFacts, tile_facts
from tui.widgets.photo_codes import PhotoStrip
from tui.widgets.thumbnails import ThumbnailMaker, blank, caption, margin, picture_line

# A tile: a margin and a 3:2 picture of 12 x 4 cells (12 x 8 half-block pixels), a caption.
STRIP_TILE_WIDTH = 13
STRIP_HEIGHT = 5
PREFETCH_TILES = 8  # beyond each end: the strip moves with each next photo


class Filmstrip(Widget):
    DEFAULT_CSS = f"""
    Filmstrip {{ height: {STRIP_HEIGHT}; width: 1fr; background: rgb(12,12,12); }}
    """

    def __init__(
        self, db, thumbnails: ThumbnailMaker, seen: SeenDecisions | None = None, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.db = db
        self.seen = seen  # the pane's: whose decisions the captions' marks show
        self.thumbnails = thumbnails
        self.photo_ids: list[int] = []
        self.index = 0
        self.first = 0  # the queue index of the leftmost tile
        self._facts: dict[int, TileFacts] = {}

    @property
    def columns(self) -> int:
        return max(1, self.size.width // STRIP_TILE_WIDTH)

    @property
    def picture(self) -> Size:
        return Size(STRIP_TILE_WIDTH - 1, STRIP_HEIGHT - 1)

    def visible(self) -> list[int]:
        return self.photo_ids[self.first : self.first + self.columns]

    def follow(self, photo_ids: list[int], index: int) -> None:
        self.photo_ids = photo_ids
        self.index = max(0, min(index, len(photo_ids) - 1))
        self.update_tiles()

    def update_tiles(self) -> None:
        if not self.display or self.size.width < 1:
            return
        columns = self.columns
        self.first = max(0, min(self.index - columns // 2, len(self.photo_ids) - columns))
        shown = self.visible()
        self._facts = tile_facts(self.db, shown, self.seen)
        current = self.photo_ids[self.index : self.index + 1]
        ahead = self.photo_ids[self.first + columns : self.first + columns + PREFETCH_TILES]
        behind = self.photo_ids[max(0, self.first - PREFETCH_TILES) : self.first]
        wanted = [*current, *shown, *ahead, *reversed(behind)]
        self.thumbnails.want([(photo_id, self.picture) for photo_id in wanted],
                             len(current) + len(shown))  # fmt: skip
        self.refresh()
        self.call_after_refresh(self.thumbnails.painted)

    def on_resize(self) -> None:
        self.update_tiles()

    def render_lines(self, crop: Region) -> list[Strip]:
        width = self.size.width
        strips: list[Strip] = [self._line(y, width) for y in range(crop.y, crop.bottom)]
        left, right = crop.column_span
        if (left, right) != (0, width):
            strips = [strip.crop(left, right) for strip in strips]
        return strips

    def _line(self, y: int, width: int) -> Strip:
        picture = self.picture
        segments = []
        shown = self.visible()
        for column, photo_id in enumerate(shown):
            current = self.first + column == self.index
            segments.append(margin(current, False))
            if y < picture.height:
                segments += picture_line(self.thumbnails.get(photo_id, picture), picture, y)
            else:
                segments += caption(
                    self._facts.get(photo_id), picture.width, focused=current, selectable=False
                )
        segments += blank(width - len(shown) * STRIP_TILE_WIDTH)
        return PhotoStrip(segments, width)
