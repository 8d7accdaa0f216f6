"""The engine: a scheduler (core.engine.scheduler) of components, one module each: watching,
reconciling, media, stages, darktable, ingest. Every catalogue write happens on its one writer
thread; a second process on the same catalogue attaches instead of starting one.

Its names are loaded when first used: a command that only asks whether an engine runs
(``core.engine.lock``) does not load the whole engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.engine.component import COMPONENTS, ComponentState
    from core.engine.lock import EngineRunning
    from core.engine.scheduler import Engine

__all__ = ["COMPONENTS", "ComponentState", "Engine", "EngineRunning"]
_HOMES = {
    "COMPONENTS": "core.engine.component",
    "ComponentState": "core.engine.component",
    "Engine": "core.engine.scheduler",
    "EngineRunning": "core.engine.lock",
}


def __getattr__(name: str) -> object:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
