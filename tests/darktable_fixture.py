"""A copy of the real darktable 4.2 fixture library in a temporary folder, film rolls pointed at
the copy, and small helpers to change it the way darktable would (plain SQL on a copy)."""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from core.darktable.library import LibraryPaths

FIXTURE = Path(__file__).parent / "fixtures" / "darktable-4.2"


@dataclass(frozen=True)
class DarktableCopy:
    home: Path  # photos/, lib/, config/

    @property
    def paths(self) -> LibraryPaths:
        return LibraryPaths(self.home / "lib" / "library.db", self.home / "config" / "data.db")

    @property
    def photos(self) -> Path:
        return self.home / "photos"

    def wedding(self, name: str = "") -> Path:
        return self.photos / "2024-06-01_wedding" / name

    def street(self, name: str = "") -> Path:
        return self.photos / "2024-07-15_street" / name

    def write(self, sql: str, params: tuple = ()) -> None:
        """Change library.db as darktable does: one short write transaction (data.db is
        attached as ``data`` for tag names)."""
        connection = sqlite3.connect(self.paths.library)
        try:
            if self.paths.data.exists():
                connection.execute("ATTACH DATABASE ? AS data", (str(self.paths.data),))
            with connection:
                connection.execute(sql, params)
        finally:
            connection.close()


def copy_fixture(destination: Path) -> DarktableCopy:
    home = destination / "darktable"
    for part in ("lib", "config", "photos"):
        shutil.copytree(FIXTURE / part, home / part)
    for path in home.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    copy = DarktableCopy(home)
    copy.write("UPDATE film_rolls SET folder = replace(folder, '/fixture/', ?)", (str(home) + "/",))
    return copy
