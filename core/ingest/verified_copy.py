"""One file copied to every destination from a single read of its source, each copy flushed to
disk, dropped from the page cache, read back and checked against the source's blake3 before it
takes its name.

A copy is written under a hidden temporary name beside its destination (never catalogued) and
linked to its name only once verified, so a name in a destination always holds a verified copy;
a name already there is never replaced. The source is only read: a card is never written to.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import blake3

from core.files import open_to_read, sync_folder

CHUNK = 1 << 20  # read once, written to each destination in turn
TEMPORARY_PREFIX = ".shootwatch-card-"  # hidden: never catalogued, even if left behind
ATTEMPTS = 2  # a copy that reads back wrong is made once more, then reported


class CopyFailed(Exception):
    """The file could not be copied and verified to a destination; the message says why.
    Nothing is left under the destination's name."""


@dataclass(frozen=True)
class Copied:
    blake3: str
    size: int
    destinations: tuple[Path, ...]
    attempts: int  # 1, or 2 when the first copy read back wrong
    # Per destination, the seconds spent on it: writing, flushing and reading back (what
    # tells a slow backup drive from a slow card).
    seconds: tuple[float, ...] = ()


# Called with the source and its temporary copies once written and flushed, before they are
# read back: the tests' way to damage a copy on its way to the disk, as a failing drive or
# cable would, or to pull the card out.
AfterWrite = Callable[[Path, Sequence[Path]], None]


def temporary_for(destination: Path, tag: str) -> Path:
    return destination.with_name(f"{TEMPORARY_PREFIX}{tag}.tmp")


def copy_verified(
    source: Path,
    destinations: Sequence[Path],
    tag: str,
    after_write: AfterWrite | None = None,
    before_naming: Callable[[str], None] | None = None,
) -> Copied:
    """``source`` copied to each of ``destinations`` (full paths, folders made as needed) and
    verified: ``start_copy``, ``PendingCopy.verify`` and ``PendingCopy.finish`` in turn (a
    card pass runs the verifying of one file while it writes the next)."""
    return start_copy(source, destinations, tag, after_write).verify().finish(before_naming)


@dataclass
class PendingCopy:
    """A file written to each destination's temporary, not yet on the disk for sure nor read
    back; then verified (which may run on another thread), then named, in that order."""

    source: Path
    destinations: tuple[Path, ...]
    temporaries: tuple[Path, ...]
    after_write: AfterWrite | None
    digest: str = ""
    size: int = 0
    attempt: int = 1
    spent: list[float] = field(default_factory=list)  # per destination, see Copied.seconds
    wrong: set[Path] = field(default_factory=set)  # the temporaries that read back wrong

    def verify(self) -> PendingCopy:
        """Each copy flushed to its disk, dropped from the page cache, handed to
        ``after_write``, then read back and matched with the source's blake3 (the copies
        together, one thread each). Touches no catalogue. Raises CopyFailed (temporaries
        removed)."""
        try:
            _flush(self.temporaries, self.spent)
            if self.after_write is not None:
                self.after_write(self.source, self.temporaries)
            self.wrong = _read_back(self.temporaries, self.digest, self.size, self.spent)
        except CopyFailed:
            _remove(self.temporaries)
            raise
        return self

    def finish(self, before_naming: Callable[[str], None] | None = None) -> Copied:
        """A copy that read back wrong made and verified once more (then CopyFailed); then
        ``before_naming`` given the blake3 (a journal keeps it; raising CopyFailed there stops
        the copy), then each copy takes its name. Raises CopyFailed with nothing left at any
        destination name and the temporaries removed."""
        while self.wrong:
            problem = ", ".join(str(d) for t, d in zip(self.temporaries, self.destinations,
                                                       strict=True) if t in self.wrong)  # fmt: skip
            _remove(self.temporaries)
            if self.attempt == ATTEMPTS:
                raise CopyFailed(
                    f"the copy read back different from the source {ATTEMPTS} times at "
                    f"{problem}: check that drive (and its cable)"
                )
            self.attempt += 1
            _write_into(self)
            self.verify()
        if before_naming is not None:
            try:
                before_naming(self.digest)
            except CopyFailed:
                _remove(self.temporaries)
                raise
        _name(self.temporaries, self.destinations)
        return Copied(self.digest, self.size, self.destinations, self.attempt, tuple(self.spent))


def start_copy(
    source: Path, destinations: Sequence[Path], tag: str, after_write: AfterWrite | None = None
) -> PendingCopy:
    """``source`` read once, hashed, and written to a temporary beside each of
    ``destinations`` (``tag`` names them: unique per file being copied). Raises CopyFailed
    (temporaries removed) when the source cannot be read, a copy cannot be written, or a
    destination name is taken."""
    for destination in destinations:
        if os.path.lexists(destination):
            raise CopyFailed(f"{destination} is already there (never replaced)")
    pending = PendingCopy(source, tuple(destinations),
                          tuple(temporary_for(d, tag) for d in destinations), after_write,
                          spent=[0.0] * len(destinations))  # fmt: skip
    _write_into(pending)
    return pending


def _write_into(pending: PendingCopy) -> None:
    try:
        pending.digest, pending.size = _write_all(pending.source, pending.temporaries,
                                                  pending.spent)  # fmt: skip
    except CopyFailed:
        _remove(pending.temporaries)
        raise


def _write_all(source: Path, temporaries: Sequence[Path], spent: list[float]) -> tuple[str, int]:
    """The source read once, each chunk hashed and written to every temporary, with the
    source's modification time (the time the camera wrote it). The seconds each temporary
    took are added to ``spent``."""
    outputs: list[int] = []
    try:
        for temporary in temporaries:
            temporary.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)  # left by a copy cut short
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
            outputs.append(os.open(temporary, flags, 0o666))  # less the umask: never 0600
        hasher = blake3.blake3()
        size = 0
        try:
            handle = open_to_read(source)
        except OSError as error:
            raise CopyFailed(f"cannot read {source}: {error.strerror or error}") from None
        with handle:
            modified_ns = os.fstat(handle.fileno()).st_mtime_ns
            while True:
                try:
                    chunk = handle.read(CHUNK)
                except OSError as error:  # the card pulled out, a bad sector
                    why = error.strerror or error
                    raise CopyFailed(f"reading {source} failed: {why}") from None
                if not chunk:
                    break
                hasher.update(chunk)
                size += len(chunk)
                for index, (fd, temporary) in enumerate(zip(outputs, temporaries, strict=True)):
                    started = time.perf_counter()
                    _write_fully(fd, chunk, temporary)
                    spent[index] += time.perf_counter() - started
        for fd, temporary in zip(outputs, temporaries, strict=True):
            try:
                os.utime(fd, ns=(modified_ns, modified_ns))
            except OSError as error:
                raise CopyFailed(f"{temporary.parent} could not keep the time: {error}") from None
        return hasher.hexdigest(), size
    except OSError as error:
        raise CopyFailed(_describe(error)) from None
    finally:
        for fd in outputs:
            os.close(fd)


def _flush(temporaries: Sequence[Path], spent: list[float]) -> None:
    """Each copy flushed to its disk and dropped from the page cache, so that reading it back
    reads the disk (fsync flushes the file's pages whichever descriptor asks)."""
    for index, temporary in enumerate(temporaries):
        started = time.perf_counter()
        try:
            fd = os.open(temporary, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as error:
            raise CopyFailed(f"the copy in {temporary.parent} is gone: {error.strerror}") from None
        try:
            os.fsync(fd)
            with contextlib.suppress(OSError):  # not every file system keeps a page cache
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        except OSError as error:
            raise CopyFailed(f"{temporary.parent} could not flush the copy: {error}") from None
        finally:
            os.close(fd)
        spent[index] += time.perf_counter() - started


def _write_fully(fd: int, chunk: bytes, temporary: Path) -> None:
    view = memoryview(chunk)
    while view:
        try:
            written = os.write(fd, view)
        except OSError as error:
            if error.errno == errno.ENOSPC:
                raise CopyFailed(f"{temporary.parent} is full") from None
            raise CopyFailed(f"writing to {temporary.parent} failed: {error.strerror}") from None
        view = view[written:]


def _read_back(
    temporaries: Sequence[Path], digest: str, size: int, spent: list[float]
) -> set[Path]:
    """The copies whose content is not the source's, each read back in its own thread (the
    destinations are separate drives: read together, as fast as the slower); the seconds
    each took added to ``spent``."""
    if len(temporaries) == 1:
        results = [_digest_of(temporaries[0])]
    else:
        with ThreadPoolExecutor(len(temporaries), thread_name_prefix="verify") as pool:
            results = list(pool.map(_digest_of, temporaries))
    for index, (_, _, seconds) in enumerate(results):
        spent[index] += seconds
    return {
        temporary
        for temporary, (found, length, _) in zip(temporaries, results, strict=True)
        if found != digest or length != size
    }


def _digest_of(path: Path) -> tuple[str, int, float]:
    """(blake3, size, seconds it took)."""
    started = time.perf_counter()
    hasher = blake3.blake3()
    size = 0
    try:
        with open_to_read(path) as handle:
            while chunk := handle.read(CHUNK):
                hasher.update(chunk)
                size += len(chunk)
    except OSError as error:
        raise CopyFailed(f"cannot read the copy back in {path.parent}: {error.strerror}") from None
    return hasher.hexdigest(), size, time.perf_counter() - started


def _name(temporaries: Sequence[Path], destinations: Sequence[Path]) -> None:
    """Each verified copy linked to its name (failing, not replacing, if one appeared since),
    its temporary name removed and its folder synced."""
    named: list[Path] = []
    try:
        for temporary, destination in zip(temporaries, destinations, strict=True):
            os.link(temporary, destination)
            named.append(destination)
    except OSError as error:
        for destination in named:
            with contextlib.suppress(OSError):
                os.unlink(destination)
        _remove(temporaries)
        if error.errno == errno.EEXIST:
            raise CopyFailed(f"{error.filename} appeared meanwhile (never replaced)") from None
        raise CopyFailed(_describe(error)) from None
    _remove(temporaries)
    for folder in {d.parent for d in destinations}:
        sync_folder(folder)


def _remove(paths: Sequence[Path]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            os.unlink(path)


def digest_of(path: Path) -> str:
    """The blake3 of a file as it is on its disk now (for checking a copy again later)."""
    return _digest_of(path)[0]


def _describe(error: OSError) -> str:
    where = f" ({error.filename})" if error.filename else ""
    return f"{error.strerror or error}{where}"
