"""The media component: new files described (type, EXIF), grouped into photos and given
previews, in worker processes of their own; the results are written on the writer thread."""

from __future__ import annotations

from core.engine.component import Component
from core.media.photos import MediaSync
from core.media.pool import MediaPool
from core.store.events import EventReader
from core.triage.bursts import BurstRules


class MediaComponent(Component):
    name = "media"
    tick_seconds = 0.2  # how often new files are handed to the media workers
    follows = MediaSync.FOLLOWS

    def __init__(self, engine) -> None:
        super().__init__(engine)
        self.pool: MediaPool | None = None
        self.sync: MediaSync | None = None  # used on the writer thread only

    def start(self) -> None:
        self.pool = MediaPool(self.settings.scan.workers)
        db = self.engine.catalogue.db
        self.sync = MediaSync(
            db,
            self.settings.media,
            self.pool,
            deliver=lambda apply: self.on_writer(apply),
            # From the log as it is now, before the start's reconcile: the files it finds
            # changed while no engine ran are described again (junk now, or cut short).
            events_after=EventReader(db).newest_id(),
            bursts=BurstRules.of(self.settings),
        )
        self.set_state("idle")

    def close(self, deadline: float) -> None:
        # After the writer, whose ticks hand the pool work ("cannot schedule new futures
        # after shutdown" otherwise).
        if self.pool is not None:
            self.pool.close()

    def tick(self, now: float) -> None:
        self.sync.tick()
        if self.sync.more:  # files the scan described wait to be grouped: on, after other work
            self.next_tick = now
        counts = self.sync.counts
        task = (
            f"{counts.described:,} files described, {counts.previews:,} previews,"
            f" {counts.looked:,} measured"
        )
        self.set_state("running" if self.sync.busy else "idle", task=task)
