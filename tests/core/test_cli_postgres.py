"""A catalogue on a PostgreSQL server named in the settings or with --db, as whole processes:
the commands (a cull from the command line, an ingest from the inbox and from a card, and
darktable's commands give the same answers as on SQLite), and one sentence (never a
traceback) for a URL that cannot be a catalogue. The engine on a server: test_engine_postgres.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.darktable_fixture import copy_fixture
from tests.helpers import REPO, REPO_CAMERA, command_settings, run_command
from tests.postgres_cluster import connect_directly

CITY = REPO / "core" / "demo" / "photos" / "2024-11-16_city-night"  # a real burst of five


@pytest.fixture
def server_catalogue(postgres_server, catalogue_location) -> str:
    return catalogue_location


@pytest.fixture
def catalogue_backend() -> str:
    return "postgresql"


def test_the_settings_name_a_catalogue_on_a_server_and_commands_use_it(
    tmp_path, library, server_catalogue
):
    config = command_settings(tmp_path)
    config.write_text(
        config.read_text().replace(f'"{tmp_path / "catalogue.db"}"', f'"{server_catalogue}"')
    )
    added = run_command(config, "add", str(library))
    assert added.returncode == 0, added.stderr
    roots = run_command(config, "roots")
    assert roots.returncode == 0 and str(library) in roots.stdout, roots.stderr
    status = run_command(config, "status")
    assert "Traceback" not in status.stderr and str(library) in status.stdout, status.stderr
    assert not (tmp_path / "catalogue.db").exists()  # no SQLite file made beside the settings


def test_db_names_a_catalogue_on_a_server(tmp_path, library, server_catalogue):
    config = command_settings(tmp_path)
    added = run_command(config, "--db", server_catalogue, "add", str(library))
    assert added.returncode == 0, added.stderr
    roots = run_command(config, "--db", server_catalogue, "roots")
    assert str(library) in roots.stdout, roots.stderr
    events = run_command(config, "--db", server_catalogue, "events", "--json")
    assert events.returncode == 0, events.stderr
    (added_root,) = [json.loads(line) for line in events.stdout.splitlines()]
    assert (added_root["kind"], added_root["path"]) == ("root_added", str(library))


def _cull(base: Path, catalogue: str) -> list[tuple[int, str, str]]:
    """A cull of the demo's burst from the command line, each command a whole process, on
    ``catalogue``: (exit code, output, errors) of each, ``base`` written as BASE."""
    shoot = base / "library" / "2024-11-16"
    shutil.copytree(CITY, shoot, ignore=shutil.ignore_patterns("*.xmp", "darktable_exported"))
    config = command_settings(base)
    steps = [
        ("add", str(base / "library")),
        ("scan",),
        ("decide", str(shoot / "DSC_0101.JPG"), "--reject"),
        ("decide", str(shoot / "DSC_0102.JPG"), str(shoot / "DSC_0104.JPG"), "--stars", "3"),
        ("undo",),
        ("undo",),
        ("redo",),
        ("keep", str(shoot / "DSC_0103.JPG")),
        ("undo",),
        ("redo",),
        ("bursts", "--json"),
        ("undo",),
        ("undo",),
        ("undo",),
        ("stages", "--json"),
        ("report", "artifacts", "--json"),
        ("report", "unfinished"),
        ("report", "exported", "--since", "2024-06-01"),
        ("report", "velocity", "--since", "2024-06-01"),
    ]
    said = []
    for step in steps:
        done = run_command(config, "--db", catalogue, *step)
        assert "Traceback" not in done.stderr, (step, done.stderr)
        said.append((done.returncode, *(text.replace(str(base), "BASE")
                                        for text in (done.stdout, done.stderr))))  # fmt: skip
    return said


def test_a_cull_from_the_command_line_says_the_same_on_a_server_as_on_sqlite(
    tmp_path, server_catalogue
):
    on_sqlite = _cull(tmp_path / "sqlite", str(tmp_path / "sqlite" / "catalogue.db"))
    on_server = _cull(tmp_path / "server", server_catalogue)
    assert on_server[2:] == on_sqlite[2:]  # after add and scan, which name their catalogue
    assert [code for code, _, _ in on_server] == [0] * 13 + [1] + [0] * 5, on_server
    assert "decision pending -> rejected" in on_server[2][1]
    kept, bursts = on_server[7][1], json.loads(on_server[10][1])
    assert kept.count("pending -> rejected") == 3 and "pending -> approved" in kept, kept
    assert on_server[8][1].count("(undo)") == 5  # the burst's five in one undo
    assert on_server[9][1].count("rating 0 -> 3 (redo)") == 2  # the oldest undone since
    assert [len(burst["photos"]) for burst in bursts["bursts"]] == [5], bursts
    assert on_server[13][1] == "nothing to undo\n"
    # Every step is in the server's log, its undos marked (booleans, not SQLite's 0 and 1).
    server = connect_directly(server_catalogue)
    try:
        undone = server.execute("SELECT count(*) FROM decision WHERE undone").fetchone()[0]
        sources = server.execute("SELECT source, count(*) FROM decision GROUP BY 1").fetchall()
    finally:
        server.close()
    assert undone > 0 and dict(sources).keys() >= {"undo", "redo"}, sources


def test_history_and_show_read_a_catalogue_on_a_server(tmp_path, server_catalogue):
    _cull(tmp_path, server_catalogue)
    config = command_settings(tmp_path)
    history = run_command(config, "--db", server_catalogue, "history", "--json")
    assert history.returncode == 0, history.stderr
    (scan,) = json.loads(history.stdout)
    assert (scan["status"], scan["files_added"]) == ("completed", 6)
    photo = tmp_path / "library" / "2024-11-16" / "DSC_0103.JPG"
    shown = run_command(config, "--db", server_catalogue, "show", str(photo), "--json")
    assert shown.returncode == 0, shown.stderr
    facts = json.loads(shown.stdout)["photo"]
    assert facts["burst"]["size"] == 5 and facts["decision"] == "pending", facts


def _ingest_and_darktable(base: Path, catalogue: str) -> list[tuple[int, str, str]]:
    """An inbox filed, a card (a folder standing in for one) copied, and darktable's library
    followed, each command a whole process, on ``catalogue``: (exit code, output, errors) of
    each, ``base`` written as BASE."""
    inbox, card = base / "inbox" / "DCIM" / "100CANON", base / "card" / "DCIM" / "100NIKON"
    for folder, names in ((inbox, ("kodak_dc240_1999.jpg", "sony_slt-a58_small.jpg")),
                          (card, ("olympus_pen_e-p3.jpg", "canon_eos_d30.CRW"))):  # fmt: skip
        folder.mkdir(parents=True)
        for name in names:
            shutil.copyfile(REPO_CAMERA / name, folder / name)
    shutil.copyfile(REPO_CAMERA / "kodak_dc240_1999.jpg", inbox / "copy.jpg")  # a duplicate
    darktable = copy_fixture(base)
    shutil.copy(darktable.paths.data, darktable.paths.library.parent / "data.db")
    config, numbered = command_settings(base), base / "numbered.toml"
    config.write_text(
        f'catalogue = "{catalogue}"\n'
        f'darktable.library = "{darktable.paths.library}"\n'
        f'media.preview_cache = "{base / "previews"}"\n'
        f'[ingest]\ndestination = "{base / "Originals"}"\nsettle_seconds = 0\n'
        f'backup = "{base / "Backup"}"\n'
    )
    # A card's copies numbered per job (which an inbox ingest refuses: no card, no job).
    numbered.write_text(f'{config.read_text()}names = "{{job}}_{{seq:03}}"\nfolders = "{{job}}"\n')
    steps = [
        ("add", str(base / "inbox"), "--kind", "inbox"),
        ("ingest", "--dry-run"),
        ("ingest", "--json"),
        ("ingest",),
        ("ingest", "--from", str(base / "card"), "--job", "Shoot"),
        ("ingest", "--from", str(base / "card"), "--job", "Shoot", "--json"),
        ("card", str(base / "card")),
        ("card", str(base / "card"), "--json", "--reread"),
        ("add", str(darktable.photos)),
        ("scan",),
        ("darktable", "stats"),
        ("darktable", "stats", "--json"),
        ("darktable", "recent-edits", "--json"),
        ("events", "--kind", "not_imported", "--json"),
        ("report", "unfinished"),
    ]
    said = []
    for step in steps:
        done = run_command(numbered if "--job" in step else config, *step)
        assert "Traceback" not in done.stderr, (step, done.stderr)
        said.append((done.returncode, *(text.replace(str(base), "BASE")
                                        for text in (done.stdout, done.stderr))))  # fmt: skip
    return said


def _without_times(said: tuple[int, str, str]) -> tuple[int, str, str]:
    """A step's exit code, output and errors less what differs between two runs: the times
    things happened at, and the rate a copy went at."""
    import re

    code, out, err = said
    times = re.compile(
        r'("(at|seen_at|read_at|seconds)": )[0-9.e+-]+|"time": "[^"]*"'
        r"|[0-9.]+ [kMG]?B/s|in [0-9.]+ s\b"
    )
    return code, times.sub("…", out), times.sub("…", err)


def test_ingest_card_and_darktable_say_the_same_on_a_server_as_on_sqlite(
    tmp_path, server_catalogue
):
    on_sqlite = _ingest_and_darktable(tmp_path / "sqlite", str(tmp_path / "sqlite" / "c.db"))
    on_server = _ingest_and_darktable(tmp_path / "server", server_catalogue)
    assert [_without_times(s) for s in on_server] == [_without_times(s) for s in on_sqlite]
    assert [code for code, _, _ in on_server] == [0] * 15, on_server
    dry_run, filed, again = on_server[1][1], json.loads(on_server[2][1]), on_server[3][1]
    assert "2 would be filed (0 undated), 1 duplicates" in dry_run, dry_run
    assert (filed["ingested"], filed["duplicates"], filed["failed"]) == (2, 1, 0), filed
    assert again.startswith("0 filed"), again
    assert "2 copied and verified" in on_server[4][1], on_server[4]
    copied_again = json.loads(on_server[5][1])
    assert (copied_again["copied"], copied_again["already"]) == (0, 2), copied_again
    assert "safe to format" in on_server[6][1]
    assert json.loads(on_server[7][1])["safe_to_format"] is True
    stats = json.loads(on_server[11][1])
    assert stats["images"] == 17 and stats["state"] in ("ok", "idle"), stats
    assert [edit["darktable_id"] for edit in json.loads(on_server[12][1])] == [12, 14, 4, 17, 3, 2]
    # What the server holds: the move journal closed, each card copy verified, its number
    # kept for the next card of the job, the darktable snapshot's booleans real booleans.
    server = connect_directly(server_catalogue)
    try:
        moves = server.execute("SELECT state, count(*) FROM ingest_move GROUP BY 1").fetchall()
        copies = server.execute("SELECT state, count(*) FROM card_copy GROUP BY 1").fetchall()
        counters = server.execute("SELECT key, last FROM ingest_counter").fetchall()
        rejected = server.execute("SELECT count(*) FROM darktable_image WHERE rejected").fetchone()
    finally:
        server.close()
    assert dict(moves) == {"done": 3} and dict(copies) == {"verified": 2}, (moves, copies)
    assert counters == [("job:Shoot", 2)] and rejected[0] > 0, (counters, rejected)


def test_a_password_in_the_url_is_never_shown(tmp_path, server_catalogue):
    # The tests' server trusts its socket, so any password opens it.
    url = server_catalogue.replace("postgres@", "postgres:s3cret@")
    config = command_settings(tmp_path)
    for command in (("status",), ("status", "--json")):
        result = run_command(config, "--db", url, *command)
        assert "catalogue" in result.stdout and "postgres@" in result.stdout, result.stderr
        assert "s3cret" not in result.stdout + result.stderr
    missing = url.rsplit("/", 1)[0] + "/no_such_database"
    result = run_command(config, "--db", missing, "status")
    assert result.returncode == 2 and "cannot open the catalogue" in result.stderr, result.stderr
    assert "s3cret" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("value", ["postgresql://", "  "])
def test_a_catalogue_setting_that_names_nothing_is_refused(tmp_path, value):
    config = tmp_path / "shootwatch.toml"
    config.write_text(f'catalogue = "{value}"\n')
    result = run_command(config, "status")
    assert result.returncode == 2 and "config error: catalogue" in result.stderr, result.stderr
