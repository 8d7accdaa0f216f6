"""Frames ahead of time: the photo on screen and its neighbours, decoded and drawn for the pane's
size in background threads, so the next photo is on screen the moment its key is pressed.

The newest request wins: moving on makes the previous neighbours' work stale, and the photo
asked for first is drawn first. Decoding happens in Pillow (which lets other threads run); the
half-block lines are built here too, never on the UI thread.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from PIL import Image
from textual.geometry import Size

from core.files import open_to_read
from tui.widgets.photo_view import Frame, centre_crop, fitted, halfblock_strips

# photo id, zoomed -> the picture (drafted to at least ``min_size`` pixels), or why there is none
Loader = Callable[[int, bool, tuple[int, int]], tuple[Image.Image | None, str | None]]
KEEP_FRAMES = 32
LATER_AFTER_SECONDS = 0.6  # background work waits for a pause this long between keys


class FrameMaker:
    def __init__(
        self,
        load: Loader,
        on_ready: Callable[[Frame], None],
        graphics: bool = False,
        workers: int = 2,
        console=None,
        cell_pixels: tuple[int, int] = (10, 20),
    ) -> None:
        self._load = load
        self._on_ready = on_ready
        self._graphics = graphics  # sixel / kitty: hand over the picture, draw no strips
        self._console = console  # the app's: strips are turned into escape codes here too
        self._cell_pixels = cell_pixels  # a graphics terminal's cell size, for a 1:1 zoom
        self._frames: OrderedDict[tuple, Frame] = OrderedDict()
        self._wanted: list[tuple] = []  # most urgent first
        self._busy: set[tuple] = set()
        self._later: list[Callable[[], object]] = []
        self._lock = threading.Condition()
        self._closed = False
        self._urgent: tuple | None = None  # the frame the screen waits for
        self._ui_idle = threading.Event()  # cleared while a key is handled: neighbours wait
        self._ui_idle.set()
        self._last_key = 0.0
        self._threads = [
            threading.Thread(target=self._work, name=f"shootwatch-frames-{n}", daemon=True)
            for n in range(workers)
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
        """A key is being handled: drawing neighbours pauses until ``ui_idle``, so the frame
        on screen is not slowed by work for frames that may never be shown."""
        self._ui_idle.clear()
        self._last_key = time.monotonic()

    def ui_idle(self) -> None:
        self._ui_idle.set()

    def want(self, photo_ids: Sequence[int], size: Size, zoom: bool = False) -> None:
        """Draw these (the first is on screen), dropping what was wanted before."""
        with self._lock:
            self._urgent = (photo_ids[0], size, zoom) if photo_ids else None
            self._wanted = [
                key
                for key in ((photo_id, size, zoom) for photo_id in photo_ids)
                if key not in self._frames and key not in self._busy
            ]
            self._lock.notify_all()

    def later(self, task: Callable[[], object]) -> None:
        """Work for when nothing is wanted on screen (building a preview for the cache)."""
        with self._lock:
            self._later.append(task)
            self._lock.notify_all()

    def forget(self, photo_id: int) -> None:
        """The photo changed on disk or in the catalogue: draw it again when next wanted."""
        with self._lock:
            for key in [key for key in self._frames if key[0] == photo_id]:
                del self._frames[key]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._wanted = []
            self._lock.notify_all()
        for thread in self._threads:
            thread.join(timeout=2)

    def _work(self) -> None:
        while True:
            with self._lock:
                task = None
                while not self._closed and not self._wanted and task is None:
                    # Background work only in a pause of the photographer's: it would slow
                    # the next key.
                    paused = time.monotonic() - self._last_key >= LATER_AFTER_SECONDS
                    if self._later and paused:
                        task = self._later.pop(0)
                    else:
                        self._lock.wait(timeout=0.1 if self._later else None)
                if self._closed:
                    return
                if task is None:
                    key = self._wanted.pop(0)
                    self._busy.add(key)
            if task is not None:
                with contextlib.suppress(Exception):  # the cache is a convenience
                    task()
                continue
            try:
                frame = self._draw(*key)
            except Exception as error:  # a frame that cannot be drawn says why, never crashes
                frame = Frame(key[0], key[1], key[2], reason=f"cannot be shown: {error}")
            with self._lock:
                self._busy.discard(key)
                if self._closed:
                    return
                self._frames[key] = frame
                while len(self._frames) > KEEP_FRAMES:
                    self._frames.popitem(last=False)
            self._on_ready(frame)

    def _between_lines(self, key: tuple) -> None:
        if key == self._urgent:
            return
        # Neighbours give way: wait while a key is handled, and let other threads run.
        self._ui_idle.wait(timeout=1.0)
        time.sleep(0)

    def _draw(self, photo_id: int, size: Size, zoom: bool) -> Frame:
        key = (photo_id, size, zoom)
        if key != self._urgent:
            self._ui_idle.wait(timeout=1.0)
        picture, reason = self._load(photo_id, zoom, (size.width, size.height * 2))
        if picture is None:
            return Frame(photo_id, size, zoom, reason=reason or "no preview")
        if self._graphics:
            if zoom:  # 1:1 with the terminal's own pixels: the cells' size in pixels
                cell_w, cell_h = self._cell_pixels
                picture = centre_crop(picture, Size(size.width * cell_w, size.height * cell_h // 2))
            return Frame(photo_id, size, zoom, picture=picture)
        strips = halfblock_strips(picture, size, zoom, lambda: self._between_lines(key))
        if self._console is not None:
            for strip in strips:  # cached in the strip: the UI thread only writes them out
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
