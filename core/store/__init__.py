"""The catalogue: peewee models, opening and upgrading the SQLite file, named queries."""

from core.store.database import Catalogue, CatalogueError, open_catalogue

__all__ = ["Catalogue", "CatalogueError", "open_catalogue"]
