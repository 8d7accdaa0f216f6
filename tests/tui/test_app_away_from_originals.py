"""The app on another machine than the engine's (a studio's workstation on a shared
catalogue): roots are paths on the engine's machine that do not exist here, and the preview
cache is the engine's, mounted at another path. The app shows photos from the shared cache,
says in one line when a preview is not built yet, shows it once the engine has, and the
loupe shows the preview's pixels; no original is ever opened (an audit hook counts opens).

The "engine's machine" is a catalogue made by scanning a tree and building its previews; the
tree is then moved away and its cache copied to the folder the app's settings name.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.config import Settings, load_settings
from core.media import reach
from core.media.cache import PreviewCache, preview_cache_dir
from core.media.photos import MediaSync
from core.media.reach import ORIGINAL_ELSEWHERE, PREVIEW_NOT_BUILT
from core.scan.reconcile import reconcile_roots
from core.store import Catalogue, open_catalogue, queries
from tests.darktable_fixture import FIXTURE
from tests.postgres_cluster import BOTH_BACKENDS
from tui.app import ShootwatchApp
from tui.panes.triage import TriagePane
from tui.widgets.photo_view import PhotoView

pytestmark = BOTH_BACKENDS
SIZE = (120, 36)
NO_PREVIEW = "IMG_0004.JPG"  # the photo whose preview the engine has not built yet

# Opens of files under the folders watched, by any thread of this process (Pillow, the frame
# threads, the loupe's): an audit hook cannot be removed, so it only counts while watching.
# Looks at the folders (scandir) are counted too: whether the originals are here is decided
# per root, not per photo.
_watched: list[str] = []
opened: list[str] = []
looked_into: list[str] = []


def _count_opens(event: str, args: tuple) -> None:
    if event not in ("open", "os.scandir") or not _watched or isinstance(args[0], int):
        return
    path = os.fsdecode(args[0])
    if any(path == folder or path.startswith(folder + os.sep) for folder in _watched):
        (opened if event == "open" else looked_into).append(path)


sys.addaudithook(_count_opens)


@dataclass
class Studio:
    engine_cache: Path  # the engine's own preview cache (its size folder)
    app_settings: Settings  # the workstation's: the same catalogue, the cache as mounted here
    catalogue: Catalogue  # opened with the app's settings
    old_root: Path  # where the originals were scanned: not there on this machine

    def preview_of(self, name: str) -> tuple[int, str]:
        """(photo id, blake3) of the photo whose original is ``name``."""
        return self.catalogue.db.execute_sql(
            "SELECT p.id, p.blake3 FROM photo p JOIN file f ON f.photo_id = p.id"
            " AND f.role = 'original' WHERE f.rel_path LIKE ?",
            (f"%/{name}",),
        ).fetchone()


def build_studio(tmp_path: Path, location: Path | str) -> Studio:
    nas = tmp_path / "nas"
    photos = nas / "photos"
    shutil.copytree(FIXTURE / "photos", photos)
    engine_config = tmp_path / "engine.toml"
    engine_config.write_text(
        f'catalogue = "{location}"\n'
        f'darktable.library = "{tmp_path / "no-darktable" / "library.db"}"\n'
        f'media.preview_cache = "{nas / "previews"}"\n'
    )
    engine_settings = load_settings(engine_config)
    catalogue = open_catalogue(engine_settings.catalogue)
    root, _ = queries.add_root(str(photos))
    reconcile_roots(catalogue, [root], engine_settings.scan, kind="manual")
    MediaSync(catalogue.db, engine_settings.media, None).run_until_idle()
    catalogue.close()
    # This machine: the originals are not here, the engine's cache is mounted elsewhere.
    shutil.move(photos, tmp_path / "moved-away")
    mounted = tmp_path / "workstation" / "mnt" / "nas-previews"
    shutil.copytree(nas / "previews", mounted)
    app_config = tmp_path / "workstation.toml"
    app_config.write_text(
        f'catalogue = "{location}"\n'
        f'darktable.library = "{tmp_path / "no-darktable" / "library.db"}"\n'
        f'media.preview_cache = "{mounted}"\n'
    )
    app_settings = load_settings(app_config)
    studio = Studio(
        preview_cache_dir(engine_settings.media),
        app_settings,
        open_catalogue(app_settings.catalogue),
        photos,
    )
    # The engine has not got to this one yet: not in the cache the app reads.
    _photo_id, blake3 = studio.preview_of(NO_PREVIEW)
    app_cache = PreviewCache(preview_cache_dir(app_settings.media), 1 << 30)
    app_cache.path_for(blake3).unlink()
    return studio


@pytest.fixture
def studio(tmp_path: Path, catalogue_location):
    reach.forget()
    built = build_studio(tmp_path, catalogue_location)
    opened.clear()
    looked_into.clear()
    _watched[:] = [str(built.old_root), str(tmp_path / "moved-away")]
    try:
        yield built
    finally:
        _watched.clear()
        built.catalogue.close()


def make_app(studio: Studio) -> ShootwatchApp:
    # No engine here: it runs on the machine the originals are on.
    return ShootwatchApp(studio.app_settings, studio.catalogue, engine="off")


async def shown(pilot, pane: TriagePane, drawn: bool = True):
    """The frame on screen once it is the pane's photo's (drawn, or saying why not), waited
    for with a generous deadline (time not asserted)."""
    view = pane.query_one(PhotoView)
    for _ in range(1500):
        await pilot.pause(0.02)
        frame = view.frame
        if frame is None or (frame.photo_id, frame.size, frame.zoom) != (
            pane.photo_id,
            view.size,
            pane.zoomed,
        ):
            continue
        if (frame.strips and drawn) or (frame.reason and not drawn):
            return frame
    raise AssertionError(f"the frame never came (drawn={drawn}): {view.frame}")


async def go_to(pilot, pane: TriagePane, photo_id: int) -> None:
    for _ in range(len(pane.queue.photo_ids)):
        if pane.photo_id == photo_id:
            return
        await pilot.press("right")
    assert pane.photo_id == photo_id


@pytest.mark.anyio
async def test_every_photo_shows_from_the_shared_cache_and_no_original_is_opened(studio):
    no_preview, _ = studio.preview_of(NO_PREVIEW)
    async with make_app(studio).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        seen = set()
        for _ in pane.queue.photo_ids:
            frame = await shown(pilot, pane, drawn=pane.photo_id != no_preview)
            if pane.photo_id == no_preview:
                assert frame.reason == PREVIEW_NOT_BUILT
            else:
                assert frame.reason is None
            seen.add(pane.photo_id)
            await pilot.press("right")
        assert seen == set(pane.queue.photo_ids) and len(seen) > 10
    assert opened == []
    # Each shoot it showed, told through a catalogue on a server (the engine may be anywhere;
    # written by a thread of the app's: waited for, time not asserted).
    on_a_server = not isinstance(studio.app_settings.catalogue, Path)
    shoots = {"2024-06-01_wedding", "2024-07-15_street"} if on_a_server else set()
    for _ in range(600):
        told = studio.catalogue.db.execute_sql(
            "SELECT DISTINCT path FROM event WHERE kind = 'shoot_on_screen'"
        ).fetchall()
        if {path for (path,) in told} == shoots:
            break
        time.sleep(0.05)
    assert {path for (path,) in told} == shoots


@pytest.mark.anyio
@pytest.mark.parametrize("built_after", [0.0, 0.5, 3.0])  # seconds the photo said so first
async def test_a_photo_without_its_preview_says_so_then_shows_it_once_the_engine_built_it(
    studio, built_after
):
    no_preview, blake3 = studio.preview_of(NO_PREVIEW)
    async with make_app(studio).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        await go_to(pilot, pane, no_preview)
        frame = await shown(pilot, pane, drawn=False)
        assert frame.reason == PREVIEW_NOT_BUILT
        assert "no preview yet: the engine builds it" in frame.reason
        # In the loupe too: a sentence, not a traceback and not a blank.
        await pilot.press("z")
        assert pane.zoomed
        assert (await shown(pilot, pane, drawn=False)).reason == PREVIEW_NOT_BUILT
        await pilot.press("z")
        await pilot.pause(built_after)
        # The engine builds it, on its machine: it appears in the mounted cache.
        mounted = PreviewCache(preview_cache_dir(studio.app_settings.media), 1 << 30)
        built = PreviewCache(studio.engine_cache, 1 << 30).path_for(blake3)
        mounted.path_for(blake3).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built, mounted.path_for(blake3))
        frame = await shown(pilot, pane)
        assert frame.reason is None and frame.photo_id == no_preview
    assert opened == []


@pytest.mark.anyio
async def test_the_loupe_shows_the_previews_pixels_and_says_so(studio):
    async with make_app(studio).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        fitted = await shown(pilot, pane)
        for key, percent in (("z", "100 %"), ("plus", "200 %")):
            await pilot.press(key)
            frame = await shown(pilot, pane)
            assert frame.strips != fitted.strips and frame.reason is None
            line = str(pane.query_one("#position").render())
            assert line.startswith(percent), line
            assert f"preview: {ORIGINAL_ELSEWHERE}" in line
        source = pane.loupe_source.source_of(pane.photo_id)
        assert source.kind == "preview"
        await pilot.press("minus")
        assert not pane.zoomed
        assert (await shown(pilot, pane)).strips == fitted.strips
    assert opened == []


@pytest.mark.anyio
async def test_a_root_the_engine_found_offline_is_named_as_the_reason(studio):
    """Not here because it is nowhere (a drive unplugged from the engine's machine): said so,
    rather than that the engine builds the preview."""
    no_preview, _ = studio.preview_of(NO_PREVIEW)
    studio.catalogue.db.execute_sql(
        "UPDATE root SET state = 'offline', state_reason = 'the drive is not mounted'"
    )
    async with make_app(studio).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        await go_to(pilot, pane, no_preview)
        frame = await shown(pilot, pane, drawn=False)
        assert frame.reason == (
            "its root is offline (the drive is not mounted) and its preview was not built"
        )
        await pilot.press("right")
        assert (await shown(pilot, pane)).reason is None  # the others, from the cache
    assert opened == []


@pytest.mark.anyio
async def test_with_no_preview_built_yet_each_photo_says_so_and_the_root_is_looked_at_once(
    studio,
):
    shutil.rmtree(preview_cache_dir(studio.app_settings.media))  # the engine has built none
    async with make_app(studio).run_test(size=SIZE) as pilot:
        pane = pilot.app.query_one(TriagePane)
        for _ in pane.queue.photo_ids:
            assert (await shown(pilot, pane, drawn=False)).reason == PREVIEW_NOT_BUILT
            await pilot.press("right")
        shown_photos = len(pane.queue.photo_ids)
    assert opened == []
    # Decided per root, not per photo: looked at again only after a while (a share mounted
    # meanwhile is noticed then).
    assert set(looked_into) == {str(studio.old_root)}
    assert len(looked_into) < shown_photos / 4
