"""A memory card (or any folder of camera files) as an ingest source: which card it is (its file
system's UUID and label when the card itself is named, else its folder) and the files on it.

Only read: nothing here writes to a card.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from core.media.kinds import kind_from_name
from core.scan.mounts import mount_holding

CAMERA_FOLDER = "DCIM"  # DCF: every camera keeps its pictures under it
BY_UUID = Path("/dev/disk/by-uuid")
BY_LABEL = Path("/dev/disk/by-label")


class CardUnreadable(Exception):
    """The card (or folder) cannot be listed; the message says why."""


@dataclass(frozen=True)
class CardIdentity:
    key: str  # "uuid:<UUID>", or "folder:<absolute path>" for a folder that is not a card
    uuid: str | None
    label: str | None
    path: Path  # the folder given, resolved
    files_root: Path  # where its camera files are: its DCIM folder, else the folder itself

    @property
    def name(self) -> str:
        """How to speak of it: its label, else its folder."""
        return self.label or str(self.path)


@dataclass(frozen=True)
class CardFile:
    rel_path: str  # below ``files_root``, "/"-separated
    size: int
    mtime_ns: int
    kind: str


def identify(path: Path) -> CardIdentity:
    """The card at ``path``: a mounted file system (its mount point, or its DCIM folder) is
    known by its UUID wherever it is mounted next time; any other folder by its path."""
    resolved = path.resolve()
    if not resolved.is_dir():
        raise CardUnreadable(f"{path} is not a folder (a card's mount point or a folder of photos)")
    files_root = resolved / CAMERA_FOLDER if (resolved / CAMERA_FOLDER).is_dir() else resolved
    mount = mount_holding(str(resolved))
    uuid = label = None
    if mount is not None and str(resolved) in (
        mount.mount_point,
        os.path.join(mount.mount_point, CAMERA_FOLDER),
    ):
        uuid, label = _uuid_and_label(mount.source)
        if label is None and mount.mount_point not in ("/", ""):
            label = os.path.basename(mount.mount_point)  # /media/me/EOS_DIGITAL: its label
    key = f"uuid:{uuid}" if uuid else f"folder:{resolved}"
    return CardIdentity(key, uuid, label, resolved, files_root)


def _uuid_and_label(device: str) -> tuple[str | None, str | None]:
    """A block device's file system UUID and label: from udev's links where there are some,
    else from ``blkid`` (which reads the device: root, or the disk group)."""
    if not device.startswith("/dev/"):
        return None, None
    real = os.path.realpath(device)
    found = {}
    for folder, what in ((BY_UUID, "UUID"), (BY_LABEL, "LABEL")):
        try:
            for link in folder.iterdir():
                if os.path.realpath(link) == real:
                    found[what] = _unescape_udev(link.name)
        except OSError:
            pass
    if "UUID" not in found:
        try:
            # No cache (-c /dev/null): it can keep the UUID of what a device held before (a
            # loop device, a reader's /dev/sdb given to the next card).
            answer = subprocess.run(
                ["blkid", "-c", "/dev/null", "-o", "export", "-s", "UUID", "-s", "LABEL", real],
                capture_output=True, text=True, timeout=10, check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired):
            answer = None
        if answer is not None and answer.returncode == 0:
            for line in answer.stdout.splitlines():
                key, _, value = line.partition("=")
                if key in ("UUID", "LABEL") and value:
                    found.setdefault(key, value)
    return found.get("UUID"), found.get("LABEL")


def _unescape_udev(name: str) -> str:
    # udev writes a space in a label as \x20
    return name.encode().decode("unicode_escape") if "\\x" in name else name


def card_files(card: CardIdentity) -> list[CardFile]:
    """Every file under the card's camera folder (hidden ones aside: a camera's own
    housekeeping, a desktop's .Trashes), in name order. Raises CardUnreadable when a folder
    of it cannot be read (a card half read is never called complete), or when there is
    nothing at all: no DCIM folder and no file."""
    found: list[CardFile] = []
    pending = [""]
    while pending:
        folder = pending.pop()
        path = card.files_root / folder if folder else card.files_root
        try:
            with os.scandir(path) as entries:
                listed = list(entries)
        except OSError as error:
            raise CardUnreadable(f"cannot read {path}: {error.strerror or error}") from None
        for entry in listed:
            if entry.name.startswith("."):
                continue
            rel = f"{folder}/{entry.name}" if folder else entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(rel)
                elif entry.is_file(follow_symlinks=False):
                    status = entry.stat(follow_symlinks=False)
                    kind = kind_from_name(entry.name)
                    found.append(CardFile(rel, status.st_size, status.st_mtime_ns, kind))
            except OSError as error:
                raise CardUnreadable(f"cannot read {path / entry.name}: {error.strerror}") from None
    if not found and card.files_root.name != CAMERA_FOLDER:
        # An empty mount point (the card pulled out, or not mounted yet) is never a card
        # whose files are all safe.
        raise CardUnreadable(
            f"no files at {card.path}: is the card in its reader, and mounted there?"
        )
    found.sort(key=lambda f: f.rel_path)
    return found


class ReadAhead:
    """The card's next files read into the page cache by a thread of its own, at most
    ``window`` bytes ahead of the file being copied: the card keeps streaming while a copy is
    written and verified, as ``cp`` keeps it streaming. A file it cannot read is left to the
    copy, which says why."""

    CHUNK = 4 << 20

    def __init__(self, files: list[tuple[Path, int]], window: int = 256 << 20) -> None:
        self._files = files
        # Bytes before each file: how far ahead a file is, without summing the list again.
        self._starts = list(itertools.accumulate((size for _, size in files), initial=0))
        self._window = window
        self._position = 0  # the index of the file being copied
        self._closed = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="card-read-ahead", daemon=True)
        self._thread.start()

    def reached(self, index: int) -> None:
        """The copy is at file ``index`` of the list."""
        with self._changed:
            self._position = index
            self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        buffer = bytearray(self.CHUNK)
        for index, (path, _size) in enumerate(self._files):
            with self._changed:
                while not self._closed and self._ahead(index) > self._window:
                    self._changed.wait()
                if self._closed:
                    return
            try:
                with open(path, "rb", buffering=0) as handle:
                    while handle.readinto(buffer):
                        if self._closed:
                            return
            except OSError:
                continue

    def _ahead(self, index: int) -> int:
        """Bytes from the file being copied up to file ``index``."""
        return max(0, self._starts[index] - self._starts[self._position])


def mounted_cards(folders: tuple[Path, ...]) -> list[Path]:
    """The cards mounted in ``folders`` (or one level below: /media/LABEL, /media/me/LABEL):
    mount points holding a DCIM folder. Folders that are not there are no cards."""
    found = []
    for folder in folders:
        for child in _subfolders(folder):
            candidates = [child] if os.path.ismount(child) else _subfolders(child)
            found.extend(
                c for c in candidates if os.path.ismount(c) and (c / CAMERA_FOLDER).is_dir()
            )
    return sorted(set(found))


def _subfolders(folder: Path) -> list[Path]:
    try:
        with os.scandir(folder) as entries:
            return [Path(e.path) for e in entries if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []
