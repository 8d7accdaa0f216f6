"""Shared fixtures: isolated user folders, a real catalogue (a SQLite file, or a database on a
private PostgreSQL server for the tests parametrised over ``catalogue_backend``), a library
folder."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.store import Catalogue, open_catalogue
from tests import postgres_cluster


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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[postgres_cluster.PostgresCluster]:
    """One private PostgreSQL server for the whole run, stopped and removed at its end."""
    why = postgres_cluster.why_unavailable()
    if why is not None:
        if postgres_cluster.required():
            pytest.fail(f"SHOOTWATCH_REQUIRE_POSTGRES=1 but {why}")
        pytest.skip(why)
    cluster = postgres_cluster.PostgresCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


_databases = itertools.count(1)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked ``both_backends`` (postgres_cluster.BOTH_BACKENDS) that uses the
    catalogue runs on each back end, unless it names its back ends itself."""
    if metafunc.definition.get_closest_marker("both_backends") is None:
        return
    if "catalogue_backend" not in metafunc.fixturenames:
        return
    for mark in metafunc.definition.iter_markers("parametrize"):
        if "catalogue_backend" in str(mark.args[0]):
            return
    metafunc.parametrize("catalogue_backend", postgres_cluster.BACKENDS)


@pytest.fixture
def catalogue_backend() -> str:
    """The catalogue's back end: SQLite unless a test is parametrised over
    ``postgres_cluster.BOTH_BACKENDS``."""
    return "sqlite"


@pytest.fixture
def catalogue_location(
    request: pytest.FixtureRequest, tmp_path: Path, catalogue_backend: str
) -> Iterator[Path | str]:
    """Where the test's catalogue is: a file in tmp_path, or a new database of its own on the
    private PostgreSQL server (dropped after the test)."""
    if catalogue_backend == "sqlite":
        yield tmp_path / "catalogue" / "catalogue.db"
        return
    yield from _server_database(request)


@pytest.fixture(scope="module", params=postgres_cluster.BACKENDS)
def shared_catalogue_location(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """A catalogue a module's tests share, on each back end in turn: None (SQLite: a file
    where the module's helper puts it) or a new database on the private server, dropped
    after the module."""
    if request.param == "sqlite":
        yield None
        return
    yield from _server_database(request)


def _server_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """A new database on the private PostgreSQL server, dropped when the fixture ends."""
    server = request.getfixturevalue("postgres_server")
    name = f"catalogue_{next(_databases)}"
    url = server.create_database(name)
    try:
        yield url
    finally:
        server.drop_database(name)


@pytest.fixture
def catalogue(catalogue_location: Path | str) -> Iterator[Catalogue]:
    opened = open_catalogue(catalogue_location)
    yield opened
    opened.close()


@pytest.fixture
def library(tmp_path: Path) -> Path:
    path = tmp_path / "library"
    path.mkdir()
    return path
