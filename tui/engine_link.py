"""The app's engine: started in this process (in a Textual worker) or, when another process
already runs one on this catalogue, attached to. Either way the app asks the same things:
component states, new events, a rescan."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from peewee import Database

from core.catalogue_location import is_server
from core.config import Settings
from core.engine.component import COMPONENTS, ComponentState
from core.engine.control import ask
from core.engine.lock import running_engine_pid
from core.store import queries
from core.store.events import record_shoot_on_screen

if TYPE_CHECKING:
    from core.engine.scheduler import Engine

STALE_SECONDS = 30.0
OFF = "engine off: a read-only view of the catalogue"


@contextlib.contextmanager
def _real_stderr() -> Iterator[None]:
    """While the engine starts its worker processes: multiprocessing hands sys.stderr's file
    descriptor to its helper processes, and under Textual sys.stderr is a capture object with
    none. /dev/null stands in, so nothing a worker prints can scribble on the app's screen."""
    captured = sys.stderr
    with open(os.devnull, "w") as null:
        sys.stderr = null
        try:
            yield
        finally:
            sys.stderr = captured  # an attached engine that has not beaten for this long is down


def _ask_quietly(catalogue, request: dict) -> None:
    """A hint to the engine: if it cannot be given now, the next photo gives it again."""
    with contextlib.suppress(OSError, ValueError):
        ask(catalogue, request, timeout=1.0)


def _tell_through_the_catalogue(db: Database, folder: str) -> None:
    """The shoot on screen, written to a catalogue on a server for an engine that may run on
    another machine (no socket reaches it). A hint, as over the socket: a server that cannot
    take it now is told at the next shoot. On a thread of its own, with its own connection."""
    try:
        root = queries.root_for_path(folder)
        if root is not None:
            rel_dir = os.path.relpath(folder, root.path)
            rel_dir = "" if rel_dir == "." else rel_dir
            record_shoot_on_screen(db, root.id, rel_dir, socket.gethostname())
    except Exception:  # any driver's error: a hint lost, never the app
        pass
    finally:
        with contextlib.suppress(Exception):
            db.close()  # this thread's connection


class EngineLink:
    def __init__(self, settings: Settings, mode: str = "auto", db: Database | None = None) -> None:
        """``mode``: "auto" hosts an engine unless one runs; "off" runs none (a read-only
        look at the catalogue, as in screenshots). ``db``: the app's catalogue, which the
        shoot on screen is written to when it is on a server."""
        self.settings = settings
        self.mode = mode
        self.db = db
        self.engine: Engine | None = None
        self.attached_pid: int | None = None
        # Why no engine runs, when none does.
        self.problem: str | None = OFF if mode == "off" else None
        self._started = False
        # Held while the engine stops: the app's unmount and the worker may both stop it, and
        # neither may return while the other is still stopping it.
        self._stopping = threading.Lock()

    def describe(self) -> str:
        if self.engine is not None:
            return "engine running in this app"
        if self.attached_pid:
            return f"attached to the engine of pid {self.attached_pid}"
        return self.problem or ("no engine" if self._started else "starting the engine…")

    def start(self) -> None:
        """Start or attach; called from a worker thread (starting forks worker processes)."""
        self._started = True
        if self.mode == "off":
            return
        pid = running_engine_pid(self.settings.catalogue)
        if pid:
            self.attached_pid = pid
            return
        # The engine's modules load here, on the worker thread, once the app is on screen.
        from core.engine.lock import EngineRunning
        from core.engine.scheduler import Engine

        engine = Engine(self.settings)
        try:
            with _real_stderr():
                engine.start()
        except EngineRunning as running:  # another process won the race
            self.attached_pid = running.pid
            return
        self.engine = engine

    def run_until(self, cancelled) -> None:
        """The worker's body: start, then hold the engine until the worker is cancelled."""
        try:
            self.start()
        except Exception as error:  # the app keeps working on the catalogue without one
            self.problem = f"the engine could not start: {error}"
            return
        while self.engine is not None and not cancelled():
            time.sleep(0.1)
        self.stop()

    def stop(self) -> None:
        with self._stopping:
            engine, self.engine = self.engine, None
            if engine is not None:
                engine.stop(timeout=3.0)

    def states(self) -> dict[str, ComponentState]:
        if self.engine is not None:
            return self.engine.states()
        if self.attached_pid:
            now = time.time()
            states = {}
            for beat in queries.heartbeats():
                if now - beat.beat_at > STALE_SECONDS:
                    states[beat.component] = ComponentState(
                        "down", error=f"no heartbeat for {now - beat.beat_at:.0f} s"
                    )
                else:
                    states[beat.component] = ComponentState(beat.status, beat.task, beat.error)
            return {name: states.get(name, ComponentState("off")) for name in COMPONENTS}
        return {name: ComponentState("off", error=self.problem) for name in COMPONENTS}

    def focus(self, folder: str) -> bool:
        """Tell the engine which shoot (``folder``) is on screen, so its previews come first:
        at once when it runs here; else, on a server catalogue, through the catalogue (the
        engine may run on another machine); else over its socket. In a thread: the screen
        never waits for it. False when no engine runs (yet) that could be told."""
        if self.engine is not None:
            self.engine.focus_previews(folder)
            return True
        # Even with no engine of its own ("off"): on a server, the engine runs elsewhere.
        if self.db is not None and is_server(self.settings.catalogue):
            threading.Thread(
                target=_tell_through_the_catalogue, args=(self.db, folder), daemon=True
            ).start()
            return True
        if self.attached_pid:
            request = {"command": "focus", "folder": folder}
            threading.Thread(
                target=_ask_quietly, args=(self.settings.catalogue, request), daemon=True
            ).start()
            return True
        return False

    def rescan(self) -> str:
        if self.engine is not None:
            roots = self.engine.request_rescan()
            return f"rescanning {len(roots)} root{'s' if len(roots) != 1 else ''}"
        if self.attached_pid:
            reply = ask(self.settings.catalogue, {"command": "rescan"})
            if reply and reply.get("ok"):
                return f"the engine (pid {self.attached_pid}) rescans {len(reply['roots'])} roots"
            return "the engine did not answer: " + str((reply or {}).get("error", "no reply"))
        return "no engine runs: start the app without --no-engine, or 'shootwatch run'"
