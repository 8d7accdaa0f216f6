"""The loupe in the real app on a real catalogue: keys pressed through Pilot, what is drawn
checked against the original's own pixels cut at the loupe's place; and snapshots of it."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from core.config import load_settings
from core.media.photos import MediaSync
from core.media.pixels import Pixels, decode_pixels
from core.scan.reconcile import reconcile_roots
from core.store import open_catalogue, queries
from tests.helpers import REPO_CAMERA, distinct_copy
from tests.tui.conftest import Library
from tests.tui.demo_app import demo_app
from tests.tui.demo_app import settle as settle_demo
from tui.app import ShootwatchApp
from tui.loupe import LoupePlace
from tui.loupe_view import cut
from tui.panes.triage import TriagePane
from tui.widgets.photo_view import PhotoView, halfblock_strips

SIZE = (120, 36)
PHOTO = (900, 600)  # every photo of the fixture library


def make_app(library: Library) -> ShootwatchApp:
    return ShootwatchApp(library.settings, library.catalogue, engine="off")


async def drawn(pilot, pane: TriagePane):
    """The frame on screen once it is the one the pane wants (photo, size and loupe place):
    waited for up to a generous deadline, as the machine may be loaded (time not asserted)."""
    view = pane.query_one(PhotoView)
    for _ in range(1500):
        await pilot.pause(0.02)
        frame = view.frame
        wanted = (pane.photo_id, view.size, pane.zoomed)
        shown = frame and (frame.photo_id, frame.size, frame.zoom)
        if shown == wanted and frame.strips:
            return frame
    raise AssertionError("the loupe's frame was never drawn")


def original(library: Library, photo_id: int) -> Path:
    root, rel = library.catalogue.db.execute_sql(
        "SELECT r.path, f.rel_path FROM file f JOIN root r ON r.id = f.root_id"
        " WHERE f.photo_id = ? AND f.role = 'original'",
        (photo_id,),
    ).fetchone()
    return Path(root) / rel


def expected_strips(library: Library, photo_id: int, place: LoupePlace, cells) -> list:
    """What the loupe must draw: the original's pixels in the place's box (at 50 %, decoded
    by libjpeg at half scale), enlarged pixel by pixel at 200 %, as half-blocks."""
    with Image.open(original(library, photo_id)) as image:
        full = image.size
        if place.zoom <= 0.5:
            image.draft("RGB", (full[0] // 2, full[1] // 2))
        picture = image.convert("RGB")
    box = place.crop_box(full, (cells.width, cells.height))
    scale = picture.width / full[0]
    piece = picture.crop(tuple(round(edge * scale) for edge in box))
    shown = place.shown_size(box)
    if piece.size != shown:
        piece = piece.resize(shown, Image.Resampling.NEAREST)
    return halfblock_strips(piece, cells, zoom=True)


def set_points(library: Library, photo_id: int, af=(None, None), sharp=(None, None)) -> None:
    library.catalogue.db.execute_sql(
        "UPDATE photo SET af_x = ?, af_y = ?, sharp_x = ?, sharp_y = ? WHERE id = ?",
        (*af, *sharp, photo_id),
    )


def position_line(pane: TriagePane) -> str:
    return str(pane.query_one("#position").render())


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("af", "sharp", "start", "words"),
    [
        ((0.25, 0.3), (0.7, 0.6), (0.25, 0.3), "from the AF point"),
        ((None, None), (0.7, 0.6), (0.7, 0.6), "from the sharpest region"),
        ((None, None), (None, None), (0.5, 0.5), "centre"),
    ],
)
async def test_z_starts_at_the_af_point_else_the_sharpest_region_else_the_centre(
    library, af, sharp, start, words
):
    async with make_app(library).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        fitted = await drawn(pilot, pane)
        set_points(library, pane.photo_id, af, sharp)
        await pilot.press("z")
        assert (pane.loupe.zoom, pane.loupe.x, pane.loupe.y) == (1.0, *start)
        frame = await drawn(pilot, pane)
        assert frame.strips != fitted.strips
        assert frame.strips == expected_strips(library, pane.photo_id, pane.loupe, frame.size)
        line = position_line(pane)
        assert line.startswith("100 % at") and words in line
        assert "the JPEG itself" in line  # a JPEG original is decoded itself
        await pilot.press("z")
        assert not pane.loupe.zoomed
        assert (await drawn(pilot, pane)).strips == fitted.strips
        assert "100 %" not in position_line(pane)


@pytest.mark.anyio
async def test_zoom_in_steps_through_50_100_200_and_minus_goes_back_to_fit(library):
    async with make_app(library).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        await drawn(pilot, pane)
        set_points(library, pane.photo_id, af=(0.4, 0.6))
        seen = []
        for key in ("plus", "equals_sign", "plus", "plus"):
            await pilot.press(key)
            frame = await drawn(pilot, pane)
            seen.append(pane.loupe.zoom)
            assert frame.strips == expected_strips(library, pane.photo_id, pane.loupe, frame.size)
            assert position_line(pane).startswith(f"{pane.loupe.percent} at 40%, 60%")
        assert seen == [0.5, 1.0, 2.0, 2.0]
        await pilot.press("minus")
        assert pane.loupe.zoom is None and pane.zoomed is False
        await drawn(pilot, pane)


@pytest.mark.anyio
async def test_pan_keys_move_a_tenth_or_half_a_view_and_stop_at_the_edges(library):
    async with make_app(library).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        await drawn(pilot, pane)
        photo = pane.photo_id
        await pilot.press("z")
        frame = await drawn(pilot, pane)
        cells = (frame.size.width, frame.size.height)
        view_w, view_h = cells[0], cells[1] * 2  # half-blocks at 100 %: picture pixels
        start = pane.loupe
        await pilot.press("l")
        assert pane.photo_id == photo  # panned, did not move on
        assert (pane.loupe.x - start.x) * PHOTO[0] == pytest.approx(view_w / 10)
        await pilot.press("j")
        assert (pane.loupe.y - start.y) * PHOTO[1] == pytest.approx(view_h / 10)
        await pilot.press("h", "k")
        assert (pane.loupe.x, pane.loupe.y) == pytest.approx((start.x, start.y))
        await pilot.press("right", "down", "left", "up")
        assert (pane.loupe.x, pane.loupe.y) == pytest.approx((start.x, start.y))
        await pilot.press("L")
        assert (pane.loupe.x - start.x) * PHOTO[0] == pytest.approx(view_w / 2)
        await pilot.press("shift+left", "J")
        assert pane.loupe.x == pytest.approx(start.x)
        assert (pane.loupe.y - start.y) * PHOTO[1] == pytest.approx(view_h / 2)
        # H pans while the loupe is on: the app's Sync history key waits until it is off
        await pilot.press("H", *["L"] * 40, *["K"] * 40)  # from wherever it started
        assert pilot.app.pane == "triage"
        frame = await drawn(pilot, pane)
        box = pane.loupe.crop_box(PHOTO, cells)
        assert (box[2], box[1]) == (PHOTO[0], 0)  # the top right corner, and no further
        assert frame.strips == expected_strips(library, photo, pane.loupe, frame.size)
        await pilot.press("z", "H")
        assert pilot.app.pane == "history"


@pytest.mark.anyio
async def test_next_and_previous_keep_the_loupes_place_and_zoom(library):
    async with make_app(library).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        await drawn(pilot, pane)
        first = pane.photo_id
        set_points(library, first, af=(0.3, 0.35))
        await pilot.press("z", "plus", "l", "l")
        place = pane.loupe
        assert place.zoom == 2.0
        await drawn(pilot, pane)
        await pilot.press("space")
        second = pane.photo_id
        assert second != first and pane.loupe == place
        frame = await drawn(pilot, pane)
        assert frame.strips == expected_strips(library, second, place, frame.size)
        await pilot.press("backspace")
        assert pane.photo_id == first and pane.loupe == place
        # the neighbours are drawn ahead at the same place: the next photo shows at once
        for _ in range(1500):
            if pane.frames.get(second, frame.size, place) is not None:
                break
            await pilot.pause(0.02)
        await pilot.press("space")
        assert pane.query_one(PhotoView).frame.zoom == place  # on screen in the key's handler
        assert pane.query_one(PhotoView).frame.photo_id == second


@pytest.mark.anyio
async def test_without_the_loupe_the_pan_keys_move_through_the_queue(library):
    async with make_app(library).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        await drawn(pilot, pane)
        await pilot.press("j", "right")
        assert pane.index == 2
        await pilot.press("k")
        assert pane.index == 1 and not pane.loupe.zoomed


def before_loupe(*keys: str):
    async def run_before(pilot) -> None:
        await settle_demo(pilot, pilot.app)
        pane = pilot.app.query_one(TriagePane)
        pane.loupe_source.start = lambda photo_id, zoom: LoupePlace(zoom, 0.4, 0.45, "AF point")
        await pilot.press(*keys)
        await drawn(pilot, pane)
        pilot.app.clear_notifications()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_loupe_snapshot(snap_compare, size):
    assert snap_compare(demo_app(), terminal_size=size, run_before=before_loupe("z", "l"))


@pytest.mark.anyio
async def test_a_pause_on_a_photo_draws_the_loupe_ahead_so_z_shows_at_once(library):
    async with make_app(library).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        await drawn(pilot, pane)
        photo = pane.queue.photo_ids[1]
        set_points(library, photo, af=(0.7, 0.2))
        await pilot.press("space")  # a photo arrived at by a key, as in a cull
        frame = await drawn(pilot, pane)
        start = LoupePlace(1.0, 0.7, 0.2, "AF point")
        ahead = None
        for _ in range(1500):  # the photographer stops on it
            ahead = pane.frames.get(photo, frame.size, start)
            if ahead is not None:
                break
            await pilot.pause(0.02)
        assert ahead is not None, "the loupe's first frame was not drawn in the pause"
        assert pane.loupe_source.cache.get((photo, "full")) is not None
        await pilot.press("z")
        assert pane.query_one(PhotoView).frame is ahead  # shown by the key's own handler
        assert ahead.strips == expected_strips(library, photo, start, ahead.size)


def raw_library(tmp_path: Path, copies: int = 3) -> Library:
    """A library of copies of a real RAW whose embedded JPEG (1440 x 960) is smaller than its
    sensor (2176 x 1448): the Canon EOS D30's CRW."""
    photos = tmp_path / "photos" / "2025-03-01"
    photos.mkdir(parents=True)
    data = (REPO_CAMERA / "canon_eos_d30.CRW").read_bytes()
    for n in range(copies):
        (photos / f"CRW_{n:04d}.CRW").write_bytes(distinct_copy(data, n))
    config = tmp_path / "shootwatch.toml"
    config.write_text(
        f'catalogue = "{tmp_path / "catalogue.db"}"\n'
        f'darktable.library = "{tmp_path / "no-darktable" / "library.db"}"\n'
    )
    settings = load_settings(config)
    catalogue = open_catalogue(settings.catalogue)
    root, _ = queries.add_root(str(tmp_path / "photos"))
    reconcile_roots(catalogue, [root], settings.scan, kind="manual")
    MediaSync(catalogue.db, settings.media, None).run_until_idle()
    return Library(settings, catalogue, tmp_path / "photos")


@pytest.mark.anyio
async def test_a_raw_shows_its_embedded_jpeg_at_once_then_what_libraw_developed(tmp_path):
    library = raw_library(tmp_path)
    try:
        async with make_app(library).run_test(size=SIZE) as pilot:
            pane = pilot.app.query_one(TriagePane)
            await drawn(pilot, pane)
            photo = pane.photo_id
            developed = decode_pixels(original(library, photo), "crw", None, 1.0)
            assert developed.source.kind == "raw" and developed.picture.size == (2176, 1448)
            # A 24 MP RAW takes LibRaw seconds; this 2 MP one, a fraction: its developing is
            # held here until the embedded JPEG has been seen standing in for it.
            release = threading.Event()

            def developing():
                release.wait(30)
                return developed

            held = threading.Thread(
                target=pane.loupe_source.cache.get_or_decode, args=((photo, "full"), developing)
            )
            held.start()
            await pilot.press("z")
            frame = await drawn(pilot, pane)
            assert "embedded JPEG, developing the RAW…" in position_line(pane)
            # the CRW's embedded JPEG (1440 x 960), enlarged to the sensor's pixels at 100 %
            embedded = decode_pixels(original(library, photo), "crw", None, 0.5)
            assert embedded.source.kind == "embedded" and embedded.picture.size == (1440, 960)
            enlarged = Pixels(embedded.picture, replace(embedded.source, full_size=(2176, 1448)))
            cells = (frame.size.width, frame.size.height)
            shown = cut(enlarged, pane.loupe, cells, (1, 2))
            assert frame.strips == halfblock_strips(shown, frame.size, zoom=True)
            release.set()
            held.join()
            for _ in range(1500):
                if "RAW (LibRaw)" in position_line(pane):
                    break
                await pilot.pause(0.02)
            frame = await drawn(pilot, pane)
            assert "RAW (LibRaw)" in position_line(pane)
            expected = cut(developed, pane.loupe, cells, (1, 2))
            assert frame.strips == halfblock_strips(expected, frame.size, zoom=True)
    finally:
        library.catalogue.close()


@pytest.mark.anyio
async def test_with_a_graphics_renderer_the_loupe_hands_over_the_terminals_own_pixels(library):
    from tui.graphics import Graphics

    graphics = Graphics("kitty", False, (10, 20))
    app = ShootwatchApp(library.settings, library.catalogue, engine="off", graphics=graphics)
    async with app.run_test(size=(40, 14)) as pilot:
        pane = pilot.app.query_one(TriagePane)
        view = pane.query_one(PhotoView)
        for _ in range(1500):
            if view.frame is not None and view.frame.picture is not None:
                break
            await pilot.pause(0.02)
        photo = pane.photo_id
        set_points(library, photo, af=(0.3, 0.6))
        cell_pixels = pane.loupe_source.cell_pixels  # as the terminal said, or 10 x 20
        await pilot.press("z", "plus")  # 200 %
        for _ in range(1500):
            frame = view.frame
            if frame.zoom == pane.loupe and frame.picture is not None:
                break
            await pilot.pause(0.02)
        cells = (frame.size.width, frame.size.height)
        # one picture pixel per two by two of the terminal's pixels, the view's worth of them
        assert frame.picture.size == (cells[0] * cell_pixels[0], cells[1] * cell_pixels[1])
        with Image.open(original(library, photo)) as image:
            picture = image.convert("RGB")
        box = pane.loupe.crop_box(picture.size, cells, cell_pixels)
        assert (box[2] - box[0]) * 2 == frame.picture.width
        expected = picture.crop(box).resize(frame.picture.size, Image.Resampling.NEAREST)
        assert frame.picture.tobytes() == expected.tobytes()
        assert view.frame is frame  # what the view sends the terminal
