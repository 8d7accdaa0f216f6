"""write_atomically: a reader, a killed writer or a failing one sees the old file or the new one,
never part of one; the file's permissions are kept (or the umask's for a new file, or the
caller's); and the data and the rename are flushed to disk, in that order (checked on the real
system calls with strace)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core.files import write_atomically

REPO = Path(__file__).resolve().parents[2]
KB = 1024
MB = 1024 * KB

# A child that writes two contents over one file in turn, for ever, and says when it has begun.
WRITER = """
import sys
sys.path.insert(0, {repo!r})
from core.files import write_atomically
path, size, atomic = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "atomic"
contents = [b"a" * size, b"b" * size]
turn = 0
while True:
    if atomic:
        write_atomically(path, contents[turn % 2])
    else:  # what write_atomically replaces: truncate, then write
        with open(path, "wb") as handle:
            handle.write(contents[turn % 2])
    turn += 1
    if turn == 1:
        print("writing", flush=True)
"""


def kill_while_writing(path: Path, size: int, delay: float, atomic: bool) -> bytes:
    """The file's content after its writer was killed ``delay`` s into writing it over and
    over."""
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER.format(repo=str(REPO)), str(path), str(size),
         "atomic" if atomic else "plain"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None and child.stdout.readline() == "writing\n"
        time.sleep(delay)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    return path.read_bytes()


@pytest.mark.parametrize("size", [4 * KB, 4 * MB], ids=["4KB", "4MB"])
@pytest.mark.parametrize("delay_ms", [0, 1, 3, 10, 30, 100])
def test_a_writer_killed_at_any_moment_leaves_the_old_content_or_the_new(tmp_path, size, delay_ms):
    path = tmp_path / "photo.jpg.xmp"
    path.write_bytes(b"o" * size)
    content = kill_while_writing(path, size, delay_ms / 1000, atomic=True)
    assert content in (b"a" * size, b"b" * size), (len(content), content[:1], content[-1:])
    # what a killed writer cannot clean up is a hidden .tmp beside it, never the file itself
    assert {p.name for p in tmp_path.iterdir()} - {"photo.jpg.xmp"} <= {
        p.name for p in tmp_path.glob(".photo.jpg.xmp.*.tmp")
    }


def test_the_kill_harness_catches_a_writer_that_is_not_atomic(tmp_path):
    """The test above can fail: a plain truncate-and-write, killed the same way, is caught
    leaving part of a file (within a few tries)."""
    size = 4 * MB
    path = tmp_path / "photo.jpg.xmp"
    path.write_bytes(b"o" * size)
    for attempt in range(40):
        content = kill_while_writing(path, size, (attempt % 5) / 1000, atomic=False)
        if content not in (b"a" * size, b"b" * size):
            return
    pytest.fail("40 plain writes killed mid-way all left whole files")


def test_a_reader_sees_the_old_file_or_the_new_never_part(tmp_path):
    path = tmp_path / "thumb.jpg"
    size = 1 * MB
    contents = (b"a" * size, b"b" * size)
    path.write_bytes(contents[0])
    done = threading.Event()
    seen: list[bytes] = []

    def read() -> None:
        while not done.is_set():
            data = path.read_bytes()
            if data not in contents:
                seen.append(data)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for turn in range(100):
            write_atomically(path, contents[turn % 2])
    finally:
        done.set()
        reader.join()
    assert seen == []


def test_a_write_that_fails_half_way_leaves_the_old_file_and_no_trace(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b"old")

    def fail_half_way(handle) -> None:
        handle.write(b"new, but not all of it")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        write_atomically(path, fail_half_way)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]


def test_a_write_into_a_missing_folder_fails_and_leaves_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_atomically(tmp_path / "gone" / "x.jpg", b"data")
    assert list(tmp_path.iterdir()) == []


def test_the_status_returned_is_the_file_written(tmp_path):
    path = tmp_path / "x.jpg"
    returned = write_atomically(path, b"12345")
    now = path.stat()
    assert (returned.st_ino, returned.st_size, returned.st_mtime_ns) == (
        now.st_ino, 5, now.st_mtime_ns,
    )  # fmt: skip


@pytest.mark.parametrize("content", ["bytes", "written"])
def test_the_file_is_stamped_after_its_last_write(tmp_path, content):
    """A stamp given is the file's modification time, whatever the writing did after it."""
    path = tmp_path / "preview.jpg"
    data = b"jpeg" * 10_000
    write_atomically(path, data if content == "bytes" else lambda handle: handle.write(data),
                     mtime_ns=10**18)  # fmt: skip
    assert path.stat().st_mtime_ns == 10**18 and path.read_bytes() == data


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002, 0o000])
@pytest.mark.parametrize("existing", [None, 0o640, 0o604, 0o600, 0o755])
@pytest.mark.parametrize("given", [None, 0o600])
def test_permissions_are_kept_or_the_umasks_or_the_callers(tmp_path, umask, existing, given):
    path = tmp_path / "IMG_0001.CR2.xmp"
    if existing is not None:
        path.write_bytes(b"old")
        os.chmod(path, existing)
    previous = os.umask(umask)
    try:
        write_atomically(path, b"new", mode=given)
    finally:
        os.umask(previous)
    expected = given if given is not None else existing if existing is not None else 0o666 & ~umask
    assert oct(stat.S_IMODE(path.stat().st_mode)) == oct(expected)
    assert path.read_bytes() == b"new"


def test_the_data_reaches_the_disk_before_the_rename_and_the_rename_after(tmp_path):
    """The system calls themselves, as strace sees them: the temporary file is created beside
    the target, its data synced, renamed over the target, then the folder synced."""
    if shutil.which("strace") is None:
        if os.environ.get("CI"):
            pytest.fail("strace is not installed (.ci/run installs it)")
        pytest.skip("strace is not installed")
    path = tmp_path / "IMG_0001.CR2.xmp"
    path.write_bytes(b"old")
    script = f"import sys; sys.path.insert(0, {str(REPO)!r})\n" + (
        f"from core.files import write_atomically\nwrite_atomically({str(path)!r}, b'new' * 1000)\n"
    )
    traced = subprocess.run(
        ["strace", "-qq", "-e", "trace=openat,fsync,fdatasync,rename,renameat,renameat2,close",
         sys.executable, "-c", script],
        capture_output=True, text=True, check=True,
    ).stderr.splitlines()  # fmt: skip
    folder = re.escape(str(tmp_path))
    steps = []
    opened: dict[str, str] = {}  # descriptor -> what it is open on, until it is closed
    temporary = ""
    for line in traced:
        if m := re.match(rf'openat\(AT_FDCWD, "{folder}/(\.IMG_0001\.CR2\.xmp\.\w+\.tmp)", '
                         r".*O_EXCL.*\) = (\d+)", line):  # fmt: skip
            temporary, opened[m[2]] = m[1], "temporary"
            steps.append("create temporary")
        elif m := re.match(rf'openat\(AT_FDCWD, "{folder}", .*O_DIRECTORY.*\) = (\d+)', line):
            opened[m[1]] = "folder"
            steps.append("open folder")
        elif (m := re.match(r"f(?:data)?sync\((\d+)\)", line)) and m[1] in opened:
            steps.append(f"sync {opened[m[1]]}")
        elif m := re.match(r"close\((\d+)\)", line):
            opened.pop(m[1], None)
        elif re.match(rf'rename(?:at2?)?\(.*"{folder}/\.IMG.*\.tmp".*"{folder}/IMG_0001\.CR2\.xmp"',
                      line):  # fmt: skip
            steps.append("rename")
    assert steps == ["create temporary", "sync temporary", "rename", "open folder", "sync folder"]
    assert path.read_bytes() == b"new" * 1000 and not (tmp_path / temporary).exists()
