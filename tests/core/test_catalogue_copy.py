"""``shootwatch catalogue copy SRC DST`` as whole processes, on a real catalogue (the demo's
photos scanned, darktable's library read, decisions made, undone and redone and written into
sidecars, stage jobs run into artifacts, an inbox ingested) and the private PostgreSQL server:
the round trip SQLite -> PostgreSQL -> SQLite keeps every row of every table with its id and
gives the same answers; a row added on the server after the copy gets a new id; what is
refused is refused in one sentence; a copy killed at any point leaves its destination empty,
and the next try works."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from peewee import BooleanField, CompositeKey

from core.catalogue_location import shown
from core.store.migrations import LATEST
from core.store.models import MODELS
from tests.helpers import (
    FIXTURES,
    REPO,
    command_settings,
    run_cli_without_file_permissions_bypass,
    run_command,
)
from tests.postgres_cluster import connect_directly

pytestmark = pytest.mark.usefixtures("postgres_server")

SHOOT = "photos/2024-11-16_city-night"  # the demo's night shoot, where decisions are made
DEADLINE_SECONDS = 120


def shootwatch(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``shootwatch ARGS`` as a whole process."""
    command = [sys.executable, "-m", "core.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=timeout)


def copy(source: Path | str, destination: Path | str, *options: str) -> subprocess.CompletedProcess:
    return shootwatch("catalogue", "copy", str(source), str(destination), *options)


def every_row(location: Path | str) -> dict[str, list[tuple]]:
    """Every table's rows, each with every column, in the order of its primary key, read by
    the test's own connection; booleans as booleans (SQLite keeps 0 and 1)."""
    connection = connect_directly(location)
    found = {}
    try:
        for model in MODELS:
            fields = model._meta.sorted_fields
            key = model._meta.primary_key
            order = (
                [model._meta.fields[name].column_name for name in key.field_names]
                if isinstance(key, CompositeKey)
                else [key.column_name]
            )
            columns = ", ".join(f'"{field.column_name}"' for field in fields)
            rows = connection.execute(
                f'SELECT {columns} FROM "{model._meta.table_name}" ORDER BY '
                + ", ".join(f'"{column}"' for column in order)
            ).fetchall()
            booleans = [i for i, field in enumerate(fields) if isinstance(field, BooleanField)]
            found[model._meta.table_name] = [
                tuple(
                    bool(value) if i in booleans and value is not None else value
                    for i, value in enumerate(row)
                )
                for row in rows
            ]
    finally:
        connection.close()
    return found


def tables_in(location: Path | str) -> set[str]:
    connection = connect_directly(location)
    try:
        if isinstance(location, str):
            rows = connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        else:
            rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {row[0] for row in rows}
    finally:
        connection.close()


def checksums(result: subprocess.CompletedProcess) -> dict[str, tuple[int, str]]:
    assert result.returncode == 0, result.stderr
    said = json.loads(result.stdout)
    return {table["table"]: (table["rows"], table["checksum"]) for table in said["tables"]}


@pytest.fixture(scope="module")
def shoot(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The demo's catalogue, culled: (its folder, its settings). Made once for the module."""
    folder = tmp_path_factory.mktemp("copy") / "demo"
    made = shootwatch("demo", str(folder), "--no-open")
    assert made.returncode == 0, made.stderr
    config = folder / "shootwatch.toml"
    config.write_text(config.read_text() + "\n[triage]\nwrite_sidecars = true\n")
    burst = sorted((folder / SHOOT).glob("*.JPG"))[:5]
    assert len(burst) == 5, burst
    sample = FIXTURES / "camera" / "apple_iphone5_orient3_gps.jpg"  # a real phone's photo
    shutil.copy(sample, folder / "inbox" / sample.name)
    an_hour_ago = time.time() - 3600  # settled: the inbox files it at once
    os.utime(folder / "inbox" / sample.name, (an_hour_ago, an_hour_ago))
    steps = [
        ("decide", str(burst[0]), "--reject"),
        ("decide", str(burst[1]), str(burst[2]), "--stars", "3"),
        ("decide", str(burst[3]), "--label", "red"),
        ("undo",),
        ("redo",),
        ("keep", str(burst[4])),
        ("undo",),
        ("redo",),
        ("decide", str(burst[1]), "--approve"),
        *(("run-stage", stage, "--photo", str(burst[1])) for stage in ("web", "thumb", "blurhash")),
        ("ingest",),
    ]
    for step in steps:
        done = shootwatch("--config", str(config), *step)
        assert done.returncode in (0, 1) and "Traceback" not in done.stderr, (step, done.stderr)
    rows = every_row(folder / "catalogue.db")
    for table in ("photo", "file", "decision", "sidecar_write", "event", "sync_run", "job",
                  "artifact", "darktable_image", "meta", "ingest_move"):  # fmt: skip
        assert rows[table], f"the culled demo has no {table} rows"
    return folder, config


def files_of(folder: Path) -> tuple[bytes, bytes]:
    """What the catalogue file and its write-ahead log hold (SQLite's shared-memory index
    beside them is made by any reader, and holds no data)."""
    log = folder / "catalogue.db-wal"
    return (folder / "catalogue.db").read_bytes(), log.read_bytes() if log.exists() else b""


def test_a_round_trip_through_postgresql_keeps_every_row_and_id_and_never_writes_the_source(
    shoot, tmp_path, catalogue_location, postgres_server
):
    folder, _config = shoot
    source = folder / "catalogue.db"
    before, rows = files_of(folder), every_row(source)
    there = copy(source, catalogue_location, "--json")
    back = copy(catalogue_location, tmp_path / "back.db", "--json")
    assert checksums(there) == checksums(back)
    assert there.stderr == back.stderr == ""  # --json: quiet
    assert every_row(catalogue_location) == rows
    assert every_row(tmp_path / "back.db") == rows
    assert files_of(folder) == before  # the source's files, byte for byte
    # Each said the tables it copied: every table of the catalogue, with its rows.
    assert checksums(there).keys() == rows.keys()
    assert {table: n for table, (n, _) in checksums(there).items()} == {
        table: len(found) for table, found in rows.items()
    }


@pytest.fixture
def catalogue_backend() -> str:
    return "postgresql"


APP_QUERIES = [
    ("events", "--json", "--limit", "10000"),
    ("history", "--json"),
    ("jobs", "--json"),
    ("stages", "--json"),
    ("bursts", "--json"),
    ("report", "artifacts", "--json"),
    ("show", f"{SHOOT}/DSC_0102.JPG", "--json"),
    ("show", f"{SHOOT}/DSC_0105.JPG", "--json"),
]


def test_the_app_facing_queries_answer_the_same_on_the_source_and_each_copy(
    shoot, tmp_path, catalogue_location
):
    folder, config = shoot
    source = folder / "catalogue.db"
    for copied in (
        copy(source, catalogue_location),
        copy(catalogue_location, tmp_path / "back.db"),
    ):
        assert copied.returncode == 0, copied.stderr
        assert (
            f"rows in {len(MODELS)} tables" in copied.stdout
            and "each table verified" in copied.stdout
        )

    def answers(location: Path | str) -> list[tuple[int, str]]:
        said = []
        for query in APP_QUERIES:
            query = tuple(str(folder / word) if word.startswith(SHOOT) else word for word in query)
            done = shootwatch("--config", str(config), "--db", str(location), *query)
            assert "Traceback" not in done.stderr, (query, done.stderr)
            said.append((done.returncode, done.stdout))
        return said

    on_source = answers(source)
    assert all(code == 0 and out.strip() for code, out in on_source), on_source
    assert answers(catalogue_location) == on_source
    assert answers(tmp_path / "back.db") == on_source


def test_a_row_added_on_the_server_after_the_copy_gets_an_id_of_its_own(shoot, catalogue_location):
    folder, config = shoot
    assert copy(folder / "catalogue.db", catalogue_location).returncode == 0
    copied = every_row(catalogue_location)
    photo = folder / SHOOT / "DSC_0101.JPG"
    (folder / "second-card").mkdir(exist_ok=True)
    for step in (("decide", str(photo), "--stars", "5"), ("add", str(folder / "second-card")),
                 ("undo",)):  # fmt: skip
        done = shootwatch("--config", str(config), "--db", catalogue_location, *step)
        assert done.returncode == 0, (step, done.stderr)
    now = every_row(catalogue_location)
    grown = {table for table in now if len(now[table]) > len(copied[table])}
    assert grown >= {"decision", "root"}, grown
    for table in grown:
        ids = [row[0] for row in now[table]]
        assert len(ids) == len(set(ids)), table
        assert min(ids[len(copied[table]) :]) == max(row[0] for row in copied[table]) + 1


def _catalogue_with_rows(location: Path | str, library: Path) -> None:
    library.mkdir(exist_ok=True)
    done = shootwatch("--db", str(location), "add", str(library))
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    "case",
    ["file not empty", "server not empty", "missing source", "not a catalogue", "empty file",
     "other program's database", "older schema", "bad scheme", "no such database",
     "same file"],
)  # fmt: skip
def test_what_cannot_be_copied_is_refused_in_one_sentence(
    shoot, tmp_path, catalogue_location, postgres_server, case
):
    folder, _config = shoot
    source: Path | str = folder / "catalogue.db"
    destination: Path | str = tmp_path / "copy.db"
    said = {
        "file not empty": "is not empty (a catalogue holding",
        "server not empty": "is not empty (a catalogue holding",
        "missing source": "there is no catalogue at",
        "not a catalogue": "is not a shootwatch catalogue",
        "empty file": "is not a shootwatch catalogue",
        "other program's database": "is not a shootwatch catalogue",
        "older schema": f"older than this shootwatch's ({LATEST})",
        "bad scheme": "is neither a file's path nor a postgresql:// URL",
        "no such database": "cannot open",
        "same file": "are the same catalogue",
    }[case]
    if case == "file not empty":
        _catalogue_with_rows(destination, tmp_path / "library")
    elif case == "server not empty":
        destination = catalogue_location
        _catalogue_with_rows(destination, tmp_path / "library")
    elif case == "missing source":
        source = tmp_path / "nothing.db"
    elif case == "not a catalogue":
        source = tmp_path / "notes.txt"
        source.write_text("not a database at all\n" * 100)
    elif case == "empty file":
        source = tmp_path / "empty.db"
        source.touch()
    elif case == "other program's database":
        source = tmp_path / "other.db"
        other = sqlite3.connect(source)
        other.execute("CREATE TABLE songs (title TEXT)")
        other.commit()
        other.close()
    elif case == "older schema":
        source = tmp_path / "old.db"
        old = sqlite3.connect(source)
        old.executescript((FIXTURES / "catalogue-v1.sql").read_text())
        old.close()
    elif case == "bad scheme":
        destination = "mysql://someone@somewhere/photos"
    elif case == "no such database":
        destination = catalogue_location.rsplit("/", 1)[0] + "/no_such_database"
    elif case == "same file":
        destination = source
    before = every_row(destination) if case.endswith("not empty") else None
    kept = source.read_bytes() if isinstance(source, Path) and source.exists() else None
    result = copy(source, destination)
    assert result.returncode == 2, result.stdout
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert said in result.stderr, result.stderr
    if before is not None:
        assert every_row(destination) == before
    elif case != "same file" and isinstance(destination, Path):
        assert not destination.exists()  # nothing made where a copy would have gone
    if kept is not None:
        assert source.read_bytes() == kept


@pytest.mark.parametrize("back_end", ["sqlite", "postgresql"])
def test_a_source_with_an_engine_running_is_refused(tmp_path, postgres_server, back_end):
    base = tmp_path / "engine"
    base.mkdir()
    (base / "library").mkdir()
    config = command_settings(base)
    source: Path | str = base / "catalogue.db"
    if back_end == "postgresql":
        source = postgres_server.create_database(f"engine_{os.getpid()}_{time.monotonic_ns()}")
        config.write_text(config.read_text().replace(f'"{base / "catalogue.db"}"', f'"{source}"'))
    assert run_command(config, "add", str(base / "library")).returncode == 0
    engine = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "--config", str(config), "run"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,  # its workers in its own group, ended with it below
    )  # fmt: skip
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while f"engine running (pid {engine.pid})" not in run_command(config, "status").stdout:
            assert time.monotonic() < deadline and engine.poll() is None, "no engine started"
            time.sleep(0.2)
        result = copy(source, tmp_path / "copy.db")
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert f"an engine runs on {shown(source)} (pid {engine.pid})" in result.stderr
        assert not (tmp_path / "copy.db").exists()
    finally:
        engine.terminate()
        engine.wait(timeout=DEADLINE_SECONDS)
        with contextlib.suppress(ProcessLookupError):  # a worker it left (stopped as it began)
            os.killpg(engine.pid, signal.SIGKILL)
    # With the engine stopped, the same copy is made.
    assert copy(source, tmp_path / "copy.db").returncode == 0


def test_a_copy_that_does_not_read_back_the_same_is_not_committed(
    shoot, tmp_path, catalogue_location
):
    """SQLite keeps bytes in a text column if asked; PostgreSQL's text cannot hold them: the
    copy of that table does not match, is said by name, and nothing is left on the server."""
    folder, _config = shoot
    source = tmp_path / "bytes.db"
    shutil.copy(folder / "catalogue.db", source)
    with sqlite3.connect(source) as changed:
        changed.execute("UPDATE photo SET camera_model = X'4e696b6f6e' WHERE id = 1")
    result = copy(source, catalogue_location)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "the copy of table photo does not match its source" in result.stderr, result.stderr
    assert tables_in(catalogue_location) == set()
    # The same bytes copy into a SQLite file as they are.
    assert copy(source, tmp_path / "copy.db").returncode == 0
    assert every_row(tmp_path / "copy.db") == every_row(source)


# --- a copy cut short -------------------------------------------------------------------------

BIG_FOLDERS, FILES_PER_FOLDER = 60, 500  # 30,000 files: a copy that lasts long enough to cut


@pytest.fixture(scope="module")
def big_catalogue(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("big")
    for folder in range(BIG_FOLDERS):
        where = base / "library" / f"2024-{1 + folder // 28:02d}-{1 + folder % 28:02d}"
        where.mkdir(parents=True)
        for number in range(FILES_PER_FOLDER):
            (where / f"DSC_{number:04d}.NEF").write_bytes(b"%d %d" % (folder, number))
    config = command_settings(base)
    assert run_command(config, "add", str(base / "library")).returncode == 0
    scanned = run_command(config, "scan")
    assert scanned.returncode in (0, 1), scanned.stderr
    return base / "catalogue.db"


def _interrupt_as_at_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class CopyOnATerminal:
    """``shootwatch catalogue copy SRC DST`` started with its progress on a terminal (a pty),
    read as it goes."""

    def __init__(self, source: Path, destination: Path | str) -> None:
        self._leader, follower = pty.openpty()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "core.cli", "catalogue", "copy", str(source), str(destination)],
            cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=follower,
            # Ctrl-C as at a terminal, even under a test run started in the background (which
            # ignores SIGINT, as its children then would: the copy would not be cut).
            preexec_fn=_interrupt_as_at_a_terminal,
        )  # fmt: skip
        os.close(follower)
        self._said = b""

    def wait_for(self, step: str, table: str, rows: int) -> None:
        """Until the copy says it has reached ``step`` of ``table`` with ``rows`` rows done."""
        deadline = time.monotonic() + DEADLINE_SECONDS
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self._leader], [], [], 1)
            if ready:
                with contextlib.suppress(OSError):  # the command ended and closed its terminal
                    self._said += os.read(self._leader, 65536)
            lines = self._said.decode(errors="replace").split("\r")
            if any(_reached(line, step, table, rows) for line in lines):
                return
            assert self.process.poll() is None, f"ended before {step} {table}: {self._said!r}"
        raise AssertionError(f"the copy never said {step} {table}: {self._said!r}")

    def wait(self) -> int:
        return self.process.wait(timeout=DEADLINE_SECONDS)

    def everything_said(self) -> str:
        """All it wrote on its terminal, once it has ended."""
        while select.select([self._leader], [], [], 1)[0]:
            try:
                chunk = os.read(self._leader, 65536)
            except OSError:  # its terminal is closed: all is read
                break
            if not chunk:
                break
            self._said += chunk
        return self._said.decode(errors="replace")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self._leader)


def copy_cut_short(source: Path, destination: Path | str, step: str, table: str, rows: int,
                   how: int) -> int:  # fmt: skip
    """Start the copy; when it says it has reached ``step`` of ``table`` with at least
    ``rows`` rows done, send it ``how``. Its exit status.

    The copy is stopped (SIGSTOP) the moment its line is read, and cut only if it has not
    committed yet: on a loaded machine this process can read the line so late that the copy
    has finished meanwhile, which would test nothing. Then the destination is emptied and
    the copy tried again."""
    for _ in range(3):
        copying = CopyOnATerminal(source, destination)
        try:
            copying.wait_for(step, table, rows)
            copying.process.send_signal(signal.SIGSTOP)
            if not tables_in(destination):  # another connection sees nothing committed
                copying.process.send_signal(how)
                copying.process.send_signal(signal.SIGCONT)
                return copying.wait()
            copying.process.send_signal(signal.SIGCONT)
            copying.wait()
        finally:
            copying.close()
        empty(destination)
    raise AssertionError(f"the copy finished before it could be cut at {step} {table}, 3 times")


def empty(location: Path | str) -> None:
    """Take away a catalogue the copy made, so that it can be made again."""
    if isinstance(location, str):
        connection = connect_directly(location)
        try:
            connection.execute("DROP SCHEMA public CASCADE")
            connection.execute("CREATE SCHEMA public")
        finally:
            connection.close()
        return
    for path in (location, Path(f"{location}-wal"), Path(f"{location}-shm")):
        path.unlink(missing_ok=True)


def _reached(line: str, step: str, table: str, rows: int) -> bool:
    prefix = f"{step} {table}: "
    if not line.startswith(prefix):
        return False
    return int(line[len(prefix) :].split(" of ")[0].replace(",", "")) >= rows


@pytest.mark.parametrize("destination_kind", ["sqlite", "postgresql"])
@pytest.mark.parametrize(
    ("step", "table", "rows", "how"),
    [
        ("copying", "photo", 0, signal.SIGKILL),
        ("copying", "file", 0, signal.SIGKILL),
        ("copying", "file", 10_000, signal.SIGKILL),
        ("verifying", "photo", 0, signal.SIGKILL),
        ("verifying", "file", 0, signal.SIGKILL),
        ("copying", "file", 5_000, signal.SIGINT),
        ("verifying", "file", 0, signal.SIGTERM),
    ],
    ids=lambda value: getattr(value, "name", str(value)),
)
def test_a_copy_cut_short_leaves_its_destination_empty_and_a_second_try_works(
    big_catalogue, tmp_path, catalogue_location, destination_kind, step, table, rows, how
):
    destination = catalogue_location if destination_kind == "postgresql" else tmp_path / "c.db"
    status = copy_cut_short(big_catalogue, destination, step, table, rows, how)
    assert status == (130 if how == signal.SIGINT else -how), status
    if isinstance(destination, str) or destination.exists():
        assert tables_in(destination) == set()
    again = copy(big_catalogue, destination, "--json")
    assert checksums(again)["file"][0] == BIG_FOLDERS * FILES_PER_FOLDER
    assert every_row(destination) == every_row(big_catalogue)


@pytest.mark.parametrize("destination_kind", ["sqlite", "postgresql"])
def test_no_engine_starts_on_either_catalogue_while_the_copy_runs(
    big_catalogue, tmp_path, catalogue_location, destination_kind
):
    destination = catalogue_location if destination_kind == "postgresql" else tmp_path / "c.db"
    copying = CopyOnATerminal(big_catalogue, destination)
    try:
        copying.wait_for("copying", "file", 5_000)
        copying.process.send_signal(signal.SIGSTOP)  # held there while the engines try
        catalogues = [big_catalogue] + ([destination] if destination_kind == "sqlite" else [])
        for catalogue in catalogues:
            engine = shootwatch("--db", str(catalogue), "run", timeout=DEADLINE_SECONDS)
            assert engine.returncode == 2, engine.stderr
            assert f"an engine already runs on this catalogue (pid {copying.process.pid})" in (
                engine.stderr
            )
        copying.process.send_signal(signal.SIGCONT)
        assert copying.wait() == 0
    finally:
        copying.close()
    assert every_row(destination) == every_row(big_catalogue)


@pytest.mark.parametrize("log", ["no log", "log with changes"])
def test_a_source_in_a_folder_no_one_can_write_is_copied_or_refused_in_one_sentence(
    shoot, tmp_path, log
):
    """A catalogue on a snapshot or a mounted backup: read as it is on disk, unless a
    write-ahead log beside it holds rows SQLite cannot read there."""
    folder, _config = shoot
    frozen = tmp_path / "snapshot"
    frozen.mkdir()
    writer = sqlite3.connect(folder / "catalogue.db")  # open while copied: its log stays
    try:
        if log == "log with changes":
            writer.execute("PRAGMA wal_autocheckpoint = 0")
            writer.execute("UPDATE photo SET rating = 5 WHERE id = 1")
            writer.commit()
        for name in ("catalogue.db", "catalogue.db-wal"):
            if (folder / name).exists():
                shutil.copy(folder / name, frozen / name)
    finally:
        if log == "log with changes":  # the module's catalogue as it was
            writer.execute("UPDATE photo SET rating = 0 WHERE id = 1")
            writer.commit()
        writer.close()
    expected = every_row(frozen / "catalogue.db") if log == "no log" else None
    for path in (*frozen.iterdir(), frozen):
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        result = run_cli_without_file_permissions_bypass(
            "catalogue", "copy", str(frozen / "catalogue.db"), str(tmp_path / "copy.db")
        )
    finally:
        frozen.chmod(0o755)
    assert "Traceback" not in result.stderr, result.stderr
    if log == "no log":
        assert result.returncode == 0, result.stderr
        assert every_row(tmp_path / "copy.db") == expected
    else:
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
        assert "its write-ahead log (catalogue.db-wal) holds changes" in result.stderr
        assert not (tmp_path / "copy.db").exists()


def test_a_database_whose_tables_a_first_command_made_is_empty_enough(shoot, catalogue_location):
    """A first command on the new database made its tables, with no rows: the copy goes in."""
    folder, _config = shoot
    made = shootwatch("--db", catalogue_location, "roots")
    assert made.returncode == 0, made.stderr
    assert "photo" in tables_in(catalogue_location)
    copied = copy(folder / "catalogue.db", catalogue_location)
    assert copied.returncode == 0, copied.stderr
    assert every_row(catalogue_location) == every_row(folder / "catalogue.db")


def _cut_off_from_the_server(database_url: str) -> int:
    """End every other connection to the database (as a server restart or a network cut
    would, for them); how many."""
    database = database_url.rsplit("/", 1)[1]
    admin = connect_directly(database_url.rsplit("/", 1)[0] + "/postgres")
    try:
        return len(
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            ).fetchall()
        )
    finally:
        admin.close()


@pytest.mark.parametrize("server_side", ["destination", "source"])
def test_a_copy_cut_off_from_its_server_says_so_and_leaves_its_destination_empty(
    big_catalogue, tmp_path, catalogue_location, server_side
):
    if server_side == "destination":
        source, destination = big_catalogue, catalogue_location
    else:
        assert copy(big_catalogue, catalogue_location).returncode == 0
        source, destination = catalogue_location, tmp_path / "c.db"
    copying = CopyOnATerminal(source, destination)
    try:
        copying.wait_for("copying", "file", 5_000)
        copying.process.send_signal(signal.SIGSTOP)
        assert _cut_off_from_the_server(catalogue_location) >= 1
        copying.process.send_signal(signal.SIGCONT)
        assert copying.wait() == 2
        terminal = copying.everything_said().replace("\r\n", "\n")
    finally:
        copying.close()
    # After the progress line (rewritten with carriage returns): one sentence.
    said = terminal.rsplit("\r", 1)[-1].strip()
    assert "Traceback" not in terminal and said.count("\n") == 0, terminal
    assert said.startswith("shootwatch: error: copying table file from"), said
    assert f"nothing was committed to {shown(destination)}: run the copy again" in said, said
    if server_side == "destination":
        assert tables_in(destination) == set()
    else:
        assert not destination.exists()
    again = copy(source, destination, "--json")
    assert checksums(again)["file"][0] == BIG_FOLDERS * FILES_PER_FOLDER
    assert every_row(destination) == every_row(big_catalogue)
