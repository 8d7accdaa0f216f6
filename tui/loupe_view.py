"""The loupe in the triage pane: its keys, where it starts on a photo, and the picture it shows,
cut from the photo's full-size pixels (core.media.pixels) for the loupe's place (tui.loupe).

The pane draws a loupe frame like any other, in the frame threads of tui.frames: the frame's
``zoom`` is the LoupePlace, so the photo on screen and its neighbours are drawn at the same
place ahead of time, and moving through a burst at 100 % shows frames already drawn. The
decoded full-size pictures are kept (PixelCache) so a pan only cuts and draws, never decodes.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PIL import Image
from rich.text import Text
from textual.message import Message

from core.config import MediaSettings
from core.media.photos import cached_preview, no_preview_here
from core.media.pixels import (
    DEVELOPING,
    PixelCache,
    Pixels,
    PixelSource,
    Plan,
    choose_source,
    preview_source,
)
from core.media.preview import PreviewUnavailable
from core.media.reach import originals_here
from core.store.photos import focus_points, original_of
from tui.loupe import LoupePlace, start_place

# Neighbours drawn ahead at the loupe's place: the next two (a cull goes forward) and the one
# before. Each holds a decoded full-size picture (72 MB at 24 MP), so fewer than in fit view.
LOUPE_AHEAD = 2
LOUPE_BEHIND = 1
KEEP_PLANS = 16  # where each photo's pixels come from, for the photos lately in the loupe
KEEP_DEVELOPING = 4  # RAWs asked to be developed: the photo on screen and its neighbours
# A RAW development asked: its key in the pixel cache, how to develop it, its stand-in.
Ask = tuple[tuple[int, str], Callable[[], Pixels], Callable[[], Pixels]]


class LoupeDeveloped(Message):
    """A RAW's developed pixels are ready (posted from the developing thread): its frames,
    drawn from the embedded JPEG meanwhile, are drawn again."""

    bubble = False

    def __init__(self, photo_id: int) -> None:
        super().__init__()
        self.photo_id = photo_id


class LoupeSource:
    """The pixels of photos for the loupe: decoded once per photo and scale, kept for the photo
    on screen and its neighbours, cut for a place. Called from the frame threads.

    A RAW LibRaw must develop takes seconds at 24 MP: its embedded JPEG, enlarged, is shown
    at once, the RAW is developed by a thread of its own, and ``on_developed`` says when.

    A photo whose original is on another machine (core.media.reach) shows its preview from
    the cache (``media``'s), at the preview's own size: the original is never opened."""

    def __init__(
        self,
        db,
        cell_pixels: tuple[int, int],
        on_developed: Callable[[int], None] | None = None,
        media: MediaSettings | None = None,
    ) -> None:
        self.db = db
        self.media = media
        self.cell_pixels = cell_pixels
        self.cache = PixelCache()
        self._sources: dict[int, PixelSource] = {}  # what each photo's last view came from
        self._plans: dict[tuple[int, str], Plan] = {}  # the newest few, read once per photo
        self._lock = threading.Lock()
        self._developer = Developer(self.cache, on_developed or (lambda photo_id: None))

    def close(self) -> None:
        self._developer.close()

    def start(self, photo_id: int | None, zoom: float) -> LoupePlace:
        if photo_id is None:
            return LoupePlace(zoom)
        af_x, af_y, sharp_x, sharp_y = focus_points(self.db, photo_id)
        return start_place((af_x, af_y), (sharp_x, sharp_y), zoom)

    def focus(self, photo_id: int | None) -> None:
        """The photo on screen in the loupe (None: the loupe is off): a RAW of it is developed
        before its neighbours."""
        self._developer.focus(photo_id)

    def source_of(self, photo_id: int | None) -> PixelSource | None:
        with self._lock:
            return self._sources.get(photo_id)

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

    def warm(
        self, photo_id: int, still_on_screen: Callable[[], bool], then: Callable[[], None]
    ) -> None:
        """Decode the photo's full-size pixels ahead of a ``z``, if it is still on screen after
        a pause (a frame thread's background task), then call ``then`` (which draws the loupe's
        first frame): a photographer who stops on a photo may look closer. Not for a RAW LibRaw
        must develop: seconds of both cores on a guess."""
        if not still_on_screen():
            return
        if self.cache.get((photo_id, "full")) is None:
            plan = self._plan(photo_id, 1.0)
            if plan.stand_in is not None or not still_on_screen():
                return
            self.cache.get_or_decode((photo_id, "full"), plan.decode)
        if still_on_screen():
            then()

    def pixels(self, photo_id: int, zoom: float) -> Pixels:
        """The photo's decoded pixels for ``zoom``: those at full size serve every zoom, so a
        zoom out from 100 % to 50 % decodes nothing. A RAW being developed: its stand-in."""
        scale = "half" if zoom <= 0.5 else "full"
        for key in ((photo_id, "full"), (photo_id, scale)):
            found = self.cache.get(key)
            if found is not None:
                return found
        plan = self._plan(photo_id, zoom)
        if plan.stand_in is None:
            return self.cache.get_or_decode((photo_id, scale), plan.decode)
        self._developer.develop((photo_id, scale), plan.decode, plan.stand_in)
        return self.cache.get_or_decode((photo_id, "stand-in"), plan.stand_in)

    def _plan(self, photo_id: int, zoom: float) -> Plan:
        scale = "half" if zoom <= 0.5 else "full"
        with self._lock:
            plan = self._plans.get((photo_id, scale))
        if plan is not None:
            return plan
        found = original_of(self.db, photo_id)
        if found is None:
            raise PreviewUnavailable("this photo has no original file on disk")
        _blake3, root, rel_path, file_format, orientation = found
        if originals_here(root):
            plan = choose_source(Path(root) / rel_path, file_format or "unknown", orientation, zoom)
        else:  # not kept while there is no preview: the engine may build it any moment
            preview = cached_preview(self.db, self.media, photo_id) if self.media else None
            if preview is None:
                raise PreviewUnavailable(no_preview_here(self.db, root), lasting=False)
            plan = preview_source(preview)
        with self._lock:
            self._plans[(photo_id, scale)] = plan
            while len(self._plans) > KEEP_PLANS:
                del self._plans[next(iter(self._plans))]
        return plan


class Developer:
    """One thread that develops RAWs with LibRaw: the photo on screen first, then its
    neighbours in the order asked, the oldest asks dropped beyond a few (the photographer has
    moved on); each developed picture goes into the cache and ``on_developed`` is called with
    its photo.

    An ask dropped while its photo was a neighbour is remembered: that photo's frame was drawn
    from the stand-in and is shown from the frame cache when the photographer gets there,
    without asking again, so ``focus`` on it asks again by itself."""

    def __init__(self, cache: PixelCache, on_developed: Callable[[int], None]) -> None:
        self._cache = cache
        self._on_developed = on_developed
        self._asked: list[Ask] = []
        self._seen: set[tuple[int, str]] = set()
        self._dropped: dict[tuple[int, str], Ask] = {}  # the newest few, oldest first
        self._on_screen: int | None = None
        self._lock = threading.Condition()
        self._closed = False
        # A daemon: a RAW being developed when the app quits must not hold the quit up.
        self._thread = threading.Thread(target=self._run, name="shootwatch-develop", daemon=True)
        self._thread.start()

    def develop(
        self, key: tuple[int, str], decode: Callable[[], Pixels], stand_in: Callable[[], Pixels]
    ) -> None:
        with self._lock:
            if key in self._seen:
                return
            self._seen.add(key)
            self._dropped.pop(key, None)
            self._asked.append((key, decode, stand_in))
            self._drop_beyond_the_few()
            self._lock.notify_all()

    def focus(self, photo_id: int | None) -> None:
        """``photo_id`` is on screen in the loupe: its asks go first and are never dropped."""
        with self._lock:
            self._on_screen = photo_id
            for key in [key for key in self._dropped if key[0] == photo_id]:
                if self._cache.get(key) is None:
                    self._seen.add(key)
                    self._asked.append(self._dropped[key])
                del self._dropped[key]
            self._drop_beyond_the_few()
            self._lock.notify_all()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._asked.clear()
            self._lock.notify_all()

    def _drop_beyond_the_few(self) -> None:
        while len(self._asked) > KEEP_DEVELOPING:
            index = next(
                (n for n, ask in enumerate(self._asked) if ask[0][0] != self._on_screen), None
            )
            if index is None:
                return
            dropped = self._asked.pop(index)
            self._seen.discard(dropped[0])
            self._dropped[dropped[0]] = dropped
            while len(self._dropped) > KEEP_PLANS:
                del self._dropped[next(iter(self._dropped))]

    def _next(self) -> Ask:
        on_screen = [n for n, ask in enumerate(self._asked) if ask[0][0] == self._on_screen]
        return self._asked.pop(on_screen[0] if on_screen else 0)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._closed and not self._asked:
                    self._lock.wait()
                if self._closed:
                    return
                key, decode, stand_in = self._next()
            try:
                self._cache.get_or_decode(key, decode)
            except Exception as error:  # said on the loupe's line; the stand-in stays shown
                pixels = stand_in()
                why = f"the RAW could not be developed ({error})"
                failed = Pixels(pixels.picture, replace(pixels.source, why=why))
                self._cache.get_or_decode(key, lambda failed=failed: failed)
            with self._lock:
                self._seen.discard(key)
                if self._closed:
                    return
            self._on_developed(key[0])


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
        percent = self.loupe.percent  # in colour, the rest as LoupePlace.describe says it
        text.append(percent, style="bold magenta")
        text.append(self.loupe.describe().removeprefix(percent))
        source = self.loupe_source.source_of(self.photo_id) if self.loupe_source else None
        if source is not None:
            text.append(f" · {source.words}", style="dim")
            if source.why == DEVELOPING:
                text.append(f", {DEVELOPING}…", style="yellow")
            elif source.why:
                text.append(" (enlarged)", style="yellow")
        text.append("   ")
        return text

    def warm_loupe(self, photo_id: int, size) -> None:
        """The photo on screen in the fit view: if it is still there after a pause, its
        full-size pixels are decoded and the loupe's first frame drawn (LoupeSource.warm), so
        ``z`` then shows at once."""
        if self.loupe_source is None or self.loupe.zoomed:
            return
        place = self._started(1.0)
        still = functools.partial(lambda shown: self.photo_id == shown, photo_id)
        draw = functools.partial(self.frames.draw_ahead, photo_id, size, place)
        self.frames.later(functools.partial(self.loupe_source.warm, photo_id, still, draw))

    def on_loupe_developed(self, message: LoupeDeveloped) -> None:
        """A RAW's developed pixels: its frames (drawn from its embedded JPEG) again."""
        self.frames.forget(message.photo_id)
        if self.loupe.zoomed:
            self.show_current()

    def _started(self, zoom: float) -> LoupePlace:
        return self.loupe_source.start(self.photo_id, zoom)

    def _set_loupe(self, place: LoupePlace) -> None:
        was_zoomed = self.loupe.zoomed
        self._pressed()
        self.loupe = place
        if was_zoomed != place.zoomed:
            self.refresh_bindings()  # the pan keys come and go
        self.show_current()
