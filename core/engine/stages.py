"""The stages component: jobs queued for photos that became due, started in the stage
workers, and their outcomes recorded, on the writer thread."""

from __future__ import annotations

from core.config import ConfigError
from core.engine.component import Component
from core.stages.runner import StageRunner, stage_defs


class StagesComponent(Component):
    name = "stages"
    tick_seconds = 0.2  # how often finished jobs are recorded and new ones started

    def __init__(self, engine) -> None:
        super().__init__(engine)
        self.runner: StageRunner | None = None  # ticked on the writer thread only

    def start(self) -> None:
        try:
            defs = stage_defs(self.settings.stages, self.settings.media.preview_long_edge)
        except ConfigError as error:  # the rest of the engine works without its stages
            self.set_state("degraded", error=str(error))
            return
        if not defs:
            self.set_state("off", error="no stage is enabled")
            return
        self.runner = StageRunner(
            self.engine.catalogue.db, self.settings.stages, defs, media=self.settings.media
        )
        self.set_state("idle")

    def close(self, deadline: float) -> None:
        if self.runner is not None:  # after the writer, which starts its jobs
            self.runner.close(wait=False)

    def tick(self, now: float) -> None:
        if self.runner is None:
            return
        busy = self.runner.tick()
        counts = self.runner.counts
        task = f"{counts.done:,} made, {counts.failed:,} failures"
        self.set_state("running" if busy else "idle", task=task)
