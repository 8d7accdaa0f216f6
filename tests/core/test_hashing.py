"""blake3 of files on disk, including large ones, files that change, and files that vanish."""

from __future__ import annotations

import os
import struct

import blake3
import pytest

from core.scan.hashing import LARGE_FILE_BYTES, hash_file
from tests.helpers import write


def test_small_and_large_files_hash_like_blake3(tmp_path):
    small = write(tmp_path / "small.JPG", os.urandom(30_000))
    large = write(tmp_path / "large.MOV", os.urandom(LARGE_FILE_BYTES + 12_345))
    empty = write(tmp_path / "empty.CR2", b"")
    for path in (small, large, empty):
        outcome = hash_file(str(path))
        assert outcome.blake3 == blake3.blake3(path.read_bytes()).hexdigest()
        assert outcome.size == path.stat().st_size and outcome.error is None


def test_file_changed_since_the_callers_stat_is_read_as_it_is_now(tmp_path):
    path = write(tmp_path / "IMG.JPG", b"first version")
    stale = (path.stat().st_size, path.stat().st_mtime_ns)
    path.write_bytes(b"second, longer version")

    outcome = hash_file(str(path), expected=stale)

    assert outcome.blake3 == blake3.blake3(b"second, longer version").hexdigest()
    assert outcome.size == len(b"second, longer version")


def test_relative_to_a_folder_descriptor(tmp_path):
    write(tmp_path / "card" / "IMG.JPG", b"in a folder")
    folder = os.open(tmp_path / "card", os.O_RDONLY | os.O_DIRECTORY)
    try:
        outcome = hash_file("IMG.JPG", dir_fd=folder)
    finally:
        os.close(folder)
    assert outcome.blake3 == blake3.blake3(b"in a folder").hexdigest()


def test_vanished_and_unreadable_files_give_a_reason_not_an_exception(tmp_path):
    gone = hash_file(str(tmp_path / "gone.JPG"))
    assert gone.vanished and gone.blake3 is None and gone.error == "vanished while being read"

    (tmp_path / "link.JPG").symlink_to(tmp_path / "elsewhere.JPG")
    linked = hash_file(str(tmp_path / "link.JPG"))
    assert linked.blake3 is None and not linked.vanished and linked.error


@pytest.mark.parametrize("size", [30_000, LARGE_FILE_BYTES + 12_345], ids=["read", "mapped"])
def test_what_is_made_of_the_bytes_belongs_to_the_read_the_hash_is_of(tmp_path, size):
    """A file written to while its bytes are looked at is read again: what ``look`` made of
    the first read is dropped with its hash."""
    path = write(tmp_path / "IMG.JPG", os.urandom(size))
    seen = []

    def look(content) -> bytes:
        seen.append(bytes(content[:16]))
        if len(seen) == 1:  # a copy still being written, the first time round
            with open(path, "ab") as more:
                more.write(b"more")
            os.utime(path, ns=(0, path.stat().st_mtime_ns + 10**9))
        return bytes(content[-4:])

    outcome = hash_file(str(path), look=look)

    assert len(seen) == 2
    assert outcome.blake3 == blake3.blake3(path.read_bytes()).hexdigest()
    assert outcome.looked == b"more"


@pytest.mark.parametrize("size", [30_000, LARGE_FILE_BYTES + 12_345], ids=["read", "mapped"])
def test_a_look_that_fails_never_fails_the_hash(tmp_path, size):
    path = write(tmp_path / "IMG.CR2", os.urandom(size))

    def look(content) -> None:
        raise struct.error("a parser tripped on this file")

    outcome = hash_file(str(path), look=look)

    assert outcome.blake3 == blake3.blake3(path.read_bytes()).hexdigest()
    assert outcome.error is None and outcome.looked is None
