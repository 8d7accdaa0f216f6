"""The frame maker on its own, as the triage pane drives it during a held key: a key handled
(``ui_busy``) and the photo it moves to wanted with its neighbours, 30 times a second, the screen
never saying the photo is shown (it is not, until its frame is drawn). Real JPEGs decoded by
Pillow and drawn as half-blocks."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from textual.geometry import Size

from tests.helpers import REPO_CAMERA
from tui.frames import FrameMaker, open_drafted
from tui.widgets.photo_view import Frame

SIZE = Size(160, 45)
SOURCES = ("nikon_coolpix_p6000_gps_DSCN0010.jpg", "samsung_galaxy_s_orient6_gps.jpg",
           "kodak_dc240_1999.jpg", "apple_iphone5_orient3_gps.jpg")  # fmt: skip
DRAWN_WITHIN = 10.0


class Screen:
    """What the pane does with frames: keeps the one it waits for."""

    def __init__(self) -> None:
        self.ready: dict[int, Frame] = {}
        self.changed = threading.Condition()

    def on_ready(self, frame: Frame) -> None:
        with self.changed:
            self.ready[frame.photo_id] = frame
            self.changed.notify_all()

    def wait(self, photo_id: int) -> Frame | None:
        with self.changed:
            self.changed.wait_for(lambda: photo_id in self.ready, timeout=DRAWN_WITHIN)
            return self.ready.get(photo_id)


@pytest.mark.parametrize("hz", [10, 30, 60])
@pytest.mark.parametrize("count", [5, 20])
@pytest.mark.parametrize("workers", [1, 2])
def test_the_last_photo_asked_for_is_drawn_though_the_screen_stays_busy(hz, count, workers):
    paths = [REPO_CAMERA / SOURCES[n % len(SOURCES)] for n in range(count + 4)]

    def load(photo_id: int, zoom: bool, min_size: tuple[int, int]):
        return open_drafted(str(paths[photo_id]), min_size), None

    screen = Screen()
    maker = FrameMaker(load, screen.on_ready, workers=workers)
    try:
        for index in range(count + 1):
            maker.ui_busy()  # the pane at each key; ui_idle only once the photo is shown
            neighbours = [i for s in range(1, 4) for i in (index + s, index - s)]
            maker.want([index, *(i for i in neighbours if 0 <= i < len(paths))], SIZE)
            time.sleep(1 / hz)
        frame = screen.wait(count)
        assert frame is not None, f"photo {count} not drawn {DRAWN_WITHIN:.0f} s after the keys"
        assert len(frame.strips) == SIZE.height and frame.reason is None
    finally:
        maker.close()


def test_a_frame_that_cannot_be_drawn_says_why(tmp_path: Path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not a jpeg")

    def load(photo_id: int, zoom: bool, min_size: tuple[int, int]):
        return open_drafted(str(broken), min_size), None

    screen = Screen()
    maker = FrameMaker(load, screen.on_ready)
    try:
        maker.want([7], SIZE)
        frame = screen.wait(7)
        assert frame is not None and frame.reason.startswith("cannot be shown")
    finally:
        maker.close()


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("quiet", [0.05, 0.1, 1.0])
def test_neighbours_wait_while_the_photo_shown_is_written_to_the_terminal(workers, quiet):
    """After the photo is shown its frame is still being written: the neighbours wait the
    quiet time by the maker's clock (stopped here until the test moves it on)."""
    paths = [REPO_CAMERA / name for name in SOURCES]

    def load(photo_id: int, zoom: bool, min_size: tuple[int, int]):
        return open_drafted(str(paths[photo_id]), min_size), None

    now = [1000.0]
    screen = Screen()
    maker = FrameMaker(load, screen.on_ready, workers=workers, clock=lambda: now[0])
    try:
        maker.ui_busy()
        maker.want([0, 1, 2, 3], SIZE)
        assert screen.wait(0) is not None
        maker.ui_idle(quiet)
        neighbours = (1, 2, 3)
        with screen.changed:  # a neighbour would be drawn well within this, were it let
            screen.changed.wait_for(lambda: any(n in screen.ready for n in neighbours), 1.5)
            assert not any(n in screen.ready for n in neighbours)
        now[0] += quiet
        assert all(screen.wait(n) is not None for n in neighbours)
    finally:
        maker.close()
