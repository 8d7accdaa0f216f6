"""What every engine component is: a name its health is known by, start / tick / stop, and
the work it hands to the engine's one writer thread.

A component's errors land on the component: a tick or a piece of work that raises degrades
that component alone, with the error, and the engine goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.store.events import EventKind

# The components, in the order the engine starts them and the app lists them.
COMPONENTS = ("watcher", "reconciler", "media", "darktable", "stages", "ingest")

if TYPE_CHECKING:
    from core.engine.scheduler import Engine


@dataclass(frozen=True)
class ComponentState:
    status: str  # running, idle, degraded, off, down
    task: str | None = None
    error: str | None = None


class Component:
    """One concern of the engine. Subclasses set ``name`` (its heartbeat's name),
    ``tick_seconds`` (how often ``tick`` runs on the writer thread) and ``follows`` (the event
    kinds it reads from the log, if any), and override what they need of ``start``, ``tick``
    and ``stop``."""

    name = "component"
    tick_seconds: float | None = None  # None: no tick
    follows: tuple[EventKind, ...] = ()  # the event kinds it acts on, read from the log

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.settings = engine.settings
        self.next_tick = 0.0

    # --- life cycle: start and stop run on the thread that starts and stops the engine -----

    def start(self) -> None:
        """Start threads or workers; the catalogue is open, the writer not yet running."""

    def started(self) -> None:
        """Start threads that hand work to the writer; it runs by now."""

    def tick(self, now: float) -> None:
        """A turn of work on the writer thread (where every catalogue write happens)."""

    def stop(self, deadline: float) -> None:
        """Stop by ``deadline`` (time.monotonic()); the writer may still be running."""

    def close(self, deadline: float) -> None:
        """What must wait until the writer has stopped."""

    # --- helpers ------------------------------------------------------------------------

    def set_state(self, status: str, task: str | None = None, error: str | None = None) -> None:
        self.engine.set_state(self.name, ComponentState(status, task, error))

    def on_writer(self, work: Callable[[], object]) -> None:
        """Run ``work`` on the writer thread, soon; an error in it degrades this component."""
        self.engine.submit(self.name, work)

    def on_writer_and_wait(self, work: Callable[[], object], timeout: float) -> object:
        """Run ``work`` on the writer thread and return its result (or raise its error)."""
        return self.engine.submit_and_wait(self.name, work, timeout)

    @staticmethod
    def seconds_left(deadline: float) -> float:
        return max(0.1, deadline - time.monotonic())
