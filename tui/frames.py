"""Frames ahead of time: the photo on screen and its neighbours, decoded and drawn for the pane's
size in background threads, so the next photo is on screen the moment its key is pressed.

The newest request wins: moving on makes the previous neighbours' work stale, and the photo
asked for first is drawn first. Decoding happens in Pillow (which lets other threads run); the
half-block lines are built here too, never on the UI thread.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

from PIL import Image
from textual.geometry import Size

from tui.widgets.photo_view import Frame, fitted, halfblock_strips

# photo id, zoomed -> the picture (drafted to at least ``min_size`` pixels), or why there is none
Loader = Callable[[int, bool, tuple[int, int]], tuple[Image.Image | None, str | None]]
KEEP_FRAMES = 32


class FrameMaker:
    def __init__(
        self,
        load: Loader,
        on_ready: Callable[[Frame], None],
        graphics: bool = False,
        workers: int = 2,
    ) -> None:
        self._load = load
        self._on_ready = on_ready
        self._graphics = graphics  # sixel / kitty: hand over the picture, draw no strips
        self._frames: OrderedDict[tuple, Frame] = OrderedDict()
        self._wanted: list[tuple] = []  # most urgent first
        self._busy: set[tuple] = set()
        self._lock = threading.Condition()
        self._closed = False
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

    def want(self, photo_ids: Sequence[int], size: Size, zoom: bool = False) -> None:
        """Draw these (the first is on screen), dropping what was wanted before."""
        with self._lock:
            self._wanted = [
                key
                for key in ((photo_id, size, zoom) for photo_id in photo_ids)
                if key not in self._frames and key not in self._busy
            ]
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
                while not self._wanted and not self._closed:
                    self._lock.wait()
                if self._closed:
                    return
                key = self._wanted.pop(0)
                self._busy.add(key)
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

    def _draw(self, photo_id: int, size: Size, zoom: bool) -> Frame:
        picture, reason = self._load(photo_id, zoom, (size.width, size.height * 2))
        if picture is None:
            return Frame(photo_id, size, zoom, reason=reason or "no preview")
        if self._graphics:
            return Frame(photo_id, size, zoom, picture=picture)
        return Frame(photo_id, size, zoom, strips=halfblock_strips(picture, size, zoom))


def open_drafted(path: str, min_size: tuple[int, int]) -> Image.Image:
    """A JPEG decoded at the smallest scale (1/2, 1/4, 1/8) still covering ``min_size``: a
    1600 px preview shown in a 160-column pane decodes at 1/8, in a few milliseconds."""
    image = Image.open(path)
    target = fitted(image.size, Size(min_size[0], min_size[1] // 2))
    image.draft("RGB", target)
    image.load()
    return image
