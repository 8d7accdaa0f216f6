"""Shared fixtures: isolated user folders, a real catalogue file, a library folder; and the
tests that need a camera sample only the full shared set has, left out where it is not here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.store import Catalogue, open_catalogue
from tests.helpers import camera_sample


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "camera_sample(name): needs this camera sample; a test whose sample is neither in "
        "tests/fixtures/camera nor in ../shared/fixtures/camera is not collected",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A fresh clone runs the tests it has the files for, and lists no others (no skips)."""
    absent = [
        item
        for item in items
        if any(camera_sample(mark.args[0]) is None for mark in item.iter_markers("camera_sample"))
    ]
    if absent:
        config.hook.pytest_deselected(items=absent)
        items[:] = [item for item in items if item not in absent]


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> None:
    """No test reads or writes the real user's config, data or cache folders."""
    home = tmp_path_factory.mktemp("home")
    for name, sub in (
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_CACHE_HOME", ".cache"),
    ):
        monkeypatch.setenv(name, str(home / sub))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SHOOTWATCH_CONFIG", raising=False)
    monkeypatch.delenv("SHOOTWATCH_DB", raising=False)


@pytest.fixture
def catalogue(tmp_path: Path) -> Iterator[Catalogue]:
    opened = open_catalogue(tmp_path / "catalogue" / "catalogue.db")
    yield opened
    opened.close()


@pytest.fixture
def library(tmp_path: Path) -> Path:
    path = tmp_path / "library"
    path.mkdir()
    return path
