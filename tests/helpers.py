"""Helpers for tests: real trees on disk, scans of them, and what the catalogue holds."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import blake3

from core.config import ScanSettings, Settings, load_settings
from core.scan.reconcile import ReconcileReport, reconcile_root, reconcile_roots
from core.store import Catalogue, open_catalogue, queries
from core.store.models import FileRecord, Root

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
POLL_SECONDS = 0.05  # how often ``wait_until`` looks


def wait_until(
    condition: Callable[[], object], timeout: float = 60.0, what: str | Callable[[], str] = ""
) -> object:
    """Poll until ``condition()`` is truthy and return its value: a bound for a hang, not a
    timing assertion. After ``timeout`` seconds, AssertionError saying what was awaited:
    ``what`` (or, when it is a callable, what it says then: the state that was reached), else
    the condition's docstring."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            break
        time.sleep(POLL_SECONDS)
    said = what() if callable(what) else what
    raise AssertionError(
        f"still not true after {timeout} s: {said or condition.__doc__ or condition}"
    )


def write(path: Path, data: bytes | str = b"photo") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def touch_later(path: Path, seconds: float = 10.0) -> None:
    """Move a file's mtime forward, as a later write would (tests write faster than the
    file system's timestamp granularity)."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + int(seconds * 1e9)))


def b3(path: Path) -> str:
    return blake3.blake3(path.read_bytes()).hexdigest()


def root_for(path: Path, kind: str = "library") -> Root:
    root = Root.get_or_none(Root.path == str(path))
    return root or Root.create(path=str(path), kind=kind, added_at=time.time())


def catalogue_photos(
    base: Path, extra_config: str = "", catalogue: Path | str | None = None
) -> tuple[Settings, Catalogue]:
    """A settings file in ``base`` (a catalogue, a preview cache, no darktable, and
    ``extra_config``) and the photos under ``base / "photos"`` added as a root, scanned,
    described, previewed, measured and grouped into bursts, as the engine leaves them.
    ``catalogue``: where the catalogue is (a server's URL), else a file in ``base``."""
    from core.media.photos import MediaSync
    from core.triage.bursts import BurstRules

    config = base / "shootwatch.toml"
    config.write_text(
        f'catalogue = "{catalogue or base / "catalogue.db"}"\n'
        f'darktable.library = "{base / "no-darktable" / "library.db"}"\n'
        f'media.preview_cache = "{base / "previews"}"\n' + extra_config
    )
    settings = load_settings(config)
    catalogue = open_catalogue(settings.catalogue)
    root, _ = queries.add_root(str(base / "photos"))
    reconcile_roots(catalogue, [root], settings.scan, kind="manual")
    MediaSync(catalogue.db, settings.media, None, bursts=BurstRules.of(settings)).run_until_idle()
    return settings, catalogue


def scan(catalogue: Catalogue, path: Path, workers: int = 2, **kwargs) -> ReconcileReport:
    settings = ScanSettings(
        ignore=kwargs.pop("ignore", ()),
        workers=workers,
        hash_retries=kwargs.pop("hash_retries", 3),
        own_folders=kwargs.pop("own_folders", ()),
    )
    root = root_for(path)
    return reconcile_root(catalogue, root, settings, **kwargs)


def catalogued(path: Path) -> dict[str, tuple[int, str | None]]:
    """{rel_path: (size, blake3)} of every record of the root at ``path``."""
    root = Root.get(Root.path == str(path))
    rows = FileRecord.select(FileRecord.rel_path, FileRecord.size, FileRecord.blake3)
    return {
        rel: (size, digest) for rel, size, digest in rows.where(FileRecord.root == root).tuples()
    }


def on_disk(path: Path) -> dict[str, tuple[int, str]]:
    """{rel_path: (size, blake3)} of every regular file below ``path`` that is not hidden."""
    found = {}
    for folder, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if name.startswith("."):
                continue
            full = Path(folder) / name
            if full.is_symlink() or not full.is_file():
                continue
            found[str(full.relative_to(path))] = (full.stat().st_size, b3(full))
    return found


def record_ids(path: Path) -> dict[str, int]:
    root = Root.get(Root.path == str(path))
    return {r.rel_path: r.id for r in FileRecord.select().where(FileRecord.root == root)}


def run_cli_without_file_permissions_bypass(*args: str) -> subprocess.CompletedProcess:
    """Run ``shootwatch ARGS`` so that file permissions apply to it, even as root.

    Root ignores permission bits through CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH; as root the
    command runs with those dropped (setpriv, util-linux), so a chmod 000 folder is really
    unreadable to it.
    """
    command = [sys.executable, "-m", "core.cli", *args]
    if os.geteuid() == 0:
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=120)


REPO_CAMERA = FIXTURES / "camera"
SHARED_CAMERA = REPO.parent / "shared" / "fixtures" / "camera"


def camera_sample(name: str) -> Path | None:
    """The camera sample ``name``: the repo's copy, else the full shared set's beside the
    checkout, else None (a fresh clone has only the repo's)."""
    for folder in (REPO_CAMERA, SHARED_CAMERA):
        if (folder / name).is_file():
            return folder / name
    return None


def camera_samples(expected: dict):
    """pytest params (path, expected) for each file of ``expected`` that is here: from the repo's
    fixtures, or from the full shared set when it is beside the checkout. A sample that is not
    here is no test at all, rather than a skipped one."""
    import pytest

    for name, outcome in expected.items():
        path = camera_sample(name)
        if path is not None:
            yield pytest.param(path, outcome, id=name)


# The Canon EOS D30 CRW keeps its directory at its end (bytes added after it break the file):
# a run of zeros inside it that neither LibRaw nor the embedded JPEG reads holds a copy number.
CRW_SPARE_BYTES = (3586767 + 16, 3586767 + 240)


def distinct_copy(data: bytes, n: int) -> bytes:
    """Copy ``n`` of a camera file, made distinct (another blake3) where nothing reads it: a
    CRW in its spare zeros, any other file after its end."""
    if data[6:14] == b"HEAPCCDR" and len(data) == 3591114:  # the D30 sample
        start, end = CRW_SPARE_BYTES
        mark = f"copy {n}".encode()[: end - start]
        return data[:start] + mark + data[start + len(mark) :]
    return data + f"copy {n}".encode()


def command_settings(base: Path) -> Path:
    """A settings file with a catalogue and a preview cache in ``base`` and no darktable (each
    test has its own user folders), for commands run as whole processes."""
    config = base / "shootwatch.toml"
    config.write_text(
        f'catalogue = "{base / "catalogue.db"}"\n'
        f'darktable.library = "{base / "no-darktable" / "library.db"}"\n'
        f'media.preview_cache = "{base / "previews"}"\n'
    )
    return config


def run_command(config: Path, *args: str) -> subprocess.CompletedProcess:
    """``shootwatch --config CONFIG ARGS...`` as a whole process."""
    command = [sys.executable, "-m", "core.cli", "--config", str(config), *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=300)
