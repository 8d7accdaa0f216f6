"""The catalogue: peewee models, opening and upgrading the SQLite file, named queries."""

from core.store.database import Catalogue, CatalogueError, create_catalogue_file, open_catalogue

__all__ = ["Catalogue", "CatalogueError", "create_catalogue_file", "open_catalogue"]
