"""Exposure aids in triage: the histogram beside the photo (e), clipping from the preview (w)
or from the RAW data (W) blinking over it, in half-blocks and in kitty graphics. Real JPEGs and
RAWs in a real catalogue; the measuring is core.media.looks'."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from textual.app import App
from textual.geometry import Region

from core.media.looks import ClippingMasks, histogram
from tests.helpers import REPO_CAMERA, catalogue_photos
from tests.tui.conftest import Library
from tests.tui.demo_app import demo_app
from tests.tui.demo_app import settle as settle_demo
from tui.app import ShootwatchApp
from tui.exposure import HIGHLIGHT_MARK, PREVIEW, RAW, Aids, RawMeasures, exposure_of, painted
from tui.exposure_view import ExposurePanel, chart_rows
from tui.graphics import Graphics, encode
from tui.panes.triage import TriagePane
from tui.widgets.photo_view import BACKGROUND, Frame, PhotoView

SIZE = (120, 36)
WAIT_STEPS = 1500  # of 20 ms: a generous deadline on a loaded machine (time not asserted)


def clipped_scene() -> Image.Image:
    """A 1200x800 photo-like picture: a soft gradient with a blown-out window (255) at the
    top left and a black doorway (0) at the bottom right, the rest well inside the range."""
    x = np.linspace(60, 190, 1200, dtype=np.float32)
    y = np.linspace(0, 30, 800, dtype=np.float32)[:, None]
    grey = (x[None, :] + y).astype(np.uint8)
    pixels = np.stack([grey, (grey * 0.9).astype(np.uint8), (grey * 0.8).astype(np.uint8)], -1)
    pixels[80:320, 100:400] = 255
    pixels[500:760, 850:1100] = 0
    return Image.fromarray(pixels)


def build(base: Path, files: dict[str, bytes]) -> Library:
    folder = base / "photos" / "2025-03-08"
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    settings, catalogue = catalogue_photos(base)
    return Library(settings, catalogue, base / "photos")


def jpeg(picture: Image.Image) -> bytes:
    import io

    out = io.BytesIO()
    picture.save(out, "JPEG", quality=95)
    return out.getvalue()


@pytest.fixture
def scene(tmp_path: Path):
    library = build(tmp_path, {"IMG_0001.JPG": jpeg(clipped_scene())})
    yield library
    library.catalogue.close()


async def frame_with(pilot, pane: TriagePane, aids: Aids) -> Frame:
    view = pane.query_one(PhotoView)
    for _ in range(WAIT_STEPS):
        await pilot.pause(0.02)
        frame = view.frame
        if frame is not None and frame.aids == aids and frame.strips and frame.size == view.size:
            return frame
    raise AssertionError(f"no frame with {aids} was ever shown")


def panel_text(pane: TriagePane) -> str:
    return str(pane.query_one(ExposurePanel).render())


def colours(strips) -> set[tuple[int, int, int]]:
    found = set()
    for strip in strips:
        for segment in strip:
            for colour in (segment.style and (segment.style.color, segment.style.bgcolor)) or ():
                if colour is not None and colour.triplet is not None:
                    found.add(tuple(colour.triplet))
    return found


# --- the parts -------------------------------------------------------------------------------


def test_a_chart_is_eighths_scaled_to_the_bins_between_the_ends():
    counts = [1000] + [0] * 30 + [4, 8] + [0] * 30 + [5000]  # spikes at black and white
    rows = chart_rows(counts, 16, 2)
    assert len(rows) == 2 and all(len(row) == 16 for row in rows)
    assert rows[0][0] == rows[0][-1] == "█"  # the spikes fill their columns
    assert rows[1][8] == "█" and rows[0][8] == "█"  # the tallest inner bin: full height
    assert rows[1][4] == " "  # nothing there


def test_painted_marks_clipped_pixels_and_scales_raw_masks():
    picture = clipped_scene().resize((300, 200))
    highlights = np.zeros((200, 300), bool)
    highlights[10:20, 30:40] = True
    shadows = np.zeros((200, 300), bool)
    shadows[150:160, 200:210] = True
    marked = np.asarray(painted(picture, ClippingMasks(highlights, shadows)))
    assert (marked[10:20, 30:40] == HIGHLIGHT_MARK).all()
    assert (marked[150:160, 200:210, 2] == 255).all()
    assert (marked[100, 100] == np.asarray(picture)[100, 100]).all()  # the rest untouched
    # RAW masks come at half the sensor's size: a clipped site marks the pixel over it
    sites = np.zeros((400, 600), bool)
    sites[41, 61] = True
    marked = np.asarray(painted(picture, ClippingMasks(sites, np.zeros_like(sites))))
    assert (marked[20, 30] == HIGHLIGHT_MARK).all()
    assert np.count_nonzero((marked == HIGHLIGHT_MARK).all(axis=-1)) == 1


def test_preview_clipping_is_measured_on_the_picture():
    picture = clipped_scene()
    exposure, marked = exposure_of(1, picture, Aids(True, PREVIEW), None)
    assert exposure.clipping == PREVIEW and exposure.note is None
    assert exposure.clipped_highlights == pytest.approx(240 * 300 / (1200 * 800), rel=0.01)
    assert exposure.clipped_shadows == pytest.approx(260 * 250 / (1200 * 800), rel=0.01)
    assert exposure.histogram == histogram(picture, 64)
    assert (np.asarray(marked)[100, 200] == HIGHLIGHT_MARK).all()


def test_raw_clipping_of_a_jpeg_says_why_and_falls_back_to_the_preview(tmp_path):
    path = tmp_path / "IMG_0001.JPG"
    path.write_bytes(jpeg(clipped_scene()))
    exposure, marked = exposure_of(1, clipped_scene(), Aids(False, RAW),
                                   RawMeasures(lambda photo_id: path))  # fmt: skip
    assert exposure.clipping == PREVIEW and marked is not None
    assert exposure.note == "no RAW clipping: IMG_0001.JPG: not a RAW file (its content is jpeg)."


def test_raw_clipping_is_the_sensors():
    path = REPO_CAMERA / "canon_eos_d30.CRW"  # in the repo's fixtures
    picture = _raw_preview(path)
    exposure, marked = exposure_of(1, picture, Aids(False, RAW), RawMeasures(lambda _: path))
    assert exposure.clipping.startswith("RAW, sensor white level ")
    white = int(exposure.clipping.rsplit(" ", 1)[1])
    assert 3700 < white < 3868  # the D30 saturates under its nominal 4,095
    assert 0.005 < exposure.clipped_highlights < 0.05
    assert (np.asarray(marked) == HIGHLIGHT_MARK).all(axis=-1).any()


def _raw_preview(path: Path) -> Image.Image:
    import rawpy

    with rawpy.imread(str(path)) as raw:
        return Image.fromarray(raw.postprocess(half_size=True))


# --- in the app ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_e_shows_the_histogram_beside_the_photo_and_hides_it(scene):
    async with ShootwatchApp(scene.settings, scene.catalogue, engine="off").run_test(
        size=SIZE
    ) as pilot:
        pane = pilot.app.query_one(TriagePane)
        view = pane.query_one(PhotoView)
        await frame_with(pilot, pane, Aids())
        wide = view.size.width
        await pilot.press("e")
        frame = await frame_with(pilot, pane, Aids(histogram=True))
        assert view.size.width < wide  # the panel is beside the photo, not over it
        assert frame.marked is None and frame.exposure.histogram is not None
        luma = frame.exposure.histogram.luma
        assert luma[-1] > 0 and luma[0] > 0  # the window and the doorway
        await pilot.pause()
        text = panel_text(pane)
        assert text.startswith("histogram  preview") and "█" in text
        for label in ("luma", "R", "G", "B"):
            assert f"\n{label}\n" in text
        await pilot.press("e")
        await frame_with(pilot, pane, Aids())
        assert not pane.query_one(ExposurePanel).display


@pytest.mark.anyio
async def test_w_blinks_the_clipped_pixels_and_says_it_measured_the_preview(scene):
    async with ShootwatchApp(scene.settings, scene.catalogue, engine="off").run_test(
        size=SIZE
    ) as pilot:
        pane = pilot.app.query_one(TriagePane)
        view = pane.query_one(PhotoView)
        await pilot.press("w")
        frame = await frame_with(pilot, pane, Aids(clipping=PREVIEW))
        assert frame.marked is not None and frame.marked.strips
        red = (252, 0, 0)  # half-blocks drop the two lowest bits
        assert red in colours(frame.marked.strips) and red not in colours(frame.strips)
        seen = set()
        for _ in range(WAIT_STEPS):  # on, off, on: both halves of the blink are drawn
            await pilot.pause(0.02)
            seen.add(id(view.on_screen))
            if {id(frame), id(frame.marked)} <= seen:
                break
        assert {id(frame), id(frame.marked)} <= seen, "the clipping never blinked"
        text = panel_text(pane)
        assert "clipping: preview" in text
        assert "▲ 7." in text and "highlights" in text and "▼ 6." in text
        await pilot.press("w")  # off: no marks, no blinking
        frame = await frame_with(pilot, pane, Aids())
        assert frame.marked is None and view.on_screen is frame


@pytest.mark.anyio
async def test_W_on_a_jpeg_says_there_is_no_raw_and_shows_the_previews(scene):
    async with ShootwatchApp(scene.settings, scene.catalogue, engine="off").run_test(
        size=SIZE
    ) as pilot:
        pane = pilot.app.query_one(TriagePane)
        await pilot.press("W")
        frame = await frame_with(pilot, pane, Aids(clipping=RAW))
        assert frame.marked is not None
        await pilot.pause()
        text = " ".join(panel_text(pane).split())
        assert "clipping: preview" in text and "no RAW clipping" in text
        assert "not a RAW file" in text


@pytest.mark.anyio
async def test_W_on_a_raw_measures_the_sensor(tmp_path):
    path = REPO_CAMERA / "canon_eos_d30.CRW"  # in the repo's fixtures
    library = build(tmp_path, {"CRW_0001.CRW": path.read_bytes()})
    try:
        app = ShootwatchApp(library.settings, library.catalogue, engine="off")
        async with app.run_test(size=SIZE) as pilot:
            pane = pilot.app.query_one(TriagePane)
            await pilot.press("W")
            frame = await frame_with(pilot, pane, Aids(clipping=RAW))
            assert frame.exposure.clipping.startswith("RAW, sensor white level ")
            await pilot.pause()
            assert "clipping: RAW, sensor white level" in panel_text(pane)
            assert frame.marked is not None
    finally:
        library.catalogue.close()


class OnePhoto(App):
    def compose(self):
        yield PhotoView(Graphics("kitty", True), id="photo")


@pytest.mark.anyio
async def test_in_kitty_each_picture_goes_once_and_a_blink_names_the_other_image():
    async with OnePhoto().run_test(size=(40, 12)) as pilot:
        view = pilot.app.query_one(PhotoView)
        picture = clipped_scene()
        exposure, marked_picture = exposure_of(1, picture, Aids(clipping=PREVIEW), None)
        plain = Frame(1, view.size, False, encoded=encode(picture, view.size, view.graphics,
                                                         BACKGROUND))  # fmt: skip
        marked = Frame(1, view.size, False, encoded=encode(marked_picture, view.size,
                                                          view.graphics, BACKGROUND))  # fmt: skip
        frame = Frame(1, view.size, False, encoded=plain.encoded, exposure=exposure,
                      marked=marked, aids=Aids(clipping=PREVIEW))  # fmt: skip
        view._blink_timer = view.set_interval(3600, lambda: None)  # blinks by hand below
        view.show(frame)
        sent = []
        for _ in range(4):
            lines = view.render_lines(Region(0, 0, 40, 12))
            text = "".join(segment.text for segment in lines[0] if segment.control)
            names = {segment.style.color.number for segment in lines[3] if not segment.control}
            sent.append((text.count("a=t,"), names))
            view._blink()
        image, twin = view.image_id, view.marked_image_id
        assert sent == [(1, {image}), (1, {twin}), (0, {image}), (0, {twin})]


# --- snapshots -------------------------------------------------------------------------------


async def aids_shown(pilot) -> None:
    await settle_demo(pilot, pilot.app)
    pane = pilot.app.query_one(TriagePane)
    await pilot.press("e", "w")
    frame = await frame_with(pilot, pane, Aids(True, PREVIEW))
    view = pane.query_one(PhotoView)
    view._blink_timer.pause()  # the marks on, for good: a snapshot of a blink is one half
    view._present(frame.marked)
    pilot.app.clear_notifications()
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_histogram_and_clipping_snapshot(snap_compare, size):
    assert snap_compare(demo_app(), terminal_size=size, run_before=aids_shown)
