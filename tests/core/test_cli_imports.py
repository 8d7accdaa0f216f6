"""What a command imports, as a whole process started the way a user starts it: read from
``python3 -X importtime -m core.cli ...``, which names every module the process imported.

``status`` and a ``scan`` that finds nothing changed pay for neither the app (Textual), the
image library (Pillow), a worker pool, the catalogue's migration steps, nor the modules of the
other subcommands; the settings do not pull in triage code."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import FIXTURES, REPO, command_settings, run_command

# Never on the path of a command that reads the catalogue or scans an unchanged tree: the app,
# the image libraries, every worker pool (the media pool, the scan's process pool and the
# multiprocessing machinery under both), the migration steps, the media pipeline, the engine.
NEVER_FOR_STATUS_OR_NO_CHANGE_SCAN = (
    "textual",
    "tui.app",
    "PIL",
    "numpy",
    "core.media.pool",
    "core.media.photos",
    "concurrent.futures.process",
    "multiprocessing",
    "playhouse.migrate",
    "core.engine.scheduler",
    "core.triage.bursts",
)
# Nor, for a scan that finds nothing changed, the ORM, or dataclasses and the inspect module it
# loads (7 ms): the settings and the scan's report are frozen records (core.records).
NEVER_FOR_NO_CHANGE_SCAN = ("peewee", "dataclasses", "inspect")
# On a server, the quick look reads the catalogue with its driver alone (psycopg, which loads
# dataclasses and inspect itself): neither the ORM, the store's models and dialects, nor the
# full scan.
NEVER_FOR_NO_CHANGE_SCAN_ON_A_SERVER = (
    "peewee",
    "core.store.models",
    "core.store.dialect",
    "core.scan.reconcile",
    "core.cli.scanning",
)
# The modules of the subcommands other than the one that runs.
OTHER_COMMANDS = ("core.cli.bursts", "core.cli.catalogue", "core.cli.darktable", "core.cli.demo",
                  "core.cli.ingest", "core.cli.service", "core.cli.stages", "core.cli.triage",
                  "core.store.copying")  # fmt: skip


def imported(*args: str, module: str = "core.cli") -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run ``python3 -X importtime -m MODULE ARGS``; its result and the modules it imported."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", module, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "core.config" in modules or module != "core.cli", result.stderr[-2000:]
    return result, modules


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """Which of ``names`` (or a module inside one of them) were imported."""
    return sorted(
        name for name in names if any(m == name or m.startswith(name + ".") for m in modules)
    )


def tree(library: Path, folders: int, files_per_folder: int) -> int:
    """Files that are not pictures, in dated folders; how many."""
    for folder in range(folders):
        where = library / "2024" / f"2024-{1 + folder // 28:02d}-{1 + folder % 28:02d}"
        where.mkdir(parents=True)
        for number in range(files_per_folder):
            (where / f"DSC_{number:04d}.NEF").write_bytes(b"%d %d" % (folder, number))
    return folders * files_per_folder


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    base = tmp_path_factory.mktemp("scanned")
    files = tree(base / "library", 12, 25)
    config = command_settings(base)
    assert run_command(config, "add", str(base / "library")).returncode == 0
    first = run_command(config, "scan")
    assert first.returncode == 0 and f"{files} added" in first.stdout, first.stderr
    return config, files


@pytest.mark.parametrize(
    "command", [("status",), ("status", "--json"), ("events", "--limit", "50")], ids=" ".join
)
def test_a_command_that_reads_imports_no_app_image_library_pool_or_migrations(scanned, command):
    config, _files = scanned
    result, modules = imported("--config", str(config), *command)
    assert result.returncode == 0, result.stderr[-2000:]
    assert loaded(modules, NEVER_FOR_STATUS_OR_NO_CHANGE_SCAN) == []
    running = "core.cli.service" if command[0] == "events" else None
    assert loaded(modules, tuple(m for m in OTHER_COMMANDS if m != running)) == []


@pytest.mark.parametrize("options", [(), ("--json",)], ids=["text", "json"])
def test_a_scan_of_an_unchanged_tree_imports_no_app_image_library_pool_or_migrations(
    scanned, options
):
    config, files = scanned
    result, modules = imported("--config", str(config), "scan", *options)
    assert result.returncode == 0, result.stderr[-2000:]
    said = result.stdout
    assert f"{files}" in said and ("0 added" in said or '"files_added": 0' in said), said
    assert loaded(modules, NEVER_FOR_STATUS_OR_NO_CHANGE_SCAN) == []
    assert loaded(modules, OTHER_COMMANDS) == []
    if not options:  # the JSON output is the full scan's
        assert loaded(modules, NEVER_FOR_NO_CHANGE_SCAN) == []


def test_a_scan_of_an_unchanged_tree_on_a_server_imports_no_orm_models_or_full_scan(
    tmp_path, postgres_server
):
    database = "unchanged_tree_imports"
    catalogue = postgres_server.create_database(database)
    try:
        files = tree(tmp_path / "library", 12, 25)
        config = command_settings(tmp_path)
        config.write_text(config.read_text().replace(
            f'"{tmp_path / "catalogue.db"}"', f'"{catalogue}"'))  # fmt: skip
        assert run_command(config, "add", str(tmp_path / "library")).returncode == 0
        first = run_command(config, "scan")
        assert first.returncode == 0 and f"{files} added" in first.stdout, first.stderr
        result, modules = imported("--config", str(config), "scan")
        assert result.returncode == 0, result.stderr[-2000:]
        assert f"{files} files scanned" in result.stdout and "0 added" in result.stdout
        assert "psycopg" in modules  # the catalogue was read, on its server
        assert loaded(modules, NEVER_FOR_STATUS_OR_NO_CHANGE_SCAN) == []
        assert loaded(modules, OTHER_COMMANDS) == []
        assert loaded(modules, NEVER_FOR_NO_CHANGE_SCAN_ON_A_SERVER) == []
    finally:
        postgres_server.drop_database(database)


def test_the_settings_import_no_triage_scan_or_store_code():
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import core.config"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    modules = {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines()
               if line.startswith("import time:")}  # fmt: skip
    assert "core.config.settings" in modules
    assert loaded(modules, ("core.triage", "core.store", "peewee", "pathspec")) == []


def test_a_catalogue_of_an_older_schema_is_still_upgraded_when_a_command_opens_it(tmp_path):
    """The other side of leaving the migration steps unloaded: a catalogue of schema 1 is
    brought forward by the first command that opens it."""
    from core.store.migrations import LATEST

    db = tmp_path / "old.db"
    old = sqlite3.connect(db)
    old.executescript((FIXTURES / "catalogue-v1.sql").read_text())
    old.close()
    result, modules = imported("--db", str(db), "status")
    assert result.returncode in (0, 1, 2) and "Traceback" not in result.stderr, result.stderr
    assert "playhouse.migrate" in modules
    connection = sqlite3.connect(db)
    try:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == LATEST
    finally:
        connection.close()


def test_a_first_scan_of_many_files_it_described_while_hashing_starts_no_media_workers(tmp_path):
    """Each new file is described as it is hashed: grouping them needs no worker to read
    them again, however many they are."""
    from core.cli.scanning import DESCRIBE_HERE_UP_TO

    files = tree(tmp_path / "library", 101, DESCRIBE_HERE_UP_TO // 100)
    assert files > DESCRIBE_HERE_UP_TO
    config = command_settings(tmp_path)
    assert run_command(config, "add", str(tmp_path / "library")).returncode == 0
    result, modules = imported("--config", str(config), "scan")
    assert result.returncode == 0 and f"{files:,} added" in result.stdout, result.stderr[-2000:]
    assert loaded(modules, ("core.media.pool",)) == []


DRIVER_LOADED = """
import sys
from core.cli import main
code = main(sys.argv[1:])
driver = sys.modules.get("psycopg")
print("psycopg loaded" if driver is not None else "psycopg not loaded", file=sys.stderr)
sys.exit(code)
"""


@pytest.mark.parametrize("command", [["status"], ["scan"], ["events", "--limit", "5"]])
def test_a_command_on_a_sqlite_catalogue_does_not_import_the_postgresql_driver(scanned, command):
    """peewee imports psycopg at its own import when it is installed (70 ms); a catalogue in
    a file never needs it (core.database_drivers)."""
    pytest.importorskip("psycopg", reason="the driver is what must stay unloaded")
    config, _files = scanned
    result = subprocess.run(
        [sys.executable, "-c", DRIVER_LOADED, "--config", str(config), *command],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr.strip().endswith("psycopg not loaded"), result.stderr[-2000:]


@pytest.mark.parametrize("command", ["status", "scan"])
def test_a_catalogue_on_a_server_without_the_driver_says_how_to_install_it(tmp_path, command):
    script = (
        "import sys\n"
        "sys.modules['psycopg'] = None  # as if the postgres extra were not installed\n"
        "from core.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, "--db", "postgresql://nobody@localhost/none", command],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "pip install 'shootwatch[postgres]'" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
