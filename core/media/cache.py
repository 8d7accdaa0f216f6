"""The preview cache: preview JPEGs on disk by the blake3 of the photo they show, the least
recently shown removed first once the cache is over its size.

Files are the only state, so worker processes and the app can share one cache: a write is
atomic (two writers of one key leave one whole file), a file's mtime is its last use (``get``
bumps it), and a file deleted behind the cache's back is a miss. A preview's place depends on
the photo's content and the preview's size alone, never on where its original is, so an app
on another machine finds the engine's previews in the engine's cache folder mounted there
(read-only will do: a look that cannot bump a file's use is a hit all the same).
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from core.files import TEMPORARY_SUFFIX, write_atomically

if TYPE_CHECKING:
    from core.config import MediaSettings

# Eviction goes a little below the limit, so that a full cache does not scan its folder on every
# write: with 300 KB previews, 10% of 2 GB is ~700 writes between scans.
EVICT_TO_FRACTION = 0.9
# A temporary file this old was left by a writer that died (a live write takes milliseconds).
STALE_TEMPORARY_NS = 3600 * 10**9
PREVIEW_SUFFIX = ".jpg"
BLAKE3_HEX = re.compile(r"[0-9a-f]{8,128}")

_clock_lock = threading.Lock()
_last_use_ns = 0


def _use_time_ns() -> int:
    """Now, in ns, and later than any earlier use in this process: the kernel stamps files with a
    clock that ticks every few ms, so two uses in a row would otherwise tie in the LRU order."""
    global _last_use_ns
    with _clock_lock:
        _last_use_ns = max(time.time_ns(), _last_use_ns + 1)
        return _last_use_ns


def preview_cache_dir(settings: MediaSettings) -> Path:
    """Previews of one size live together: another size setting does not serve stale ones."""
    return Path(settings.preview_cache) / str(settings.preview_long_edge)


class PreviewCache:
    """Previews under ``root``, at most ``max_bytes`` of them (the one just written stays)."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        if not self.root.is_dir():
            made = [folder for folder in (self.root, *self.root.parents) if not folder.exists()]
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                for folder in made:  # previews show the user's photos: every folder made is theirs
                    os.chmod(folder, 0o700)
            except OSError:
                # The engine's cache shared read-only with an app on another machine, before
                # the engine made this size's folder: nothing in it yet, every look a miss.
                pass
        self._lock = threading.Lock()
        # Bytes in the cache as this instance knows them: scanned at the first write, then kept
        # by adding what it writes; other processes' writes are counted at the next eviction.
        self._total: int | None = None

    def path_for(self, blake3: str) -> Path:
        if not BLAKE3_HEX.fullmatch(blake3):
            raise ValueError(f"not a blake3 hex digest: {blake3!r}")
        return self.root / blake3[:2] / f"{blake3}{PREVIEW_SUFFIX}"

    def get(self, blake3: str) -> Path | None:
        """The preview's path, or None; a hit becomes the most recently used."""
        path = self.path_for(blake3)
        try:
            if os.stat(path).st_size == 0:
                # Written by a process that crashed before the data reached the disk (left
                # where it is in a cache this process may only read: a miss all the same).
                with contextlib.suppress(OSError):
                    path.unlink(missing_ok=True)
                return None
            now = _use_time_ns()
            os.utime(path, ns=(now, now))
        except FileNotFoundError:
            return None
        except OSError:
            pass  # a hit all the same; only its place in the LRU order is lost
        return path

    def read(self, blake3: str) -> bytes | None:
        """The preview's bytes, or None: ``get`` then read, for callers who would otherwise
        race an eviction between the two."""
        path = self.get(blake3)
        if path is None:
            return None
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    def put(self, blake3: str, data: bytes) -> Path:
        """Store a preview (replacing any earlier one) and evict the least recently used others
        while the cache is over its size."""
        path = self.path_for(blake3)
        with self._lock:
            if self._total is None:
                self._total = sum(size for _mtime, size, _path in self._previews())
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            replaced = os.stat(path).st_size
        except FileNotFoundError:
            replaced = 0
        # 0o600 however the umask is set: previews show the photographer's photos; the mtime is
        # its last use, the LRU order
        write_atomically(path, data, mode=0o600, mtime_ns=_use_time_ns())
        with self._lock:
            self._total += len(data) - replaced
            if self._total > self.max_bytes:
                self._evict(keep=path)
        return path

    def total_bytes(self) -> int:
        with self._lock:
            if self._total is None:
                self._total = sum(size for _mtime, size, _path in self._previews())
            return self._total

    def _evict(self, keep: Path) -> None:
        """Delete the least recently used previews until the cache is at EVICT_TO_FRACTION of
        its size, counting what is on disk now (other processes write here too)."""
        previews = sorted(self._previews())
        total = sum(size for _mtime, size, _path in previews)
        target = int(self.max_bytes * EVICT_TO_FRACTION)
        for _mtime, size, path in previews:
            if total <= target:
                break
            if path == keep:
                continue
            path.unlink(missing_ok=True)  # missing: another process evicted it first
            total -= size
        self._total = total

    def _previews(self) -> list[tuple[int, int, Path]]:
        """(mtime ns, size, path) of every preview on disk; removes temporary files that writers
        which died left behind."""
        found = []
        now = time.time_ns()
        try:
            folders = [entry for entry in os.scandir(self.root) if len(entry.name) == 2]
        except FileNotFoundError:
            return found
        for folder in folders:
            try:
                entries = list(os.scandir(folder.path))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                try:
                    stat = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if entry.name.endswith(PREVIEW_SUFFIX):
                    found.append((stat.st_mtime_ns, stat.st_size, Path(entry.path)))
                elif (
                    entry.name.endswith(TEMPORARY_SUFFIX)
                    and now - stat.st_mtime_ns > STALE_TEMPORARY_NS
                ):
                    Path(entry.path).unlink(missing_ok=True)
        return found
