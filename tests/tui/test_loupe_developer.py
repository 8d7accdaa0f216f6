"""The loupe's RAW developer: the photo on screen is developed before its neighbours and never
dropped, and a photo whose development was dropped while it was a neighbour is developed when
the photographer gets to it. A real thread and a real pixel cache; developing is a small
picture made when the test lets it, so the order is the test's to see."""

from __future__ import annotations

import threading

import pytest
from PIL import Image

from core.media.pixels import PixelCache, Pixels, PixelSource
from tui.loupe_view import KEEP_DEVELOPING, Developer

WAIT = 30  # seconds: generous, the machine may be loaded (time is not asserted)


class Darkroom:
    """Developments that wait for the test: each one started is recorded and blocks until
    ``let`` releases one."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.developed: list[int] = []
        self._go = threading.Semaphore(0)
        self._changed = threading.Condition()

    def decode(self, photo_id: int):
        def develop() -> Pixels:
            with self._changed:
                self.started.append(photo_id)
                self._changed.notify_all()
            assert self._go.acquire(timeout=WAIT), "the test never let this development go"
            return picture(photo_id, "raw")

        return develop

    def let(self, count: int = 1) -> None:
        for _ in range(count):
            self._go.release()

    def on_developed(self, photo_id: int) -> None:
        with self._changed:
            self.developed.append(photo_id)
            self._changed.notify_all()

    def wait(self, test, what: str) -> None:
        with self._changed:
            assert self._changed.wait_for(test, timeout=WAIT), f"never {what}: {self.state()}"

    def state(self) -> str:
        return f"started {self.started}, developed {self.developed}"


def picture(photo_id: int, kind: str) -> Pixels:
    size = (8, 6)
    return Pixels(Image.new("RGB", size, (photo_id, 0, 0)), PixelSource(kind, size, size))


@pytest.fixture
def darkroom():
    room = Darkroom()
    developer = Developer(PixelCache(), room.on_developed)
    yield room, developer
    developer.close()
    room.let(100)  # a development still waiting goes, and the thread ends


def ask(developer: Developer, room: Darkroom, photo_id: int) -> None:
    developer.develop(
        (photo_id, "full"), room.decode(photo_id), lambda: picture(photo_id, "embedded")
    )


@pytest.mark.parametrize("neighbours_asked_after", [KEEP_DEVELOPING, KEEP_DEVELOPING + 3, 20])
def test_the_photo_on_screen_is_developed_before_its_neighbours_and_never_dropped(
    darkroom, neighbours_asked_after
):
    room, developer = darkroom
    ask(developer, room, 1)  # busy with an earlier photo
    room.wait(lambda: room.started == [1], "started the first photo")
    developer.focus(2)
    ask(developer, room, 2)
    for photo in range(3, 3 + neighbours_asked_after):  # more than are kept
        ask(developer, room, photo)
    room.let()
    room.wait(lambda: len(room.started) == 2, "started a second development")
    assert room.started[1] == 2, room.state()
    room.let(KEEP_DEVELOPING + 1)
    room.wait(lambda: 2 in room.developed, "developed the photo on screen")


@pytest.mark.parametrize("moves", [1, 3, 8])
def test_a_photo_dropped_as_a_neighbour_is_developed_when_it_comes_on_screen(darkroom, moves):
    room, developer = darkroom
    ask(developer, room, 1)
    room.wait(lambda: room.started == [1], "started the first photo")
    developer.focus(1)
    for photo in range(2, 2 + KEEP_DEVELOPING + moves):  # the earliest neighbours dropped
        ask(developer, room, photo)
    dropped = 2  # asked first after the photo on screen: the oldest
    developer.focus(dropped)  # the photographer gets there; its frame is not drawn again
    room.let()
    room.wait(lambda: len(room.started) == 2, "started a second development")
    assert room.started[1] == dropped, room.state()
    room.let(20)
    room.wait(lambda: dropped in room.developed, "developed the dropped photo")


def test_a_photo_developed_already_is_not_developed_again_on_screen(darkroom):
    room, developer = darkroom
    ask(developer, room, 1)
    room.let()
    room.wait(lambda: room.developed == [1], "developed the first photo")
    for photo in range(2, 3 + KEEP_DEVELOPING):
        ask(developer, room, photo)
    developer.focus(1)
    room.let(20)
    room.wait(lambda: len(room.developed) == 1 + KEEP_DEVELOPING, "developed the kept asks")
    assert room.started.count(1) == 1, room.state()
