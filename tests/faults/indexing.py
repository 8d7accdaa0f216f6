"""An engine busy indexing: a real catalogue with photos to decide on, the real engine
(``shootwatch run``) on it, and cards of small JPEGs copied into its root while it runs.

Each new file goes the whole way a photo goes: the watcher and a rescan record it (hashed, in
batched transactions), the media workers describe it (its true type and EXIF), it becomes a
photo and gets a preview. The decisions tests and the benchmark make while this goes on are the
photographer culling the last shoot while the next one is copied in.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from core.config import Settings, load_settings
from core.engine.lock import running_engine_pid
from tests.faults.crashes import count, rows, run_cli, start_engine
from tests.helpers import wait_until

CARDS = "cards"  # the folder of the root the new files are copied into
FILES_PER_CARD = 500


def small_jpeg(width: int = 64, height: int = 48) -> bytes:
    """A real JPEG with the EXIF a camera writes (a capture time), about 2 KB."""
    image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    exif = Image.Exif()
    exif[0x0132] = "2025:06:01 10:00:00"  # DateTime
    exif[0x010F] = "shootwatch"  # Make
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80, exif=exif.tobytes())
    return out.getvalue()


def write_photos(folder: Path, names: list[str], jpeg: bytes) -> None:
    """One distinct file per name: the same picture with its name after the end marker, so
    each has a content (a blake3) of its own, as every frame of a card has."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(jpeg + f"\nshootwatch {folder.name}/{name}".encode())


@dataclass
class BusyLibrary:
    """A catalogue, its root and its settings; ``decidable`` folders hold the photos that
    decisions are made on (named ``DEC_NNNN.JPG``), already described and previewed."""

    base: Path
    config: Path
    home: Path
    root: Path
    settings: Settings
    engine: subprocess.Popen | None = None

    def photos_in(self, folder: str) -> list[Path]:
        return sorted((self.root / folder).glob("DEC_*.JPG"))

    def photo_ids(self, folder: str) -> dict[str, int]:
        """rel path -> photo id of the photos in ``folder``, from the catalogue."""
        found = rows(
            self.settings.catalogue,
            "SELECT rel_path, photo_id FROM file WHERE rel_path LIKE ? AND photo_id IS NOT NULL",
            (f"{folder}/%",),
        )
        return dict(found)

    # --- the engine -----------------------------------------------------------------------

    def start_engine(self) -> None:
        self.engine = start_engine(self.config, self.home, self.base / "engine.log")
        engine = self.engine
        wait_until(
            lambda: (
                running_engine_pid(self.settings.catalogue) == engine.pid
                or engine.poll() is not None
            ),
            60,
            "the engine started",
        )
        if engine.poll() is not None:
            raise AssertionError(f"the engine ended at once:\n{self.engine_log()}")

    def stop_engine(self) -> None:
        if self.engine is None or self.engine.poll() is not None:
            return
        self.engine.send_signal(signal.SIGTERM)
        try:
            self.engine.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.engine.kill()
            self.engine.wait(timeout=30)

    def engine_log(self) -> str:
        path = self.base / "engine.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    # --- the load -------------------------------------------------------------------------

    def copy_cards(self, files: int) -> threading.Thread:
        """Start copying ``files`` new photos into the root, FILES_PER_CARD a folder, as a card
        reader would, then ask the running engine for a rescan (a manual one: the whole root,
        in its batched transactions, on top of what the watcher records). Returns the thread
        doing it; join it to wait for the copy."""
        jpeg = small_jpeg()

        def copy() -> None:
            for first in range(0, files, FILES_PER_CARD):
                last = min(files, first + FILES_PER_CARD)
                names = [f"IMG_{n:05d}.JPG" for n in range(first, last)]
                write_photos(self.root / CARDS / f"card-{first // FILES_PER_CARD:03d}", names, jpeg)
            done = run_cli(self.config, self.home, "rescan")
            if done.returncode != 0:
                raise AssertionError(f"rescan failed: {done.stderr}")

        thread = threading.Thread(target=copy, name="card-copy", daemon=True)
        thread.start()
        return thread

    def progress(self) -> tuple[int, int, int]:
        """(new files recorded, described, with a photo that has its preview)."""
        catalogue = self.settings.catalogue
        prefix = f"{CARDS}/%"
        recorded = count(catalogue, "SELECT count(*) FROM file WHERE rel_path LIKE ?", (prefix,))
        described = count(
            catalogue,
            "SELECT count(*) FROM file WHERE rel_path LIKE ? AND format IS NOT NULL",
            (prefix,),
        )
        previewed = count(
            catalogue,
            "SELECT count(*) FROM file f JOIN photo p ON p.id = f.photo_id"
            " WHERE f.rel_path LIKE ? AND p.preview_at IS NOT NULL",
            (prefix,),
        )
        return recorded, described, previewed

    def indexed(self, files: int) -> bool:
        """Every new file recorded, described and previewed: the engine has done its work."""
        return self.progress() == (files, files, files)


def build_library(base: Path, decidable: dict[str, int]) -> BusyLibrary:
    """The catalogue with ``decidable`` (folder -> number of photos) scanned, described and
    previewed by ``shootwatch scan``, before any engine runs. Every setting points inside
    ``base``; the stages keep their defaults (web and thumb JPEGs of approved photos)."""
    home = base / "home"
    home.mkdir(parents=True)
    root = base / "photos"
    jpeg = small_jpeg()
    for folder, photos in decidable.items():
        write_photos(root / folder, [f"DEC_{n:04d}.JPG" for n in range(photos)], jpeg)
    config = base / "shootwatch.toml"
    config.write_text(
        f'catalogue = "{base / "catalogue.db"}"\n'
        f'[darktable]\nlibrary = "{base / "no-darktable" / "library.db"}"\n'
        f'[media]\npreview_cache = "{base / "previews"}"\n'
        f'[stages]\noutput = "{base / "art"}"\n'
    )
    for args in (("add", str(root)), ("scan",)):
        done = run_cli(config, home, *args)
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed: {done.stderr}")
    return BusyLibrary(base, config, home, root, load_settings(config))


def decide_command(library: BusyLibrary, path: Path, choice: str) -> list[str]:
    """The command line of ``shootwatch decide`` for one photo."""
    return [sys.executable, "-m", "core.cli", "--config", str(library.config), "decide",
            str(path), f"--{choice}"]  # fmt: skip
