"""The mounts this process sees, from /proc/self/mountinfo, and which one holds a path: the one
place that reads that file (a root's file system type, its mount point, its device)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from core.records import frozen_record

MOUNTINFO = Path("/proc/self/mountinfo")
_ESCAPE = re.compile(rb"\\([0-7]{3})")  # the kernel writes space, tab, newline, \ as \ooo


@frozen_record
class Mount:
    mount_point: str
    device: str  # "major:minor", as `stat` gives st_dev
    fs_type: str
    source: str  # what is mounted: /dev/sdb1, a server's share, "none" for a tmpfs


def _unescape(field: bytes) -> str:
    return os.fsdecode(_ESCAPE.sub(lambda m: bytes([int(m.group(1), 8)]), field))


def parse_mountinfo(text: bytes) -> list[Mount]:
    """The mounts of a mountinfo table, in its order (a later mount on the same point hides
    an earlier one)."""
    found = []
    for line in text.splitlines():
        left, _, right = line.partition(b" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 2:
            continue
        found.append(
            Mount(
                mount_point=_unescape(fields[4]),
                device=fields[2].decode("ascii", "replace"),
                fs_type=tail[0].decode("ascii", "replace"),
                source=_unescape(tail[1]),
            )
        )
    return found


def mounts() -> list[Mount]:
    """The mounts this process sees now ([] where there is no /proc)."""
    try:
        return parse_mountinfo(MOUNTINFO.read_bytes())
    except OSError:
        return []


def mount_holding(path: str, table: list[Mount] | None = None) -> Mount | None:
    """The mount whose file system holds ``path``: the innermost mount point above it (the
    last one mounted, where several are stacked on one point)."""
    real = os.path.realpath(path)
    best: Mount | None = None
    for mount in mounts() if table is None else table:
        point = mount.mount_point
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= len(best.mount_point)):
            best = mount
    return best


def device_name(st_dev: int) -> str:
    """A device number as mountinfo writes it: "major:minor"."""
    return f"{os.major(st_dev)}:{os.minor(st_dev)}"


@frozen_record
class RootIdentity:
    """The file system a root's folder is on: its device and where that is mounted."""

    device: str  # "major:minor"
    mount_point: str


def identify(path: str) -> RootIdentity | None:
    """The file system holding the folder ``path`` now (None if it cannot be looked at)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    mount = mount_holding(path)
    return RootIdentity(device_name(st.st_dev), mount.mount_point if mount is not None else "/")
