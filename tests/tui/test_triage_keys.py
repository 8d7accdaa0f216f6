"""Every triage binding, pressed in the real app on a real catalogue: what the key does is on
disk (read back through the catalogue) and on screen."""

from __future__ import annotations

import pytest

from core.config import ConfigError
from core.media.photos import MediaSync
from core.scan.reconcile import reconcile_roots
from core.store import queries
from tests.helpers import REPO_CAMERA
from tests.tui.conftest import Library, build_library
from tui import keymap
from tui.app import ShootwatchApp
from tui.help import HelpScreen
from tui.panes.triage import TriagePane
from tui.picker import Picker
from tui.widgets.photo_view import PhotoView

pytestmark = pytest.mark.anyio
SIZE = (120, 36)


def make_app(library: Library) -> ShootwatchApp:
    return ShootwatchApp(library.settings, library.catalogue, engine="off")


def stored(library: Library, pane: TriagePane, photo_id: int | None = None) -> tuple:
    return library.catalogue.db.execute_sql(
        "SELECT decision, rating, labels FROM photo WHERE id = ?", (photo_id or pane.photo_id,)
    ).fetchone()


async def settle(pilot, pane: TriagePane) -> None:
    """Wait until the photo on screen has its frame drawn: up to a generous deadline, as the
    machine may be loaded (the time is not asserted)."""
    for _ in range(1500):
        await pilot.pause(0.02)
        frame = pane.query_one(PhotoView).frame
        if frame is not None and frame.photo_id == pane.photo_id and frame.strips:
            return
    raise AssertionError("the photo was never drawn")


async def test_queue_opens_on_the_first_pending_photo_with_its_facts(library: Library):
    async with make_app(library).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        await settle(pilot, pane)
        assert len(pane.queue.photo_ids) == 15  # 17, two rejected in darktable's sidecars
        assert pane.index == 0
        facts = str(pane.query_one("#facts").render())
        assert pane.card.path.endswith(facts.split()[0])
        position = str(pane.query_one("#position").render())
        assert "1 / 15 — 0 approved, 2 rejected, 15 pending of 17" in position


@pytest.mark.parametrize(
    ("key", "decision"),
    [("a", "approved"), ("p", "approved"), ("x", "rejected"), ("r", "rejected")],
)
async def test_decision_keys_store_the_decision_and_advance(library, key, decision):
    async with make_app(library).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        first = pane.photo_id
        await pilot.press(key)
        assert stored(library, pane, first)[0] == decision
        assert pane.index == 1
        counts = str(pane.query_one("#position").render())
        # darktable's sidecars rejected two photos before triage began
        if decision == "approved":
            assert "1 approved, 2 rejected, 14 pending of 17" in counts
        else:
            assert "0 approved, 3 rejected, 14 pending of 17" in counts


async def test_u_puts_a_photo_back_to_pending(library):
    async with make_app(library).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        first = pane.photo_id
        await pilot.press("a", "k", "u")
        assert pane.photo_id == first
        assert stored(library, pane, first)[0] == "pending"


async def test_stars_and_labels(library):
    async with make_app(library).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        for stars in "012345":
            await pilot.press(stars)
            assert stored(library, pane)[1] == int(stars)
        await pilot.press("6", "7", "8", "9", "f5")
        assert stored(library, pane)[2] == 0b11111
        await pilot.press("f1", "f2", "f3", "f4")
        assert stored(library, pane)[2] == 0b10000
        assert pane.index == 0  # stars and labels do not advance
        assert "★★★★★" in str(pane.query_one("#facts").render())


async def test_undo_and_redo_are_unlimited_and_follow_the_photo(library):
    async with make_app(library).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        ids = pane.queue.photo_ids[:5]
        await pilot.press("a", "x", "a", "x", "a")
        assert [stored(library, pane, i)[0] for i in ids] == ["approved", "rejected"] * 2 + [
            "approved"
        ]
        for _ in range(5):
            await pilot.press("ctrl+z")
        assert [stored(library, pane, i)[0] for i in ids] == ["pending"] * 5
        assert pane.photo_id == ids[0]  # undo shows the photo it changed
        await pilot.press("ctrl+y", "ctrl+y")
        assert stored(library, pane, ids[0])[0] == "approved"
        assert stored(library, pane, ids[1])[0] == "rejected"
        assert pane.photo_id == ids[1]
        position = str(pane.query_one("#position").render())
        assert "1 approved, 3 rejected, 13 pending of 17" in position  # and darktable's two


async def test_auto_advance_can_be_turned_off(library):
    async with make_app(library).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        await pilot.press("n", "a")
        assert pane.index == 0
        assert stored(library, pane)[0] == "approved"
        assert "auto-advance off" in str(pane.query_one("#position").render())


async def test_moving_through_the_queue(library):
    async with make_app(library).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        await pilot.press("space", "right", "j", "down")
        assert pane.index == 4
        await pilot.press("backspace", "left", "k")
        assert pane.index == 1
        await pilot.press("G")
        assert pane.index == 14
        await pilot.press("space")  # past the end: stays
        assert pane.index == 14
        await pilot.press("g", "up")
        assert pane.index == 0


async def test_filters(library):
    async with make_app(library).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        await pilot.press("a", "a", "x", "6")
        await pilot.press("f")
        assert isinstance(pilot.app.screen, Picker)
        await pilot.press("down", "enter")  # pending is first, approved second
        assert pane.queue.filter.name == "approved"
        assert len(pane.queue.photo_ids) == 2
        assert all(stored(library, pane, i)[0] == "approved" for i in pane.queue.photo_ids)
        pane.load_queue("rejected")  # and the two rejected in darktable's sidecars
        assert len(pane.queue.photo_ids) == 3
        pane.load_queue("label:red")  # and the two red in darktable's sidecars
        assert len(pane.queue.photo_ids) == 3
        pane.load_queue(f"folder:{library.photos / '2024-07-15_street'}")
        assert len(pane.queue.photo_ids) == 6
        pane.load_queue("all")
        assert len(pane.queue.photo_ids) == 17
        await pilot.press("f", "escape")  # leaves the filter as it was
        assert pane.queue.filter.name == "all"


async def test_zoom_shows_a_one_to_one_crop_and_back(library):
    async with make_app(library).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        await settle(pilot, pane)
        fitted = pane.query_one(PhotoView).frame
        await pilot.press("z")
        assert pane.zoomed
        for _ in range(200):
            await pilot.pause(0.02)
            frame = pane.query_one(PhotoView).frame
            if frame.zoom and frame.strips:
                break
        assert frame.zoom and frame.strips != fitted.strips
        assert "100 %" in str(pane.query_one("#position").render())
        await pilot.press("z")
        assert not pane.zoomed
        assert pane.query_one(PhotoView).frame.strips == fitted.strips


async def test_info_overlay(library):
    async with make_app(library).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        await pilot.press("i")
        assert pane.has_class("-info")
        assert pane.card.rel_path in str(pane.query_one("#info-text").render())
        await pilot.press("i")
        assert not pane.has_class("-info")


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ("image data", "the JPEG is cut short or damaged in its image data"),
        ("headers", "the JPEG is cut short in its headers (it ends at 8,000 bytes, inside its"),
    ],
)
async def test_a_photo_cut_short_is_shown_marked_damaged_with_its_reason(library, where, reason):
    # A card pulled out mid-copy: the JPEG stops inside its image data, or inside its EXIF
    # header with no image data at all (only its EXIF thumbnail can be shown).
    whole = next(library.photos.rglob("*.JPG"))
    cut = whole.with_name("CUT_" + whole.name)
    if where == "image data":
        cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 3])
    else:
        cut.write_bytes((REPO_CAMERA / "kodak_dc240_1999.jpg").read_bytes()[:8000])
    root = queries.add_root(str(library.photos))[0]
    reconcile_roots(library.catalogue, [root], library.settings.scan, kind="manual")
    MediaSync(library.catalogue.db, library.settings.media, None).run_until_idle()
    async with make_app(library).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        for _ in range(len(pane.queue.photo_ids)):
            if pane.card.path.endswith(cut.name):
                break
            await pilot.press("right")
        else:
            raise AssertionError("the cut photo is not in the queue")
        await settle(pilot, pane)  # drawn, as far as its data goes
        assert "damaged" in str(pane.query_one("#facts").render())
        await pilot.press("i")
        info = str(pane.query_one("#info-text").render())
        assert reason in " ".join(info.split())
        await pilot.press("i", "right" if pane.index + 1 < len(pane.queue.photo_ids) else "left")
        assert not pane.card.path.endswith(cut.name)
        assert "damaged" not in str(pane.query_one("#facts").render())  # the others are whole


async def test_pane_keys_and_help(library):
    async with make_app(library).run_test(size=SIZE) as pilot:
        app = pilot.app
        for key, pane in (("E", "events"), ("H", "history"), ("S", "stages"),
                          ("D", "progress"), ("T", "triage")):  # fmt: skip
            await pilot.press(key)
            assert app.pane == pane
        await pilot.press("tab")
        assert app.pane == "events"
        await pilot.press("shift+tab", "shift+tab")
        assert app.pane == "progress"
        await pilot.press("T", "question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_keys_from_the_settings_file(tmp_path):
    library = build_library(tmp_path, '[keys]\napprove = ["y"]\n')
    try:
        async with make_app(library).run_test(size=SIZE) as pilot:
            pane = pilot.app.query_one(TriagePane)
            first = pane.photo_id
            await pilot.press("a")
            assert stored(library, pane, first)[0] == "pending"
            await pilot.press("y")
            assert stored(library, pane, first)[0] == "approved"
    finally:
        library.catalogue.close()


def test_a_keymap_naming_no_action_or_a_taken_key_is_refused():
    with pytest.raises(ConfigError, match="not an action"):
        keymap.check_keys({"aprove": ("a",)})
    with pytest.raises(ConfigError, match="given to both"):
        keymap.check_keys({"approve": ("x",)})
    with pytest.raises(ConfigError, match="given to both"):
        keymap.check_keys({"approve": ("q",)})  # q quits everywhere
    keymap.check_keys({"approve": ("y",)})


async def test_photos_that_arrive_while_culling_join_the_queue(library):
    from dataclasses import replace

    from core.media.photos import MediaSync
    from core.scan.reconcile import reconcile_roots
    from core.store.models import Root

    async with make_app(library).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        await pilot.press("a", "a")
        on_screen = pane.photo_id
        card = library.photos / "2025-01-02_new"
        card.mkdir()
        source = library.photos / "2024-06-01_wedding" / "IMG_0001.JPG"
        (card / "NEW_0001.JPG").write_bytes(source.read_bytes() + b"another picture")
        in_process = replace(library.settings.scan, workers=1)  # as the engine would, here
        reconcile_roots(library.catalogue, list(Root.select()), in_process, "manual")
        MediaSync(library.catalogue.db, library.settings.media, None).run_until_idle()
        for _ in range(200):
            await pilot.pause(0.05)
            if len(pane.queue.photo_ids) == 16:
                break
        assert len(pane.queue.photo_ids) == 16
        assert pane.photo_id == on_screen  # the photo on screen and the order so far stay
        assert "3 / 16 — 2 approved" in str(pane.query_one("#position").render())


def _name(pane: TriagePane) -> str:
    return pane.card.rel_path.rsplit("/", 1)[-1]


async def test_a_new_filter_keeps_the_photo_on_screen_or_the_nearest_by_time(library):
    """The wedding is shot a minute apart: IMG_0001 … IMG_0011; darktable's sidecars rejected
    IMG_0009 and IMG_0010. Over the whole shoot two are approved (IMG_0002, and IMG_0009 over
    darktable's reject); from IMG_0007 the approved filter opens on IMG_0009 (two minutes away,
    not IMG_0002 five minutes away), from IMG_0009 the pending one on IMG_0008 (61 s before;
    IMG_0011 is 112 s after), and from IMG_0004 the approved one on IMG_0002."""
    async with make_app(library).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        pane.load_queue("all")
        await pilot.press("n")  # auto-advance off: stay on what was decided
        await pilot.press("right", "a", *["right"] * 7, "a")
        assert _name(pane) == "IMG_0009.JPG"
        await pilot.press("left", "left")
        assert _name(pane) == "IMG_0007.JPG"
        pane.load_queue("pending")  # it is in the new filter: it stays
        assert _name(pane) == "IMG_0007.JPG" and pane.index == 5
        pane.load_queue("approved")  # it is not: the nearest by the camera's clock
        assert [_name(pane)] == ["IMG_0009.JPG"] and len(pane.queue.photo_ids) == 2
        pane.load_queue("pending")
        assert _name(pane) == "IMG_0008.JPG"  # 61 s before IMG_0009; IMG_0011 is 112 s after
        await pilot.press(*["left"] * 4)
        assert _name(pane) == "IMG_0004.JPG"
        await pilot.press("f")  # through the picker, as the photographer does
        await pilot.press("down", "enter")
        assert pane.queue.filter.name == "approved" and _name(pane) == "IMG_0002.JPG"
        pane.load_queue(f"folder:{library.photos / '2024-07-15_street'}")
        assert _name(pane) == "DSC_0101.JPG"  # the street is a month later: its first photo


async def test_a_reject_read_from_a_sidecar_after_the_photo_joined_is_counted(library, monkeypatch):
    """A card copied in while culling: its photos are described (and join the queue) a moment
    before their existing XMP is read. A reject darktable put in a sidecar, read in that
    moment after, shows on the card and in the counters, as another session's decision does."""
    import time
    from dataclasses import replace

    import core.media.photos
    from core.store.models import Root
    from core.triage.sidecar_read import read_existing_marks

    async with make_app(library).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        await pilot.press("n")  # stay on the first photo
        card = library.photos / "2025-01-02_new"
        card.mkdir()
        wedding = library.photos / "2024-06-01_wedding"
        (card / "NEW_0001.JPG").write_bytes((wedding / "IMG_0001.JPG").read_bytes() + b"new")
        (card / "NEW_0001.JPG.xmp").write_bytes((wedding / "IMG_0009.JPG.xmp").read_bytes())
        in_process = replace(library.settings.scan, workers=1)  # as the engine would, here
        reconcile_roots(library.catalogue, list(Root.select()), in_process, "manual")
        # Described and grouped, the XMP not read yet: the moment between the two.
        monkeypatch.setattr(core.media.photos, "read_existing_marks", lambda *_: 0)
        MediaSync(library.catalogue.db, library.settings.media, None).run_until_idle()
        for _ in range(400):
            await pilot.pause(0.05)
            if len(pane.queue.photo_ids) == 16:
                break
        assert len(pane.queue.photo_ids) == 16
        assert pane.counts == pane.queue.counts()
        assert pane.counts.rejected == 2  # darktable's two: the new photo is pending so far
        (new,) = [pid for pid in pane.queue.photo_ids if "NEW_0001" in _card_path(library, pid)]
        assert read_existing_marks(library.catalogue.db, [new], time.time()) == 1
        for _ in range(800):
            await pilot.pause(0.05)
            if pane.counts.rejected == 3:
                break
        assert pane.counts == pane.queue.counts()
        position = str(pane.query_one("#position").render())
        assert "0 approved, 3 rejected, 15 pending of 18" in position
        pane.go(pane.queue.photo_ids.index(new))
        assert " rejected " in str(pane.query_one("#facts").render())


def _card_path(library: Library, photo_id: int) -> str:
    return library.catalogue.db.execute_sql(
        "SELECT rel_path FROM file WHERE photo_id = ? AND role = 'original'", (photo_id,)
    ).fetchone()[0]
