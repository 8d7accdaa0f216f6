"""The loupe in the triage pane: its keys, where it starts on a photo, and the picture it shows,
cut from the photo's full-size pixels (core.media.pixels) for the loupe's place (tui.loupe).

The pane draws a loupe frame like any other, in the frame threads of tui.frames: the frame's
``zoom`` is the LoupePlace, so the photo on screen and its neighbours are drawn at the same
place ahead of time, and moving through a burst at 100 % shows frames already drawn. The
decoded full-size pictures are kept (PixelCache) so a pan only cuts and draws, never decodes.
"""

from __future__ import annotations

import threading
from pathlib import Path

from PIL import Image
from rich.text import Text

from core.media.pixels import PixelCache, Pixels, PixelSource, choose_source
from core.media.preview import PreviewUnavailable
from core.store.photos import focus_points, original_of
from tui.loupe import LoupePlace, start_place

# Neighbours drawn ahead at the loupe's place: the next two (a cull goes forward) and the one
# before. Each holds a decoded full-size picture (72 MB at 24 MP), so fewer than in fit view.
LOUPE_AHEAD = 2
LOUPE_BEHIND = 1


class LoupeSource:
    """The pixels of photos for the loupe: decoded once per photo and scale, kept for the photo
    on screen and its neighbours, cut for a place. Called from the frame threads."""

    def __init__(self, db, cell_pixels: tuple[int, int]) -> None:
        self.db = db
        self.cell_pixels = cell_pixels
        self.cache = PixelCache()
        self._sources: dict[int, PixelSource] = {}  # what each photo's last view came from
        self._lock = threading.Lock()

    def start(self, photo_id: int | None, zoom: float) -> LoupePlace:
        if photo_id is None:
            return LoupePlace(zoom)
        af_x, af_y, sharp_x, sharp_y = focus_points(self.db, photo_id)
        return start_place((af_x, af_y), (sharp_x, sharp_y), zoom)

    def source_of(self, photo_id: int | None) -> PixelSource | None:
        with self._lock:
            return self._sources.get(photo_id)

    def forget(self, photo_id: int) -> None:
        self.cache.forget(lambda key: key[0] == photo_id)

    def view(
        self, photo_id: int, place: LoupePlace, cells: tuple[int, int]
    ) -> tuple[Image.Image | None, str | None]:
        """The picture a pane of ``cells`` shows at ``place``, in screen pixels; or why none."""
        try:
            pixels = self.pixels(photo_id, place.zoom or 1.0)
        except PreviewUnavailable as error:
            return None, error.reason
        except OSError as error:
            return None, f"cannot be read: {error.strerror or error}"
        with self._lock:
            self._sources[photo_id] = pixels.source
        return cut(pixels, place, cells, self.cell_pixels), None

    def pixels(self, photo_id: int, zoom: float) -> Pixels:
        """The photo's decoded pixels for ``zoom``: those at full size serve every zoom, so a
        zoom out from 100 % to 50 % decodes nothing."""
        full = self.cache.get((photo_id, "full"))
        if full is not None:
            return full
        found = original_of(self.db, photo_id)
        if found is None:
            raise PreviewUnavailable("this photo has no original file on disk")
        _blake3, root, rel_path, file_format, orientation = found
        path = Path(root) / rel_path
        scale = "half" if zoom <= 0.5 else "full"

        def decode() -> Pixels:
            _source, decode_now = choose_source(path, file_format or "unknown", orientation, zoom)
            return decode_now()

        return self.cache.get_or_decode((photo_id, scale), decode)


def cut(
    pixels: Pixels, place: LoupePlace, cells: tuple[int, int], cell_pixels: tuple[int, int]
) -> Image.Image:
    """The region of ``pixels`` the place shows, at the size it is drawn in screen pixels:
    enlarged pixel by pixel at 200 % (a loupe shows the pixels as they are), averaged at 50 %."""
    picture, full = pixels.picture, pixels.source.full_size
    box = place.crop_box(full, cells, cell_pixels)
    scale_x, scale_y = picture.width / full[0], picture.height / full[1]
    region = (
        max(0, round(box[0] * scale_x)),
        max(0, round(box[1] * scale_y)),
        min(picture.width, max(1, round(box[2] * scale_x))),
        min(picture.height, max(1, round(box[3] * scale_y))),
    )
    piece = picture.crop(region)
    shown = place.shown_size(box)
    if piece.size == shown:
        return piece
    if piece.width < shown[0]:
        whole = shown[0] % piece.width == 0 and shown[1] % piece.height == 0
        method = Image.Resampling.NEAREST if whole else Image.Resampling.BILINEAR
        return piece.resize(shown, method)
    return piece.resize(shown, Image.Resampling.BOX)


class LoupeKeys:
    """The loupe's keys and its line, for the triage pane (which owns ``loupe``, the photo on
    screen, ``show_current`` and the frames). While the loupe is on, its pan keys come before
    the pane's own and the app's (see tui.keymap); off, they give way."""

    loupe: LoupePlace
    loupe_source: LoupeSource | None

    @property
    def zoomed(self) -> LoupePlace | bool:
        """What frames are drawn for: the loupe's place, or False for the whole photo."""
        return self.loupe if self.loupe.zoomed else False

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "pan":
            return self.loupe.zoomed
        return super().check_action(action, parameters)

    def action_zoom(self) -> None:
        """Loupe on at 100 % where it starts on this photo, or off."""
        if self.loupe.zoomed:
            self._set_loupe(self.loupe.zoomed_out())
        else:
            self._set_loupe(self._started(1.0))

    def action_zoom_in(self) -> None:
        self._set_loupe(self.loupe.zoomed_in() if self.loupe.zoomed else self._started(0.5))

    def action_zoom_out(self) -> None:
        self._set_loupe(self.loupe.zoomed_out())

    def action_pan(self, dx: int, dy: int, big: bool = False) -> None:
        source = self.loupe_source.source_of(self.photo_id) if self.loupe_source else None
        if source is None:  # not drawn yet: nothing to pan across
            return
        cells = self.loupe_cells()
        place = self.loupe.panned(dx, dy, source.full_size, cells, self.loupe_source.cell_pixels,
                                  big=big)  # fmt: skip
        if place != self.loupe:
            self._set_loupe(place)

    def loupe_cells(self) -> tuple[int, int]:
        size = self.query_one("#photo").size
        return (size.width, size.height)

    def loupe_words(self) -> Text:
        """The line's words for the loupe: zoom, where it is, why it started there, and what
        the pixels come from."""
        text = Text()
        if not self.loupe.zoomed:
            return text
        place = self.loupe
        text.append(f"{place.percent}", style="bold magenta")
        text.append(f" at {place.x:.0%}, {place.y:.0%}")
        text.append(f" · from the {place.start}" if place.start != "centre" else " · centre")
        source = self.loupe_source.source_of(self.photo_id) if self.loupe_source else None
        if source is not None:
            text.append(f" · {source.words}", style="dim")
            if source.why:
                text.append(" (enlarged)", style="yellow")
        text.append("   ")
        return text

    def _started(self, zoom: float) -> LoupePlace:
        return self.loupe_source.start(self.photo_id, zoom)

    def _set_loupe(self, place: LoupePlace) -> None:
        was_zoomed = self.loupe.zoomed
        self._pressed()
        self.loupe = place
        if was_zoomed != place.zoomed:
            self.refresh_bindings()  # the pan keys come and go
        self.show_current()
