"""The triage pane's bursts and navigation keys, pressed in the real app on a real catalogue of
a real shoot (the demo's burst and bursts made of real photos): B collapses bursts to their
pick, ] and [ go to the next and previous pending photo, / jumps to a time, the filter picker
offers the new filters and a typed combination, and the facts line shows "burst 3 / 5", a
sharpness bar and the rank."""

from __future__ import annotations

import pytest

from core.media.looks import sharpness_fraction
from core.triage.bursts import regroup_all
from core.triage.decisions import Triage
from tests.bursts_sequences import catalogue_shoot, mixed_frames
from tui.app import ShootwatchApp
from tui.panes.triage import TriagePane
from tui.panes.triage_bursts import sharpness_bar
from tui.picker import Picker
from tui.prompt import Prompt

pytestmark = pytest.mark.anyio
SIZE = (140, 36)
SHARPNESS = {"DSC_0101.JPG": 400.0, "DSC_0102.JPG": 900.0, "DSC_0103.JPG": 1200.0,
             "DSC_0104.JPG": 300.0, "DSC_0105.JPG": 950.0, "A_0.JPG": 500.0, "A_1.JPG": 600.0,
             "A_2.JPG": 700.0}  # fmt: skip


@pytest.fixture
def shoot(tmp_path):
    built = catalogue_shoot(tmp_path, mixed_frames())
    with built.db.atomic():
        regroup_all(built.db)
    built.set_sharpness(SHARPNESS)
    yield built
    built.catalogue.close()


def make_app(shoot) -> ShootwatchApp:
    return ShootwatchApp(shoot.settings, shoot.catalogue, engine="off")


def name(shoot, pane: TriagePane) -> str:
    return next(n for n, photo_id in shoot.ids.items() if photo_id == pane.photo_id)


def line(pane: TriagePane, which: str) -> str:
    return str(pane.query_one(f"#{which}").render())


async def test_the_facts_line_shows_the_burst_place_sharpness_and_rank(shoot):
    async with make_app(shoot).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        await pilot.pause()
        assert name(shoot, pane) == "DSC_0101.JPG"
        facts = line(pane, "facts")
        assert "burst 1 / 5" in facts and "4th sharpest of 5" in facts and "soft" in facts
        assert sharpness_bar(40 / 120) in facts
        await pilot.press("space", "space")
        facts = line(pane, "facts")
        assert "burst 3 / 5 █████ sharpest of 5" in facts and "soft" not in facts
        await pilot.press("G")  # the last: C_2, its burst not measured
        facts = line(pane, "facts")
        assert "burst 3 / 3" in facts and "sharpest" not in facts and "focus" not in facts
        shoot.set_sharpness({"B_2.JPG": 5000.0, "B_3.JPG": 60.0})  # on their own
        pane.go(pane.queue.photo_ids.index(shoot.ids["B_2.JPG"]))
        assert f"focus {sharpness_bar(1.0)}" in line(pane, "facts")
        assert "soft" not in line(pane, "facts") and "burst" not in line(pane, "facts")
        await pilot.press("space")
        facts = line(pane, "facts")
        assert f"focus {sharpness_bar(sharpness_fraction(60.0))} soft" in facts


async def test_b_collapses_bursts_to_their_pick_and_back(shoot):
    async with make_app(shoot).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        await pilot.press("space")  # DSC_0102
        assert len(pane.queue.photo_ids) == 18
        await pilot.press("B")
        assert pane.collapsed and len(pane.queue.photo_ids) == 9
        assert name(shoot, pane) == "DSC_0103.JPG"  # its burst's pick: the sharpest
        assert "bursts collapsed" in line(pane, "position")
        assert line(pane, "position").startswith("1 / 9")
        await pilot.press("space")
        assert name(shoot, pane) == "DSC_0106.JPG"  # the rest of the burst is folded away
        await pilot.press("B")
        assert not pane.collapsed and len(pane.queue.photo_ids) == 18
        assert name(shoot, pane) == "DSC_0106.JPG"
        assert "bursts collapsed" not in line(pane, "position")


@pytest.mark.parametrize("collapsed", [False, True])
async def test_brackets_go_to_the_next_and_previous_pending_photo(shoot, collapsed):
    triage = Triage(shoot.db, "cli", session="test")
    for decided in ("DSC_0106.JPG", "A_0.JPG", "A_1.JPG", "A_2.JPG", "A_3.JPG", "B_0.JPG"):
        triage.decide(shoot.ids[decided], "approved")
    async with make_app(shoot).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        pane.load_queue("all")
        if collapsed:
            await pilot.press("B")
        await pilot.press("G")
        await pilot.press("left_square_bracket")
        assert name(shoot, pane) == ("C_1.JPG" if not collapsed else "B_4.JPG")
        pane.go(pane.queue.photo_ids.index(shoot.ids["DSC_0105.JPG" if not collapsed
                                                    else "DSC_0103.JPG"]))  # fmt: skip
        await pilot.press("right_square_bracket")
        assert name(shoot, pane) == "B_1.JPG"  # past the approved DSC_0106, A_*, B_0
        await pilot.press("left_square_bracket")
        assert name(shoot, pane) == ("DSC_0105.JPG" if not collapsed else "DSC_0103.JPG")
        pane.go(0)
        await pilot.press("left_square_bracket")  # none before the first: it stays, and says so
        assert pane.index == 0
        assert any("No pending photo before" in n.message for n in pilot.app._notifications)


async def test_slash_jumps_to_a_time_and_a_bad_time_says_what_is_valid(shoot):
    async with make_app(shoot).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        await pilot.press("slash")
        assert isinstance(pilot.app.screen, Prompt)
        await pilot.press(*"25:00", "enter")
        assert isinstance(pilot.app.screen, Prompt)  # still there, saying why
        assert "is not a time: type a time such as 21:46" in str(
            pilot.app.screen.query_one("#problem").render()
        )
        for _ in range(5):
            await pilot.press("backspace")
        await pilot.press(*"21:50", "enter")
        assert not isinstance(pilot.app.screen, Prompt)
        assert name(shoot, pane) == "C_0.JPG"  # 21:50:31, the nearest
        await pilot.press("slash", *"2024-11-16 21:47:31.5", "enter")
        assert name(shoot, pane) == "A_1.JPG"
        await pilot.press("slash", *"21:46", "escape")  # leaves it where it was
        assert name(shoot, pane) == "A_1.JPG"


async def test_the_filter_picker_offers_the_new_filters_and_a_typed_one(shoot):
    triage = Triage(shoot.db, "cli", session="test")
    triage.rate(shoot.ids["A_1.JPG"], 4)
    triage.rate(shoot.ids["B_2.JPG"], 3)
    async with make_app(shoot).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        await pilot.press("f")
        picker = pilot.app.screen
        assert isinstance(picker, Picker)
        values = [value for value, _ in picker.choices]
        for offered in ("stars>=3", "edited", "leaders", "soft", 'camera:"NIKON D750"',
                        'camera:"Canon EOS R5"', "type:"):  # fmt: skip
            assert offered in values
        await pilot.press(*["down"] * values.index("stars>=3"), "enter")
        assert pane.queue.filter.name == "stars>=3"
        by_id = {photo_id: n for n, photo_id in shoot.ids.items()}
        assert [by_id[photo_id] for photo_id in pane.queue.photo_ids] == ["A_1.JPG", "B_2.JPG"]
        await pilot.press("f")
        values = [value for value, _ in pilot.app.screen.choices]
        await pilot.press(*["down"] * (values.index("type:") - values.index("stars>=3")), "enter")
        prompt = pilot.app.screen
        assert isinstance(prompt, Prompt)
        prompt.query_one("Input").value = ""
        await pilot.press(*"pending stars>=6", "enter")
        assert "stars>=N" in str(prompt.query_one("#problem").render())
        prompt.query_one("Input").value = ""
        await pilot.press(*'pending stars>=3 camera:"Canon EOS R5"', "enter")
        assert pane.queue.filter.name == 'pending stars>=3 camera:"Canon EOS R5"'
        assert [name(shoot, pane)] == ["A_1.JPG"] and len(pane.queue.photo_ids) == 1
