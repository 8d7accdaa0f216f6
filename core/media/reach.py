"""Whether this machine can open the originals under a root. Roots are paths on the engine's
machine: an app on another one (a studio's workstation on a shared catalogue) may not have
them, and then shows previews from the preview cache and never opens an original.

A root's originals are here when its path is a folder holding something: a folder that is
not there, or an empty mount point, is another machine's. Decided once per root and kept for
RECHECK_SECONDS, so a screen of photos costs no look at the disk per photo (a folder looked
at over a slow share costs a round trip), and a share mounted meanwhile is noticed.
"""

from __future__ import annotations

import os
import threading
import time

RECHECK_SECONDS = 30.0
# What a screen says of a photo whose original is not here, in one line each.
ORIGINAL_ELSEWHERE = "the original is on the engine's machine"
PREVIEW_NOT_BUILT = f"no preview yet: the engine builds it ({ORIGINAL_ELSEWHERE})"

_lock = threading.Lock()
_decided: dict[str, tuple[float, bool]] = {}  # root path -> (when decided, monotonic; here)


def originals_here(root_path: str) -> bool:
    """Whether the originals under ``root_path`` can be opened on this machine."""
    now = time.monotonic()
    with _lock:
        decided = _decided.get(root_path)
    if decided is not None and now - decided[0] < RECHECK_SECONDS:
        return decided[1]
    here = _holds_something(root_path)
    with _lock:
        _decided[root_path] = (now, here)
    return here


def _holds_something(folder: str) -> bool:
    try:
        with os.scandir(folder) as entries:
            return next(entries, None) is not None
    except OSError:  # not there, not a folder, not readable here
        return False


def forget() -> None:
    """Decide every root again at its next photo (a share mounted or unmounted just now)."""
    with _lock:
        _decided.clear()
