"""The watching component: the live watcher over the online roots, and the realtime runs that
record the folders it names once their changes have settled. Roots it cannot watch (a network
file system, too many folders for inotify, a watcher that failed) are scanned on a schedule
instead, and say why."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import replace

from core.engine.component import Component
from core.scan.ignore import IgnoreRules
from core.scan.reconcile import ScanStopped, excluded_paths, reconcile_root, remove_vanished
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
from core.store import queries
from core.store.events import EventKind
from core.store.models import Root

log = logging.getLogger("shootwatch.engine")

# A file that vanished keeps its record this much longer than the settle time, for its content
# to turn up elsewhere (the other half of a move, reported in a later batch)...
HOLD_SECONDS = 4.0
# ...and while other changes are still settling, up to this long: a wave of renames is one
# move of many folders, whatever order the batches come in.
LONGEST_HOLD_SECONDS = 120.0
# A backstop: the reconciling component says at once when it finds a root gone, back or new.
ROOTS_CHECK_SECONDS = 1.0


class WatchingComponent(Component):
    name = "watcher"
    tick_seconds = 0.05  # how often settled folders are looked for: bounds watch latency

    def __init__(self, engine, watch_factory: WatchFactory, enabled: bool = True) -> None:
        super().__init__(engine)
        self.watch_factory = watch_factory
        self.enabled = enabled
        self.watcher: Watcher | None = None
        self.pending = PendingFolders()
        # Told of every changed path before it settles (darktable reads sidecars at once).
        self.path_listeners: list[Callable[[list[str]], None]] = []
        self._watched_roots: tuple[int, ...] = ()
        self._root_ids: dict[str, int] = {}
        self._rules: dict[str, IgnoreRules] = {}
        self._scan_only: dict[int, str] = {}  # root id -> why it is scanned, not watched
        self._next_fallback = 0.0
        self._next_roots_check = 0.0
        self._reconcile_when_quiet = False
        self._quiet_since = 0.0  # the last time the watcher reported changes
        # Records whose files vanished, held for a move: root id -> {record id: since}.
        self._held: dict[int, dict[int, float]] = {}
        # Since when the first watcher sweeps: the engine's start. Its startup reconcile may walk
        # a folder before the watch on it is in place (on a loaded machine that takes a while),
        # and what is written there in between would be seen by neither.
        self._unwatched_since: int | None = None

    def start(self) -> None:
        self._unwatched_since = time.time_ns()

    def stop(self, deadline: float) -> None:
        pass  # the writer starts (and restarts) the watcher: it stops after the writer

    def close(self, deadline: float) -> None:
        if self.watcher is not None:
            self.watcher.stop(self.seconds_left(deadline))

    def tick(self, now: float) -> None:
        self._record_settled_folders()
        if self._held:
            self._remove_vanished(now)
        if now >= self._next_roots_check:
            self._next_roots_check = now + ROOTS_CHECK_SECONDS
            self.check_roots()
        quiet_for = now - self._quiet_since
        if self._reconcile_when_quiet and quiet_for > self.settings.watch.settle_seconds:
            self._reconcile_when_quiet = False
            self.engine.reconciling.request(None, "scheduled")
        if self._scan_only and now >= self._next_fallback:
            for root_id in list(self._scan_only):
                self.engine.reconciling.request(root_id, "scheduled")
            self._next_fallback = now + self.settings.engine.fallback_minutes * 60

    # --- which roots are watched ----------------------------------------------------------

    def rules_for(self, root_path: str) -> IgnoreRules:
        if root_path not in self._rules:
            excluded = excluded_paths(
                root_path, str(self.settings.catalogue), self.settings.scan.own_folders
            )
            self._rules[root_path] = IgnoreRules(self.settings.scan.ignore, excluded)
        return self._rules[root_path]

    def roots_changed(self, restart: bool = False) -> None:
        """A root went offline, came back or was added (on the writer thread): watch the
        roots there are now, at once; ``restart``: anew, even the same roots (one was
        unmounted and mounted again, and its watches went with the unmount)."""
        self._next_roots_check = time.monotonic() + ROOTS_CHECK_SECONDS
        self.check_roots(restart)

    def watches(self, root_id: int) -> bool:
        """Whether changes under the root are seen from now on, or never will be by a watcher
        (it is scanned instead): a reconcile starting now misses nothing that comes after."""
        watcher = self.watcher
        if not self.enabled or watcher is None or root_id in self._scan_only:
            return True
        if watcher.thread.ident is not None and not watcher.thread.is_alive():
            return True  # it stopped: the reconcile after its trouble covers the root
        path = next((path for path, known in self._root_ids.items() if known == root_id), None)
        return path is None or path in watcher.watched

    def misses(self, root_id: int) -> bool:
        """Whether the running watcher is meant to watch the root and does not watch its
        folder: it lets a folder go when it vanishes (renamed away), and never looks for it
        again."""
        watcher = self.watcher
        if watcher is None or not watcher.thread.is_alive() or not watcher.watching:
            return False  # none, stopped (its trouble is handled), or not watching yet
        path = next((path for path, known in self._root_ids.items() if known == root_id), None)
        return path is not None and path not in watcher.watched

    def check_roots(self, restart: bool = False) -> None:
        """Start (or restart) the watcher for the online roots there are now, and the roots
        arriving (new, or back from offline: watched before they are reconciled)."""
        arriving = list(self.engine.reconciling.arriving)
        roots = list(
            Root.select().where((Root.state == "online") | Root.id.in_(arriving)).order_by(Root.id)
        )
        ids = tuple(root.id for root in roots)
        # Alive from its start() on ("running" is set a moment later, in its thread).
        alive = self.watcher is None or self.watcher.thread.is_alive()
        if ids == self._watched_roots and alive and not restart:
            return
        # What changes before the new watcher's watches are in place, it sweeps: since the old
        # one stopped, since the engine started for the first, else since it is made.
        sweep_since = self._unwatched_since or time.time_ns()
        if self.watcher is not None:
            sweep_since = time.time_ns()
            self.watcher.stop()
            if ids == self._watched_roots and not alive:  # whatever it missed, a reconcile finds
                self.engine.reconciling.request(None, "scheduled")
        self._watched_roots = ids
        if not self.enabled:
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
            self.watcher = None
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
            self.set_state("degraded", task=margin, error=message)
            self.watcher = None
            return
        self._unwatched_since = None
        self.watcher = Watcher(
            [root.path for root in watched],
            self.rules_for,
            self.settings.watch,
            on_changes=self._on_changes,
            on_trouble=self._on_trouble,
            on_folders=self._on_folders,
            watch_factory=self.watch_factory,
            sweep_since_ns=sweep_since,
        )
        # The state first: a watcher that fails at once reports its trouble after this.
        self.set_state("running", task=margin)
        self.watcher.start()

    def _fall_back(self, root: Root, why: str) -> None:
        minutes = self.settings.engine.fallback_minutes
        message = f"{root.path} is {why}: scanning it every {minutes:g} minutes instead"
        self._scan_only[root.id] = message
        self.set_state("degraded", error=message)
        self.engine.record(EventKind.WATCHER_FALLBACK, root.path, {"reason": message})

    # --- from the watcher thread ----------------------------------------------------------

    def _on_changes(self, root_path: str, paths: list[str]) -> None:
        """Queue the folders these changes touch."""
        root_id = self._root_ids.get(root_path)
        if root_id is None:
            return
        self._quiet_since = time.monotonic()
        for listener in self.path_listeners:
            listener(paths)
        folders = folders_for_changes(root_path, paths, self.rules_for(root_path))
        self.pending.add(root_id, folders, time.monotonic() + self.settings.watch.settle_seconds)

    def _on_folders(self, root_path: str, folders: list[tuple[str, bool, int]]) -> None:
        """Folders to survey, (rel_dir, recursive, changed_ns): their contents changed, or they
        appeared, while the watcher restarted. Each is due a settle time after it last changed
        (and a batch's debounce: its files were written right after their folder changed), not
        after the sweep that found it: on a loaded machine that can be a while later."""
        root_id = self._root_ids.get(root_path)
        if root_id is None:
            return
        self._quiet_since = now = time.monotonic()
        settle = self.settings.watch.settle_seconds
        after_change = settle + self.settings.watch.debounce_ms / 1000
        now_ns = time.time_ns()
        for rel_dir, recursive, changed_ns in folders:
            since_change = max(0.0, (now_ns - changed_ns) / 1e9)
            due = now + min(settle, max(0.0, after_change - since_change))
            self.pending.add(root_id, [(rel_dir, recursive)], due)

    def _on_trouble(self, kind: str, error: Exception) -> None:
        """Say what happened, fall back to scanning, reconcile."""
        if kind == "overflow":
            # The watcher goes on; a reconcile once the burst is over finds what it missed.
            log.warning("watcher: %s; reconciling when the changes stop", error)
            self.engine.record(EventKind.WATCHER_OVERFLOW, None, {"reason": str(error)})
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
        self.set_state("degraded", error=message)
        self.engine.record(EventKind.WATCHER_FALLBACK, None, {"reason": message, "kind": kind})
        self.engine.reconciling.request(None, "scheduled")
        self._next_fallback = time.monotonic() + minutes * 60

    # --- realtime runs --------------------------------------------------------------------

    def _record_settled_folders(self) -> None:
        settle = self.settings.watch.settle_seconds
        for root_id, folders in self.pending.take_due(time.monotonic()).items():
            root = Root.get_or_none(Root.id == root_id)
            if root is None:
                continue
            plan = plan_folders(root.path, folders, self.rules_for(root.path))
            try:
                report = reconcile_root(
                    self.engine.catalogue,
                    root,
                    replace(self.settings.scan, workers=1),  # a few folders: no workers needed
                    kind="realtime",
                    folders=plan,
                    settle_seconds=settle,
                    cancel=self.engine.stopping,
                    hold_removals=True,
                )
            except ScanStopped:
                raise
            except Exception:
                # Whatever went wrong, nothing of it was written: a full reconcile catches up.
                log.exception("recording changes in %s failed; reconciling it", root.path)
                self.engine.reconciling.request(root_id, "scheduled")
                continue
            self.hold(root_id, report.vanished)
            if report.unsettled:
                # Still being written: look again shortly.
                parents = {(os.path.dirname(path), False) for path in report.unsettled}
                self.pending.add(root_id, parents, time.monotonic() + min(settle, 0.25))

    def hold(self, root_id: int, record_ids: tuple[int, ...]) -> None:
        """Keep these records, whose files vanished, until their content has had time to turn
        up elsewhere (on the writer thread: the reconciler's runs hand theirs here too)."""
        if record_ids:
            now = time.monotonic()
            held = self._held.setdefault(root_id, {})
            for record_id in record_ids:
                held.setdefault(record_id, now)

    def _remove_vanished(self, now: float) -> None:
        """Remove the held records whose content has not turned up anywhere: once nothing else
        is settling (the rest of a move may be in those folders), or after the longest hold."""
        hold = self.settings.watch.settle_seconds + HOLD_SECONDS
        settling = len(self.pending) > 0 or now - self._quiet_since < hold
        for root_id, held in list(self._held.items()):
            due = [
                record_id
                for record_id, since in held.items()
                if now - since >= LONGEST_HOLD_SECONDS or (now - since >= hold and not settling)
            ]
            if not due:
                continue
            root = Root.get_or_none(Root.id == root_id)
            if root is not None:
                # An offline root keeps them: the reconcile at its return decides.
                remove_vanished(self.engine.catalogue, root, due)
            for record_id in due:
                del held[record_id]
            if not held:
                del self._held[root_id]
