"""The darktable component: the poller reads darktable's library in its own thread (short,
read-only, never in darktable's quiet window) and the writer applies what it read; sidecars the
watcher saw change are read at once, and the catalogue's file events are followed for what
they mean to darktable."""

from __future__ import annotations

import logging
import threading
import time

from core.darktable.library import LibraryPaths
from core.darktable.poller import Poller, PollerState
from core.darktable.sync import ApplyReport, DarktableSync, LibraryRead
from core.engine.component import Component

log = logging.getLogger("shootwatch.engine")

APPLY_SECONDS = 600.0  # a poll waits this long for the writer (a long first scan)
SIDECAR_SETTLE_SECONDS = 0.3  # darktable writes a sidecar whole: it is read this soon


class DarktableComponent(Component):
    name = "darktable"
    tick_seconds = 0.2  # how often file events are looked at for darktable's sake
    follows = DarktableSync.FOLLOWS

    def __init__(self, engine) -> None:
        super().__init__(engine)
        self.sync: DarktableSync | None = None  # used on the writer thread only
        self.poller: Poller | None = None
        self._sidecars: dict[str, float] = {}  # changed sidecar -> when to read it
        self._sidecars_lock = threading.Lock()

    def start(self) -> None:
        self.sync = DarktableSync(self.engine.catalogue.db)
        self.engine.watching.path_listeners.append(self._on_paths)
        self.set_state("idle", task="starting")

    def started(self) -> None:
        settings = self.settings.darktable
        self.poller = Poller(
            LibraryPaths.beside(settings.library, settings.data),
            apply=self._apply_from_poller,
            on_state=self._on_poller_state,
            poll_seconds=settings.poll_seconds,
            quiet_seconds=settings.quiet_seconds,
            explicit=settings.explicit,
        )
        self.poller.start()

    def stop(self, deadline: float) -> None:
        if self.poller is not None:
            self.poller.stop(self.seconds_left(deadline))

    def tick(self, now: float) -> None:
        with self._sidecars_lock:
            due = [path for path, at in self._sidecars.items() if at <= now]
            for path in due:
                del self._sidecars[path]
        if due:
            self.sync.apply_sidecar_files(due)
        self.sync.follow_file_events()

    def _on_paths(self, paths: list[str]) -> None:
        """From the watcher thread: sidecars are read at once, before the catalogue's settle
        time."""
        sidecars = [path for path in paths if path.lower().endswith(".xmp")]
        if sidecars:
            due = time.monotonic() + SIDECAR_SETTLE_SECONDS
            with self._sidecars_lock:
                self._sidecars.update(dict.fromkeys(sidecars, due))

    def _apply_from_poller(self, read: LibraryRead) -> ApplyReport:
        """From the poller thread: have the writer apply a read, and wait until it has."""
        return self.on_writer_and_wait(lambda: self._apply(read), APPLY_SECONDS)

    def _apply(self, read: LibraryRead) -> ApplyReport:
        report = self.sync.apply(read)
        if read.buckets is None:  # a full read: what the files on disk say about darktable
            self.sync.find_not_imported()
            self.sync.find_orphans()
        if report.new or report.changed or report.removed:
            log.info(
                "darktable: %d new, %d changed, %d removed images; %d events",
                report.new,
                report.changed,
                report.removed,
                report.events,
            )
        return report

    def _on_poller_state(self, state: PollerState) -> None:
        self.set_state(state.status, state.task, state.error)
