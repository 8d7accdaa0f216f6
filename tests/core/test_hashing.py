"""blake3 of files on disk, including large ones, files that change, and files that vanish."""

from __future__ import annotations

import os

import blake3

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
