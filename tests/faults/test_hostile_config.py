"""Hostile sidecars, stage commands and file permissions, end to end: an XMP sidecar with
external entities or a billion laughs beside a real photo is refused by the darktable reader and
by triage's write-back, nothing of it reaches the catalogue and the file is left as it was; a
stage command from a TOML config gets hostile file names as single arguments, never through a
shell; a new catalogue and the preview cache are readable by their owner only."""

from __future__ import annotations

import json
import os
import resource
import shutil
import sqlite3
import stat
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from core.config import MediaSettings, load_settings
from core.darktable.poller import LibraryReader
from core.darktable.sidecar import SidecarError, read_sidecar
from core.darktable.sync import DarktableSync
from core.media.photos import MediaSync, preview_cache_dir
from core.stages.runner import StageRunner
from core.store import open_catalogue
from core.store.models import Artifact, DarktableImage, Event, FileRecord, Photo, Root
from core.triage.decisions import Triage
from tests.darktable_fixture import copy_fixture
from tests.faults.crashes import Figures
from tests.helpers import FIXTURES, REPO, scan, touch_later

CAMERA = FIXTURES / "camera"
MEMORY_BOUND_KB = 100 * 1024  # an expanded billion laughs needs gigabytes; parsing needs ~none


class Rows:
    """This module's rows of the Reliability table, one per group of tests, each written once the
    module's tests are done."""

    def __init__(self) -> None:
        self.sidecars = Figures("hostile XMP sidecars")
        self.names = Figures("hostile file names given to a configured stage command")
        self.permissions = Figures("catalogue and preview cache permissions")
        self.payloads: list[str] = []
        self.memory_growth_kb = 0
        self.stage_runs = 0
        self.umasks: list[str] = []
        self.modes: dict[str, set[str]] = {"files": set(), "folders": set()}

    def checked_modes(self, mask: int, files: list[int], folders: list[int], wrong: int) -> None:
        """The modes of ``files`` and ``folders`` made under ``mask``, ``wrong`` of them not
        their owner's only."""
        if f"{mask:03o}" not in self.umasks:
            self.umasks.append(f"{mask:03o}")
        self.permissions.files += len(files) + len(folders)
        self.permissions.missed += wrong
        self.modes["files"] |= {f"{m:04o}" for m in files}
        self.modes["folders"] |= {f"{m:04o}" for m in folders}

    def write(self) -> None:
        if self.payloads:
            self.sidecars.notes += [
                f"{', '.join(self.payloads)}: refused by the darktable reader and by triage's "
                "write-back",
                f"peak memory grew {self.memory_growth_kb:,} KB at most",
            ]
            self.sidecars.write()
        if self.names.files:
            self.names.notes.append(
                f"$( ), backticks, semicolons, newlines, a leading dash: {self.stage_runs} runs, "
                "each name one argument"
            )
            self.names.write()
        if self.umasks:
            seen = {kind: ", ".join(sorted(modes)) for kind, modes in self.modes.items()}
            self.permissions.notes.append(
                f"umask {' and '.join(self.umasks)}: files {seen['files']}, "
                f"folders {seen['folders']}"
            )
            self.permissions.write()


@pytest.fixture(scope="module")
def rows() -> Iterator[Rows]:
    made = Rows()
    yield made
    made.write()


# --- hostile sidecars -------------------------------------------------------------------------

LAUGHS = "".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10))  # 10^9


def with_keyword(original: bytes, keyword: str, doctype: str = "") -> bytes:
    """darktable's own sidecar given five stars and a keyword (dc:subject, which the reader
    keeps), with ``doctype`` after the XML declaration."""
    text = original.decode()
    darktable_ns = 'xmlns:darktable="http://darktable.sf.net/"'
    history = "   <darktable:masks_history>"
    for old, new in (
        ('xmp:Rating="2"', 'xmp:Rating="5"'),
        (darktable_ns, darktable_ns + '\n    xmlns:dc="http://purl.org/dc/elements/1.1/"'),
        (history, f"   <dc:subject><rdf:Bag><rdf:li>{keyword}</rdf:li></rdf:Bag></dc:subject>\n"
                  + history),
        ("?>\n", f"?>\n{doctype}\n"),
    ):  # fmt: skip
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text.encode()


def hostile_sidecar(original: bytes, payload: str, secret_file: Path, dtd_file: Path) -> bytes:
    """The keyword is an entity: the "secret" in a file outside the library, or laughs that
    multiply to a billion."""
    if payload == "external-entity":
        doctype = f'<!DOCTYPE x:xmpmeta [<!ENTITY leak SYSTEM "file://{secret_file}">]>'
        return with_keyword(original, "&leak;", doctype)
    if payload == "external-dtd":  # a parameter entity pulls in a DTD that names the file
        dtd_file.write_text(f'<!ENTITY leak SYSTEM "file://{secret_file}">')
        doctype = f'<!DOCTYPE x:xmpmeta [<!ENTITY % remote SYSTEM "file://{dtd_file}"> %remote;]>'
        return with_keyword(original, "&leak;", doctype)
    doctype = f'<!DOCTYPE x:xmpmeta [<!ENTITY lol0 "lol">{LAUGHS}]>'
    return with_keyword(original, "&lol9;", doctype)


def text_cells_holding(database: Path, needle: str) -> tuple[int, list[str]]:
    """(TEXT columns searched, "table.column" of each cell holding ``needle``) in every table
    of the catalogue file, read through a connection of its own."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    searched, found = 0, []
    try:
        tables = [
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        for table in tables:
            for column in connection.execute(f'PRAGMA table_info("{table}")').fetchall():
                name, declared = column[1], column[2].upper()
                if "TEXT" not in declared and "CHAR" not in declared and "CLOB" not in declared:
                    continue
                searched += 1
                hits = connection.execute(
                    f'SELECT count(*) FROM "{table}" WHERE instr("{name}", ?) > 0', (needle,)
                ).fetchone()[0]
                if hits:
                    found.append(f"{table}.{name}")
    finally:
        connection.close()
    return searched, found


def peak_memory_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


@pytest.mark.parametrize("payload", ["external-entity", "external-dtd", "billion-laughs"])
def test_a_hostile_sidecar_is_refused_and_nothing_of_it_is_kept(catalogue, tmp_path, payload, rows):
    darktable = copy_fixture(tmp_path)
    secret = f"shootwatch-canary-{uuid.uuid4().hex}"
    outside = tmp_path / "outside"
    outside.mkdir()
    secret_file = outside / "credentials.txt"
    secret_file.write_text(secret + "\n")
    # The library and its photos, as the engine has them: catalogued, darktable's snapshot
    # read, photos made.
    scan(catalogue, darktable.photos, workers=1)
    sync = DarktableSync(catalogue.db)
    sync.follow_file_events()
    assert sync.apply(LibraryReader(darktable.paths).read()).new == 17
    media = MediaSync(catalogue.db, MediaSettings(preview_cache=tmp_path / "previews"))
    media.run_until_idle()
    photo_id = FileRecord.get(FileRecord.rel_path == "2024-06-01_wedding/IMG_0006.JPG").photo_id
    assert photo_id is not None

    sidecar = darktable.wedding("IMG_0006.JPG.xmp")
    # Guard: without the DOCTYPE, the reader keeps the keyword and the stars where they go.
    plain = tmp_path / "plain.JPG.xmp"
    plain.write_bytes(with_keyword(sidecar.read_bytes(), secret))
    assert (read_sidecar(plain).subjects, read_sidecar(plain).rating) == ((secret,), 5)
    hostile = hostile_sidecar(sidecar.read_bytes(), payload, secret_file, outside / "evil.dtd")
    sidecar.write_bytes(hostile)
    touch_later(sidecar)  # written after darktable's library was read
    memory_before = peak_memory_kb()

    # The reader refuses it, saying why.
    with pytest.raises(SidecarError, match="is not valid XMP: "):
        read_sidecar(sidecar)
    # The engine's fast path (as the watcher sees it change) leaves it for the catalogue's...
    assert sync.apply_sidecar_files([str(sidecar)]) == 0
    # ...which reports it unreadable, with the reason, once the scan has recorded the change.
    scan(catalogue, darktable.photos, workers=1)
    sync.follow_file_events()
    media.run_until_idle()
    unreadable = Event.select().where(Event.kind == "sidecar_unreadable")
    assert [e.path for e in unreadable] == ["2024-06-01_wedding/IMG_0006.JPG.xmp"]
    assert "is not valid XMP: " in json.loads(unreadable[0].payload)["reason"]
    assert Event.select().where(Event.kind == "rated").count() == 0
    image = DarktableImage.get(DarktableImage.darktable_id == 6)
    assert image.stars == 2 and secret not in (image.tags or "")

    # Triage's write-back refuses to write into it: the decision is kept, the file is not
    # touched, and the warning says why.
    # (approving writes nothing into a sidecar: a reject and a label do)
    triage = Triage(catalogue.db, write_sidecars=True)
    decided = triage.decide(photo_id, "rejected")
    labelled = triage.toggle_label(photo_id, 1)
    for change in (decided, labelled):
        assert change.warning is not None and "is not valid XMP" in change.warning
    assert (Photo.get_by_id(photo_id).decision, Photo.get_by_id(photo_id).labels) == (
        "rejected",
        1,
    )
    assert sidecar.read_bytes() == hostile
    assert not list(sidecar.parent.glob(".*.tmp"))  # no temporary file of a write begun

    # Nothing expanded, nothing of the secret anywhere in the catalogue.
    growth = peak_memory_kb() - memory_before
    searched, holding = text_cells_holding(catalogue.path, secret)
    files = [catalogue.path, Path(f"{catalogue.path}-wal")]
    leaking = [f for f in files if f.exists() and secret.encode() in f.read_bytes()]
    rows.payloads.append(payload)
    rows.memory_growth_kb = max(rows.memory_growth_kb, growth)
    rows.sidecars.files += 1
    rows.sidecars.missed += (
        int(growth >= MEMORY_BOUND_KB)  # expanded
        + len(holding)
        + len(leaking)
        + int(image.stars != 2 or secret in (image.tags or ""))  # taken in
        + int(sidecar.read_bytes() != hostile)  # written into
    )
    assert growth < MEMORY_BOUND_KB
    assert searched > 20 and holding == []
    # (the search finds what is there: the reason just recorded)
    assert "event.payload" in text_cells_holding(catalogue.path, "is not valid XMP")[1]
    assert not leaking


# --- stage commands from the config, on hostile file names ----------------------------------

HOSTILE_NAMES = {
    "$(touch pwned).jpg": "kodak_dc240_1999.jpg",
    "new\ntouch pwned\n.jpg": "nikon_coolpix_p6000_gps_DSCN0010.jpg",
    "-rf.jpg": "samsung_galaxy_s_orient6_gps.jpg",
    "`touch pwned`; touch pwned.jpg": "sony_slt-a58_small.jpg",
}
# Writes the arguments it was given (but the last), NUL-separated, into the last one.
PROBE = (
    "import os, sys\n"
    "with open(sys.argv[-1], 'wb') as out:\n"
    "    out.write(b'\\0'.join(os.fsencode(arg) for arg in sys.argv[1:-1]))\n"
)


def toml_string(value: object) -> str:
    return json.dumps(str(value))  # a JSON string of plain text is a TOML basic string


def pwned_files(*folders: Path) -> list[Path]:
    return [path for folder in folders for path in folder.rglob("pwned*")]


def test_a_configured_stage_command_gets_hostile_names_as_single_arguments(
    tmp_path, monkeypatch, rows
):
    library = tmp_path / "library" / "shoot"
    library.mkdir(parents=True)
    for name, sample in HOSTILE_NAMES.items():
        shutil.copyfile(CAMERA / sample, library / name)
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    config = tmp_path / "shootwatch.toml"
    config.write_text(
        f"catalogue = {toml_string(tmp_path / 'catalogue' / 'catalogue.db')}\n"
        "[media]\n"
        f"preview_cache = {toml_string(tmp_path / 'previews')}\n"
        "[stages]\n"
        f"output = {toml_string(tmp_path / 'art')}\n"
        "enabled = []\n"
        "[stages.commands]\n"
        f'probe = [{toml_string(sys.executable)}, {toml_string(probe)}, "{{src}}", "{{stem}}", '
        '"{out}"]\n'
    )
    settings = load_settings(config)
    assert list(settings.stages.commands) == ["probe"]
    cwd = tmp_path / "cwd"  # where a shell would have run "touch pwned"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    assert pwned_files(tmp_path) == [] and not (REPO / "pwned").exists()

    with open_catalogue(settings.catalogue) as catalogue:
        report = scan(catalogue, library.parent, workers=1)
        assert report.files_added == len(HOSTILE_NAMES)
        MediaSync(catalogue.db, settings.media).run_until_idle()
        triage = Triage(catalogue.db)
        originals = {
            record.rel_path.removeprefix("shoot/"): record.photo_id
            for record in FileRecord.select().where(FileRecord.role == "original")
        }
        assert sorted(originals) == sorted(HOSTILE_NAMES)
        for photo_id in originals.values():
            triage.decide(photo_id, "approved")
        runner = StageRunner(catalogue.db, settings.stages, media=settings.media)
        try:
            counts = runner.run_until_idle()
        finally:
            runner.close()
        injected = pwned_files(tmp_path) + [path for path in [REPO / "pwned"] if path.exists()]
        rows.names.missed += len(injected)
        rows.stage_runs += counts.done
        assert pwned_files(tmp_path) == [] and not (REPO / "pwned").exists()
        failures = [e.payload for e in Event.select().where(Event.kind == "stage_failed")]
        assert (counts.done, counts.failed) == (len(HOSTILE_NAMES), 0), failures
        received = {
            artifact.photo_id: Path(artifact.path).read_bytes().split(b"\0")
            for artifact in Artifact.select().where(Artifact.stage == "probe")
        }

    def as_given(name: str) -> list[bytes]:
        return [os.fsencode(library / name), os.fsencode((library / name).stem)]

    rows.names.files += len(originals)
    split = [
        name for name, photo_id in originals.items() if received.get(photo_id) != as_given(name)
    ]
    rows.names.missed += len(split)
    for name, photo_id in originals.items():
        assert received[photo_id] == as_given(name), name


# --- who may read the catalogue and the previews --------------------------------------------


@contextmanager
def umask_set(mask: int) -> Iterator[None]:
    was = os.umask(mask)
    try:
        yield
    finally:
        os.umask(was)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o000], ids=["umask-022", "umask-000"])
def test_a_new_catalogue_is_readable_by_its_owner_only(tmp_path, mask, rows):
    path = tmp_path / "new-folder" / "catalogue.db"
    with umask_set(mask):
        catalogue = open_catalogue(path)
        try:
            Root.create(path=str(tmp_path / "photos"), added_at=time.time())  # the WAL is used
            modes = {entry.name: mode(entry) for entry in path.parent.iterdir()}
        finally:
            catalogue.close()
    wrong = int(mode(path.parent) != 0o700) + sum(
        1 for name, m in modes.items() if m & 0o077 or (name == path.name and m != 0o600)
    )
    rows.checked_modes(mask, list(modes.values()), [mode(path.parent)], wrong)
    assert oct(mode(path.parent)) == oct(0o700)
    assert oct(modes["catalogue.db"]) == oct(0o600)
    assert {"catalogue.db-wal", "catalogue.db-shm"} <= set(modes)
    assert {name: oct(m) for name, m in modes.items() if m & 0o077} == {}


@pytest.mark.parametrize("mask", [0o022, 0o000], ids=["umask-022", "umask-000"])
def test_the_preview_cache_is_readable_by_its_owner_only(catalogue, library, tmp_path, mask, rows):
    for sample in ("kodak_dc240_1999.jpg", "sony_slt-a58_small.jpg"):
        shutil.copyfile(CAMERA / sample, library / sample)
    scan(catalogue, library, workers=1)
    settings = MediaSettings(preview_cache=tmp_path / "cache" / "previews")
    with umask_set(mask):
        MediaSync(catalogue.db, settings).run_until_idle()
    cache = preview_cache_dir(settings)
    previews = sorted(cache.rglob("*.jpg"))
    assert len(previews) == 2 and all(p.stat().st_size > 0 for p in previews)
    assert Photo.select().where(Photo.preview_at.is_null()).count() == 0
    assert oct(mode(cache)) == oct(0o700)
    # The configured folder and the parent it made are the user's too (tmp_path was there).
    assert oct(mode(cache.parent)) == oct(mode(cache.parent.parent)) == oct(0o700)
    folders = {str(p.relative_to(cache)): oct(mode(p)) for p in cache.rglob("*") if p.is_dir()}
    exposed = {str(p.relative_to(cache)): oct(mode(p)) for p in previews if mode(p) & 0o077}
    every_folder = [cache, cache.parent, cache.parent.parent]
    every_folder += [p for p in cache.rglob("*") if p.is_dir()]
    wrong = sum(1 for p in every_folder if mode(p) != 0o700) + len(exposed)
    rows.checked_modes(mask, [mode(p) for p in previews], [mode(p) for p in every_folder], wrong)
    assert folders and set(folders.values()) == {oct(0o700)}, folders
    assert exposed == {}
