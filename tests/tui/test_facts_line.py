"""The triage facts line keeps what darktable knows of the photo readable, whole, at 80 columns
and up: the demo library in the real app, its darktable library changed the way darktable
would (a photo edited, exported and duplicated into 12 versions, one rejected there), read
into the catalogue by the real poller, the line read off the screen at each width."""

from __future__ import annotations

import dataclasses
import re
import sqlite3
from pathlib import Path

import pytest

from core.config import Settings, load_settings
from core.darktable.library import LibraryPaths
from core.darktable.poller import sync_once
from core.demo import create_demo
from core.store import open_catalogue
from core.triage.card import photo_card
from tests.tui.demo_app import settle
from tui.app import ShootwatchApp
from tui.panes.facts_line import FactsLine, facts_text
from tui.panes.triage import TriagePane

pytestmark = pytest.mark.anyio
WIDTHS = [80, 100, 120, 160]
LONG_HISTORY_VERSIONS = 12
# (photo, what darktable knows of it, after the changes below)
PHOTOS = {
    "DSC_0102.JPG": "edited, exported, in a burst",
    "IMG_0004.JPG": "edited, exported, two colour labels",
    "IMG_0005.JPG": "not edited, exported, a label",
    "DSC_0105.JPG": "not edited, a soft frame of a burst",
    "IMG_0011.JPG": "not in darktable",
    "DSC_0101.JPG": "a long history: edited, exported, 12 versions, in a burst",
    "DSC_0103.JPG": "rejected in darktable, 5 stars here, a label, in a burst",
}


def change_like_darktable(library: Path) -> None:
    """DSC_0101 edited (its history hash moved off the basic and auto ones), exported and
    duplicated 11 times; DSC_0103 rejected with the r key (the reject bit over its stars)."""
    connection = sqlite3.connect(library)
    try:
        with connection:
            (image,) = connection.execute(
                "SELECT id FROM images WHERE filename = 'DSC_0101.JPG'"
            ).fetchone()
            connection.execute(
                "INSERT OR REPLACE INTO history_hash (imgid, basic_hash, auto_hash, current_hash)"
                " VALUES (?, x'01', x'02', x'03')",
                (image,),
            )
            connection.execute(
                "UPDATE images SET export_timestamp = 63932008658403063, max_version = ?"
                " WHERE id = ?",
                (LONG_HISTORY_VERSIONS - 1, image),
            )
            columns = [row[1] for row in connection.execute("PRAGMA table_info(images)")]
            copied = ", ".join(c for c in columns if c not in ("id", "version"))
            for version in range(1, LONG_HISTORY_VERSIONS):
                connection.execute(
                    f"INSERT INTO images (version, {copied}) SELECT ?, {copied}"
                    " FROM images WHERE id = ?",
                    (version, image),
                )
            connection.execute(
                "UPDATE images SET flags = flags | 8 WHERE filename = 'DSC_0103.JPG'"
            )
    finally:
        connection.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Settings:
    made = create_demo(tmp_path_factory.mktemp("demo") / "demo")
    change_like_darktable(made.darktable_library)
    settings = load_settings(made.config_file)
    with open_catalogue(settings.catalogue) as catalogue:
        paths = LibraryPaths.beside(made.darktable_library, made.darktable_data)
        state, reason = sync_once(catalogue.db, paths, True)
        assert state == "ok", reason
    return settings


def facts_on_screen(app: ShootwatchApp) -> str:
    """The facts line as the terminal shows it."""
    region = app.query_one(FactsLine).region
    strips = app.screen._compositor.render_strips()
    row = "".join(segment.text for segment in strips[region.y])
    return row[region.x : region.right].rstrip()


def whole(words: str, line: str) -> bool:
    """``words`` on the line and not cut: the line goes on with a gap after them, or ends."""
    return re.search(re.escape(words) + r"(  |$)", line) is not None


@pytest.mark.parametrize("histogram", [False, True], ids=["alone", "beside-the-histogram"])
@pytest.mark.parametrize("width", WIDTHS)
async def test_the_darktable_state_is_whole_at_every_width(
    demo: Settings, width: int, histogram: bool
):
    """Each state on the facts line, whole; with the histogram on (e) the line is 30 cells
    shorter: whole from 100 columns, and at 80 (a line of 48) the state is what is cut, after
    the row of stars became "3★"."""
    catalogue = open_catalogue(demo.catalogue)
    try:
        app = ShootwatchApp(demo, catalogue, engine="off")
        async with app.run_test(size=(width, 30)) as pilot:
            await settle(pilot, app)
            pane = app.query_one(TriagePane)
            if histogram:
                await pilot.press("e")
                await pilot.pause()
            room = app.query_one(FactsLine).content_size.width
            where = {
                photo_card(catalogue.db, photo_id).path.rsplit("/", 1)[-1]: index
                for index, photo_id in enumerate(pane.queue.photo_ids)
            }
            seen = {}
            for name, what in PHOTOS.items():
                pane.go(where[name])
                await pilot.pause()
                card = pane.card
                line = facts_on_screen(app)
                state = card.darktable_state
                assert state is not None, name
                # darktable's stars may be left out when they are the ones shown beside them
                full, short = state.words(), state.words(card.rating)
                if room >= 66:
                    assert whole(full, line) or whole(short, line), (width, name, what, line)
                else:  # 80 columns beside the histogram: the state is begun, the rest whole
                    assert state.words(card.rating)[:9] in line, (width, name, what, line)
                if room >= 118:  # room enough: nothing of darktable's is left out
                    assert whole(full, line), (width, name, line)
                stars = "★" * card.rating + "☆" * (5 - card.rating)
                if room < 78:  # the row of stars may be said "3★" beside the histogram
                    stars = stars if stars in line else f"{card.rating}★"
                assert name in line and card.decision in line and stars in line, line
                seen[name] = state
            # the changes above reached the cards: the matrix has the states it names
            assert seen["DSC_0101.JPG"].versions == LONG_HISTORY_VERSIONS
            assert seen["DSC_0101.JPG"].edited and seen["DSC_0101.JPG"].exported
            assert seen["DSC_0103.JPG"].rejected
            assert not seen["IMG_0011.JPG"].imported
            assert not seen["IMG_0005.JPG"].edited and seen["IMG_0005.JPG"].exported
    finally:
        catalogue.close()


@pytest.mark.parametrize("width", WIDTHS)
async def test_a_long_file_name_gives_way_before_the_darktable_state(demo: Settings, width: int):
    """A phone's long name on the longest state of the demo: the name is shortened in its
    middle (its start and extension kept) before darktable's words are cut."""
    long_name = "PXL_20241116_214530123.RAW-02.ORIGINAL.dng"
    with open_catalogue(demo.catalogue) as catalogue:
        photo_id = catalogue.db.execute_sql(
            "SELECT photo_id FROM file WHERE rel_path LIKE '%DSC_0101.JPG'"
        ).fetchone()[0]
        card = photo_card(catalogue.db, photo_id)
    card = dataclasses.replace(card, path=card.path.replace("DSC_0101.JPG", long_name))
    line = facts_text(card, width - 2).plain  # the line's padding: one cell each side
    state = card.darktable_state
    assert whole(state.words(), line) or whole(state.words(card.rating), line), line
    name = line.split("  ")[0]
    assert name == long_name or (name.startswith("PXL_") and name.endswith(".dng")), line
    assert len(line) <= width - 2
