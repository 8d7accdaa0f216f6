"""A catalogue on a PostgreSQL server named in the settings or with --db, as whole processes:
the commands that work on it so far, and one sentence (never a traceback) from those that do
not yet, from the app, and for a URL that cannot be a catalogue."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers import REPO, command_settings, run_command


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


@pytest.mark.parametrize("command", [("history",), ("undo",), ("run",)], ids=" ".join)
def test_a_command_that_does_not_work_on_a_server_yet_says_so_in_one_sentence(
    tmp_path, server_catalogue, command
):
    result = run_command(command_settings(tmp_path), "--db", server_catalogue, *command)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert "does not work on a catalogue on a PostgreSQL server yet" in result.stderr


def test_the_app_on_a_server_catalogue_says_it_does_not_open_one_yet(tmp_path, server_catalogue):
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from tui.launch import main; sys.exit(main())",
         "--config", str(command_settings(tmp_path)), "--db", server_catalogue],
        capture_output=True, text=True, cwd=REPO, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "does not open a catalogue on a PostgreSQL server yet" in result.stderr
    assert "Traceback" not in result.stderr


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
