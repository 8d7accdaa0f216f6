"""What a catalogue location names: a SQLite file (a path, the default) or a database on a
PostgreSQL server (a ``postgresql://`` URL). Imports nothing, so the settings can tell the two
apart without loading the store."""

from __future__ import annotations

from pathlib import Path

SERVER_SCHEMES = ("postgresql://", "postgres://")


def is_server(location: Path | str) -> bool:
    """Whether ``location`` names a PostgreSQL catalogue (a URL) rather than a SQLite file."""
    return isinstance(location, str) and location.startswith(SERVER_SCHEMES)


def shown(location: Path | str) -> str:
    """The location as said in messages and logs: a URL without its password."""
    if not is_server(location):
        return str(location)
    scheme, _, rest = str(location).partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at:
        return str(location)
    return f"{scheme}://{credentials.split(':', 1)[0]}@{host}"
