"""The engine's hold on a catalogue on a PostgreSQL server through the server's restarts and
outages: noticing the server gone, saying so (every component degraded, with the reason),
trying again with backoff, taking the engine lock again, and catching up once it is back.

While the server is away the writer runs no work and no ticks: what the components hand it
(the watcher's changes) waits in its queue and is written once the server is back. What was
being written when the server went (its transaction rolled back by the server) is found again
by a reconcile of every root, as is anything the watcher saw and no queued work holds.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from core.catalogue_location import shown
from core.engine.component import ComponentState
from core.engine.server_lock import ServerEngineRunning

if TYPE_CHECKING:
    from core.engine.scheduler import Engine

log = logging.getLogger("shootwatch.engine")

FIRST_RETRY_SECONDS = 0.5
LONGEST_RETRY_SECONDS = 10.0  # the backoff doubles up to this


class ServerWatch:
    """Whether the catalogue's server is there, for the engine's writer thread."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.away_since: float | None = None  # time.time() when it went, None while there
        self.reason = ""
        self._retry_in = FIRST_RETRY_SECONDS
        self._next_try = 0.0

    @property
    def away(self) -> bool:
        return self.away_since is not None

    def lost(self) -> bool:
        """Whether the server has gone from under the engine: its catalogue connection on
        this thread was closed by the server, or the lock's session was ended."""
        catalogue = self.engine.catalogue
        connection = getattr(catalogue.db._state, "conn", None) if catalogue else None
        if connection is not None and connection.closed:
            return True
        return not self.engine.lock.on_server.is_held()

    def went_away(self, error: BaseException | str) -> None:
        """Say the server is away, on every component, and start trying again."""
        if self.away:
            return
        self.away_since = time.time()
        self.reason = str(error).strip().splitlines()[0] if str(error).strip() else "no reply"
        self._retry_in = FIRST_RETRY_SECONDS
        self._next_try = time.monotonic() + self._retry_in
        log.warning(
            "the catalogue's server %s cannot be reached (%s): the engine waits for it, "
            "writing nothing meanwhile",
            shown(self.engine.settings.catalogue),
            self.reason,
        )
        states = self.engine.states()
        said = (
            f"the catalogue's server cannot be reached since "
            f"{time.strftime('%H:%M:%S', time.localtime(self.away_since))} ({self.reason}); "
            "trying again"
        )
        for name, state in states.items():
            if state.status != "off":
                self.engine.set_state(name, ComponentState("degraded", state.task, said))

    def try_again_when_due(self) -> bool:
        """Try to reach the server again, when the backoff says so; True once it is back (the
        lock taken again and the catch-up asked for)."""
        now = time.monotonic()
        if now < self._next_try:
            return False
        try:
            self._reconnect()
        except ServerEngineRunning as running:
            # Another engine took the catalogue while this one could not hold it: two would
            # write at once, so this one gives way.
            log.error(
                "while the server was away another engine took the catalogue (%s): this one stops",
                running.holder.said,
            )
            self.engine.stopping.set()
            return False
        except Exception as error:  # still away: wait longer
            self.reason = str(error).strip().splitlines()[0] if str(error).strip() else "?"
            self._retry_in = min(self._retry_in * 2, LONGEST_RETRY_SECONDS)
            self._next_try = now + self._retry_in
            log.info("still away (%s): next try in %.1f s", self.reason, self._retry_in)
            return False
        self._came_back()
        return True

    def _reconnect(self) -> None:
        from core.store import queries

        catalogue = self.engine.catalogue
        lock = self.engine.lock.on_server
        if not lock.is_held():
            lock.take_again()
        if not catalogue.db.in_transaction():
            catalogue.db.close()  # the dead connection; the query below makes a new one
        # Runs the server's restart cut short are over: this engine holds the lock.
        queries.fail_unfinished_runs("the catalogue's server went away during this run")

    def _came_back(self) -> None:
        away = time.time() - (self.away_since or time.time())
        log.warning("the catalogue's server is back after %.0f s: catching up", away)
        self.away_since = None
        # Every component is idle until its next turn says otherwise: what went wrong while
        # the server was away (its connections ended under it) is over, and a trouble of its
        # own (no darktable library) is said again at its next turn.
        for name, state in self.engine.states().items():
            if state.status != "off":
                self.engine.set_state(name, ComponentState("idle", state.task))
        self.engine.reconciling.request(None, "scheduled")
