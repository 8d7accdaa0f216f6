"""The engine's scheduler: opens the catalogue, takes the engine lock, starts the components,
and runs the one writer thread on which every catalogue write happens, in turn: work the
components hand it, then each component's tick when it is due, then the heartbeats.

It runs the same under the TUI and headless (`shootwatch run`); a second process on the same
catalogue attaches instead of starting one (see core.engine.lock).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

import watchfiles

from core.catalogue_location import is_server, shown
from core.config import Settings
from core.engine.component import COMPONENTS, Component, ComponentState
from core.engine.control import ControlServer
from core.engine.darktable import DarktableComponent
from core.engine.ingest import IngestComponent
from core.engine.lock import EngineLock
from core.engine.media import MediaComponent
from core.engine.reconciling import ReconcilingComponent
from core.engine.server_watch import ServerWatch
from core.engine.stages import StagesComponent
from core.engine.watching import WatchingComponent
from core.ingest.run import recover_moves
from core.scan.reconcile import ScanStopped
from core.scan.watch import WatchFactory
from core.store import Catalogue, create_catalogue_file, open_catalogue, queries
from core.store.events import EventKind, record_event
from core.store.models import Root

log = logging.getLogger("shootwatch.engine")

# The components' names, as their heartbeats and `status` show them.
HEARTBEAT_SECONDS = 2.0
LOOP_SECONDS = 0.05  # the longest the writer waits for work: bounds every tick's lateness
SOURCE = "engine"


@dataclass(frozen=True)
class _Work:
    component: str  # whose work it is: an error in it degrades that component
    run: Callable[[], object]
    done: Future | None = None


class Engine:
    def __init__(
        self,
        settings: Settings,
        watch_factory: WatchFactory = watchfiles.watch,
        with_watcher: bool = True,
        with_darktable: bool = True,
        with_media: bool = True,
        with_stages: bool = True,
        with_ingest: bool = True,
    ) -> None:
        self.settings = settings
        self.catalogue: Catalogue | None = None
        self.stopping = threading.Event()
        # The writer outlives the components' stop: what they hand it while they stop (an
        # ingest closing the moves it made) is written, not dropped.
        self._writer_done = threading.Event()
        self.lock = EngineLock(settings.catalogue)
        self.lock_taken = False  # whether start() got as far as taking it
        # On a server: whether it is there (its restarts and outages, core.engine.server_watch).
        self.server = ServerWatch(self) if is_server(settings.catalogue) else None
        self._work: queue.Queue[_Work] = queue.Queue()
        self._states = {name: ComponentState("off") for name in COMPONENTS}
        self._states_lock = threading.Lock()
        self._writer: threading.Thread | None = None
        self._control: ControlServer | None = None
        # The order is the order of start, of each turn's ticks, and (reversed) of stop.
        self.reconciling = ReconcilingComponent(self)
        self.watching = WatchingComponent(self, watch_factory, enabled=with_watcher)
        self.media = MediaComponent(self) if with_media else None
        self.stages = StagesComponent(self) if with_stages else None
        self.darktable = DarktableComponent(self) if with_darktable else None
        self.ingest = IngestComponent(self) if with_ingest else None
        self.components: list[Component] = [
            component
            for component in (
                self.reconciling,
                self.watching,
                self.media,
                self.stages,
                self.darktable,
                self.ingest,
            )
            if component is not None
        ]

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Take the catalogue's engine lock (EngineRunning if another engine has it) and start.

        Components that fork worker processes start first, while this process has no other
        threads.
        """
        # The lock is on the file itself, taken before SQLite opens it: a refused engine must
        # not touch a catalogue another engine writes (through a hard link, that corrupts it).
        # On a server it is the server's advisory lock, and there is no file.
        if not is_server(self.settings.catalogue):
            create_catalogue_file(self.settings.catalogue)
        self.lock.acquire()
        self.lock_taken = True
        try:
            self.catalogue = open_catalogue(self.settings.catalogue)
        except BaseException:
            self.lock.release()
            raise
        # A run left "running" was cut short by a crash: say so (this process holds the lock).
        queries.fail_unfinished_runs("the engine stopped before this run finished")
        # Moves a crash left half done are finished or undone before anything reads the inbox.
        for move_id, outcome in recover_moves(self.catalogue.db):
            log.warning("ingest move %d, cut short by a stop: %s", move_id, outcome)
        for component in self.components:
            component.start()
        self._writer = threading.Thread(target=self._write_loop, name="shootwatch-writer")
        self._writer.start()
        self._control = ControlServer(self.settings.catalogue, self._handle_request)
        self._control.start()
        for component in self.components:
            component.started()
        log.info("engine started (pid %d) on %s", os.getpid(), shown(self.settings.catalogue))

    def stop(self, timeout: float = 2.0) -> None:
        """Stop everything within ``timeout``: a scan in progress stops between transactions."""
        deadline = time.monotonic() + timeout
        self.stopping.set()
        for component in reversed(self.components):
            component.stop(deadline)
        self._writer_done.set()
        if self._writer is not None:
            self._writer.join(max(0.1, deadline - time.monotonic()))
        for component in reversed(self.components):
            component.close(deadline)
        if self._control is not None:
            self._control.stop()
        self.lock.release()
        if self.catalogue is not None:
            self.catalogue.close()
        log.info("engine stopped")

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the engine stops; True if it has."""
        return self.stopping.wait(timeout)

    # --- what others may ask ------------------------------------------------------------

    def focus_previews(self, folder: str) -> bool:
        """The folder of the shoot on screen (an app's): its previews are built first. False
        when it is in no root, or no media component runs."""
        root = queries.root_for_path(os.path.realpath(folder))
        if root is None or self.media is None or self.media.sync is None:
            return False
        rel_dir = os.path.relpath(os.path.realpath(folder), root.path)
        self.media.sync.focus = (root.id, "" if rel_dir == "." else rel_dir)
        return True

    def request_rescan(self, path: str | None = None) -> list[str]:
        """Queue a reconcile of the root holding ``path`` (every root when None)."""
        if path is None:
            self.reconciling.request(None, "manual")
            return [root.path for root in Root.select()]
        root = queries.root_for_path(os.path.realpath(path))
        if root is None:
            raise ValueError(f"{path} is not inside a root")
        self.reconciling.request(root.id, "manual")
        return [root.path]

    def states(self) -> dict[str, ComponentState]:
        with self._states_lock:
            return dict(self._states)

    def _handle_request(self, request: dict) -> dict:
        if request.get("command") == "rescan":
            return {"ok": True, "roots": self.request_rescan(request.get("path"))}
        if request.get("command") == "focus":
            return {"ok": self.focus_previews(str(request["folder"]))}
        if request.get("command") == "status":
            states = {name: state.__dict__ for name, state in self.states().items()}
            return {"ok": True, "pid": os.getpid(), "components": states}
        return {"ok": False, "error": f"unknown command {request.get('command')!r}"}

    # --- for the components -------------------------------------------------------------

    def submit(self, component: str, work: Callable[[], object]) -> None:
        """Run ``work`` on the writer thread, in the order submitted."""
        self._work.put(_Work(component, work))

    def submit_and_wait(self, component: str, work: Callable[[], object], timeout: float):
        """Run ``work`` on the writer thread and wait for its result (or its error)."""
        done: Future = Future()
        self._work.put(_Work(component, work, done))
        waited = 0.0
        while True:
            try:
                return done.result(timeout=0.5)
            except FutureTimeout:
                waited += 0.5
                if self._writer is None or not self._writer.is_alive():
                    raise RuntimeError("the engine is stopping") from None
                if waited >= timeout:
                    raise

    def record(self, kind: EventKind, path: str | None = None, payload: dict | None = None) -> None:
        """An engine event (a component's state, the watcher's trouble), written soon."""
        self.submit(SOURCE, lambda: record_event(kind, SOURCE, path=path, payload=payload))

    def set_state(self, component: str, state: ComponentState) -> None:
        with self._states_lock:
            was = self._states[component].status
            self._states[component] = state
        if state.status in ("degraded", "down") and was != state.status:
            log.warning("%s %s: %s", component, state.status, state.error)
        # running <-> idle is a component's daily rhythm, not news; the rest is an Event.
        if was != state.status and {was, state.status} != {"running", "idle"}:
            payload = {"component": component, "status": state.status, "was": was}
            if state.error:
                payload["error"] = state.error
            self.record(EventKind.COMPONENT_STATE, None, payload)

    # --- the writer thread: every catalogue write happens here ---------------------------

    def _write_loop(self) -> None:
        next_beat = 0.0
        while not self._writer_done.is_set():
            if self.server is not None and self.server.away:
                # Nothing is written while the server is away: the work waits in the queue.
                if not self.server.try_again_when_due():
                    self._writer_done.wait(LOOP_SECONDS)
                    continue
                next_beat = 0.0
            try:
                self._run_work(self._work.get(timeout=LOOP_SECONDS))
            except queue.Empty:
                pass
            except ScanStopped:  # the engine is stopping: that work ended early, others may not
                pass
            if self.stopping.is_set():  # no new work of the writer's own while stopping
                continue
            now = time.monotonic()
            try:
                for component in self.components:
                    if component.tick_seconds is not None and now >= component.next_tick:
                        component.next_tick = now + component.tick_seconds
                        self._run_tick(component, now)
            except ScanStopped:
                pass
            if now >= next_beat:
                try:
                    self._beat()
                    if self.server is not None and self.server.lost():  # the lock's session
                        self.server.went_away("the engine lock's session was ended")
                except Exception as error:
                    if not self._server_went_away(error):
                        raise
                next_beat = now + HEARTBEAT_SECONDS
        if self.server is None or not self.server.away:
            self._beat(stopping=True)

    def _server_went_away(self, error: Exception) -> bool:
        """Whether ``error`` is the catalogue's server gone (then said, and waited for)."""
        if self.server is None or not self.server.lost():
            return False
        self.server.went_away(error)
        return True

    def _run_work(self, work: _Work) -> None:
        try:
            result = work.run()
        except ScanStopped:
            raise
        except Exception as error:
            if work.done is not None:  # whoever waits on it reports it
                work.done.set_exception(error)
            if not self._server_went_away(error) and work.done is None:
                self._degrade(work.component, error)
            return
        if work.done is not None:
            work.done.set_result(result)

    def _run_tick(self, component: Component, now: float) -> None:
        try:
            component.tick(now)
        except ScanStopped:
            raise
        except Exception as error:  # one failed tick must not stop the engine
            if not self._server_went_away(error):
                self._degrade(component.name, error)

    def _degrade(self, component: str, error: Exception) -> None:
        if self.stopping.is_set():  # its pools and threads are being stopped under it
            log.debug("%s: work cut short by the stop: %s", component, error)
            return
        log.exception("%s: work failed", component)
        if component in self._states:
            self.set_state(component, ComponentState("degraded", error=str(error)))

    def _beat(self, stopping: bool = False) -> None:
        for component, state in self.states().items():
            status = "off" if stopping else state.status
            queries.save_heartbeat(component, status, state.task, state.error)
