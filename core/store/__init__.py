"""The catalogue: peewee models, opening and upgrading the SQLite file, named queries.

What this package gives is loaded when it is first asked for (PEP 562): a module of the
package that needs no ORM (``core.store.backlog``, ``core.store.turns``) costs no peewee, so a
scan that finds nothing changed runs without it (``core.cli.unchanged_scan``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.store.database import (
        Catalogue,
        CatalogueError,
        create_catalogue_file,
        open_catalogue,
    )

__all__ = ["Catalogue", "CatalogueError", "create_catalogue_file", "open_catalogue"]


def __getattr__(name: str) -> object:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from core.store import database

    return getattr(database, name)
