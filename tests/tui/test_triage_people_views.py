"""Whose decisions the whole triage screen shows, on a real catalogue: several people's
decisions made through Triage (agreeing, in conflict, a conflict settled, one taken back by
undo), and for each view (everyone's, mine, another person's, blind) every place that shows or
chooses by a decision: the card, the counters, the pending / approved / rejected filters, the
grid's and the filmstrip's marks, compare's and survey's captions, the undo notice. In a
person's view each shows that person's standing decision ("pending" when they have none); in
everyone's view each photo's own, with no query more on the way to the next photo."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.triage.decisions import Triage
from core.triage.people import BLIND, EVERYONE
from tests.tui.burst_helpers import tiles_drawn
from tests.tui.conftest import Library, build_library
from tui.app import ShootwatchApp
from tui.panes.burst_view import BurstView
from tui.panes.grid import Grid
from tui.panes.triage import TriagePane
from tui.prompt import Prompt
from tui.widgets.filmstrip import Filmstrip
from tui.widgets.tile import PhotoTile

pytestmark = pytest.mark.anyio
SIZE = (120, 40)
ANN, BOB, CAT = "ann@studio", "bob@laptop", "cat@nas"  # ann is the one at the keyboard
DECIDED = 8  # the first photos of the shoot, in the order shot, are decided on

# What each person did, photo by photo (by place in the queue), in this order; and each
# person's standing decision after it ("pending": none).
STEPS = [
    (0, ANN, "approved"),  # ann alone
    (1, BOB, "rejected"),  # bob alone
    (2, ANN, "approved"),  # a conflict
    (2, BOB, "rejected"),
    (3, ANN, "approved"),  # a conflict, settled by cat
    (3, BOB, "rejected"),
    (3, CAT, "resolve approved"),
    (4, BOB, "approved"),  # ann's reject taken back by her undo: bob's approval stays
    (4, ANN, "rejected"),
    (4, ANN, "undo"),
    (5, ANN, "rejected"),  # bob's approval taken back by his undo: ann's reject stays
    (5, BOB, "approved"),
    (5, BOB, "undo"),
    (6, CAT, "rejected"),  # cat alone
    (7, BOB, "rejected"),  # bob changed his mind: his newest stands
    (7, BOB, "approved"),
]
STANDING = {
    ANN: {0: "approved", 2: "approved", 3: "approved", 5: "rejected"},
    BOB: {1: "rejected", 2: "rejected", 3: "rejected", 4: "approved", 7: "approved"},
    CAT: {3: "approved", 6: "rejected"},
}
VIEWS = {"everyone's": EVERYONE, "mine": ANN, "bob's": BOB, "cat's": CAT, "blind": BLIND}


@pytest.fixture
def library(tmp_path: Path) -> Iterator[Library]:
    built = build_library(tmp_path, f'triage.name = "{ANN}"\ntui.auto_advance = false\n')
    yield built
    built.catalogue.close()


def make_decisions(library: Library, ids: list[int]) -> None:
    db = library.catalogue.db
    people = {name: Triage(db, person=name) for name in (ANN, BOB, CAT)}
    for place, person, what in STEPS:
        if what == "undo":
            assert people[person].undo().photo_id == ids[place]
        elif what.startswith("resolve "):
            people[person].resolve([ids[place]], what.removeprefix("resolve "))
        else:
            people[person].decide(ids[place], what)


def expected(library: Library, view: str, ids: list[int]) -> dict[int, str]:
    """{photo id: the decision the view shows} of every photo of the shoot."""
    db = library.catalogue.db
    if view == EVERYONE:
        own = dict(db.execute_sql("SELECT id, decision FROM photo").fetchall())
        return {photo_id: own[photo_id] for photo_id in ids}
    whose = STANDING[ANN if view == BLIND else view]
    return {photo_id: whose.get(place, "pending") for place, photo_id in enumerate(ids)}


def position_line(pane: TriagePane) -> str:
    return str(pane.query_one("#position").render())


async def choose_view(pilot, pane: TriagePane, view: str) -> None:
    """P pressed until the pane shows ``view``'s decisions."""
    for _ in range(8):
        if pane.people_view == view:
            return
        await pilot.press("P")
    raise AssertionError(f"P never showed {view}")


async def shoot_on_screen(pilot, library: Library) -> tuple[TriagePane, list[int]]:
    """The app with every photo shown, the people's decisions made; the queue's ids."""
    pane = pilot.app.query_one(TriagePane)
    for _ in range(400):
        if pane.card is not None:
            break
        await pilot.pause(0.05)
    pane.load_queue("all")
    ids = list(pane.queue.photo_ids)
    assert len(ids) > DECIDED
    make_decisions(library, ids)
    return pane, ids


@pytest.mark.parametrize("view_name", VIEWS)
async def test_every_place_shows_the_views_decisions(library, view_name):
    view = VIEWS[view_name]
    async with ShootwatchApp(library.settings, library.catalogue, engine="off").run_test(
        size=SIZE
    ) as pilot:
        pane, ids = await shoot_on_screen(pilot, library)
        await pilot.pause(0.5)  # the pane has followed the decisions made outside it
        await choose_view(pilot, pane, view)
        shows = expected(library, view, ids)

        # the card, photo by photo
        for index, photo_id in enumerate(ids[: DECIDED + 1]):
            pane.go(index)
            assert pane.card.decision == shows[photo_id], (view_name, index)

        # the counters: of the whole set, by the view's decisions
        counted = {kind: list(shows.values()).count(kind)
                   for kind in ("approved", "rejected", "pending")}  # fmt: skip
        assert (
            f"{counted['approved']} approved, {counted['rejected']} rejected,"
            f" {counted['pending']} pending of {len(ids)}"
        ) in position_line(pane), view_name

        # the decision filters: the photos the view shows so, and the view stays
        for kind in ("pending", "approved", "rejected"):
            pane.load_queue(kind)
            assert pane.people_view == view
            assert sorted(pane.queue.photo_ids) == sorted(
                photo_id for photo_id, shown in shows.items() if shown == kind
            ), (view_name, kind)
        pane.load_queue("all", ids[0])
        assert pane.photo_id == ids[0]

        # the grid's marks
        await pilot.press("t")
        grid = pane.query_one(Grid)
        await pilot.pause()
        on_sheet = grid.visible()
        assert set(ids[:DECIDED]) <= set(on_sheet)
        marks = {photo_id: grid._facts[photo_id].decision for photo_id in on_sheet}
        assert marks == {photo_id: shows[photo_id] for photo_id in on_sheet}, view_name
        await pilot.press("t")

        # the filmstrip's marks
        await pilot.press("s")
        strip = pane.query_one(Filmstrip)
        for index in (0, DECIDED - 1):
            pane.go(index)
            await pilot.pause()
            on_strip = strip.visible()
            assert ids[index] in on_strip
            marks = {photo_id: strip._facts[photo_id].decision for photo_id in on_strip}
            assert marks == {photo_id: shows[photo_id] for photo_id in on_strip}, view_name
        await pilot.press("s")

        # compare's and survey's captions, over a burst of the decided photos
        library.catalogue.db.execute_sql(
            "UPDATE photo SET burst = ? WHERE id IN (SELECT value FROM json_each(?))",
            (ids[0], "[" + ",".join(map(str, ids[:DECIDED])) + "]"),
        )
        for key in ("c", "v"):
            pane.go(0)
            await pilot.press(key)
            screen = await tiles_drawn(pilot)
            assert isinstance(screen, BurstView)
            read = {photo_id: facts.decision for photo_id, facts in screen.facts.items()}
            assert read == {photo_id: shows[photo_id] for photo_id in ids[:DECIDED]}
            tiles = [tile.facts for tile in screen.query(PhotoTile) if tile.facts is not None]
            assert tiles and all(facts.decision == shows[facts.photo_id] for facts in tiles)
            await pilot.press("escape")
            await pilot.pause()


@pytest.mark.parametrize("view_name", ["mine", "blind"])
async def test_a_cull_blind_or_mine_never_shows_anyone_elses(library, view_name):
    """Culling in my view or blind: pending is what I have not decided (others' decisions
    included), my decisions and undo move what is shown, and Bob's decision coming in
    changes nothing on my screen; the undo notice tells mine only."""
    view = VIEWS[view_name]
    async with ShootwatchApp(library.settings, library.catalogue, engine="off").run_test(
        size=SIZE
    ) as pilot:
        pane, ids = await shoot_on_screen(pilot, library)
        await choose_view(pilot, pane, view)
        pane.load_queue("pending", ids[1])
        mine = STANDING[ANN]
        undecided = [photo_id for place, photo_id in enumerate(ids) if place not in mine]
        assert pane.queue.photo_ids == undecided  # Bob's reject on photo 2 is still mine to do
        assert pane.photo_id == ids[1] and pane.card.decision == "pending"
        line = position_line(pane)
        assert f"{len(mine)} pending" not in line
        assert f"{len(undecided)} pending of {len(ids)}" in line

        await pilot.press("s")
        await pilot.press("r")  # rejected by me: the counters, card and strip say so
        assert pane.card.decision == "rejected"
        assert f"{len(undecided) - 1} pending of {len(ids)}" in position_line(pane)
        await pilot.pause()
        assert pane.query_one(Filmstrip)._facts[ids[1]].decision == "rejected"

        Triage(library.catalogue.db, person=BOB).decide(ids[6], "approved")  # elsewhere
        await pilot.pause(1.0)  # several looks at the catalogue
        pane.go(pane.queue.photo_ids.index(ids[6]))
        assert pane.card.decision == "pending"
        assert f"{len(undecided) - 1} pending of {len(ids)}" in position_line(pane)

        pane.go(pane.queue.photo_ids.index(ids[1]))
        pilot.app.clear_notifications()
        await pilot.press("ctrl+z")  # my reject taken back: Bob's older reject is not shown
        assert pane.photo_id == ids[1] and pane.card.decision == "pending"
        notes = " ".join(str(note.message) for note in pilot.app._notifications)
        assert "your decision rejected → pending" in notes and BOB not in notes, notes
        assert f"{len(undecided)} pending of {len(ids)}" in position_line(pane)
        await pilot.pause()
        assert pane.query_one(Filmstrip)._facts[ids[1]].decision == "pending"


async def test_a_view_returns_to_the_photo_on_screen(library):
    """Changing the view keeps the photo on screen, even when the view's filter would not
    choose it; the filter chosen stays."""
    async with ShootwatchApp(library.settings, library.catalogue, engine="off").run_test(
        size=SIZE
    ) as pilot:
        pane, ids = await shoot_on_screen(pilot, library)
        await choose_view(pilot, pane, BOB)
        pane.load_queue("pending", ids[5])  # rejected by me: pending to Bob (his undo)
        assert pane.photo_id == ids[5] and pane.card.decision == "pending"
        await choose_view(pilot, pane, BLIND)  # mine: rejected, kept on screen all the same
        assert pane.photo_id == ids[5] and pane.card.decision == "rejected"
        assert ids[5] in pane.queue.photo_ids and pane.queue.filter.name == "pending"
        await choose_view(pilot, pane, EVERYONE)
        assert pane.photo_id == ids[5] and pane.card.decision == "rejected"
        await choose_view(pilot, pane, BLIND)
        pane.load_queue("pending")  # chosen again: now without it
        assert ids[5] not in pane.queue.photo_ids and pane.people_view == BLIND


@pytest.mark.parametrize(
    ("view_name", "who", "shows"),
    [("bob's", BOB, True), ("blind", ANN, True), ("blind", BOB, False), ("cat's", BOB, False)],
)
async def test_a_decision_made_elsewhere_shows_in_its_persons_view_only(
    library, view_name, who, shows
):
    """Someone decides in a session of their own (another app, ``decide``): the screen
    follows it when it is the decision of the person whose view is shown (blind: mine, from
    another app of mine), and shows nothing of it otherwise."""
    view = VIEWS[view_name]
    async with ShootwatchApp(library.settings, library.catalogue, engine="off").run_test(
        size=SIZE
    ) as pilot:
        pane, ids = await shoot_on_screen(pilot, library)
        await choose_view(pilot, pane, view)
        pane.go(DECIDED)  # nobody's yet
        await pilot.press("s")
        await pilot.pause()
        before = position_line(pane)
        assert pane.card.decision == "pending"
        Triage(library.catalogue.db, person=who).decide(ids[DECIDED], "rejected")
        seen = "rejected" if shows else "pending"
        for _ in range(200):  # the pane looks a few times a second
            await pilot.pause(0.05)
            if pane.card.decision == "rejected":
                break
        await pilot.pause(0.5)
        assert pane.card.decision == seen
        assert pane.query_one(Filmstrip)._facts[ids[DECIDED]].decision == seen
        assert (position_line(pane) != before) == shows, (before, position_line(pane))


def asked_on_the_way(db, pane: TriagePane, steps: int) -> list[str]:
    """The statements the UI thread sends the catalogue while the pane goes ``steps``
    photos on (no pause in between: the app's timers do not run meanwhile)."""
    asked: list[str] = []
    execute = db.execute_sql
    ui = threading.current_thread()

    def recorded(sql, *args, **kwargs):
        if threading.current_thread() is ui:
            asked.append(sql)
        return execute(sql, *args, **kwargs)

    db.execute_sql = recorded
    try:
        for _ in range(steps):
            pane.action_next()
    finally:
        del db.execute_sql
    return asked


async def test_the_next_photo_asks_the_catalogue_nothing_more_in_any_view(library):
    """The way to the next photo asks the catalogue what it asked before there were views
    of people's decisions, in everyone's view and blind alike: a person's decisions are read
    once for the view, never per photo, and never in everyone's view."""
    async with ShootwatchApp(library.settings, library.catalogue, engine="off").run_test(
        size=SIZE
    ) as pilot:
        pane, _ = await shoot_on_screen(pilot, library)
        await pilot.pause(0.5)
        db = library.catalogue.db
        pane.go(0)
        everyones = asked_on_the_way(db, pane, DECIDED)
        assert len(everyones) == NEXT_PHOTO_QUERIES * DECIDED, everyones
        await choose_view(pilot, pane, BLIND)
        pane.go(0)
        assert asked_on_the_way(db, pane, DECIDED) == everyones


# What the way to the next photo asks the catalogue, measured in everyone's view before there
# were views of people's decisions: the card (with darktable's state and the burst's place),
# the people's decisions on the photo, and its AF point.
NEXT_PHOTO_QUERIES = 6


# Two bursts people disagree on the pick of (by place in the queue: 0-2 and 3-5), each
# frame's sharpness, what each person did, and each view's picks; the rest on their own.
BURSTS = ([0, 1, 2], [3, 4, 5])
BURST_SHARPNESS = {0: 1.0, 1: 3.0, 2: 2.0, 3: 5.0, 4: 4.0, 5: 6.0}
BURST_DECISIONS = [(0, BOB, "approved"), (1, ANN, "rejected"), (4, ANN, "approved"),
                   (5, BOB, "rejected"), (7, CAT, "rejected")]  # fmt: skip
BURST_STARS = {2: 4, 3: 3, 8: 5}
PICKED = {EVERYONE: (0, 4), ANN: (2, 4), BOB: (0, 3), CAT: (1, 5), BLIND: (2, 4)}


async def type_filter(pilot, pane: TriagePane, words: str) -> None:
    """The filter typed as the photographer does: f, then "type:", then the words."""
    await pilot.press("f")
    picker = pilot.app.screen
    values = [value for value, _ in picker.choices]
    at = values.index(picker.current) if picker.current in values else 0  # where it starts
    await pilot.press(*["down"] * (values.index("type:") - at), "enter")
    prompt = pilot.app.screen
    assert isinstance(prompt, Prompt)
    prompt.query_one("Input").value = ""
    await pilot.press(*words, "enter")
    assert pane.queue.filter.name == words


@pytest.mark.parametrize("view_name", VIEWS)
async def test_the_leaders_filter_picks_each_burst_by_the_views_decisions(library, view_name):
    """``leaders``, alone and with a decision or stars, picks each burst's frame by the
    decisions of the view shown (the approved one, else the sharpest not rejected), and the
    counters count those picks by them; pressing P loads it again by the next view's."""
    view = VIEWS[view_name]
    db = library.catalogue.db
    async with ShootwatchApp(library.settings, library.catalogue, engine="off").run_test(
        size=SIZE
    ) as pilot:
        pane = pilot.app.query_one(TriagePane)
        for _ in range(400):
            if pane.card is not None:
                break
            await pilot.pause(0.05)
        pane.load_queue("all")
        ids = list(pane.queue.photo_ids)
        db.execute_sql("UPDATE photo SET burst = NULL")
        for burst in BURSTS:
            members = "[" + ",".join(str(ids[place]) for place in burst) + "]"
            db.execute_sql(
                "UPDATE photo SET burst = ? WHERE id IN (SELECT value FROM json_each(?))",
                (ids[burst[0]], members),
            )
        for place, sharpness in BURST_SHARPNESS.items():
            db.execute_sql("UPDATE photo SET sharpness = ? WHERE id = ?", (sharpness, ids[place]))
        people = {name: Triage(db, person=name) for name in (ANN, BOB, CAT)}
        for place, stars in BURST_STARS.items():
            people[CAT].rate(ids[place], stars)
        for place, person, what in BURST_DECISIONS:
            people[person].decide(ids[place], what)
        await pilot.pause(0.5)  # the pane has followed the decisions made outside it
        await choose_view(pilot, pane, view)

        # {place: decision} as the view shows it (everyone's: each photo's own)
        own = expected(library, EVERYONE, ids)
        shows = {place: own[photo_id] for place, photo_id in enumerate(ids)}
        if view != EVERYONE:
            whose = ANN if view == BLIND else view
            shows = {place: what for place, person, what in BURST_DECISIONS if person == whose}
        leaders = [*PICKED[view], *range(6, len(ids))]
        stars = dict(db.execute_sql("SELECT id, rating FROM photo").fetchall())  # the shoot's too
        for words, chosen in [
            ("leaders", leaders),
            ("leaders pending", [p for p in leaders if shows.get(p, "pending") == "pending"]),
            ("leaders stars>=3", [p for p in leaders if stars[ids[p]] >= 3]),
        ]:
            await type_filter(pilot, pane, words)
            assert pane.queue.photo_ids == [ids[place] for place in chosen], (view_name, words)
            counted = [p for p in leaders if words != "leaders stars>=3" or p in chosen]
            approved = sum(shows.get(p) == "approved" for p in counted)
            rejected = sum(shows.get(p) == "rejected" for p in counted)
            assert (
                f"{approved} approved, {rejected} rejected,"
                f" {len(counted) - approved - rejected} pending of {len(counted)}"
            ) in position_line(pane), (view_name, words)

        # P: the filter loaded again by the next view's picks (the photo on screen kept)
        await type_filter(pilot, pane, "leaders")
        order = list(VIEWS.values())
        following = order[(order.index(view) + 1) % len(order)]
        await choose_view(pilot, pane, following)
        assert pane.queue.filter.name == "leaders"
        picked = {ids[place] for place in [*PICKED[following], *range(6, len(ids))]}
        assert picked <= set(pane.queue.photo_ids) <= picked | {pane.photo_id}, view_name
