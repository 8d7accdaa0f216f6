"""The reconciling component: whole-root reconciles (at start, on a schedule, when asked, after
watcher trouble), run on the writer thread with a pool of survey workers; and the roots'
lifecycle: every root is looked at every few seconds (core.scan.roots: a stat, the mount table,
a first listing), so one that went away goes offline at once, and one that came back, or was
added while the engine runs, is watched and then reconciled, by itself."""

from __future__ import annotations

import logging
import os
import random
import threading
import time

from core.engine.component import Component
from core.scan.reconcile import ScanError, ScanStopped, SurveyPool, reconcile_root
from core.scan.roots import FolderWatchIds, check_root, set_root_state
from core.store import queries
from core.store.models import Root

log = logging.getLogger("shootwatch.engine")

PROBE_SECONDS = 2.0  # every root is looked at this often
WATCH_WAIT_SECONDS = 5.0  # the longest an arriving root waits for the watcher before its reconcile
RETRY_SECONDS = 6.0  # a root that looked back but was not is looked at again after this


class ReconcilingComponent(Component):
    name = "reconciler"
    tick_seconds = 0.05

    def __init__(self, engine) -> None:
        super().__init__(engine)
        self._pool: SurveyPool | None = None
        self._wanted: dict[int | None, str] = {}  # root id (None: every root) -> run kind
        self._wanted_lock = threading.Lock()  # asked from the watcher and control threads
        interval = self.settings.engine.reconcile_hours * 3600
        self._next_scheduled = time.monotonic() + interval * random.uniform(0.9, 1.1)
        self._next_probe = 0.0
        self._known_roots: set[int] | None = None  # the roots the last probe saw
        # Roots added while the engine runs, or back from offline, by id, with when they
        # arrived: watched first, then reconciled, so nothing copied in meanwhile is missed.
        self.arriving: dict[int, float] = {}
        self._retry_at: dict[int, float] = {}  # offline roots whose return did not hold
        self._folder_ids = FolderWatchIds()  # is the folder at a root's path the one watched?
        self._folder_id: dict[int, int] = {}  # root id -> its folder's watch descriptor

    def start(self) -> None:
        # Forked first, while the process has no other threads (see SurveyPool).
        if self.settings.scan.workers > 1:
            self._pool = SurveyPool(self.settings.scan.workers)
        self.set_state("idle")
        self._known_roots = {root.id for root in Root.select()}  # the startup reconcile's
        self.request(None, "startup")

    def stop(self, deadline: float) -> None:
        if self._pool is not None:  # a survey under way is cut; it wrote nothing
            self._pool.close(wait=False)

    def close(self, deadline: float) -> None:
        self._folder_ids.close()

    def request(self, root_id: int | None, kind: str) -> None:
        """Reconcile a root (every root when None) at the next tick; from any thread."""
        with self._wanted_lock:
            if None not in self._wanted or root_id is None:
                self._wanted.setdefault(root_id, kind)

    def tick(self, now: float) -> None:
        if now >= self._next_scheduled:
            interval = self.settings.engine.reconcile_hours * 3600
            self._next_scheduled = now + interval * random.uniform(0.9, 1.1)
            self.request(None, "scheduled")
        for root_id, arrived in list(self.arriving.items()):
            if self.engine.watching.watches(root_id) or now - arrived > WATCH_WAIT_SECONDS:
                self.request(root_id, "scheduled")
        with self._wanted_lock:
            wanted, self._wanted = self._wanted, {}
        if wanted:
            if None in wanted:
                roots = list(Root.select().order_by(Root.path))
                kinds = dict.fromkeys((root.id for root in roots), wanted[None])
            else:
                roots = list(Root.select().where(Root.id.in_(list(wanted))).order_by(Root.path))
                kinds = wanted
            failed = [root for root in roots if not self.reconcile(root, kinds[root.id])]
            if not failed:
                self.set_state("idle")
        # After any reconcile, which can take long: the probe looks at the roots as they are.
        if time.monotonic() >= self._next_probe:
            self.probe_roots()
            self._next_probe = time.monotonic() + PROBE_SECONDS

    def reconcile(self, root: Root, kind: str) -> bool:
        """Reconcile one root; False when the scan failed (the state says why)."""
        self.set_state("running", task=f"scanning {root.path}")
        was = root.state
        arriving = self.arriving.pop(root.id, None) is not None
        try:
            report = reconcile_root(
                self.engine.catalogue,
                root,
                self.settings.scan,
                kind=kind,
                pool=self._pool,
                cancel=self.engine.stopping,
                # A folder renamed while the run goes may be missed under both names: its
                # records wait for the watcher's runs to find it.
                hold_removals=True,
            )
        except ScanError as error:
            if self.engine.stopping.is_set():  # the workers were stopped under it
                raise ScanStopped(str(error)) from error
            self.set_state("degraded", error=str(error))
            if self._pool is not None:  # a broken pool: start a fresh one
                self._pool.close(wait=False)
                self._pool = SurveyPool(self.settings.scan.workers)
            if arriving:
                self._arrival_failed(root)
            return False
        self.engine.watching.hold(root.id, report.vanished)
        log.info(
            "%s scan of %s: %s, %d added, %d updated, %d moved, %d removed",
            kind,
            root.path,
            report.status,
            report.files_added,
            report.files_updated,
            report.files_moved,
            report.files_removed,
        )
        if root.state != was:
            self._say_state(root)
        if root.state == "online":
            self._retry_at.pop(root.id, None)
        if arriving and root.state != "online":
            self._arrival_failed(root)
        elif arriving or root.state != was:
            self.engine.watching.roots_changed()
        return True

    # --- the roots' lifecycle -------------------------------------------------------------

    def probe_roots(self) -> None:
        """Look at every root (a stat, the mount table, a first listing: no walk) and act on
        what changed: gone offline, back, added, on another device number, a folder readable
        again."""
        now = time.monotonic()
        roots = list(Root.select().order_by(Root.id))
        seen = {root.id for root in roots}
        known, self._known_roots = self._known_roots or set(), seen
        changed = False
        for root in roots:
            if root.id in self.arriving:
                continue
            if root.id not in known:
                log.info("root %s added: watching it, then indexing it", root.path)
                self.arriving[root.id] = now
                changed = True
                continue
            # An inbox is empty whenever ingest has filed it: the move is recorded a moment
            # after the files left, so only its return waits for files (its scans still check).
            look_inside = root.kind != "inbox" or root.state == "offline"
            rules = self.engine.watching.rules_for(root.path)
            check = check_root(root, rules, look_inside=look_inside)
            recorded = (root.device, root.mount_point)
            last_folder_id = self._folder_id.get(root.id)
            folder_id = None
            if check.offline_reason is None:
                folder_id = self._folder_ids.watch_id(root.path)
                self._folder_id[root.id] = folder_id
            if root.state == "online" and check.offline_reason is not None:
                # Not watched from now on, and never scanned for removals while it is away.
                set_root_state(root, check.offline_reason, None, time.time())
                self._say_state(root)
                changed = True
            elif root.state == "online":
                identity = check.identity
                if identity is not None and recorded != (identity.device, identity.mount_point):
                    # Its first check since it was recorded without them, or the same drive
                    # under a new device number.
                    set_root_state(root, None, identity, time.time())
                unwatched = None
                if None not in (last_folder_id, folder_id) and last_folder_id != folder_id:
                    # A drive unmounted and mounted again between two looks: the unmount
                    # dropped the watcher's watches, silently.
                    unwatched = "another folder is in its place since the last look"
                elif self.engine.watching.misses(root.id):
                    # Renamed away and back between two looks: the watcher let it go.
                    unwatched = "the watcher lost its folder"
                if unwatched is not None:
                    log.info("root %s: %s; watching it anew, then reconciling it",
                             root.path, unwatched)  # fmt: skip
                    self.arriving[root.id] = now
                    changed = True
                self._read_again(root)
            elif check.offline_reason is None:
                if now >= self._retry_at.get(root.id, 0.0):
                    log.info("root %s is back: watching it, then reconciling it", root.path)
                    self.arriving[root.id] = now
                    changed = True
            elif check.offline_reason != root.state_reason:  # away another way now
                set_root_state(root, check.offline_reason, None, time.time())
        if changed:
            # Anew: a root back, or mounted again, may have the same id and another folder.
            self.engine.watching.roots_changed(restart=True)

    def _arrival_failed(self, root: Root) -> None:
        """The reconcile of an arriving root found it away after all: look again later."""
        self._retry_at[root.id] = time.monotonic() + RETRY_SECONDS
        self.engine.watching.roots_changed()

    def _read_again(self, root: Root) -> None:
        """Folders that could not be read and can now: a realtime run reads them (until one
        does, the root needs attention). One that is gone is forgotten: what went with it is
        the business of the run of its parent, where the watcher saw it go."""
        readable, gone = set(), []
        for rel_path, _reason in queries.unreadable_folders(root.id):
            try:
                with os.scandir(os.path.join(root.path, rel_path)) as entries:
                    next(entries, None)
            except FileNotFoundError:
                gone.append(rel_path)
                continue
            except OSError:
                continue
            readable.add((rel_path, True))
        if readable:
            self.engine.watching.pending.add(root.id, readable, time.monotonic())
        if gone:
            queries.forget_unreadable_folders(root.id, gone)

    @staticmethod
    def _say_state(root: Root) -> None:
        if root.state == "online":
            log.info("root %s is online again", root.path)
        else:
            log.warning("root %s is offline: %s", root.path, root.state_reason)
