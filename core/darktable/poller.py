"""The darktable poller: reads library.db when it has changed and then been quiet for a moment,
or on a slow fallback interval; never two reads at once, never while darktable is writing.

A poll asks the cheapest question first (library.db's header: was it written?), then, per
table, the sums of buckets of 256 ids in one pass each; only inside the buckets whose sum moved
the sums of buckets of 8 ids, and it reads only the images in those that moved. A missing,
locked or damaged library is a state with its reason; the poller retries with backoff.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from peewee import Database

from core.darktable.library import (
    DarktableWriting,
    LibraryPaths,
    LibraryUnavailable,
    QuietGate,
    Schema,
    Sums,
    bucket_ids,
    change_stamp,
    coarse_of,
    darktable_pid,
    fine_in,
    read_coarse_sums,
    read_film_rolls,
    read_fine_sums,
    read_images,
    read_schema,
    read_tag_names,
    seconds_since_written,
    used_tag_ids,
)
from core.darktable.state import from_library
from core.darktable.sync import DarktableSync, LibraryRead

log = logging.getLogger("shootwatch.darktable")

FULL_CHECK_SECONDS = 600.0  # a full comparison now and then catches what the sums cannot
MAX_BACKOFF_SECONDS = 60.0
WATCH_RETRY_SECONDS = 5.0


@dataclass(frozen=True)
class PollerState:
    status: str  # running, idle, degraded, off
    task: str | None = None
    error: str | None = None


class LibraryReader:
    """Reads what changed in the library since its last read (its memory: per table, the sums
    of the buckets of 8 ids, and of 256 ids added up from them)."""

    def __init__(self, paths: LibraryPaths, quiet_seconds: float = 0.0) -> None:
        self.paths = paths
        # Every statement waits for library.db (or data.db) to have been quiet this long.
        self.gate = QuietGate(quiet_seconds)
        self.schema: Schema | None = None
        self._fine: Sums | None = None
        self._coarse: Sums | None = None
        self._film_rolls: str | None = None
        self._stamp: tuple | None = None  # library.db's change stamp at the last read
        self._next_full = 0.0
        # Tag names: the data.db they come from (looked for unless named) and its stamp.
        self.tag_names: dict[int, str] | None = None  # None: not known (yet)
        self.tags_problem: str | None = None  # why they are not known: darktable is degraded
        self._data: Path | None = None
        self._data_stamp: tuple | None = None

    def quiet_left(self) -> float:
        """Seconds until library.db and data.db have both been quiet for the quiet window."""
        left = 0.0
        for path in (self.paths.library, self._data or self.paths.data):
            age = seconds_since_written(path)
            if age is not None:
                left = max(left, self.gate.seconds - age)
        return left

    def forget(self) -> None:
        """The last read was not applied: read everything next time."""
        self._fine = self._coarse = self._film_rolls = self._stamp = None

    def _learn_tag_names(self, needed: set[int] | None = None) -> bool:
        """Find data.db (``LibraryPaths.data_candidates``: the first that names every tag the
        library uses) and read its tag names. True when names shootwatch already showed are
        different now (learnt at last, or renamed in darktable): every image is read again."""
        if needed is None:
            needed = used_tag_ids(self.paths, self.gate)
        before, had_problem = self.tag_names, self.tags_problem is not None
        tried = []
        for candidate in self.paths.data_candidates():
            if not candidate.exists():
                continue
            tried.append(str(candidate))
            try:
                names = read_tag_names(LibraryPaths(self.paths.library, candidate), self.gate)
            except DarktableWriting:
                raise
            except LibraryUnavailable:
                continue
            if needed <= names.keys():
                self.tag_names, self.tags_problem = names, None
                self._data, self._data_stamp = candidate, change_stamp(candidate)
                break
        else:
            if not needed:  # no image has a tag: no names are needed
                self.tag_names, self.tags_problem = {}, None
                self._data = self._data_stamp = None
            else:
                self.tag_names, self._data, self._data_stamp = None, None, None
                looked = ", ".join(str(c) for c in self.paths.data_candidates())
                found = (
                    f" (found, without this library's tags: {', '.join(tried)})" if tried else ""
                )
                self.tags_problem = (
                    f"tag names unknown: no data.db with the {len(needed)} tags this library "
                    f"uses at {looked}{found}; darktable keeps data.db in its --configdir: set "
                    "darktable.data to that folder's data.db"
                )
        if had_problem and self.tags_problem is None:
            return True
        return (
            before is not None
            and self.tag_names is not None
            and any(self.tag_names.get(tag_id) != name for tag_id, name in before.items())
        )

    def _tag_names_moved(self) -> bool:
        """Whether data.db must be looked at again (its names unknown, or it was written), and
        if so whether names already shown changed."""
        known = self.tag_names is not None and self.tags_problem is None
        if known and (self._data is None or change_stamp(self._data) == self._data_stamp):
            return False
        return self._learn_tag_names()

    def read(self) -> LibraryRead | None:
        """What changed, or None when nothing did. Raises LibraryUnavailable."""
        full = self._fine is None or time.monotonic() >= self._next_full
        if self._fine is not None and self._tag_names_moved():
            full = True  # names learnt or renamed: every image again, with its names
        # Taken before reading: a write while we read changes it, and the next poll reads.
        stamp = change_stamp(self.paths.library)
        if stamp is not None and stamp == self._stamp and not full:
            return None  # not written since the last read: not even a query
        if self.schema is None:
            self.schema = read_schema(self.paths, self.gate)
            full = True  # the sums kept may be of other tables or columns
        try:
            # Sums first, images after: a write in between is in the images read (or in
            # none), never in sums kept without its images, so the next poll sees it.
            if not full:
                film_rolls, now = read_coarse_sums(self.paths, self.schema, self.gate)
                full = film_rolls != self._film_rolls  # a folder renamed: every image
            if full:
                film_rolls = read_film_rolls(self.paths, self.gate)
                fine = read_fine_sums(self.paths, self.schema, gate=self.gate)
                coarse = {name: coarse_of(sums) for name, sums in fine.items()}
                images = read_images(self.paths, self.schema, gate=self.gate)
                covered = None
            else:
                fine, coarse, moved = self._moved_buckets(now)
                if not moved:
                    self._fine, self._coarse, self._stamp = fine, coarse, stamp
                    return None
                images = read_images(self.paths, self.schema, bucket_ids(moved), self.gate)
                covered = frozenset(moved)
        except LibraryUnavailable as error:
            if error.state == "unsupported":
                self.schema = None  # darktable may have upgraded it: look at the schema again
            raise
        notes = [self.schema.warning] if self.schema.warning else []
        used = {int(t) for image in images if image.tag_ids for t in image.tag_ids.split(",")}
        # The first read, or a tag created since (DarktableWriting: all again, later); names
        # shown before that changed too mean every image next time.
        unnamed = self.tag_names is None or not used <= self.tag_names.keys()
        if unnamed and self._learn_tag_names(used if covered is None else None):
            self._next_full = 0.0
        if self.tags_problem:
            notes.append(self.tags_problem)
        tag_names = self.tag_names
        read_at = time.time()
        self._fine, self._coarse, self._film_rolls, self._stamp = fine, coarse, film_rolls, stamp
        if covered is None:
            self._next_full = time.monotonic() + FULL_CHECK_SECONDS
        return LibraryRead(
            library=str(self.paths.library.resolve()),
            states=[from_library(image, tag_names) for image in images],
            buckets=covered,
            read_at=read_at,
            notes=tuple(notes),
            problem=self.tags_problem,
        )

    def _moved_buckets(self, now: Sums) -> tuple[Sums, Sums, set[int]]:
        """The sums of the coarse buckets now against those kept; inside those that moved, the
        fine buckets' sums. Returns the sums to keep (new dicts where they differ: nothing
        kept changes until the read is done) and the fine buckets that moved, in any table."""
        assert self.schema is not None and self._fine is not None and self._coarse is not None
        moved_coarse = {}
        for name, sums in now.items():
            kept = self._coarse.get(name, {})
            if sums != kept:  # a dict comparison: the usual answer, quickly
                moved_coarse[name] = {
                    bucket
                    for bucket in sums.keys() | kept.keys()
                    if sums.get(bucket) != kept.get(bucket)
                }
        if not moved_coarse:
            return self._fine, self._coarse, set()
        now_fine = read_fine_sums(self.paths, self.schema, moved_coarse, self.gate)
        fine, coarse = dict(self._fine), dict(self._coarse)
        moved: set[int] = set()
        for name, buckets in moved_coarse.items():
            was, new = dict(fine.get(name, {})), now_fine.get(name, {})
            kept_coarse = dict(coarse.get(name, {}))
            fine[name], coarse[name] = was, kept_coarse
            for bucket in buckets:
                total = 0
                for fine_bucket in fine_in(bucket):
                    value = new.get(fine_bucket)
                    if value != was.get(fine_bucket):
                        moved.add(fine_bucket)
                    if value is None:
                        was.pop(fine_bucket, None)
                    else:
                        was[fine_bucket] = value
                        total += value
                if total:  # every row adds at least 1: 0 is a bucket without rows
                    kept_coarse[bucket] = total
                else:
                    kept_coarse.pop(bucket, None)
        return fine, coarse, moved


class Poller:
    """A thread that polls the library and hands each read to ``apply`` (the engine's writer),
    waiting until it was applied."""

    def __init__(
        self,
        paths: LibraryPaths,
        apply: Callable[[LibraryRead], object],
        on_state: Callable[[PollerState], None],
        poll_seconds: float = 60.0,
        quiet_seconds: float = 1.0,
        explicit: bool = True,
        watch_factory: Callable | None = None,
    ) -> None:
        self.paths = paths
        self.reader = LibraryReader(paths, quiet_seconds)
        self.apply = apply
        self.on_state = on_state
        self.poll_seconds = poll_seconds
        self.quiet_seconds = quiet_seconds
        self.explicit = explicit  # configured by the user: a missing library is a problem
        if watch_factory is None:  # imported here: the commands that only read need no watcher
            import watchfiles

            watch_factory = watchfiles.watch
        self.watch_factory = watch_factory
        self.polls = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._changed_at: float | None = None
        self._threads: list[threading.Thread] = []
        self._notes: str | None = None  # warnings of the last read, shown until the next one

    def start(self) -> None:
        for target, name in ((self._watch_loop, "watch"), (self._poll_loop, "poll")):
            thread = threading.Thread(target=target, name=f"shootwatch-darktable-{name}")
            thread.daemon = True  # a read blocked on a stalled disk must not hold up exit
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.05, deadline - time.monotonic()))

    def poll_soon(self) -> None:
        self._wake.set()

    # --- the threads ----------------------------------------------------------------------

    def _watch_loop(self) -> None:
        """Note when library.db (or data.db) changes; the poll waits for quiet after it."""
        names = {self.paths.library.name, "data.db"}
        while not self._stop.is_set():
            folder = self.paths.library.parent
            if not folder.is_dir():
                self._stop.wait(WATCH_RETRY_SECONDS)
                continue
            try:
                for changes in self.watch_factory(
                    folder,
                    stop_event=self._stop,
                    recursive=False,
                    debounce=100,
                    rust_timeout=500,
                    yield_on_timeout=False,
                ):
                    # library.db, its journal, data.db: any of them means darktable wrote.
                    if any(os.path.basename(path).split("-")[0] in names for _, path in changes):
                        self._changed_at = time.monotonic()
                        self._wake.set()
            except Exception as error:  # a vanished folder, an inotify limit: poll on a timer
                log.info(
                    "darktable watch stopped (%s); polling every %gs", error, self.poll_seconds
                )
                self._stop.wait(WATCH_RETRY_SECONDS)

    def _poll_loop(self) -> None:
        next_poll = 0.0  # at once, at start
        backoff = 1.0
        while not self._stop.is_set():
            now = time.monotonic()
            changed_at = self._changed_at
            quiet = changed_at is not None and now - changed_at >= self.quiet_seconds
            if not quiet and now < next_poll:
                wait = next_poll - now
                if changed_at is not None:
                    wait = min(wait, self.quiet_seconds - (now - changed_at))
                self._wake.wait(max(0.02, wait))
                self._wake.clear()
                continue
            # Whatever woke it (the timer, the watcher), a read waits for the quiet window by
            # the files' own times too: the watcher reports a change late, or not at all.
            left = self.reader.quiet_left()
            if left > 0:
                self._wake.wait(max(0.02, left))
                self._wake.clear()
                continue
            if quiet:
                self._changed_at = None
            outcome = self.poll_once()
            if outcome is None:  # darktable wrote during the read: again once it is quiet
                next_poll = time.monotonic() + self.quiet_seconds
            elif outcome:
                backoff = 1.0
                next_poll = time.monotonic() + self.poll_seconds
            else:
                next_poll = time.monotonic() + backoff
                backoff = min(MAX_BACKOFF_SECONDS, backoff * 2)

    def poll_once(self) -> bool | None:
        """One poll, applied; False when the library could not be read, None when darktable
        wrote while it read (the read stopped; nothing is wrong)."""
        self.polls += 1
        running = darktable_pid(self.paths)
        task = f"darktable running (pid {running})" if running else "darktable not running"
        try:
            read = self.reader.read()
        except DarktableWriting:
            return None
        except LibraryUnavailable as error:
            if error.state == "missing" and not self.explicit:
                self.on_state(PollerState("off", error=f"no darktable library: {error.reason}"))
            else:
                self.on_state(PollerState("degraded", task=task, error=error.reason))
            return False
        if read is not None:
            try:
                self.apply(read)
            except Exception as error:
                log.exception("applying a darktable read failed")
                self.reader.forget()
                self.on_state(PollerState("degraded", task=task, error=str(error)))
                return False
        if read is not None:
            self._notes = "; ".join(read.notes) if read.notes else None
        if self.reader.tags_problem:  # read, but not all of it can be told: a problem
            self.on_state(PollerState("degraded", task=task, error=self._notes))
        else:
            self.on_state(PollerState("idle", task=task, error=self._notes))
        return True


WRITING_PATIENCE_SECONDS = 30.0  # a command waits this long for darktable to pause writing


def poll_now(
    paths: LibraryPaths,
    explicit: bool,
    apply: Callable[[LibraryRead], object],
    quiet_seconds: float = 0.0,
) -> tuple[str, str | None]:
    """One read here and now, for a command run while no engine runs: (state, reason) with
    state "ok", "off" (no library at darktable's default place) or the reader's state. Like the
    poller, it reads only once library.db has been quiet for ``quiet_seconds``."""
    reader = LibraryReader(paths, quiet_seconds)
    deadline = time.monotonic() + WRITING_PATIENCE_SECONDS
    while True:
        time.sleep(max(0.0, reader.quiet_left()))
        try:
            read = reader.read()
            break
        except DarktableWriting as error:
            if time.monotonic() > deadline:
                return "writing", (
                    f"darktable kept writing {paths.library.name} for "
                    f"{WRITING_PATIENCE_SECONDS:g} s: try again when it is idle"
                )
            time.sleep(error.wait)
        except LibraryUnavailable as error:
            if error.state == "missing" and not explicit:
                return "off", f"no darktable library: {error.reason}"
            return error.state, error.reason
    report = apply(read)
    notes = getattr(report, "notes", None)
    return "degraded" if read.problem else "ok", "; ".join(notes) if notes else None


def sync_once(
    db: Database, paths: LibraryPaths, explicit: bool, quiet_seconds: float = 0.0
) -> tuple[str, str | None]:
    """One read of the library brought into the catalogue's snapshot here and now, with the
    image files darktable never imported and the orphans noted, for when no engine runs (a
    command, the demo): (state, reason) as ``poll_now`` says them."""
    sync = DarktableSync(db)
    state, reason = poll_now(paths, explicit, sync.apply, quiet_seconds)
    if state == "ok":
        sync.find_not_imported()
        sync.find_orphans()
    return state, reason
