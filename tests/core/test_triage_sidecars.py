"""Decisions written into XMP sidecars (opt-in): only xmp:Rating and xmp:Label change, byte for
byte the rest of darktable's sidecar stays, the write is atomic, and a sidecar that changed
since the catalogue read it is left alone with a warning."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from core.darktable.sidecar import read_sidecar
from core.store.models import FileRecord
from core.triage.decisions import Triage
from core.triage.sidecar_write import SidecarChanged, write_rating_and_label
from tests.core.test_triage import photos  # noqa: F401 (the fixture)
from tests.helpers import scan

DARKTABLE_SIDECARS = Path(__file__).parents[1] / "fixtures" / "darktable-4.2" / "photos"


def test_only_rating_and_label_change(tmp_path):
    sidecar = tmp_path / "IMG_0002.JPG.xmp"
    shutil.copy(DARKTABLE_SIDECARS / "2024-06-01_wedding" / "IMG_0002.JPG.xmp", sidecar)
    before = sidecar.read_bytes()
    write_rating_and_label(sidecar, 5, "Red", None)
    after = sidecar.read_bytes()
    assert (
        after.replace(b'xmp:Rating="5"', b'xmp:Rating="4"').replace(b' xmp:Label="Red"', b"")
        == before
    )
    state = read_sidecar(sidecar)
    assert state.rating == 5 and state.altered and state.tags == ("portfolio", "wedding|ceremony")
    write_rating_and_label(sidecar, -1, None, None)  # a reject, the label taken off
    assert read_sidecar(sidecar).rejected
    assert b"xmp:Label" not in sidecar.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == [sidecar.name]  # no temporary file left


def test_a_rating_written_as_an_element_and_a_missing_sidecar(tmp_path):
    sidecar = tmp_path / "a.JPG.xmp"
    sidecar.write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/"><xmp:Rating>2</xmp:Rating>'
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    write_rating_and_label(sidecar, 3, "Green", None)
    assert (
        read_sidecar(sidecar).rating == 3 and b"<xmp:Rating>3</xmp:Rating>" in sidecar.read_bytes()
    )
    created = tmp_path / "new.CR2.xmp"
    write_rating_and_label(created, 1, None, None)
    assert read_sidecar(created).rating == 1


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_a_new_sidecar_has_the_permissions_any_new_file_would(tmp_path, umask):
    """darktable and other tools read it too: 0o666 less the umask, not a temporary file's
    0o600; a sidecar that was there keeps its own."""
    created, kept = tmp_path / "new.CR2.xmp", tmp_path / "IMG_0002.JPG.xmp"
    shutil.copy(DARKTABLE_SIDECARS / "2024-06-01_wedding" / "IMG_0002.JPG.xmp", kept)
    os.chmod(kept, 0o640)
    previous = os.umask(umask)
    try:
        write_rating_and_label(created, 4, None, None)
        write_rating_and_label(kept, 4, None, None)
    finally:
        os.umask(previous)
    assert oct(stat.S_IMODE(created.stat().st_mode)) == oct(0o666 & ~umask)
    assert oct(stat.S_IMODE(kept.stat().st_mode)) == oct(0o640)
    assert read_sidecar(created).rating == read_sidecar(kept).rating == 4


def test_a_sidecar_changed_since_it_was_read_is_left_alone(tmp_path):
    sidecar = tmp_path / "IMG_0002.JPG.xmp"
    shutil.copy(DARKTABLE_SIDECARS / "2024-06-01_wedding" / "IMG_0002.JPG.xmp", sidecar)
    stat = sidecar.stat()
    seen = {(stat.st_size - 1, stat.st_mtime_ns)}  # the catalogue saw another version
    before = sidecar.read_bytes()
    with pytest.raises(SidecarChanged, match="changed since"):
        write_rating_and_label(sidecar, 5, None, seen)
    assert sidecar.read_bytes() == before


def test_triage_writes_the_sidecar_after_the_catalogue(catalogue, photos, tmp_path):  # noqa: F811
    library = tmp_path / "library"
    shutil.copy(
        DARKTABLE_SIDECARS / "2024-06-01_wedding" / "IMG_0006.JPG.xmp",
        library / "a" / "kodak.jpg.xmp",
    )
    scan(catalogue, library, workers=1)  # the catalogue has seen the sidecar
    triage = Triage(catalogue.db, write_sidecars=True)
    change = triage.decide(photos["a/kodak.jpg"], "rejected")
    assert change.warning is None
    assert read_sidecar(library / "a" / "kodak.jpg.xmp").rejected
    # Its own writes do not count as changes (the catalogue has not seen them yet).
    assert triage.toggle_label(photos["a/kodak.jpg"], 1).warning is None
    assert b'xmp:Label="Red"' in (library / "a" / "kodak.jpg.xmp").read_bytes()
    # darktable rewrites it before the catalogue looks again: left alone, and said so.
    sidecar = library / "a" / "kodak.jpg.xmp"
    sidecar.write_bytes(sidecar.read_bytes() + b"\n")
    change = triage.decide(photos["a/kodak.jpg"], "approved")
    assert change.warning and "changed since" in change.warning
    assert read_sidecar(sidecar).rejected  # not overwritten
    assert FileRecord.select().where(FileRecord.rel_path == "a/kodak.jpg.xmp").exists()
