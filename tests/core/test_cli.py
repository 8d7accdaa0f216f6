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
