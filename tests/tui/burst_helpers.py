"""Helpers for the compare and survey tests: a burst made in a real catalogue (Photo.burst set
with SQL, as the grouping would), the app standing on a photo, tiles waited for."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

from core.store import open_catalogue
from core.triage.queue import save_position, saved_position
from tests.tui.conftest import Library
from tests.tui.demo_app import demo_settings, settle
from tui.app import ShootwatchApp
from tui.panes.burst_view import BurstView
from tui.panes.triage import TriagePane
from tui.widgets.photo_view import PhotoView
from tui.widgets.tile import PhotoTile


def photo_id(library: Library, name: str) -> int:
    return library.catalogue.db.execute_sql(
        "SELECT photo_id FROM file WHERE role = 'original' AND rel_path LIKE ?", (f"%/{name}",)
    ).fetchone()[0]


def make_burst(library: Library, names: list[str]) -> list[int]:
    """The photos named, one burst (its id: the first photo's); their ids in that order."""
    ids = [photo_id(library, name) for name in names]
    db = library.catalogue.db
    db.execute_sql(
        "UPDATE photo SET burst = ? WHERE id IN (SELECT value FROM json_each(?))",
        (ids[0], "[" + ",".join(map(str, ids)) + "]"),
    )
    return ids


def set_sharpness(library: Library, values: dict[str, float | None]) -> None:
    for name, value in values.items():
        library.catalogue.db.execute_sql(
            "UPDATE photo SET sharpness = ? WHERE id = ?", (value, photo_id(library, name))
        )


def decisions(library: Library, ids: list[int]) -> list[str]:
    db = library.catalogue.db
    return [
        db.execute_sql("SELECT decision FROM photo WHERE id = ?", (pid,)).fetchone()[0]
        for pid in ids
    ]


def make_app(library: Library) -> ShootwatchApp:
    return ShootwatchApp(library.settings, library.catalogue, engine="off")


async def stand_on(pilot, photo: int) -> TriagePane:
    """The triage pane on ``photo`` (every photo shown), its frame drawn."""
    pane = pilot.app.query_one(TriagePane)
    pane.load_queue("all", photo)
    assert pane.photo_id == photo
    for _ in range(1500):
        await pilot.pause(0.02)
        frame = pane.query_one(PhotoView).frame
        if frame is not None and frame.photo_id == photo and frame.strips:
            return pane
    raise AssertionError("the photo was never drawn")


async def tiles_drawn(pilot) -> BurstView:
    """Wait until every tile of the compare or survey on screen has its photo drawn: up to a
    generous deadline, as the machine may be loaded (the time is not asserted)."""
    for _ in range(1500):
        await pilot.pause(0.02)
        screen = pilot.app.screen
        if not isinstance(screen, BurstView):
            continue
        tiles = [tile for tile in screen.query(PhotoTile) if tile.photo_id is not None]
        if tiles and all(tile.drawn for tile in tiles):
            pilot.app.clear_notifications()
            await pilot.pause()
            return screen
    raise AssertionError("the tiles were never drawn")


# The demo's real burst (five frames of one street scene at night, 0.12 s apart), with focus
# scores as the looks measure would give them.
DEMO_BURST = {"DSC_0101.JPG": 310.5, "DSC_0102.JPG": 402.0, "DSC_0103.JPG": 188.2,
              "DSC_0104.JPG": 251.7, "DSC_0105.JPG": 96.3}  # fmt: skip


@contextlib.contextmanager
def demo_burst() -> Iterator[list[int]]:
    """The snapshot demo's burst grouped and measured (with SQL, as the grouping and the looks
    would), then as it was, and triage where it was: the demo is shared by every snapshot
    test of the process, and the app keeps the photo it was left on."""
    settings = demo_settings()
    with open_catalogue(settings.catalogue) as catalogue:
        db = catalogue.db
        ids = [
            db.execute_sql(
                "SELECT photo_id FROM file WHERE role = 'original' AND rel_path LIKE ?",
                (f"%/{name}",),
            ).fetchone()[0]
            for name in DEMO_BURST
        ]
        was = db.execute_sql(
            "SELECT id, burst, sharpness FROM photo WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(ids),),
        ).fetchall()
        for photo, sharpness in zip(ids, DEMO_BURST.values(), strict=True):
            db.execute_sql(
                "UPDATE photo SET burst = ?, sharpness = ? WHERE id = ?", (ids[0], sharpness, photo)
            )
        position = saved_position(db)
        try:
            yield ids
        finally:
            save_position(db, *((position.filter, position.photo_id) if position
                                else ("pending", None)))  # fmt: skip
            for photo, burst, sharpness in was:
                db.execute_sql(
                    "UPDATE photo SET burst = ?, sharpness = ? WHERE id = ?",
                    (burst, sharpness, photo),
                )


def demo_before(photo: int, *keys: str):
    """A snapshot's run_before: the triage pane on ``photo``, then ``keys``, tiles drawn."""

    async def run_before(pilot) -> None:
        await settle(pilot, pilot.app)
        pane = pilot.app.query_one(TriagePane)
        pane.load_queue("all", photo)
        await settle(pilot, pilot.app)
        await pilot.press(*keys)
        await tiles_drawn(pilot)

    return run_before
