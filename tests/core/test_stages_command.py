"""Command stages: the command checked at start, hostile file names passed as plain arguments
(no shell, no options), failing and hanging programs, and a real darktable-cli export."""

from __future__ import annotations

import ctypes
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from core.stages.command import (
    OUTPUT_LIMIT,
    PLACEHOLDER_HELP,
    PLACEHOLDERS,
    CommandConfigError,
    CommandFailed,
    check_command,
    expand,
    run_command,
)
from tests.darktable_fixture import copy_fixture

REQUIRE_ENV = "SHOOTWATCH_REQUIRE_DARKTABLE"

COPY_SCRIPT = "import sys, shutil; shutil.copyfile(sys.argv[1], sys.argv[2])"
# writes the arguments it received, NUL-separated, to the file named by its last argument
ARGV_SCRIPT = (
    "import os, sys; open(sys.argv[-1], 'wb').write(b'\\0'.join(map(os.fsencode, sys.argv[1:-1])))"
)

HOSTILE_NAMES = [
    b"with spaces.jpg",
    b"new\nline.jpg",
    b"-rf.jpg",
    b"--help.jpg",
    b"$(touch pwned).jpg",
    b"; rm -rf x.jpg",
    b"`touch pwned`.jpg",
    b"bad\xff\xfe.jpg",
]


def make_program(folder: Path, name: str, mode: int = 0o755) -> Path:
    path = folder / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(mode)
    return path


def create_hostile(folder: Path, name: bytes) -> Path:
    """A real file with that name (raw bytes, so invalid UTF-8 is kept) holding its own name."""
    raw = os.fsencode(folder) + b"/" + name
    descriptor = os.open(raw, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(descriptor, "wb") as file:
        file.write(b"photo bytes of " + name)
    return Path(os.fsdecode(raw))


def run_stage(argv: list[str], values: dict, timeout: float = 60.0):
    program = check_command("test", argv)
    return run_command([os.fsencode(program), *expand(argv[1:], values)], values["out"], timeout)


def assert_nothing_injected(tmp_path: Path) -> None:
    assert not [path for path in tmp_path.rglob("*") if path.name == "pwned"]
    assert not (Path.cwd() / "pwned").exists()
    assert (tmp_path / "x").is_dir()  # the target of "; rm -rf x"


@pytest.fixture
def hostile(tmp_path: Path) -> list[Path]:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep").write_text("still here")
    source = tmp_path / "source"
    source.mkdir()
    return [create_hostile(source, name) for name in HOSTILE_NAMES]


# --- check_command ------------------------------------------------------------------------------


def test_every_placeholder_is_explained():
    assert set(PLACEHOLDERS) == set(PLACEHOLDER_HELP)
    assert all(PLACEHOLDER_HELP[name].strip() for name in PLACEHOLDERS)


def test_a_valid_command_returns_the_program_found_on_path():
    assert check_command("export", ["cp", "--", "{src}", "{out}"]) == shutil.which("cp")


def test_a_program_given_by_relative_path_returns_its_full_path(tmp_path, monkeypatch):
    program = make_program(tmp_path, "tool")
    monkeypatch.chdir(tmp_path)
    assert check_command("export", ["./tool", "--out={out}", "{{literal}}"]) == str(program)


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        ([], "the command is empty"),
        ("cp {src} {out}", "the command must be a list"),
        (("cp", 2048, "{out}"), "part 2 is 2048"),
        (["cp", "{source}", "{out}"], "unknown placeholder {source}: use {src}, {xmp}"),
        (["cp", "{src", "{out}"], 'the argument "{src" has a "{" without its pair'),
        (["cp", "a}b", "{out}"], 'has a "}" without its pair'),
        (["cp", "{src}", "{{out}}"], "never uses {out}"),
        (["{src}", "{out}"], "cannot be a placeholder"),
        (["", "{out}"], "the program's name is empty"),
        (
            ["no-such-program-for-this-test", "{src}", "{out}"],
            'the program "no-such-program-for-this-test" was not found on PATH '
            "(install it or give its full path)",
        ),
    ],
)
def test_a_command_that_cannot_work_is_refused_naming_stage_and_problem(argv, problem):
    with pytest.raises(CommandConfigError) as raised:
        check_command("export", argv)
    message = str(raised.value)
    assert message.startswith('stage "export": ')
    assert problem in message
    assert message.endswith(".") and "\n" not in message


def test_a_program_file_that_is_not_executable_is_refused(tmp_path):
    program = make_program(tmp_path, "tool", mode=0o644)
    with pytest.raises(CommandConfigError) as raised:
        check_command("web", [str(program), "{out}"])
    assert str(raised.value).startswith('stage "web": ')
    assert f'the program "{program}" is not executable' in str(raised.value)


def test_a_program_path_that_does_not_exist_or_is_a_folder_is_refused(tmp_path):
    with pytest.raises(CommandConfigError, match="does not exist"):
        check_command("web", [str(tmp_path / "missing"), "{out}"])
    with pytest.raises(CommandConfigError, match="is a folder, not a program"):
        check_command("web", [str(tmp_path), "{out}"])


# --- expand -------------------------------------------------------------------------------------


def test_expand_fills_placeholders_inside_arguments_and_keeps_escaped_braces():
    argv = ["--out={out}", "{stem}_{photo}.jpg", "{{src}}", "{outdir}"]
    values = {"out": Path("/o/a.jpg"), "stem": "IMG_1", "photo": "7", "outdir": Path("/o")}
    assert expand(argv, values) == [b"--out=/o/a.jpg", b"IMG_1_7.jpg", b"{src}", b"/o"]


def test_expand_keeps_bytes_that_are_not_utf8():
    raw = b"/photos/bad\xff\xfe.jpg"
    assert expand(["{src}"], {"src": Path(os.fsdecode(raw))}) == [raw]
    assert expand(["{src}"], {"src": raw}) == [raw]


def test_expand_never_lets_a_file_name_start_with_a_dash():
    values = {"src": Path("-rf.jpg"), "xmp": "--help.xmp", "stem": "-v"}
    assert expand(["{src}", "{xmp}", "{stem}"], values) == [b"./-rf.jpg", b"./--help.xmp", b"-v"]


def test_expand_refuses_a_placeholder_without_a_value():
    with pytest.raises(ValueError, match=r"\{xmp\}"):
        expand(["{xmp}"], {"src": Path("a.jpg")})


# --- hostile file names, real programs ----------------------------------------------------------


def test_python_copies_every_hostile_name(tmp_path, hostile):
    argv = [sys.executable, "-c", COPY_SCRIPT, "{src}", "{out}"]
    for number, source in enumerate(hostile):
        out = tmp_path / f"out-{number}.jpg"
        run = run_stage(argv, {"src": source, "out": out})
        assert run.returncode == 0
        assert out.read_bytes() == source.read_bytes()
    assert_nothing_injected(tmp_path)


def test_cp_copies_every_hostile_name_after_double_dash(tmp_path, hostile):
    argv = ["cp", "--", "{src}", "{out}"]
    for number, source in enumerate(hostile):
        out = tmp_path / f"out-{number}.jpg"
        run_stage(argv, {"src": source, "out": out})
        assert out.read_bytes() == source.read_bytes()
    assert_nothing_injected(tmp_path)


def test_cp_without_double_dash_takes_no_name_as_an_option(tmp_path, hostile, monkeypatch):
    """Relative paths, so a name really starts with "-": without the "./" expand puts in
    front, cp would read "-rf.jpg" as options, and "--help.jpg" as an unknown one."""
    monkeypatch.chdir(tmp_path / "source")
    argv = ["cp", "{src}", "{out}"]
    for number, source in enumerate(hostile):
        relative = Path(source.name)
        out = Path(f"-out-{number}.jpg")  # the output's name starts with "-" as well
        run_stage(argv, {"src": relative, "out": out})
        assert out.read_bytes() == source.read_bytes()
    assert_nothing_injected(tmp_path)


def test_the_program_receives_the_exact_bytes_of_each_name(tmp_path, hostile, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = [sys.executable, "-c", ARGV_SCRIPT, "{src}", "--stem={stem}", "{out}"]
    for number, source in enumerate(hostile):
        out = tmp_path / f"argv-{number}"
        stem = os.fsencode(source.stem)
        run_stage(argv, {"src": source, "stem": source.stem, "out": out})
        assert out.read_bytes() == os.fsencode(source) + b"\0--stem=" + stem
    assert_nothing_injected(tmp_path)


# --- failing commands ---------------------------------------------------------------------------


def test_a_non_zero_exit_fails_with_the_code_and_the_last_line(tmp_path):
    script = (
        "import sys\n"
        "print('x' * 100_000)\n"
        "print('disk full: could not write the export', file=sys.stderr)\n"
        "sys.exit(3)\n"
    )
    out = tmp_path / "out.jpg"
    with pytest.raises(CommandFailed) as raised:
        run_stage([sys.executable, "-c", script, "{out}"], {"out": out})
    failure = raised.value
    assert failure.returncode == 3
    assert "exited with code 3" in str(failure)
    assert str(failure).endswith("disk full: could not write the export")
    assert len(failure.output.encode()) <= OUTPUT_LIMIT  # the tail only, not 100 KB


def test_a_command_that_writes_nothing_fails(tmp_path):
    out = tmp_path / "out.jpg"
    out.write_bytes(b"left by an earlier attempt")  # must not count as this run's output
    with pytest.raises(CommandFailed) as raised:
        run_stage([sys.executable, "-c", "print('all good')", "{out}"], {"out": out})
    assert f"exited 0 but wrote nothing at {out}" in str(raised.value)
    assert raised.value.returncode == 0


def test_a_command_that_writes_an_empty_file_fails(tmp_path):
    out = tmp_path / "out.jpg"
    script = "import sys; open(sys.argv[1], 'wb').close()"
    with pytest.raises(CommandFailed, match="exited 0 but wrote an empty file"):
        run_stage([sys.executable, "-c", script, "{out}"], {"out": out})


def test_a_program_that_vanished_since_the_check_fails_to_start(tmp_path):
    with pytest.raises(CommandFailed, match="could not start"):
        run_command([os.fsencode(tmp_path / "gone"), b"x"], tmp_path / "out.jpg")


def test_a_command_past_its_timeout_is_stopped(tmp_path):
    with pytest.raises(CommandFailed) as raised:
        run_command([b"sleep", b"30"], tmp_path / "out.jpg", timeout=0.5)
    assert "did not finish within the timeout of 0.5 seconds" in str(raised.value)
    assert raised.value.returncode is None


def test_a_command_is_stopped_when_shootwatch_stops(tmp_path):
    """The engine stopping must not wait for a command that may run for minutes (the
    process could not exit before it)."""
    import threading

    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    # Run to its end, sleep would exit 0 having written nothing: a different failure.
    with pytest.raises(CommandFailed, match=r"the command \(sleep\) was stopped: shootwatch is"):
        run_command([b"sleep", b"30"], tmp_path / "out.jpg", stop=stop)


def running(pid: int) -> bool:
    """Whether the process exists and is not a zombie waiting for its parent to reap it."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return status.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_timeout_stops_the_whole_process_group(tmp_path):
    """The program starts a child of its own; when the timeout stops the program, the child
    goes too."""
    pids = tmp_path / "pids"
    script = (
        "import os, subprocess, sys\n"
        "child = subprocess.Popen(['sleep', '30'])\n"
        "open(sys.argv[1] + '.tmp', 'w').write(f'{os.getpid()} {child.pid}')\n"
        "os.rename(sys.argv[1] + '.tmp', sys.argv[1])\n"
        "child.wait()\n"
    )
    argv = [os.fsencode(sys.executable), b"-c", script.encode(), os.fsencode(pids)]
    with pytest.raises(CommandFailed, match="did not finish within the timeout"):
        run_command(argv, tmp_path / "out.jpg", timeout=2.0)
    assert pids.exists(), "the program did not start its child before the timeout"
    program, child = (int(pid) for pid in pids.read_text().split())
    # SIGKILL has been sent to the group; a dying process may take a moment to be gone
    deadline = time.monotonic() + 10
    while (running(program) or running(child)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(program)
    assert not running(child)


# A process that runs a command (as the engine's stage runner does), then is killed.
RUNNER_SCRIPT = """
import os, sys
from pathlib import Path
from core.stages.command import run_command
run_command([os.fsencode(sys.executable), b"-c", sys.argv[1].encode(), sys.argv[2].encode()],
            Path(sys.argv[3]))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="SIGKILL and /proc: Linux")
@pytest.mark.parametrize("moment", ["at once", "after a while"])
def test_a_command_ends_when_the_process_that_started_it_is_killed(tmp_path, moment):
    """kill -9 of the process running a command: the command and the child it started end
    too (before, both ran on, for up to the command's whole timeout)."""
    import signal
    import subprocess

    pids = tmp_path / "pids"
    script = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen(['sleep', '300'])\n"
        "open(sys.argv[1] + '.tmp', 'w').write(f'{os.getpid()} {child.pid}')\n"
        "os.rename(sys.argv[1] + '.tmp', sys.argv[1])\n"
        "time.sleep(300)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    runner = subprocess.Popen(
        [sys.executable, "-c", RUNNER_SCRIPT, script, str(pids), str(tmp_path / "out")], env=env
    )
    try:
        deadline = time.monotonic() + 60
        while not pids.exists():
            assert time.monotonic() < deadline and runner.poll() is None, "the command never ran"
            time.sleep(0.02)
        if moment == "after a while":
            time.sleep(1)
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait(timeout=30)
    program, child = (int(pid) for pid in pids.read_text().split())
    deadline = time.monotonic() + 15  # a bound for a hang: they end within milliseconds
    while (running(program) or running(child)) and time.monotonic() < deadline:
        time.sleep(0.02)
    left = [pid for pid in (program, child) if running(pid)]
    for pid in left:  # leave nothing behind, even when failing
        os.kill(pid, signal.SIGKILL)
    assert left == []


def test_the_child_gets_the_parents_environment_unchanged(tmp_path, monkeypatch):
    """The child's side is read from /proc: the environment it was started with, before its
    own Python could change it. The parent's side is the C library's, not only os.environ: a
    native library in this process may have set variables (such as LINES) there, and a child
    inherits those too."""
    monkeypatch.setenv("SHOOTWATCH_TEST_VALUE", "kept")
    out = tmp_path / "env"
    script = "import sys, shutil; shutil.copyfile('/proc/self/environ', sys.argv[1])"
    run_stage([sys.executable, "-c", script, "{out}"], {"out": out})
    received = set(out.read_bytes().rstrip(b"\0").split(b"\0"))
    assert received == c_environment()
    assert {key + b"=" + value for key, value in os.environb.items()} <= received
    assert b"SHOOTWATCH_TEST_VALUE=kept" in received


def c_environment() -> set[bytes]:
    """This process's environment as the C library holds it: what a child started without
    an explicit environment receives."""
    entries = ctypes.POINTER(ctypes.c_char_p).in_dll(ctypes.CDLL(None), "environ")
    found, index = set(), 0
    while entries[index] is not None:
        found.add(entries[index])
        index += 1
    return found


# --- darktable-cli ------------------------------------------------------------------------------


@pytest.mark.skipif(
    shutil.which("darktable-cli") is None and os.environ.get(REQUIRE_ENV) != "1",
    reason=f"needs darktable-cli (set {REQUIRE_ENV}=1 to fail instead of skipping)",
)
def test_darktable_cli_exports_an_edited_jpeg(tmp_path):
    from PIL import Image

    copy = copy_fixture(tmp_path)
    source = copy.wedding("IMG_0002.JPG")
    out = tmp_path / "exports" / "IMG_0002.jpg"
    out.parent.mkdir()

    def literal(path: Path) -> str:  # a folder name in the command, braces escaped
        return str(path).replace("{", "{{").replace("}", "}}")

    argv = [
        "darktable-cli", "{src}", "{xmp}", "{out}", "--width", "400",
        "--core",
        "--configdir", literal(tmp_path / "darktable-config"),
        "--cachedir", literal(tmp_path / "darktable-cache"),
    ]  # fmt: skip
    values = {
        "src": source,
        "xmp": copy.wedding("IMG_0002.JPG.xmp"),
        "out": out,
        "stem": source.stem,
        "photo": "2",
        "outdir": out.parent,
    }
    run_stage(argv, values, timeout=120.0)
    with Image.open(out) as exported:
        assert exported.format == "JPEG"
        assert exported.width <= 400
    assert out.read_bytes() != source.read_bytes()
