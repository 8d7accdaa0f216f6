"""The demo library: photos and a real darktable library shipped inside the package, copied into
a folder of its own with its own settings and catalogue, and catalogued by the real engine parts.

The demo never touches the user's catalogue, preview cache or darktable: its settings file names
a catalogue, a preview cache and a darktable library inside the demo folder.
"""

from __future__ import annotations

import os
import sqlite3
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from core.config import ConfigError, load_settings
from core.darktable.library import LibraryPaths
from core.darktable.poller import sync_once
from core.files import sync_folder, write_atomically
from core.media.photos import MediaSync
from core.scan.reconcile import ScanError, reconcile_roots
from core.store import CatalogueError, open_catalogue, queries
from core.triage.bursts import BurstRules

CONFIG_NAME = "shootwatch.toml"
LICENCES_NAME = "LICENCES.md"
# darktable stored the film rolls of the shipped library under this folder.
SHIPPED_PHOTOS_FOLDER = "/fixture/photos"


class DemoError(ValueError):
    """The demo cannot be made in the folder asked for; the message is one sentence."""


@dataclass(frozen=True)
class Demo:
    folder: Path  # the demo folder
    config_file: Path  # folder/shootwatch.toml
    catalogue: Path  # folder/catalogue.db
    photos: Path  # folder/photos: the one library root
    darktable_library: Path  # folder/darktable/library.db

    @classmethod
    def in_folder(cls, folder: Path) -> Demo:
        return cls(
            folder=folder,
            config_file=folder / CONFIG_NAME,
            catalogue=folder / "catalogue.db",
            photos=folder / "photos",
            darktable_library=folder / "darktable" / "library.db",
        )

    @property
    def darktable_data(self) -> Path:
        return self.darktable_library.with_name("data.db")

    @property
    def preview_cache(self) -> Path:
        return self.folder / "previews"

    @property
    def inbox(self) -> Path:
        """Where photos copied in are filed into the demo's library (by its engine)."""
        return self.folder / "inbox"


def create_demo(folder: Path, progress: Callable[[str], None] | None = None) -> Demo:
    """The demo library in ``folder`` (empty or not there yet), built now; or the demo already
    in it, as it is. ``progress`` is told each step as it starts. A build that was interrupted
    is finished by the next call on the same folder."""
    folder = Path(os.path.realpath(os.path.expanduser(folder)))
    demo = Demo.in_folder(folder)
    if _names_own_catalogue(demo.config_file, demo):
        return demo
    # The settings file is written under this name first and renamed when the demo is whole.
    building = folder / (CONFIG_NAME + ".building")
    if not _names_own_catalogue(building, demo):
        _check_empty(folder)

    def step(name: str) -> None:
        if progress is not None:
            progress(name)

    settings_text = _settings_text(demo)
    try:
        step("writing the settings")
        folder.mkdir(parents=True, exist_ok=True)
        write_atomically(building, settings_text.encode())
        step("copying photos")
        _copy_tree(resources.files(__name__) / "photos", demo.photos)
        step("copying the darktable library")
        _copy_tree(resources.files(__name__) / "darktable", demo.darktable_library.parent)
        # The photographers' credits and licences go with the copies of their photos.
        licences = resources.files(__name__) / LICENCES_NAME
        (folder / LICENCES_NAME).write_bytes(licences.read_bytes())
        _point_film_rolls_at(demo)
        demo.inbox.mkdir(exist_ok=True)
        _catalogue_photos(demo, building, step)
        os.replace(building, demo.config_file)
        sync_folder(folder)  # the rename that says the demo is whole is on disk
    except OSError as error:
        raise DemoError(
            f"the demo could not be written to {folder}: {error.strerror or error}."
        ) from error
    except (ConfigError, CatalogueError, ScanError) as error:
        raise DemoError(f"the demo in {folder} could not be catalogued: {error}") from error
    return demo


def _names_own_catalogue(config_file: Path, demo: Demo) -> bool:
    """``config_file`` is a demo's settings file naming the demo folder's own catalogue."""
    try:
        with config_file.open("rb") as handle:
            settings = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError):
        return False
    return settings.get("catalogue") == str(demo.catalogue)


def _check_empty(folder: Path) -> None:
    if folder.is_dir():
        try:
            empty = not any(folder.iterdir())
        except OSError as error:
            raise DemoError(f"{folder} cannot be read: {error.strerror or error}.") from error
        if not empty:
            raise DemoError(
                f"{folder} is not empty and holds no shootwatch demo: "
                "choose a new or empty folder for the demo."
            )
    elif folder.exists():
        raise DemoError(f"{folder} is a file, not a folder: choose a new or empty folder.")


def _copy_tree(source: Traversable, destination: Path) -> None:
    """Copy shipped files, which may live in a zip archive rather than on disk; the copies get
    ordinary permissions whatever the installed files have."""
    destination.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        if entry.is_dir():
            _copy_tree(entry, destination / entry.name)
        else:
            (destination / entry.name).write_bytes(entry.read_bytes())


def _point_film_rolls_at(demo: Demo) -> None:
    """The shipped library's film rolls name the folder darktable imported from; the copy's must
    name the copied photos. Only ``film_rolls.folder`` holds a path: images hold file names."""
    connection = sqlite3.connect(demo.darktable_library)
    try:
        with connection:
            connection.execute(
                "UPDATE film_rolls SET folder = replace(folder, ?, ?)",
                (SHIPPED_PHOTOS_FOLDER, str(demo.photos)),
            )
    finally:
        connection.close()


def _toml_string(text: str) -> str:
    """``text`` as a TOML basic string: backslash, quote and control characters escaped."""
    escaped = []
    for char in text:
        if char in '"\\':
            escaped.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\u{ord(char):04X}")
        elif 0xD800 <= ord(char) <= 0xDFFF:  # a file name byte that is not UTF-8
            raise DemoError(
                f"the folder name {text!r} cannot be written into a settings file: "
                "choose a folder whose name is valid UTF-8."
            )
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def _settings_text(demo: Demo) -> str:
    return (
        "# The shootwatch demo: its own catalogue, previews, stage output and darktable library,\n"
        "# all in this folder. Delete the folder to remove the demo.\n"
        f"catalogue = {_toml_string(str(demo.catalogue))}\n"
        "\n[darktable]\n"
        f"library = {_toml_string(str(demo.darktable_library))}\n"
        f"data = {_toml_string(str(demo.darktable_data))}\n"
        "\n[media]\n"
        f"preview_cache = {_toml_string(str(demo.preview_cache))}\n"
        "\n[stages]\n"
        f"output = {_toml_string(str(demo.folder / 'art'))}\n"
        "\n[ingest]\n"
        f"destination = {_toml_string(str(demo.photos))}\n"
        f"inboxes = [{_toml_string(str(demo.inbox))}]\n"
    )


def _catalogue_photos(demo: Demo, config_file: Path, step: Callable[[str], None]) -> None:
    """What a photographer would do with the copied folder, done by the same parts: add it as a
    root, scan it, describe the photos and build their previews, read darktable once."""
    settings = load_settings(config_file)
    with open_catalogue(settings.catalogue) as catalogue:
        step("adding the photos folder to the catalogue")
        root, _ = queries.add_root(str(demo.photos), "library")
        step("scanning photos")
        (report,) = reconcile_roots(catalogue, [root], settings.scan, kind="manual")
        if report.status != "completed":
            raise DemoError(f"the scan of the demo photos did not finish: {report.error}")
        step("describing photos and building previews")
        MediaSync(catalogue.db, settings.media, bursts=BurstRules.of(settings)).run_until_idle()
        step("reading the darktable library")
        paths = LibraryPaths.beside(settings.darktable.library, settings.darktable.data)
        state, reason = sync_once(catalogue.db, paths, settings.darktable.explicit)
        if state != "ok":
            raise DemoError(f"the demo's darktable library could not be read: {reason}")
