"""Closing the app at any moment, with frames still being drawn in their threads: nothing it
started may reach for a widget that has gone (Textual's NoMatches), and closing does not wait
on a frame thread."""

from __future__ import annotations

import random
import threading
import time

import pytest

from tests.tui.conftest import Library
from tui.app import ShootwatchApp
from tui.panes.triage import TriagePane
from tui.widgets.photo_view import PhotoView

pytestmark = pytest.mark.anyio
SIZE = (120, 36)


@pytest.fixture
def thread_errors(monkeypatch) -> list[BaseException]:
    """Exceptions raised in threads (a frame thread's would only be printed)."""
    caught: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: caught.append(args.exc_value))
    return caught


async def test_a_frame_finished_while_the_pane_closes_reaches_for_nothing(
    library: Library, thread_errors
):
    """While the app closes, the photo view goes before its pane: a frame thread that finishes
    then must not look for it (this is what raised NoMatches once in three closes)."""
    app = ShootwatchApp(library.settings, library.catalogue, engine="off")
    async with app.run_test(size=SIZE) as pilot:
        pane = app.query_one(TriagePane)
        for _ in range(200):
            await pilot.pause(0.02)
            frame = pane.query_one(PhotoView).frame
            if frame is not None and frame.strips:
                break
        await pane.query_one(PhotoView).remove()  # as the close prunes it first
        finished = threading.Thread(target=pane._frame_ready, args=(frame,))
        finished.start()
        for _ in range(50):
            await pilot.pause(0.02)
        finished.join(timeout=5)
        assert not finished.is_alive()
    assert thread_errors == [] and app._exception is None


@pytest.mark.parametrize("keys", [(), ("space",), ("space", "space", "z"), ("E", "T", "space")])
async def test_the_app_opens_and_closes_cleanly_whatever_it_was_drawing(
    library: Library, thread_errors, monkeypatch, keys
):
    """Opened and closed many times, at random moments while frames (slowed down, as a large
    original drawn without a preview is) are still being made."""
    load = TriagePane._load
    rng = random.Random(" ".join(keys))

    def slow_load(self, *args):
        time.sleep(rng.random() * 0.05)
        return load(self, *args)

    monkeypatch.setattr(TriagePane, "_load", slow_load)
    for _round in range(8):
        app = ShootwatchApp(library.settings, library.catalogue, engine="off")
        async with app.run_test(size=SIZE) as pilot:
            for key in keys:
                await pilot.press(key)
            await pilot.pause(rng.random() * 0.1)
            await pilot.press("q")
        assert app._exception is None, repr(app._exception)
    assert thread_errors == []
