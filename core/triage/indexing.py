"""What the triage pane says while its queue is empty because the engine is still filling the
catalogue (the first index of a shoot): what it is doing and how far it has got, from the
engine's component states and the catalogue's counts, instead of "no pending photos"."""

from __future__ import annotations

from collections.abc import Mapping

from core.engine.component import ComponentState
from core.store.photos import IndexProgress

WORKERS = ("reconciler", "media")  # the components that bring photos into the catalogue


def index_activity(
    states: Mapping[str, ComponentState], progress: IndexProgress
) -> tuple[str, str] | None:
    """(what is happening, how far) while photos are still being brought in; None when
    nothing is (an empty queue then means what it says)."""
    working = {name for name in WORKERS if _status(states, name) == "running"}
    live = any(state.status not in ("off", "down") for state in states.values())
    starting = not live and all(
        state.status == "off" and state.error is None for state in states.values()
    )
    undescribed = progress.files - progress.described
    if starting and progress.files == 0:
        return "starting the engine…", "the first index begins in a moment"
    if "reconciler" in working or (live and progress.roots_not_scanned):
        return (
            f"indexing: {progress.files:,} files found so far",
            f"{progress.described:,} described, {progress.photos:,} photos,"
            f" {progress.previews:,} previews: the photos show here as they are ready",
        )
    if live and undescribed > 0:
        return (
            f"describing {progress.files:,} files: {progress.described:,} done",
            f"{progress.photos:,} photos so far: they show here as they are ready",
        )
    if "media" in working:
        return (
            f"previews: {progress.previews:,} / {progress.photos:,} photos",
            "the photos show here as they are ready",
        )
    return None


def _status(states: Mapping[str, ComponentState], name: str) -> str:
    state = states.get(name)
    return state.status if state is not None else "off"
