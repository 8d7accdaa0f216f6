"""The engine: runs the watcher and the reconciler, does every catalogue write on one writer
thread, records heartbeats, and answers requests. It runs the same under the TUI and headless
(`shootwatch run`); a second process on the same catalogue attaches instead of starting one.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace

import watchfiles

from core.config import ConfigError, Settings
from core.darktable.library import LibraryPaths
from core.darktable.poller import Poller, PollerState
from core.darktable.sync import ApplyReport, DarktableSync, LibraryRead
from core.engine.control import ControlServer
from core.engine.lock import EngineLock, EngineRunning
from core.ingest.run import (
    IngestReport,
    IngestUnavailable,
    has_inbox,
    recover_moves,
    run_ingest,
)
from core.media.photos import MediaSync
from core.media.pool import MediaPool
from core.scan.ignore import IgnoreRules
from core.scan.reconcile import (
    ScanError,
    ScanStopped,
    SurveyPool,
    excluded_paths,
    reconcile_root,
)
from core.scan.watch import (
    PendingFolders,
    Watcher,
    WatchFactory,
    WatchLimitReached,
    folders_for_changes,
    inotify_watch_limit,
    limit_message,
    needs_polling,
    plan_folders,
)
from core.stages.runner import StageRunner, stage_defs
from core.store import Catalogue, create_catalogue_file, open_catalogue, queries
from core.store.models import Root

__all__ = ["ComponentState", "Engine", "EngineRunning"]

log = logging.getLogger("shootwatch.engine")

COMPONENTS = ("watcher", "reconciler", "media", "darktable", "stages", "ingest")
HEARTBEAT_SECONDS = 2.0
LOOP_SECONDS = 0.05  # how often the writer looks for settled folders: bounds watch latency
ROOTS_CHECK_SECONDS = 5.0  # roots added or removed while running are picked up this fast
DARKTABLE_FOLLOW_SECONDS = 0.2  # how often file events are looked at for darktable's sake
DARKTABLE_APPLY_SECONDS = 600.0  # a poll waits this long for the writer (a long first scan)
MEDIA_TICK_SECONDS = 0.2  # how often new files are handed to the media workers
INGEST_SECONDS = 1.0  # how often inboxes are looked at for settled files
STAGES_TICK_SECONDS = 0.2  # how often finished stage jobs are recorded and new ones started
SIDECAR_SETTLE_SECONDS = 0.3  # darktable writes a sidecar whole: it is read this soon
SOURCE = "engine"


@dataclass(frozen=True)
class ComponentState:
    status: str  # running, idle, degraded, off, down
    task: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class _Reconcile:
    root_id: int | None  # None: every root
    kind: str


@dataclass(frozen=True)
class _Record:
    kind: str
    path: str | None
    payload: dict


@dataclass(frozen=True)
class _Deliver:
    """Work finished elsewhere (a media worker), to be applied on the writer thread."""

    apply: Callable[[], None]


@dataclass(frozen=True)
class _DarktableRead:
    read: LibraryRead
    done: Future


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
        self.watch_factory = watch_factory
        self.with_watcher = with_watcher
        self.with_darktable = with_darktable
        self.with_media = with_media
        self.with_stages = with_stages
        self.with_ingest = with_ingest
        self._ingest: threading.Thread | None = None
        self._stages: StageRunner | None = None  # ticked on the writer thread only
        self._next_stages_tick = 0.0
        self._media: MediaSync | None = None  # used on the writer thread only
        self._media_pool: MediaPool | None = None
        self._next_media_tick = 0.0
        self._darktable: DarktableSync | None = None  # used on the writer thread only
        self._poller: Poller | None = None
        self._next_follow = 0.0
        self._sidecars: dict[str, float] = {}  # changed sidecar -> when to read it
        self._sidecars_lock = threading.Lock()
        self.catalogue: Catalogue | None = None
        self._lock = EngineLock(settings.catalogue)
        self._stop = threading.Event()
        self._requests: queue.Queue[_Reconcile | _Record | _DarktableRead | _Deliver] = (
            queue.Queue()
        )
        self._pending = PendingFolders()
        self._states = {name: ComponentState("off") for name in COMPONENTS}
        self._states_lock = threading.Lock()
        self._scan_only: dict[int, str] = {}  # root id -> why it is scanned, not watched
        self._next_fallback = 0.0
        self._watcher: Watcher | None = None
        self._watched_roots: tuple[int, ...] = ()
        self._pool: SurveyPool | None = None
        self._writer: threading.Thread | None = None
        self._control: ControlServer | None = None
        self._rules: dict[str, IgnoreRules] = {}
        self._root_ids: dict[str, int] = {}
        self._reconcile_when_quiet = False
        self._quiet_since = 0.0  # the last time the watcher reported changes

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Take the catalogue's engine lock (EngineRunning if another engine has it) and start.

        The survey workers are forked first, while this process has no other threads.
        """
        # The lock is on the file itself, taken before SQLite opens it: a refused engine must
        # not touch a catalogue another engine writes (through a hard link, that corrupts it).
        create_catalogue_file(self.settings.catalogue)
        self._lock.acquire()
        try:
            self.catalogue = open_catalogue(self.settings.catalogue)
        except BaseException:
            self._lock.release()
            raise
        # A run left "running" was cut short by a crash: say so (this process holds the lock).
        queries.fail_unfinished_runs("the engine stopped before this run finished")
        # Moves a crash left half done are finished or undone before anything reads the inbox.
        for move_id, outcome in recover_moves(self.catalogue.db):
            log.warning("ingest move %d, cut short by a stop: %s", move_id, outcome)
        if self.settings.scan.workers > 1:
            self._pool = SurveyPool(self.settings.scan.workers)
        if self.with_media:
            self._media_pool = MediaPool(self.settings.scan.workers)
            self._media = MediaSync(
                self.catalogue.db,
                self.settings.media,
                self._media_pool,
                deliver=lambda apply: self._requests.put(_Deliver(apply)),
            )
            self._set_state("media", ComponentState("idle"))
        if self.with_stages:
            self._start_stages()
        self._set_state("reconciler", ComponentState("idle"))
        self._requests.put(_Reconcile(None, "startup"))
        self._writer = threading.Thread(target=self._write_loop, name="shootwatch-writer")
        self._writer.start()
        self._control = ControlServer(self.settings.catalogue, self._handle_request)
        self._control.start()
        if self.with_darktable:
            self._start_darktable()
        if self.with_ingest:
            self._start_ingest()
        log.info("engine started (pid %d) on %s", os.getpid(), self.settings.catalogue)

    def stop(self, timeout: float = 2.0) -> None:
        """Stop everything within ``timeout``: a scan in progress stops between transactions."""
        deadline = time.monotonic() + timeout
        self._stop.set()
        if self._poller is not None:
            self._poller.stop(max(0.1, deadline - time.monotonic()))
        if self._ingest is not None:  # stops between batches; its writes need the writer
            self._ingest.join(max(0.1, deadline - time.monotonic()))
        if self._pool is not None:
            self._pool.close(wait=False)
        if self._media_pool is not None:
            self._media_pool.close()
        if self._writer is not None:
            self._writer.join(max(0.1, deadline - time.monotonic()))
        if self._stages is not None:  # after the writer, which starts its jobs
            self._stages.close(wait=False)
        # After the writer: it is the one that starts (and restarts) the watcher.
        if self._watcher is not None:
            self._watcher.stop(max(0.1, deadline - time.monotonic()))
        if self._control is not None:
            self._control.stop()
        self._lock.release()
        if self.catalogue is not None:
            self.catalogue.close()
        log.info("engine stopped")

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the engine stops; True if it has."""
        return self._stop.wait(timeout)

    # --- what others may ask ------------------------------------------------------------

    def request_rescan(self, path: str | None = None) -> list[str]:
        """Queue a reconcile of the root holding ``path`` (every root when None)."""
        if path is None:
            self._requests.put(_Reconcile(None, "manual"))
            return [root.path for root in Root.select()]
        root = queries.root_for_path(os.path.realpath(path))
        if root is None:
            raise ValueError(f"{path} is not inside a root")
        self._requests.put(_Reconcile(root.id, "manual"))
        return [root.path]

    def states(self) -> dict[str, ComponentState]:
        with self._states_lock:
            return dict(self._states)

    def _handle_request(self, request: dict) -> dict:
        if request.get("command") == "rescan":
            return {"ok": True, "roots": self.request_rescan(request.get("path"))}
        if request.get("command") == "status":
            states = {name: state.__dict__ for name, state in self.states().items()}
            return {"ok": True, "pid": os.getpid(), "components": states}
        return {"ok": False, "error": f"unknown command {request.get('command')!r}"}

    # --- the writer thread: every catalogue write happens here ---------------------------

    def _write_loop(self) -> None:
        interval = self.settings.engine.reconcile_hours * 3600
        next_reconcile = time.monotonic() + interval * random.uniform(0.9, 1.1)
        next_beat = next_roots_check = 0.0
        while not self._stop.is_set():
            try:
                item = self._requests.get(timeout=LOOP_SECONDS)
            except queue.Empty:
                item = None
            try:
                if isinstance(item, _Reconcile):
                    self._reconcile(item)
                elif isinstance(item, _Record):
                    queries.record_event(item.kind, SOURCE, path=item.path, payload=item.payload)
                elif isinstance(item, _DarktableRead):
                    self._apply_darktable(item)
                elif isinstance(item, _Deliver):
                    item.apply()
                self._record_settled_folders()
                now = time.monotonic()
                if self._sidecars:
                    self._read_due_sidecars(now)
                if self._media is not None and now >= self._next_media_tick:
                    self._next_media_tick = now + MEDIA_TICK_SECONDS
                    self._media_tick()
                if self._stages is not None and now >= self._next_stages_tick:
                    self._next_stages_tick = now + STAGES_TICK_SECONDS
                    self._stages_tick()
                if self._darktable is not None and now >= self._next_follow:
                    self._next_follow = now + DARKTABLE_FOLLOW_SECONDS
                    self._darktable_follow()
                if now >= next_roots_check:
                    self._check_roots()
                    next_roots_check = now + ROOTS_CHECK_SECONDS
                quiet_for = now - self._quiet_since
                if self._reconcile_when_quiet and quiet_for > self.settings.watch.settle_seconds:
                    self._reconcile_when_quiet = False
                    self._requests.put(_Reconcile(None, "scheduled"))
                if now >= next_reconcile:
                    self._requests.put(_Reconcile(None, "scheduled"))
                    next_reconcile = now + interval * random.uniform(0.9, 1.1)
                if self._scan_only and now >= self._next_fallback:
                    for root_id in list(self._scan_only):
                        self._requests.put(_Reconcile(root_id, "scheduled"))
                    self._next_fallback = now + self.settings.engine.fallback_minutes * 60
                if now >= next_beat:
                    self._beat()
                    next_beat = now + HEARTBEAT_SECONDS
            except ScanStopped:
                break
            except Exception as error:  # one failed task must not stop the engine
                log.exception("engine task failed")
                self._set_state("reconciler", ComponentState("degraded", error=str(error)))
        self._beat(stopping=True)

    def _reconcile(self, item: _Reconcile) -> None:
        roots = (
            list(Root.select().order_by(Root.path))
            if item.root_id is None
            else [Root.get_by_id(item.root_id)]
        )
        for root in roots:
            self._set_state("reconciler", ComponentState("running", task=f"scanning {root.path}"))
            try:
                report = reconcile_root(
                    self.catalogue,
                    root,
                    self.settings.scan,
                    kind=item.kind,
                    pool=self._pool,
                    cancel=self._stop,
                )
            except ScanError as error:
                if self._stop.is_set():  # the workers were stopped under it
                    raise ScanStopped(str(error)) from error
                self._set_state("reconciler", ComponentState("degraded", error=str(error)))
                if self._pool is not None:  # a broken pool: start a fresh one
                    self._pool.close(wait=False)
                    self._pool = SurveyPool(self.settings.scan.workers)
                continue
            log.info(
                "%s scan of %s: %s, %d added, %d updated, %d moved, %d removed",
                item.kind,
                root.path,
                report.status,
                report.files_added,
                report.files_updated,
                report.files_moved,
                report.files_removed,
            )
        self._set_state("reconciler", ComponentState("idle"))

    def _rules_for(self, root_path: str) -> IgnoreRules:
        if root_path not in self._rules:
            excluded = excluded_paths(
                root_path, str(self.settings.catalogue), self.settings.scan.own_folders
            )
            self._rules[root_path] = IgnoreRules(self.settings.scan.ignore, excluded)
        return self._rules[root_path]

    def _record_settled_folders(self) -> None:
        settle = self.settings.watch.settle_seconds
        for root_id, folders in self._pending.take_due(time.monotonic()).items():
            root = Root.get_or_none(Root.id == root_id)
            if root is None:
                continue
            plan = plan_folders(root.path, folders, self._rules_for(root.path))
            try:
                report = reconcile_root(
                    self.catalogue,
                    root,
                    replace(self.settings.scan, workers=1),  # a few folders: no workers needed
                    kind="realtime",
                    folders=plan,
                    settle_seconds=settle,
                    cancel=self._stop,
                )
            except ScanStopped:
                raise
            except Exception:
                # Whatever went wrong, nothing of it was written: a full reconcile catches up.
                log.exception("recording changes in %s failed; reconciling it", root.path)
                self._requests.put(_Reconcile(root_id, "scheduled"))
                continue
            if report.unsettled:
                # Still being written: look again shortly.
                parents = {(os.path.dirname(path), False) for path in report.unsettled}
                self._pending.add(root_id, parents, time.monotonic() + min(settle, 0.25))

    # --- darktable ------------------------------------------------------------------------

    # --- ingest (its own thread: it moves files; its writes go to the writer) ------------

    def _start_ingest(self) -> None:
        if self.settings.ingest.destination is None:
            self._set_state("ingest", ComponentState("off", error="no ingest.destination set"))
            return
        self._set_state("ingest", ComponentState("idle"))
        # A daemon: a stop never waits for a long copy; the journal repairs a cut move.
        self._ingest = threading.Thread(
            target=self._ingest_loop, name="shootwatch-ingest", daemon=True
        )
        self._ingest.start()

    def _ingest_loop(self) -> None:
        db = self.catalogue.db
        while not self._stop.wait(INGEST_SECONDS):
            try:
                if not has_inbox(db) and not self.settings.ingest.inboxes:
                    self._set_state("ingest", ComponentState("idle", task="no inbox root"))
                    continue
                report = run_ingest(db, self.settings, progress=self._ingest_progress,
                                    write=self._on_writer, cancel=self._stop)  # fmt: skip
            except IngestUnavailable as error:
                self._set_state("ingest", ComponentState("degraded", error=str(error)))
                continue
            except Exception as error:  # the next pass tries again
                if self._stop.is_set():
                    break
                log.exception("ingest pass failed")
                self._set_state("ingest", ComponentState("degraded", error=str(error)))
                continue
            filed = report.ingested + report.undated
            task = None
            if filed or report.duplicates or report.failed:
                task = f"filed {filed:,}, {report.duplicates:,} duplicates"
                if report.failed:
                    task += f", {report.failed:,} failed"
            elif report.waiting:
                task = f"{report.waiting:,} files settling"
            self._set_state("ingest", ComponentState("idle", task=task))

    def _ingest_progress(self, done: int, total: int, report: IngestReport) -> None:
        task = f"ingesting {done:,} / {total:,}, {report.duplicates:,} duplicates"
        self._set_state("ingest", ComponentState("running", task=task))

    def _on_writer(self, apply: Callable[[], object]) -> object:
        """Run a catalogue write on the writer thread and wait for its result."""
        done: Future = Future()

        def run() -> None:
            try:
                done.set_result(apply())
            except Exception as error:  # the ingest thread reports it, not the writer
                done.set_exception(error)

        self._requests.put(_Deliver(run))
        while True:
            try:
                return done.result(timeout=0.5)
            except FutureTimeout:
                if self._writer is None or not self._writer.is_alive():
                    raise RuntimeError("the engine is stopping") from None

    def _start_darktable(self) -> None:
        settings = self.settings.darktable
        self._darktable = DarktableSync(self.catalogue.db)
        self._set_state("darktable", ComponentState("idle", task="starting"))
        self._poller = Poller(
            LibraryPaths.beside(settings.library, settings.data),
            apply=self._submit_darktable_read,
            on_state=self._on_darktable_state,
            poll_seconds=settings.poll_seconds,
            quiet_seconds=settings.quiet_seconds,
            explicit=settings.explicit,
        )
        self._poller.start()

    def _submit_darktable_read(self, read: LibraryRead) -> ApplyReport:
        """From the poller thread: have the writer apply a read, and wait until it has."""
        done: Future = Future()
        self._requests.put(_DarktableRead(read, done))
        return done.result(timeout=DARKTABLE_APPLY_SECONDS)

    def _apply_darktable(self, item: _DarktableRead) -> None:
        try:
            report = self._darktable.apply(item.read)
            if item.read.buckets is None:
                self._darktable.find_not_imported()
        except Exception as error:
            item.done.set_exception(error)
            raise
        item.done.set_result(report)
        if report.new or report.changed or report.removed:
            log.info(
                "darktable: %d new, %d changed, %d removed images; %d events",
                report.new,
                report.changed,
                report.removed,
                report.events,
            )

    def _read_due_sidecars(self, now: float) -> None:
        with self._sidecars_lock:
            due = [path for path, at in self._sidecars.items() if at <= now]
            for path in due:
                del self._sidecars[path]
        if due and self._darktable is not None:
            self._darktable.apply_sidecar_files(due)

    def _darktable_follow(self) -> None:
        """Sidecars the watcher saw, new and deleted photos: what they mean for darktable."""
        try:
            self._darktable.follow_file_events()
        except Exception as error:  # the next pass tries again; the rest goes on
            log.exception("darktable: following file events failed")
            self._set_state("darktable", ComponentState("degraded", error=str(error)))

    def _media_tick(self) -> None:
        """New files described, grouped into photos, previews built: in the media workers."""
        try:
            self._media.tick()
        except Exception as error:  # the next tick tries again; the rest goes on
            log.exception("media work failed")
            self._set_state("media", ComponentState("degraded", error=str(error)))
            return
        counts = self._media.counts
        task = f"{counts.described:,} files described, {counts.previews:,} previews"
        status = "running" if self._media.busy else "idle"
        self._set_state("media", ComponentState(status, task=task))

    def _start_stages(self) -> None:
        try:
            defs = stage_defs(self.settings.stages, self.settings.media.preview_long_edge)
        except ConfigError as error:  # the rest of the engine works without its stages
            self._set_state("stages", ComponentState("degraded", error=str(error)))
            return
        if not defs:
            self._set_state("stages", ComponentState("off", error="no stage is enabled"))
            return
        self._stages = StageRunner(
            self.catalogue.db, self.settings.stages, defs, media=self.settings.media
        )
        self._set_state("stages", ComponentState("idle"))

    def _stages_tick(self) -> None:
        """Jobs queued for photos that became due, started in the stage workers, recorded."""
        try:
            busy = self._stages.tick()
        except Exception as error:  # the next tick tries again; the rest goes on
            log.exception("stage work failed")
            self._set_state("stages", ComponentState("degraded", error=str(error)))
            return
        counts = self._stages.counts
        task = f"{counts.done:,} made, {counts.failed:,} failures"
        self._set_state("stages", ComponentState("running" if busy else "idle", task=task))

    def _on_darktable_state(self, state: PollerState) -> None:
        self._set_state("darktable", ComponentState(state.status, state.task, state.error))

    # --- the watcher ----------------------------------------------------------------------

    def _check_roots(self) -> None:
        """Start (or restart) the watcher for the roots there are now."""
        roots = list(Root.select().where(Root.state == "online").order_by(Root.id))
        ids = tuple(root.id for root in roots)
        if ids == self._watched_roots and (self._watcher is None or self._watcher.running):
            return
        if self._watcher is not None:
            self._watcher.stop()
            if ids == self._watched_roots:  # it died: whatever it missed, a reconcile finds
                self._requests.put(_Reconcile(None, "scheduled"))
        self._watched_roots = ids
        if not self.with_watcher:
            return
        watched = []
        for root in roots:
            if root.id in self._scan_only:
                continue
            if needs_polling(root.path):
                self._fall_back(root, "on a network file system without change notifications")
                continue
            watched.append(root)
        if not watched:
            self._watcher = None
            return
        self._root_ids = {root.path: root.id for root in watched}
        folder_count = queries.folder_count()
        limit = inotify_watch_limit()
        margin = f"{folder_count:,} folders of {limit:,} inotify watches" if limit else None
        if limit is not None and folder_count >= limit * 0.9:
            # Past the limit inotify silently stops watching new folders: don't rely on it.
            message = limit_message(limit, self.settings.engine.fallback_minutes)
            for root in watched:
                self._fall_back(root, f"too large to watch ({margin})")
            self._set_state("watcher", ComponentState("degraded", task=margin, error=message))
            self._watcher = None
            return
        self._watcher = Watcher(
            [root.path for root in watched],
            self._rules_for,
            self.settings.watch,
            on_changes=self._on_changes,
            on_trouble=self._on_watcher_trouble,
            on_folders=self._on_folders,
            watch_factory=self.watch_factory,
        )
        # The state first: a watcher that fails at once reports its trouble after this.
        self._set_state("watcher", ComponentState("running", task=margin))
        self._watcher.start()

    def _on_changes(self, root_path: str, paths: list[str]) -> None:
        """From the watcher thread: queue the folders these changes touch."""
        root_id = self._root_ids.get(root_path)
        if root_id is None:
            return
        self._quiet_since = time.monotonic()
        if self._darktable is not None:
            # Sidecars first: darktable's state, at once, before the catalogue's settle time.
            sidecars = [path for path in paths if path.lower().endswith(".xmp")]
            if sidecars:
                due = time.monotonic() + SIDECAR_SETTLE_SECONDS
                with self._sidecars_lock:
                    self._sidecars.update(dict.fromkeys(sidecars, due))
        folders = folders_for_changes(root_path, paths, self._rules_for(root_path))
        self._pending.add(root_id, folders, time.monotonic() + self.settings.watch.settle_seconds)

    def _on_folders(self, root_path: str, rel_dirs: list[str]) -> None:
        """From the watcher thread: folders to look at (their contents changed while the
        watcher restarted)."""
        root_id = self._root_ids.get(root_path)
        if root_id is not None:
            due = time.monotonic() + self.settings.watch.settle_seconds
            self._pending.add(root_id, {(rel_dir, False) for rel_dir in rel_dirs}, due)

    def _on_watcher_trouble(self, kind: str, error: Exception) -> None:
        """From the watcher thread: say what happened, fall back to scanning, reconcile."""
        if kind == "overflow":
            # The watcher goes on; a reconcile once the burst is over finds what it missed.
            log.warning("watcher: %s; reconciling when the changes stop", error)
            self._requests.put(_Record("watcher_overflow", None, {"reason": str(error)}))
            self._reconcile_when_quiet = True
            self._quiet_since = time.monotonic()
            return
        minutes = self.settings.engine.fallback_minutes
        if isinstance(error, WatchLimitReached):
            message = limit_message(inotify_watch_limit(), minutes)
            for root_id in self._watched_roots:
                self._scan_only[root_id] = message
        else:
            message = f"watcher stopped ({error}); reconciling, and restarting it"
        log.warning(message)
        self._set_state("watcher", ComponentState("degraded", error=message))
        self._requests.put(_Record("watcher_fallback", None, {"reason": message, "kind": kind}))
        self._requests.put(_Reconcile(None, "scheduled"))
        self._next_fallback = time.monotonic() + minutes * 60

    def _fall_back(self, root: Root, why: str) -> None:
        minutes = self.settings.engine.fallback_minutes
        message = f"{root.path} is {why}: scanning it every {minutes:g} minutes instead"
        self._scan_only[root.id] = message
        self._set_state("watcher", ComponentState("degraded", error=message))
        self._requests.put(_Record("watcher_fallback", root.path, {"reason": message}))

    # --- heartbeats -----------------------------------------------------------------------

    def _set_state(self, component: str, state: ComponentState) -> None:
        with self._states_lock:
            was = self._states[component].status
            self._states[component] = state
        if state.status in ("degraded", "down") and was != state.status:
            log.warning("%s %s: %s", component, state.status, state.error)
        # running <-> idle is the reconciler's daily rhythm, not news; the rest is an Event.
        if was != state.status and {was, state.status} != {"running", "idle"}:
            payload = {"component": component, "status": state.status, "was": was}
            if state.error:
                payload["error"] = state.error
            self._requests.put(_Record("component_state", None, payload))

    def _beat(self, stopping: bool = False) -> None:
        for component, state in self.states().items():
            status = "off" if stopping else state.status
            queries.save_heartbeat(component, status, state.task, state.error)
