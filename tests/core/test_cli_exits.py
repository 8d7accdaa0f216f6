"""The shootwatch command as a whole process, as a person runs it: the exit codes docs/commands.md
promises, one sentence (never a traceback) for what it cannot do, and file names printed so a
terminal shows them rather than obeys them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers import REPO

WITHOUT_BYPASS = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def shootwatch(
    *args: str | bytes, db: Path | None = None, bypass: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess:
    """``python -m core.cli ARGS`` in a child process; stdout and stderr as bytes. As root,
    ``bypass=False`` drops root's permission bypass so file modes apply."""
    command: list[str | bytes] = [sys.executable, "-m", "core.cli"]
    if db is not None:
        command += ["--db", str(db)]
    command += list(args)
    if not bypass and os.geteuid() == 0:
        command = [*WITHOUT_BYPASS, *command]
    return subprocess.run(command, capture_output=True, cwd=REPO, timeout=timeout)


def one_sentence(result: subprocess.CompletedProcess) -> str:
    """The one line a failed command says, checked to be one line and no traceback."""
    err = result.stderr.decode("utf-8", "backslashreplace")
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("shootwatch: "), err
    return lines[0]


def photo(path: Path | bytes, colour: str = "red") -> None:
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    with open(path, "wb") as handle:
        Image.new("RGB", (32, 24), colour).save(handle, "JPEG")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "catalogue.db"


@pytest.fixture
def hostile_db(tmp_path: Path) -> Path:
    return tmp_path / "cata\x1b[2Jlogue.db"


@pytest.fixture
def library(tmp_path: Path) -> Path:
    path = tmp_path / "library"
    path.mkdir()
    return path


# --- names a terminal would obey -------------------------------------------------------------

HOSTILE_NAMES = {
    "clear\x1b[2Jscreen.jpg": "clear\\x1b[2Jscreen.jpg",
    "title\x1b]0;pwned\x07.jpg": "title\\x1b]0;pwned\\x07.jpg",
    "two\nlines.jpg": "two\\x0alines.jpg",
    "IMG_\u202egpj.exe": "IMG_\\u202egpj.exe",  # reads as IMG_exe.jpg
}
RAW_CONTROLS = (b"\x1b", b"\x07", "\u202e".encode())


def assert_harmless(result: subprocess.CompletedProcess) -> None:
    for stream in (result.stdout, result.stderr):
        for control in RAW_CONTROLS:
            assert control not in stream, (control, stream[-2000:])
    assert b"Traceback" not in result.stderr, result.stderr


def test_names_with_terminal_controls_are_printed_escaped_by_every_command(tmp_path, hostile_db):
    db = hostile_db
    library = tmp_path / "lib\x1b[31mred"  # the root's own name too
    for number, name in enumerate(HOSTILE_NAMES):
        photo(library / name, colour=("red", "green", "blue", "white")[number])
    assert_harmless(added := shootwatch("add", str(library), db=db))
    assert added.returncode == 0
    scanned = shootwatch("scan", db=db)
    assert_harmless(scanned)
    assert scanned.returncode == 0 and b"lib\\x1b[31mred" in scanned.stdout
    for args in (("roots",), ("status",), ("history",), ("events",), ("jobs",)):
        result = shootwatch(*args, db=db)
        assert_harmless(result)
        assert result.returncode == 0, (args, result.stderr)
    events = shootwatch("events", "--limit", "500", db=db).stdout.decode()
    assert "lib\\x1b[31mred" in events
    for name, escaped in HOSTILE_NAMES.items():
        shown = shootwatch("show", str(library / name), db=db)
        assert_harmless(shown)
        assert shown.returncode == 0 and escaped in shown.stdout.decode(), shown.stdout
        decided = shootwatch("decide", str(library / name), "--approve", db=db)
        assert_harmless(decided)
        assert decided.returncode == 0 and escaped in decided.stdout.decode()
    # A name in an error message too.
    missing = shootwatch("show", str(library / "gone\x1b[2J.jpg"), db=db)
    assert_harmless(missing)
    assert missing.returncode == 2 and "gone\\x1b[2J.jpg" in one_sentence(missing)
    # The settings, as TOML that reads back as the same path.
    config = shootwatch("config", db=db)
    assert_harmless(config)
    assert tomllib.loads(config.stdout.decode())["catalogue"] == str(db)
    # JSON says the name as it is (escaped by JSON itself).
    (root,) = json.loads(shootwatch("roots", "--json", db=db).stdout)
    assert root["path"] == str(library)


# --- exit codes docs/commands.md promises ---------------------------------------------------


def test_a_name_that_is_not_utf8_makes_scan_and_status_exit_1_and_say_which(db, library):
    photo(library / "ok.jpg")
    photo(os.fsencode(library / "caf") + b"\xe9.jpg")
    os.makedirs(os.fsencode(library / "shoot") + b"-\xfe")
    photo(os.fsencode(library / "shoot") + b"-\xfe/IMG_0001.jpg", colour="blue")
    assert shootwatch("add", str(library), db=db).returncode == 0

    scanned = shootwatch("scan", db=db)
    assert b"Traceback" not in scanned.stderr
    assert scanned.returncode == 1, scanned.stdout
    said = scanned.stdout.decode()
    assert "2 unreadable" in said
    assert "caf\\xe9.jpg: name is not valid UTF-8" in said
    assert "shoot-\\xfe: folder name is not valid UTF-8" in said

    status = shootwatch("status", db=db)
    assert status.returncode == 1
    assert "2 files or folders could not be read" in status.stdout.decode()
    assert status.stdout.decode().rstrip().endswith("needs attention")
    assert json.loads(shootwatch("status", "--json", db=db).stdout)["healthy"] is False
    # Without an engine, rescan is a scan here: the same answer.
    assert shootwatch("rescan", db=db).returncode == 1

    # Renamed, the files are recorded and all is well again.
    os.rename(os.fsencode(library / "caf") + b"\xe9.jpg", library / "cafe.jpg")
    os.rename(os.fsencode(library / "shoot") + b"-\xfe", library / "shoot")
    assert shootwatch("scan", db=db).returncode == 0
    status = shootwatch("status", db=db)
    assert status.returncode == 0 and status.stdout.decode().rstrip().endswith("healthy")


# --- a file still being written ---------------------------------------------------------------

WRITER = """
import os, sys, time
path, gap, stop_after, stop_file = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
chunk = bytes(range(256)) * 256  # 64 KB
started = time.monotonic()
with open(path, "ab") as handle:
    while not os.path.exists(stop_file) and time.monotonic() - started < stop_after:
        handle.write(chunk)
        handle.flush()
        time.sleep(gap)
"""


def catalogue_rows(db: Path) -> dict[str, tuple[int, str | None, str | None]]:
    import sqlite3

    connection = sqlite3.connect(db)
    try:
        rows = connection.execute("SELECT rel_path, size, blake3, error FROM file").fetchall()
    finally:
        connection.close()
    return {rel: (size, digest, error) for rel, size, digest, error in rows}


@pytest.mark.parametrize("gap", [0.005, 0.05, 0.25])
def test_a_file_still_being_written_is_not_recorded_as_settled_content(tmp_path, db, library, gap):
    """A writer appends 64 KB every ``gap`` seconds (always less than the settle time, 1 s) while
    ``shootwatch scan`` runs: the file is recorded with the reason and no hash, the command
    says so and exits 1; once the writer is done, the next scan records its whole content."""
    import blake3

    config = tmp_path / "config.toml"
    config.write_text("[watch]\nsettle_seconds = 1.0\n")
    photo(library / "done.jpg")
    growing = library / "IMG_0002.JPG"
    stop = tmp_path / "stop"
    assert shootwatch("--config", str(config), "add", str(library), db=db).returncode == 0
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(growing), str(gap), "120", str(stop)]
    )
    try:
        while not growing.exists() or growing.stat().st_size == 0:
            assert writer.poll() is None
            time.sleep(0.01)
        scanned = shootwatch("--config", str(config), "scan", db=db)
        still_writing = writer.poll() is None
    finally:
        stop.touch()
        writer.wait(timeout=60)
    assert still_writing  # the test's premise: the file changed all through the scan
    assert b"Traceback" not in scanned.stderr
    assert scanned.returncode == 1, scanned.stdout
    assert "IMG_0002.JPG: still being written" in scanned.stdout.decode()
    rows = catalogue_rows(db)
    size, digest, error = rows["IMG_0002.JPG"]
    assert digest is None and error.startswith("still being written")
    assert rows["done.jpg"][1] == blake3.blake3((library / "done.jpg").read_bytes()).hexdigest()

    rescanned = shootwatch("--config", str(config), "scan", db=db)
    assert rescanned.returncode == 0, rescanned.stdout
    size, digest, _error = catalogue_rows(db)["IMG_0002.JPG"]
    assert (size, digest) == (
        growing.stat().st_size,
        blake3.blake3(growing.read_bytes()).hexdigest(),
    )


@pytest.mark.parametrize("stops_after", [0.2, 0.6, 1.5])
def test_a_file_whose_writer_stops_during_the_scan_is_recorded_whole_or_not_at_all(
    tmp_path, db, library, stops_after
):
    """Whenever the writer stops, what the scan records is the file's whole content (it held
    still long enough) or no content with the reason: never a part of it."""
    import blake3

    config = tmp_path / "config.toml"
    config.write_text("[watch]\nsettle_seconds = 1.0\n")
    growing = library / "IMG_0003.JPG"
    assert shootwatch("--config", str(config), "add", str(library), db=db).returncode == 0
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(growing), "0.02", str(stops_after), str(tmp_path / "x")]
    )
    try:
        while not growing.exists() or growing.stat().st_size == 0:
            assert writer.poll() is None
            time.sleep(0.01)
        scanned = shootwatch("--config", str(config), "scan", db=db)
    finally:
        writer.wait(timeout=60)
    assert b"Traceback" not in scanned.stderr
    size, digest, error = catalogue_rows(db)["IMG_0003.JPG"]
    if digest is None:
        assert scanned.returncode == 1 and error.startswith("still being written")
    else:
        assert scanned.returncode == 0
        assert (size, digest) == (
            growing.stat().st_size,
            blake3.blake3(growing.read_bytes()).hexdigest(),
        )


# --- no catalogue, a catalogue that cannot be written ----------------------------------------

READING_COMMANDS = (
    ("status",),
    ("status", "--json"),
    ("roots",),
    ("history",),
    ("events",),
    ("show", "IMG_0001.JPG"),
    ("decide", "IMG_0001.JPG", "--approve"),
    ("undo",),
    ("redo",),
    ("stages",),
    ("jobs",),
    ("retry",),
    ("cancel", "1"),
)


@pytest.mark.parametrize("args", READING_COMMANDS, ids=" ".join)
def test_a_command_that_reads_does_not_create_a_catalogue(tmp_path, args):
    missing = tmp_path / "nowhere" / "catalogue.db"
    result = shootwatch(*args, db=missing)
    assert result.returncode == 2
    assert f"no catalogue at {missing}" in one_sentence(result)
    assert not missing.parent.exists()


def test_a_name_that_is_not_utf8_given_to_show_or_decide_gets_a_sentence(db, library):
    photo(library / "ok.jpg")
    bad = os.fsencode(library / "caf") + b"\xe9.jpg"
    photo(bad)
    assert shootwatch("add", str(library), db=db).returncode == 0
    shootwatch("scan", db=db)
    ok = str(library / "ok.jpg")
    for args in (("show", bad), ("decide", bad, "--approve"), ("scan", bad),
                 ("decide", ok, bad, "--reject"), ("keep", bad), ("bursts", bad)):  # fmt: skip
        result = shootwatch(*args, db=db)
        assert result.returncode == 2, args
        assert "caf\\xe9.jpg: the name is not valid UTF-8" in one_sentence(result)


def test_a_settings_file_that_is_not_utf8_gets_a_sentence(tmp_path, db):
    config = tmp_path / "config.toml"
    config.write_bytes(b'[ingest]\ndestination = "/photos/caf\xe9"\n')  # saved as Latin-1
    result = shootwatch("--config", str(config), "status", db=db)
    assert result.returncode == 2
    said = one_sentence(result)
    assert f"config error: {config} is not UTF-8 text" in said and "line 2" in said


def _read_only(catalogue_or_folder: Path, mode: int) -> None:
    catalogue_or_folder.chmod(mode)


@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_read_only_catalogue_gets_a_sentence(tmp_path, library, what):
    db = tmp_path / "catalogue" / "catalogue.db"
    db.parent.mkdir()
    photo(library / "IMG_0001.JPG")
    assert shootwatch("add", str(library), db=db).returncode == 0
    assert shootwatch("scan", db=db).returncode == 0
    photo(library / "IMG_0002.JPG", colour="blue")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    locked = db if what == "file" else db.parent
    locked.chmod(0o444 if what == "file" else 0o555)
    try:
        for args in (
            ("scan",),
            ("decide", str(library / "IMG_0001.JPG"), "--approve"),
            ("add", str(elsewhere)),
        ):
            result = shootwatch(*args, db=db, bypass=False)
            assert result.returncode == 2, (args, result.stderr)
            said = one_sentence(result)
            assert "read-only" in said and str(locked) in said, said
        status = shootwatch("status", db=db, bypass=False)
        if what == "file":  # read as it is
            assert status.returncode == 0 and status.stdout.rstrip().endswith(b"healthy")
        else:  # SQLite cannot make its shared-memory file beside it: said, not a traceback
            assert status.returncode == 2 and "read-only" in one_sentence(status)
    finally:
        locked.chmod(0o644 if what == "file" else 0o755)


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 2 MB tmpfs, unmounted at the end (skipped where tmpfs cannot be mounted)."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "none", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def _fill(disk: Path) -> None:
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)


@pytest.mark.parametrize("held_open", [True, False], ids=["held open elsewhere", "closed"])
def test_a_full_disk_under_the_catalogue_gets_a_sentence(small_disk, library, held_open):
    """Full while another process has the catalogue open (its write-ahead log exists: the
    writes fail), or while nothing has it open (opening it fails)."""
    import sqlite3

    db = small_disk / "catalogue.db"
    for number in range(40):
        photo(library / f"IMG_{number:04d}.JPG", colour=(number * 6, 0, 0))
    elsewhere = library.parent / "elsewhere"
    elsewhere.mkdir()
    assert shootwatch("add", str(library), db=db).returncode == 0
    reader = sqlite3.connect(db)
    try:
        reader.execute("SELECT count(*) FROM root").fetchall()
        if not held_open:
            reader.close()
        _fill(small_disk)
        for args in (("scan",), ("add", str(elsewhere))):
            result = shootwatch(*args, db=db)
            assert result.returncode == 2, (args, result.stdout, result.stderr)
            said = one_sentence(result)
            assert f"the disk holding the catalogue {db} is full" in said, said
            assert "rollback" not in said
    finally:
        reader.close()
    (small_disk / "filler").unlink()
    result = shootwatch("scan", db=db)  # with room again, nothing was lost
    assert result.returncode == 0, result.stderr
    assert b"40 added" in result.stdout


# --- output closed early ----------------------------------------------------------------------


@pytest.fixture
def scanned(db, library):
    for number in range(3):
        photo(library / f"IMG_{number:04d}.JPG", colour=(number * 80, 0, 0))
    shootwatch("add", str(library), db=db)
    shootwatch("scan", db=db)
    return db


@pytest.mark.parametrize(
    "args",
    [("show", "IMG_0001.JPG"), ("status",), ("roots",), ("history",), ("events",), ("config",)],
    ids=" ".join,
)
def test_output_closed_before_the_command_writes_ends_it_quietly(scanned, library, args):
    args = tuple(str(library / a) if a.startswith("IMG") else a for a in args)
    command = [sys.executable, "-m", "core.cli", "--db", str(scanned), *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    process.stdout.close()  # as `| head` does once it has what it wants
    err = process.stderr.read()
    assert process.wait(timeout=60) == 141  # as a Unix tool stopped by SIGPIPE
    assert err == b""


def test_show_piped_into_head(scanned, library):
    """The same through a real shell pipeline, with more output than a pipe holds."""
    for _ in range(3):
        shootwatch("decide", str(library / "IMG_0001.JPG"), "--approve", db=scanned)
    script = (
        f"{sys.executable} -m core.cli --db {scanned} events --limit 100000 | head -1; "
        f"{sys.executable} -m core.cli --db {scanned} show {library / 'IMG_0001.JPG'} | head -1"
    )
    result = subprocess.run(["bash", "-c", script], capture_output=True, cwd=REPO, timeout=120)
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 2
    assert result.stderr == b""


# --- an engine killed without closing ---------------------------------------------------------


def test_status_after_the_engine_was_killed_says_so(db, library):
    import signal
    import time

    photo(library / "IMG_0001.JPG")
    shootwatch("add", str(library), db=db)
    engine = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "--db", str(db), "run"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
        start_new_session=True,  # its process group: the kill takes its workers too
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = json.loads(shootwatch("status", "--json", db=db).stdout or b"{}")
            if status.get("engine", {}).get("components"):
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the engine never reported")
    finally:
        os.killpg(engine.pid, signal.SIGKILL)
        engine.wait(timeout=30)

    status = shootwatch("status", db=db)
    said = status.stdout.decode()
    assert status.returncode == 2, said
    assert "the engine stopped without closing (killed?) at " in said
    assert "healthy" not in said.splitlines()[-1]
    reported = json.loads(shootwatch("status", "--json", db=db).stdout)
    assert reported["healthy"] is False and reported["engine"]["pid"] is None


# --- an ingest destination that is a file ------------------------------------------------------


def test_an_ingest_destination_that_is_a_file_is_said_once(tmp_path, db):
    import signal

    inbox = tmp_path / "inbox"
    photo(inbox / "IMG_0001.JPG")
    destination = tmp_path / "Originals"
    destination.write_text("a file where the library folder should be")
    config = tmp_path / "config.toml"
    config.write_text(f'[ingest]\ndestination = "{destination}"\ninboxes = ["{inbox}"]\n')
    reason = f"ingest.destination {destination} is a file, not a folder"

    # Refused as the settings are read, in one sentence naming the setting.
    result = shootwatch("--config", str(config), "ingest", db=db)
    assert result.returncode == 2 and "ingest.destination" in one_sentence(result)

    # A destination that becomes a file while the engine runs: said once, nothing moved.
    destination.unlink()
    destination.mkdir()
    log = tmp_path / "engine.log"
    with open(log, "wb") as handle:
        engine = subprocess.Popen(
            [sys.executable, "-m", "core.cli", "--config", str(config), "--db", str(db), "run"],
            stdout=handle,
            stderr=handle,
            cwd=REPO,
            start_new_session=True,
        )
    try:
        time.sleep(2)  # the engine reads its settings and starts
        destination.rmdir()
        destination.write_text("a file where the library folder should be")
        deadline = time.monotonic() + 60
        ingest = {}
        while time.monotonic() < deadline and ingest.get("status") != "degraded":
            time.sleep(0.3)
            # Without the settings file, which now names a file as the destination.
            status = json.loads(shootwatch("status", "--json", db=db).stdout)
            components = status["engine"]["components"]
            ingest = next((c for c in components if c["component"] == "ingest"), {})
        assert ingest.get("status") == "degraded" and reason in ingest["error"], ingest
        time.sleep(3)  # three more passes of the ingest loop
    finally:
        os.killpg(engine.pid, signal.SIGTERM)
        engine.wait(timeout=60)
    said = log.read_text()
    assert "Traceback" not in said, said
    assert said.count(reason) == 1, said
    assert (inbox / "IMG_0001.JPG").exists()  # nothing moved, nothing lost
