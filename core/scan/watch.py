"""The live watcher: file-system notifications (watchfiles) turned into folder surveys.

Notifications are hints, never the truth: each names a folder to survey (the folder of a
changed file, or the whole of a new folder, since files written right after a folder is made
can go unreported). The surveys then compare that folder with the catalogue exactly as the
reconciler does, after the changes have settled.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import watchfiles

from core.config import WatchSettings
from core.scan.ignore import IgnoreRules
from core.scan.mounts import mount_holding
from core.scan.survey import is_storable_name, scanned_subfolders

log = logging.getLogger(__name__)

# File systems where inotify sees only this machine's changes, or nothing: polled instead.
REMOTE_FILESYSTEMS = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs")
INOTIFY_WATCHES = Path("/proc/sys/fs/inotify/max_user_watches")
INOTIFY_QUEUE = Path("/proc/sys/fs/inotify/max_queued_events")
MANY_NEW_FOLDERS = 50  # new folders in one batch that make a reconcile the better way
# A folder's mtime is stamped from the kernel's coarse clock, a few milliseconds behind
# time.time_ns(): a sweep looks at folders changed this long before the time it is given.
MTIME_SLACK_NS = 1_000_000_000

SWEEPS_KEPT = 64  # the last sweeps a watcher remembers (what each one looked at)

# (rel_dir, recursive, claimed_children): one survey, as core.scan.reconcile takes them.
Folder = tuple[str, bool, tuple[str, ...]]
# (rel_dir, recursive, changed_ns): a folder a sweep found changed, and when it last changed (its
# newest folder's mtime): its changes have been settling since then, not since the sweep.
SweptFolder = tuple[str, bool, int]
WatchFactory = Callable[..., Iterator[set[tuple[watchfiles.Change, str]]]]


class WatchLimitReached(RuntimeError):
    """inotify has no watches left; the message says how to raise the limit."""


def filesystem_type(path: str) -> str:
    """The type of the file system holding ``path`` ("" if unknown)."""
    mount = mount_holding(path)
    return mount.fs_type if mount is not None else ""


def needs_polling(path: str) -> bool:
    kind = filesystem_type(path)
    return kind in REMOTE_FILESYSTEMS or kind.startswith("fuse")


def inotify_watch_limit() -> int | None:
    try:
        return int(INOTIFY_WATCHES.read_text())
    except (OSError, ValueError):
        return None


def overflow_threshold() -> int:
    """A batch this large may have overflowed inotify's queue, which watchfiles does not
    report: half the queue's length."""
    try:
        return max(1000, int(INOTIFY_QUEUE.read_text()) // 2)
    except (OSError, ValueError):
        return 8192


class WatchOverflow(RuntimeError):
    """So many changes at once that some may not have been reported."""


def limit_message(limit: int | None, fallback_minutes: float) -> str:
    return (
        f"inotify watch limit reached ({limit if limit is not None else 'unknown'}): raise "
        "fs.inotify.max_user_watches (sudo sysctl fs.inotify.max_user_watches=524288, and "
        "in /etc/sysctl.d/ to keep it), falling back to scanning every "
        f"{fallback_minutes:g} minutes"
    )


def folders_for_changes(
    root_path: str, paths: Iterable[str], rules: IgnoreRules
) -> set[tuple[str, bool]]:
    """The folders to survey for some changed paths of one root: (rel_dir, recursive)."""
    wanted: set[tuple[str, bool]] = set()
    for path in paths:
        rel = os.path.relpath(path, root_path)
        if rel == ".":
            wanted.add(("", False))
            continue
        if rel.startswith(".."):
            continue
        parts = rel.split(os.sep)
        if any(
            rules.ignores("/".join(parts[: i + 1]), part, i < len(parts) - 1)
            for i, part in enumerate(parts)
        ):
            continue
        rel = "/".join(parts)
        if os.path.isdir(path) and not os.path.islink(path):
            wanted.add((rel, True))  # a new or renamed folder: all of it, at once
        else:
            wanted.add(("/".join(parts[:-1]), False))
    return merge_folders(wanted)


def merge_folders(folders: Iterable[tuple[str, bool]]) -> set[tuple[str, bool]]:
    """Drop every folder that another one, surveyed whole, already covers: the same file in
    two surveys of one run would be recorded twice."""
    wanted = set(folders)
    recursive = sorted(rel for rel, whole in wanted if whole)
    covered = {
        (rel, whole)
        for rel, whole in wanted
        for top in recursive
        if (rel, whole) != (top, True) and (rel == top or rel.startswith(top + "/") or top == "")
    }
    return wanted - covered


def plan_folders(
    root_path: str, folders: Iterable[tuple[str, bool]], rules: IgnoreRules
) -> list[Folder]:
    """Surveys for folders: one not surveyed whole claims its current sub-folders, so only
    records under sub-folders that vanished count as missing from it."""
    plan: list[Folder] = []
    for rel_dir, recursive in sorted(merge_folders(folders)):
        if recursive:
            plan.append((rel_dir, True, ()))
            continue
        # Gone or unreadable: no children, and the survey reports it.
        children = tuple(scanned_subfolders(root_path, rel_dir, rules) or ())
        plan.append((rel_dir, False, children))
    return plan


class PendingFolders:
    """Folders waiting for their changes to settle, per root, each with the time it is due."""

    def __init__(self) -> None:
        self._due: dict[tuple[int, str, bool], float] = {}
        self._lock = threading.Lock()

    def add(self, root_id: int, folders: Iterable[tuple[str, bool]], due: float) -> None:
        with self._lock:
            for rel_dir, recursive in folders:
                # The first change sets the time: a long copy into a folder is recorded file
                # by file as each one settles, not when the whole copy has ended. (A sweep
                # can name a change after a later one: the earlier time wins.)
                key = (root_id, rel_dir, recursive)
                self._due[key] = min(due, self._due.get(key, due))

    def take_due(self, now: float) -> dict[int, set[tuple[str, bool]]]:
        with self._lock:
            ready = [key for key, due in self._due.items() if due <= now]
            for key in ready:
                del self._due[key]
        by_root: dict[int, set[tuple[str, bool]]] = {}
        for root_id, rel_dir, recursive in ready:
            by_root.setdefault(root_id, set()).add((rel_dir, recursive))
        return by_root

    def __len__(self) -> int:
        with self._lock:
            return len(self._due)


@dataclass(frozen=True)
class Sweep:
    """What one sweep after a restart looked at: the mtime of every watched folder, and the
    entries of only the folders whose mtime moved and of the folders that appeared below them
    (the rest of the tree is not listed, however large)."""

    since_ns: int
    checked: int  # watched folders whose mtime was read
    listed: tuple[str, ...]  # folders whose entries were read
    appeared: tuple[str, ...]  # folders not watched yet, found below those
    seconds: float


class Watcher:
    """Watches some roots in a thread and reports changed paths per root.

    Every folder a scan enters is watched on its own (not recursively), so ignored folders
    cost no inotify watches; a new folder restarts the watch with it included, and after a
    restart the folders whose contents changed meanwhile are reported too.

    Called from the watcher thread: ``on_changes(root_path, paths)`` for changed paths,
    ``on_folders(root_path, [(rel_dir, recursive, changed_ns)])`` for folders to survey after a
    restart (whose entries changed, or that appeared, while no watch was in place),
    ``on_trouble(kind, error)`` when the watcher cannot go on (watch limit, an error): the
    caller reconciles and falls back to scanning.
    """

    def __init__(
        self,
        root_paths: list[str],
        rules_for: Callable[[str], IgnoreRules],
        settings: WatchSettings,
        on_changes: Callable[[str, list[str]], None],
        on_trouble: Callable[[str, Exception], None],
        on_folders: Callable[[str, list[SweptFolder]], None] | None = None,
        watch_factory: WatchFactory = watchfiles.watch,
        force_polling: bool = False,
        sweep_since_ns: int | None = None,
    ) -> None:
        self.root_paths = sorted(root_paths, key=len, reverse=True)  # innermost first
        # When it replaces another watcher: folders changed since then are reported at once.
        self.sweep_since_ns = sweep_since_ns
        self.rules_for = rules_for
        self.settings = settings
        self.on_changes = on_changes
        self.on_folders = on_folders
        self.on_trouble = on_trouble
        self.watch_factory = watch_factory
        self.force_polling = force_polling
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="shootwatch-watcher", daemon=True)
        self.running = False
        self.watched: frozenset[str] = frozenset()  # the folders watched now...
        self.watching = False  # ...once it has begun to watch them
        self.overflow_at = overflow_threshold()
        self.sweeps: deque[Sweep] = deque(maxlen=SWEEPS_KEPT)  # the last ones, newest last

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self.stop_event.set()
        if self.thread.ident is not None:  # started
            self.thread.join(timeout)

    def _root_of(self, path: str) -> str | None:
        for root in self.root_paths:
            if path == root or path.startswith(root.rstrip("/") + "/"):
                return root
        return None

    def _keep(self, change: watchfiles.Change, path: str) -> bool:
        root = self._root_of(path)
        if root is None:
            return False
        name = os.path.basename(path)
        rel = os.path.relpath(path, root)
        return rel == "." or not self.rules_for(root).ignores(rel, name, False)

    def _subfolders(self, folder: str) -> list[str] | None:
        """The folders right below ``folder`` that a scan enters (None: unreadable or gone)."""
        root = self._root_of(folder)
        if root is None:
            return None
        rules = self.rules_for(root)
        try:
            with os.scandir(folder) as entries:
                return [
                    entry.path
                    for entry in entries
                    if entry.is_dir(follow_symlinks=False)
                    and is_storable_name(entry.name)
                    and not rules.ignores(os.path.relpath(entry.path, root), entry.name, True)
                ]
        except OSError:
            return None  # the surveys report it

    def _folders_under(self, top: str, listed: list[str] | None = None) -> set[str]:
        """``top`` and every folder below it that a scan enters; each folder read is appended
        to ``listed``."""
        if self._root_of(top) is None:
            return set()
        found, stack = {top}, [top]
        while stack:
            folder = stack.pop()
            if listed is not None:
                listed.append(folder)
            for below in self._subfolders(folder) or ():
                found.add(below)
                stack.append(below)
        return found

    def _run(self) -> None:
        try:
            self.running = True
            folders: set[str] = set()
            for root in self.root_paths:
                folders |= self._folders_under(root)
            restarted_at = self.sweep_since_ns
            while not self.stop_event.is_set():
                restarted_at = self._watch(folders, restarted_at)
                if restarted_at is None:
                    break
        except OSError as error:
            if error.errno == errno.ENOSPC or "limit" in str(error).lower():
                self.on_trouble("watch_limit", WatchLimitReached(str(error)))
            else:
                self.on_trouble("watcher_error", error)
        except Exception as error:  # the watcher must never take the engine down
            log.exception("watcher stopped")
            self.on_trouble("watcher_error", error)
        finally:
            self.running = False

    def _watch(self, folders: set[str], restarted_at: int | None) -> int | None:
        """Watch ``folders`` until the set of folders changes; returns since when the
        changes went unwatched (to restart with the new set and sweep from then), or None when
        asked to stop."""
        # A folder that went while no watch was in place cannot be watched; its parent's
        # changed mtime has the sweep report it.
        folders.intersection_update({folder for folder in folders if os.path.isdir(folder)})
        self.watched = frozenset(folders)
        self.watching = True
        first = True
        for changes in self.watch_factory(
            *sorted(folders),
            recursive=False,
            watch_filter=self._keep,
            debounce=self.settings.debounce_ms,
            step=50,
            stop_event=self.stop_event,
            rust_timeout=500,
            yield_on_timeout=True,
            force_polling=self.force_polling,
            poll_delay_ms=1000,
            ignore_permission_denied=True,
        ):
            # Whatever changes after this batch was taken is in the next one, or, when this
            # one restarts the watch, in none: the sweep after the restart starts here, however
            # long this batch takes to handle (a loaded machine, a large tree to walk).
            received_at = time.time_ns()
            appeared: set[str] = set()
            if first and restarted_at is not None:
                # The watches are in place by now: what changed before they were is swept.
                appeared = self._sweep(folders, restarted_at)
                folders |= appeared  # watched from the restart, after this batch
            first = False
            if not changes:
                if appeared:
                    return received_at
                continue
            by_root: dict[str, list[str]] = {}
            for _change, path in changes:
                root = self._root_of(path)
                if root is not None:
                    by_root.setdefault(root, []).append(path)
            for root, paths in by_root.items():
                self.on_changes(root, paths)
            if len(changes) >= self.overflow_at:
                self.on_trouble(
                    "overflow",
                    WatchOverflow(f"{len(changes):,} changes at once: may have lost some"),
                )
            new = {
                path
                for change, path in changes
                if change == watchfiles.Change.added
                and path not in folders
                and os.path.isdir(path)
                and not os.path.islink(path)
            }
            gone = {
                path for change, path in changes if change == watchfiles.Change.deleted
            } & folders
            if len(new) >= MANY_NEW_FOLDERS:
                # A card dump: while the watch restarts with each batch of new folders the
                # kernel's queue can overflow unseen, and one reconcile is cheaper anyway.
                message = f"{len(new):,} new folders at once"
                self.on_trouble("overflow", WatchOverflow(message))
            if new or gone or appeared:
                for path in gone:
                    folders -= {f for f in folders if f == path or f.startswith(path + "/")}
                for path in new:
                    folders |= self._folders_under(path)
                return received_at
        return None

    def _sweep(self, folders: set[str], since_ns: int) -> set[str]:
        """Report what changed since ``since_ns``, while no watch was in place: folders that
        appeared (a folder renamed or made then, surveyed whole) and folders whose entries
        changed. Adding, removing or renaming an entry moves a folder's mtime, so only the
        watched folders whose mtime moved are listed, and below them only the folders not
        watched yet: the cost is one stat per watched folder plus the changed part of the tree,
        not a walk of the whole root. Returns the folders that appeared, which are not watched
        yet."""
        started = time.perf_counter()
        changed_since = since_ns - MTIME_SLACK_NS
        moved: dict[str, int] = {}
        for folder in folders:
            try:
                mtime_ns = os.stat(folder).st_mtime_ns
            except OSError:
                continue  # gone: its parent's mtime moved, and the parent is reported
            if mtime_ns >= changed_since:
                moved[folder] = mtime_ns
        listed: list[str] = []
        appeared: set[str] = set()
        found: dict[str, set[SweptFolder]] = {}

        def report(folder: str, recursive: bool, changed_ns: int) -> None:
            root = self._root_of(folder)
            if root is not None:
                rel = os.path.relpath(folder, root)
                found.setdefault(root, set()).add(
                    ("" if rel == "." else rel, recursive, changed_ns)
                )

        for folder in sorted(moved):
            report(folder, False, moved[folder])
            listed.append(folder)
            for below in self._subfolders(folder) or ():
                if below in folders or below in appeared:
                    continue
                # Not watched yet: all of it, surveyed whole once its newest folder settles.
                subtree = self._folders_under(below, listed)
                appeared |= subtree
                report(below, True, max(newest_mtime_ns(subtree), moved[folder]))
        self.sweeps.append(
            Sweep(
                since_ns=since_ns,
                checked=len(folders),
                listed=tuple(listed),
                appeared=tuple(sorted(appeared)),
                seconds=time.perf_counter() - started,
            )
        )
        log.debug(
            "sweep: %d watched folders checked, %d listed, %d appeared",
            len(folders),
            len(listed),
            len(appeared),
        )
        if self.on_folders is not None:
            for root, changed in found.items():
                self.on_folders(root, sorted(changed))
        return appeared


def newest_mtime_ns(folders: Iterable[str]) -> int:
    """The latest mtime of these folders (0 if none can be read)."""
    newest = 0
    for folder in folders:
        try:
            newest = max(newest, os.stat(folder).st_mtime_ns)
        except OSError:
            continue
    return newest
