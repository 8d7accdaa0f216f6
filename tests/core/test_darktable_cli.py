"""The darktable commands on a copy of the real fixture library, with no engine running (each
command reads the library once itself): stats, recent edits, show, and the three reports."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from core.darktable.facts import darktable_time
from tests.core.test_cli import run
from tests.darktable_fixture import DarktableCopy, copy_fixture
from tests.postgres_cluster import BOTH_BACKENDS

# The commands that read darktable's library run on a catalogue on SQLite and on a server.
pytestmark = BOTH_BACKENDS


@pytest.fixture
def darktable(tmp_path: Path, monkeypatch, catalogue_location) -> DarktableCopy:
    copy = copy_fixture(tmp_path)
    shutil.copy(copy.paths.data, copy.paths.library.parent / "data.db")
    config = tmp_path / "config.toml"
    config.write_text(f'darktable.library = "{copy.paths.library}"\n')
    monkeypatch.setenv("SHOOTWATCH_CONFIG", str(config))
    monkeypatch.setenv("SHOOTWATCH_DB", str(catalogue_location))
    return copy


@pytest.fixture
def scanned(capsys, darktable) -> DarktableCopy:
    assert run(capsys, "add", str(darktable.photos))[0] == 0
    assert run(capsys, "scan")[0] == 0
    return darktable


def test_stats_per_shoot(capsys, scanned):
    code, out, _ = run(capsys, "darktable", "stats", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["images"] == 17 and report["darktable_running"] is False
    shoots = {shoot["shoot"]: shoot for shoot in report["shoots"]}
    assert set(shoots) == {"2024-06-01_wedding", "2024-07-15_street"}  # exports are not shoots
    wedding = shoots["2024-06-01_wedding"]
    # 11 photos on disk, 10 imported; 11 darktable images (IMG_0003 has a duplicate).
    assert (wedding["files"], wedding["in_darktable"], wedding["images"]) == (11, 10, 11)
    # edited: 2, 3, 4, 17; rejected: 9, 10; rated is darktable's own "1 star or better" with
    # rejects left out, the import default star included: 1, 2, 3, 4, 6, 8, 17
    assert (wedding["edited"], wedding["rated"], wedding["rejected"]) == (4, 7, 2)
    # the separate figure: stars that are not the import default (2, 3, 4, 6, 17)
    assert wedding["rated_by_hand"] == 5
    # exported: 2, 4, 5; edited and never exported: 3, 17
    assert (wedding["exported"], wedding["to_export"]) == (3, 2)
    street = shoots["2024-07-15_street"]
    assert street["rated"] == 5  # 11, 12, 13, 14, 15: 11 and 15 at one star
    assert (street["edited"], street["exported"], street["changed_after_export"]) == (2, 1, 1)
    code, out, _ = run(capsys, "darktable", "stats")
    assert "2024-06-01_wedding" in out and "IN DARKTABLE" in out and "darktable not running" in out


def test_stats_count_files_and_darktable_images_apart(capsys, darktable):
    """Files on disk, those darktable has, those it never imported, and darktable images
    whose file is gone: a shoot with one of each does not read "files 6 / in darktable 6"."""
    darktable.street("DSC_0106.JPG").unlink()
    shutil.copy(darktable.street("DSC_0101.JPG"), darktable.street("DSC_0107.JPG"))
    assert run(capsys, "add", str(darktable.photos))[0] == 0
    assert run(capsys, "scan")[0] == 0
    code, out, _ = run(capsys, "darktable", "stats", "--json")
    street = {s["shoot"]: s for s in json.loads(out)["shoots"]}["2024-07-15_street"]
    assert (street["files"], street["in_darktable"], street["not_imported"]) == (6, 5, 1)
    assert (street["images"], street["missing_files"]) == (6, 1)
    _, out, _ = run(capsys, "events", "--kind", "darktable_orphaned", "--json")
    assert [json.loads(line)["path"] for line in out.splitlines()] == [
        "2024-07-15_street/DSC_0106.JPG"
    ]
    code, out, _ = run(capsys, "darktable", "stats")
    assert code == 0
    assert "MISSING" in out and "NOT IMPORTED" in out


def test_recent_edits_on_a_library_just_followed(capsys, scanned):
    """The first read of a library already edited: darktable's own change times say what was
    edited last, before shootwatch has seen a single edit happen."""
    code, out, _ = run(capsys, "darktable", "recent-edits", "--json")
    assert code == 0
    edits = json.loads(out)
    # darktable's change_timestamp, newest first (14 is a few milliseconds after 4)
    assert [edit["darktable_id"] for edit in edits] == [12, 14, 4, 17, 3, 2]
    assert [edit["at"] for edit in edits] == sorted((edit["at"] for edit in edits), reverse=True)
    assert all(edit["altered"] for edit in edits)
    code, out, _ = run(capsys, "darktable", "recent-edits", "--limit", "2")
    assert "DSC_0102.JPG" in out and "IMG_0002.JPG" not in out


def test_recent_edits_after_an_edit(capsys, scanned):
    run(capsys, "darktable", "stats")  # the first read: the library as it is
    scanned.write(
        "UPDATE images SET change_timestamp = ? WHERE id = 3", (darktable_time(time.time()),)
    )
    code, out, _ = run(capsys, "darktable", "recent-edits", "--json")
    assert code == 0
    edits = json.loads(out)
    assert [edit["darktable_id"] for edit in edits][:2] == [3, 12]
    assert len([edit for edit in edits if edit["darktable_id"] == 3]) == 1  # not twice
    assert edits[0]["path"].endswith("2024-06-01_wedding/IMG_0003.JPG")
    code, out, _ = run(capsys, "darktable", "recent-edits")
    assert "IMG_0003.JPG" in out


def test_a_photo_removed_from_darktable_is_not_never_imported(capsys, scanned):
    run(capsys, "darktable", "stats")
    scanned.write("DELETE FROM images WHERE id = 16")  # "remove" in darktable's lighttable
    run(capsys, "darktable", "stats")
    _, out, _ = run(capsys, "events", "--kind", "not_imported", "--json")
    paths = [json.loads(line)["path"] for line in out.splitlines()]
    assert paths == ["2024-06-01_wedding/IMG_0011.JPG"]  # not DSC_0106
    code, out, _ = run(capsys, "show", str(scanned.street("DSC_0106.JPG")))
    assert code == 0
    assert "removed from darktable's library" in out and "not imported" not in out
    code, out, _ = run(capsys, "show", str(scanned.street("DSC_0106.JPG")), "--json")
    assert json.loads(out)["darktable_removed_at"] is not None


def test_show_puts_disk_catalogue_and_darktable_together(capsys, scanned):
    path = scanned.wedding("IMG_0003.JPG")
    code, out, _ = run(capsys, "show", str(path), "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["on_disk"] and shown["file"]["kind"] == "jpeg" and shown["file"]["blake3"]
    versions = {image["version"]: image for image in shown["darktable"]}
    assert set(versions) == {0, 1}
    assert versions[1]["sidecar"] == "IMG_0003_01.JPG.xmp"
    assert versions[0]["stars"] == 3 and versions[0]["labels"] == ["yellow"]
    assert versions[0]["sidecar_now"]["rating"] == 3
    assert versions[0]["exif"]["camera"] == "Canon EOS R5"
    code, out, _ = run(capsys, "show", str(scanned.wedding("IMG_0011.JPG")))
    assert code == 0 and "darktable: not imported" in out
    code, _, err = run(capsys, "show", str(scanned.wedding("nothing.JPG")))
    assert code == 2 and "no such file" in err


def test_reports(capsys, scanned):
    code, out, _ = run(capsys, "report", "unfinished", "--json")
    assert code == 0
    unfinished = {(Path(i["path"]).name, i["version"]) for i in json.loads(out)}
    # edited, not exported since: 3, 17, 12 (re-edited), 14; rated (darktable's count: one
    # star or more, the import default star too) and not edited: 1, 6, 8, 11, 13, 15
    assert unfinished == {
        ("IMG_0003.JPG", 0), ("IMG_0003.JPG", 1), ("DSC_0102.JPG", 0), ("DSC_0104.JPG", 0),
        ("IMG_0001.JPG", 0), ("IMG_0006.JPG", 0), ("IMG_0008.JPG", 0), ("DSC_0101.JPG", 0),
        ("DSC_0103.JPG", 0), ("DSC_0105.JPG", 0),
    }  # fmt: skip
    code, out, _ = run(capsys, "report", "unfinished", "--min-stars", "2", "--json")
    assert {Path(i["path"]).name for i in json.loads(out) if not i["edited"]} == {
        "IMG_0006.JPG", "DSC_0103.JPG"
    }  # fmt: skip
    code, out, _ = run(capsys, "report", "exported", "--since", "3650d", "--json")
    assert {Path(i["path"]).name for i in json.loads(out)} == {
        "IMG_0002.JPG", "IMG_0004.JPG", "IMG_0005.JPG", "DSC_0102.JPG"
    }  # fmt: skip
    code, out, _ = run(capsys, "report", "exported", "--since", "2099-01-01", "--json")
    assert json.loads(out) == []
    scanned.write(
        "UPDATE images SET change_timestamp = ? WHERE id IN (3, 4)", (darktable_time(time.time()),)
    )
    run(capsys, "darktable", "stats")
    code, out, _ = run(capsys, "report", "velocity", "--json")
    velocity = json.loads(out)
    assert sum(hour["edits"] for hour in velocity["hours"]) == 2
    assert velocity["session"]["edits"] == 2 and velocity["session"]["edits_per_hour"] > 0
    code, out, _ = run(capsys, "report", "velocity")
    assert "this session: 2 edits" in out


def test_not_imported_is_found_once(capsys, scanned):
    run(capsys, "darktable", "stats")
    run(capsys, "darktable", "stats")
    _, out, _ = run(capsys, "events", "--kind", "not_imported", "--json")
    events = [json.loads(line) for line in out.splitlines()]
    assert [event["path"] for event in events] == ["2024-06-01_wedding/IMG_0011.JPG"]


def test_a_missing_configured_library_is_a_clear_problem(
    capsys, tmp_path, monkeypatch, catalogue_location
):
    config = tmp_path / "missing.toml"
    config.write_text(f'darktable.library = "{tmp_path / "nowhere" / "library.db"}"\n')
    monkeypatch.setenv("SHOOTWATCH_CONFIG", str(config))
    monkeypatch.setenv("SHOOTWATCH_DB", str(catalogue_location))
    code, out, _ = run(capsys, "darktable", "stats")
    assert code == 1
    assert "missing: there is no file at" in out


def test_no_darktable_at_the_default_place_is_not_a_problem(
    capsys, tmp_path, monkeypatch, catalogue_location
):
    monkeypatch.setenv("SHOOTWATCH_DB", str(catalogue_location))
    code, out, _ = run(capsys, "darktable", "stats")
    assert code == 0
    assert "no darktable library" in out


def test_show_json_gives_the_photos_triage_labels(capsys, scanned):
    path = scanned.wedding("IMG_0006.JPG")
    for colour in ("green", "red"):
        assert run(capsys, "decide", str(path), "--label", colour)[0] == 0
    code, out, _ = run(capsys, "show", str(path), "--json")
    assert code == 0
    photo = json.loads(out)["photo"]
    assert photo["labels"] == ["red", "green"]  # in darktable's order of colours
    code, out, _ = run(capsys, "show", str(path))
    assert "labels red, green" in out
