"""Fuzzing, time-boxed: the EXIF and preview path (sniff, read_metadata, read_capture_clock,
render_preview) on mutated real camera files, and the XMP sidecar reader on generated XMP, DTDs
and entities included.

Each target runs in rounds of hypothesis with a fixed seed (round n uses seed n), for its share
of SHOOTWATCH_FUZZ_SECONDS (10 by default; CI sets 60): the clock only decides whether another
round starts, nothing is asserted about time, and a failure names its round, so it replays
(SHOOTWATCH_FUZZ_ROUND=n runs that round alone). Each target reports how many examples it ran,
in how many rounds and seconds, as a row of the Reliability table.
"""

from __future__ import annotations

import io
import itertools
import os
import re
import struct
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from hypothesis import HealthCheck, event, given, seed, settings
from hypothesis import strategies as st
from PIL import Image

from core.darktable.facts import INTERNAL_TAG_PREFIX, label_bits
from core.darktable.sidecar import NS, Sidecar, SidecarError, read_sidecar
from core.media.metadata import read_capture_clock, read_metadata
from core.media.preview import OVERSIZE_SLACK, PreviewUnavailable, orientation_of, render_preview
from core.media.sniff import HEAD_BYTES, sniff, sniff_bytes
from tests.faults.crashes import Figures
from tests.helpers import FIXTURES, REPO_CAMERA

BUDGET_SECONDS = float(os.environ.get("SHOOTWATCH_FUZZ_SECONDS", "10"))
ONLY_ROUND = os.environ.get("SHOOTWATCH_FUZZ_ROUND")
MEDIA_SHARE, XMP_SHARE = 2 / 3, 1 / 3  # of the budget: a camera file costs more than an XMP
LONG_EDGE = 160  # small previews decode at 1/8 scale: more examples in the budget


def _round_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,  # a 4000 px decode may take a while on a busy machine: not a failure
        database=None,  # nothing written into the checkout; the seed is what replays
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def fuzz_in_rounds(
    prop: Callable[..., None], share: float, examples: int, figures: Figures, **strategies
) -> None:
    """Run ``prop`` under hypothesis, round after round of ``examples`` with seed 0, 1, 2, ...,
    until ``share`` of the budget is spent (at least one round). A failing round counts as a
    crash in ``figures``, which also get a note of the rounds run and the time they took."""
    if ONLY_ROUND is not None:
        numbers: itertools.count | list[int] = [int(ONLY_ROUND)]
    else:
        numbers = itertools.count()
    started = time.monotonic()
    end = started + BUDGET_SECONDS * share
    rounds: list[int] = []
    try:
        for done, number in enumerate(numbers):
            if done and time.monotonic() >= end:
                break
            rounds.append(number)
            test = seed(number)(_round_settings(examples)(given(**strategies)(prop)))
            try:
                test()
            except BaseException as failure:
                figures.crashes += 1
                failure.add_note(
                    f"fuzz round {number}: replay it with SHOOTWATCH_FUZZ_ROUND={number}"
                )
                raise
    finally:
        seeds = f"seed {rounds[0]}" if len(rounds) == 1 else f"seeds {rounds[0]}-{rounds[-1]}"
        figures.notes.insert(
            0,
            f"hypothesis for {time.monotonic() - started:.0f} s ({share:.0%} of a "
            f"{BUDGET_SECONDS:g} s budget): {len(rounds)} rounds, {seeds}",
        )


# --- camera files ------------------------------------------------------------------------------

# Real files (or their first part: the headers are where the parsers are) to mutate.
CAMERA_SEEDS = {
    "kodak_dc240_1999.jpg": None,  # EXIF with a thumbnail
    "sony_slt-a58_small.jpg": None,
    "bad_corrupt_exif_max_uint32.jpg": None,
    "nikon_z9_cropped.dng": None,  # tags point to its previews
    "nikon_d7100_truncated.NEF": 160 * 1024,  # IFDs, SubIFDs, maker notes
    "bad_sony_a7iii_header_only.ARW": None,
    "fujifilm_s5pro_stripped.RAF": None,
    "canon_eos_m50_stripped.CR3": None,
    "canon_eos_d30.CRW": 64 * 1024,
}
CAMERA_FILES = {
    name: (REPO_CAMERA / name).read_bytes()[:keep] for name, keep in CAMERA_SEEDS.items()
}
HEADER_REGION = 16 * 1024  # most mutations land here
U16_VALUES = (0, 1, 2, 0x00FF, 0x0100, 1024, 1025, 10_000, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF)
U32_VALUES = (0, 1, 4, 8, 12, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF, 10_000, 1 << 24)
MARKERS = (
    b"\xff\xd8\xff",  # a JPEG starts
    b"\xff\xd9",  # one ends
    b"\xff\xda\x00\x0c",  # start of scan
    b"\xff\xc0\x00\x11\x08\xff\xff\xff\xff\x03",  # a frame of 65535 x 65535
    b"\xff\xe1\xff\xffExif\x00\x00II*\x00\x08\x00\x00\x00",  # an EXIF segment
    b"II*\x00\x08\x00\x00\x00",
    b"MM\x00*\x00\x00\x00\x08",
    b"CMT1",
    b"ftypcrx ",
)


@dataclass(frozen=True)
class Mutation:
    kind: str
    at: int
    value: int
    chunk: bytes

    def apply(self, data: bytearray) -> None:
        at = min(self.at, len(data))
        if self.kind == "byte" and at < len(data):
            data[at] = self.value & 0xFF
        elif self.kind in ("u16", "u32"):
            values = U16_VALUES if self.kind == "u16" else U32_VALUES
            value = values[self.value % len(values)]
            order = "<" if self.value & 1 else ">"
            packed = struct.pack(order + ("H" if self.kind == "u16" else "I"), value)
            data[at : at + len(packed)] = packed
        elif self.kind == "insert":
            data[at:at] = self.chunk
        elif self.kind == "delete":
            del data[at : at + self.value]
        elif self.kind == "marker":
            data[at:at] = MARKERS[self.value % len(MARKERS)]


@st.composite
def mutated_camera_files(draw) -> tuple[str, bytes]:
    """(file name, bytes): a real camera file with up to a dozen mutations, maybe cut short."""
    name = draw(st.sampled_from(sorted(CAMERA_FILES)))
    data = bytearray(CAMERA_FILES[name])
    mutations = st.builds(
        Mutation,
        kind=st.sampled_from(("byte", "u16", "u32", "insert", "delete", "marker")),
        at=st.one_of(st.integers(0, HEADER_REGION), st.integers(0, len(data))),
        value=st.integers(0, 4096),
        chunk=st.binary(max_size=64),
    )
    for mutation in draw(st.lists(mutations, max_size=12)):
        mutation.apply(data)
    cut = draw(st.one_of(st.none(), st.integers(0, len(data))))
    return name, bytes(data[:cut])


def test_mutated_camera_files_give_metadata_and_a_preview_or_a_reason(tmp_path):
    folder = tmp_path / "fuzz"
    folder.mkdir()
    figures = Figures("fuzz: EXIF and previews of mutated camera files")
    previews: Counter[str] = Counter()

    def prop(sample: tuple[str, bytes]) -> None:
        figures.files += 1
        # Pillow warns about damaged files; the media workers silence it the same way.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            check(*sample)

    def check(name: str, data: bytes) -> None:
        path = folder / name
        path.write_bytes(data)
        sniffed = sniff_bytes(data[:HEAD_BYTES], name, len(data))
        assert sniff(path) == sniffed
        event(f"sniffed as {sniffed.format}")
        assert sniffed.usable or sniffed.reason

        metadata = read_metadata(path, sniffed)
        if not sniffed.usable:
            assert metadata.error == sniffed.reason
        assert metadata.orientation in (None, *range(1, 9))
        if metadata.gps_latitude is not None:
            assert -90 <= metadata.gps_latitude <= 90
            assert -180 <= metadata.gps_longitude <= 180
        if metadata.capture_offset is not None:
            assert re.fullmatch(r"[+-]\d\d:\d\d", metadata.capture_offset)

        clock = read_capture_clock(path, sniffed)
        assert (clock.local is None) == bool(clock.error), clock

        try:
            preview = render_preview(path, sniffed.format, None, LONG_EDGE)
        except PreviewUnavailable as unavailable:
            assert unavailable.reason.strip()
            event("no preview, with a reason")
            previews["a reason"] += 1
        else:
            event("a preview")
            previews["a preview"] += 1
            with Image.open(io.BytesIO(preview)) as image:
                assert image.format == "JPEG"
                assert max(image.size) <= LONG_EDGE * OVERSIZE_SLACK
        assert orientation_of(path, sniffed.format) in (None, *range(1, 9))

    try:
        fuzz_in_rounds(prop, MEDIA_SHARE, 25, figures, sample=mutated_camera_files())
    finally:
        figures.notes.append(
            f"{previews['a preview']:,} gave a preview, {previews['a reason']:,} a reason"
        )
        figures.write()


# --- XMP sidecars ------------------------------------------------------------------------------

SECRET = "SECRET-MARKER-4242"  # in a file an external entity names: must never be read
EXPANDED = "EXPANDED-MARKER-4242"  # an internal entity's text: must never be expanded
CLEAN_ENCODINGS = (None, "UTF-8", "utf-8", "UTF-16", "ISO-8859-1", "US-ASCII", "windows-1252")
# Declared encodings expat or Python's codecs cannot use in a parser.
BAD_ENCODINGS = ("foo", "utf-7", "UTF-32", "big5", "shift_jis", "rot13", "hex", "base64",
                 "zlib", "idna", "punycode", "mbcs", "undefined", "")  # fmt: skip
DOCTYPES = (
    "<!DOCTYPE x:xmpmeta>",
    f'<!DOCTYPE x:xmpmeta [<!ENTITY e "{EXPANDED}">]>',
    '<!DOCTYPE x:xmpmeta [<!ENTITY e SYSTEM "file://{secret}">]>',
    '<!DOCTYPE x:xmpmeta [<!ENTITY % p SYSTEM "file://{secret}"> %p;]>',
    '<!DOCTYPE x:xmpmeta SYSTEM "http://127.0.0.1:9/evil.dtd">',
    "<!DOCTYPE x:xmpmeta ["
    + '<!ENTITY a "lol">'
    + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
    + "]>",  # a billion laughs: nine levels of ten
)
ENTITY_REFERENCES = ("&e;", "&j;", "&p;", "&#0;", "&#x110000;", "&undefined;")
# Text an XML 1.0 document may hold (no controls, surrogates, U+FFFE/U+FFFF).
xml_text = st.text(st.characters(categories=("L", "N", "P", "S", "Zs")), max_size=24)
junk = st.one_of(
    xml_text,
    st.sampled_from(("", " ", "1_000", "\u0663", "0x10", "5.0", "1e3", "9" * 5000, "-")),
    st.text(max_size=12),  # anything, controls and markup included: often not XML at all
)


@dataclass(frozen=True)
class Xmp:
    """A generated sidecar and what darktable's reading of it must give when it is clean."""

    data: bytes
    clean: bool  # well-formed, no DTD, an encoding expat reads, whole numbers where expected
    has_doctype: bool
    rating: int | None
    history_end: int | None
    colors: tuple[int, ...]
    tags: tuple[str, ...]
    subjects: tuple[str, ...]


def _property(prefix: str, name: str, value: str, as_element: bool) -> tuple[str, str]:
    """(attribute text, element text): the property written one way or the other."""
    if as_element:
        return "", f"<{prefix}:{name}>{escape(value)}</{prefix}:{name}>"
    return f" {prefix}:{name}={quoteattr(value)}", ""


def _list(prefix: str, name: str, container: str, items: list[str]) -> str:
    lis = "".join(f"<rdf:li>{escape(item)}</rdf:li>" for item in items)
    return f"<{prefix}:{name}><rdf:{container}>{lis}</rdf:{container}></{prefix}:{name}>"


@st.composite
def generated_sidecars(draw, secret: str) -> Xmp:
    clean = True
    rating = draw(st.one_of(st.none(), st.integers(-1, 5), st.integers(-(10**30), 10**30)))
    history_end = draw(st.one_of(st.none(), st.integers(0, 10**6)))
    colors = tuple(draw(st.lists(st.integers(-3, 40), max_size=6)))
    tags = draw(st.lists(st.one_of(xml_text, xml_text.map(INTERNAL_TAG_PREFIX.__add__)),
                         max_size=5))  # fmt: skip
    subjects = draw(st.lists(xml_text, max_size=4))
    attributes, children = [], []
    for prefix, name, value in (
        ("xmp", "Rating", rating),
        ("darktable", "history_end", history_end),
        ("darktable", "import_timestamp", draw(st.integers(-1, 10**17))),
        ("darktable", "history_current_hash", draw(st.one_of(st.none(), xml_text))),
        ("xmpMM", "DerivedFrom", draw(st.one_of(st.none(), xml_text))),
    ):
        if value is None:
            continue
        text = str(value)
        if draw(st.integers(0, 9)) == 0:  # now and then, something that is not a number
            text, clean = draw(junk), False
        attribute, element = _property(prefix, name, text, draw(st.booleans()))
        attributes.append(attribute)
        children.append(element)
    children.append(_list("darktable", "colorlabels", "Seq", [str(c) for c in colors]))
    children.append(_list("lr", "hierarchicalSubject", "Bag", tags))
    children.append(_list("dc", "subject", "Bag", subjects))
    namespaces = "".join(f" xmlns:{prefix}={quoteattr(uri)}" for prefix, uri in NS.items())
    body = (
        f"<x:xmpmeta{namespaces}><rdf:RDF><rdf:Description rdf:about=''{''.join(attributes)}>"
        f"{''.join(draw(st.permutations(children)))}</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    doctype = draw(st.one_of(st.none(), st.sampled_from(DOCTYPES)))
    if doctype is not None:
        doctype = doctype.replace("{secret}", secret)
        body = body.replace("<rdf:li>", f"<rdf:li>{draw(st.sampled_from(ENTITY_REFERENCES))}", 1)
        clean = False
    if draw(st.integers(0, 7)) == 0:  # markup broken somewhere
        at = draw(st.integers(0, len(body)))
        body = body[:at] + draw(st.sampled_from(("<", "&", "</x>", "\x00", "]]>", '"'))) + body[at:]
        clean = False
    encoding = draw(st.one_of(st.sampled_from(CLEAN_ENCODINGS), st.sampled_from(BAD_ENCODINGS)))
    declaration = "" if encoding is None else f'<?xml version="1.0" encoding="{encoding}"?>'
    text = declaration + (doctype or "") + body
    if encoding in BAD_ENCODINGS:
        data, clean = text.encode("utf-8", "surrogatepass"), False
    else:
        codec = {None: "utf-8", "US-ASCII": "ascii"}.get(encoding, encoding)
        data = text.encode(codec, "xmlcharrefreplace")
    return Xmp(data, clean, doctype is not None, rating, history_end, colors, tuple(tags),
               tuple(subjects))  # fmt: skip


def _real_sidecars() -> list[bytes]:
    photos = FIXTURES / "darktable-4.2" / "photos"
    return [path.read_bytes() for path in sorted(photos.rglob("*.xmp"))]


@st.composite
def mutated_sidecars(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(REAL_SIDECARS)))
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(data)))
        choice = draw(st.integers(0, 2))
        if choice == 0 and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif choice == 1:
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[at : at + draw(st.integers(1, 64))]
    return bytes(data)


REAL_SIDECARS = _real_sidecars()


def _check_sidecar(sidecar: Sidecar) -> None:
    assert 0 <= sidecar.labels < 32
    assert 0 <= sidecar.stars <= 5
    assert sidecar.rejected == (sidecar.rating is not None and sidecar.rating < 0)
    assert list(sidecar.tags) == sorted(sidecar.tags)
    assert not [tag for tag in sidecar.tags if tag.startswith(INTERNAL_TAG_PREFIX)]
    assert all(tag and tag == tag.strip() for tag in (*sidecar.tags, *sidecar.subjects))


def test_generated_and_mutated_sidecars_are_read_or_refused_with_a_reason(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    path = tmp_path / "IMG_0001.JPG.xmp"
    figures = Figures("fuzz: XMP sidecars, generated and mutated")
    readings: Counter[str] = Counter()

    def prop(xmp: Xmp | bytes) -> None:
        figures.files += 1
        data = xmp.data if isinstance(xmp, Xmp) else xmp
        path.write_bytes(data)
        try:
            sidecar = read_sidecar(path)
        except SidecarError as refused:
            event("refused")
            readings["refused"] += 1
            readings["refused, with a DTD"] += int(isinstance(xmp, Xmp) and xmp.has_doctype)
            assert str(refused).startswith(str(path)), refused
            assert SECRET not in str(refused) and EXPANDED not in str(refused)
            assert not (isinstance(xmp, Xmp) and xmp.clean), f"a clean sidecar refused: {refused}"
            return
        assert isinstance(sidecar, Sidecar)
        event("read")
        readings["read"] += 1
        _check_sidecar(sidecar)
        assert SECRET not in repr(sidecar) and EXPANDED not in repr(sidecar)
        if not isinstance(xmp, Xmp):
            return
        assert not xmp.has_doctype, "a sidecar with a DTD was read, not refused"
        if xmp.clean:
            assert (sidecar.rating, sidecar.history_end) == (xmp.rating, xmp.history_end)
            assert sidecar.labels == label_bits(xmp.colors)
            stripped = [tag.strip() for tag in xmp.tags]
            user = [tag for tag in stripped if tag and not tag.startswith(INTERNAL_TAG_PREFIX)]
            assert sidecar.tags == tuple(sorted(user))
            assert sidecar.subjects == tuple(sorted(s.strip() for s in xmp.subjects if s.strip()))

    sidecars = st.one_of(generated_sidecars(str(secret)), mutated_sidecars())
    try:
        fuzz_in_rounds(prop, XMP_SHARE, 200, figures, xmp=sidecars)
    finally:
        figures.notes.append(
            f"{readings['read']:,} read, {readings['refused']:,} refused with a reason "
            f"({readings['refused, with a DTD']:,} of them had a DTD)"
        )
        figures.write()
