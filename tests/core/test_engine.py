"""The engine with a real watcher on real trees: changes reach the catalogue, after they settle.

Every test that opens a catalogue runs on both back ends (a SQLite file, then a database on the
tests' private PostgreSQL server); those about the lock file beside a SQLite catalogue (its
other names, SQLite's own locks) are SQLite's alone, and take no catalogue fixture. The
server's own (its advisory lock seen from other machines, a restart) are in
test_engine_postgres and tests/faults/test_server_restart.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import watchfiles

from core.config import load_settings
from core.engine import COMPONENTS, Engine, EngineRunning
from core.engine.control import ask
from core.engine.lock import KEPT_FILES, EngineLock, running_engine_pid
from core.store import open_catalogue
from core.store.models import Event, FileRecord, Heartbeat, Root, SyncRun
from tests.helpers import REPO, b3, catalogued, on_disk, record_ids, touch_later, wait_until, write
from tests.postgres_cluster import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS
# A test about the lock file beside a SQLite catalogue (reached through the file's other names)
# that uses the engine fixture: a catalogue on a server has no file, and its lock is the
# server's (test_engine_postgres).
LOCK_FILE_ONLY = pytest.mark.parametrize("catalogue_backend", ["sqlite"])
SETTLE = 0.3


def settings_for(tmp_path: Path, catalogue: Path | str | None = None, **watch):
    """The engine's settings: the catalogue at ``catalogue`` (a file or a server's URL), else
    a file in ``tmp_path``; a short settle and debounce."""
    settings = load_settings(None, {"catalogue": str(catalogue or tmp_path / "catalogue.db")})
    return dataclasses.replace(
        settings,
        watch=dataclasses.replace(
            settings.watch, settle_seconds=watch.get("settle", SETTLE), debounce_ms=50
        ),
    )


def add_root(settings, path: Path) -> None:
    with open_catalogue(settings.catalogue):
        Root.create(path=str(path), added_at=time.time())


@pytest.fixture
def library(tmp_path: Path) -> Path:
    path = tmp_path / "library"
    (path / "2024" / "2024-06-01").mkdir(parents=True)
    return path


@pytest.fixture
def engine(tmp_path: Path, library: Path, catalogue_location) -> Iterator[Engine]:
    settings = settings_for(tmp_path, catalogue_location)
    add_root(settings, library)
    running = Engine(settings)
    running.start()
    wait_until(lambda: SyncRun.select().where(SyncRun.kind == "startup").count())
    wait_until(lambda: running.states()["watcher"].status == "running")
    time.sleep(0.3)  # let inotify settle on the tree before the test writes into it
    yield running
    running.stop()


def kinds_for(path: str) -> list[str]:
    return [e.kind for e in Event.select().where(Event.path == path).order_by(Event.id)]


def test_created_file_is_recorded_with_its_hash_and_an_event(engine, library):
    photo = write(library / "2024" / "2024-06-01" / "IMG_0001.CR2", os.urandom(5000))
    rel = "2024/2024-06-01/IMG_0001.CR2"
    wait_until(lambda: FileRecord.get_or_none(FileRecord.rel_path == rel))
    assert FileRecord.get(FileRecord.rel_path == rel).blake3 == b3(photo)
    assert kinds_for(rel) == ["added"]
    assert SyncRun.select().where(SyncRun.kind == "realtime").count() >= 1


def test_modified_deleted_and_renamed_files(engine, library):
    folder = library / "2024" / "2024-06-01"
    edited, doomed, renamed = (write(folder / n, n * 10) for n in ("a.JPG", "b.JPG", "c.JPG"))
    wait_until(lambda: FileRecord.select().count() == 3)
    ids = record_ids(library)

    edited.write_bytes(b"edited, and longer than before")
    touch_later(edited, -5)  # an edit made now, whose mtime is already settled
    doomed.unlink()
    renamed.rename(folder / "keeper.JPG")

    wait_until(lambda: "moved" in kinds_for("2024/2024-06-01/keeper.JPG"))
    wait_until(lambda: "removed" in kinds_for("2024/2024-06-01/b.JPG"))
    wait_until(lambda: "modified" in kinds_for("2024/2024-06-01/a.JPG"))
    assert record_ids(library)["2024/2024-06-01/keeper.JPG"] == ids["2024/2024-06-01/c.JPG"]
    assert catalogued(library) == on_disk(library)


def test_renamed_folder_of_500_files_is_500_moves_keeping_identity(engine, library):
    folder = library / "2024" / "2024-06-02"
    for n in range(500):
        write(folder / f"DSC_{n:04d}.NEF", f"frame {n}")
    wait_until(lambda: FileRecord.select().count() == 500, timeout=60)
    before = record_ids(library)

    folder.rename(library / "2024" / "2024-06-02 wedding")

    wait_until(lambda: Event.select().where(Event.kind == "moved").count() == 500, timeout=60)
    after = record_ids(library)
    assert len(after) == 500
    for n in range(500):
        name = f"DSC_{n:04d}.NEF"
        assert after[f"2024/2024-06-02 wedding/{name}"] == before[f"2024/2024-06-02/{name}"]
    assert Event.select().where(Event.kind.in_(["removed", "added"])).count() == 500  # the adds
    assert catalogued(library) == on_disk(library)


def test_large_file_copied_in_slow_chunks_is_recorded_once_and_complete(engine, library):
    target = library / "2024" / "2024-06-01" / "VID_0001.MP4"
    chunk = os.urandom(256 * 1024)
    with target.open("wb") as handle:
        for _ in range(24):  # about 2.4 s of copying, far longer than the settle time
            handle.write(chunk)
            handle.flush()
            time.sleep(0.1)
    rel = "2024/2024-06-01/VID_0001.MP4"
    wait_until(lambda: FileRecord.get_or_none(FileRecord.rel_path == rel))
    time.sleep(SETTLE * 3)  # anything recorded twice would have been by now
    record = FileRecord.get(FileRecord.rel_path == rel)
    assert record.size == 24 * len(chunk) and record.blake3 == b3(target)
    assert kinds_for(rel) == ["added"]


def test_new_folder_with_files_written_at_once_is_complete(engine, library):
    for day in range(20):
        for n in range(10):
            write(library / "2025" / f"2025-03-{day + 1:02d}" / f"IMG_{n}.JPG", f"{day} {n}")
    wait_until(lambda: FileRecord.select().count() == 200, timeout=60)
    assert catalogued(library) == on_disk(library)


def test_ignored_folders_and_files_are_not_recorded(engine, library):
    write(library / "2024" / ".thumbnails" / "x.jpg", "hidden")
    write(library / "2024" / "@eaDir" / "IMG.CR2" / "SYNOPHOTO_THUMB.jpg", "nas")
    write(library / "2024" / "2024-06-01" / "IMG.CR2.part", "partial")
    write(library / "2024" / "2024-06-01" / "IMG.CR2", "real")
    wait_until(lambda: FileRecord.select().count() >= 1)
    time.sleep(SETTLE * 3)
    assert sorted(catalogued(library)) == ["2024/2024-06-01/IMG.CR2"]


def test_heartbeats_and_status_over_the_control_socket(engine, library):
    wait_until(lambda: Heartbeat.select().count() == len(COMPONENTS))
    # darktable says "starting" until its poller has looked for the library (there is none).
    wait_until(lambda: Heartbeat.get_by_id("darktable").status == "off")
    beats = {beat.component: beat.status for beat in Heartbeat.select()}
    assert beats["watcher"] == "running" and beats["darktable"] == "off"
    assert beats["media"] in ("idle", "running")
    reply = ask(engine.settings.catalogue, {"command": "status"})
    assert reply["ok"] and reply["pid"] == os.getpid()
    assert reply["components"]["watcher"]["status"] == "running"


def test_rescan_request_reaches_the_running_engine(engine, library):
    reply = ask(engine.settings.catalogue, {"command": "rescan", "path": str(library)})
    assert reply == {"ok": True, "roots": [str(library)]}
    wait_until(lambda: SyncRun.select().where(SyncRun.kind == "manual").count() == 1)


def test_second_engine_on_the_same_catalogue_is_refused(engine, tmp_path):
    assert running_engine_pid(engine.settings.catalogue) == os.getpid()
    with pytest.raises(EngineRunning, match=f"pid {os.getpid()}"):
        Engine(engine.settings).start()


def other_name(catalogue: Path, how: str) -> Path:
    """Another name for the catalogue file: a symlink, a hard link (in another folder), a
    symlink to its folder, or its path written with ".."."""
    elsewhere = catalogue.parent / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    if how == "symlink":
        (elsewhere / "linked.db").symlink_to(catalogue)
        return elsewhere / "linked.db"
    if how == "hard link":
        os.link(catalogue, elsewhere / "linked.db")
        return elsewhere / "linked.db"
    if how == "symlinked folder":
        (catalogue.parent / "folder-link").symlink_to(catalogue.parent, target_is_directory=True)
        return catalogue.parent / "folder-link" / catalogue.name
    return elsewhere / ".." / catalogue.name  # "dotted path"


NAMES = ["symlink", "hard link", "symlinked folder", "dotted path"]


@LOCK_FILE_ONLY
@pytest.mark.parametrize("how", NAMES)
def test_a_second_engine_through_another_name_of_the_catalogue_is_refused(engine, how):
    """The lock belongs to the file: a lock beside the name let a second engine start through
    a symlink or a hard link, and two engines then wrote one catalogue."""
    name = other_name(engine.settings.catalogue, how)
    assert running_engine_pid(name) == os.getpid()
    with pytest.raises(EngineRunning, match=f"pid {os.getpid()}"):
        Engine(dataclasses.replace(engine.settings, catalogue=name)).start()
    assert running_engine_pid(engine.settings.catalogue) == os.getpid()  # still the first's


@LOCK_FILE_ONLY
@pytest.mark.parametrize("how", ["symlink", "hard link"])
def test_run_through_another_name_of_the_catalogue_says_so_in_one_sentence(engine, how):
    name = other_name(engine.settings.catalogue, how)
    result = subprocess.run(
        [sys.executable, "-m", "core.cli", "--db", str(name), "run"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == (
        f"shootwatch: an engine already runs on this catalogue (pid {os.getpid()}); nothing to do\n"
    )
    assert running_engine_pid(engine.settings.catalogue) == os.getpid()


# Holds the engine lock of a catalogue in another process until it is killed.
HOLDER = """
import sys, time
from pathlib import Path
from core.engine.lock import EngineLock
EngineLock(Path(sys.argv[1])).acquire()
print("locked", flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize("how", NAMES)
def test_an_engine_in_another_process_is_seen_and_refuses_through_any_name(tmp_path, how):
    catalogue = tmp_path / "catalogue.db"
    open_catalogue(catalogue).close()
    name = other_name(catalogue, how)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(name)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline() == "locked\n"
        assert running_engine_pid(catalogue) == holder.pid
        assert running_engine_pid(name) == holder.pid
        with pytest.raises(EngineRunning, match=f"pid {holder.pid}"):
            EngineLock(catalogue).acquire()
    finally:
        holder.kill()  # kill -9: the kernel frees the lock, nothing stale is left
        holder.wait(timeout=30)
    assert running_engine_pid(catalogue) is None and running_engine_pid(name) is None
    lock = EngineLock(name)
    lock.acquire()
    try:
        assert running_engine_pid(catalogue) == os.getpid()
    finally:
        lock.release()
    assert running_engine_pid(catalogue) is None


SWITCH_JOURNAL = (
    "import sqlite3, sys\n"
    "connection = sqlite3.connect(sys.argv[1], timeout=0)\n"
    "print(connection.execute('PRAGMA journal_mode = delete').fetchone()[0])\n"
)


def test_the_lock_never_drops_sqlites_own_locks(tmp_path):
    """Closing any descriptor of a file drops every POSIX lock this process holds on it: had
    the lock or a check closed the catalogue's descriptor, SQLite's shared lock would be gone
    and another process could switch the catalogue out of WAL under the engine (measured: it
    can, after one open and close of the file). Checked also after many other catalogues made
    the lock let go of the descriptors it no longer needs."""
    catalogue = open_catalogue(tmp_path / "catalogue.db")
    try:
        assert catalogue.db.execute_sql("SELECT count(*) FROM photo").fetchone() == (0,)
        lock = EngineLock(catalogue.path)
        lock.acquire()
        assert running_engine_pid(catalogue.path) == os.getpid()
        lock.release()
        assert running_engine_pid(catalogue.path) is None
        descriptors = len(os.listdir("/proc/self/fd"))
        for n in range(3 * KEPT_FILES):
            other = tmp_path / f"other-{n}.db"
            other.touch()
            assert running_engine_pid(other) is None
            EngineLock(other).acquire()  # never released: a lock given up with its process
        assert running_engine_pid(catalogue.path) is None
        switch = subprocess.run(
            [sys.executable, "-c", SWITCH_JOURNAL, str(catalogue.path)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert "database is locked" in switch.stderr, switch.stdout
        # Held locks keep their descriptors; the checks of the others were let go.
        assert len(os.listdir("/proc/self/fd")) - descriptors <= 3 * KEPT_FILES + KEPT_FILES
    finally:
        catalogue.close()


def test_checking_for_an_engine_creates_nothing(tmp_path):
    assert running_engine_pid(tmp_path / "none.db") is None
    assert list(tmp_path.iterdir()) == []


WATCHES_LATE_SECONDS = 2.0


@pytest.mark.parametrize("written_after", [0.0, 0.5, 1.5])
@pytest.mark.parametrize("where", ["a folder there", "a new folder"])
def test_what_arrives_before_the_first_watches_are_in_place_is_recorded(
    tmp_path, catalogue_location, library, written_after, where
):
    """The startup reconcile may walk a folder before the watcher's watches on it are in place
    (on a loaded machine they come late): a file written in between is seen by neither,
    unless the first watcher sweeps what changed since the engine started. Here the watches
    come 2 s after the start, and the file is written after the startup reconcile."""

    def late_watch(*paths, **options):
        if not options["stop_event"].wait(WATCHES_LATE_SECONDS):
            yield from watchfiles.watch(*paths, **options)

    settings = settings_for(tmp_path, catalogue_location)
    add_root(settings, library)
    engine = Engine(settings, watch_factory=late_watch)
    engine.start()
    try:
        wait_until(lambda: SyncRun.select().where(SyncRun.kind == "startup").count())
        time.sleep(written_after)
        folder = "2024/2024-06-01" if where == "a folder there" else "2024/2024-06-02"
        write(library / folder / "arrived.JPG", "arrived")
        wait_until(lambda: f"{folder}/arrived.JPG" in catalogued(library), timeout=30)
    finally:
        engine.stop()


def test_stop_and_restart_lose_nothing_written_while_stopped(tmp_path, catalogue_location, library):
    settings = settings_for(tmp_path, catalogue_location)
    add_root(settings, library)
    engine = Engine(settings)
    engine.start()
    write(library / "2024" / "2024-06-01" / "before.JPG", "before")
    wait_until(lambda: FileRecord.select().count() == 1)
    engine.stop()
    assert Heartbeat.select().where(Heartbeat.status != "off").count() == 0

    write(library / "2024" / "2024-06-01" / "while-stopped.JPG", "while stopped")
    (library / "2024" / "2024-06-01" / "before.JPG").unlink()

    engine = Engine(settings)
    engine.start()
    try:
        wait_until(lambda: sorted(catalogued(library)) == ["2024/2024-06-01/while-stopped.JPG"])
        assert kinds_for("2024/2024-06-01/before.JPG")[-1] == "removed"
    finally:
        engine.stop()


def test_watch_limit_falls_back_to_scanning_and_says_how_to_fix_it(
    tmp_path, catalogue_location, library
):
    def exhausted_watcher(*paths, **options):
        raise OSError(errno.ENOSPC, "OS file watch limit reached")
        yield  # a generator, like watchfiles.watch

    settings = settings_for(tmp_path, catalogue_location)
    settings = dataclasses.replace(
        settings, engine=dataclasses.replace(settings.engine, fallback_minutes=0.05)
    )
    add_root(settings, library)
    engine = Engine(settings, watch_factory=exhausted_watcher)
    engine.start()
    try:
        wait_until(lambda: engine.states()["watcher"].status == "degraded")
        assert "fs.inotify.max_user_watches" in engine.states()["watcher"].error
        wait_until(lambda: Event.select().where(Event.kind == "watcher_fallback").count())
        states = [
            json.loads(e.payload) for e in Event.select().where(Event.kind == "component_state")
        ]
        watcher_states = [state for state in states if state["component"] == "watcher"]
        assert watcher_states[-1]["status"] == "degraded"
        assert "fs.inotify.max_user_watches" in watcher_states[-1]["error"]
        # Not watched, but scanned every few seconds instead:
        write(library / "2024" / "2024-06-01" / "IMG.JPG", "found by a scan")
        wait_until(lambda: catalogued(library), timeout=30)
    finally:
        engine.stop()


def test_attached_process_reads_the_running_engines_events(engine, library, tmp_path):
    follower = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "--db", str(engine.settings.catalogue), "events",
         "--follow", "--json", "--limit", "0"],
        cwd=REPO, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(1.0)  # the follower has read where the log ends
        write(library / "2024" / "2024-06-01" / "IMG_9.JPG", "seen from another process")
        line = follower.stdout.readline()
        event = json.loads(line)
        assert (event["kind"], event["path"], event["root"]) == (
            "added",
            "2024/2024-06-01/IMG_9.JPG",
            str(library),
        )
    finally:
        follower.terminate()
        follower.wait()


def test_rescan_without_an_engine_scans_here(tmp_path, catalogue_location, library):
    settings = settings_for(tmp_path, catalogue_location)
    add_root(settings, library)
    write(library / "2024" / "2024-06-01" / "IMG.JPG", "photo")
    result = subprocess.run(
        [sys.executable, "-m", "core.cli", "--db", str(settings.catalogue), "rescan"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "no engine is running: scanning here" in result.stderr
    assert "1 added" in result.stdout


def test_headless_service_stops_cleanly_on_sigterm(tmp_path, catalogue_location, library):
    settings = settings_for(tmp_path, catalogue_location)
    add_root(settings, library)
    service = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "--db", str(settings.catalogue), "run"],
        cwd=REPO, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        with open_catalogue(settings.catalogue):
            wait_until(lambda: running_engine_pid(settings.catalogue) == service.pid)
            wait_until(lambda: Heartbeat.select().count() == len(COMPONENTS))
            service.terminate()
            assert service.wait(timeout=10) == 0
            assert running_engine_pid(settings.catalogue) is None
            assert {beat.status for beat in Heartbeat.select()} == {"off"}
            # A run cut short says so ("failed": stopped); none is left looking alive.
            assert SyncRun.select().where(SyncRun.status == "running").count() == 0
    finally:
        if service.poll() is None:
            service.kill()
    assert "engine stopped" in service.stderr.read()


def test_remove_root_folder_while_watched_goes_offline_not_removed(engine, library):
    write(library / "2024" / "2024-06-01" / "IMG.JPG", "photo")
    wait_until(lambda: FileRecord.select().count() == 1)
    shutil.move(library, library.parent / "unplugged")
    engine.request_rescan()
    wait_until(lambda: Root.get().state == "offline")
    assert FileRecord.select().count() == 1


def test_status_json_shows_the_running_engine(engine, capsys):
    from core.cli import main

    wait_until(lambda: Heartbeat.select().count() == len(COMPONENTS))
    code = main(["--db", str(engine.settings.catalogue), "status", "--json"])
    status = json.loads(capsys.readouterr().out)
    assert status["engine"]["pid"] == os.getpid()
    components = {c["component"]: c["status"] for c in status["engine"]["components"]}
    assert components["watcher"] == "running" and components["stages"] == "idle"  # none due
    assert code == 0 and status["healthy"]


def test_events_command_filters_by_kind_and_time(engine, library, capsys):
    from core.cli import main

    write(library / "2024" / "2024-06-01" / "a.JPG", "a")
    wait_until(lambda: Event.select().where(Event.kind == "added").count() == 1)
    db = str(engine.settings.catalogue)

    assert main(["--db", db, "events", "--kind", "added", "--json"]) == 0
    (event,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (event["kind"], event["path"]) == ("added", "2024/2024-06-01/a.JPG")

    assert main(["--db", db, "events", "--since", "2h"]) == 0
    assert "added" in capsys.readouterr().out
    assert main(["--db", db, "events", "--since", "yesterday-ish"]) == 2
    assert "is not a time" in capsys.readouterr().err


def test_a_burst_that_may_overflow_inotify_triggers_a_reconcile(
    tmp_path, catalogue_location, library, monkeypatch
):
    # inotify drops events past its queue and watchfiles does not say so: a batch that large
    # is taken as a possible overflow. The threshold is lowered instead of flooding the kernel.
    monkeypatch.setattr("core.scan.watch.overflow_threshold", lambda: 20)
    settings = settings_for(tmp_path, catalogue_location)
    add_root(settings, library)
    engine = Engine(settings)
    engine.start()
    try:
        wait_until(lambda: engine.states()["watcher"].status == "running")
        time.sleep(0.3)
        for n in range(40):
            write(library / "2024" / "2024-06-01" / f"IMG_{n:03d}.JPG", f"burst {n}")
        wait_until(lambda: Event.select().where(Event.kind == "watcher_overflow").count())
        wait_until(lambda: SyncRun.select().where(SyncRun.kind == "scheduled").count())
        wait_until(lambda: FileRecord.select().count() == 40)
        assert engine.states()["watcher"].status == "running"  # it goes on watching
        assert catalogued(library) == on_disk(library)
    finally:
        engine.stop()


def test_scan_while_an_engine_runs_asks_the_engine(engine, library, capsys):
    from core.cli import main

    assert main(["--db", str(engine.settings.catalogue), "scan"]) == 0
    assert f"the running engine (pid {os.getpid()}) will scan" in capsys.readouterr().out
    wait_until(lambda: SyncRun.select().where(SyncRun.kind == "manual").count() == 1)


def test_an_approved_photo_gets_its_stage_artifacts_while_the_engine_runs(engine, library):
    from core.store.models import Artifact
    from core.triage.decisions import Triage

    sample = REPO / "tests" / "fixtures" / "camera" / "kodak_dc240_1999.jpg"
    shutil.copyfile(sample, library / "2024" / "2024-06-01" / "DC240.JPG")

    def photo_id():
        """the media component has made the new file a photo"""
        record = FileRecord.get_or_none(FileRecord.rel_path == "2024/2024-06-01/DC240.JPG")
        return record.photo_id if record is not None and record.role == "original" else None

    Triage(engine.catalogue.db).decide(wait_until(photo_id), "approved")
    wait_until(lambda: Artifact.select().count() == 3, timeout=60)
    made = {a.stage: a for a in Artifact.select()}
    assert set(made) == {"thumb", "web", "blurhash"}
    art = engine.settings.stages.output
    assert Path(made["web"].path) == art / "web" / f"{made['web'].photo_id}.jpg"
    assert Path(made["web"].path).stat().st_size == made["web"].size
    assert len(made["blurhash"].blurhash) == 28
    wait_until(lambda: Event.select().where(Event.kind == "stage_done").count() == 3)
    assert Event.select().where(Event.kind == "stage_queued").count() >= 1
    assert Event.select().where(Event.kind == "stage_failed").count() == 0


def test_a_stage_command_that_cannot_run_degrades_the_stages_only(
    tmp_path, catalogue_location, library
):
    settings = settings_for(tmp_path, catalogue_location)
    settings = dataclasses.replace(
        settings,
        stages=dataclasses.replace(
            settings.stages, commands={"export": ("no-such-exporter", "{src}", "{out}")}
        ),
    )
    add_root(settings, library)
    running = Engine(settings)
    running.start()
    try:
        state = wait_until(
            lambda: running.states()["stages"].status == "degraded" and running.states()["stages"]
        )
        assert "no-such-exporter" in state.error and "export" in state.error
        wait_until(lambda: running.states()["watcher"].status == "running")
        write(library / "2024" / "2024-06-01" / "after.JPG", "still watched")
        wait_until(lambda: FileRecord.select().where(FileRecord.rel_path.endswith("after.JPG")))
    finally:
        running.stop()


def test_a_card_copied_into_the_inbox_is_filed_while_the_engine_runs(
    tmp_path, catalogue_location, library
):
    from core.store.models import Photo

    settings = settings_for(tmp_path, catalogue_location)
    inbox, originals = tmp_path / "inbox", tmp_path / "Originals"
    inbox.mkdir()
    settings = dataclasses.replace(
        settings,
        ingest=dataclasses.replace(settings.ingest, destination=originals, settle_seconds=0.5),
    )
    with open_catalogue(settings.catalogue):
        Root.create(path=str(inbox), kind="inbox", added_at=time.time())
    running = Engine(settings)
    running.start()
    try:
        wait_until(lambda: running.states()["watcher"].status == "running")
        time.sleep(0.3)
        card = inbox / "DCIM" / "100SONY"
        card.mkdir(parents=True)
        sample = REPO / "tests" / "fixtures" / "camera" / "sony_slt-a58_small.jpg"
        shutil.copyfile(sample, card / "DSC00002.JPG")
        filed = originals / "2023" / "2023-10-28" / "DSC00002.JPG"
        wait_until(filed.exists, timeout=60)
        # Linked to its new name first, then the card's name removed: a moment apart.
        wait_until(lambda: not (card / "DSC00002.JPG").exists())
        wait_until(lambda: Event.select().where(Event.kind == "ingested").count() == 1)
        record = wait_until(
            lambda: FileRecord.get_or_none(FileRecord.rel_path == "2023/2023-10-28/DSC00002.JPG")
        )
        assert record.root.path == str(originals) and record.blake3 == b3(sample)
        wait_until(lambda: Photo.select().count() == 1)  # in the triage queue
        # The same card again: nothing filed, the copy set aside.
        shutil.copyfile(sample, card / "DSC00002.JPG")
        wait_until(lambda: Event.select().where(Event.kind == "duplicate").count() == 1, timeout=60)
        assert (inbox / ".duplicates" / "DCIM" / "100SONY" / "DSC00002.JPG").exists()
        assert sorted(p.name for p in originals.rglob("*") if p.is_file()) == ["DSC00002.JPG"]
        assert running.states()["ingest"].status == "idle"
    finally:
        running.stop()


@pytest.mark.parametrize("after", [0.0, 0.3, 1.0])
def test_stopping_while_every_component_is_busy_logs_no_error(
    tmp_path, catalogue_location, library, caplog, after
):
    """Stopped while files are described and surveyed: nothing is handed to a pool that has
    shut down, and no component reports a failure on the way out."""
    from PIL import Image

    picture = library / "2024" / "2024-06-01" / "IMG_0000.JPG"
    Image.new("RGB", (640, 480), (120, 80, 40)).save(picture, quality=90)
    for n in range(1, 300):  # each one different: photos of their own
        write(picture.with_name(f"IMG_{n:04d}.JPG"), picture.read_bytes() + n.to_bytes(4, "big"))
    engine = Engine(settings_for(tmp_path, catalogue_location))
    add_root(engine.settings, library)
    caplog.set_level("WARNING")
    engine.start()
    time.sleep(after)
    engine.stop(timeout=5.0)
    problems = [record.getMessage() for record in caplog.records if record.levelname != "INFO"]
    assert problems == []


@pytest.mark.parametrize("ahead", [60, 86_400, 365 * 86_400])
def test_a_file_dated_in_the_future_is_recorded_once_it_holds_still(engine, library, ahead):
    """A card from a camera whose clock is ahead, copied keeping its times: recorded after the
    settle time like any file, not once its modification time has come."""
    photo = write(library / "2024" / "2024-06-01" / "IMG_AHEAD.CR3", b"from the future")
    future = time.time_ns() + ahead * 1_000_000_000
    os.utime(photo, ns=(future, future))
    rel = "2024/2024-06-01/IMG_AHEAD.CR3"
    record = wait_until(lambda: FileRecord.get_or_none(FileRecord.rel_path == rel))
    assert record.mtime_ns == future and record.blake3 == b3(photo)


def test_a_media_worker_killed_is_replaced_and_new_photos_are_still_described(engine, library):
    """The out-of-memory killer takes a media worker: the pool is broken for good in Python;
    the engine starts fresh workers, and photos copied in afterwards become photos and get
    their previews (the workers' work: the scan describes a file as it hashes it)."""
    import signal

    from PIL import Image

    from core.store.models import Photo

    first = library / "2024" / "2024-06-01" / "IMG_0001.JPG"
    Image.new("RGB", (320, 240), (10, 20, 30)).save(first)
    wait_until(lambda: Photo.select().where(Photo.preview_at.is_null(False)).count() == 1)
    workers = list(engine.media.pool._executor._processes.values())
    assert workers
    for worker in workers:
        os.kill(worker.pid, signal.SIGKILL)
    time.sleep(0.5)
    for n in range(2, 5):
        Image.new("RGB", (320, 240), (10 * n, 20, 30)).save(first.with_name(f"IMG_000{n}.JPG"))
    previewed = Photo.select().where(Photo.preview_at.is_null(False))
    wait_until(lambda: previewed.count() == 4, timeout=60)
