"""The engine: a scheduler (core.engine.scheduler) of components, one module each: watching,
reconciling, media, stages, darktable, ingest. Every catalogue write happens on its one writer
thread; a second process on the same catalogue attaches instead of starting one.
"""

from core.engine.component import ComponentState
from core.engine.lock import EngineRunning
from core.engine.scheduler import COMPONENTS, Engine

__all__ = ["COMPONENTS", "ComponentState", "Engine", "EngineRunning"]
