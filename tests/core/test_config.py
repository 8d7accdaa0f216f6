"""Settings: defaults with no file, the TOML file, flags over it, and clear errors."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from core.cli import main
from core.config import (
    SETTINGS,
    ConfigError,
    Settings,
    default_catalogue_path,
    default_config_path,
    load_settings,
)
from core.config.reference import reference_toml


def test_defaults_work_with_no_file_at_all():
    settings = load_settings()
    assert settings.config_file is None
    assert settings.catalogue == default_catalogue_path()
    assert settings.catalogue.name == "catalogue.db"
    assert settings.scan.ignore == () and settings.scan.workers >= 1
    assert settings.scan.hash_retries == 3


def test_file_in_the_default_place_is_read(tmp_path):
    path = default_config_path()
    path.parent.mkdir(parents=True)
    path.write_text('catalogue = "~/photos.db"\n[scan]\nignore = ["*.bak"]\nworkers = 3\n')
    settings = load_settings()
    assert settings.config_file == path
    assert settings.catalogue == Path.home() / "photos.db"
    assert settings.scan.ignore == ("*.bak",) and settings.scan.workers == 3


def test_flags_win_over_the_file(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(f'catalogue = "{tmp_path}/a.db"\n[scan]\nworkers = 3\n')
    settings = load_settings(path, {"catalogue": str(tmp_path / "b.db"), "scan.workers": 1})
    assert settings.catalogue == tmp_path / "b.db" and settings.scan.workers == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[scan]\nworkers = 0\n",
            "scan.workers = 0 is not allowed: use a whole number from 1 to 64",
        ),
        ('[scan]\nworkers = "two"\n', "scan.workers = 'two' is not allowed"),
        ("[scan]\nworkers = true\n", "scan.workers = True is not allowed"),
        ('[scan]\nignore = "*.bak"\n', "scan.ignore = '*.bak' is not allowed: use a list"),
        ("[scan]\nhash_retries = -1\n", "scan.hash_retries = -1 is not allowed"),
        ("catalogue = 5\n", "catalogue = 5 is not allowed: use a file path in quotes"),
        ("[scan]\nwrokers = 2\n", "unknown setting 'scan.wrokers' (known settings: catalogue,"),
        ("[scan\nworkers = 2\n", "is not valid TOML"),
    ],
)
def test_bad_values_name_the_key_the_value_and_what_is_allowed(tmp_path, text, message):
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    assert message in str(raised.value)


def test_config_given_explicitly_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_bad_config_exits_2_with_one_clear_sentence(tmp_path, capsys):
    path = tmp_path / "config.toml"
    path.write_text("[scan]\nworkers = 0\n")
    assert main(["--config", str(path), "status"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("shootwatch: config error: scan.workers = 0 is not allowed")
    assert err.count("\n") == 1


def test_bad_flag_value_exits_2(tmp_path, capsys):
    assert main(["--db", str(tmp_path / "c.db"), "scan", "--workers", "0"]) == 2
    assert "scan.workers = 0 is not allowed" in capsys.readouterr().err


def test_a_mistake_in_the_file_names_the_file_and_the_line(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('catalogue = "~/a.db"\n\n[scan]\n# the workers\nworkers = 0\n')
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    assert str(raised.value) == (
        f"scan.workers = 0 is not allowed: use a whole number from 1 to 64 (in {path}, line 5)."
    )


def test_a_mistyped_setting_is_named_with_the_one_meant(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[watch]\nsettle_second = 3\n")
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    message = str(raised.value)
    assert message.startswith(f"{path}, line 2: unknown setting 'watch.settle_second'")
    assert message.endswith("did you mean 'watch.settle_seconds'?")


def test_a_section_that_is_not_a_table_says_so(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("scan = 4\n")
    with pytest.raises(ConfigError, match=r"line 1: scan must be a table: \[scan\]"):
        load_settings(path)


@pytest.mark.parametrize("key", [declared.key for declared in SETTINGS])
def test_every_setting_refuses_a_wrong_value_with_one_sentence(tmp_path, key):
    """A list of lists is no setting's value, and a number is no table."""
    table, _, name = key.rpartition(".")
    declared = next(d for d in SETTINGS if d.key == key)
    wrong = "5" if declared.is_table else "[[1]]"
    header = f"[{table}]\n" if table and not declared.is_table else ""
    line = f"{key} = {wrong}\n" if declared.is_table or not table else f"{name} = {wrong}\n"
    path = tmp_path / "config.toml"
    path.write_text(f"# mine\n{header}{line}")
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    message = str(raised.value)
    assert message.startswith(f"{key} ") and message.endswith(".")
    assert message.endswith(f"(in {path}, line {3 if header else 2}).")
    assert "\n" not in message


def test_flag_mistakes_say_they_came_from_the_command_line(tmp_path):
    with pytest.raises(ConfigError, match=r"use a whole number from 1 to 64 \(given on the"):
        load_settings(None, {"scan.workers": 0})


@pytest.mark.parametrize(
    "data",
    [
        "[scan]\nworkers = 2\n# caf\xe9\n".encode("latin-1"),
        b"\xff\xfe[\x00s\x00c\x00a\x00n\x00]\x00",  # saved as UTF-16
        b'catalogue = "\xc3"\n',  # cut inside a character
    ],
    ids=["latin-1", "utf-16", "cut"],
)
def test_a_settings_file_that_is_not_utf8_is_one_sentence(tmp_path, capsys, data):
    path = tmp_path / "config.toml"
    path.write_bytes(data)
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    message = str(raised.value)
    assert message.startswith(f"{path} is not UTF-8 text (line ")
    assert message.endswith("save it as UTF-8.")
    assert main(["--config", str(path), "--db", str(tmp_path / "c.db"), "status"]) == 2
    err = capsys.readouterr().err
    assert err == f"shootwatch: config error: {message}\n"


def test_an_ingest_destination_that_is_a_file_is_refused(tmp_path, capsys):
    destination = tmp_path / "Originals"
    destination.write_text("not a folder")
    path = tmp_path / "config.toml"
    path.write_text(f'[ingest]\ndestination = "{destination}"\n')
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    assert str(raised.value) == (
        f"ingest.destination = '{destination}' is a file, not a folder: name a folder (it is "
        f"created if it is not there) (in {path}, line 2)."
    )
    assert main(["--config", str(path), "--db", str(tmp_path / "c.db"), "status"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    # a folder, or one not made yet, is what it should be
    for folder in (tmp_path / "made", tmp_path / "not-yet"):
        if folder.name == "made":
            folder.mkdir()
        path.write_text(f'[ingest]\ndestination = "{folder}"\ninboxes = ["{tmp_path}"]\n')
        assert load_settings(path).ingest.destination == folder


def test_an_inbox_that_is_a_file_is_refused(tmp_path):
    inbox = tmp_path / "Inbox"
    inbox.write_bytes(b"")
    path = tmp_path / "config.toml"
    path.write_text(f'[ingest]\ninboxes = ["{tmp_path}", "{inbox}"]\n')
    with pytest.raises(ConfigError, match=r"ingest.inboxes = '.*Inbox' is a file, not a folder"):
        load_settings(path)


def test_the_readme_reference_is_a_settings_file_that_loads_as_shown(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(reference_toml())
    settings = load_settings(path)
    assert settings.scan.ignore == ("*.bak", "Exports/") and settings.scan.workers == 2
    assert settings.catalogue == Path.home() / ".local/share/shootwatch/catalogue.db"
    assert settings.ingest.destination == Path.home() / "Pictures/Originals"
    assert settings.stages.commands["export"][:2] == ("darktable-cli", "{src}")
    assert settings.tui.keys == {"approve": ("a", "p"), "reject": ("x", "r")}
    assert settings.darktable.data is None and settings.darktable.explicit


def test_what_shootwatch_config_prints_gives_the_same_settings_back(tmp_path, capsys):
    path = tmp_path / "config.toml"
    path.write_text(
        '[scan]\nignore = ["*.bak", "say \\"hi\\""]\nworkers = 3\n'
        "[ingest]\n"
        f'destination = "{tmp_path / "lib"}"\n'
        "[stages.commands]\n"
        'export = ["darktable-cli", "{src}", "{xmp}", "{out}"]\n'
        '[keys]\napprove = "p"\n'
    )
    assert main(["--config", str(path), "--db", str(tmp_path / "c.db"), "config"]) == 0
    printed = tmp_path / "printed.toml"
    printed.write_text(capsys.readouterr().out)
    first, again = load_settings(path), load_settings(printed)
    assert again.catalogue == tmp_path / "c.db"
    assert replace(again, config_file=None, catalogue=first.catalogue,
                   darktable=replace(again.darktable, explicit=False)) == replace(
        first, config_file=None)  # fmt: skip


@pytest.mark.parametrize(
    "given", ["--db", "SHOOTWATCH_DB", "config file"], ids=lambda given: f"from {given}"
)
def test_shootwatch_config_never_prints_a_catalogue_password(tmp_path, capsys, monkeypatch, given):
    url = "postgresql://shootwatch:s3cret-word@nas.local:5432/studio"
    path = tmp_path / "config.toml"
    path.write_text(f'catalogue = "{url}"\n' if given == "config file" else "")
    if given == "SHOOTWATCH_DB":
        monkeypatch.setenv("SHOOTWATCH_DB", url)
    options = ["--db", url] if given == "--db" else []
    assert main(["--config", str(path), *options, "config"]) == 0
    printed = capsys.readouterr().out
    assert "s3cret-word" not in printed
    assert 'catalogue = "postgresql://shootwatch@nas.local:5432/studio"' in printed
    assert "password is not shown" in printed


def test_each_section_default_is_its_declared_default():
    """The dataclasses and the declarations are one: a section made with no arguments holds
    every declared default, and the settings of no file are those."""
    settings = load_settings()
    for declared in SETTINGS:
        assert declared.value_in(Settings()) == declared.default(), declared.key
        assert declared.value_in(settings) == declared.default(), declared.key


def test_a_mistake_in_a_table_names_the_line_of_its_entry(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[keys]\napprove = "p"\n\nreject = 5\n')
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    assert str(raised.value).startswith("keys.reject = 5 is not allowed: use a key name")
    assert str(raised.value).endswith(f"(in {path}, line 4).")


def test_a_settings_file_saved_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xef\xbb\xbf[scan]\nworkers = 3\n")
    assert load_settings(path).scan.workers == 3
