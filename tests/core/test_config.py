"""Settings: defaults with no file, the TOML file, flags over it, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.cli import main
from core.config import ConfigError, default_catalogue_path, default_config_path, load_settings


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
