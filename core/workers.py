"""Worker processes end with the process that started them.

A ``kill -9`` (or the out-of-memory killer) of the engine gives its workers no chance to be
told; left alone they would wait forever on their pipes and, having been forked while the
engine held its lock, keep the catalogue's engine lock held: no engine could start again.
Linux sends a worker SIGKILL when its parent dies if the worker asks for it, which each worker
does as it starts.
"""

from __future__ import annotations

import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def end_with_parent() -> None:
    """Called first in every worker process (a pool's initializer)."""
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: nothing to ask for
        return
    if os.getppid() != parent:  # the parent died before the request was made
        os._exit(0)
