"""``shootwatch scan`` of a library where nothing changed is told without the ORM
(core.cli.unchanged_scan), and says and records exactly what the full scan does, with its
catalogue in a SQLite file and on a PostgreSQL server.

Two identical libraries, each with its own catalogue, get the same change; ``scan`` runs on
one (where the quick look may answer) and ``scan ROOT`` on the other (always the full scan),
both as whole processes. Their exit codes, what they print and what they leave in the
catalogue (the files, the run in history, the root's state) must be the same: a quick look
that called a changed library unchanged would print "0 added" where the full scan prints
"1 added". Each kind of change, in a small library and in one of 10,000 files (whose walk
is shared with a second process), on each back end.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.catalogue_location import is_server
from core.engine.lock import EngineLock
from core.store.server_catalogue import postgres_placeholders
from tests.helpers import REPO, command_settings, run_command
from tests.postgres_cluster import (
    BACKENDS,
    BOTH_BACKENDS,
    PostgresCluster,
    catalogue_rows,
    connect_directly,
)

# Runs ``shootwatch ARGS`` as the installed script does and says whether peewee was loaded,
# and whether the quick look was tried (its module imported).
SAYS_WHETHER_PEEWEE = """
import sys
sys.argv = ["shootwatch", *sys.argv[1:]]
from tui.launch import main
code = main()
print("peewee loaded" if "peewee" in sys.modules else "peewee not loaded", file=sys.stderr)
looked = "core.cli.unchanged_scan" in sys.modules
print("quick look tried" if looked else "quick look not tried", file=sys.stderr)
sys.exit(code)
"""
SIZES = {"small": (3, 10), "10k": (100, 100)}  # folders, files in each
_databases = itertools.count(1)  # the server's databases of this module, each named anew


def whole_scan(config: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", SAYS_WHETHER_PEEWEE, "--config", str(config), "scan", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=600)


def build(library: Path, folders: int, files: int) -> None:
    for folder in range(folders):
        where = library / "2024" / f"2024-{1 + folder // 28:02d}-{1 + folder % 28:02d}"
        where.mkdir(parents=True)
        for number in range(files):
            (where / f"DSC_{number:04d}.NEF").write_bytes(b"%d %d" % (folder, number))


def settings_for(base: Path, catalogue: Path | str) -> Path:
    """The settings of a library in ``base`` whose catalogue is ``catalogue`` (a file's path or
    a server's URL)."""
    config = command_settings(base)
    config.write_text(config.read_text().replace(
        f'"{base / "catalogue.db"}"', f'"{catalogue}"'))  # fmt: skip
    return config


class Library:
    """A library and its own catalogue (a file in ``base``, or ``catalogue``: a database on a
    server), as the person has them."""

    def __init__(
        self, base: Path, folders: int, files: int, catalogue: Path | str | None = None
    ) -> None:
        base.mkdir()
        self.path = base / "library"
        self.catalogue = catalogue or base / "catalogue.db"
        self.config = settings_for(base, self.catalogue)
        build(self.path, folders, files)
        assert run_command(self.config, "add", str(self.path)).returncode == 0
        first = run_command(self.config, "scan")
        assert first.returncode == 0, first.stderr

    def query(self, sql: str, args: tuple = ()) -> list[tuple]:
        rows = catalogue_rows(self.catalogue, sql, args)
        assert rows is not None, f"no catalogue at {self.catalogue}"
        return rows

    def execute(self, sql: str, args: tuple = ()) -> None:
        """Change the catalogue as another program would (``?`` placeholders)."""
        with contextlib.closing(connect_directly(self.catalogue)) as db:
            db.execute(postgres_placeholders(sql) if is_server(self.catalogue) else sql, args)

    def state(self) -> dict:
        """What a scan leaves in the catalogue, without times and ids."""
        (run,) = self.query(
            "SELECT kind, status, files_scanned, files_added, files_updated, files_moved,"
            " files_removed, files_hashed, files_unreadable, bytes_hashed, error IS NULL"
            " FROM sync_run ORDER BY id DESC LIMIT 1"
        )
        (root,) = self.query("SELECT state, state_reason, device, mount_point FROM root")
        events = self.query("SELECT kind, path FROM event ORDER BY id")
        return {
            # Sizes and contents (a file added in each copy has its own time).
            "files": sorted(self.query("SELECT rel_path, size, blake3 FROM file")),
            "last run": run,
            "runs": self.query("SELECT count(*) FROM sync_run")[0][0],
            "root": (root[0], _without(root[1], self.path), root[2], _without(root[3], self.path)),
            "events": [(kind, _without(path, self.path)) for kind, path in events],
        }


def _without(text: str | None, path: Path) -> str | None:
    return None if text is None else text.replace(str(path), "LIBRARY")


def said(result: subprocess.CompletedProcess, library: Library) -> tuple:
    """What a scan printed, without its root's path and its times."""

    def plain(text: str) -> str:
        text = _without(text, library.path)
        text = re.sub(r"scanned in [0-9.]+ s", "scanned in T", text)
        said_by_the_test = ("peewee", "quick look")
        return "\n".join(
            line for line in text.splitlines() if not line.startswith(said_by_the_test)
        )

    return result.returncode, plain(result.stdout), plain(result.stderr)


def touch_mtime(library: Path) -> None:
    path = library / "2024" / "2024-01-02" / "DSC_0003.NEF"
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))


def rewrite_same_size(library: Path) -> None:
    path = library / "2024" / "2024-01-01" / "DSC_0001.NEF"
    path.write_bytes(bytes(reversed(path.read_bytes())))


def rewrite_same_size_and_mtime(library: Path) -> None:
    # Size and mtime kept: the full scan compares these and sees nothing; so must the quick one.
    path = library / "2024" / "2024-01-01" / "DSC_0002.NEF"
    st = path.stat()
    path.write_bytes(bytes(reversed(path.read_bytes())))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def add(library: Path) -> None:
    (library / "2024" / "2024-01-03" / "DSC_9999.NEF").write_bytes(b"new photo")


def add_ignored(library: Path) -> None:
    (library / "2024" / "2024-01-03" / "DSC_0001.NEF.part").write_bytes(b"half a copy")
    (library / "2024" / ".thumbnails").mkdir(exist_ok=True)


def add_unstorable_name(library: Path) -> None:
    with open(os.fsencode(library / "2024") + b"/bad\xffname.NEF", "wb") as file:
        file.write(b"bytes")


def add_in_both_halves(library: Path) -> None:
    # A shared walk gives the first of the folders to share to this process, the second to
    # the forked one (core.cli.unchanged_scan._walk_shared): a new file in each.
    for folder in ("2024-01-01", "2024-01-02"):
        (library / "2024" / folder / "DSC_8888.NEF").write_bytes(b"new in " + folder.encode())


def remove(library: Path) -> None:
    (library / "2024" / "2024-01-02" / "DSC_0004.NEF").unlink()


def rename(library: Path) -> None:
    folder = library / "2024" / "2024-01-01"
    (folder / "DSC_0005.NEF").rename(folder / "renamed.NEF")


def rename_folder(library: Path) -> None:
    (library / "2024" / "2024-01-02").rename(library / "2024" / "2024-01-02 renamed")


def add_empty_folder(library: Path) -> None:
    (library / "2024" / "empty").mkdir()


def empty_the_root(library: Path) -> None:
    shutil.rmtree(library / "2024")


def remove_the_root(library: Path) -> None:
    shutil.rmtree(library)


def nothing(library: Path) -> None:
    pass


def unmounted(library: Library) -> None:
    """Recorded as if the root's folder had been a drive's mount point: it is not now."""
    library.execute("UPDATE root SET device = '0:999', mount_point = path")


def another_drive(library: Library) -> None:
    """Recorded on another device at the same mount point (the drive numbered anew)."""
    library.execute("UPDATE root SET device = '0:999'")


def offline_before(library: Library) -> None:
    library.execute("UPDATE root SET state = 'offline', state_reason = 'drive not mounted'")


def unreadable_before(library: Library) -> None:
    """A folder the last run could not read: the full scan reads it again and clears it."""
    library.execute(
        "INSERT INTO unreadable_folder (root_id, rel_path, reason, seen_at)"
        " SELECT id, '2024/2024-01-01', 'permission denied', 1.0 FROM root"
    )


def media_work_waiting(library: Library) -> None:
    """A file the media pipeline has not described: the full scan describes it."""
    library.execute("UPDATE file SET format = NULL WHERE id = (SELECT min(id) FROM file)")


CHANGES_ON_DISK = [nothing, touch_mtime, rewrite_same_size, rewrite_same_size_and_mtime, add,
                   add_ignored, add_unstorable_name, add_in_both_halves, remove, rename,
                   rename_folder, add_empty_folder, empty_the_root, remove_the_root]  # fmt: skip
CHANGES_IN_THE_CATALOGUE = [unmounted, another_drive, offline_before, unreadable_before,
                            media_work_waiting]  # fmt: skip
# Where nothing changed (or only what the scan leaves out), the quick look answers alone.
ANSWERED_WITHOUT_THE_ORM = {nothing, rewrite_same_size_and_mtime, add_ignored, add_empty_folder}


class Pristine:
    """A library and its catalogue after the first scan, kept to copy for each change: in
    ``base``, its catalogue a file there or (``server``) the database ``database``."""

    def __init__(self, base: Path, server: PostgresCluster | None, database: str | None):
        self.base, self.server, self.database = base, server, database


@pytest.fixture(
    scope="module",
    params=[(size, backend) for backend in BACKENDS for size in SIZES],
    ids=lambda param: "-".join(param),
)
def pristine(request, tmp_path_factory) -> Pristine:
    size, backend = request.param
    base = tmp_path_factory.mktemp(f"pristine-{size}-{backend}")
    server, database, catalogue = None, None, None
    if backend == "postgresql":
        server = request.getfixturevalue("postgres_server")
        database = f"pristine_{next(_databases)}"
        catalogue = server.create_database(database)
        request.addfinalizer(functools.partial(server.drop_database, database))
    Library(base / "made", *SIZES[size], catalogue)
    return Pristine(base / "made", server, database)


def two_copies(
    pristine: Pristine, tmp_path: Path, request: pytest.FixtureRequest
) -> tuple[Library, Library]:
    """Two copies of the pristine library, each with its own catalogue (on a server, a
    database copied from the pristine one)."""
    copies = []
    for name in ("quick", "full"):
        base = tmp_path / name
        shutil.copytree(pristine.base, base, symlinks=True)
        library = Library.__new__(Library)
        library.path, library.catalogue = base / "library", base / "catalogue.db"
        if pristine.server is not None:
            database = f"{name}_{next(_databases)}"
            library.catalogue = pristine.server.create_database(
                database, f'TEMPLATE "{pristine.database}"'
            )
            request.addfinalizer(functools.partial(pristine.server.drop_database, database))
        library.config = settings_for(base, library.catalogue)
        # The copy's own root, on the same drive.
        library.execute("UPDATE root SET path = ?", (str(library.path),))
        copies.append(library)
    return copies[0], copies[1]


def scan_both(quick: Library, full: Library) -> tuple[subprocess.CompletedProcess, ...]:
    """``scan`` of the quick copy, ``scan ROOT`` (the full scan, always) of the other."""
    return whole_scan(quick.config), whole_scan(full.config, str(full.path))


@pytest.mark.parametrize("change", CHANGES_ON_DISK, ids=lambda change: change.__name__)
def test_a_change_on_disk_is_told_as_the_full_scan_tells_it(pristine, tmp_path, request, change):
    quick, full = two_copies(pristine, tmp_path, request)
    # Settled first (the copy's files have new times, the roots a new path): both alike.
    for library in (quick, full):
        settled = run_command(library.config, "scan", str(library.path))
        assert settled.returncode == 0, settled.stderr
    before = quick.state()["runs"]
    change(quick.path)
    change(full.path)
    quick_scan, full_scan = scan_both(quick, full)
    assert "Traceback" not in quick_scan.stderr + full_scan.stderr, quick_scan.stderr
    assert said(quick_scan, quick) == said(full_scan, full)
    assert quick.state() == full.state()
    assert quick.state()["runs"] == before + 1
    assert "quick look tried" in quick_scan.stderr
    without_orm = "peewee not loaded" in quick_scan.stderr
    assert without_orm == (change in ANSWERED_WITHOUT_THE_ORM), quick_scan.stderr


@pytest.mark.parametrize("change", CHANGES_IN_THE_CATALOGUE, ids=lambda change: change.__name__)
def test_a_root_recorded_elsewhere_or_offline_is_told_as_the_full_scan_tells_it(
    pristine, tmp_path, request, change
):
    quick, full = two_copies(pristine, tmp_path, request)
    for library in (quick, full):
        assert run_command(library.config, "scan", str(library.path)).returncode == 0
        change(library)
    quick_scan, full_scan = scan_both(quick, full)
    assert said(quick_scan, quick) == said(full_scan, full)
    assert quick.state() == full.state()
    assert "quick look tried" in quick_scan.stderr
    assert "peewee loaded" in quick_scan.stderr  # the full scan's, always


@BOTH_BACKENDS
def test_an_unchanged_library_is_scanned_without_the_orm_and_its_run_recorded(
    tmp_path, catalogue_location
):
    library = Library(tmp_path / "one", 4, 25, catalogue_location)
    (before_root,) = library.query("SELECT seen_at FROM root")
    result = whole_scan(library.config)
    assert result.returncode == 0, result.stderr
    assert "peewee not loaded" in result.stderr
    assert re.fullmatch(
        rf"{re.escape(str(library.path))}: 100 files scanned in [0-9.]+ s: 0 added, 0 updated, "
        r"0 moved, 0 removed; 0 Bytes hashed\n",
        result.stdout,
    ), result.stdout
    runs = library.query("SELECT kind, status, files_scanned, files_added FROM sync_run")
    assert runs[-1] == ("manual", "completed", 100, 0) and len(runs) == 2
    (after_root,) = library.query("SELECT seen_at FROM root")
    assert after_root[0] > before_root[0]
    history = run_command(library.config, "history")
    assert history.returncode == 0 and "100" in history.stdout, history.stderr
    if not is_server(library.catalogue):
        # No write-ahead log left behind: the catalogue was closed as the store closes it.
        assert not Path(str(library.catalogue) + "-wal").exists()


@BOTH_BACKENDS
@pytest.mark.parametrize("options", [("--json",), ("--previews",), ("--accept-empty",)])
def test_options_of_the_full_scan_take_it(tmp_path, catalogue_location, options):
    library = Library(tmp_path / "one", 2, 5, catalogue_location)
    result = whole_scan(library.config, *options)
    assert result.returncode == 0, result.stderr
    assert "peewee loaded" in result.stderr


@BOTH_BACKENDS
def test_with_an_engine_running_the_quick_look_leaves_the_scan_to_it(tmp_path, catalogue_location):
    # The engine's lock held by another process (this test's): on a server, an advisory lock.
    library = Library(tmp_path / "one", 2, 5, catalogue_location)
    runs = library.query("SELECT count(*) FROM sync_run")
    lock = EngineLock(catalogue_location)
    lock.acquire()
    try:
        result = whole_scan(library.config)
    finally:
        lock.release()
    # The full scan asks the engine to scan; this one does not answer.
    assert result.returncode == 2, result.stderr
    assert f"an engine runs on this catalogue (pid {os.getpid()})" in result.stderr
    assert "Traceback" not in result.stderr
    assert "quick look tried" in result.stderr and "peewee loaded" in result.stderr
    assert library.query("SELECT count(*) FROM sync_run") == runs  # nothing recorded
    once_stopped = whole_scan(library.config)
    assert once_stopped.returncode == 0, once_stopped.stderr
    assert "peewee not loaded" in once_stopped.stderr


def test_a_catalogue_whose_server_went_away_is_said_in_one_sentence(tmp_path, postgres_server):
    # A server of the test's own (postgres_server: one can be started here), stopped under
    # the library's catalogue and started again.
    cluster = PostgresCluster()
    cluster.start()
    try:
        library = Library(tmp_path / "one", 2, 5, cluster.create_database("away"))
        runs = library.query("SELECT count(*) FROM sync_run")
        cluster.stop_server()
        result = whole_scan(library.config)
        cluster.start_server()
        assert result.returncode == 2, result.stderr
        assert "quick look tried" in result.stderr
        (sentence,) = [line for line in result.stderr.splitlines()
                       if not line.startswith(("peewee", "quick look"))]  # fmt: skip
        assert sentence.startswith("shootwatch: error: cannot open the catalogue"), sentence
        assert result.stdout == ""
        assert library.query("SELECT count(*) FROM sync_run") == runs
        back = whole_scan(library.config)
        assert back.returncode == 0 and "0 added" in back.stdout, back.stderr
        assert "peewee not loaded" in back.stderr
    finally:
        cluster.stop()


def test_a_catalogue_kept_inside_its_library_is_left_out_as_the_full_scan_leaves_it(tmp_path):
    # Its file, write-ahead log, shared memory and turn file lie in the root: none is a photo,
    # and the quick look opens the catalogue (making its log) while it walks the root.
    library = Library(tmp_path / "one", 2, 5)
    inside = library.path / "shootwatch" / "catalogue.db"
    inside.parent.mkdir()
    shutil.move(library.catalogue, inside)
    library.config.write_text(library.config.read_text().replace(
        f'"{library.catalogue}"', f'"{inside}"'))  # fmt: skip
    library.catalogue = inside
    settled = run_command(library.config, "scan", str(library.path))
    assert settled.returncode == 0 and "0 added" in settled.stdout, settled.stdout
    result = whole_scan(library.config)
    assert "peewee not loaded" in result.stderr, result.stderr
    assert said(result, library) == said(settled, library)
