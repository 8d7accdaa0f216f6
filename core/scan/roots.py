"""A root's presence: whether it can be read now, as the folder it was (present, readable, on
the file system recorded for it, not empty while the catalogue has files for it), and its
state, online or offline, with the event that says it changed.

Every scan asks before it reads and again before it removes anything; the engine asks every
few seconds (a stat, the mount table and a first listing: no walk), so a root that went away
is offline at once and one that came back is noticed by itself; it also asks whether the
folder at a root's path is still the one it watches (FolderWatchIds).
"""

from __future__ import annotations

import ctypes
import logging
import os
from dataclasses import dataclass

from core.scan.hashing import describe_os_error
from core.scan.ignore import IgnoreRules
from core.scan.mounts import RootIdentity, identify
from core.store import queries
from core.store.events import EventKind, record_event
from core.store.models import Root

log = logging.getLogger(__name__)

SOURCE = "reconcile"  # a root's state is the reconciler's news, whoever looked
SAMPLE_FILES = 16  # files looked at to tell the same drive under a new device number...
SAME_DRIVE_SHARE = 0.9  # ...from another drive: this share of them must be there, unchanged


@dataclass(frozen=True)
class RootCheck:
    offline_reason: str | None  # None: it can be scanned
    identity: RootIdentity | None  # the file system it is on now, when it is online


def unreachable_reason(root_path: str) -> str | None:
    """Why the root's folder cannot be scanned at all, or None."""
    try:
        with os.scandir(root_path) as entries:
            next(entries, None)
    except FileNotFoundError:
        return f"folder {root_path} is missing (drive unplugged or not mounted?)"
    except NotADirectoryError:
        return f"{root_path} is not a folder"
    except OSError as error:
        return f"folder {root_path} cannot be read: {describe_os_error(error)}"
    return None


def holds_files(root_path: str, rules: IgnoreRules) -> bool:
    """Whether any file a scan would record is left under the root (it stops at the first).
    A folder that cannot be listed counts as holding files: it is not known to be empty."""
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        prefix = rel_dir + "/" if rel_dir else ""
        try:
            with os.scandir(os.path.join(root_path, rel_dir)) as entries:
                for entry in entries:
                    rel_path = prefix + entry.name
                    if entry.is_file(follow_symlinks=False):
                        if not rules.ignores(rel_path, entry.name, False):
                            return True
                    elif entry.is_dir(follow_symlinks=False) and not rules.ignores(
                        rel_path, entry.name, True
                    ):
                        stack.append(rel_path)
        except OSError:
            return True
    return False


def empty_reason(root_path: str, records: int) -> str:
    return (
        f"folder {root_path} is empty but the catalogue has {records:,} files for it "
        "(drive not mounted?); nothing was removed. If you emptied it on purpose, run "
        f"'shootwatch scan --accept-empty {root_path}'"
    )


def _above(outer: str, inner: str) -> bool:
    """Whether the folder ``outer`` strictly contains ``inner``."""
    return outer != inner and inner.startswith(outer.rstrip("/") + "/")


def _unchanged(root_path: str, rel_path: str, size: int, mtime_ns: int) -> bool:
    try:
        st = os.stat(os.path.join(root_path, rel_path), follow_symlinks=False)
    except OSError:
        return False
    return (st.st_size, st.st_mtime_ns) == (size, mtime_ns)


def _moved_reason(root: Root, now: RootIdentity) -> str | None:
    """Why the file system under the root is not the one recorded for it, or None."""
    if root.device is None or root.mount_point is None:
        return None  # not recorded yet: it is, once this check finds the root online
    if now == RootIdentity(root.device, root.mount_point):
        return None
    if _above(now.mount_point, root.mount_point):
        # What was mounted is gone, and the bare mount point (with whatever was left in it)
        # lies on the file system around it: an unmounted drive, never an empty library.
        return (
            f"{root.path} is not mounted: the file system mounted at {root.mount_point} when "
            f"it was added is gone, and the folder now lies on the one mounted at "
            f"{now.mount_point}; nothing was removed"
        )
    # Another file system at the same place: the same drive, numbered anew when it was plugged
    # in again (its files are all there, unchanged), or another drive in its place.
    sample = queries.sample_files(root.id, SAMPLE_FILES)
    found = sum(_unchanged(root.path, *row) for row in sample)
    if not sample or found >= SAME_DRIVE_SHARE * len(sample):
        log.info(
            "%s is on device %s mounted at %s now (it was %s at %s) and holds the same files: "
            "the same drive",
            root.path, now.device, now.mount_point, root.device, root.mount_point,
        )  # fmt: skip
        return None
    return (
        f"{root.path} is on another file system than the one recorded for it (device "
        f"{now.device} mounted at {now.mount_point}; it was {root.device} at "
        f"{root.mount_point}) and {len(sample) - found} of {len(sample)} of its files looked "
        "at are not there: another drive in its place? nothing was removed. If the root "
        f"really is this drive now, run 'shootwatch scan --accept-empty {root.path}'"
    )


def check_root(
    root: Root, rules: IgnoreRules, accept_as_is: bool = False, look_inside: bool = True
) -> RootCheck:
    """Whether ``root`` can be scanned now, and on which file system.

    ``accept_as_is``: the person said the root is as it should be (emptied on purpose, or on
    another drive now), so only a missing or unreadable folder keeps it offline.
    ``look_inside=False`` leaves out whether it is empty (a walk that stops at the first file).
    """
    reason = unreachable_reason(root.path)
    if reason is not None:
        return RootCheck(reason, None)
    identity = identify(root.path)
    if identity is None:  # gone since it was listed
        return RootCheck(unreachable_reason(root.path) or f"{root.path} cannot be read", None)
    if accept_as_is:
        return RootCheck(None, identity)
    reason = _moved_reason(root, identity)
    if reason is not None:
        return RootCheck(reason, None)
    if look_inside and not holds_files(root.path, rules):
        records = queries.count_files(root)
        if records:
            return RootCheck(empty_reason(root.path, records), None)
    return RootCheck(None, identity)


class FolderWatchIds:
    """One inotify watch of our own on each root's folder, to tell whether the folder at a
    root's path is still the one it was: asked again, the same folder answers with the same
    watch descriptor, another one (a drive unmounted and mounted again, a folder put in the
    place of another) with a new one. The watcher's watches stay on the folder they were put
    on (and an unmount drops them silently), so a new descriptor means a root to watch anew.
    Where inotify is not available, nothing is known (None)."""

    # IN_DELETE_SELF | IN_ONLYDIR: few events; IN_UNMOUNT and IN_IGNORED come anyway.
    MASK = 0x00000400 | 0x01000000

    def __init__(self) -> None:
        self._fd: int | None = None
        self._ids: dict[str, int] = {}
        try:
            self._libc = ctypes.CDLL(None, use_errno=True)
            self._fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        except (AttributeError, OSError):
            return
        if self._fd < 0:
            self._fd = None

    def watch_id(self, path: str) -> int | None:
        """The watch descriptor of the folder at ``path`` now (None: cannot be told)."""
        if self._fd is None:
            return None
        self._drain()
        wd = self._libc.inotify_add_watch(self._fd, os.fsencode(path), self.MASK)
        if wd < 0:  # unreadable, gone, or no watch left: nothing to compare
            return None
        was = self._ids.get(path)
        if was is not None and was != wd:
            self._libc.inotify_rm_watch(self._fd, was)  # the folder that was there
        self._ids[path] = wd
        return wd

    def _drain(self) -> None:
        """Read and drop what the watches reported: only their descriptors matter."""
        while True:
            try:
                if not os.read(self._fd, 65536):
                    return
            except OSError:  # EAGAIN: nothing more
                return

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def set_root_state(
    root: Root, offline_reason: str | None, identity: RootIdentity | None, now: float
) -> bool:
    """Record what a check found: online (on the file system ``identity``) or offline with
    the reason; a ``root_online`` / ``root_offline`` event when the state changed (True)."""
    was = root.state
    if offline_reason is None:
        root.state, root.state_reason, root.seen_at = "online", None, now
        if identity is not None:
            root.device, root.mount_point = identity.device, identity.mount_point
    else:
        root.state, root.state_reason = "offline", offline_reason
    root.save()
    if root.state == was:
        return False
    payload = {"reason": offline_reason} if offline_reason else None
    kind = EventKind.ROOT_ONLINE if root.state == "online" else EventKind.ROOT_OFFLINE
    record_event(kind, SOURCE, root=root, path=root.path, payload=payload)
    return True
