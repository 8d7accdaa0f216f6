"""Pictures tmux lost on their way to the terminal, found and sent again.

tmux hands a picture on (passthrough) only to a client it is drawing for at that moment: while
a redraw is waiting for a client that is behind (a slow SSH link, a terminal busy drawing),
tmux 3.3 drops passthrough without a word, and it throws away whatever it holds for a client
that cannot keep up. Either way it redraws its cells afterwards, but not the picture: the
cells would name a picture the terminal never received, or the previous photo's pixels.

tmux counts the bytes it has handed each client (``client_written``). A picture is known to
have arrived when every client showing the app's window was handed at least the picture's
bytes since before it was sent; otherwise the views that sent it send what they show again.
A client that attached meanwhile (the photographer's laptop, after a detach) is a terminal
that holds none of the pictures: it gets them too."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Mapping

# How often tmux is asked, and how long a picture is given to reach tmux before it is judged
# (the app writes it, tmux reads it from the pane and hands it on within milliseconds).
ASK_EVERY_SECONDS = 0.5
IDLE_ASK_EVERY_SECONDS = 2.0
SETTLE_SECONDS = 0.25
TMUX_SECONDS = 2.0

Written = dict[str, int]  # client name -> bytes tmux has handed it


def tmux_written(env: Mapping[str, str] = os.environ) -> Written | None:
    """What tmux has handed each client showing the app's window (None: tmux did not say)."""
    pane = env.get("TMUX_PANE")
    if not env.get("TMUX") or not pane:
        return None
    fields = "#{client_name}\t#{client_written}\t#{window_id}"
    try:
        ours = _tmux(env, "display-message", "-p", "-t", pane, "#{window_id}").strip()
        lines = _tmux(env, "list-clients", "-F", fields).splitlines()
    except (OSError, subprocess.SubprocessError):
        return None
    written = {}
    for line in lines:
        name, count, window = line.split("\t")
        if window == ours and count.isdigit():
            written[name] = int(count)
    return written


def _tmux(env: Mapping[str, str], *args: str) -> str:
    return subprocess.run(
        ["tmux", *args], capture_output=True, text=True, timeout=TMUX_SECONDS, check=True,
        env={**os.environ, **env},
    ).stdout  # fmt: skip


class DeliveryCheck:
    """One per app: views say what they sent (``sent``) and are called back (``resend``, on
    this check's thread) when it did not arrive. ``ask`` is tmux (``tmux_written``)."""

    def __init__(self, ask: Callable[[], Written | None] = tmux_written) -> None:
        self._ask = ask
        self._lock = threading.Lock()
        self._last: Written | None = None  # the latest answer, the baseline of new pictures
        # pictures not yet judged: (when sent, bytes, the answer before it, resend)
        self._pending: list[tuple[float, int, Written | None, Callable[[], None]]] = []
        self._views: dict[int, Callable[[], None]] = {}  # every view's resend, for new clients
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def join(self, key: int, resend: Callable[[], None]) -> None:
        with self._lock:
            self._views[key] = resend
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="delivery", daemon=True)
                self._thread.start()

    def leave(self, key: int) -> None:
        with self._lock:
            self._views.pop(key, None)
            self._pending = [entry for entry in self._pending if entry[3] in self._views.values()]
            last = not self._views
        if last:
            self.stop()

    def sent(self, nbytes: int, resend: Callable[[], None]) -> None:
        """A view wrote a picture of at least ``nbytes`` for tmux to hand on."""
        with self._lock:
            self._pending.append((time.monotonic(), nbytes, self._last, resend))

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        self.check()  # the baseline of the first pictures
        while True:
            with self._lock:
                busy = bool(self._pending)
            if self._stop.wait(ASK_EVERY_SECONDS if busy else IDLE_ASK_EVERY_SECONDS):
                return
            self.check()

    def check(self, now: float | None = None) -> None:
        """Ask tmux once and judge the pictures sent long enough ago; call back the views
        whose pictures did not all arrive, and every view when a client is new."""
        answer = self._ask()
        if answer is None:
            return
        now = time.monotonic() if now is None else now
        with self._lock:
            before, self._last = self._last, answer
            judged = [entry for entry in self._pending if now - entry[0] >= SETTLE_SECONDS]
            self._pending = [entry for entry in self._pending if entry not in judged]
            views = list(self._views.values())
        again: list[Callable[[], None]] = []
        if before is not None and any(
            name not in before or count < before[name] for name, count in answer.items()
        ):
            again = views  # a terminal that holds none of the pictures (its count starts anew)
        elif judged:
            # From the oldest baseline on, each client must have been handed all of them (a
            # picture sent before tmux first answered has no baseline: it is not judged).
            judged = [entry for entry in judged if entry[2] is not None]
            base = judged[0][2] if judged else None
            expected = sum(entry[1] for entry in judged)
            short = base is not None and any(
                count - base.get(name, count) < expected for name, count in answer.items()
            )
            if short:
                again = list(dict.fromkeys(entry[3] for entry in judged))
        for resend in again:
            resend()
