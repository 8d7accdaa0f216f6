"""Triage on real photos in a real catalogue: decisions, stars and labels committed with their
Decision rows, unlimited undo / redo from the log (also after a restart), the queue's filters
and order."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from core.config import MediaSettings
from core.media.photos import MediaSync
from core.store.models import Decision, FileRecord, Photo
from core.triage.decisions import FRESH, DecisionNotSaved, Triage, TriageError
from core.triage.queue import Counts, FilterError, Queue, parse_filter
from tests.helpers import root_for, scan
from tests.postgres_cluster import BOTH_BACKENDS, connect_directly

pytestmark = BOTH_BACKENDS
# SQLite's one write lock, held by another program (a server locks rows, and queues writers).
SQLITE_WRITE_LOCK = pytest.mark.parametrize("catalogue_backend", ["sqlite"])

SAMPLES = Path(__file__).parents[1] / "fixtures" / "camera"
# taken 1999, 2008, 2011, 2023: the queue shows them in that order of capture
SHOTS = {
    "a/kodak.jpg": "kodak_dc240_1999.jpg",
    "a/coolpix.jpg": "nikon_coolpix_p6000_gps_DSCN0010.jpg",
    "b/samsung.jpg": "samsung_galaxy_s_orient6_gps.jpg",
    "b/sony.jpg": "sony_slt-a58_small.jpg",
}


@pytest.fixture
def photos(catalogue, tmp_path) -> dict[str, int]:
    library = tmp_path / "library"
    for name, sample in SHOTS.items():
        (library / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SAMPLES / sample, library / name)
    scan(catalogue, library, workers=1)
    media = MediaSync(catalogue.db, MediaSettings(preview_cache=tmp_path / "previews"))
    media.follow_file_events()
    media.run_until_idle()
    return {name: FileRecord.get(FileRecord.rel_path == name).photo_id for name in SHOTS}


def _photo(photo_id: int) -> Photo:
    return Photo.get_by_id(photo_id)


def test_a_decision_is_on_disk_before_decide_returns(catalogue, photos):
    triage = Triage(catalogue.db)
    change = triage.decide(photos["a/kodak.jpg"], "approved")
    assert (change.before, change.after) == ("pending", "approved")
    # Another connection (another process, after a crash) sees it at once.
    other = connect_directly(catalogue.location)
    (decision,) = other.execute(
        f"SELECT decision FROM photo WHERE id = {photos['a/kodak.jpg']:d}"  # both drivers
    ).fetchone()
    other.close()
    assert decision == "approved"
    row = Decision.get()
    assert (row.action, row.before, row.after, row.source) == (
        "decision",
        '"pending"',
        '"approved"',
        "key",
    )


@SQLITE_WRITE_LOCK
def test_a_decision_waits_for_the_engine_writing_instead_of_failing(catalogue, photos):
    """The engine's writer commits all the time. A decision that read before the write lock
    was free would fail outright when its snapshot went stale; it must wait its turn."""
    import threading
    import time

    writer = sqlite3.connect(catalogue.path, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE photo SET rating = 1 WHERE id = ?", (photos["b/sony.jpg"],))

    def commit_soon() -> None:
        time.sleep(0.3)
        writer.execute("COMMIT")

    committing = threading.Thread(target=commit_soon)
    committing.start()
    try:
        Triage(catalogue.db).decide(photos["a/kodak.jpg"], "rejected")
    finally:
        committing.join()
        writer.close()
    assert _photo(photos["a/kodak.jpg"]).decision == "rejected"
    assert _photo(photos["b/sony.jpg"]).rating == 1


def _hold_the_write_lock(catalogue, photos, seconds: float | None):
    """Another program writing: it holds the catalogue's write lock for ``seconds`` (None:
    until the returned function is called)."""
    import threading

    writer = sqlite3.connect(catalogue.path, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE photo SET rating = 1 WHERE id = ?", (photos["b/sony.jpg"],))
    done = threading.Event()

    def release() -> None:
        done.wait(seconds)
        writer.execute("COMMIT")
        writer.close()

    releasing = threading.Thread(target=release)
    releasing.start()

    def stop() -> None:
        done.set()
        releasing.join()

    return stop


@SQLITE_WRITE_LOCK
def test_a_decision_outlasts_a_lock_held_past_the_busy_timeout(catalogue, photos):
    """Each try waits the busy timeout (short here); the decision tries again until it is in."""
    catalogue.db.execute_sql("PRAGMA busy_timeout = 100")
    stop = _hold_the_write_lock(catalogue, photos, seconds=1.0)
    try:
        change = Triage(catalogue.db, deadline=60).decide(photos["a/kodak.jpg"], "approved")
    finally:
        stop()
    assert change.after == "approved"
    assert _photo(photos["a/kodak.jpg"]).decision == "approved"


@SQLITE_WRITE_LOCK
def test_a_decision_that_cannot_be_saved_says_so_in_one_sentence(catalogue, photos):
    catalogue.db.execute_sql("PRAGMA busy_timeout = 100")
    stop = _hold_the_write_lock(catalogue, photos, seconds=None)
    try:
        with pytest.raises(DecisionNotSaved) as raised:
            Triage(catalogue.db, deadline=0.5).decide(photos["a/kodak.jpg"], "approved")
    finally:
        stop()
    message = str(raised.value)
    assert message.startswith("the catalogue stayed locked by another program")
    assert "nothing was changed" in message and "\n" not in message
    assert _photo(photos["a/kodak.jpg"]).decision == "pending"
    assert Decision.select().count() == 0


@SQLITE_WRITE_LOCK
def test_decide_on_a_catalogue_kept_locked_exits_2_with_one_sentence(
    capsys, catalogue, photos, tmp_path, monkeypatch
):
    from core.store import database
    from core.triage import decisions
    from tests.core.test_cli import run

    monkeypatch.setitem(database.PRAGMAS, "busy_timeout", 100)
    monkeypatch.setattr(decisions, "SAVE_DEADLINE_SECONDS", 0.5)
    path = str(tmp_path / "library" / "b" / "sony.jpg")
    stop = _hold_the_write_lock(catalogue, photos, seconds=None)
    try:
        code, out, err = run(capsys, "--db", str(catalogue.path), "decide", path, "--reject")
    finally:
        stop()
    assert code == 2 and out == ""
    assert err.startswith("shootwatch: error: the catalogue stayed locked by another program")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_stars_and_labels(catalogue, photos):
    triage = Triage(catalogue.db)
    photo = photos["b/sony.jpg"]
    triage.rate(photo, 4)
    triage.toggle_label(photo, 1)  # red
    triage.toggle_label(photo, 4)  # green
    triage.toggle_label(photo, 1)  # red off again
    assert (_photo(photo).rating, _photo(photo).labels) == (4, 4)
    assert _photo(photo).decided_at is not None
    with pytest.raises(TriageError, match="not a rating"):
        triage.rate(photo, 6)
    with pytest.raises(TriageError, match="not a decision"):
        triage.decide(photo, "maybe")
    with pytest.raises(TriageError, match="no photo"):
        triage.decide(999_999, "approved")
    assert Decision.select().count() == 4  # refused changes leave no trace


def test_undo_and_redo_are_unlimited_and_survive_a_restart(catalogue, photos):
    a, b = photos["a/kodak.jpg"], photos["b/samsung.jpg"]
    triage = Triage(catalogue.db)
    triage.decide(a, "approved")
    triage.rate(b, 3)
    triage.decide(b, "rejected")
    assert triage.undo().after == "pending"  # b's reject taken back
    assert triage.undo().after == 0  # b's stars
    restarted = Triage(catalogue.db)  # the app was closed and opened again
    assert restarted.undo().after == "pending"  # a's approval
    assert restarted.undo() is None
    assert (_photo(a).decision, _photo(b).rating, _photo(b).decision) == ("pending", 0, "pending")
    assert restarted.redo().after == "approved"  # a again, the oldest undone first
    assert restarted.redo().after == 3
    assert (_photo(a).decision, _photo(b).rating) == ("approved", 3)
    # A new decision ends what could be redone (b's reject).
    restarted.rate(a, 5)
    assert restarted.redo() is None
    assert _photo(b).decision == "pending"
    assert restarted.undo().after == 0 and _photo(a).rating == 0
    sources = [d.source for d in Decision.select().order_by(Decision.id)]
    assert sources.count("undo") == 4 and sources.count("redo") == 2


def test_the_queue_follows_capture_time_and_filters(catalogue, photos, tmp_path):
    triage = Triage(catalogue.db)
    queue = Queue(catalogue.db, "all")
    order = [next(n for n, i in photos.items() if i == pid) for pid in queue.photo_ids]
    assert order == ["a/kodak.jpg", "a/coolpix.jpg", "b/samsung.jpg", "b/sony.jpg"]
    triage.decide(photos["a/coolpix.jpg"], "approved")
    triage.decide(photos["b/sony.jpg"], "rejected")
    triage.rate(photos["b/samsung.jpg"], 2)
    triage.toggle_label(photos["a/kodak.jpg"], 16)  # purple

    def shown(text: str) -> set[str]:
        ids = set(Queue(catalogue.db, text).photo_ids)
        return {name for name, pid in photos.items() if pid in ids}

    assert shown("pending") == {"a/kodak.jpg", "b/samsung.jpg"}
    assert shown("approved") == {"a/coolpix.jpg"}
    assert shown("rejected") == {"b/sony.jpg"}
    assert shown("unrated") == {"a/kodak.jpg", "a/coolpix.jpg", "b/sony.jpg"}
    assert shown("label:purple") == {"a/kodak.jpg"}
    folder = str(tmp_path / "library" / "b")
    assert shown(f"folder:{folder}") == {"b/samsung.jpg", "b/sony.jpg"}
    # The counters are of the filter's whole set, not of the photos it shows: a decision
    # filter counts every photo, the others the photos they choose, whatever their decision.
    assert Queue(catalogue.db, "pending").counts() == Counts(2, 1, 1)
    assert Queue(catalogue.db, "approved").counts() == Counts(2, 1, 1)
    assert Queue(catalogue.db, "unrated").counts() == Counts(1, 1, 1)
    assert Queue(catalogue.db, "label:purple").counts() == Counts(1, 0, 0)
    assert Queue(catalogue.db, f"folder:{folder}").counts() == Counts(1, 0, 1)
    assert Queue(catalogue.db, "all").counts().total == 4


def test_a_filter_that_means_nothing_says_which_do():
    with pytest.raises(FilterError, match="pending, approved"):
        parse_filter("label:orange")
    with pytest.raises(FilterError):
        parse_filter("stars")


def test_decide_undo_and_redo_from_the_command_line(capsys, catalogue, photos, tmp_path):
    from core.config.settings import default_person_name
    from tests.core.test_cli import run

    db = str(catalogue.location)
    path = str(tmp_path / "library" / "b" / "sony.jpg")
    code, out, _ = run(capsys, "--db", db, "decide", path, "--reject")
    assert code == 0 and "decision pending -> rejected" in out
    code, out, _ = run(capsys, "--db", db, "decide", path, "--label", "green")
    assert code == 0 and "labels no labels -> green" in out
    assert (_photo(photos["b/sony.jpg"]).decision, _photo(photos["b/sony.jpg"]).labels) == (
        "rejected", 4
    )  # fmt: skip
    said = run(capsys, "--db", db, "undo")[1]
    assert said.endswith(f"green -> no labels (undo) by {default_person_name()}\n"), said
    assert run(capsys, "--db", db, "undo")[0] == 0
    code, out, _ = run(capsys, "--db", db, "undo")
    assert code == 1 and "nothing to undo" in out
    assert "(redo)" in run(capsys, "--db", db, "redo")[1]
    assert _photo(photos["b/sony.jpg"]).decision == "rejected"
    code, _, err = run(capsys, "--db", db, "decide", str(tmp_path / "nowhere.jpg"), "--approve")
    assert code == 2 and "not in the catalogue" in err


def _shot(path: Path, wall: str, offset: str | None, colour: str) -> Path:
    """A real JPEG with DateTimeOriginal ``wall`` ("2024:06:01 14:00:00") and, when given, the
    OffsetTimeOriginal the camera recorded."""
    import io

    from PIL import Image

    exif = Image.Exif()
    ifd = exif.get_ifd(0x8769)
    ifd[0x9003] = wall
    if offset is not None:
        ifd[0x9011] = offset
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, "JPEG", exif=exif)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return path


@pytest.mark.parametrize("offset", ["+02:00", "-05:00", "+05:30", "+00:00"])
def test_the_queue_follows_the_cameras_wall_clock_across_two_bodies(catalogue, tmp_path, offset):
    """A two-body wedding: one body records its UTC offset, the other does not. Sorted by the
    instant in UTC they would be hours apart; the photographer wants them as shot, by the
    camera's clock, and within one second by the camera's sequence (the file name)."""
    library = tmp_path / "wedding"
    shots = [  # (name, wall clock, offset): in the order they were shot
        ("A/A_0001.JPG", "2024:06:01 14:00:00", offset),
        ("B/B_0001.JPG", "2024:06:01 14:00:30", None),
        ("A/A_0002.JPG", "2024:06:01 14:01:00", offset),
        ("B/B_0002.JPG", "2024:06:01 14:01:30", None),
        ("A/A_0009.JPG", "2024:06:01 14:02:00", offset),  # one second, a burst of two bodies:
        ("B/B_0010.JPG", "2024:06:01 14:02:00", None),  # the file names decide
        ("B/B_0011.JPG", "2024:06:01 14:02:00", None),
        ("A/A_0010.JPG", "2024:06:01 14:03:00", offset),
    ]
    colours = ["red", "green", "blue", "white", "black", "yellow", "purple", "orange"]
    for (name, wall, zone), colour in zip(shots, colours, strict=True):
        _shot(library / name, wall, zone, colour)
    scan(catalogue, library, workers=1)
    media = MediaSync(catalogue.db, MediaSettings(preview_cache=tmp_path / "previews"))
    media.follow_file_events()
    media.run_until_idle()
    names = dict(
        catalogue.db.execute_sql("SELECT photo_id, rel_path FROM file WHERE role = 'original'")
    )
    assert len(names) == len(shots)
    order = [names[photo_id] for photo_id in Queue(catalogue.db, "all").photo_ids]
    assert order == [name for name, _, _ in shots]


def test_undo_and_redo_take_back_the_sessions_own_decisions_first(catalogue, photos):
    """Two sessions of one person on one catalogue (the app, and a ``decide`` or a second
    app): each undoes its own decisions first, newest first, then the person's others; the
    log names the session of each."""
    a, b, c = photos["a/kodak.jpg"], photos["b/samsung.jpg"], photos["b/sony.jpg"]
    app, other = Triage(catalogue.db), Triage(catalogue.db, "cli")
    assert app.session != other.session
    app.decide(a, "approved")
    other.decide(b, "rejected")
    app.rate(c, 2)
    other.rate(c, 5)  # the newest of all, but not the app's
    # Its newest is the 2 ★ on c, which the other session has made 5 ★ since: taking it back
    # would write 0 over the other's 5. It is taken back in the log, c keeps the newer 5 ★,
    # and the undo says whose it is.
    kept = app.undo()
    assert (kept.photo_id, kept.kept_by, kept.skipped) == (c, "another session", None)
    assert _photo(c).rating == 5
    assert app.undo().photo_id == a and _photo(a).decision == "pending"
    assert _photo(b).decision == "rejected"
    assert app.redo().photo_id == a and _photo(a).decision == "approved"  # its own undone
    assert app.undo().photo_id == a
    # The person's others now, newest first: the 5 ★ taken back, c shows what it had before
    # both (the app's 2 ★ was taken back before).
    assert app.undo().photo_id == c and _photo(c).rating == 0
    assert app.undo().photo_id == b and _photo(b).decision == "pending"
    sessions = {row.source: row.session for row in Decision.select() if row.source in FRESH}
    assert sessions == {"key": app.session, "cli": other.session}


def test_what_an_empty_queue_says_while_the_engine_fills_the_catalogue(catalogue, tmp_path):
    """Files recorded by a scan and not yet described: the engine is describing them; while
    it scans, it is indexing; with no engine, an empty queue means what it says."""
    from core.engine.component import ComponentState
    from core.store.photos import index_progress
    from core.triage.indexing import index_activity

    for number in range(3):
        _shot(tmp_path / "card" / f"P_{number}.JPG", f"2024:08:01 20:00:0{number}", None, "red")
    idle = {name: ComponentState("idle") for name in ("watcher", "reconciler", "media")}
    starting = {name: ComponentState("off") for name in idle}
    no_engine = {name: ComponentState("off", error="engine off") for name in idle}
    assert index_activity(starting, index_progress(catalogue.db))[0] == "starting the engine…"
    root_for(tmp_path / "card")  # added: the engine is up, its first scan not begun yet
    assert index_activity(idle, index_progress(catalogue.db))[0] == (
        "indexing: 0 files found so far"
    )
    scan(catalogue, tmp_path / "card", workers=1)
    progress = index_progress(catalogue.db)
    assert (progress.files, progress.described, progress.photos) == (3, 0, 0)
    indexing = {**idle, "reconciler": ComponentState("running", "scanning /card")}
    assert index_activity(indexing, progress)[0] == "indexing: 3 files found so far"
    assert index_activity(idle, progress)[0] == "describing 3 files: 0 done"
    assert index_activity(no_engine, progress) is None
    media = MediaSync(catalogue.db, MediaSettings(preview_cache=tmp_path / "previews"))
    media.follow_file_events()
    media.run_until_idle()
    progress = index_progress(catalogue.db)
    assert (progress.files, progress.described, progress.photos) == (3, 3, 3)
    assert index_activity(idle, progress) is None  # all done: nothing to say
    busy = {**idle, "media": ComponentState("running")}
    assert index_activity(busy, progress)[0] == f"previews: {progress.previews} / 3 photos"


def test_photos_that_arrive_join_at_their_place_in_time_after_the_one_on_screen(catalogue, photos):
    """Arrivals (here: photos given the red label, which the queue shows) taken after the photo
    on screen go to their place in time; earlier ones to the end: nothing before it moves."""
    triage, red = Triage(catalogue.db), 1
    names = {pid: name for name, pid in photos.items()}
    queue = Queue(catalogue.db, "label:red")
    assert queue.photo_ids == []
    for name in ("b/samsung.jpg", "a/kodak.jpg"):  # 2011, 1999
        triage.toggle_label(photos[name], red)
    assert len(queue.add_arrivals(0)) == 2  # into an empty queue: in time order
    assert [names[p] for p in queue.photo_ids] == ["a/kodak.jpg", "b/samsung.jpg"]
    for name in ("b/sony.jpg", "a/coolpix.jpg"):  # 2023, 2008: after 1999, on screen
        triage.toggle_label(photos[name], red)
    queue.add_arrivals(0)
    assert [names[p] for p in queue.photo_ids] == [
        "a/kodak.jpg", "a/coolpix.jpg", "b/samsung.jpg", "b/sony.jpg"
    ]  # fmt: skip
    later = Queue(catalogue.db, "label:red")
    for name in ("a/kodak.jpg", "b/samsung.jpg"):
        triage.toggle_label(photos[name], red)  # off: they leave the set...
    later.refresh()
    assert [names[p] for p in later.photo_ids] == ["a/coolpix.jpg", "b/sony.jpg"]
    for name in ("a/kodak.jpg", "b/samsung.jpg"):
        triage.toggle_label(photos[name], red)  # ...and come back, earlier than 2023 on screen
    later.add_arrivals(1)
    assert [names[p] for p in later.photo_ids] == [
        "a/coolpix.jpg", "b/sony.jpg", "a/kodak.jpg", "b/samsung.jpg"
    ]  # fmt: skip
