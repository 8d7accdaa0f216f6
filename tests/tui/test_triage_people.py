"""People in the app, on a real catalogue: whose decisions the card shows (everyone's, mine,
another person's, blind), a decision made by someone else in a process of their own showing as
a conflict, the next conflict found by one key and settled by another."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.store.models import Decision
from core.triage.decisions import Triage
from core.triage.people import conflicts
from tests.helpers import REPO
from tests.tui.conftest import Library, build_library
from tui.app import ShootwatchApp
from tui.panes.triage import TriagePane

pytestmark = pytest.mark.anyio
SIZE = (120, 36)
ME, BOB = "ann@studio", "bob@laptop"


@pytest.fixture
def library(tmp_path: Path) -> Iterator[Library]:
    built = build_library(tmp_path, f'triage.name = "{ME}"\ntui.auto_advance = false\n')
    yield built
    built.catalogue.close()


def position_line(pane: TriagePane) -> str:
    return str(pane.query_one("#position").render())


def info_text(pane: TriagePane) -> str:
    return str(pane.query_one("#info-text").render())


async def decide_as(library: Library, person: str, name: str, *how: str) -> None:
    """``shootwatch decide PATH ... --as PERSON``, as a whole process of its own."""
    path = next(library.photos.rglob(name))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "core.cli",
        "--config", str(library.photos.parent / "shootwatch.toml"),
        "decide", str(path), *how, "--as", person,
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await process.communicate()
    assert process.returncode == 0, err.decode()


async def until(pilot, test, what: str, seconds: float = 20.0) -> None:
    """Poll up to a generous deadline (the machine may be loaded); the time is not asserted."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if test():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"never: {what}")


async def test_whose_decisions_the_card_shows_and_blind_hides_the_others(library):
    async with ShootwatchApp(library.settings, library.catalogue, engine="off").run_test(
        size=SIZE
    ) as pilot:
        pane = pilot.app.query_one(TriagePane)
        await until(pilot, lambda: pane.card is not None, "a photo on screen")
        name = os.path.basename(pane.card.path)
        await pilot.press("a")  # approved by me
        assert pane.card.decision == "approved"
        await decide_as(library, BOB, name, "--reject")  # rejected by Bob, elsewhere
        await until(pilot, lambda: pane.card.decision == "rejected", "Bob's reject on the card")
        await until(pilot, lambda: "conflict" in position_line(pane), "the conflict said")
        await pilot.press("i")
        await until(pilot, lambda: "people" in info_text(pane), "the people in the overlay")
        assert f"approved by {ME}, rejected by {BOB} — conflict" in info_text(pane)

        await pilot.press("P")  # mine
        assert pane.card.decision == "approved" and "decisions: yours" in position_line(pane)
        await pilot.press("P")  # Bob's
        assert pane.card.decision == "rejected"
        assert f"decisions: {BOB}" in position_line(pane)
        await pilot.press("P")  # blind: nothing of Bob's anywhere
        await pilot.pause()
        assert pane.card.decision == "approved"
        shown = position_line(pane) + info_text(pane)
        assert "blind" in position_line(pane)
        assert BOB not in shown and "conflict" not in shown, shown
        assert "1 approved, 0 rejected" in position_line(pane)  # mine: Bob's reject untold
        await pilot.press("C")  # the conflicts are others' decisions too: not while blind
        await pilot.press("m")
        assert conflicts(library.catalogue.db) != []  # nothing was settled blind
        await pilot.press("P")  # everyone's again
        assert pane.card.decision == "rejected" and "conflict" in position_line(pane)
        await pilot.press("ctrl+z")  # mine taken back, under Bob's newer: the photo keeps his
        assert pane.card.decision == "rejected" and "conflict" not in position_line(pane)
        assert library.decision(name)[0] == "rejected"
        assert any(f"keeps {BOB}'s newer rejected" in str(note.message)
                   for note in pilot.app._notifications)  # fmt: skip


async def test_one_key_goes_to_the_next_conflict_and_one_settles_it(library):
    db = library.catalogue.db
    me, bob = Triage(db, person=ME), Triage(db, person=BOB)
    async with ShootwatchApp(library.settings, library.catalogue, engine="off").run_test(
        size=SIZE
    ) as pilot:
        pane = pilot.app.query_one(TriagePane)
        await until(pilot, lambda: pane.card is not None, "a photo on screen")
        pane.load_queue("all")
        ids = pane.queue.photo_ids
        assert len(ids) >= 4
        # Photos 2 and 4 of the queue: approved by me, rejected by Bob; photo 3: agreed.
        for index in (1, 3):
            me.decide(ids[index], "approved")
            bob.decide(ids[index], "rejected")
        me.decide(ids[2], "approved")
        bob.decide(ids[2], "approved")
        pane.go(0)
        await pilot.pause()

        await pilot.press("m")  # photo 1: no conflict, nothing settled
        assert Decision.select().where(Decision.source == "resolve").count() == 0
        await pilot.press("C")
        assert pane.photo_id == ids[1] and "conflict" in position_line(pane)
        await pilot.press("C")
        assert pane.photo_id == ids[3]
        await pilot.press("C")  # round to the first
        assert pane.photo_id == ids[1]

        await pilot.press("m")  # settled with what the card shows: Bob's, the newest
        assert [photo.photo_id for photo in conflicts(db)] == [ids[3]]
        (settled,) = Decision.select().where(Decision.source == "resolve")
        assert (settled.photo_id, settled.person, settled.after) == (ids[1], ME, '"rejected"')
        assert "conflict" not in position_line(pane)

        await pilot.press("C")  # the one left
        assert pane.photo_id == ids[3]
        await pilot.press("P")  # my view: my approval is what settles it
        await pilot.press("m")
        assert conflicts(db) == []
        assert library.decision(os.path.basename(pane.card.path))[0] == "approved"
        await pilot.press("C")
        assert pane.photo_id == ids[3]  # nowhere to go
        await pilot.press("ctrl+z")  # my resolution taken back: the conflict is back
        assert [photo.photo_id for photo in conflicts(db)] == [ids[3]]
