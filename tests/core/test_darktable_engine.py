"""The darktable poller inside the engine, at its real cadence: library.db read after darktable
writes it and it has been quiet, sidecars seen by the watcher, and a library that is missing,
damaged or comes back."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.darktable.facts import darktable_time
from core.engine import Engine
from core.store.models import DarktableImage, Event, FileRecord, Heartbeat
from tests.core.test_engine import add_root, settings_for
from tests.darktable_fixture import DarktableCopy, copy_fixture
from tests.helpers import wait_until
from tests.postgres_cluster import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS  # the engine's darktable component on either back end


def darktable_settings(
    tmp_path: Path,
    catalogue: Path | str,
    library: Path,
    explicit: bool = True,
    poll: float = 60.0,
):
    settings = dataclasses.replace(settings_for(tmp_path), catalogue=catalogue)
    return dataclasses.replace(
        settings,
        darktable=dataclasses.replace(
            settings.darktable,
            library=library,
            data=None,
            explicit=explicit,
            poll_seconds=poll,
            quiet_seconds=1.0,
        ),
    )


@pytest.fixture
def darktable(tmp_path: Path) -> DarktableCopy:
    copy = copy_fixture(tmp_path)
    # data.db lives in config/, beside library.db is where the engine looks by default
    shutil.copy(copy.paths.data, copy.paths.library.parent / "data.db")
    return copy


def _start(settings) -> Engine:
    engine = Engine(settings)
    engine.start()
    return engine


@pytest.fixture
def engine(tmp_path: Path, catalogue_location, darktable: DarktableCopy) -> Iterator[Engine]:
    settings = darktable_settings(tmp_path, catalogue_location, darktable.paths.library)
    add_root(settings, darktable.photos)
    running = _start(settings)
    wait_until(lambda: DarktableImage.select().count() == 17)
    wait_until(lambda: running.states()["watcher"].status == "running")
    time.sleep(0.3)
    yield running
    running.stop()


def _kinds(kind: str) -> list[dict]:
    return [json.loads(e.payload) for e in Event.select().where(Event.kind == kind)]


def test_a_darktable_write_becomes_an_event_after_the_quiet_time(engine, darktable):
    assert engine.states()["darktable"].status == "idle"
    assert engine.states()["darktable"].task == "darktable not running"
    darktable.write("UPDATE images SET flags = (flags & ~7) | 3 WHERE id = 16")
    rated = wait_until(lambda: _kinds("rated"), timeout=15)
    assert rated[0]["darktable_id"] == 16 and rated[0]["stars"] == 3


def test_an_export_then_the_file_it_wrote(engine, darktable):
    now = time.time()
    darktable.write("UPDATE images SET export_timestamp = ? WHERE id = 13", (darktable_time(now),))
    wait_until(lambda: _kinds("exported"), timeout=15)
    exported = darktable.street("darktable_exported") / "DSC_0103.jpg"
    shutil.copy(darktable.street("DSC_0103.JPG"), exported)
    written = wait_until(lambda: _kinds("export_written"), timeout=15)
    assert written[0]["export_path"] == str(exported)


def test_a_sidecar_written_by_darktable_is_seen_through_the_watcher(engine, darktable):
    sidecar = darktable.street("DSC_0101.JPG.xmp")
    text = sidecar.read_text().replace('xmp:Rating="1"', 'xmp:Rating="5"')
    sidecar.write_text(text)
    rated = wait_until(lambda: _kinds("rated"), timeout=15)
    assert rated[0]["darktable_id"] == 11 and rated[0]["via"] == "sidecar"


def test_a_missing_default_library_turns_the_poller_off(tmp_path, catalogue_location):
    settings = darktable_settings(
        tmp_path, catalogue_location, tmp_path / "none" / "library.db", explicit=False
    )
    engine = _start(settings)
    try:
        state = wait_until(
            lambda: engine.states()["darktable"].status == "off" and engine.states()["darktable"]
        )
        assert "no darktable library" in state.error
    finally:
        engine.stop()


def test_a_configured_library_that_is_missing_then_appears(tmp_path, catalogue_location, darktable):
    library = tmp_path / "later" / "library.db"
    engine = _start(darktable_settings(tmp_path, catalogue_location, library, poll=1.0))
    try:
        state = wait_until(
            lambda: (
                engine.states()["darktable"].status == "degraded" and engine.states()["darktable"]
            )
        )
        assert str(library) in state.error and "no file" in state.error
        wait_until(lambda: Heartbeat.get_or_none(Heartbeat.component == "darktable"))
        library.parent.mkdir()
        shutil.copy(darktable.paths.library, library)
        shutil.copy(darktable.paths.data, library.parent / "data.db")
        wait_until(lambda: DarktableImage.select().count() == 17, timeout=30)
        wait_until(lambda: engine.states()["darktable"].status == "idle")
    finally:
        engine.stop()


def test_a_damaged_library_is_a_state_and_the_poller_recovers(tmp_path, engine, darktable):
    good = darktable.paths.library.read_bytes()
    darktable.paths.library.write_bytes(b"garbage" * 4096)
    engine.darktable.poller.poll_soon()
    state = wait_until(
        lambda: engine.states()["darktable"].status == "degraded" and engine.states()["darktable"],
        timeout=15,
    )
    assert "damaged" in state.error
    assert DarktableImage.select().count() == 17  # nothing forgotten
    darktable.paths.library.write_bytes(good)
    wait_until(lambda: engine.states()["darktable"].status == "idle", timeout=30)
    darktable.write("UPDATE images SET flags = flags | 8 WHERE id = 1")
    wait_until(lambda: _kinds("rejected"), timeout=15)


def test_tag_names_unknown_is_degraded_until_data_db_turns_up(tmp_path, catalogue_location):
    """darktable run with --configdir elsewhere: the engine says darktable is degraded and why,
    then, once the config folder is there, shows the names in place of the ids."""
    copy = copy_fixture(tmp_path)
    hidden = copy.paths.data.with_name("not-data.db")
    copy.paths.data.rename(hidden)
    engine = _start(darktable_settings(tmp_path, catalogue_location, copy.paths.library, poll=1.0))
    try:
        state = wait_until(
            lambda: (
                engine.states()["darktable"].status == "degraded" and engine.states()["darktable"]
            ),
            timeout=20,
        )
        assert "tag names unknown" in state.error and "darktable.data" in state.error
        assert DarktableImage.select().count() == 17
        hidden.rename(copy.paths.data)
        (copy.paths.data.parent / "darktablerc").write_text("database=library.db\n")
        wait_until(lambda: engine.states()["darktable"].status == "idle", timeout=20)
        row = DarktableImage.get(DarktableImage.darktable_id == 2)
        assert json.loads(row.tags) == ["portfolio", "wedding|ceremony"]
        assert not _kinds("tagged")
    finally:
        engine.stop()


def test_a_darktable_failure_degrades_darktable_alone_and_files_are_still_recorded(
    engine, darktable
):
    """darktable's errors land on darktable: not on the reconciler, the watcher or the media
    component, whose work goes on (a damaged library, then an error in darktable's own work on
    the writer thread)."""
    others = ("watcher", "reconciler", "media")
    darktable.paths.library.write_bytes(b"garbage" * 4096)
    engine.darktable.poller.poll_soon()
    wait_until(lambda: engine.states()["darktable"].status == "degraded", timeout=15)
    later = darktable.photos / "LATER.JPG"
    shutil.copy(next(darktable.photos.rglob("*.jpg")), later)
    wait_until(lambda: FileRecord.select().where(FileRecord.rel_path == "LATER.JPG").count() == 1)
    states = engine.states()
    assert states["darktable"].status == "degraded" and "damaged" in states["darktable"].error
    assert all(states[name].status != "degraded" for name in others), states

    def broken() -> int:
        raise RuntimeError("darktable's own work failed")

    engine.darktable.sync.follow_file_events = broken  # its tick on the writer thread fails
    shutil.copy(later, darktable.photos / "LATER_2.JPG")
    wait_until(lambda: "own work failed" in (engine.states()["darktable"].error or ""), timeout=15)
    wait_until(lambda: FileRecord.select().where(FileRecord.rel_path == "LATER_2.JPG").count() == 1)
    states = engine.states()
    assert all(states[name].status != "degraded" for name in others), states


def test_each_component_follows_the_kinds_its_reader_reads(engine):
    """What a component says it follows is what its reader of the log reads."""
    follows = {c.name: c.follows for c in engine.components}
    assert follows["media"] and follows["darktable"]
    assert set(engine.media.sync._file_events.kinds) == set(follows["media"])
    assert set(engine.darktable.sync._file_events.kinds) == set(follows["darktable"])
