"""The shootwatch command: subcommands, their output, JSON, and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from core.cli import main
from tests.helpers import REPO, touch_later, write


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "catalogue.db")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_no_subcommand_prints_help(capsys):
    code, out, _ = run(capsys)
    assert code == 0
    assert "usage: shootwatch" in out and "scan" in out and "status" in out


def test_console_script_is_installed():
    result = subprocess.run(
        [sys.executable, "-m", "core.cli", "--help"], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 0 and "shootwatch" in result.stdout


def test_add_scan_roots_history_status(capsys, db, library):
    write(library / "2024" / "2024-03-08" / "IMG_0001.CR2", "raw")
    write(library / "2024" / "2024-03-08" / "IMG_0001.JPG", "jpeg")

    code, out, _ = run(capsys, "--db", db, "add", str(library))
    assert code == 0 and f"added library root {library}" in out

    code, out, _ = run(capsys, "--db", db, "scan")
    assert code == 0
    assert f"{library}: 2 files scanned" in out and "2 added" in out

    code, out, _ = run(capsys, "--db", db, "roots", "--json")
    (root,) = json.loads(out)
    assert (root["path"], root["state"], root["files"], root["bytes"]) == (
        str(library),
        "online",
        2,
        7,
    )

    moved = library / "2024" / "2024-03-08" / "IMG_0001.JPG"
    moved.rename(library / "2024" / "keeper.JPG")
    edited = library / "2024" / "2024-03-08" / "IMG_0001.CR2"
    edited.write_bytes(b"raw, edited")
    touch_later(edited)
    code, out, _ = run(capsys, "--db", db, "scan", "--json", str(library / "2024"))
    (report,) = json.loads(out)
    assert (report["files_moved"], report["files_updated"], report["status"]) == (
        1,
        1,
        "completed",
    )

    code, out, _ = run(capsys, "--db", db, "history", "--json")
    assert [r["files_added"] for r in json.loads(out)] == [0, 2]
    code, out, _ = run(capsys, "--db", db, "history")
    assert out.splitlines()[0].split()[:5] == ["RUN", "STARTED", "KIND", "ROOT", "STATUS"]

    code, out, _ = run(capsys, "--db", db, "status")
    assert code == 0 and out.strip().endswith("healthy")
    code, out, _ = run(capsys, "--db", db, "status", "--json")
    status = json.loads(out)
    assert status["healthy"] is True and status["roots"][0]["files"] == 2


def test_status_exits_1_when_a_root_is_offline(capsys, db, tmp_path):
    drive = tmp_path / "drive"
    write(drive / "IMG.JPG", "photo")
    run(capsys, "--db", db, "add", str(drive))
    run(capsys, "--db", db, "scan")
    drive.rename(tmp_path / "unplugged")

    code, out, _ = run(capsys, "--db", db, "scan")
    assert code == 1 and "partial: folder" in out and "missing" in out

    code, out, _ = run(capsys, "--db", db, "status")
    assert code == 1
    assert f"! {drive} is offline" in out and out.strip().endswith("needs attention")
    code, out, _ = run(capsys, "--db", db, "roots")
    assert "offline" in out


def test_status_of_a_root_never_scanned_needs_attention(capsys, db, library):
    run(capsys, "--db", db, "add", str(library))
    code, out, _ = run(capsys, "--db", db, "status")
    assert code == 1 and "never been scanned" in out


def test_adding_an_overlapping_root_is_refused(capsys, db, library):
    (library / "inner").mkdir()
    run(capsys, "--db", db, "add", str(library))
    code, _, err = run(capsys, "--db", db, "add", str(library / "inner"))
    assert code == 2 and "overlaps the root" in err
    code, _, err = run(capsys, "--db", db, "add", str(library.parent))
    assert code == 2 and "overlaps the root" in err
    code, out, _ = run(capsys, "--db", db, "add", str(library))  # again: nothing to do
    assert code == 0 and "already a library root" in out


def test_adding_something_that_is_not_a_folder_is_refused(capsys, db, tmp_path):
    code, _, err = run(capsys, "--db", db, "add", str(tmp_path / "nowhere"))
    assert code == 2 and "is not a folder" in err


def test_scanning_outside_every_root_says_what_to_do(capsys, db, tmp_path):
    code, _, err = run(capsys, "--db", db, "scan")
    assert code == 2 and "shootwatch add PATH" in err
    code, _, err = run(capsys, "--db", db, "scan", str(tmp_path))
    assert code == 2 and "is not inside a root" in err


def test_inbox_kind_is_recorded(capsys, db, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    run(capsys, "--db", db, "add", "--kind", "inbox", str(inbox))
    code, out, _ = run(capsys, "--db", db, "roots", "--json")
    assert code == 0 and json.loads(out)[0]["kind"] == "inbox"


def test_config_shows_every_setting_as_valid_toml(capsys, tmp_path):
    import tomllib

    code, out, _ = run(capsys, "--db", str(tmp_path / "x.db"), "config")
    assert code == 0
    values = tomllib.loads(out)
    assert values["catalogue"] == str(tmp_path / "x.db")
    assert set(values["scan"]) == {"ignore", "workers", "hash_retries"}
    watch_keys = {"debounce_ms", "settle_seconds"}
    assert set(values["watch"]) == watch_keys
    assert values["engine"]["reconcile_hours"] == 6.0


def test_unusable_catalogue_exits_2(capsys, tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"garbage" * 1000)
    code, _, err = run(capsys, "--db", str(bad), "status")
    assert code == 2 and "cannot open the catalogue" in err


def test_a_big_scan_leaves_previews_to_the_engine_unless_asked(tmp_path):
    """More new photos than a scan previews itself: described and grouped, then the scan
    returns, saying the previews are the engine's (or `scan --previews`); one photo more or
    less than the limit decides it."""
    import random

    from PIL import Image

    from core.cli.scanning import SCAN_PREVIEWS_UP_TO

    library = tmp_path / "photos"
    folder = library / "2024" / "2024-06-01"
    folder.mkdir(parents=True)
    noise = random.Random(7)
    for n in range(SCAN_PREVIEWS_UP_TO + 1):
        pixels = noise.randbytes(8 * 8 * 3)
        Image.frombytes("RGB", (8, 8), pixels).save(folder / f"IMG_{n:05d}.JPG", quality=80)
    db = str(tmp_path / "catalogue.db")
    config = tmp_path / "shootwatch.toml"
    config.write_text(f'[media]\npreview_cache = "{tmp_path / "previews"}"\n')

    def shootwatch(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "core.cli", "--config", str(config), "--db", db, *args]
        return subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=600)

    def without_preview() -> int:
        import sqlite3

        with sqlite3.connect(db) as connection:
            query = (
                "SELECT count(*) FROM photo p JOIN file f ON f.photo_id = p.id"
                " AND f.role = 'original' WHERE p.preview_at IS NULL"
            )
            return connection.execute(query).fetchone()[0]

    assert shootwatch("add", str(library)).returncode == 0
    scanned = shootwatch("scan")
    assert scanned.returncode == 0, scanned.stderr
    assert f"{SCAN_PREVIEWS_UP_TO + 1:,} files described, 0 previews built" in scanned.stderr
    assert f"previews: {SCAN_PREVIEWS_UP_TO + 1:,} photos have none yet" in scanned.stderr
    assert "'shootwatch scan --previews'" in scanned.stderr
    assert without_preview() == SCAN_PREVIEWS_UP_TO + 1
    unchanged = shootwatch("scan")  # nothing to describe: says what is left, builds nothing
    assert f"previews: {SCAN_PREVIEWS_UP_TO + 1:,} photos have none yet" in unchanged.stderr
    assert "described" not in unchanged.stderr and without_preview() == SCAN_PREVIEWS_UP_TO + 1
    (folder / "IMG_00000.JPG").unlink()  # one fewer than the limit: the next scan builds them
    again = shootwatch("scan")
    assert again.returncode == 0 and "previews:" not in again.stderr, again.stderr
    assert without_preview() == 0
    Image.new("RGB", (8, 8), "red").save(folder / "LATE.JPG")
    forced = shootwatch("scan", "--previews")
    assert forced.returncode == 0 and without_preview() == 0, forced.stderr
