"""The command table: every command is listed in the help and runs, although each command's
module is imported only when that command runs; a word that is no command gets one sentence."""

from __future__ import annotations

import subprocess
import sys

import pytest

from core.cli import command_names, main
from tests.helpers import REPO

# Every command shootwatch has, as a person reads them in the help.
EVERY_COMMAND = (
    "add", "roots", "scan", "history", "status", "config", "run", "events", "rescan",
    "darktable", "show", "report", "decide", "keep", "undo", "redo", "decisions", "bursts",
    "stages", "jobs", "retry", "cancel", "run-stage", "ingest", "card", "catalogue", "demo",
)  # fmt: skip


def shootwatch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.cli", *args], capture_output=True,
                          text=True, cwd=REPO, timeout=120)  # fmt: skip


def one_sentence(result: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("shootwatch"), result.stderr
    return lines[0]


@pytest.mark.parametrize("asked", [("--help",), ()], ids=["--help", "no command"])
def test_the_help_lists_every_command_with_what_it_does(asked):
    result = shootwatch(*asked)
    assert result.returncode == 0, result.stderr
    listed = {line.split()[0] for line in result.stdout.splitlines() if line.startswith("    ")}
    assert set(EVERY_COMMAND) <= listed, set(EVERY_COMMAND) - listed
    assert "bring the catalogue up to date with the disk" in result.stdout  # scan's line


def test_the_command_names_are_every_command():
    assert command_names() == frozenset(EVERY_COMMAND)


@pytest.mark.parametrize("command", EVERY_COMMAND)
def test_each_command_has_its_own_help(capsys, command):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: shootwatch {command}"), out


@pytest.mark.parametrize(
    "args, said",
    [
        (("frobnicate",), "'frobnicate' is not a shootwatch command"),
        (("--db", "x.db", "sacn"), "'sacn' is not a shootwatch command"),
        (("scan", "--frobnicate"), "unrecognized arguments: --frobnicate"),
        (("history", "--limit", "many"), "argument --limit: invalid int value: 'many'"),
        (("darktable", "nothing"), "invalid choice: 'nothing'"),
    ],
    ids=["unknown command", "misspelt command", "unknown option", "bad value", "bad subcommand"],
)
def test_a_wrong_command_line_gets_one_sentence_and_exit_2(args, said):
    result = shootwatch(*args)
    assert result.returncode == 2
    line = one_sentence(result)
    assert said in line, line
    assert "--help" in line, line  # where to look instead


def test_a_misspelt_command_is_named_for_what_was_meant():
    result = shootwatch("stauts")
    assert result.returncode == 2
    assert "did you mean 'status'?" in one_sentence(result)


def test_the_same_one_sentence_from_main(capsys):
    assert main(["frobnicate"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "is not a shootwatch command" in captured.err


def test_each_command_runs_with_its_module_imported_as_it_runs(tmp_path, capsys):
    """One command of each module, end to end, in one process (each module imported on
    demand), with what each says."""
    db = str(tmp_path / "catalogue.db")
    library = tmp_path / "library"
    (library / "2024").mkdir(parents=True)
    (library / "2024" / "notes.txt").write_text("x")
    expected = [
        (["add", str(library)], 0, "added library root"),
        (["scan"], 0, "1 added"),
        (["events", "--limit", "5"], 0, "indexed"),
        (["stages"], 0, "no jobs yet"),
        (["jobs"], 0, "no such jobs"),
        (["bursts"], 0, "no bursts"),
        (["undo"], 1, "nothing to undo"),
        (["status"], 0, "healthy"),
        (["history"], 0, "manual"),
        (["roots"], 0, "online"),
    ]
    for args, code, said in expected:
        assert main(["--db", db, *args]) == code, args
        out = capsys.readouterr().out
        assert said in out, (args, out)


@pytest.mark.parametrize(
    "argv",
    [
        ["scan", "--json", "--workers", "2", "/photos"],
        ["--db", "c.db", "status", "--json"],
        ["--config", "s.toml", "events", "--kind", "added", "--limit", "5", "-f"],
        ["darktable", "recent-edits", "--limit", "3"],
        ["decide", "a.jpg", "b.jpg", "--stars", "4"],
        ["cancel", "--stage", "web"],
        ["demo", "--no-open"],
        ["catalogue", "copy", "old.db", "postgresql://me@server/photos", "--json"],
    ],
    ids=" ".join,
)
def test_a_command_line_reads_the_same_with_its_command_alone_in_the_parser(argv):
    """A command line is read with the parser of its command alone (the others are not built):
    what it reads is what the whole parser reads."""
    from core.cli.parser import build_parser, command_word

    alone = build_parser(command_word(argv))
    assert list(alone._subparsers._group_actions[0].choices) == [command_word(argv)]
    assert vars(alone.parse_args(argv)) == vars(build_parser().parse_args(argv))


def test_roots_and_status_count_each_roots_files_bytes_and_unhashed_files(tmp_path, capsys):
    """The counts status and roots read from the catalogue's indexes, per root: a root
    with a file recorded without its content (unreadable when scanned) says so."""
    import json
    import sqlite3

    db = str(tmp_path / "catalogue.db")
    for name, sizes in (("a", (3, 5)), ("b", (7, 11, 13))):
        for number, size in enumerate(sizes):
            (tmp_path / name / "2024").mkdir(parents=True, exist_ok=True)
            (tmp_path / name / "2024" / f"f{number}.txt").write_bytes(b"x" * size)
        assert main(["--db", db, "add", str(tmp_path / name)]) == 0
    assert main(["--db", db, "scan"]) == 0
    connection = sqlite3.connect(db)
    with connection:
        connection.execute(
            "UPDATE file SET blake3 = NULL WHERE rel_path = '2024/f1.txt' AND size = 11"
        )
    connection.close()
    capsys.readouterr()
    assert main(["--db", db, "roots", "--json"]) == 0
    roots = {root["path"]: root for root in json.loads(capsys.readouterr().out)}
    found = {path[-1]: (r["files"], r["bytes"], r["unhashed"]) for path, r in roots.items()}
    assert found == {"a": (2, 8, 0), "b": (3, 31, 1)}
    assert main(["--db", db, "status"]) == 1
    assert "1 files or folders could not be read" in capsys.readouterr().out


class _Terminal:
    """A stream that says it is a terminal, and keeps what is written to it."""

    def __init__(self) -> None:
        self.written: list[str] = []

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> None:
        self.written.append(text)

    def flush(self) -> None:
        pass


class _NotToBeShown:
    def __str__(self) -> str:
        raise AssertionError("the progress line was made although it was not shown")


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "pipe"])
def test_the_progress_line_is_made_only_when_it_is_shown(terminal):
    """A scan calls the progress line once a folder (a thousand times at 100,000 files):
    between two showings, and when nothing is shown at all, the line is not even made."""
    import io

    from core.cli.output import ProgressLine
    from core.scan.reconcile import ScanProgress

    stream = _Terminal() if terminal else io.StringIO()
    line = ProgressLine(stream, interval=3600)
    shown = ScanProgress("/photos", 10, 0, 1, 9, 0.1)
    hidden = ScanProgress(_NotToBeShown(), 20, 0, 2, 9, 0.2)
    line(shown)
    line(hidden)  # within the interval: not made
    if terminal:
        assert len(stream.written) == 1 and "/photos: 10 files" in stream.written[0]
    else:
        assert stream.getvalue() == ""


def test_a_scan_that_changes_nothing_still_reads_the_exif_never_read(tmp_path, capsys):
    """The media backlog a scan finishes: a photo whose EXIF was never read (an index cut
    short) is read by the next scan, though no file changed."""
    import sqlite3

    from PIL import Image

    db = str(tmp_path / "catalogue.db")
    shoot = tmp_path / "library" / "2024" / "2024-05-01"
    shoot.mkdir(parents=True)
    for number, colour in enumerate(("red", "blue")):
        Image.new("RGB", (64, 48), colour).save(shoot / f"IMG_{number}.JPG", "JPEG")
    assert main(["--db", db, "add", str(tmp_path / "library")]) == 0
    assert main(["--db", db, "scan"]) == 0
    connection = sqlite3.connect(db)
    with connection:
        assert connection.execute("UPDATE photo SET metadata_at = NULL WHERE id = 1").rowcount == 1
    capsys.readouterr()
    assert main(["--db", db, "scan"]) == 0
    assert "0 added, 0 updated" in capsys.readouterr().out
    with connection:
        unread = connection.execute("SELECT count(*) FROM photo WHERE metadata_at IS NULL")
        assert unread.fetchone()[0] == 0
    connection.close()
