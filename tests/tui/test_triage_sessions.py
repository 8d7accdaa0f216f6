"""Triage across sessions, in the real app on a real catalogue: a reopened app resumes where
the cull stopped with the whole shoot's counters; undo and redo show the photo they change;
another session's decision (``shootwatch decide``, run as a whole process) shows on the card
and in the counters; undo takes back this app's own decisions first."""

from __future__ import annotations

import asyncio
import os
import re
import sys

import pytest

from core.store.app_state import triage_position
from tests.helpers import REPO
from tests.tui.conftest import Library
from tui.app import ShootwatchApp
from tui.panes.triage import TriagePane

pytestmark = pytest.mark.anyio
SIZE = (120, 36)
COUNTERS = re.compile(r"(\d+) / (\d+) — (\d+) approved, (\d+) rejected, (\d+) pending of (\d+)")


def make_app(library: Library) -> ShootwatchApp:
    return ShootwatchApp(library.settings, library.catalogue, engine="off")


def position_line(pane: TriagePane) -> str:
    return str(pane.query_one("#position").render())


def counters(pane: TriagePane) -> tuple[int, ...]:
    match = COUNTERS.search(position_line(pane))
    assert match, position_line(pane)
    return tuple(int(group) for group in match.groups())


def name_of(pane: TriagePane) -> str:
    return os.path.basename(pane.card.path)


def stored(library: Library, name: str) -> tuple:
    return library.decision(name)


async def decide_elsewhere(library: Library, name: str, *how: str) -> str:
    """``shootwatch decide`` on the photo ``name``, as a whole process of its own."""
    path = next(library.photos.rglob(name))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "core.cli",
        "--config", str(library.photos.parent / "shootwatch.toml"),
        "decide", str(path), *how,
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def until(pilot, test, what: str, seconds: float = 20.0) -> None:
    """Poll up to a generous deadline (the machine may be loaded); the time is not asserted."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if test():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"never: {what}")


# --- reopening -----------------------------------------------------------------------------------


async def test_a_reopened_app_resumes_at_the_last_photo_with_the_whole_shoots_counters(library):
    async with make_app(library).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        await pilot.press("space")  # IMG_0001 skipped, as a photographer does
        await pilot.press("a", "a", "x", "a", "a", "a")  # IMG_0002 … IMG_0007
        await pilot.press("x")  # IMG_0008 rejected; darktable rejected IMG_0009 and IMG_0010
        assert name_of(pane) == "IMG_0011.JPG"
        assert counters(pane)[2:] == (5, 4, 8, 17)
    async with make_app(library).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        # The queue is the pending photos now: 8 of them (IMG_0001, IMG_0011, the street's
        # six), IMG_0001 first; the app stands where the cull stopped, and counts the whole
        # shoot, darktable's two rejects with it.
        assert name_of(pane) == "IMG_0011.JPG"
        assert counters(pane) == (2, 8, 5, 4, 8, 17)
        assert "0 approved" not in position_line(pane)


async def test_reopened_on_a_photo_decided_since_it_stands_on_the_nearest_pending(library):
    async with make_app(library).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        await pilot.press("space", "space", "n", "a")  # IMG_0003 approved, stays on screen
        assert name_of(pane) == "IMG_0003.JPG"

        def kept() -> bool:
            position = triage_position(library.catalogue.db)
            return position is not None and position.photo_id == pane.photo_id

        await until(pilot, kept, "the position kept in the catalogue")
    async with make_app(library).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        (approved,) = library.catalogue.db.execute_sql(
            "SELECT photo_id FROM file WHERE role = 'original' AND rel_path LIKE '%/IMG_0003.JPG'"
        ).fetchone()
        assert approved not in pane.queue.photo_ids  # approved: not in the pending queue
        assert name_of(pane) == "IMG_0004.JPG"  # a minute later; IMG_0002 a minute before
        assert pane.queue.filter.name == "pending"


async def test_the_filter_is_resumed_too(library):
    folder = f"folder:{library.photos / '2024-07-15_street'}"
    async with make_app(library).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        pane.load_queue(folder)
        await pilot.press("space", "space")
        assert name_of(pane) == "DSC_0103.JPG"
    async with make_app(library).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        assert pane.queue.filter.name == folder
        assert name_of(pane) == "DSC_0103.JPG"
        assert counters(pane) == (3, 6, 0, 0, 6, 6)  # the shoot's six, not the catalogue's 17


# --- undo and redo you can see ---------------------------------------------------------------


async def test_undo_brings_back_a_photo_the_queue_had_left_and_shows_it(library):
    async with make_app(library).run_test(size=SIZE) as pilot:
        await pilot.press("a", "a")  # IMG_0001 and IMG_0002 approved; IMG_0003 on screen
    async with make_app(library).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        assert name_of(pane) == "IMG_0003.JPG" and len(pane.queue.photo_ids) == 13
        await pilot.press("ctrl+z")  # this app made none: the newest of anyone's, IMG_0002
        assert stored(library, "IMG_0002.JPG")[0] == "pending"
        assert name_of(pane) == "IMG_0002.JPG"  # shown, back in the queue at its place
        assert pane.queue.photo_ids.index(pane.photo_id) == 0
        assert counters(pane) == (1, 14, 1, 2, 14, 17)  # 2 rejected by darktable's sidecars
        toasts = [n.message for n in pilot.app._notifications]
        assert any("IMG_0002.JPG" in t and "approved → pending" in t for t in toasts), toasts
        await pilot.press("right", "right", "ctrl+y")  # redo from elsewhere in the queue
        assert stored(library, "IMG_0002.JPG")[0] == "approved"
        assert name_of(pane) == "IMG_0002.JPG"
        assert counters(pane)[2:] == (2, 2, 13, 17)
        assert any("Redone on IMG_0002.JPG" in n.message for n in pilot.app._notifications)


async def test_undo_of_stars_goes_to_the_photo_and_names_it(library):
    async with make_app(library).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        await pilot.press("4")
        await pilot.press("right", "right", "right")
        await pilot.press("ctrl+z")
        assert name_of(pane) == "IMG_0001.JPG"
        assert stored(library, "IMG_0001.JPG")[1] == 1  # the one star darktable's sidecar gave
        assert "★☆☆☆☆" in str(pane.query_one("#facts").render())
        toasts = [n.message for n in pilot.app._notifications]
        assert any("IMG_0001.JPG" in t and "4 ★ → 1 ★" in t for t in toasts), toasts


# --- another session ---------------------------------------------------------------------------


@pytest.mark.parametrize("gap", [0.0, 0.1, 0.3, 1.0])
async def test_another_sessions_decision_shows_on_the_card_and_in_the_counters(library, gap):
    """``shootwatch decide`` runs ``gap`` seconds after the app's own change on the photo on
    screen (each the last word on its field): the card and counters end as the catalogue."""
    async with make_app(library).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        await pilot.press("n", "2")  # the app: two stars, and it stays on the photo
        assert "★★☆☆☆" in str(pane.query_one("#facts").render())
        await pilot.pause(gap)
        said = await decide_elsewhere(library, "IMG_0001.JPG", "--stars", "4")
        assert "rating 2 -> 4" in said
        await until(pilot, lambda: "★★★★☆" in str(pane.query_one("#facts").render()),
                    "the card showing the other session's four stars")  # fmt: skip
        await pilot.pause(gap)
        await decide_elsewhere(library, "IMG_0001.JPG", "--reject")
        await until(pilot, lambda: counters(pane)[2:] == (0, 3, 14, 17),  # and darktable's 2
                    "the counters moving for the other session's reject")  # fmt: skip
        assert " rejected " in str(pane.query_one("#facts").render())
        # A photo not on screen: the counters move, the card on screen stays as it is.
        await decide_elsewhere(library, "DSC_0106.JPG", "--approve")
        await until(pilot, lambda: counters(pane)[2:] == (1, 3, 13, 17), "counters: 1 approved")
        assert name_of(pane) == "IMG_0001.JPG"


@pytest.mark.parametrize("gap", [0.0, 0.2, 1.0])
async def test_undo_in_the_app_takes_back_its_own_decision_first(library, gap):
    async with make_app(library).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        await pilot.press("a")  # the app approves IMG_0001; IMG_0002 on screen
        await pilot.pause(gap)
        await decide_elsewhere(library, "IMG_0005.JPG", "--reject")  # newer, but not ours
        # 3 rejected: the other session's, and the two darktable's sidecars rejected
        await until(pilot, lambda: counters(pane)[3] == 3, "the other session's reject counted")
        await pilot.press("ctrl+z")
        assert stored(library, "IMG_0001.JPG")[0] == "pending"
        assert stored(library, "IMG_0005.JPG")[0] == "rejected"  # the other session's stays
        assert name_of(pane) == "IMG_0001.JPG"
        await pilot.press("ctrl+z")  # ours are all taken back: then anyone's, newest first
        assert stored(library, "IMG_0005.JPG")[0] == "pending"
        assert name_of(pane) == "IMG_0005.JPG"


async def test_undo_leaves_a_field_another_session_changed_since_and_says_so(library):
    async with make_app(library).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        await pilot.press("2", "right")  # the app: IMG_0001 two stars
        await decide_elsewhere(library, "IMG_0001.JPG", "--stars", "5")
        await pilot.press("ctrl+z")  # would write 0 over the other session's 5
        assert stored(library, "IMG_0001.JPG")[1] == 5
        assert name_of(pane) == "IMG_0001.JPG"
        await until(pilot, lambda: "★★★★★" in str(pane.query_one("#facts").render()), "5 stars")
        toasts = [n.message for n in pilot.app._notifications]
        assert any(t.startswith("Undone on IMG_0001.JPG") and "keeps another session's newer 5"
                   in t for t in toasts), toasts  # fmt: skip


@pytest.mark.parametrize("filter_text", ["pending", "all", "unrated", "label:red", "folder"])
async def test_the_counters_moved_key_by_key_are_the_catalogues_own(library, filter_text):
    """The counters move with each change instead of counting the catalogue again (a
    catalogue of years is slow to count): after any run of keys they are what a count says.
    Stars and labels take photos in and out of the unrated and label sets."""
    import random

    if filter_text == "folder":
        filter_text = f"folder:{library.photos / '2024-06-01_wedding'}"
    keys = ["a", "x", "u", "3", "0", "f1", "space", "backspace", "ctrl+z", "ctrl+y", "n"]
    rng = random.Random(filter_text)
    async with make_app(library).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        pane.load_queue(filter_text)
        for step in range(40):
            await pilot.press(rng.choice(keys))
            if step % 8 == 7:
                assert pane.counts == pane.queue.counts(), step
        assert pane.counts == pane.queue.counts()


async def test_a_catalogue_that_takes_no_writes_leaves_the_app_working(library):
    """Keeping the position is a write: refused (a read-only catalogue), it is said once and
    the app goes on; a decision says it was not saved, as before."""
    library.catalogue.db.execute_sql("PRAGMA query_only = 1")
    try:
        async with make_app(library).run_test(size=SIZE) as pilot:
            pane = pilot.app.query_one(TriagePane)
            await pilot.press("space", "space")
            await until(pilot, lambda: not pane._keep_position, "the refusal noticed")
            await pilot.press("space", "a")
            assert name_of(pane) == "IMG_0004.JPG"  # it did not move on: nothing was saved
            messages = [n.message for n in pilot.app._notifications]
            assert sum("not kept for next time" in m for m in messages) == 1, messages
            assert any(m.startswith("not saved") or m.startswith("Not saved") for m in messages)
        assert pilot.app._exception is None
    finally:
        library.catalogue.db.execute_sql("PRAGMA query_only = 0")
    assert triage_position(library.catalogue.db) is None
