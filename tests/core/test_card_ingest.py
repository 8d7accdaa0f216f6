"""Ingest from a card, on a real card: an ext4 file-system image with a label and a UUID (these
machines' kernel has no FAT), loop-mounted read-only, holding real camera files in a DCIM
layout, copied to two destinations on two tmpfs mounts. The command runs as a whole process
(`shootwatch ingest --from CARD`, `shootwatch card CARD`); copies damaged on their way, a card
pulled out mid-copy, the same card twice, a re-formatted card and kill -9 at random points.
FAT's own traits (2 s times, names without case) are covered without a FAT file system."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import blake3
import pytest

from core.config import load_settings
from core.ingest.card_pass import CardProgress, DestinationProgress, card_verdict, ingest_card
from core.ingest.verified_copy import TEMPORARY_PREFIX
from core.store import open_catalogue
from tests.card_image import (
    SHOT,
    Card,
    Destinations,
    Mounts,
    assert_each_card_file_once_in_both,
    camera_files,
    mounts_undone_after,
    shootwatch,
    verified,
)
from tests.helpers import REPO, REPO_CAMERA, distinct_copy, wait_until
from tests.postgres_cluster import BOTH_BACKENDS, catalogue_rows

# Every test here that opens the catalogue runs on SQLite and on a PostgreSQL server.
pytestmark = BOTH_BACKENDS


@pytest.fixture
def mounts() -> Iterator[Mounts]:
    yield from mounts_undone_after()


def test_a_card_is_copied_into_both_destinations_each_copy_verified(
    tmp_path, catalogue_location, mounts
):
    card = Card(tmp_path, mounts).format(camera_files())
    places = Destinations(tmp_path, mounts, catalogue=catalogue_location)
    done = shootwatch(places.config, "ingest", "--from", str(card.path), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["copied"] == len(card.files()) == 9 and report["failed"] == 0
    assert report["safe_to_format"] is True and report["problems"] == []
    assert_each_card_file_once_in_both(card, places)
    # Dated from each photo's EXIF; a RAW, its JPEG and its sidecar keep one name.
    copies = places.copies(places.primary)
    together = "2023/2023-10-28/IMG_0001"  # the CRW's day from its JPEG twin's EXIF
    assert {
        f"{together}.CRW",
        f"{together}.JPG",
        f"{together}.CRW.xmp",
        "1999/1999-05-25/IMG_0003.JPG",
        "2013/2013-08-27/IMG_0001.JPG",
    } <= set(copies)
    # The camera's time is kept, and the copies are readable by others (never 0600).
    copy = places.primary / "1999/1999-05-25/IMG_0003.JPG"
    assert copy.stat().st_mtime_ns == (card.path / "DCIM/100CANON/IMG_0003.JPG").stat().st_mtime_ns
    assert copy.stat().st_mode & 0o044 == 0o044
    said = shootwatch(places.config, "card", str(card.path))
    assert said.returncode == 0 and "safe to format" in said.stdout, said.stdout
    verdict = json.loads(shootwatch(places.config, "card", str(card.path), "--json").stdout)
    assert verdict["uuid"] == card.uuid and verdict["card"] == "EOS_DIGITAL"
    assert verdict["files"] == 9 and verdict["copied"] == 9


def test_each_verified_copy_is_catalogued_with_its_blake3_and_never_hashed_again(
    tmp_path, catalogue_location, mounts
):
    card = Card(tmp_path, mounts).format(camera_files())
    places = Destinations(tmp_path, mounts, catalogue=catalogue_location)
    assert shootwatch(places.config, "ingest", "--from", str(card.path)).returncode == 0
    copies = places.copies(places.primary)
    records = dict(catalogue_rows(places.catalogue,
        "SELECT f.rel_path, f.blake3 FROM file f JOIN root r ON r.id = f.root_id"
        " WHERE r.path = ?", (str(places.primary),)))  # fmt: skip
    arrivals = catalogue_rows(
        places.catalogue,
        "SELECT e.path, r.path FROM event e JOIN root r ON r.id = e.root_id"
        " WHERE e.kind = 'card_copied' ORDER BY e.id",
    )
    # Catalogued as each copy took its name, with the blake3 it read back as: the library
    # knows the shoot at once, with no watcher or scan to find it.
    assert records == copies and len(records) == 9
    assert sorted(path for path, _ in arrivals) == sorted(copies)
    assert {root for _, root in arrivals} == {str(places.primary)}
    # A scan after it finds the copies as they were catalogued: nothing read again.
    scanned = shootwatch(places.config, "scan", "--json")
    assert scanned.returncode == 0, scanned.stderr
    (report,) = json.loads(scanned.stdout)
    assert report["files_scanned"] == 9
    assert (report["files_added"], report["files_updated"], report["files_hashed"]) == (0, 0, 0)


def test_a_scan_that_found_a_name_new_before_the_copy_was_catalogued_keeps_one_record(
    tmp_path, catalogue_location
):
    """A scan surveys a folder, a card's copy takes a name in it and is catalogued, then the
    scan writes what it found: the one record keeps its id (and photo), nothing fails."""
    from core.store import queries
    from core.store.models import FileRecord, Root

    with open_catalogue(catalogue_location) as catalogue:
        root = Root.create(path=str(tmp_path), kind="library", state="online", added_at=0)
        card_row = (root.id, "2024/2024-05-01/IMG_0001.CR3", 100, 7, "b" * 64, 1.0, 1.0, 0,
                    "raw", None, None)  # fmt: skip
        queries.insert_files(catalogue.db, [card_row])
        first = FileRecord.get(FileRecord.rel_path == card_row[1])
        scan_row = (root.id, card_row[1], 100, 7, "b" * 64, 2.0, 2.0, 5, "raw", None, None)
        queries.insert_files(catalogue.db, [scan_row])
        (record,) = FileRecord.select()
        assert record.id == first.id and record.scan_generation == 5 and record.last_seen == 2.0


def test_the_same_card_twice_copies_nothing_the_second_time(tmp_path, catalogue_location, mounts):
    card = Card(tmp_path, mounts).format(camera_files())
    places = Destinations(tmp_path, mounts, catalogue=catalogue_location)
    assert shootwatch(places.config, "ingest", "--from", str(card.path)).returncode == 0
    before = places.copies(places.primary), places.copies(places.backup)
    # In another reader, mounted elsewhere: the same card, by its UUID.
    card.pull_out()
    card.path = tmp_path / "media" / "elsewhere"
    card.plug_in()
    again = json.loads(shootwatch(places.config, "ingest", "--from", str(card.path),
                                  "--json").stdout)  # fmt: skip
    assert again["copied"] == 0 and again["already"] == 9 and again["safe_to_format"] is True
    assert (places.copies(places.primary), places.copies(places.backup)) == before


def test_a_reformatted_card_whose_names_started_over_copies_only_new_content(
    tmp_path, catalogue_location, mounts
):
    first = camera_files()
    card = Card(tmp_path, mounts).format(first)
    places = Destinations(tmp_path, mounts, catalogue=catalogue_location)
    assert shootwatch(places.config, "ingest", "--from", str(card.path)).returncode == 0
    card.pull_out()
    # Formatted in the camera (a new UUID), the old shots copied back under new numbers
    # (as a second body's card would hold them), and one new photo.
    photos = [
        data for rel, data in first.items() if rel.startswith("DCIM/") and ".hidden" not in rel
    ]
    again = {f"DCIM/100EOS5D/IMG_{n:04d}.JPG": data for n, data in enumerate(photos, start=1)}
    new_photo = distinct_copy((REPO_CAMERA / "gopro_hero4_lightroom.jpg").read_bytes(), 1)
    again["DCIM/100EOS5D/IMG_0100.JPG"] = new_photo
    card.format(again)
    report = json.loads(shootwatch(places.config, "ingest", "--from", str(card.path),
                                   "--json").stdout)  # fmt: skip
    assert report["copied"] == 1 and report["in_library"] == len(photos)
    assert report["safe_to_format"] is True
    new_digest = blake3.blake3(new_photo).hexdigest()
    for root in (places.primary, places.backup):
        digests = list(places.copies(root).values())
        assert digests.count(new_digest) == 1
        assert len(digests) == len(set(digests)) == len(photos) + 1  # nothing doubled


@pytest.mark.parametrize("which", ["destination", "backup", "both"])
@pytest.mark.parametrize("times", [1, 2])
def test_a_copy_damaged_on_its_way_to_the_disk_is_caught(
    tmp_path, catalogue_location, mounts, which, times
):
    """Bytes of a copy changed after it is written and flushed, before it is read back (a bad
    cable, a failing drive): read back wrong, made again once; wrong twice, reported and never
    named, and the card is not safe to format."""
    card = Card(tmp_path, mounts).format(camera_files())
    places = Destinations(tmp_path, mounts, catalogue=catalogue_location)
    settings = places.settings()
    attempts: list[Path] = []

    def damage(source: Path, temporaries: list[Path]) -> None:
        if source.name != "IMG_0004.JPG" or len(attempts) >= times:
            return
        attempts.append(source)
        chosen = {"destination": temporaries[:1], "backup": temporaries[1:],
                  "both": temporaries}[which]  # fmt: skip
        for temporary in chosen:
            data = bytearray(temporary.read_bytes())
            data[len(data) // 2] ^= 0x01  # one bit
            temporary.write_bytes(bytes(data))

    with open_catalogue(settings.catalogue) as catalogue:
        report = ingest_card(catalogue.db, settings, card.path, after_write=damage)
        verdict = card_verdict(catalogue.db, settings, card.path)
    for root in (places.primary, places.backup):
        assert not [n for n in places.copies(root) if TEMPORARY_PREFIX in n]
    if times == 1:
        assert report.failed == 0 and report.retried == 1 and verdict.safe
        assert_each_card_file_once_in_both(card, places)
    else:
        assert report.failed == 1 and not verdict.safe
        assert [f for f, _ in verdict.problems] == ["100CANON/IMG_0004.JPG"]
        line = next(entry for entry in report.lines if entry["done"] == "failed")
        assert "read back different" in line["why"]
        for root in (places.primary, places.backup):  # nothing of it under any name
            assert blake3.blake3(card.path.joinpath("DCIM/100CANON/IMG_0004.JPG").read_bytes()
                                 ).hexdigest() not in places.copies(root).values()  # fmt: skip
        done = shootwatch(places.config, "card", str(card.path))
        assert done.returncode == 1 and "NOT safe to format" in done.stdout
        assert "IMG_0004.JPG: not copied yet" in done.stdout


def test_the_verdict_is_safe_only_while_every_copy_is_there_as_verified(
    tmp_path, catalogue_location, mounts
):
    card = Card(tmp_path, mounts).format(camera_files())
    places = Destinations(tmp_path, mounts, catalogue=catalogue_location)
    assert shootwatch(places.config, "ingest", "--from", str(card.path)).returncode == 0
    backup_copy = places.backup / "1999/1999-05-25/IMG_0003.JPG"
    kept = backup_copy.read_bytes()
    backup_copy.unlink()
    gone = shootwatch(places.config, "card", str(card.path))
    assert gone.returncode == 1
    assert f"the backup copy {backup_copy} is gone" in gone.stdout
    # Back, but one bit different, its size and time as they were: only reading shows it.
    damaged = bytearray(kept)
    damaged[100] ^= 0x80
    backup_copy.write_bytes(bytes(damaged))
    stamp = (card.path / "DCIM/100CANON/IMG_0003.JPG").stat().st_mtime_ns
    os.utime(backup_copy, ns=(stamp, stamp))
    assert shootwatch(places.config, "card", str(card.path)).returncode == 0
    reread = shootwatch(places.config, "card", str(card.path), "--reread")
    assert reread.returncode == 1 and "reads back different from the card" in reread.stdout
    backup_copy.write_bytes(kept)
    os.utime(backup_copy, ns=(stamp, stamp))
    assert shootwatch(places.config, "card", str(card.path), "--reread").returncode == 0


def test_a_card_never_ingested_is_not_safe_to_format(tmp_path, catalogue_location, mounts):
    card = Card(tmp_path, mounts).format(camera_files())
    places = Destinations(tmp_path, mounts, catalogue=catalogue_location)
    done = shootwatch(places.config, "card", str(card.path), "--json")
    assert done.returncode == 1
    verdict = json.loads(done.stdout)
    assert verdict["safe_to_format"] is False and len(verdict["problems"]) == 9


@pytest.mark.parametrize("after_files", [1, 4, 7])
def test_a_card_pulled_out_mid_copy_and_put_back_continues(
    tmp_path, catalogue_location, mounts, after_files
):
    card = Card(tmp_path, mounts).format(camera_files())
    places = Destinations(tmp_path, mounts, catalogue=catalogue_location)
    settings = places.settings()
    written: list[Path] = []

    def pull_out_after(source: Path, temporaries: list[Path]) -> None:
        written.append(temporaries[0])
        if len(written) == after_files:
            card.pull_out()

    with open_catalogue(settings.catalogue) as catalogue:
        first = ingest_card(catalogue.db, settings, card.path, after_write=pull_out_after)
    # The copy verified as the card went may be one more than those before it: the next file
    # is read while one is verified, and may have been read whole.
    assert first.copied in (after_files, after_files + 1)
    assert first.failed == 9 - first.copied
    assert all("cannot read" in line["why"] for line in first.lines if line.get("why"))
    assert shootwatch(places.config, "card", str(card.path)).returncode == 2  # not there
    card.plug_in()
    done = json.loads(shootwatch(places.config, "ingest", "--from", str(card.path),
                                 "--json").stdout)  # fmt: skip
    assert done["copied"] == 9 - first.copied and done["already"] == first.copied
    assert done["safe_to_format"] is True
    assert_each_card_file_once_in_both(card, places)


@pytest.mark.parametrize("seed", range(6))
def test_killed_at_a_random_point_of_a_card_ingest_nothing_is_lost_or_doubled(
    tmp_path, catalogue_location, mounts, seed
):
    card = Card(tmp_path, mounts, size_mb=160).format(camera_files(big=24))
    places = Destinations(tmp_path, mounts, catalogue=catalogue_location)
    chance = random.Random(seed)
    # Killed once this many files are verified, and a moment more: inside a copy, a
    # read-back, a naming or a journal write, wherever that moment falls. At least eight
    # files are left then (the next is already written while one is verified, and a 3.5 MB
    # RAW takes a few ms), so the moment never outlasts the ingest.
    verified_before = chance.randint(1, len(card.files()) - 8)
    moment = chance.uniform(0, 0.01)
    process = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "--config", str(places.config), "ingest", "--from",
         str(card.path)], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while verified(places.catalogue) < verified_before and process.poll() is None:
            assert time.monotonic() < deadline, "the ingest never got that far"
            time.sleep(0.002)
        time.sleep(moment)
        assert process.poll() is None, "the ingest ended before it could be killed"
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=30)
    done = shootwatch(places.config, "ingest", "--from", str(card.path), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["safe_to_format"] is True
    assert_each_card_file_once_in_both(card, places)
    states = dict(
        catalogue_rows(places.catalogue, "SELECT state, count(*) FROM card_copy GROUP BY state")
    )
    assert states == {"verified": len(card.files())}  # no intent left open, none failed


CRASH_AT_ARRIVAL = """
import os, sys
from functools import partial
from pathlib import Path
from core.config import load_settings
from core.ingest import card_pass
from core.store import open_catalogue

settings = load_settings(Path(sys.argv[1]))
arrivals = 0

def write(apply):
    global arrivals
    if isinstance(apply, partial) and apply.func is card_pass._arrived:
        arrivals += 1
        if arrivals == int(sys.argv[3]):
            os._exit(9)  # the copy named, its journal entry still open, nothing catalogued
    return apply()

with open_catalogue(settings.catalogue) as catalogue:
    card_pass.ingest_card(catalogue.db, settings, Path(sys.argv[2]), write=write)
"""


@pytest.mark.parametrize("crash_at", [1, 4, 9])
def test_a_copy_named_but_not_yet_catalogued_when_killed_is_recorded_by_the_next_run(
    tmp_path, catalogue_location, mounts, crash_at
):
    card = Card(tmp_path, mounts).format(camera_files())
    places = Destinations(tmp_path, mounts, catalogue=catalogue_location)
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH_AT_ARRIVAL, str(places.config), str(card.path),
         str(crash_at)], cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert crashed.returncode == 9, crashed.stderr
    done = shootwatch(places.config, "ingest", "--from", str(card.path), "--json")
    report = json.loads(done.stdout)
    assert done.returncode == 0 and report["safe_to_format"] is True, done.stderr
    # The copy named before the kill is recorded; the next file, written while it was
    # verified, was cut short and is copied again.
    complete = [line for line in report["recovered"] if "complete" in line]
    assert len(complete) == 1 and len(report["recovered"]) == (1 if crash_at == 9 else 2)
    assert report["copied"] == 9 - crash_at  # the one named before the kill is not copied again
    assert_each_card_file_once_in_both(card, places)
    records = dict(catalogue_rows(places.catalogue,
        "SELECT f.rel_path, f.blake3 FROM file f JOIN root r ON r.id = f.root_id"
        " WHERE r.path = ?", (str(places.primary),)))  # fmt: skip
    arrivals = catalogue_rows(
        places.catalogue, "SELECT count(*) FROM event WHERE kind = 'card_copied'"
    )
    assert records == places.copies(places.primary) and len(records) == 9
    assert [tuple(row) for row in arrivals] == [(9,)]


# --- FAT's own traits, without a FAT file system ----------------------------------------------


def test_a_backup_on_fat_keeps_times_to_2_s_and_is_still_safe(tmp_path, catalogue_location):
    """FAT and exFAT keep times in 2 s steps: a copy whose time was rounded is the copy."""
    card = tmp_path / "card"
    source = card / "DCIM/100NIKON/DSC_0001.JPG"
    source.parent.mkdir(parents=True)
    source.write_bytes((REPO_CAMERA / "kodak_dc240_1999.jpg").read_bytes())
    os.utime(source, ns=(SHOT * 10**9 + 1_300_000_000,) * 2)  # an odd second, and a fraction
    settings = load_settings(None, {"catalogue": str(catalogue_location),
                                    "ingest.destination": str(tmp_path / "dest"),
                                    "ingest.backup": str(tmp_path / "backup")})  # fmt: skip
    with open_catalogue(settings.catalogue) as catalogue:
        assert ingest_card(catalogue.db, settings, card).copied == 1
        backup_copy = tmp_path / "backup/1999/1999-05-25/DSC_0001.JPG"
        rounded = (SHOT + 2) * 10**9  # as FAT keeps it
        os.utime(backup_copy, ns=(rounded, rounded))
        assert card_verdict(catalogue.db, settings, card).safe
        os.utime(backup_copy, ns=(rounded + 2 * 10**9,) * 2)  # changed later: another time
        assert not card_verdict(catalogue.db, settings, card).safe


def test_names_differing_only_in_case_never_meet_on_a_drive_without_case(
    tmp_path, catalogue_location
):
    """Two folders of a card, the same name in other cases, the same day: two names that
    differ in more than case (a FAT or exFAT backup drive would take them for one)."""
    card = tmp_path / "card"
    kodak = (REPO_CAMERA / "kodak_dc240_1999.jpg").read_bytes()
    for folder, name, n in (("100NIKON", "DSC_0001.JPG", 1), ("101NIKON", "dsc_0001.jpg", 2)):
        path = card / "DCIM" / folder / name
        path.parent.mkdir(parents=True)
        path.write_bytes(distinct_copy(kodak, n))
    settings = load_settings(None, {"catalogue": str(catalogue_location),
                                    "ingest.destination": str(tmp_path / "dest")})  # fmt: skip
    with open_catalogue(settings.catalogue) as catalogue:
        report = ingest_card(catalogue.db, settings, card)
    assert report.copied == 2
    names = sorted(p.name for p in (tmp_path / "dest/1999/1999-05-25").iterdir())
    assert len({name.casefold() for name in names}) == 2, names


def test_a_card_is_only_read(tmp_path, catalogue_location):
    """A folder standing in for a card, made read-only: copying it writes nothing there."""
    card = tmp_path / "card"
    for rel, data in camera_files().items():
        (card / rel).parent.mkdir(parents=True, exist_ok=True)
        (card / rel).write_bytes(data)
    before = {str(p): (p.stat().st_mtime_ns, p.stat().st_size) for p in card.rglob("*")}
    settings = load_settings(None, {"catalogue": str(catalogue_location),
                                    "ingest.destination": str(tmp_path / "dest")})  # fmt: skip
    with open_catalogue(settings.catalogue) as catalogue:
        assert ingest_card(catalogue.db, settings, card).copied == 9
    assert {str(p): (p.stat().st_mtime_ns, p.stat().st_size) for p in card.rglob("*")} == before


# --- names: {job}, {seq}, {time}, {card} ------------------------------------------------------


def a_card_folder(tmp_path: Path, files: dict[str, bytes], name: str = "card") -> Path:
    card = tmp_path / name
    for rel, data in files.items():
        (card / rel).parent.mkdir(parents=True, exist_ok=True)
        (card / rel).write_bytes(data)
    return card


def settings_for(tmp_path: Path, catalogue: Path | str, **ingest: str):
    values = {"catalogue": str(catalogue), "ingest.destination": str(tmp_path / "dest"),
              "ingest.backup": str(tmp_path / "backup")}  # fmt: skip
    values.update({f"ingest.{key}": value for key, value in ingest.items()})
    return load_settings(None, values)


def copied_names(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_a_job_counts_on_across_cards_and_a_raw_its_jpeg_and_sidecar_share_a_number(
    tmp_path, catalogue_location
):
    settings = settings_for(tmp_path, catalogue_location, names="{job}_{seq:04}", folders="{job}")
    first = a_card_folder(tmp_path, camera_files(), "first")
    second = a_card_folder(tmp_path, camera_files(count=3), "second")
    with open_catalogue(settings.catalogue) as catalogue:
        assert ingest_card(catalogue.db, settings, first, job="Wedding").copied == 9
        report = ingest_card(catalogue.db, settings, second, job="Wedding")
    # The second card holds the first's files too: in the library already, not numbered again.
    assert report.copied == 3 and report.in_library == 9
    names = copied_names(tmp_path / "dest")
    assert names == copied_names(tmp_path / "backup")
    stems = [name.split("/")[1].split(".")[0] for name in names]
    assert all(name.startswith("Wedding/Wedding_") for name in names)
    # Seven photos on the first card (a CRW with its JPEG and sidecar is one), three on the
    # second: ten numbers, each given once.
    assert sorted(set(stems)) == [f"Wedding_{n:04d}" for n in range(1, 11)]
    triple = [n for n in names if n.endswith((".CRW", ".CRW.xmp")) or "IMG_0001" in n]
    crw = next(n for n in names if n.endswith(".CRW"))
    number = crw.split("/")[1].split(".")[0]
    assert {f"Wedding/{number}.CRW", f"Wedding/{number}.JPG", f"Wedding/{number}.CRW.xmp"} <= set(
        names
    ), triple


@pytest.mark.parametrize("gap_seconds", [0.01, 1, 3600])
def test_photos_are_copied_and_numbered_in_the_order_they_were_taken(
    tmp_path, catalogue_location, gap_seconds
):
    """Two bodies on one card and a counter gone round from 9999: the names' order is not the
    order of the shots; the camera's times are, whatever the gap between shots."""
    settings = settings_for(tmp_path, catalogue_location, names="{job}_{seq:04}", folders="{job}")
    jpeg = (REPO_CAMERA / "olympus_pen_e-p3.jpg").read_bytes()
    taken = ["DCIM/100CANON/IMG_9999.JPG", "DCIM/101CANON/IMG_0001.JPG",
             "DCIM/100NIKON/DSC_0001.JPG", "DCIM/101CANON/IMG_0002.JPG"]  # fmt: skip
    content = {rel: distinct_copy(jpeg, n) for n, rel in enumerate(taken)}
    card = a_card_folder(tmp_path, content)
    for n, rel in enumerate(taken):
        at = SHOT + n * gap_seconds
        os.utime(card / rel, (at, at))
    with open_catalogue(settings.catalogue) as catalogue:
        assert ingest_card(catalogue.db, settings, card, job="Shoot").copied == 4
        journal = [row[0] for row in catalogue.db.execute_sql(
            "SELECT rel_path FROM card_copy ORDER BY id")]  # fmt: skip
    assert journal == [rel.removeprefix("DCIM/") for rel in taken]
    for n, rel in enumerate(taken, start=1):
        assert (tmp_path / "dest" / "Shoot" / f"Shoot_{n:04d}.JPG").read_bytes() == content[rel]


def test_progress_says_files_bytes_and_how_each_destination_keeps_up(tmp_path, catalogue_location):
    settings = settings_for(tmp_path, catalogue_location)
    card = a_card_folder(tmp_path, camera_files(count=4))
    seen: list[CardProgress] = []
    with open_catalogue(settings.catalogue) as catalogue:
        report = ingest_card(catalogue.db, settings, card, progress=seen.append)
    assert [p.done for p in seen] == sorted(p.done for p in seen) and seen[-1].done == 13
    last = seen[-1]
    assert last.files == 13 and last.done_bytes == last.total_bytes == report.bytes_copied
    destination, backup = last.destinations
    assert (destination.path, backup.path) == (tmp_path / "dest", tmp_path / "backup")
    for drive in last.destinations:
        assert drive.files == 13 and drive.bytes == report.bytes_copied and drive.rate > 0
    # As a person reads it: the slower drive named with its speed.
    said = CardProgress(212, 1508, 2_100_000_000, 15_000_000_000, (
        DestinationProgress(tmp_path / "dest", 212, 2_100_000_000, 5.0),
        DestinationProgress(tmp_path / "backup", 212, 2_100_000_000, 22.1),
    )).said(elapsed=24.7)  # fmt: skip
    assert said == (
        "copying 212 / 1,508 files, 2.1 GB of 15.0 GB (85.0 MB/s, 3 minutes left); "
        "destination 420.0 MB/s, backup 95.0 MB/s"
    )


def test_without_a_job_the_number_counts_per_day(tmp_path, catalogue_location):
    settings = settings_for(
        tmp_path, catalogue_location, names="{year}{month}{day}-{time}-{seq:03}"
    )
    card = a_card_folder(tmp_path, camera_files())
    with open_catalogue(settings.catalogue) as catalogue:
        assert ingest_card(catalogue.db, settings, card).copied == 9
    names = copied_names(tmp_path / "dest")
    # Each day its own count from 001; the capture time in the name.
    assert "1999/1999-05-25/19990525-210009-001.JPG" in names, names
    assert "2023/2023-10-28/20231028-214229-001.CRW" in names, names
    assert all(name.split("-")[-1].startswith("001.") for name in names)


def test_a_job_in_the_names_and_no_job_given_is_refused_before_anything_is_copied(
    tmp_path, catalogue_location
):
    settings = settings_for(tmp_path, catalogue_location, names="{job}_{stem}")
    card = a_card_folder(tmp_path, camera_files())
    config = tmp_path / "shootwatch.toml"
    config.write_text(f'catalogue = "{catalogue_location}"\n[ingest]\ndestination = '
                      f'"{tmp_path / "dest"}"\nnames = "{{job}}_{{stem}}"\n')  # fmt: skip
    done = shootwatch(config, "ingest", "--from", str(card))
    assert done.returncode == 2 and "--job NAME" in done.stderr
    assert not (tmp_path / "dest").exists() or not any((tmp_path / "dest").rglob("*.*"))
    assert settings.ingest.names == "{job}_{stem}"


@pytest.mark.parametrize(
    ("key", "value", "said"),
    [
        ("folders", "{year}/{seq}", "unknown placeholder {seq}"),
        ("names", "{stem:d}", "cannot be filled"),
        ("names", "{seq:04", "not a valid template"),
        ("names", "{roll}", "unknown placeholder {roll}"),
    ],
)
def test_templates_that_cannot_be_filled_are_refused_with_a_reason(tmp_path, key, value, said):
    from core.config import ConfigError

    with pytest.raises(ConfigError, match=re.escape(said)):
        settings_for(tmp_path, tmp_path / "c.db", **{key: value})


def test_an_inbox_ingest_says_seq_job_and_card_are_a_card_ingests(tmp_path, catalogue_location):
    inbox = tmp_path / "inbox"
    (inbox / "DCIM").mkdir(parents=True)
    (inbox / "DCIM/IMG_1.JPG").write_bytes((REPO_CAMERA / "kodak_dc240_1999.jpg").read_bytes())
    config = tmp_path / "shootwatch.toml"
    config.write_text(f'catalogue = "{catalogue_location}"\n[ingest]\ndestination = '
                      f'"{tmp_path / "dest"}"\ninboxes = ["{inbox}"]\nsettle_seconds = 0\n'
                      'names = "{seq:04}"\n')  # fmt: skip
    done = shootwatch(config, "ingest")
    assert done.returncode == 2 and "only an ingest from a card fills" in done.stderr, done.stderr
    assert (inbox / "DCIM/IMG_1.JPG").exists()


# --- the engine: a card inserted while it runs ------------------------------------------------


def events_of(catalogue: Path | str, kind: str) -> list[dict]:
    query = "SELECT payload FROM event WHERE kind = ? ORDER BY id"
    return [json.loads(row[0] or "{}") for row in catalogue_rows(catalogue, query, (kind,)) or []]


def catalogued_under(catalogue: Path | str, root: Path) -> int:
    query = "SELECT count(*) FROM file f JOIN root r ON r.id = f.root_id WHERE r.path = ?"
    rows = catalogue_rows(catalogue, query, (str(root),))
    return rows[0][0] if rows else 0


def photos_under(catalogue: Path | str, root: Path) -> int:
    query = ("SELECT count(DISTINCT f.photo_id) FROM file f JOIN root r ON r.id = f.root_id"
             " WHERE r.path = ?")  # fmt: skip
    rows = catalogue_rows(catalogue, query, (str(root),))
    return rows[0][0] if rows else 0


def test_the_engine_copies_a_card_inserted_in_ingest_cards_by_itself(
    tmp_path, catalogue_location, mounts
):
    card = Card(tmp_path, mounts).format(camera_files())
    card.pull_out()  # inserted once the engine runs
    places = Destinations(tmp_path, mounts, catalogue=catalogue_location)
    with places.config.open("a") as config:
        config.write(f'cards = ["{tmp_path / "media"}"]\n[watch]\nsettle_seconds = 0.5\n'
                     "[stages]\nenabled = []\n")  # fmt: skip
    log = tmp_path / "engine.log"
    with log.open("w") as stderr:
        engine = subprocess.Popen(
            [sys.executable, "-m", "core.cli", "--config", str(places.config), "run"],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip
    try:
        time.sleep(2)  # the engine up and looking
        card.plug_in()
        said = wait_until(lambda: events_of(places.catalogue, "card_safe"))
        assert said[0]["copied"] == 9 and said[0]["files"] == 9 and said[0]["card"] == "EOS_DIGITAL"
        assert_each_card_file_once_in_both(card, places)
        # The copies are catalogued as they arrive, by the ingest itself, and described into
        # photos to cull. The watcher finds them known; on a loaded machine its run of a
        # folder may find a copy a moment before its record is written: then that copy is
        # hashed once more, and still has one record.
        wait_until(lambda: catalogued_under(places.catalogue, places.primary) == 9)
        assert len(events_of(places.catalogue, "card_copied")) == 9
        wait_until(lambda: photos_under(places.catalogue, places.primary) == 7)
        assert len(events_of(places.catalogue, "added")) <= 9
        assert catalogued_under(places.catalogue, places.primary) == 9
        # The status line (the ingest component's task) says so.
        seen = []

        def said_in_status() -> bool:
            seen.append(shootwatch(places.config, "status", "--json").stdout)
            return "EOS_DIGITAL: safe to format" in seen[-1]

        try:
            wait_until(said_in_status, 20)
        except AssertionError:
            print(json.loads(seen[-1])["engine"]["components"])
            raise
        # Taken out and inserted again: looked at again, nothing copied twice.
        card.pull_out()
        time.sleep(1.5)
        card.plug_in()
        again = wait_until(lambda: events_of(places.catalogue, "card_safe")[1:])
        assert again[0]["copied"] == 0
        assert_each_card_file_once_in_both(card, places)
    finally:
        engine.terminate()
        try:
            assert engine.wait(timeout=30) == 0, log.read_text()[-3000:]
        finally:
            if engine.poll() is None:
                engine.kill()
                engine.wait()
