"""A real card for the tests: an ext4 file-system image with a label and a UUID (these
machines' kernel has no FAT), loop-mounted read-only as a reader mounts a card, holding real
camera files in a DCIM layout; two destinations on two tmpfs mounts; the mounts made undone
whatever happens. Used by tests/core/test_card_ingest.py and tests/faults/test_card.py."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import blake3
import pytest

from core.config import load_settings
from core.ingest.verified_copy import TEMPORARY_PREFIX
from tests.helpers import REPO, REPO_CAMERA, distinct_copy
from tests.postgres_cluster import catalogue_rows

SHOT = 1_700_000_000  # the time the camera wrote the files (2023-11-14)


def need_root_mounts() -> None:
    if os.geteuid() != 0:
        pytest.skip("a card image is loop-mounted: needs root")


class Mounts:
    """Mounts made by a test, undone at its end whatever happens (no mount or loop device
    is left behind: a loop mount is made with autoclear)."""

    def __init__(self) -> None:
        self.made: list[Path] = []

    def mount(self, *args: str, target: Path) -> None:
        target.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", *args, str(target)], capture_output=True, text=True,
                              timeout=60)  # fmt: skip
        if done.returncode != 0:
            pytest.fail(f"mount {' '.join(args)} {target}: {done.stderr.strip()}")
        self.made.append(target)

    def umount(self, target: Path, lazy: bool = False) -> None:
        subprocess.run(["umount", *(["-l"] if lazy else []), str(target)], check=True,
                       capture_output=True, timeout=60)  # fmt: skip
        self.made.remove(target)

    def close(self) -> None:
        for target in reversed(self.made):
            subprocess.run(["umount", "-l", str(target)], capture_output=True, timeout=60)
        self.made.clear()


def mounts_undone_after() -> Iterator[Mounts]:
    """A test's mounts (its fixture: ``yield from mounts_undone_after()``); skipped where
    loop mounts cannot be made."""
    need_root_mounts()
    made = Mounts()
    try:
        yield made
    finally:
        made.close()


class Card:
    """A card image: made with files, mounted read-only at ``path`` as a reader would."""

    def __init__(self, tmp_path: Path, mounts: Mounts, name: str = "card", size_mb: int = 64):
        self.image = tmp_path / f"{name}.img"
        self.path = tmp_path / "media" / name
        self.mounts = mounts
        self.uuid = str(uuid.uuid4())
        self.label = "EOS_DIGITAL"
        self.size_mb = size_mb

    def format(self, files: dict[str, bytes]) -> Card:
        """A new file system on the card (a new UUID, as a camera's format makes), holding
        ``files`` (paths on the card), written at the camera's time."""
        self.uuid = str(uuid.uuid4())
        with open(self.image, "wb") as image:
            image.truncate(self.size_mb << 20)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-L", self.label, "-U", self.uuid,
                        str(self.image)], check=True, capture_output=True)  # fmt: skip
        self.mounts.mount("-o", "loop", str(self.image), target=self.path)
        for rel, data in files.items():
            target = self.path / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            os.utime(target, (SHOT, SHOT + list(files).index(rel)))
        (self.path / "lost+found").rmdir()
        self.mounts.umount(self.path)
        self.plug_in()
        return self

    def plug_in(self) -> None:
        self.mounts.mount("-o", "loop,ro", str(self.image), target=self.path)

    def pull_out(self) -> None:
        self.mounts.umount(self.path, lazy=True)  # what an open file keeps reading is gone

    def files(self) -> dict[str, str]:
        """The camera files on it (under DCIM), by blake3."""
        found = {}
        for path in sorted((self.path / "DCIM").rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                found[str(path.relative_to(self.path / "DCIM"))] = b3(path)
        return found


def b3(path: Path) -> str:
    return blake3.blake3(path.read_bytes()).hexdigest()


def camera_files(count: int = 0, big: int = 0) -> dict[str, bytes]:
    """A card's worth of real camera files: a CRW with its JPEG and sidecar, other makers'
    RAWs and JPEGs, the same name in a second folder, a folder outside DCIM, hidden files;
    ``count`` more JPEGs, and ``big`` copies of a 3.5 MB RAW."""
    read = {name: (REPO_CAMERA / name).read_bytes() for name in (
        "canon_eos_d30.CRW", "sony_slt-a58_small.jpg", "canon_eos_m50_stripped.CR3",
        "kodak_dc240_1999.jpg", "nikon_coolpix_p6000_gps_DSCN0010.jpg",
        "nikon_d70s_jpeg_named.NEF", "nikon_z9_cropped.dng", "olympus_pen_e-p3.jpg")}  # fmt: skip
    files = {
        "DCIM/100CANON/IMG_0001.CRW": read["canon_eos_d30.CRW"],
        "DCIM/100CANON/IMG_0001.JPG": read["sony_slt-a58_small.jpg"],
        "DCIM/100CANON/IMG_0001.CRW.xmp": b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>\n",
        "DCIM/100CANON/IMG_0002.CR3": read["canon_eos_m50_stripped.CR3"],
        "DCIM/100CANON/IMG_0003.JPG": read["kodak_dc240_1999.jpg"],
        "DCIM/100CANON/IMG_0004.JPG": read["nikon_coolpix_p6000_gps_DSCN0010.jpg"],
        "DCIM/100CANON/DSC_0005.NEF": read["nikon_d70s_jpeg_named.NEF"],
        "DCIM/101CANON/IMG_0001.JPG": read["olympus_pen_e-p3.jpg"],
        "DCIM/101CANON/DSC_0006.DNG": read["nikon_z9_cropped.dng"],
        "DCIM/.hidden_thumbnail": b"the camera's own",
        "MISC/AUTPRINT.MRK": b"print order",
    }
    for n in range(count):
        files[f"DCIM/102CANON/IMG_{1000 + n}.JPG"] = distinct_copy(read["olympus_pen_e-p3.jpg"], n)
    for n in range(big):
        files[f"DCIM/103CANON/IMG_{2000 + n}.CRW"] = distinct_copy(read["canon_eos_d30.CRW"], n)
    return files


class Destinations:
    """ingest.destination and ingest.backup on two tmpfs file systems, and a settings file."""

    def __init__(
        self,
        tmp_path: Path,
        mounts: Mounts,
        size_mb: int = 256,
        catalogue: Path | str | None = None,
    ) -> None:
        self.tmp = tmp_path
        for name in ("dest", "backup"):
            mounts.mount("-t", "tmpfs", "-o", f"size={size_mb}m", "none", target=tmp_path / name)
        self.primary = tmp_path / "dest" / "Originals"
        self.backup = tmp_path / "backup" / "Originals"
        self.catalogue = catalogue or tmp_path / "catalogue.db"  # a file, or a server's URL
        self.config = tmp_path / "shootwatch.toml"
        self.config.write_text(
            f'catalogue = "{self.catalogue}"\n[ingest]\ndestination = "{self.primary}"\n'
            f'backup = "{self.backup}"\n'
        )

    def settings(self):
        return load_settings(self.config)

    def copies(self, root: Path) -> dict[str, str]:
        """Every file under a destination (relative path: blake3); temporaries included."""
        return {str(p.relative_to(root)): b3(p) for p in sorted(root.rglob("*")) if p.is_file()}


def shootwatch(config: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core.cli", "--config", str(config), *args],
        capture_output=True, text=True, timeout=timeout, cwd=REPO,
    )  # fmt: skip


def assert_each_card_file_once_in_both(card: Card, places: Destinations) -> None:
    """Every camera file of the card in both destinations exactly once, same content, same
    name in both, no temporaries; nothing else there."""
    on_card = card.files()
    for root in (places.primary, places.backup):
        copies = places.copies(root)
        assert not [name for name in copies if TEMPORARY_PREFIX in name]
        assert sorted(copies.values()) == sorted(on_card.values()), root
    assert places.copies(places.primary) == places.copies(places.backup)


def verified(catalogue: Path | str) -> int:
    rows = catalogue_rows(catalogue, "SELECT count(*) FROM card_copy WHERE state = 'verified'")
    return rows[0][0] if rows else 0
