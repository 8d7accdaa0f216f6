"""Inbox ingest on real files: dated folders from EXIF (with and without offsets) or the file
time, RAW + JPEG + sidecar kept together, duplicates quarantined, a card ingested twice, name
collisions, files still arriving, moves across file systems, and a crash at every step."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import blake3
import pytest
from PIL import Image

from core.config import load_settings
from core.ingest import move as moves
from core.ingest.move import TEMPORARY_PREFIX
from core.ingest.run import recover_moves, run_ingest
from core.scan.reconcile import reconcile_roots
from core.store import open_catalogue, queries
from core.store.models import Event, FileRecord, IngestMove, Root
from tests.helpers import REPO
from tests.postgres_cluster import BOTH_BACKENDS, catalogue_rows

CAMERA = REPO / "tests" / "fixtures" / "camera"
SONY_ARW = CAMERA / "bad_sony_a7iii_header_only.ARW"  # DateTimeOriginal 2024:09:14 +02:00
SONY_JPG = CAMERA / "sony_slt-a58_small.jpg"  # 2023:10:28, no offset
KODAK = CAMERA / "kodak_dc240_1999.jpg"  # 1999:05:25
NO_DATE = CAMERA / "orientation5_transpose.jpg"  # EXIF without a date


# Every test here that opens the catalogue runs on SQLite and on a PostgreSQL server.
pytestmark = BOTH_BACKENDS


class Setup:
    def __init__(self, tmp_path: Path, catalogue: Path | str | None = None, **ingest) -> None:
        self.tmp = tmp_path
        self.inbox = tmp_path / "inbox"
        self.originals = tmp_path / "Originals"
        self.inbox.mkdir(exist_ok=True)
        values = {
            "catalogue": str(catalogue or tmp_path / "catalogue.db"),
            "ingest.destination": str(self.originals),
            "ingest.settle_seconds": 0.0,
        }
        values.update({f"ingest.{key}": value for key, value in ingest.items()})  # fmt: skip
        self.settings = load_settings(None, values)
        self.catalogue = open_catalogue(self.settings.catalogue)
        self.inbox_root, _ = queries.add_root(str(self.inbox), kind="inbox")

    def card(self, files: dict[str, Path | bytes], folder: str = "DCIM/100CANON") -> None:
        """Files copied into the inbox as a card reader would."""
        target = self.inbox / folder
        target.mkdir(parents=True, exist_ok=True)
        for name, source in files.items():
            data = source if isinstance(source, bytes) else source.read_bytes()
            (target / name).write_bytes(data)
            old = time.time() - 60  # written a minute ago: settled
            os.utime(target / name, (old, old))

    def scan(self) -> None:
        roots = list(Root.select().order_by(Root.path))
        reconcile_roots(self.catalogue, roots, self.settings.scan, kind="manual")

    def ingest(self, **kwargs):
        self.scan()
        return run_ingest(self.catalogue.db, self.settings, **kwargs)

    def library(self) -> dict[str, str]:
        """rel path under Originals -> blake3, for every file there."""
        found = {}
        for path in sorted(self.originals.rglob("*")):
            if path.is_file():
                found[str(path.relative_to(self.originals))] = _b3(path)
        return found

    def inbox_files(self) -> list[str]:
        return sorted(str(p.relative_to(self.inbox)) for p in self.inbox.rglob("*") if p.is_file())

    def close(self) -> None:
        self.catalogue.close()


@pytest.fixture
def setup(tmp_path, catalogue_location):
    made = Setup(tmp_path, catalogue_location)
    yield made
    made.close()


def _b3(path: Path) -> str:
    return blake3.blake3(path.read_bytes()).hexdigest()


def jpeg_taken(when: str | None, offset: str | None = None, colour=(200, 100, 50)) -> bytes:
    """A real JPEG whose EXIF says when it was taken (and the camera)."""
    import io

    image = Image.new("RGB", (64, 48), colour)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "Canon EOS R5"
    if when is not None:
        ifd = exif.get_ifd(0x8769)
        ifd[0x9003] = when
        if offset:
            ifd[0x9011] = offset
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def events(kind: str) -> list[tuple[str, dict]]:
    return [
        (e.path, json.loads(e.payload or "{}"))
        for e in Event.select().where(Event.kind == kind).order_by(Event.id)
    ]


# --- dates ---------------------------------------------------------------------------------


def test_the_folder_is_the_cameras_own_day_with_or_without_an_offset(setup):
    setup.card({
        "IMG_0001.ARW": SONY_ARW,  # 2024-09-14 13:54 +02:00
        "DSC00002.JPG": SONY_JPG,  # 2023-10-28, no offset
        # 23:30 in New York on 1 June is 2 June in UTC: the photographer's day is 1 June.
        "IMG_0003.JPG": jpeg_taken("2024:06:01 23:30:00", "-05:00"),
    })  # fmt: skip
    report = setup.ingest()
    assert report.ingested == 3 and report.failed == 0
    assert set(setup.library()) == {
        "2024/2024-09-14/IMG_0001.ARW",
        "2023/2023-10-28/DSC00002.JPG",
        "2024/2024-06-01/IMG_0003.JPG",
    }
    sources = {path: payload["date_source"] for path, payload in events("ingested")}
    assert sources["2024/2024-09-14/IMG_0001.ARW"] == "DateTimeOriginal +02:00"
    assert sources["2023/2023-10-28/DSC00002.JPG"] == "DateTimeOriginal"
    assert sources["2024/2024-06-01/IMG_0003.JPG"] == "DateTimeOriginal -05:00"
    assert setup.inbox_files() == []


def test_without_an_exif_date_the_file_time_is_used_and_said(setup):
    setup.card({"scan.jpg": NO_DATE})
    when = time.mktime((2021, 3, 4, 12, 0, 0, 0, 0, -1))
    os.utime(setup.inbox / "DCIM/100CANON/scan.jpg", (when, when))
    setup.ingest()
    assert list(setup.library()) == ["2021/2021-03-04/scan.jpg"]
    ((_, payload),) = events("ingested")
    assert payload["date_source"].startswith("file time (")
    assert "no capture date" in payload["date_source"]


def test_a_date_before_1990_or_in_the_future_goes_to_undated_and_says_why(setup):
    setup.card({
        "OLD.JPG": jpeg_taken("1985:01:01 10:00:00"),
        "NEXT.JPG": jpeg_taken("2099:01:01 10:00:00", colour=(1, 2, 3)),
    })  # fmt: skip
    report = setup.ingest()
    assert report.undated == 2 and report.ingested == 0
    assert set(setup.library()) == {"undated/OLD.JPG", "undated/NEXT.JPG"}
    reasons = {path: payload["date_source"] for path, payload in events("undated")}
    assert "before 1990" in reasons["undated/OLD.JPG"]
    assert "in the future" in reasons["undated/NEXT.JPG"]


def test_folder_and_name_templates(tmp_path, catalogue_location):
    setup = Setup(
        tmp_path,
        catalogue_location,
        folders="{camera}/{year}-{month}",
        names="{year}{month}{day}_{stem}",
    )
    try:
        setup.card({"IMG_0007.JPG": jpeg_taken("2024:06:01 08:00:00")})
        setup.ingest()
        assert list(setup.library()) == ["Canon EOS R5/2024-06/20240601_IMG_0007.JPG"]
    finally:
        setup.close()


# --- batches -------------------------------------------------------------------------------


def test_a_raw_its_jpeg_and_its_sidecar_move_together_dated_by_the_raw(setup):
    setup.card({
        "IMG_0001.ARW": SONY_ARW,  # 2024-09-14
        "IMG_0001.JPG": SONY_JPG,  # its twin (its own EXIF says 2023: the RAW decides)
        "IMG_0001.ARW.xmp": b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>",
    })  # fmt: skip
    setup.ingest()
    assert set(setup.library()) == {
        "2024/2024-09-14/IMG_0001.ARW",
        "2024/2024-09-14/IMG_0001.JPG",
        "2024/2024-09-14/IMG_0001.ARW.xmp",
    }


def test_a_file_still_arriving_is_not_ingested_nor_its_batch(tmp_path, catalogue_location):
    setup = Setup(tmp_path, catalogue_location, settle_seconds=5.0)
    try:
        setup.card({"IMG_0001.JPG": SONY_JPG, "IMG_0002.JPG": KODAK})
        fresh = setup.inbox / "DCIM/100CANON/IMG_0002.JPG"
        os.utime(fresh)  # written just now: not settled
        report = setup.ingest()
        assert report.ingested == 1 and report.waiting == 1
        assert setup.inbox_files() == ["DCIM/100CANON/IMG_0002.JPG"]
        # A RAW still being copied (not catalogued yet) holds back its JPEG twin.
        setup.card({"IMG_0003.JPG": jpeg_taken("2024:01:01 10:00:00")})
        setup.scan()
        (setup.inbox / "DCIM/100CANON/IMG_0003.ARW").write_bytes(SONY_ARW.read_bytes()[:1000])
        report = run_ingest(setup.catalogue.db, setup.settings)
        assert "DCIM/100CANON/IMG_0003.JPG" in setup.inbox_files()
        assert report.ingested == 0
    finally:
        setup.close()


@pytest.mark.parametrize("ahead_days", [1, 400])
def test_a_file_whose_time_is_in_the_future_is_filed_once_settled(setup, ahead_days):
    """A camera whose clock is ahead, its card copied keeping the times: filed, not held
    until that day comes."""
    setup.card({"IMG_0009.JPG": jpeg_taken("2024:06:01 08:00:00")})
    future = time.time() + ahead_days * 86_400
    os.utime(setup.inbox / "DCIM/100CANON/IMG_0009.JPG", (future, future))
    report = setup.ingest()
    assert report.ingested == 1 and list(setup.library()) == ["2024/2024-06-01/IMG_0009.JPG"]


def test_temporary_names_are_never_touched(setup):
    setup.card({
        "IMG_0001.CR3.part": SONY_ARW,  # a browser or rsync still writing
        "IMG_0002.JPG.tmp": SONY_JPG,
        "IMG_0003.JPG.~tmp~": KODAK,
        ".syncthing.IMG_0004.JPG.tmp": KODAK,
        "IMG_0005.JPG": jpeg_taken("2024:06:01 10:00:00"),
    })  # fmt: skip
    report = setup.ingest()
    assert report.ingested == 1 and list(setup.library()) == ["2024/2024-06-01/IMG_0005.JPG"]
    assert setup.inbox_files() == [
        "DCIM/100CANON/.syncthing.IMG_0004.JPG.tmp",
        "DCIM/100CANON/IMG_0001.CR3.part",
        "DCIM/100CANON/IMG_0002.JPG.tmp",
        "DCIM/100CANON/IMG_0003.JPG.~tmp~",
    ]


# --- duplicates ----------------------------------------------------------------------------


def test_a_card_ingested_twice_ingests_nothing_the_second_time(setup):
    card = {"IMG_0001.ARW": SONY_ARW, "IMG_0001.ARW.xmp": b"<x/>", "DSC00002.JPG": SONY_JPG}
    setup.card(card)
    first = setup.ingest()
    assert first.ingested == 3
    library = setup.library()
    setup.card(card, folder="DCIM/100CANON-again")
    second = setup.ingest()
    assert second.ingested == 0 and second.duplicates == 3
    assert setup.library() == library  # each photo exactly once
    assert setup.inbox_files() == [
        ".duplicates/DCIM/100CANON-again/DSC00002.JPG",
        ".duplicates/DCIM/100CANON-again/IMG_0001.ARW",
        ".duplicates/DCIM/100CANON-again/IMG_0001.ARW.xmp",
    ]
    found = dict(events("duplicate"))
    assert found["DCIM/100CANON-again/DSC00002.JPG"]["of"] == str(
        setup.originals / "2023/2023-10-28/DSC00002.JPG"
    )
    # The quarantined files are out of the catalogue; the library's records are untouched.
    records = {f.rel_path for f in FileRecord.select()}
    assert records == {f"{path}" for path in library}


def test_two_copies_in_one_inbox_file_one_and_quarantine_the_other(setup):
    setup.card({"A.JPG": KODAK, "B.JPG": KODAK})
    report = setup.ingest()
    assert report.ingested == 1 and report.duplicates == 1
    assert list(setup.library()) == ["1999/1999-05-25/A.JPG"]


def test_duplicates_are_deleted_only_when_the_config_says_so(tmp_path, catalogue_location):
    setup = Setup(tmp_path, catalogue_location, delete_duplicates=True)
    try:
        setup.card({"A.JPG": KODAK})
        setup.ingest()
        setup.card({"A.JPG": KODAK}, folder="again")
        report = setup.ingest()
        assert report.duplicates == 1 and setup.inbox_files() == []
        assert list(setup.library()) == ["1999/1999-05-25/A.JPG"]
    finally:
        setup.close()


def test_a_name_taken_by_other_content_gets_a_suffix_for_the_whole_batch(setup):
    taken = setup.originals / "2024/2024-09-14"
    taken.mkdir(parents=True)
    (taken / "IMG_0001.JPG").write_bytes(KODAK.read_bytes())  # another photo, same name
    setup.card({"IMG_0001.ARW": SONY_ARW, "IMG_0001.JPG": SONY_JPG})
    setup.ingest()
    library = setup.library()
    assert library["2024/2024-09-14/IMG_0001.JPG"] == _b3(KODAK)  # never overwritten
    assert library["2024/2024-09-14/IMG_0001-1.JPG"] == _b3(SONY_JPG)
    assert library["2024/2024-09-14/IMG_0001-1.ARW"] == _b3(SONY_ARW)


# --- the catalogue follows ------------------------------------------------------------------


def test_the_record_moves_with_the_file_and_keeps_its_photo_and_hash(setup):
    setup.card({"DSC00002.JPG": SONY_JPG})
    setup.scan()
    record = FileRecord.get(FileRecord.rel_path == "DCIM/100CANON/DSC00002.JPG")
    run_ingest(setup.catalogue.db, setup.settings)
    moved = FileRecord.get_by_id(record.id)
    assert moved.root.path == str(setup.originals)
    assert moved.rel_path == "2023/2023-10-28/DSC00002.JPG"
    assert moved.blake3 == record.blake3 and moved.mtime_ns == record.mtime_ns
    setup.scan()  # the reconciler agrees: nothing added, nothing removed
    assert FileRecord.select().count() == 1
    assert IngestMove.select().where(IngestMove.state != "done").count() == 0


def test_a_dry_run_moves_nothing(setup):
    setup.card({"DSC00002.JPG": SONY_JPG})
    report = setup.ingest(dry_run=True)
    assert report.ingested == 1 and report.lines[0]["done"] == "would be ingested"
    assert setup.library() == {} and setup.inbox_files() == ["DCIM/100CANON/DSC00002.JPG"]
    assert IngestMove.select().count() == 0


# --- across file systems -------------------------------------------------------------------


def _other_filesystem(tmp_path: Path) -> Path | None:
    shm = Path("/dev/shm")
    usable = shm.is_dir() and os.access(shm, os.W_OK)
    if usable and os.stat(shm).st_dev != os.stat(tmp_path).st_dev:
        return shm
    return None


def test_a_move_across_file_systems_is_a_verified_copy(tmp_path, catalogue_location):
    other = _other_filesystem(tmp_path)
    if other is None:
        pytest.skip("no second file system here (the forced-copy test covers the copy path)")
    inbox_home = Path(tempfile_dir(other))
    try:
        setup = Setup(inbox_home, catalogue_location)
        setup.settings = replace(
            setup.settings, ingest=replace(setup.settings.ingest, destination=tmp_path / "O")
        )
        setup.originals = tmp_path / "O"
        setup.card({"IMG_0001.ARW": SONY_ARW, "DSC00002.JPG": SONY_JPG})
        mtime = (setup.inbox / "DCIM/100CANON/IMG_0001.ARW").stat().st_mtime_ns
        report = setup.ingest()
        assert report.ingested == 2 and report.failed == 0
        assert setup.library() == {
            "2024/2024-09-14/IMG_0001.ARW": _b3(SONY_ARW),
            "2023/2023-10-28/DSC00002.JPG": _b3(SONY_JPG),
        }
        assert (setup.originals / "2024/2024-09-14/IMG_0001.ARW").stat().st_mtime_ns == mtime
        assert {m.method for m in IngestMove.select()} == {"copy"}
        assert setup.inbox_files() == []
        setup.close()
    finally:
        shutil.rmtree(inbox_home, ignore_errors=True)


def tempfile_dir(base: Path) -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="shootwatch-test-", dir=base)


def test_a_copy_that_does_not_match_its_hash_leaves_the_original(setup, monkeypatch):
    monkeypatch.setattr(moves, "_same_device", lambda *args: False)
    setup.card({"DSC00002.JPG": SONY_JPG})
    setup.scan()
    source = setup.inbox / "DCIM/100CANON/DSC00002.JPG"
    data = bytearray(source.read_bytes())
    data[-10] ^= 0xFF  # changed after it was catalogued, same size and time
    stat = source.stat()
    source.write_bytes(bytes(data))
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    report = run_ingest(setup.catalogue.db, setup.settings)
    assert report.failed == 1 and "does not match" in report.lines[0]["why"]
    assert source.read_bytes() == bytes(data)  # the original stays
    assert setup.library() == {}  # and no partial copy remains
    assert events("ingest_failed")


# --- crashes ---------------------------------------------------------------------------------

# Each step of a move, named by the function of core.ingest.move (or .run) after (or before)
# which the process is killed, and the call that is cut.
# The pass moves a chunk of files at a time (2 here): intents, files placed, destination
# folders synced, sources removed, source folders synced, the journal closed.
COMMON_POINTS = [
    ("run._journal", "after", 1),  # intents written, nothing moved
    ("move.sync_folder", "before", 1),  # files under their new names, sources still there
    ("move.remove_source", "after", 2),  # some sources removed
    ("run._finish_chunk", "before", 1),  # every source removed, the journal not closed
    ("run._journal", "after", 2),  # the first chunk done, the second one's intents written
    ("run._finish_chunk", "before", 2),  # the second chunk moved, its journal not closed
]
CRASH_POINTS = [
    *(("rename", *point) for point in COMMON_POINTS),
    ("rename", "move._link_without_replacing", "after", 2),  # one file placed, then another
    *(("copy", *point) for point in COMMON_POINTS),
    ("copy", "move._copy_bytes", "after", 2),  # a copy written, not flushed or checked
    ("copy", "move._hash_file", "after", 1),  # a copy checked, not yet under its name
]


CRASH_SCRIPT = """
import os, signal, sys, threading
sys.path.insert(0, {repo!r})
from core.config import load_settings
from core.store import open_catalogue
from core.ingest import move, run
target, when, nth, copy = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "copy"
module = {{"move": move, "run": run}}[target.split(".")[0]]
name = target.split(".")[1]
original = getattr(module, name)
calls = [0]
counting = threading.Lock()  # files are placed two at a time, in threads
def cut(*args, **kwargs):
    with counting:
        calls[0] += 1
        mine = calls[0]
    if mine == nth and when == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    result = original(*args, **kwargs)
    if mine == nth and when == "after":
        os.kill(os.getpid(), signal.SIGKILL)
    return result
setattr(module, name, cut)
for imported in ("place", "remove_source", "sync_folders"):  # run's own names for them
    setattr(run, imported, getattr(move, imported))
run.CHUNK = 2
if copy:
    move._same_device = lambda *args: False
settings = load_settings(None, {{"catalogue": sys.argv[5], "ingest.destination": sys.argv[6],
                                 "ingest.settle_seconds": 0.0}})
with open_catalogue(settings.catalogue) as catalogue:
    report = run.run_ingest(catalogue.db, settings)
print("finished without being cut:", report)
"""


@pytest.mark.parametrize(("method", "point", "when", "nth"), CRASH_POINTS)
def test_a_crash_at_any_step_leaves_each_photo_exactly_once(
    tmp_path, catalogue_location, method, point, when, nth
):
    setup = Setup(tmp_path, catalogue_location)
    card = {
        "IMG_0001.ARW": SONY_ARW,
        "IMG_0001.JPG": SONY_JPG,
        "IMG_0001.ARW.xmp": b"<x/>",
        "IMG_0002.JPG": KODAK,
        "IMG_0003.JPG": jpeg_taken("2024:06:01 23:30:00", "-05:00"),
    }
    setup.card(card)  # fmt: skip
    setup.scan()
    setup.catalogue.close()
    script = CRASH_SCRIPT.format(repo=str(REPO))
    cut = subprocess.run(
        [sys.executable, "-c", script, point, when, str(nth), method,
         str(setup.settings.catalogue), str(setup.originals)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert cut.returncode == -signal.SIGKILL, cut.stdout + cut.stderr
    # The next start: open moves finished or undone, then the inbox filed again.
    setup.catalogue = open_catalogue(setup.settings.catalogue)
    recover_moves(setup.catalogue.db)
    report = setup.ingest()
    assert report.failed == 0
    library = setup.library()
    contents = sorted(library.values())
    expected = sorted(
        _b3(p) if isinstance(p, Path) else blake3.blake3(p).hexdigest() for p in card.values()
    )
    assert contents == expected, library  # every photo exactly once, none lost
    assert setup.inbox_files() == []
    leftovers = [p for p in tmp_path.rglob(f"{TEMPORARY_PREFIX}*")]
    assert leftovers == []  # nothing half-copied
    assert IngestMove.select().where(IngestMove.state == "intent").count() == 0
    records = {(f.root.path, f.rel_path) for f in FileRecord.select()}
    assert records == {(str(setup.originals), rel) for rel in library}
    setup.close()


# --- the command ---------------------------------------------------------------------------


def test_the_ingest_command(capsys, tmp_path, catalogue_location):
    from tests.core.test_cli import run

    config = tmp_path / "shootwatch.toml"
    originals = tmp_path / "Originals"
    config.write_text(
        f'catalogue = "{catalogue_location}"\n'
        f'[ingest]\ndestination = "{originals}"\nsettle_seconds = 0\n'
    )
    cli = ("--config", str(config))
    code, _, err = run(capsys, *cli, "ingest")
    assert code == 2 and "shootwatch add PATH --kind inbox" in err
    inbox = tmp_path / "inbox"
    (inbox / "card").mkdir(parents=True)
    shutil.copyfile(SONY_JPG, inbox / "card" / "DSC00002.JPG")
    shutil.copyfile(SONY_JPG, inbox / "card" / "copy of DSC00002.JPG")
    assert run(capsys, *cli, "add", str(inbox), "--kind", "inbox")[0] == 0
    code, out, _ = run(capsys, *cli, "ingest", "--dry-run")
    assert code == 0 and "would be ingested" in out and "would be duplicate" in out
    assert "1 would be filed (0 undated), 1 duplicates" in out
    assert not originals.exists() or not any(originals.rglob("*.JPG"))
    code, out, _ = run(capsys, *cli, "ingest", "--json")
    report = json.loads(out)
    assert code == 0 and report["ingested"] == 1 and report["duplicates"] == 1
    assert (originals / "2023" / "2023-10-28").is_dir()
    code, out, _ = run(capsys, *cli, "ingest")
    assert code == 0 and out.startswith("0 filed")
    code, out, _ = run(capsys, *cli, "events", "--kind", "duplicate", "--json")
    assert "DSC00002.JPG" in out


def test_an_inbox_named_in_the_settings_becomes_an_inbox_root(capsys, tmp_path, catalogue_location):
    from tests.core.test_cli import run

    inbox = tmp_path / "Inbox"
    config = tmp_path / "shootwatch.toml"
    config.write_text(
        f'catalogue = "{catalogue_location}"\n[ingest]\n'
        f'destination = "{tmp_path / "Originals"}"\ninboxes = ["{inbox}"]\nsettle_seconds = 0\n'
    )
    (inbox / "card").mkdir(parents=True)
    shutil.copyfile(KODAK, inbox / "card" / "DC240.JPG")
    code, out, _ = run(capsys, "--config", str(config), "ingest")
    assert code == 0 and out.startswith("ingested: ")
    assert (tmp_path / "Originals" / "1999" / "1999-05-25" / "DC240.JPG").is_file()
    code, out, _ = run(capsys, "--config", str(config), "roots", "--json")
    kinds = {Path(r["path"]).name: r["kind"] for r in json.loads(out)}
    assert kinds == {"Inbox": "inbox", "Originals": "library"}


# --- a stop in the middle of a pass -----------------------------------------------------------

# Seconds after the first move is written down until the engine is told to stop (SIGTERM, as a
# service manager stops it): at once, within a chunk, a few chunks in.
STOP_AFTER = [0.0, 0.05, 0.2, 0.6]


@pytest.mark.parametrize("across", [False, True], ids=["rename", "copy"])
@pytest.mark.parametrize("stop_after", STOP_AFTER)
def test_a_stop_in_the_middle_of_an_ingest_leaves_no_move_open(
    tmp_path, catalogue_location, stop_after, across
):
    """A clean stop finishes or undoes the moves it started before it exits: the journal is for
    crashes, not for a stop the engine was told about."""
    from tests.faults.crashes import environment, processes_outliving, stop_engine

    base = tmp_path
    if across:
        other = _other_filesystem(tmp_path)
        if other is None:
            pytest.skip("no second file system here")
        base = Path(tempfile_dir(other))
    inbox, originals = base / "inbox", tmp_path / "Originals"
    contents = set()
    for n in range(1200):
        data = jpeg_taken("2024:06:01 12:00:00", colour=(n % 256, n // 256, 7)) + n.to_bytes(4)
        path = inbox / f"DCIM/{100 + n // 300}CANON/IMG_{n:04d}.JPG"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (time.time() - 60,) * 2)
        contents.add(blake3.blake3(data).hexdigest())
    catalogue = catalogue_location
    config = tmp_path / "shootwatch.toml"
    home = tmp_path / "home"
    home.mkdir()
    config.write_text(
        f'catalogue = "{catalogue}"\n'
        f'[ingest]\ndestination = "{originals}"\ninboxes = ["{inbox}"]\nsettle_seconds = 0\n'
        f'[darktable]\nlibrary = "{tmp_path / "no-darktable" / "library.db"}"\n'
        f'[media]\npreview_cache = "{tmp_path / "previews"}"\n'
    )
    try:
        with open(tmp_path / "engine.log", "wb") as log:
            engine = subprocess.Popen(
                [sys.executable, "-m", "core.cli", "--config", str(config), "run"],
                env=environment(home), stdout=log, stderr=log, cwd=home,
            )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while _moves_written(catalogue) == 0 and time.monotonic() < deadline:
                assert engine.poll() is None, (tmp_path / "engine.log").read_text()
                time.sleep(0.005)
            time.sleep(stop_after)
        finally:
            stop_engine(engine)
        assert engine.returncode == 0, (tmp_path / "engine.log").read_text()
        assert processes_outliving(home) == {}
        open_moves = catalogue_rows(
            catalogue, "SELECT count(*) FROM ingest_move WHERE state = 'intent'"
        )
        assert open_moves == [(0,)]
        library = [_b3(p) for p in originals.rglob("*.JPG")] if originals.exists() else []
        left = [_b3(p) for p in inbox.rglob("*.JPG")]
        assert len(library) == len(set(library))  # nothing filed twice
        assert set(library).isdisjoint(left)  # nothing both filed and still in the inbox
        assert set(library) | set(left) == contents  # nothing lost
        assert list(base.rglob(f"{TEMPORARY_PREFIX}*")) == []
    finally:
        if across:
            shutil.rmtree(base, ignore_errors=True)


def _moves_written(catalogue: Path | str) -> int:
    rows = catalogue_rows(catalogue, "SELECT count(*) FROM ingest_move")
    return rows[0][0] if rows else 0  # none while the catalogue is not made
