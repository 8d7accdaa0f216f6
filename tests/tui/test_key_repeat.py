"""Holding a key down: key repeat sends space or backspace at 10-60 Hz, and when it stops the
photo the queue stands on is drawn, never left blank behind drawings of neighbours that are no
longer wanted. Real app, real JPEGs in a real catalogue, keys sent as the terminal driver does."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual import events

from core.media.photos import preview_cache_dir
from tests.helpers import REPO_CAMERA, catalogue_photos
from tests.tui.conftest import Library
from tests.tui.tmux_screen import TMUX, TmuxProgram, app_env, photo_shown
from tui.app import ShootwatchApp
from tui.panes.triage import TriagePane
from tui.widgets.photo_view import PhotoView

SIZE = (160, 48)
PHOTOS = 26
SOURCES = (
    "nikon_coolpix_p6000_gps_DSCN0010.jpg",
    "samsung_galaxy_s_orient6_gps.jpg",
    "kodak_dc240_1999.jpg",
    "sony_slt-a58_small.jpg",
    "apple_iphone5_orient3_gps.jpg",
)
REPO = Path(__file__).resolve().parents[2]
DRAWN_WITHIN = 10.0  # generous: a loaded machine is slow, a blank photo is blank for good


def build_shoot(base: Path, photos: int = PHOTOS, previews: bool = True) -> Library:
    """``photos`` distinct camera JPEGs (each copy made distinct by bytes after its end marker)
    in one shoot folder, scanned into a real catalogue with EXIF read as the engine does, and
    the previews it built left in their cache or removed."""
    folder = base / "photos" / "2025-03-08"
    folder.mkdir(parents=True)
    sources = [(REPO_CAMERA / name).read_bytes() for name in SOURCES]
    for n in range(photos):
        (folder / f"IMG_{n:04d}.JPG").write_bytes(sources[n % len(sources)] + b"repeat-%d" % n)
    settings, catalogue = catalogue_photos(base)
    if not previews:  # each photo drawn from its original, its preview built afterwards
        shutil.rmtree(preview_cache_dir(settings.media))
    return Library(settings, catalogue, base / "photos")


@pytest.fixture(params=[True, False], ids=["previews", "no-previews"])
def shoot(tmp_path: Path, request) -> Iterator[Library]:
    built = build_shoot(tmp_path, previews=request.param)
    yield built
    built.catalogue.close()


def drawn(pane: TriagePane) -> bool:
    """The photo the queue stands on is the one in the photo view, drawn."""
    view = pane.query_one(PhotoView)
    frame = view.frame
    return (
        frame is not None
        and bool(frame.strips)
        and (frame.photo_id, frame.size) == (pane.photo_id, view.size)
    )


async def wait_drawn(pilot, pane: TriagePane, index: int | None = None) -> bool:
    """Wait until the queue stands on ``index`` (once the keys sent are handled) and its
    photo is drawn."""

    def there() -> bool:
        return (index is None or pane.index == index) and drawn(pane)

    deadline = time.monotonic() + DRAWN_WITHIN
    while time.monotonic() < deadline:
        if there():
            return True
        await pilot.pause(0.02)
    return there()


async def key_repeat(app: ShootwatchApp, key: str, count: int, hz: float) -> None:
    """``count`` presses of ``key`` at ``hz``, handed to the app as its terminal driver hands
    them (no waiting for the app between presses: a held key does not wait either)."""
    char = " " if key == "space" else None
    started = time.monotonic()
    for n in range(count):
        event = events.Key(key, char)
        event.set_sender(app)
        app._driver.send_message(event)
        await asyncio.sleep(max(0.0, started + (n + 1) / hz - time.monotonic()))


@pytest.mark.anyio
@pytest.mark.parametrize("hz", [10, 30, 60])
@pytest.mark.parametrize("count", [5, 20])
@pytest.mark.parametrize(("key", "step"), [("space", 1), ("backspace", -1)])
async def test_the_photo_is_drawn_when_a_held_key_stops(shoot, hz, count, key, step):
    async with ShootwatchApp(shoot.settings, shoot.catalogue, engine="off").run_test(
        size=SIZE
    ) as pilot:
        pane = pilot.app.query_one(TriagePane)
        assert await wait_drawn(pilot, pane), "the first photo was never drawn"
        start = 0 if step > 0 else PHOTOS - 1
        if step < 0:
            await pilot.press("end")
            assert await wait_drawn(pilot, pane, start), "the last photo was never drawn"
        # Let the neighbours' drawing start, as it has when a photographer starts holding a key.
        await pilot.pause(0.05)
        await key_repeat(pilot.app, key, count, hz)
        end = start + step * count
        assert await wait_drawn(pilot, pane, end), (
            f"photo {end + 1} not drawn {DRAWN_WITHIN:.0f} s after {count} keys at {hz} Hz:"
            f" the queue stands on photo {pane.index + 1}"
        )
        position = str(pane.query_one("#position").render())
        assert position.startswith(f"{end + 1} / {PHOTOS}")


@pytest.mark.anyio
async def test_a_second_burst_after_the_first_is_drawn_too(shoot):
    """Bursts back and forth, as a photographer overshoots and comes back."""
    async with ShootwatchApp(shoot.settings, shoot.catalogue, engine="off").run_test(
        size=SIZE
    ) as pilot:
        pane = pilot.app.query_one(TriagePane)
        assert await wait_drawn(pilot, pane)
        index = 0
        for key, count in (("space", 20), ("backspace", 7), ("space", 3), ("backspace", 16)):
            await key_repeat(pilot.app, key, count, 30)
            index += count if key == "space" else -count
            assert await wait_drawn(pilot, pane, index), f"blank after {count} x {key}"


@pytest.fixture
def app_in_tmux(tmp_path: Path) -> Iterator[TmuxProgram]:
    """The whole app (``python -m tui``) on the shoot, in a real tmux at 160x48."""
    if TMUX is None:
        if os.environ.get("SHOOTWATCH_REQUIRE_TMUX") == "1":
            pytest.fail("SHOOTWATCH_REQUIRE_TMUX=1 but tmux is not installed")
        pytest.skip("tmux is not installed (CI installs it)")
    shoot = build_shoot(tmp_path / "shoot")
    shoot.catalogue.close()
    config = tmp_path / "shoot" / "shootwatch.toml"
    command = f"{sys.executable} -m tui --config {config} --no-engine"
    program = TmuxProgram(command, tmp_path, app_env(tmp_path / "home", REPO))
    try:
        yield program
    finally:
        program.close()


@pytest.mark.parametrize("hz", [30, 60])
def test_a_held_key_in_tmux_ends_on_the_photo_drawn(app_in_tmux, hz):
    """Through a real terminal: 20 spaces then 20 backspaces typed at key-repeat pace."""
    app_in_tmux.wait_for(lambda screen: photo_shown(screen, 1), "the first photo", timeout=60)
    position = 1
    for key, step in (("Space", 1), ("BSpace", -1)):
        started = time.monotonic()
        for n in range(20):
            app_in_tmux.keys(key)
            time.sleep(max(0.0, started + (n + 1) / hz - time.monotonic()))
        position += 20 * step
        app_in_tmux.wait_for(
            lambda screen, at=position: photo_shown(screen, at),
            f"photo {position} drawn after 20 x {key}",
            timeout=DRAWN_WITHIN,
        )
