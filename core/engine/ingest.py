"""The ingest component: its own thread files the inboxes' settled files into the library (it
moves files, which may take long), and copies a card mounted in ``ingest.cards`` into the
library and its backup, then says whether it is safe to format; each of its catalogue writes
runs on the writer thread."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from core.engine.component import Component
from core.ingest.card import CardUnreadable, identify, mounted_cards
from core.ingest.card_pass import CardIngestUnavailable, CardProgress, card_verdict, ingest_card
from core.ingest.run import IngestReport, IngestUnavailable, has_inbox, run_ingest
from core.store.events import EventKind, record_event

log = logging.getLogger("shootwatch.engine")

# How the ingest component's line says a card's verdict (the app's status line shows it while
# the component is idle, in colour).
SAFE_TO_FORMAT = "safe to format"
NOT_SAFE_TO_FORMAT = "NOT safe to format"
INGEST_SECONDS = 1.0  # how often inboxes are looked at for settled files
WRITE_SECONDS = 3600.0  # a write waits this long for the writer (a long first scan)


class IngestComponent(Component):
    name = "ingest"

    def __init__(self, engine) -> None:
        super().__init__(engine)
        self.thread: threading.Thread | None = None
        self._cards_seen: dict[Path, int] = {}  # mounted cards handled: their device
        self._card_said: str | None = None  # the last card's verdict, for the status line

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
            if self.settings.ingest.cards:
                self._look_for_cards(db, stopping)
            try:
                if not has_inbox(db) and not self.settings.ingest.inboxes:
                    self.set_state("idle", task=self._card_said or "no inbox root")
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
            self.set_state("idle", task=task or self._card_said)

    def _progress(self, done: int, total: int, report: IngestReport) -> None:
        task = f"ingesting {done:,} / {total:,}, {report.duplicates:,} duplicates"
        self.set_state("running", task=task)

    def _write(self, apply: Callable[[], object]) -> object:
        """Run a catalogue write on the writer thread and wait for its result."""
        return self.on_writer_and_wait(apply, WRITE_SECONDS)

    # --- cards -----------------------------------------------------------------------------

    def _look_for_cards(self, db, stopping: threading.Event) -> None:
        """A card newly mounted in ingest.cards is copied, then its verdict said; a card taken
        out is forgotten here, so inserting it again looks at it again (copying only what is
        new)."""
        mounted = {}
        for path in mounted_cards(self.settings.ingest.cards):
            with contextlib.suppress(OSError):
                mounted[path] = os.stat(path).st_dev
        for path in [p for p in self._cards_seen if mounted.get(p) != self._cards_seen[p]]:
            del self._cards_seen[path]
        for path, device in mounted.items():
            if path in self._cards_seen or stopping.is_set():
                continue
            self._cards_seen[path] = device
            self._ingest_card(db, path, stopping)

    def _ingest_card(self, db, path: Path, stopping: threading.Event) -> None:
        try:
            name = identify(path).name  # its label
        except CardUnreadable:
            name = path.name
        started = time.monotonic()

        def progress(said: CardProgress) -> None:
            self.set_state("running", task=f"{name}: {said.said(time.monotonic() - started)}")

        self.set_state("running", task=f"{name}: looking at the card")
        try:
            report = ingest_card(db, self.settings, path, progress=progress, write=self._write,
                                 cancel=stopping)  # fmt: skip
            if stopping.is_set():
                return
            verdict = card_verdict(db, self.settings, path)
        except (CardIngestUnavailable, CardUnreadable) as error:
            self._card_said = f"{name}: not copied: {error}"
            self.set_state("degraded", error=self._card_said)
            return
        except Exception as error:  # said, and tried again when the card is inserted again
            if stopping.is_set():
                return
            log.exception("card ingest failed")
            self._card_said = f"{name}: not copied: {error}"
            self.set_state("degraded", error=self._card_said)
            return
        if verdict.safe:
            self._card_said = f"{name}: {SAFE_TO_FORMAT} ({verdict.files:,} files)"
        else:
            self._card_said = (
                f"{name}: {NOT_SAFE_TO_FORMAT} ({len(verdict.problems):,} of "
                f"{verdict.files:,} files not copied: shootwatch card {path})"
            )
        kind = EventKind.CARD_SAFE if verdict.safe else EventKind.CARD_NOT_SAFE
        payload = {"card": verdict.card.name, "files": verdict.files, "copied": report.copied,
                   "failed": report.failed, "problems": len(verdict.problems)}  # fmt: skip
        self._write(functools.partial(record_event, kind, "ingest", path=str(path),
                                      payload=payload))  # fmt: skip
        self.set_state("idle", task=self._card_said)
