"""Frames ahead of time: the photo on screen and its neighbours, decoded and drawn for the pane's
size in background threads, so the next photo is on screen the moment its key is pressed.

Two lanes, so the photo on screen never waits behind its neighbours. The urgent lane draws only
the frame the screen waits for, and drops it between two lines as soon as a newer one is asked
for (a held key asks 30 times a second: only the last is worth finishing). The neighbour lane
draws the rest, most urgent first; it gives way while the urgent frame is not drawn or a key
is being handled, and drops a neighbour the moment it is no longer wanted. Decoding happens in
Pillow (which lets other threads run); the half-block lines, or the picture encoded for a
graphics terminal (PNG for kitty, sixel), are made here too, never on the UI thread.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import replace

from PIL import Image
from textual.geometry import Size

from core.files import open_to_read
from tui.exposure import NO_AIDS, Aids, RawMeasures, exposure_of
from tui.graphics import MAX_CELLS, Graphics, encode
from tui.widgets.photo_view import BACKGROUND, Frame, centre_crop, fitted, halfblock_strips

# photo id, False or the loupe's place -> the picture (drafted to at least ``min_size``
# pixels), or why there is none
Loader = Callable[[int, object, tuple[int, int]], tuple[Image.Image | None, str | None]]
Key = tuple[int, Size, object]  # photo id, pane size in cells, False or the loupe's place
KEEP_FRAMES = 32
LATER_AFTER_SECONDS = 0.6  # background work waits for a pause this long between keys
# Neighbours give way to the UI for this long after a key at most: the pane says when the photo
# is on screen, but a pane that never does (a resize, a closing app) must not stop prefetching.
UI_GRACE_SECONDS = 0.5
# However long the urgent frame takes, a neighbour waits no longer than this: a safety net only.
NEIGHBOUR_PATIENCE_SECONDS = 5.0
# A photo shown is still being written to the terminal: about 100 KB at 160x48, which tmux takes
# 4 ms to read when nothing else runs. A neighbour drawn meanwhile holds Python's lock, which the
# thread writing the frame needs between two of its writes: in tmux that doubled to tripled the
# write (13 ms at the median, 47 ms at p95, against 5 and 10 ms with neighbours waiting).
# Neighbours wait this long after the photo is shown.
QUIET_AFTER_SHOWN_SECONDS = 0.1


class Abandoned(Exception):
    """The frame being drawn is no longer wanted (or the maker closed): drawing stops."""


class FrameMaker:
    def __init__(
        self,
        load: Loader,
        on_ready: Callable[[Frame], None],
        graphics: Graphics | bool | None = None,
        workers: int = 1,
        console=None,
        cell_pixels: tuple[int, int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``workers`` is the number of neighbour lanes; the urgent lane is always there.
        ``graphics``: how a sixel / kitty terminal gets pictures (True: hand over the picture
        alone, unencoded). ``clock``: seconds, for the waits between keys."""
        self._load = load
        self._on_ready = on_ready
        self._graphics = graphics  # sixel / kitty: hand over the picture, draw no strips
        self._console = console  # the app's: strips are turned into escape codes here too
        if cell_pixels is None:
            cell_pixels = graphics.cell_pixels if isinstance(graphics, Graphics) else (10, 20)
        self._cell_pixels = cell_pixels  # a graphics terminal's cell size, for a 1:1 zoom
        self._frames: OrderedDict[Key, Frame] = OrderedDict()
        self._aids = NO_AIDS  # the exposure aids frames carry
        self._raw: RawMeasures | None = None
        self._wanted: list[Key] = []  # as last asked, most urgent first
        self._wanted_set: frozenset[Key] = frozenset()
        self._urgent: Key | None = None  # the frame the screen waits for
        self._busy: set[Key] = set()
        self._later: list[Callable[[], object]] = []
        self._lock = threading.Condition()
        self._closed = False
        self._clock = clock
        self._ui_busy = False  # a key is being handled and its photo is not on screen yet
        self._last_key = 0.0
        self._quiet_until = 0.0  # the photo shown is being written to the terminal until then
        lanes = [("urgent", self._urgent_lane)]
        lanes += [(str(n), self._neighbour_lane) for n in range(max(1, workers))]
        self._threads = [
            threading.Thread(target=lane, name=f"shootwatch-frames-{name}", daemon=True)
            for name, lane in lanes
        ]
        for thread in self._threads:
            thread.start()

    def get(self, photo_id: int, size: Size, zoom: bool = False) -> Frame | None:
        with self._lock:
            frame = self._frames.get((photo_id, size, zoom))
            if frame is not None:
                self._frames.move_to_end((photo_id, size, zoom))
            return frame

    def ui_busy(self) -> None:
        """A key is being handled: neighbours give way until ``ui_idle`` (or a short grace),
        so the frame on screen is not slowed by work for frames that may never be shown."""
        with self._lock:
            self._ui_busy = True
            self._last_key = self._clock()

    def ui_idle(self, quiet: float = QUIET_AFTER_SHOWN_SECONDS) -> None:
        """The photo is shown: neighbours go on ``quiet`` seconds later, once the terminal
        has read it."""
        with self._lock:
            self._ui_busy = False
            self._quiet_until = self._clock() + quiet
            self._lock.notify_all()

    def want(self, photo_ids: Sequence[int], size: Size, zoom: bool = False) -> None:
        """Draw these (the first is on screen), dropping what was wanted before: a frame being
        drawn that is no longer wanted stops at its next line."""
        with self._lock:
            self._wanted = [(photo_id, size, zoom) for photo_id in photo_ids]
            self._wanted_set = frozenset(self._wanted)
            self._urgent = self._wanted[0] if self._wanted else None
            self._lock.notify_all()

    def later(self, task: Callable[[], object]) -> None:
        """Work for when nothing is wanted on screen (building a preview for the cache)."""
        with self._lock:
            self._later.append(task)
            self._lock.notify_all()

    def draw_ahead(self, photo_id: int, size: Size, zoom: object) -> None:
        """Draw a frame on the calling thread (a background task's) and keep it: a guess at a
        frame about to be wanted (the loupe's, on a photo the photographer stopped on). A key
        asking for it meanwhile waits for this drawing rather than starting another."""
        key = (photo_id, size, zoom)
        with self._lock:
            if self._closed or key in self._frames or key in self._busy:
                return
            self._busy.add(key)
        self._make(key, lambda: None)

    def set_aids(self, aids: Aids, raw: RawMeasures | None = None) -> None:
        """Frames from now on carry these exposure aids (tui.exposure): those drawn without
        them are drawn again when next wanted."""
        with self._lock:
            if aids == self._aids:
                return
            self._aids = aids
            if raw is not None:
                self._raw = raw
            self._frames.clear()
            self._lock.notify_all()

    def forget(self, photo_id: int) -> None:
        """The photo changed on disk or in the catalogue: draw it again when next wanted."""
        with self._lock:
            for key in [key for key in self._frames if key[0] == photo_id]:
                del self._frames[key]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._wanted, self._wanted_set, self._urgent = [], frozenset(), None
            self._lock.notify_all()
        for thread in self._threads:
            thread.join(timeout=2)

    # --- the lanes ---------------------------------------------------------------------------

    def _urgent_lane(self) -> None:
        while True:
            with self._lock:
                while not self._closed and not self._urgent_to_draw():
                    self._lock.wait()
                if self._closed:
                    return
                key = self._urgent
                self._busy.add(key)
            self._make(key, functools.partial(self._still_urgent, key))

    def _urgent_to_draw(self) -> bool:
        key = self._urgent
        # Drawn already, or by a neighbour lane that had it when it became urgent (that lane
        # stops giving way to anything as soon as its frame is the urgent one).
        return key is not None and key not in self._frames and key not in self._busy

    def _still_urgent(self, key: Key) -> None:
        # Read without the lock: one attribute read, and a stale answer costs one line.
        if self._closed or self._urgent != key:
            raise Abandoned

    def _neighbour_lane(self) -> None:
        while True:
            with self._lock:
                key, task = None, None
                while not self._closed:
                    key = self._next_neighbour()
                    if key is not None:
                        break
                    # Background work only in a pause of the photographer's: it would slow
                    # the next key.
                    paused = self._clock() - self._last_key >= LATER_AFTER_SECONDS
                    if self._later and paused:
                        task = self._later.pop(0)
                        break
                    self._lock.wait(timeout=0.1 if self._later else None)
                if self._closed:
                    return
                if key is not None:
                    self._busy.add(key)
            if task is not None:
                with contextlib.suppress(Exception):  # the cache is a convenience
                    task()
                continue
            self._make(key, functools.partial(self._give_way, key, self._clock()))

    def _next_neighbour(self) -> Key | None:
        for key in self._wanted:
            if key != self._urgent and key not in self._frames and key not in self._busy:
                return key
        return None

    def _give_way(self, key: Key, started: float) -> None:
        """Between two lines of a neighbour: stop if it is no longer wanted; wait while the
        urgent frame is not drawn, a key is being handled or the photo just shown is being
        written; go on at once if it became the urgent frame itself."""
        with self._lock:
            while True:
                if self._closed or key not in self._wanted_set:
                    raise Abandoned
                if key == self._urgent:
                    return
                now = self._clock()
                urgent = self._urgent
                urgent_pending = urgent is not None and urgent not in self._frames
                ui_busy = self._ui_busy and now - self._last_key < UI_GRACE_SECONDS
                if not (urgent_pending or ui_busy or now < self._quiet_until):
                    break
                if now - started >= NEIGHBOUR_PATIENCE_SECONDS:
                    break
                self._lock.wait(timeout=0.05)
        time.sleep(0)  # let the UI thread have Python's lock between two lines

    def _make(self, key: Key, between_lines: Callable[[], None]) -> None:
        """Draw ``key``, keep it and hand it over; or drop it when it stopped being wanted."""
        aids = self._aids
        try:
            between_lines()
            frame = self._draw(key, between_lines, aids)
        except Abandoned:
            with self._lock:
                self._busy.discard(key)
                self._lock.notify_all()
            return
        except Exception as error:  # a frame that cannot be drawn says why, never crashes
            frame = Frame(key[0], key[1], key[2], reason=f"cannot be shown: {error}", aids=aids)
        with self._lock:
            self._busy.discard(key)
            if self._closed:
                return
            if aids != self._aids:  # the aids changed while it was drawn: drawn again
                self._lock.notify_all()
                return
            self._frames[key] = frame
            self._frames.move_to_end(key)
            while len(self._frames) > KEEP_FRAMES:
                self._frames.popitem(last=False)
            self._lock.notify_all()  # neighbours waiting for the urgent frame go on
        self._on_ready(frame)

    def _draw(self, key: Key, between_lines: Callable[[], None], aids: Aids = NO_AIDS) -> Frame:
        photo_id, size, zoom = key
        graphics = self._graphics
        if graphics and (size.width > MAX_CELLS or size.height > MAX_CELLS):
            graphics = None  # wider than kitty's placeholders can name: half-blocks
        cell_w, cell_h = self._cell_pixels
        min_size = (size.width, size.height * 2)  # the loupe reads the pane's cells from it
        if graphics and not zoom:  # the terminal's own pixels, not half-blocks
            min_size = (size.width * cell_w, size.height * cell_h)
        picture, reason = self._load(photo_id, zoom, min_size)
        if picture is None:
            return Frame(photo_id, size, zoom, reason=reason or "no preview", aids=aids)
        if graphics and zoom:  # 1:1 with the terminal's own pixels: the cells' size in pixels
            picture = centre_crop(picture, Size(size.width * cell_w, size.height * cell_h // 2))
        exposure, painted = None, None
        if aids:
            between_lines()
            exposure, painted = exposure_of(photo_id, picture, aids, self._raw, whole=not zoom)
        frame = self._drawn(key, picture, graphics, between_lines)
        marked = self._drawn(key, painted, graphics, between_lines) if painted else None
        return replace(frame, aids=aids, exposure=exposure, marked=marked)

    def _drawn(
        self,
        key: Key,
        picture: Image.Image,
        graphics: Graphics | bool | None,
        between_lines: Callable[[], None],
    ) -> Frame:
        photo_id, size, zoom = key
        if graphics:
            if not isinstance(graphics, Graphics):
                return Frame(photo_id, size, zoom, picture=picture)
            between_lines()
            encoded = encode(picture, size, graphics, BACKGROUND, fit=not zoom)
            return Frame(photo_id, size, zoom, picture=picture, encoded=encoded)
        between_lines()
        strips = halfblock_strips(picture, size, zoom, between_lines)
        if self._console is not None:
            for strip in strips:  # cached in the strip: the UI thread only writes them out
                between_lines()
                strip.render(self._console)
        return Frame(photo_id, size, zoom, strips=strips)


def open_drafted(path: str, min_size: tuple[int, int]) -> Image.Image:
    """A JPEG decoded at the smallest scale (1/2, 1/4, 1/8) still covering ``min_size``: a
    1600 px preview shown in a 160-column pane decodes at 1/8, in a few milliseconds."""
    with open_to_read(path) as handle:  # loaded before it closes: the image keeps no file
        image = Image.open(handle)
        target = fitted(image.size, Size(min_size[0], min_size[1] // 2))
        image.draft("RGB", target)
        image.load()
    return image
