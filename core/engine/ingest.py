"""The ingest component: its own thread files the inboxes' settled files into the library (it
moves files, which may take long); each of its catalogue writes runs on the writer thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from core.engine.component import Component
from core.ingest.run import IngestReport, IngestUnavailable, has_inbox, run_ingest

log = logging.getLogger("shootwatch.engine")

INGEST_SECONDS = 1.0  # how often inboxes are looked at for settled files
WRITE_SECONDS = 3600.0  # a write waits this long for the writer (a long first scan)


class IngestComponent(Component):
    name = "ingest"

    def __init__(self, engine) -> None:
        super().__init__(engine)
        self.thread: threading.Thread | None = None

    def started(self) -> None:
        if self.settings.ingest.destination is None:
            self.set_state("off", error="no ingest.destination set")
            return
        self.set_state("idle")
        # A daemon: a stop never waits for a long copy; the journal repairs a cut move.
        self.thread = threading.Thread(target=self._loop, name="shootwatch-ingest", daemon=True)
        self.thread.start()

    def stop(self, deadline: float) -> None:
        if self.thread is not None:  # stops between batches; its writes need the writer
            self.thread.join(self.seconds_left(deadline))

    def _loop(self) -> None:
        db = self.engine.catalogue.db
        stopping = self.engine.stopping
        while not stopping.wait(INGEST_SECONDS):
            try:
                if not has_inbox(db) and not self.settings.ingest.inboxes:
                    self.set_state("idle", task="no inbox root")
                    continue
                report = run_ingest(db, self.settings, progress=self._progress,
                                    write=self._write, cancel=stopping)  # fmt: skip
            except IngestUnavailable as error:
                self.set_state("degraded", error=str(error))
                continue
            except Exception as error:  # the next pass tries again
                if stopping.is_set():
                    break
                log.exception("ingest pass failed")
                self.set_state("degraded", error=str(error))
                continue
            filed = report.ingested + report.undated
            task = None
            if filed or report.duplicates or report.failed:
                task = f"filed {filed:,}, {report.duplicates:,} duplicates"
                if report.failed:
                    task += f", {report.failed:,} failed"
            elif report.waiting:
                task = f"{report.waiting:,} files settling"
            self.set_state("idle", task=task)

    def _progress(self, done: int, total: int, report: IngestReport) -> None:
        task = f"ingesting {done:,} / {total:,}, {report.duplicates:,} duplicates"
        self.set_state("running", task=task)

    def _write(self, apply: Callable[[], object]) -> object:
        """Run a catalogue write on the writer thread and wait for its result."""
        return self.on_writer_and_wait(apply, WRITE_SECONDS)
