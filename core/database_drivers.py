"""peewee without the PostgreSQL driver until a catalogue on a server needs it.

peewee imports every driver it knows when it is itself imported: with psycopg installed (the
``postgres`` extra, and the test extra) that is 70 ms of every command, on every SQLite
catalogue, more than the rest of a small scan's start. ``install`` (run by the package's
``__init__``, before any module imports peewee) makes peewee's own import find no psycopg;
``hand_psycopg_to_peewee`` gives it the driver when a PostgreSQL catalogue is opened
(core.store.dialect), and peewee then works with it as if it had found it.
"""

from __future__ import annotations

import importlib.machinery
import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importlib.abc loads importlib.resources: 20 ms of every command's start
    from importlib.abc import Loader
    from types import ModuleType

PEEWEE = "peewee"
# What peewee's import tries: psycopg 3, psycopg2 and the cffi build of psycopg2.
DRIVERS = ("psycopg", "psycopg2", "psycopg2cffi")
_handed = threading.Lock()


class _PeeweeLoader:
    """peewee's own loader, run while the drivers' names are taken. (The import system asks
    a loader and a finder for their methods only: no base class from importlib.abc.)"""

    def __init__(self, loader: Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        # A None in sys.modules makes "import psycopg" raise ImportError at once, which
        # peewee takes as "not installed". A driver imported already is left as it is.
        taken = [name for name in DRIVERS if name not in sys.modules]
        for name in taken:
            sys.modules[name] = None  # type: ignore[assignment]
        try:
            self._loader.exec_module(module)
        finally:
            for name in taken:
                if sys.modules.get(name, False) is None:
                    del sys.modules[name]


class _PeeweeFinder:
    """Finds peewee as Python would, and loads it with ``_PeeweeLoader``."""

    def find_spec(self, name, path=None, target=None):
        if name != PEEWEE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _PeeweeLoader(spec.loader)
        return spec


def install() -> None:
    """Before peewee is imported: its import will not import the drivers."""
    if PEEWEE not in sys.modules and not any(isinstance(f, _PeeweeFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _PeeweeFinder())


def hand_psycopg_to_peewee() -> None:
    """Import psycopg (3) and give peewee what its own import would have taken from it.
    ImportError when the driver is not installed."""
    import peewee

    with _handed:
        if peewee.psycopg is not None:
            return
        import psycopg
        from psycopg.pq import TransactionStatus
        from psycopg.types.json import Json, Jsonb

        # The names peewee's import binds when it finds psycopg, and the adapter's class
        # attributes it sets then (peewee 4: Psycopg3Adapter).
        peewee.TransactionStatus = TransactionStatus
        peewee.Json_pg3, peewee.Jsonb_pg3 = Json, Jsonb
        adapter = peewee.Psycopg3Adapter
        adapter.txn_idle = TransactionStatus.IDLE
        adapter.txn_inerror = TransactionStatus.INERROR
        adapter.txn_unknown = TransactionStatus.UNKNOWN
        peewee.psycopg = psycopg  # last: "not None" says the rest is there
