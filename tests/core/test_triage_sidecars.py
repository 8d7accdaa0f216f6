"""Decisions written into XMP sidecars (opt-in), as issue 17 asks: existing stars, rejects and
labels are read when a photo is first seen, a decision writes only the fields it changes, undo
gives the sidecar back byte for byte (and never writes over a sidecar changed elsewhere, nor
for another session's decisions), new sidecars are readable like the photo beside them, all
labels are written, and darktable's and Adobe's sidecar names are both served.

Real files throughout: darktable 4.2's own sidecars from tests/fixtures/darktable-4.2, real
JPEGs, a real catalogue filled by a real scan and the media workers."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import MediaSettings
from core.darktable.sidecar import SidecarError, embedded_xmp, parse_sidecar, read_sidecar
from core.media.photos import MediaSync
from core.store.models import FileRecord, Photo
from core.triage.card import photo_card
from core.triage.decisions import Triage
from core.triage.sidecar_write import (
    NEW_SIDECAR,
    NO_PICK,
    PICK_ACCEPTED,
    PICK_REJECTED,
    Marks,
    SidecarChanged,
    take_back,
    write_marks,
)
from tests.helpers import scan
from tests.postgres_cluster import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS

WEDDING = Path(__file__).parents[1] / "fixtures" / "darktable-4.2" / "photos" / "2024-06-01_wedding"
DARKTABLE_SIDECARS = sorted(WEDDING.glob("*.xmp"))
RED, YELLOW, GREEN, BLUE, PURPLE = 1, 2, 4, 8, 16
XMP_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
    ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
    '  <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
)


def adobe_sidecar(rating: int | None, label: str | None) -> str:
    """An Adobe-style sidecar as Lightroom or Bridge write them: attributes on the Description."""
    attributes = "".join(
        f' xmp:{name}="{value}"'
        for name, value in (("Rating", rating), ("Label", label))
        if value is not None
    )
    return f"{XMP_HEAD}{attributes}/>\n </rdf:RDF>\n</x:xmpmeta>\n"


DIGIKAM_NS = "http://www.digikam.org/ns/1.0/"


def digikam_sidecar(rating: int, pick: int, colour: int = 0) -> str:
    """A sidecar as digiKam writes one through exiv2 (its pick label and its colour label as
    attributes, the Lightroom colour name beside them)."""
    return (
        f'{XMP_HEAD} xmlns:digiKam="{DIGIKAM_NS}" digiKam:PickLabel="{pick}"'
        f' digiKam:ColorLabel="{colour}" xmp:Rating="{rating}"/>\n </rdf:RDF>\n</x:xmpmeta>\n'
    )


def with_pick(sidecar: bytes, pick: int) -> bytes:
    """darktable's own sidecar with the pick label digiKam adds to it (darktable keeps a field
    it does not know when it rewrites the file)."""
    return sidecar.replace(
        b'    xmlns:lr="http://ns.adobe.com/lightroom/1.0/"\n',
        b'    xmlns:lr="http://ns.adobe.com/lightroom/1.0/"\n'
        + f'    xmlns:digiKam="{DIGIKAM_NS}"\n   digiKam:PickLabel="{pick}"\n'.encode(),
    )


def darktables_own(sidecar: Path) -> tuple:
    """Every field darktable reads from its sidecar (all but the pick)."""
    state = read_sidecar(sidecar)
    return (
        state.rating, state.labels, state.label, state.history_end, state.altered,
        state.imported, state.changed, state.exported, state.tags, state.subjects,
        state.derived_from,
    )  # fmt: skip


ELEMENT_SIDECAR = (
    f"{XMP_HEAD}>\n   <xmp:Rating>2</xmp:Rating>\n   <xmp:Label>Green</xmp:Label>\n"
    "  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n"
)


def with_embedded_xmp(jpeg: bytes, xmp: str) -> bytes:
    """The JPEG with an XMP packet in an APP1 segment right after its start, as cameras and
    Lightroom write it."""
    payload = b"http://ns.adobe.com/xap/1.0/\x00" + xmp.encode()
    return jpeg[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[2:]


# --- the bytes: only the fields a decision changes, and undone exactly -----------------------


def test_a_rating_changes_that_attribute_and_nothing_else(tmp_path):
    sidecar = tmp_path / "IMG_0002.JPG.xmp"
    shutil.copy(WEDDING / "IMG_0002.JPG.xmp", sidecar)
    before = sidecar.read_bytes()
    written = write_marks(sidecar, Marks(rating=5))
    assert sidecar.read_bytes() == before.replace(b'xmp:Rating="4"', b'xmp:Rating="5"')
    assert written.fields == {"Rating": ("4", "5")}
    state = read_sidecar(sidecar)
    assert state.rating == 5 and state.altered and state.tags == ("portfolio", "wedding|ceremony")
    assert [p.name for p in tmp_path.iterdir()] == [sidecar.name]  # no temporary file left


@pytest.mark.parametrize(
    ("labels", "colours"),
    [
        (RED | GREEN, "0,2"),
        (BLUE, "3"),
        (RED | YELLOW | GREEN | BLUE | PURPLE, "0,1,2,3,4"),
        (0, None),
    ],
)
def test_every_label_goes_into_darktables_colour_labels(tmp_path, labels, colours):
    """darktable 4.2 reads an xmp:Label instead of its colour labels (the round trip through
    the real darktable shows it): none is added to its sidecar, all labels are in
    darktable:colorlabels."""
    sidecar = tmp_path / "IMG_0004.JPG.xmp"
    shutil.copy(WEDDING / "IMG_0004.JPG.xmp", sidecar)  # green and blue, by darktable
    written = write_marks(sidecar, Marks(labels=labels))
    state = read_sidecar(sidecar)
    assert (state.labels, state.label, state.darktable_labels) == (labels, None, labels)
    assert written.fields["colorlabels"] == ("2,3", colours)
    assert b"xmp:Label" not in sidecar.read_bytes()


@pytest.mark.parametrize(
    ("labels", "label"),
    [(RED, "Red"), (PURPLE, "Purple"), (GREEN | BLUE, None), (0, None)],
)
def test_an_xmp_label_in_a_darktable_sidecar_agrees_with_its_colour_labels(tmp_path, labels, label):
    sidecar = tmp_path / "IMG_0002.JPG.xmp"
    data = (WEDDING / "IMG_0002.JPG.xmp").read_bytes()  # red in darktable:colorlabels
    sidecar.write_bytes(data.replace(b'xmp:Rating="4"', b'xmp:Rating="4"\n   xmp:Label="Red"'))
    write_marks(sidecar, Marks(labels=labels))
    state = read_sidecar(sidecar)
    assert (state.labels, state.label) == (labels, label)
    # what darktable will read from it is what the catalogue says
    assert state.darktable_labels == labels


@pytest.mark.parametrize(
    ("labels", "label"), [(YELLOW, "Yellow"), (GREEN | BLUE, "Green"), (0, None)]
)
def test_an_adobe_sidecar_names_the_first_label(tmp_path, labels, label):
    sidecar = tmp_path / "IMG_0002.xmp"
    sidecar.write_text(adobe_sidecar(3, "Red"))
    write_marks(sidecar, Marks(labels=labels), kind="adobe")
    state = read_sidecar(sidecar)
    assert (state.label, state.rating) == (label, 3)
    assert b"colorlabels" not in sidecar.read_bytes()  # not darktable's: not added


EXIFTOOL_SIDECAR = """<?xpacket begin='\ufeff' id='W5M0MpCehiHzreSzNTczkc9d'?>
<x:xmpmeta xmlns:x='adobe:ns:meta/' x:xmptk='Image::ExifTool 12.57'>
<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>

 <rdf:Description rdf:about=''
  xmlns:exif='http://ns.adobe.com/exif/1.0/'>
  <exif:DateTimeOriginal>2024:06:01 14:11:01</exif:DateTimeOriginal>
 </rdf:Description>

 <rdf:Description rdf:about=''
  xmlns:xmp='http://ns.adobe.com/xap/1.0/'>
  <xmp:Label>Blue</xmp:Label>
  <xmp:Rating>3</xmp:Rating>
 </rdf:Description>
</rdf:RDF>
</x:xmpmeta>
<?xpacket end='w'?>
"""  # as exiftool writes one: a Description per namespace, quotes of its own


def test_a_sidecar_with_a_description_per_namespace_is_written_where_the_field_is(tmp_path):
    sidecar = tmp_path / "IMG.xmp"
    sidecar.write_text(EXIFTOOL_SIDECAR)
    assert (read_sidecar(sidecar).rating, read_sidecar(sidecar).label) == (3, "Blue")
    write_marks(sidecar, Marks(rating=-1, labels=RED), kind="adobe")
    assert sidecar.read_text() == EXIFTOOL_SIDECAR.replace(">3<", ">-1<").replace(">Blue<", ">Red<")


@pytest.mark.parametrize("name", [path.name for path in DARKTABLE_SIDECARS])
def test_a_pick_is_added_to_darktables_sidecar_and_leaves_darktables_fields_alone(tmp_path, name):
    """digiKam's pick label goes in as one attribute (and its namespace); every byte of
    darktable's own stays; taking the pick away again gives the file back byte for byte."""
    sidecar = tmp_path / name
    shutil.copy(WEDDING / name, sidecar)
    before = sidecar.read_bytes()
    own = darktables_own(sidecar)
    written = write_marks(sidecar, Marks(pick=PICK_ACCEPTED))
    assert written.fields == {"PickLabel": (None, "3")}
    assert read_sidecar(sidecar).pick == PICK_ACCEPTED
    assert darktables_own(sidecar) == own
    added = sidecar.read_bytes()
    assert len(added) - len(before) == len(f' xmlns:digiKam="{DIGIKAM_NS}" digiKam:PickLabel="3"')
    write_marks(sidecar, Marks(pick=NO_PICK))  # un-approved: no pick, no namespace left over
    assert sidecar.read_bytes() == before


@pytest.mark.parametrize("start", [None, 0, 2, PICK_ACCEPTED, PICK_REJECTED])
@pytest.mark.parametrize("pick", [PICK_ACCEPTED, PICK_REJECTED, NO_PICK])
def test_a_pick_label_already_there_is_changed_in_place(tmp_path, start, pick):
    sidecar = tmp_path / "IMG_0003.JPG.xmp"
    data = (WEDDING / "IMG_0003.JPG.xmp").read_bytes()
    sidecar.write_bytes(data if start is None else with_pick(data, start))
    before = sidecar.read_bytes()
    written = write_marks(sidecar, Marks(pick=pick))
    assert read_sidecar(sidecar).pick == (None if pick == NO_PICK else pick)
    assert darktables_own(sidecar) == darktables_own(WEDDING / "IMG_0003.JPG.xmp")
    if written is not None:
        take_back(written)
    assert sidecar.read_bytes() == before


STARTS = {
    **{path.name: path.read_text() for path in DARKTABLE_SIDECARS},
    "adobe, attributes": adobe_sidecar(4, "Blue"),
    "adobe, bare": adobe_sidecar(None, None),
    "elements": ELEMENT_SIDECAR,
    "exiftool": EXIFTOOL_SIDECAR,
    "single quotes": adobe_sidecar(1, "Green").replace('"', "'"),
    "digiKam, accepted": digikam_sidecar(2, PICK_ACCEPTED, 4),
    "digiKam, pending": digikam_sidecar(0, 2),
    "darktable with a pick label": with_pick(
        (WEDDING / "IMG_0003.JPG.xmp").read_bytes(), PICK_REJECTED
    ).decode(),
    "pick label as an element": f'{XMP_HEAD} xmlns:digiKam="{DIGIKAM_NS}">\n'
    "   <digiKam:PickLabel>3</digiKam:PickLabel>\n  </rdf:Description>\n </rdf:RDF>\n"
    "</x:xmpmeta>\n",
    "new": None,
}
CHANGES = {
    "reject": Marks(rating=-1, pick=PICK_REJECTED),
    "reject, rating only": Marks(rating=-1),
    "approve": Marks(pick=PICK_ACCEPTED),
    "no pick": Marks(pick=NO_PICK),
    "un-reject to pending": Marks(rating=3, pick=NO_PICK),
    "stars": Marks(rating=2),
    "no labels": Marks(labels=0),
    "three labels": Marks(labels=RED | GREEN | PURPLE),
    "one label": Marks(labels=YELLOW),
}


@pytest.mark.parametrize("kind", ["darktable", "adobe"])
@pytest.mark.parametrize("change", sorted(CHANGES))
@pytest.mark.parametrize("start", sorted(STARTS))
def test_taking_a_write_back_gives_the_sidecar_back_byte_for_byte(tmp_path, start, change, kind):
    sidecar = tmp_path / "IMG.JPG.xmp"
    if STARTS[start] is not None:
        sidecar.write_text(STARTS[start])
    before = sidecar.read_bytes() if sidecar.exists() else NEW_SIDECAR.encode()
    written = write_marks(sidecar, CHANGES[change], kind=kind)
    if written is None:  # it already said so: nothing written
        assert sidecar.read_bytes() == before
        return
    marks = CHANGES[change]
    state = read_sidecar(sidecar)
    if marks.rating is not None:
        assert state.rating == marks.rating
    if marks.labels is not None and kind == "darktable":
        assert state.darktable_labels == marks.labels
    if marks.pick is not None:
        assert state.pick == (None if marks.pick == NO_PICK else marks.pick)
    take_back(written)
    if STARTS[start] is None:  # it had none: it has none again
        assert not sidecar.exists()
    else:
        assert sidecar.read_bytes() == before


def test_a_write_is_not_taken_back_from_a_sidecar_changed_since(tmp_path):
    sidecar = tmp_path / "IMG_0003.JPG.xmp"
    shutil.copy(WEDDING / "IMG_0003.JPG.xmp", sidecar)
    written = write_marks(sidecar, Marks(rating=-1))
    # darktable rates it 2 stars meanwhile
    changed = sidecar.read_bytes().replace(b'xmp:Rating="-1"', b'xmp:Rating="2"')
    sidecar.write_bytes(changed)
    with pytest.raises(SidecarChanged, match="changed since"):
        take_back(written)
    assert sidecar.read_bytes() == changed


def test_a_sidecar_changed_since_it_was_read_is_left_alone(tmp_path):
    sidecar = tmp_path / "IMG_0002.JPG.xmp"
    shutil.copy(WEDDING / "IMG_0002.JPG.xmp", sidecar)
    status = sidecar.stat()
    seen = {(status.st_size - 1, status.st_mtime_ns)}  # the catalogue saw another version
    before = sidecar.read_bytes()
    with pytest.raises(SidecarChanged, match="changed since"):
        write_marks(sidecar, Marks(rating=5), expected=seen)
    assert sidecar.read_bytes() == before


@pytest.mark.parametrize(
    ("photo_mode", "sidecar_mode"),
    [(0o644, 0o644), (0o640, 0o640), (0o664, 0o664), (0o600, 0o600), (0o444, 0o644),
     (0o755, 0o644)],
)  # fmt: skip
def test_a_new_sidecar_gets_the_permissions_of_the_photo_beside_it(
    tmp_path, photo_mode, sidecar_mode
):
    """Readable by whoever reads the photo (darktable under another user, a share), writable
    by its owner (darktable rewrites it); never the 0o600 of a temporary file by accident."""
    photo = tmp_path / "IMG_0001.JPG"
    shutil.copy(WEDDING / "IMG_0001.JPG", photo)
    os.chmod(photo, photo_mode)
    created = tmp_path / "IMG_0001.JPG.xmp"
    previous = os.umask(0o077)  # the umask would have made it 0o600
    try:
        write_marks(created, Marks(rating=4), photo=photo)
    finally:
        os.umask(previous)
    assert oct(stat.S_IMODE(created.stat().st_mode)) == oct(sidecar_mode)


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_without_a_photo_a_new_sidecar_has_the_umasks_permissions_and_an_old_one_keeps_its_own(
    tmp_path, umask
):
    created, kept = tmp_path / "new.CR2.xmp", tmp_path / "IMG_0002.JPG.xmp"
    shutil.copy(WEDDING / "IMG_0002.JPG.xmp", kept)
    os.chmod(kept, 0o640)
    previous = os.umask(umask)
    try:
        write_marks(created, Marks(rating=4))
        write_marks(kept, Marks(rating=3))
    finally:
        os.umask(previous)
    assert oct(stat.S_IMODE(created.stat().st_mode)) == oct(0o666 & ~umask)
    assert oct(stat.S_IMODE(kept.stat().st_mode)) == oct(0o640)


# --- existing XMP read into triage when a photo is first seen --------------------------------


def _catalogued(catalogue, library: Path, tmp_path: Path) -> dict[str, int]:
    scan(catalogue, library, workers=1)
    media = MediaSync(catalogue.db, MediaSettings(preview_cache=tmp_path / "previews"))
    media.follow_file_events()
    media.run_until_idle()
    return {
        record.rel_path: record.photo_id
        for record in FileRecord.select().where(FileRecord.role == "original")
    }


def _state(photo_id: int) -> tuple[str, int, int]:
    photo = Photo.get_by_id(photo_id)
    return photo.decision, photo.rating, photo.labels


# name -> (files beside the photo, the triage state expected)
FIRST_SEEN = {
    "no sidecar": ({}, ("pending", 0, 0)),
    "darktable, stars and a label": (
        {"IMG.JPG.xmp": WEDDING / "IMG_0003.JPG.xmp"}, ("pending", 3, YELLOW)
    ),
    "darktable, stars and two labels": (
        {"IMG.JPG.xmp": WEDDING / "IMG_0004.JPG.xmp"}, ("pending", 5, GREEN | BLUE)
    ),
    "darktable, rejected": ({"IMG.JPG.xmp": WEDDING / "IMG_0009.JPG.xmp"}, ("rejected", 0, 0)),
    "darktable, no stars": ({"IMG.JPG.xmp": WEDDING / "IMG_0005.JPG.xmp"}, ("pending", 0, PURPLE)),
    "adobe": ({"IMG.xmp": adobe_sidecar(2, "Blue")}, ("pending", 2, BLUE)),
    "adobe, rejected": ({"IMG.xmp": adobe_sidecar(-1, None)}, ("rejected", 0, 0)),
    "both: darktable's decides": (
        {"IMG.JPG.xmp": WEDDING / "IMG_0003.JPG.xmp", "IMG.xmp": adobe_sidecar(1, "Red")},
        ("pending", 3, YELLOW),
    ),
    "embedded XMP": ({"embedded": adobe_sidecar(4, "Green")}, ("pending", 4, GREEN)),
    "digiKam, accepted": ({"IMG.xmp": digikam_sidecar(4, 3)}, ("approved", 4, 0)),
    "digiKam, rejected": ({"IMG.xmp": digikam_sidecar(2, 1)}, ("rejected", 2, 0)),
    "digiKam, pending": ({"IMG.xmp": digikam_sidecar(3, 2)}, ("pending", 3, 0)),
    "digiKam, no pick": ({"IMG.xmp": digikam_sidecar(1, 0)}, ("pending", 1, 0)),
    "darktable's sidecar with digiKam's pick": (
        {"IMG.JPG.xmp": with_pick((WEDDING / "IMG_0003.JPG.xmp").read_bytes(), 3)},
        ("approved", 3, YELLOW),
    ),
    "darktable's reject over a pick left from before": (
        {"IMG.JPG.xmp": with_pick((WEDDING / "IMG_0009.JPG.xmp").read_bytes(), 3)},
        ("rejected", 0, 0),
    ),
    "a pick out of digiKam's range": (
        {"IMG.xmp": digikam_sidecar(2, 7)}, ("pending", 2, 0)
    ),
    "embedded XMP and a darktable sidecar": (
        {"embedded": adobe_sidecar(1, "Red"), "IMG.JPG.xmp": WEDDING / "IMG_0002.JPG.xmp"},
        ("pending", 4, RED),
    ),
}  # fmt: skip


@pytest.mark.parametrize("start", sorted(FIRST_SEEN))
def test_existing_stars_rejects_and_labels_are_read_when_a_photo_is_first_seen(
    catalogue, tmp_path, start
):
    files, expected = FIRST_SEEN[start]
    library = tmp_path / "library"
    library.mkdir()
    jpeg = (WEDDING / "IMG_0001.JPG").read_bytes()
    if "embedded" in files:
        jpeg = with_embedded_xmp(jpeg, files["embedded"])
        assert embedded_xmp_of(jpeg, tmp_path) is not None
    (library / "IMG.JPG").write_bytes(jpeg)
    for name, content in files.items():
        if name != "embedded":
            data = content.read_bytes() if isinstance(content, Path) else content
            (library / name).write_bytes(data if isinstance(data, bytes) else data.encode())
    photos = _catalogued(catalogue, library, tmp_path)
    assert _state(photos["IMG.JPG"]) == expected
    assert Photo.get_by_id(photos["IMG.JPG"]).xmp_read_at is not None


def embedded_xmp_of(jpeg: bytes, tmp_path: Path):
    probe = tmp_path / "probe.jpg"
    probe.write_bytes(jpeg)
    try:
        return embedded_xmp(probe)
    finally:
        probe.unlink()


def test_existing_xmp_never_overrides_a_decision_already_made(catalogue, tmp_path):
    library = tmp_path / "library"
    library.mkdir()
    shutil.copy(WEDDING / "IMG_0001.JPG", library / "IMG.JPG")
    photos = _catalogued(catalogue, library, tmp_path)
    Triage(catalogue.db).rate(photos["IMG.JPG"], 1)
    Photo.update(xmp_read_at=None).execute()  # as if read again
    shutil.copy(WEDDING / "IMG_0004.JPG.xmp", library / "IMG.JPG.xmp")
    from core.triage.sidecar_read import read_existing_marks

    with catalogue.db.atomic():
        read_existing_marks(catalogue.db, [photos["IMG.JPG"]], 0.0)
    assert _state(photos["IMG.JPG"]) == ("pending", 1, 0)


# --- decisions through Triage: only what changes, undo exactly, sessions, conflicts ----------


@pytest.fixture
def shoot(catalogue, tmp_path):
    """IMG.JPG with darktable's own sidecar (3 stars, yellow), catalogued and read."""
    library = tmp_path / "library"
    library.mkdir()
    shutil.copy(WEDDING / "IMG_0003.JPG", library / "IMG.JPG")
    shutil.copy(WEDDING / "IMG_0003.JPG.xmp", library / "IMG.JPG.xmp")
    photos = _catalogued(catalogue, library, tmp_path)
    return library, photos["IMG.JPG"]


def test_approving_writes_a_pick_and_never_writes_over_darktables_stars(catalogue, shoot):
    library, photo = shoot
    sidecar = library / "IMG.JPG.xmp"
    before = sidecar.read_bytes()
    own = darktables_own(sidecar)
    triage = Triage(catalogue.db, write_sidecars=True)
    change = triage.decide(photo, "approved")
    assert change.warning is None
    assert read_sidecar(sidecar).pick == PICK_ACCEPTED  # digiKam shows it accepted
    assert darktables_own(sidecar) == own  # 3 stars, yellow, the history: as they were
    assert triage.undo().warning is None
    assert sidecar.read_bytes() == before
    triage.decide(photo, "approved")
    triage.decide(photo, "pending")  # un-approved by a new decision: the pick is taken back
    assert sidecar.read_bytes() == before


def test_a_reject_writes_minus_one_and_taking_it_back_restores_the_stars(catalogue, shoot):
    library, photo = shoot
    sidecar = library / "IMG.JPG.xmp"
    before = sidecar.read_bytes()
    triage = Triage(catalogue.db, write_sidecars=True)
    triage.decide(photo, "rejected")
    state = read_sidecar(sidecar)
    assert (state.rating, state.pick) == (-1, PICK_REJECTED)
    triage.decide(photo, "approved")  # un-reject, by a new decision
    state = read_sidecar(sidecar)
    assert (state.rating, state.pick) == (3, PICK_ACCEPTED)
    triage.decide(photo, "pending")
    assert sidecar.read_bytes() == before


# the decisions made one after another, and the pick each leaves
PATHS = {
    "approve": ["approved"],
    "reject": ["rejected"],
    "approve, then reject": ["approved", "rejected"],
    "reject, then approve": ["rejected", "approved"],
    "approve, reject, approve": ["approved", "rejected", "approved"],
}
PICKS = {"approved": PICK_ACCEPTED, "rejected": PICK_REJECTED}


@pytest.mark.parametrize("names", ["darktable", "adobe", "both"])
@pytest.mark.parametrize("start", ["darktable's", "darktable's, digiKam pending", "none"])
@pytest.mark.parametrize("path", sorted(PATHS))
def test_decisions_write_the_pick_and_pending_or_undo_take_it_back_exactly(
    catalogue, tmp_path, start, path, names
):
    library = tmp_path / "library"
    library.mkdir()
    shutil.copy(WEDDING / "IMG_0003.JPG", library / "IMG.JPG")
    darktables = (WEDDING / "IMG_0003.JPG.xmp").read_bytes()
    if start != "none":
        (library / "IMG.JPG.xmp").write_bytes(
            darktables if start == "darktable's" else with_pick(darktables, 2)
        )
    photo = _catalogued(catalogue, library, tmp_path)["IMG.JPG"]
    sidecars = [library / "IMG.JPG.xmp", library / "IMG.xmp"]
    if names != "both":
        sidecars = sidecars[:1] if names == "darktable" else sidecars[1:]

    def contents() -> list[bytes | None]:
        return [p.read_bytes() if p.exists() else None for p in sidecars]

    states = [contents()]
    triage = Triage(catalogue.db, write_sidecars=True, sidecar_names=names)
    for decision in PATHS[path]:
        assert triage.decide(photo, decision).warning is None
        for sidecar, first in zip(sidecars, states[0], strict=True):
            if not sidecar.exists():  # a pick alone makes no sidecar; a reject does
                assert decision == "approved"
                continue
            state = read_sidecar(sidecar)
            assert state.pick == PICKS[decision]
            if decision == "rejected":
                assert state.rating == -1
            else:  # darktable's three stars (the catalogue's), or none in a new sidecar
                stars = 0 if start == "none" else 3
                assert state.rating in ((stars,) if first is not None else (None, stars))
        states.append(contents())
    assert triage.decide(photo, "pending").warning is None  # the sidecars as they were

    def picks(files: list[bytes | None]) -> list[int | None]:
        return [None if data is None else parse_sidecar(data, p).pick for p, data in zip(
            sidecars, files, strict=True
        )]  # fmt: skip

    assert picks(contents()) == picks(states[0])
    if start != "none" and names == "darktable":
        assert contents() == states[0]
    for expected in reversed(states):  # then undo, one by one, byte for byte
        assert triage.undo().warning is None
        assert contents() == expected


@pytest.mark.parametrize("names", ["darktable", "adobe", "both"])
def test_approving_a_photo_without_a_sidecar_makes_none(catalogue, tmp_path, names):
    """A pick alone creates no sidecar (a rating or a reject does): darktable would take a
    sidecar with none of its own fields for an older program's."""
    library = tmp_path / "bare"
    library.mkdir()
    shutil.copy(WEDDING / "IMG_0004.JPG", library / "IMG.JPG")
    ids = _catalogued(catalogue, library, tmp_path)
    triage = Triage(catalogue.db, write_sidecars=True, sidecar_names=names)
    assert triage.decide(ids["IMG.JPG"], "approved").warning is None
    assert sorted(p.name for p in library.iterdir()) == ["IMG.JPG"]
    triage.decide(ids["IMG.JPG"], "rejected")  # a reject is a rating: it makes them
    made = {"darktable": ["IMG.JPG.xmp"], "adobe": ["IMG.xmp"], "both": ["IMG.JPG.xmp", "IMG.xmp"]}
    assert sorted(p.name for p in library.iterdir() if p.suffix == ".xmp") == made[names]


def test_rating_a_rejected_photo_leaves_the_reject_in_the_sidecar(catalogue, shoot):
    library, photo = shoot
    triage = Triage(catalogue.db, write_sidecars=True)
    triage.decide(photo, "rejected")
    triage.rate(photo, 5)
    assert read_sidecar(library / "IMG.JPG.xmp").rating == -1
    triage.decide(photo, "pending")
    assert read_sidecar(library / "IMG.JPG.xmp").rating == 3  # what the sidecar had


def test_undo_and_redo_give_the_sidecar_back_exactly(catalogue, shoot):
    library, photo = shoot
    sidecar = library / "IMG.JPG.xmp"
    states = [sidecar.read_bytes()]
    triage = Triage(catalogue.db, write_sidecars=True)
    for act in (
        lambda: triage.rate(photo, 5),
        lambda: triage.toggle_label(photo, RED),
        lambda: triage.decide(photo, "rejected"),
        lambda: triage.toggle_label(photo, YELLOW),
    ):
        assert act().warning is None
        states.append(sidecar.read_bytes())
    assert read_sidecar(sidecar).rating == -1 and read_sidecar(sidecar).labels == RED
    for expected in reversed(states[:-1]):
        assert triage.undo().warning is None
        assert sidecar.read_bytes() == expected
    for expected in states[1:]:
        assert triage.redo().warning is None
        assert sidecar.read_bytes() == expected


def test_an_undo_after_a_change_elsewhere_leaves_the_sidecar_and_the_card_says_so(catalogue, shoot):
    library, photo = shoot
    sidecar = library / "IMG.JPG.xmp"
    triage = Triage(catalogue.db, write_sidecars=True)
    triage.rate(photo, 5)
    # darktable rates it 2 stars meanwhile
    sidecar.write_bytes(sidecar.read_bytes().replace(b'xmp:Rating="5"', b'xmp:Rating="2"'))
    changed = sidecar.read_bytes()
    change = triage.undo()
    assert change.warning and "changed since" in change.warning
    assert sidecar.read_bytes() == changed  # never 0 (nor 3) over darktable's 2
    assert Photo.get_by_id(photo).rating == 3  # the catalogue's undo happened
    card = photo_card(catalogue.db, photo)
    assert card.sidecar_problem and "changed since" in card.sidecar_problem
    # refused again until the catalogue has read darktable's version (the watcher would)...
    assert "changed since" in triage.toggle_label(photo, GREEN).warning
    scan(catalogue, library, workers=1)
    # ...then written, field by field, over darktable's 2 stars untouched; the card clears
    assert triage.toggle_label(photo, GREEN).warning is None
    assert read_sidecar(sidecar).rating == 2
    assert photo_card(catalogue.db, photo).sidecar_problem is None


def test_a_decision_on_a_sidecar_changed_since_it_was_read_is_said_on_the_card(catalogue, shoot):
    library, photo = shoot
    sidecar = library / "IMG.JPG.xmp"
    sidecar.write_bytes(sidecar.read_bytes() + b"\n")  # darktable rewrote it, not seen yet
    changed = sidecar.read_bytes()
    change = Triage(catalogue.db, write_sidecars=True).rate(photo, 1)
    assert change.warning and "changed since" in change.warning
    assert sidecar.read_bytes() == changed
    assert "changed since" in photo_card(catalogue.db, photo).sidecar_problem


def test_undo_never_writes_sidecars_for_another_sessions_decisions(catalogue, shoot):
    library, photo = shoot
    sidecar = library / "IMG.JPG.xmp"
    before = sidecar.read_bytes()
    # one session decides without write-back, another (with it) undoes: nothing written
    Triage(catalogue.db, write_sidecars=False).decide(photo, "rejected")
    assert Triage(catalogue.db, write_sidecars=True).undo().warning is None
    assert sidecar.read_bytes() == before
    # one session writes its decision; another's undo does not write for it, and says so
    Triage(catalogue.db, write_sidecars=True).rate(photo, 5)
    written = sidecar.read_bytes()
    change = Triage(catalogue.db, write_sidecars=True).undo()
    assert change.warning and "another session" in change.warning
    assert sidecar.read_bytes() == written
    assert "another session" in photo_card(catalogue.db, photo).sidecar_problem


def test_redo_never_writes_what_another_sessions_undo_took_back(catalogue, shoot):
    library, photo = shoot
    sidecar = library / "IMG.JPG.xmp"
    first = Triage(catalogue.db, write_sidecars=True)
    first.rate(photo, 1)
    first.undo()
    restored = sidecar.read_bytes()
    change = Triage(catalogue.db, write_sidecars=True).redo()
    assert change.after == 1 and "another session" in change.warning
    assert sidecar.read_bytes() == restored
    assert "another session" in photo_card(catalogue.db, photo).sidecar_problem


def test_an_undo_under_another_persons_newer_decision_leaves_the_sidecar_as_it_is(catalogue, shoot):
    """Ann approves, Bob rejects (each written into the sidecar): Ann's undo leaves the photo
    to Bob's reject and writes nothing; Bob's undo takes back exactly his own write."""
    library, photo = shoot
    sidecar = library / "IMG.JPG.xmp"
    ann = Triage(catalogue.db, write_sidecars=True, person="ann@studio")
    bob = Triage(catalogue.db, write_sidecars=True, person="bob@laptop")
    ann.decide(photo, "approved")
    approved = sidecar.read_bytes()
    bob.decide(photo, "rejected")
    rejected = sidecar.read_bytes()
    assert read_sidecar(sidecar).pick == PICK_REJECTED
    kept = ann.undo()
    assert kept.kept_by == "bob@laptop" and kept.warning is None
    assert sidecar.read_bytes() == rejected and _state(photo)[0] == "rejected"
    assert bob.undo().warning is None
    assert sidecar.read_bytes() == approved  # his write taken back, byte for byte
    assert _state(photo)[0] == "pending"  # Ann's was taken back: the catalogue says so


@pytest.mark.parametrize(
    ("names", "written"),
    [("darktable", ["IMG.JPG.xmp"]), ("adobe", ["IMG.xmp"]), ("both", ["IMG.JPG.xmp", "IMG.xmp"])],
)
def test_sidecar_names_choose_darktables_adobes_or_both(catalogue, tmp_path, names, written):
    library = tmp_path / "library"
    library.mkdir()
    shutil.copy(WEDDING / "IMG_0001.JPG", library / "IMG.JPG")
    os.chmod(library / "IMG.JPG", 0o644)
    photo = _catalogued(catalogue, library, tmp_path)["IMG.JPG"]
    triage = Triage(catalogue.db, write_sidecars=True, sidecar_names=names)
    triage.rate(photo, 4)
    triage.toggle_label(photo, RED)
    triage.toggle_label(photo, BLUE)
    assert sorted(p.name for p in library.iterdir() if p.suffix == ".xmp") == written
    for name in written:
        state = read_sidecar(library / name)
        assert state.rating == 4
        assert stat.S_IMODE((library / name).stat().st_mode) == 0o644
        if name == "IMG.xmp":
            assert state.label == "Red"  # Lightroom and Bridge hold one label
        else:
            assert (state.labels, state.label) == (RED | BLUE, None)
    triage.decide(photo, "approved")
    assert all(read_sidecar(library / name).pick == PICK_ACCEPTED for name in written)
    triage.decide(photo, "rejected")
    assert all(read_sidecar(library / name).rating == -1 for name in written)
    assert all(read_sidecar(library / name).pick == PICK_REJECTED for name in written)


def _command_line_library(tmp_path: Path) -> tuple[Path, Path]:
    """A folder with one photo and darktable's sidecar for it (5 stars, green, blue), and a
    settings file with write-back on: (the folder, the settings file)."""
    library = tmp_path / "library"
    library.mkdir()
    shutil.copy(WEDDING / "IMG_0004.JPG", library / "IMG.JPG")
    shutil.copy(WEDDING / "IMG_0004.JPG.xmp", library / "IMG.JPG.xmp")
    config = tmp_path / "shootwatch.toml"
    config.write_text(
        f'catalogue = "{tmp_path / "catalogue.db"}"\n'
        f'darktable.library = "{tmp_path / "none" / "library.db"}"\n'
        "[triage]\nwrite_sidecars = true\n"
    )
    return library, config


def _shootwatch(config: Path, *args: str) -> str:
    """The command as a process of its own; what it said (it must succeed)."""
    result = subprocess.run(
        [sys.executable, "-m", "core.cli", "--config", str(config), *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_the_command_line_decides_and_undoes_in_its_own_session(tmp_path):
    """``shootwatch decide`` then ``shootwatch undo``, two processes: the undo gives the
    sidecar back what it had; approving alone never touched it."""
    library, config = _command_line_library(tmp_path)
    sidecar = library / "IMG.JPG.xmp"
    before = sidecar.read_bytes()

    def shootwatch(*args: str) -> str:
        return _shootwatch(config, *args)

    shootwatch("add", str(library))
    shootwatch("scan")
    shootwatch("decide", str(library / "IMG.JPG"), "--approve")
    assert read_sidecar(sidecar).pick == PICK_ACCEPTED and read_sidecar(sidecar).rating == 5
    shootwatch("undo")
    assert sidecar.read_bytes() == before
    shootwatch("decide", str(library / "IMG.JPG"), "--reject")
    assert read_sidecar(sidecar).rating == -1
    said = shootwatch("undo")
    assert "sidecar not written" not in said
    assert sidecar.read_bytes() == before
    # darktable rewrites it, not seen yet: the decision is kept, the sidecar left alone, and
    # `show` says so, as the card does
    sidecar.write_bytes(before + b"\n")
    shootwatch_result = subprocess.run(
        [sys.executable, "-m", "core.cli", "--config", str(config), "decide",
         str(library / "IMG.JPG"), "--reject"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "sidecar not written" in shootwatch_result.stderr
    assert sidecar.read_bytes() == before + b"\n"
    shown = shootwatch("show", str(library / "IMG.JPG"))
    assert "! sidecar not written: " in shown and "changed since" in shown


# Commands run back to back, each a process of its own, with no scan or watcher in between:
# each one finds the sidecar as the one before left it, which is shootwatch's own writing.
BACK_TO_BACK = [
    [("decide", "--approve"), ("undo",), ("decide", "--reject"), ("undo",)],
    [("decide", "--stars", "3"), ("decide", "--stars", "4"), ("decide", "--label", "red"),
     ("undo",), ("undo",), ("undo",)],
    [("decide", "--reject"), ("decide", "--pending"), ("decide", "--approve"), ("undo",),
     ("undo",), ("undo",)],
    [("decide", "--approve"), ("undo",), ("redo",), ("undo",)],
]  # fmt: skip


@pytest.mark.parametrize("commands", BACK_TO_BACK, ids=lambda c: " ".join(" ".join(x) for x in c))
def test_commands_back_to_back_find_the_sidecar_as_shootwatch_left_it(tmp_path, commands):
    """The sidecar shootwatch itself wrote (or gave back) is not "changed since" for the next
    command, though no scan has seen it: the catalogue knows the content it wrote."""
    library, config = _command_line_library(tmp_path)
    sidecar = library / "IMG.JPG.xmp"
    before = sidecar.read_bytes()

    def shootwatch(*args: str) -> str:
        if args[0] == "decide":
            args = ("decide", str(library / "IMG.JPG"), *args[1:])
        return _shootwatch(config, *args)

    shootwatch("add", str(library))
    shootwatch("scan")
    for command in commands:
        said = shootwatch(*command)
        assert "not written" not in said and "not restored" not in said, (command, said)
    undone = sum(1 for c in commands if c[0] == "undo") - sum(1 for c in commands if c[0] == "redo")
    if undone == sum(1 for c in commands if c[0] == "decide"):
        assert sidecar.read_bytes() == before  # everything taken back: byte for byte


@st.composite
def damaged_sidecars(draw) -> bytes:
    """darktable's own sidecars with bytes changed, added and cut, as a bad copy leaves them."""
    data = bytearray(draw(st.sampled_from([p.read_bytes() for p in DARKTABLE_SIDECARS])))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        choice = draw(st.integers(0, 2))
        if choice == 0 and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif choice == 1:
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[at : at + draw(st.integers(1, 64))]
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=damaged_sidecars(),
    marks=st.sampled_from(sorted(CHANGES.items())),
    kind=st.sampled_from(["darktable", "adobe"]),
)
def test_a_damaged_sidecar_is_written_and_taken_back_exactly_or_left_alone(
    tmp_path_factory, data, marks, kind
):
    sidecar = tmp_path_factory.mktemp("fuzz") / "IMG.JPG.xmp"
    sidecar.write_bytes(data)
    try:
        written = write_marks(sidecar, marks[1], kind=kind)
    except SidecarError as refused:
        assert str(refused).startswith(str(sidecar)) or "rdf:Description" in str(refused)
        assert sidecar.read_bytes() == data  # left alone
        return
    if written is not None:
        take_back(written)
    assert sidecar.read_bytes() == data
