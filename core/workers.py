"""Worker processes end with the process that started them.

A ``kill -9`` (or the out-of-memory killer) of the engine gives its workers no chance to be
told; left alone they would wait forever on their pipes and, having been forked while the
engine held its lock, keep the catalogue's engine lock held: no engine could start again.
Linux sends a worker SIGKILL when its parent dies if the worker asks for it, which each worker
does as it starts.

A worker started by multiprocessing's forkserver has the forkserver as its parent, not the
engine. The forkserver ends when every holder of its "alive" pipe has gone, and multiprocessing
hands that pipe to each worker it starts: the workers waited for the forkserver, the forkserver
for the workers, and both outlived the engine for good (with the resource tracker, which ends
when they do). So a worker lets go of that pipe once it has asked to end with its parent: the
engine's death then ends the forkserver (it notices the pipe's end at once), the forkserver's
ends its workers, and theirs ends the resource tracker, which first removes what they left.
The forkserver is not asked for a signal itself: Linux sends it when the *thread* that started
a process ends, and the engine's pools may start the forkserver from a thread that ends early.

A stage's command runs in a process group of its own (so a timeout ends everything it
started) and is a program of the user's, which cannot be asked anything. A small sentinel
process, started once per process that runs commands, is told each group as it starts and as
it ends; when the process that started it goes, however it goes, the sentinel reads the end of
its pipe and kills the groups still running.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
from multiprocessing import forkserver

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
    _let_go_of_the_forkserver()


def _let_go_of_the_forkserver() -> None:
    """Close this worker's end of the forkserver's "alive" pipe (see the module's docstring).
    Workers start no processes, so they never need the forkserver themselves."""
    server = getattr(forkserver, "_forkserver", None)
    alive = getattr(server, "_forkserver_alive_fd", None)
    if alive is None:
        return
    with contextlib.suppress(OSError):
        os.close(alive)
    server._forkserver_alive_fd = None
    server._forkserver_pid = None  # another one would be started if it were ever needed


# The sentinel's whole program: it imports nothing of ours, so it starts in a few milliseconds.
_SENTINEL_PROGRAM = """
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
groups = set()
with os.fdopen(int(sys.argv[1]), "rb") as pipe:
    for line in pipe:
        if line.endswith(b"\\n"):
            (groups.add if line[:1] == b"+" else groups.discard)(int(line[1:]))
for group in groups:
    try:
        os.killpg(group, signal.SIGKILL)
    except OSError:
        pass
"""


class GroupSentinel:
    """A process that kills the process groups it was told about when this process ends.

    Its pipe's write end is held by this process alone (children started with ``close_fds``
    do not get it), so the sentinel sees its end when this process exits or is killed."""

    def __init__(self) -> None:
        read, self._write = os.pipe()
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _SENTINEL_PROGRAM, str(read)],
                pass_fds=(read,),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C at the terminal is not for it
            )
        finally:
            os.close(read)
        self.owner = os.getpid()

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def watch(self, group: int) -> None:
        """Kill process group ``group`` if this process ends before ``release(group)``."""
        self._say(b"+%d\n" % group)

    def release(self, group: int) -> None:
        """The group has ended (call it before its leader is reaped, while its id is ours)."""
        self._say(b"-%d\n" % group)

    def close(self) -> None:
        """End the sentinel as this process's end would: groups still watched are killed."""
        if self._write >= 0:
            os.close(self._write)
            self._write = -1
        if self.owner == os.getpid():
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=2)

    def _say(self, line: bytes) -> None:
        # One write of a few bytes to a pipe is atomic, so threads need no lock; a sentinel
        # that was killed (EPIPE) is replaced at the next ``group_sentinel()``.
        with contextlib.suppress(OSError):
            os.write(self._write, line)


_sentinel: GroupSentinel | None = None
_sentinel_lock = threading.Lock()


def group_sentinel() -> GroupSentinel:
    """This process's sentinel, started the first time it is needed."""
    global _sentinel
    with _sentinel_lock:
        if _sentinel is None or _sentinel.owner != os.getpid() or not _sentinel.alive:
            if _sentinel is not None:
                _sentinel.close()
            _sentinel = GroupSentinel()
            atexit.register(_sentinel.close)
        return _sentinel
