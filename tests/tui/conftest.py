"""A real library for the app: the darktable fixture's photos copied to a temporary folder,
scanned into a real catalogue with their EXIF read and previews built, as the engine would."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.config import Settings, load_settings
from core.media.photos import MediaSync
from core.scan.reconcile import reconcile_roots
from core.store import Catalogue, open_catalogue, queries
from tests.darktable_fixture import FIXTURE


@dataclass
class Library:
    settings: Settings
    catalogue: Catalogue
    photos: Path

    def decision(self, name: str) -> tuple[str, int, int]:
        """(decision, rating, labels) of the photo whose original is ``name``, from disk."""
        return self.catalogue.db.execute_sql(
            "SELECT p.decision, p.rating, p.labels FROM photo p JOIN file f"
            " ON f.photo_id = p.id AND f.role = 'original' WHERE f.rel_path LIKE ?",
            (f"%/{name}",),
        ).fetchone()


def build_library(tmp_path: Path, config: str = "", catalogue: Path | str | None = None) -> Library:
    """``catalogue``: where the catalogue is (a server's URL), else a file in ``tmp_path``."""
    photos = tmp_path / "photos"
    shutil.copytree(FIXTURE / "photos", photos)
    config_file = tmp_path / "shootwatch.toml"
    config_file.write_text(
        f'catalogue = "{catalogue or tmp_path / "catalogue.db"}"\n'
        f'darktable.library = "{tmp_path / "no-darktable" / "library.db"}"\n' + config
    )
    settings = load_settings(config_file)
    catalogue = open_catalogue(settings.catalogue)
    root, _ = queries.add_root(str(photos))
    reconcile_roots(catalogue, [root], settings.scan, kind="manual")
    MediaSync(catalogue.db, settings.media, None).run_until_idle()
    return Library(settings, catalogue, photos)


@pytest.fixture
def library(tmp_path: Path) -> Iterator[Library]:
    built = build_library(tmp_path)
    yield built
    built.catalogue.close()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
