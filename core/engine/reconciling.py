"""The reconciling component: whole-root reconciles (at start, on a schedule, when asked, after
watcher trouble), run on the writer thread with a pool of survey workers."""

from __future__ import annotations

import logging
import random
import threading
import time

from core.engine.component import Component
from core.scan.reconcile import ScanError, ScanStopped, SurveyPool, reconcile_root
from core.store.models import Root

log = logging.getLogger("shootwatch.engine")


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

    def start(self) -> None:
        # Forked first, while the process has no other threads (see SurveyPool).
        if self.settings.scan.workers > 1:
            self._pool = SurveyPool(self.settings.scan.workers)
        self.set_state("idle")
        self.request(None, "startup")

    def stop(self, deadline: float) -> None:
        if self._pool is not None:  # a survey under way is cut; it wrote nothing
            self._pool.close(wait=False)

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
        with self._wanted_lock:
            wanted, self._wanted = self._wanted, {}
        if not wanted:
            return
        if None in wanted:
            roots = list(Root.select().order_by(Root.path))
            kinds = dict.fromkeys((root.id for root in roots), wanted[None])
        else:
            roots = list(Root.select().where(Root.id.in_(list(wanted))).order_by(Root.path))
            kinds = wanted
        failed = [root for root in roots if not self.reconcile(root, kinds[root.id])]
        if not failed:
            self.set_state("idle")

    def reconcile(self, root: Root, kind: str) -> bool:
        """Reconcile one root; False when the scan failed (the state says why)."""
        self.set_state("running", task=f"scanning {root.path}")
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
        return True
