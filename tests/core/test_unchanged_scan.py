"""``shootwatch scan`` of a library where nothing changed is told without the ORM
(core.cli.unchanged_scan), and says and records exactly what the full scan does.

Two identical libraries, each with its own catalogue, get the same change; ``scan`` runs on
one (where the quick look may answer) and ``scan ROOT`` on the other (always the full scan),
both as whole processes. Their exit codes, what they print and what they leave in the
catalogue (the files, the run in history, the root's state) must be the same: a quick look
that called a changed library unchanged would print "0 added" where the full scan prints
"1 added". Each kind of change, in a small library and in one of 10,000 files.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, command_settings, run_command

# Runs ``shootwatch ARGS`` as the installed script does and says whether peewee was loaded.
SAYS_WHETHER_PEEWEE = """
import sys
sys.argv = ["shootwatch", *sys.argv[1:]]
from tui.launch import main
code = main()
print("peewee loaded" if "peewee" in sys.modules else "peewee not loaded", file=sys.stderr)
sys.exit(code)
"""
SIZES = {"small": (3, 10), "10k": (100, 100)}  # folders, files in each


def whole_scan(config: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", SAYS_WHETHER_PEEWEE, "--config", str(config), "scan", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=600)


def build(library: Path, folders: int, files: int) -> None:
    for folder in range(folders):
        where = library / "2024" / f"2024-{1 + folder // 28:02d}-{1 + folder % 28:02d}"
        where.mkdir(parents=True)
        for number in range(files):
            (where / f"DSC_{number:04d}.NEF").write_bytes(b"%d %d" % (folder, number))


class Library:
    """A library and its own catalogue, as the person has them."""

    def __init__(self, base: Path, folders: int, files: int) -> None:
        base.mkdir()
        self.path = base / "library"
        self.config = command_settings(base)
        self.catalogue = base / "catalogue.db"
        build(self.path, folders, files)
        assert run_command(self.config, "add", str(self.path)).returncode == 0
        first = run_command(self.config, "scan")
        assert first.returncode == 0, first.stderr

    def query(self, sql: str, args: tuple = ()) -> list[tuple]:
        with contextlib.closing(sqlite3.connect(self.catalogue)) as db:
            return db.execute(sql, args).fetchall()

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
        return "\n".join(line for line in text.splitlines() if not line.startswith("peewee"))

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
    with sqlite3.connect(library.catalogue) as db:
        db.execute("UPDATE root SET device = '0:999', mount_point = path")


def another_drive(library: Library) -> None:
    """Recorded on another device at the same mount point (the drive numbered anew)."""
    with sqlite3.connect(library.catalogue) as db:
        db.execute("UPDATE root SET device = '0:999'")


def offline_before(library: Library) -> None:
    with sqlite3.connect(library.catalogue) as db:
        db.execute("UPDATE root SET state = 'offline', state_reason = 'drive not mounted'")


CHANGES_ON_DISK = [nothing, touch_mtime, rewrite_same_size, rewrite_same_size_and_mtime, add,
                   add_ignored, add_unstorable_name, remove, rename, rename_folder,
                   add_empty_folder, empty_the_root, remove_the_root]  # fmt: skip
CHANGES_IN_THE_CATALOGUE = [unmounted, another_drive, offline_before]
# Where nothing changed (or only what the scan leaves out), the quick look answers alone.
ANSWERED_WITHOUT_THE_ORM = {nothing, rewrite_same_size_and_mtime, add_ignored, add_empty_folder}


@pytest.fixture(scope="module", params=list(SIZES))
def pristine(request, tmp_path_factory) -> Path:
    """A library and its catalogue after the first scan, kept to copy for each change."""
    base = tmp_path_factory.mktemp(f"pristine-{request.param}")
    Library(base / "made", *SIZES[request.param])
    return base / "made"


def two_copies(pristine: Path, tmp_path: Path) -> tuple[Library, Library]:
    copies = []
    for name in ("quick", "full"):
        base = tmp_path / name
        shutil.copytree(pristine, base, symlinks=True)
        library = Library.__new__(Library)
        library.path, library.catalogue = base / "library", base / "catalogue.db"
        library.config = command_settings(base)
        with sqlite3.connect(library.catalogue) as db:  # the copy's own root, same drive
            db.execute("UPDATE root SET path = ?", (str(library.path),))
        copies.append(library)
    return copies[0], copies[1]


def scan_both(quick: Library, full: Library) -> tuple[subprocess.CompletedProcess, ...]:
    """``scan`` of the quick copy, ``scan ROOT`` (the full scan, always) of the other."""
    return whole_scan(quick.config), whole_scan(full.config, str(full.path))


@pytest.mark.parametrize("change", CHANGES_ON_DISK, ids=lambda change: change.__name__)
def test_a_change_on_disk_is_told_as_the_full_scan_tells_it(pristine, tmp_path, change):
    quick, full = two_copies(pristine, tmp_path)
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
    without_orm = "peewee not loaded" in quick_scan.stderr
    assert without_orm == (change in ANSWERED_WITHOUT_THE_ORM), quick_scan.stderr


@pytest.mark.parametrize("change", CHANGES_IN_THE_CATALOGUE, ids=lambda change: change.__name__)
def test_a_root_recorded_elsewhere_or_offline_is_told_as_the_full_scan_tells_it(
    pristine, tmp_path, change
):
    quick, full = two_copies(pristine, tmp_path)
    for library in (quick, full):
        assert run_command(library.config, "scan", str(library.path)).returncode == 0
        change(library)
    quick_scan, full_scan = scan_both(quick, full)
    assert said(quick_scan, quick) == said(full_scan, full)
    assert quick.state() == full.state()
    assert "peewee loaded" in quick_scan.stderr  # the full scan's, always


def test_an_unchanged_library_is_scanned_without_the_orm_and_its_run_recorded(tmp_path):
    library = Library(tmp_path / "one", 4, 25)
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
    # No write-ahead log left behind: the catalogue was closed as the store closes it.
    assert not Path(str(library.catalogue) + "-wal").exists()


@pytest.mark.parametrize("options", [("--json",), ("--previews",), ("--accept-empty",)])
def test_options_of_the_full_scan_take_it(tmp_path, options):
    library = Library(tmp_path / "one", 2, 5)
    result = whole_scan(library.config, *options)
    assert result.returncode == 0, result.stderr
    assert "peewee loaded" in result.stderr


@pytest.fixture
def catalogue_backend() -> str:
    return "postgresql"


@pytest.mark.parametrize("change", [nothing, touch_mtime, remove], ids=lambda c: c.__name__)
def test_a_catalogue_on_a_server_is_scanned_by_the_full_scan(
    tmp_path, library, postgres_server, catalogue_location, change
):
    config = command_settings(tmp_path)
    config.write_text(config.read_text().replace(
        f'"{tmp_path / "catalogue.db"}"', f'"{catalogue_location}"'))  # fmt: skip
    build(library, 3, 10)
    assert run_command(config, "add", str(library)).returncode == 0
    assert run_command(config, "scan").returncode == 0
    change(library)
    result = whole_scan(config)
    assert result.returncode == 0, result.stderr
    assert "peewee loaded" in result.stderr  # the quick look is SQLite's alone
    changed = {nothing: "0 updated, 0 moved, 0 removed", touch_mtime: "1 updated",
               remove: "1 removed"}[change]  # fmt: skip
    assert changed in result.stdout and "scanned in" in result.stdout, result.stdout
    assert not (tmp_path / "catalogue.db").exists()


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
