"""The bad-input corpus, end to end: every camera sample (the damaged ones too), copies cut short,
noise behind a JPEG header, looping and 10,000-entry IFDs, a 4 GB sparse RAW, hostile names,
deep folders, symlink loops, FIFOs and sockets, all in one real library that is scanned and
described for real. Nothing raises or hangs, every regular file has one record, and every file
that gives no photo says why."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import shutil
import socket
import sqlite3
import stat
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest

from core.config import MediaSettings
from core.engine import Engine
from core.media.photos import MediaSync
from core.scan.reconcile import ReconcileReport
from core.store import Catalogue, open_catalogue
from core.store.models import Event, FileRecord, Photo
from core.store.photos import triage_queue_entries
from core.triage.card import photo_card
from core.triage.decisions import Triage
from core.triage.queue import Counts, Queue
from tests.core.test_engine import add_root, settings_for
from tests.faults.crashes import Figures
from tests.helpers import REPO, REPO_CAMERA, SHARED_CAMERA, scan, wait_until

T = TypeVar("T")

# How long each step over the whole corpus (a scan, the description) may take before it counts
# as hung. Together they take about 15 s on 2 cores, most of it reading the 4 GB sparse file
# twice (hashing it, and looking through it for an embedded JPEG). A hang detector, not a timing.
HANG_SECONDS = 120.0
SPARSE_BYTES = 4 * 1024**3
CUT_SOURCES = (
    "kodak_dc240_1999.jpg",  # a JPEG with an EXIF thumbnail
    "nikon_z9_cropped.dng",  # a TIFF-based RAW whose tags point to its previews
    "nikon_d7100_truncated.NEF",  # a RAW with a full-size JPEG inside
    "fujifilm_s5pro_stripped.RAF",
    "canon_eos_m50_stripped.CR3",
)
NAME_PHOTO = "sony_slt-a58_small.jpg"  # 24 KB: the photo behind every hostile name
# Where a camera JPEG is cut in its headers, as a card pulled out early leaves it: inside its
# EXIF (APP1) segment, near its start, its middle and its end; and at 64 KB of a JPEG whose
# headers are longer than that (maker notes, an ICC profile, an MPF index), so no image data.
HEADER_CUT_PLACES = ("EXIF start", "EXIF middle", "EXIF end", "64 KB")
LONG_HEADERS = 70_000  # bytes of APP2 put after the EXIF for the 64 KB cut
DEEP_LEVELS = 60
# Names a scan must record exactly as they are (ext4 takes any byte but "/" and NUL).
HOSTILE_NAMES = (
    "line\nbreak.JPG",
    "carriage\rreturn.JPG",
    "tab\there.JPG",
    "-rf.JPG",
    "--help.JPG",
    "$(touch pwned).JPG",
    "`touch pwned`.JPG",
    "; touch pwned;.JPG",
    "%s%n%x.JPG",
    "*?[glob].JPG",
    "back\\slash.JPG",
    " leading space.JPG",
    "trailing space.JPG ",
    "e\u0301 decomposed.JPG",
    "\U0001f4f7 camera.JPG",
    "a" * 251 + ".JPG",  # 255 bytes: the longest name ext4 takes
    "\u00e9" * 125 + "x.JPG",  # 255 bytes in two-byte characters
)
# Names that are not UTF-8: a catalogue of text cannot hold them, so they are reported.
UNSTORABLE_NAMES = (b"\xff\xfe.jpg", b"latin1-caf\xe9.JPG", b"cut-\xe2\x82.NEF")
UNSTORABLE_FOLDER = b"folder-\xfe"

NOT_A_PHOTO = "not a photo: unknown content"
# Photos none of whose files is a picture (by content): what triage showed for junk RAWs.
PHOTOS_WITHOUT_A_PICTURE = (
    "SELECT count(*) FROM photo p WHERE NOT EXISTS (SELECT 1 FROM file f WHERE f.photo_id = p.id"
    " AND f.format IS NOT NULL AND f.format NOT IN ('html', 'empty', 'unknown', 'unreadable',"
    " 'xmp'))"
)


# --- running things that might hang ----------------------------------------------------------


def finishes(what: str, work: Callable[[], T], seconds: float, catalogue: Catalogue) -> T:
    """``work()`` on a thread of its own, with its own catalogue connection: its result, or a
    test failure naming what hung (a FIFO opened for reading, a symlink loop followed) instead
    of a test run that never ends."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = work()
        except BaseException as error:
            outcome["error"] = error
        finally:
            catalogue.close()  # this thread's connection (peewee keeps one per thread)

    thread = threading.Thread(target=run, name=f"faults: {what}", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"{what} did not finish within {seconds:.0f} s: it hangs", pytrace=False)
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]  # type: ignore[return-value]


def release_fifo(path: Path) -> None:
    """Let a reader stuck opening the FIFO at ``path`` go on (it then reads an empty stream)."""
    with contextlib.suppress(OSError):  # ENXIO: no reader waiting on it
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


# --- building the corpus -----------------------------------------------------------------------


@dataclass
class Corpus:
    """What was put in the library, by what it is meant to show (paths relative to it)."""

    library: Path
    camera: list[str] = field(default_factory=list)
    cut: dict[str, tuple[str, int]] = field(default_factory=dict)  # path: (source, offset)
    noise: list[str] = field(default_factory=list)
    ifds: list[str] = field(default_factory=list)
    sparse: str = ""
    names: list[str] = field(default_factory=list)
    unstorable: list[bytes] = field(default_factory=list)  # reported instead of recorded
    deep: str = ""
    special: list[str] = field(default_factory=list)  # no regular files: never records
    real_beside_special: str = ""
    junk: list[str] = field(default_factory=list)  # random bytes named like RAWs
    # (camera sample, place) -> (path, size, the segment it ends inside)
    header_cuts: dict[tuple[str, str], tuple[str, int, str]] = field(default_factory=dict)
    real_beside_junk: list[str] = field(default_factory=list)  # pictures among them


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def cut_offsets(size: int) -> list[int]:
    """20 places to cut a file: inside its first headers, then spread over the whole file."""
    offsets = sorted(
        {0, 1, 2, 3, 4, 8, 12, 16, 100, 512, 4096, *(size * k // 10 for k in range(1, 10))}
    )
    assert len(offsets) == 20 and offsets[-1] < size, (size, offsets)
    return offsets


def _camera_samples() -> list[Path]:
    """The repo's camera samples, and the whole shared set when it is beside the checkout."""
    samples = {p.name: p for p in REPO_CAMERA.iterdir() if p.name != "MANIFEST.md"}
    if SHARED_CAMERA.is_dir():
        for path in SHARED_CAMERA.iterdir():
            if path.name != "MANIFEST.md":
                samples.setdefault(path.name, path)
    return [samples[name] for name in sorted(samples)]


def _tiff(entries: list[tuple[int, int, int, int]], next_ifd: int) -> bytes:
    """A little-endian TIFF whose IFD0 (at 8) holds ``entries`` (tag, type, count, value)."""
    ifd = struct.pack("<H", len(entries))
    ifd += b"".join(struct.pack("<HHII", *entry) for entry in entries)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", next_ifd)


def _with_exif(jpeg: bytes, tiff: bytes) -> bytes:
    """``jpeg`` with an APP1 EXIF segment holding ``tiff`` (cut to what a segment can hold)."""
    payload = (b"Exif\x00\x00" + tiff)[: 0xFFFF - 2]
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def _without_app_segments(jpeg: bytes) -> bytes:
    """The JPEG with its APPn segments (EXIF, its thumbnail, maker data) left out."""
    position, kept = 2, [jpeg[:2]]
    while jpeg[position + 1] != 0xDA:  # up to the start of scan
        (length,) = struct.unpack_from(">H", jpeg, position + 2)
        if not 0xE0 <= jpeg[position + 1] <= 0xEF:
            kept.append(jpeg[position : position + 2 + length])
        position += 2 + length
    return b"".join(kept) + jpeg[position:]


def _image_data_start(jpeg: bytes) -> int:
    """Where a JPEG's entropy-coded data starts: after its segments and start-of-scan header."""
    position = 2
    while True:
        (length,) = struct.unpack_from(">H", jpeg, position + 2)
        if jpeg[position + 1] == 0xDA:
            return position + 2 + length
        position += 2 + length


def _exif_segment(jpeg: bytes) -> tuple[int, int] | None:
    """(start, end) of a JPEG's EXIF (APP1) segment, when it has one before its image data."""
    position = 2
    while position + 4 <= len(jpeg) and jpeg[position] == 0xFF and jpeg[position + 1] != 0xDA:
        (length,) = struct.unpack_from(">H", jpeg, position + 2)
        if jpeg[position + 1] == 0xE1 and jpeg[position + 4 : position + 10] == b"Exif\x00\x00":
            return position, position + 2 + length
        position += 2 + length
    return None


def _camera_jpegs() -> list[str]:
    """The repo's camera samples that are JPEGs (whatever their names) with an EXIF segment."""
    return sorted(
        path.name
        for path in REPO_CAMERA.iterdir()
        if path.read_bytes()[:3] == b"\xff\xd8\xff" and _exif_segment(path.read_bytes())
    )


CAMERA_JPEGS = _camera_jpegs()


def header_cut(jpeg: bytes, place: str) -> tuple[bytes, str]:
    """The JPEG cut at ``place`` (one of HEADER_CUT_PLACES), and the segment it ends inside."""
    start, end = _exif_segment(jpeg)
    if place == "64 KB":  # APP2 segments after the EXIF, as large cameras and phones write
        filler = b"".join(
            b"\xff\xe2" + struct.pack(">H", 0xFFFF) + bytes(0xFFFD)
            for _ in range(LONG_HEADERS // 0xFFFF + 1)
        )
        return (jpeg[:end] + filler + jpeg[end:])[: 64 * 1024], "APP2 segment"
    offset = {"EXIF start": start + 64, "EXIF middle": (start + end) // 2, "EXIF end": end - 1}
    return jpeg[: offset[place]], "EXIF header"


def add_header_cuts(corpus: Corpus) -> None:
    for name in CAMERA_JPEGS:
        data = (REPO_CAMERA / name).read_bytes()
        for place in HEADER_CUT_PLACES:
            cut, inside = header_cut(data, place)
            rel = f"header-cuts/{Path(name).stem}_{place.replace(' ', '_')}.jpg"
            _write(corpus.library / rel, cut)
            corpus.header_cuts[(name, place)] = (rel, len(cut), inside)


def add_camera_samples(corpus: Corpus) -> None:
    for sample in _camera_samples():
        rel = f"camera/{sample.name}"
        shutil.copyfile(sample, corpus.library / "camera" / sample.name)
        corpus.camera.append(rel)


def add_cut_copies(corpus: Corpus) -> None:
    for name in CUT_SOURCES:
        data = (REPO_CAMERA / name).read_bytes()
        stem, extension = os.path.splitext(name)
        for offset in cut_offsets(len(data)):
            rel = f"cut/{stem}_cut{offset}{extension}"
            _write(corpus.library / rel, data[:offset])
            corpus.cut[rel] = (name, offset)


def add_noise(corpus: Corpus) -> None:
    """Random bytes behind a JPEG's start (and a TIFF's), so they reach the parsers."""
    rng = random.Random(20240601)
    soi = b"\xff\xd8\xff"
    exif_head = b"\xff\xd8\xff\xe1\x10\x00Exif\x00\x00II*\x00\x08\x00\x00\x00"
    sof_head = b"\xff\xd8\xff\xc0\x00\x11\x08\x0b\xb8\x0f\xa0\x03"  # claims 4000 x 3000
    tiny = _without_app_segments((REPO_CAMERA / NAME_PHOTO).read_bytes())
    at = tiny.index(b"\xff\xc0")
    bomb = tiny[: at + 5] + struct.pack(">HH", 65_000, 65_000) + tiny[at + 9 :]
    files = {
        "noise/soi_then_noise.JPG": soi + rng.randbytes(300_000),
        "noise/soi_then_ten_bytes.JPG": soi + rng.randbytes(10),
        "noise/exif_then_noise.JPG": exif_head + rng.randbytes(100_000),
        "noise/frame_header_then_noise.JPG": sof_head + rng.randbytes(100_000),
        "noise/quantisation_then_noise.JPG": soi + b"\xdb\x00\x43" + rng.randbytes(50_000),
        "noise/claims_65000_x_65000.JPG": bomb,
        "noise/tiff_then_noise.NEF": b"II*\x00" + rng.randbytes(200_000),
    }
    for rel, data in files.items():
        _write(corpus.library / rel, data)
        corpus.noise.append(rel)


def add_hostile_ifds(corpus: Corpus) -> None:
    """IFDs that point back at themselves or at each other, and IFDs of 10,000 entries."""
    make = (0x010F, 2, 4, 0x4E494B4F)  # Make, inline
    exif_ifd = 0x8769
    sub_ifds = 0x014A
    second = 8 + 2 + 12 + 4  # where a one-entry IFD0 at 8 ends
    pair = _tiff([(0x0112, 3, 1, 1)], next_ifd=second) + (
        struct.pack("<H", 1) + struct.pack("<HHII", exif_ifd, 4, 1, 8) + struct.pack("<I", 8)
    )
    wide = _tiff([(0x9000 + i % 4000, 3, 1, i) for i in range(10_000)], next_ifd=0)
    photo = _without_app_segments((REPO_CAMERA / "kodak_dc240_1999.jpg").read_bytes())
    files = {
        # IFD0 is its own next IFD, its own EXIF IFD and its own SubIFD.
        "ifds/loop_self.NEF": _tiff([make, (exif_ifd, 4, 1, 8), (sub_ifds, 4, 1, 8)], 8),
        "ifds/loop_pair.NEF": pair + bytes(64),  # IFD0 -> IFD1 -> IFD0
        "ifds/wide_10000_entries.NEF": wide,
        # A whole photo whose EXIF loops or is too wide: the image itself is still there.
        "ifds/loop_in_exif.JPG": _with_exif(photo, pair),
        "ifds/wide_exif.JPG": _with_exif(photo, wide),  # 10,000 entries claimed, ~5,400 held
    }
    for rel, data in files.items():
        _write(corpus.library / rel, data)
        corpus.ifds.append(rel)


def add_sparse_raw(corpus: Corpus) -> None:
    """A 4 GB RAW that is a real RAW's headers and then a hole (costs no disk space)."""
    rel = "big/card_image.ARW"
    path = corpus.library / rel
    _write(path, (REPO_CAMERA / "bad_sony_a7iii_header_only.ARW").read_bytes())
    os.truncate(path, SPARSE_BYTES)
    corpus.sparse = rel


def add_hostile_names(corpus: Corpus) -> None:
    photo = (REPO_CAMERA / NAME_PHOTO).read_bytes()
    for index, name in enumerate(HOSTILE_NAMES):
        rel = f"names/{name}"
        # Bytes after the end of the image make each copy its own photo.
        _write(corpus.library / rel, photo + f"copy {index}".encode())
        corpus.names.append(rel)
    raw_folder = os.fsencode(corpus.library / "names")
    for index, name in enumerate(UNSTORABLE_NAMES):
        with open(os.path.join(raw_folder, name), "wb") as handle:
            handle.write(photo + f"unstorable {index}".encode())
        corpus.unstorable.append(b"names/" + name)
    os.mkdir(os.path.join(raw_folder, UNSTORABLE_FOLDER))
    with open(os.path.join(raw_folder, UNSTORABLE_FOLDER, b"IMG_1.JPG"), "wb") as handle:
        handle.write(photo + b"in a folder whose name is not UTF-8")
    corpus.unstorable.append(b"names/" + UNSTORABLE_FOLDER)
    # A folder named like a photo, holding one.
    _write(corpus.library / "names/folder.JPG/IMG_2.JPG", photo + b"in a folder named .JPG")
    corpus.names.append("names/folder.JPG/IMG_2.JPG")


def add_deep_folders(corpus: Corpus) -> None:
    rel = "/".join(f"d{level:02d}" for level in range(DEEP_LEVELS)) + "/IMG_deep.JPG"
    _write(corpus.library / "deep" / rel, (REPO_CAMERA / "kodak_dc240_1999.jpg").read_bytes())
    corpus.deep = f"deep/{rel}"


def add_special_files(corpus: Corpus) -> None:
    """FIFOs, a socket, a device, symlink loops: a scan must pass over them without opening one."""
    folder = corpus.library / "special"
    _write(folder / "real.JPG", (REPO_CAMERA / "samsung_galaxy_s_orient6_gps.jpg").read_bytes())
    corpus.real_beside_special = "special/real.JPG"
    os.mkfifo(folder / "pipe.JPG")
    os.mkfifo(folder / "pipe.NEF.xmp")
    # A socket's path must be short (108 bytes): bound in a short folder, then moved in.
    with tempfile.TemporaryDirectory(prefix="sw") as short:
        with socket.socket(socket.AF_UNIX) as listening:
            listening.bind(os.path.join(short, "s"))
        os.rename(os.path.join(short, "s"), folder / "socket.JPG")
    # /dev/zero's numbers: opened and read, it never ends. Left out where making devices is
    # not allowed (not root, or no CAP_MKNOD).
    with contextlib.suppress(OSError):
        os.mknod(folder / "zero.NEF", stat.S_IFCHR | 0o644, os.makedev(1, 5))
    links = {
        "loop": ".",  # a folder that contains itself
        "up": "..",
        "ping.JPG": "pong.JPG",  # two links pointing at each other
        "pong.JPG": "ping.JPG",
        "self.NEF": "self.NEF",
        "to_pipe.JPG": "pipe.JPG",
        "dangling.JPG": "nothing-here.JPG",
        "to_real.JPG": "real.JPG",
    }
    for name, target in links.items():
        (folder / name).symlink_to(target)
    corpus.special = sorted(
        f"special/{entry.name}" for entry in os.scandir(folder) if entry.name != "real.JPG"
    )


JUNK_EXTENSIONS = (".raw", ".CR2", ".NEF")


def write_junk_among_photos(
    folder: Path, junk: int, photos: int, twins: int, seed: int
) -> tuple[list[Path], list[Path]]:
    """``junk`` files of random bytes named like RAWs, ``photos`` real JPEGs, and ``twins``
    junk RAWs with a real JPEG of the same name beside them: (junk files, real pictures)."""
    rng = random.Random(seed)
    photo = (REPO_CAMERA / NAME_PHOTO).read_bytes()
    junk_files, real = [], []
    for n in range(junk):
        path = folder / f"f{n:04d}{JUNK_EXTENSIONS[n % 3]}"
        _write(path, rng.randbytes(rng.choice((1, 100, 4096, 30_000))))
        junk_files.append(path)
    for n in range(photos + twins):
        path = folder / f"IMG_{n:04d}.JPG"
        _write(path, photo + f"real {seed} {n}".encode())  # each its own photo
        real.append(path)
        if n >= photos:  # a twin: the camera's RAW beside it turned out to be junk
            twin = path.with_suffix(JUNK_EXTENSIONS[n % 3])
            _write(twin, rng.randbytes(20_000))
            junk_files.append(twin)
    return junk_files, real


def add_junk_named_like_raws(corpus: Corpus) -> None:
    junk, real = write_junk_among_photos(corpus.library / "junk", 240, 12, 6, seed=5)
    corpus.junk = [str(path.relative_to(corpus.library)) for path in junk]
    corpus.real_beside_junk = [str(path.relative_to(corpus.library)) for path in real]


# --- what the catalogue holds afterwards --------------------------------------------------------


@dataclass(frozen=True)
class FileRow:
    rel_path: str
    size: int
    blake3: str | None
    kind: str
    format: str | None
    error: str | None
    role: str | None
    photo: int | None


@dataclass(frozen=True)
class PhotoRow:
    format: str | None
    metadata_read: bool
    metadata_error: str | None
    preview_built: bool
    preview_error: str | None


@dataclass(frozen=True)
class Outcome:
    corpus: Corpus
    first: ReconcileReport
    again: ReconcileReport
    records: list[str]  # the rel_path of every record, as many times as there are records
    files: dict[str, FileRow]
    unreadable: dict[str, str]  # unreadable event path: its reason
    previews: dict[str, PhotoRow]  # file rel_path: its photo
    photos_without_a_picture: int  # photos none of whose files is a picture by its content
    triage: dict[int, str | None]  # the photos of the triage queue ("all"): what marks damaged

    def reason(self, rel_path: str) -> str | None:
        """Why this file gives no photo, or no preview: what the catalogue recorded."""
        row = self.files[rel_path]
        photo = self.previews.get(rel_path)
        return row.error or (photo.preview_error if photo else None)

    def shown(self, rel_path: str) -> bool:
        photo = self.previews.get(rel_path)
        return photo is not None and photo.preview_built


def _snapshot(corpus: Corpus, first: ReconcileReport, again: ReconcileReport) -> Outcome:
    files = {
        f.rel_path: FileRow(
            f.rel_path, f.size, f.blake3, f.kind, f.format, f.error, f.role, f.photo_id
        )
        for f in FileRecord.select()
    }
    photos = {
        p.id: PhotoRow(
            p.format,
            p.metadata_at is not None,
            p.metadata_error,
            p.preview_at is not None,
            p.preview_error,
        )
        for p in Photo.select()
    }
    unreadable = {
        e.path: json.loads(e.payload)["reason"]
        for e in Event.select().where(Event.kind == "unreadable")
    }
    previews = {rel: photos[row.photo] for rel, row in files.items() if row.photo is not None}
    records = [rel for (rel,) in FileRecord.select(FileRecord.rel_path).tuples()]
    db = FileRecord._meta.database
    phantoms = db.execute_sql(PHOTOS_WITHOUT_A_PICTURE).fetchone()[0]
    triage = {photo: photo_card(db, photo).damage for photo, _, _ in triage_queue_entries(db, "1")}
    return Outcome(corpus, first, again, records, files, unreadable, previews, phantoms, triage)


@dataclass
class CorpusFigures:
    """The corpus's row of the Reliability table, filled in by the tests that measure it."""

    figures: Figures = field(default_factory=lambda: Figures("bad-input corpus"))
    fifo_readers: list[str] = field(default_factory=list)  # given a FIFO where a file was
    fifo_readers_returned: list[str] = field(default_factory=list)

    def write(self) -> None:
        if self.fifo_readers:
            self.figures.notes.append(
                f"{len(self.fifo_readers)} readers given a FIFO where a file was: "
                f"{len(self.fifo_readers_returned)} returned"
            )
        if self.figures.files or self.figures.notes:
            self.figures.write()


@pytest.fixture(scope="module")
def corpus_figures() -> Iterator[CorpusFigures]:
    made = CorpusFigures()
    yield made
    made.write()


def count_corpus(outcome: Outcome, figures: Figures) -> None:
    """Files in the corpus, and those with neither a preview nor a recorded reason."""
    corpus = outcome.corpus
    on_disk, unstorable = _regular_files(corpus.library)
    recorded = [rel for rel in outcome.files if rel in on_disk]
    shown = [rel for rel in recorded if outcome.shown(rel)]
    with_reason = [rel for rel in recorded if outcome.reason(rel)]
    unaccounted = [rel for rel in recorded if rel not in shown and rel not in with_reason]
    not_recorded = on_disk - set(outcome.files)

    def reported(path: bytes) -> bool:  # itself, or a folder it is in, reported unreadable
        parts = path.split(b"/")
        return any(
            b"/".join(parts[:n]).decode("utf-8", "backslashreplace") in outcome.unreadable
            for n in range(1, len(parts) + 1)
        )

    unreported = [path for path in unstorable if not reported(path)]
    figures.files = len(on_disk) + len(unstorable) + len(corpus.special)
    figures.missed = len(unaccounted) + len(not_recorded) + len(unreported)
    both = len(set(shown) & set(with_reason))
    names_reported = sum(1 for reason in outcome.unreadable.values() if reason)
    figures.notes += [
        f"{len(recorded)} recorded: {len(shown)} shown ({both} of them with a reason too), "
        f"{len(with_reason) - both} not shown, each with its reason",
        f"{names_reported} names that are not UTF-8 reported with a reason",
        f"{len(corpus.special)} FIFOs, sockets, devices and symlinks passed over",
    ]


@pytest.fixture(scope="module")
def outcome(
    tmp_path_factory: pytest.TempPathFactory, corpus_figures: CorpusFigures
) -> Iterator[Outcome]:
    """The corpus, scanned twice and described once, each step guarded against hanging."""
    figures = corpus_figures.figures
    base = tmp_path_factory.mktemp("faults")
    corpus = Corpus(base / "library")
    (corpus.library / "camera").mkdir(parents=True)
    for add in (
        add_camera_samples,
        add_cut_copies,
        add_noise,
        add_hostile_ifds,
        add_sparse_raw,
        add_hostile_names,
        add_deep_folders,
        add_special_files,
        add_junk_named_like_raws,
        add_header_cuts,
    ):
        add(corpus)
    catalogue = open_catalogue(base / "catalogue" / "catalogue.db")
    media = MediaSync(catalogue.db, MediaSettings(preview_cache=base / "previews"), None)
    try:
        try:
            first = finishes(
                "the first scan of the corpus",
                lambda: scan(catalogue, corpus.library, workers=2),
                HANG_SECONDS,
                catalogue,
            )
            finishes("describing the corpus", media.run_until_idle, HANG_SECONDS, catalogue)
            again = finishes(
                "scanning the corpus again",
                lambda: scan(catalogue, corpus.library, workers=2),
                HANG_SECONDS,
                catalogue,
            )
        except pytest.fail.Exception:  # what ``finishes`` raises for a step that hangs
            figures.stuck += 1
            raise
        except Exception:
            figures.crashes += 1
            raise
        made = _snapshot(corpus, first, again)
        count_corpus(made, figures)
        yield made
    finally:
        catalogue.close()
        release_fifo(corpus.library / "special" / "pipe.JPG")
        release_fifo(corpus.library / "special" / "pipe.NEF.xmp")
        os.truncate(corpus.library / corpus.sparse, 0)  # nothing to page through later


def _regular_files(library: Path) -> tuple[set[str], set[bytes]]:
    """Regular files below ``library`` (symlinks not followed): names that are text, and the
    paths of those that are not UTF-8 (as bytes, relative)."""
    text, unstorable = set(), set()
    top = os.fsencode(library)
    for folder, _dirs, names in os.walk(top):
        for name in names:
            path = os.path.join(folder, name)
            if not stat.S_ISREG(os.lstat(path).st_mode):
                continue
            rel = os.path.relpath(path, top)
            try:
                text.add(rel.decode("utf-8"))
            except UnicodeDecodeError:
                unstorable.add(rel)
    return text, unstorable


# --- the whole corpus ----------------------------------------------------------------------------


def test_the_corpus_is_scanned_without_an_error(outcome):
    report = outcome.first
    assert (report.status, report.error) == ("completed", None)
    assert report.files_added == len(outcome.files)
    assert report.files_unreadable == len(outcome.corpus.unstorable)


def test_every_regular_file_has_exactly_one_record(outcome):
    on_disk, unstorable = _regular_files(outcome.corpus.library)
    assert sorted(outcome.records) == sorted(on_disk)
    # Those whose path is not UTF-8 are the ones reported instead (a folder for its files).
    folder = b"names/" + UNSTORABLE_FOLDER
    assert {p for p in unstorable if not p.startswith(folder + b"/")} == {
        p for p in outcome.corpus.unstorable if p != folder
    }
    assert {p for p in unstorable if p.startswith(folder + b"/")} == {folder + b"/IMG_1.JPG"}


def test_every_file_is_hashed_and_described(outcome):
    for rel, row in outcome.files.items():
        assert row.blake3 is not None, f"{rel}: not hashed ({row.error})"
        assert row.format is not None, f"{rel}: never described"


def test_every_file_gives_a_preview_or_a_reason(outcome):
    for rel in outcome.files:
        assert outcome.shown(rel) or outcome.reason(rel), f"{rel}: no preview and no reason"
    for rel, photo in outcome.previews.items():
        assert photo.metadata_read, f"{rel}: its photo's EXIF was never read"


def test_a_second_scan_finds_nothing_changed(outcome):
    again = outcome.again
    assert (again.status, again.error) == ("completed", None)
    changes = (again.files_added, again.files_updated, again.files_moved, again.files_removed)
    assert changes == (0, 0, 0, 0)
    assert again.files_hashed == 0  # the 4 GB file is not read again either


# --- each part of it -----------------------------------------------------------------------------


def test_damaged_camera_samples_say_why(outcome):
    reasons = {
        "bad_html_named.JPG": "an HTML page, not a photo",
        "bad_zero_bytes.CR2": "an empty file (0 bytes)",
        "bad_sony_a7iii_header_only.ARW": "the file is cut short",
    }
    for name, words in reasons.items():
        assert words in (outcome.reason(f"camera/{name}") or ""), name
    assert all(rel in outcome.files for rel in outcome.corpus.camera)


def _cuts_of(outcome: Outcome, source: str) -> dict[int, str]:
    return {offset: rel for rel, (name, offset) in outcome.corpus.cut.items() if name == source}


def test_every_copy_cut_short_is_recorded_with_a_preview_or_a_reason(outcome):
    for rel, (_source, offset) in outcome.corpus.cut.items():
        row = outcome.files[rel]
        assert row.size == offset, rel
        if offset == 0:
            assert (row.format, row.error) == ("empty", "an empty file (0 bytes)")
        elif offset < 12:  # too short to be anything
            assert not outcome.shown(rel) and outcome.reason(rel), rel
    # A JPEG cut inside its headers has no image data: it says so, thumbnail or not...
    kodak = _cuts_of(outcome, "kodak_dc240_1999.jpg")
    for offset in (16, 100, 512, 4096, 8190):
        assert outcome.reason(kodak[offset]) == (
            f"the JPEG is cut short in its headers (it ends at {offset:,} bytes, inside its EXIF"
            " header) and has no image data: at most its embedded thumbnail can be shown"
        ), offset
    # ...nor a RAW cut before the preview its tags point to.
    dng = _cuts_of(outcome, "nikon_z9_cropped.dng")
    for offset in (4096, 22782, 45564, 68347):
        assert outcome.reason(dng[offset]) == (
            f"the file is cut short: its embedded preview lies beyond its {offset:,} bytes"
        )


def test_a_jpeg_cut_inside_its_image_data_is_shown_and_recorded_as_cut_short(outcome):
    source = "kodak_dc240_1999.jpg"
    data_starts = _image_data_start((REPO_CAMERA / source).read_bytes())  # after 8.4 KB of EXIF
    inside = {
        offset: rel for offset, rel in _cuts_of(outcome, source).items() if offset > data_starts
    }
    assert len(inside) == 8
    for offset, rel in inside.items():
        assert outcome.shown(rel), rel  # as far as its data goes
        assert outcome.reason(rel) == (
            f"the JPEG is cut short or damaged in its image data (it ends at {offset:,} bytes"
            " with no end-of-image marker): shown as far as its data goes"
        )


@pytest.mark.parametrize("place", HEADER_CUT_PLACES)
@pytest.mark.parametrize("source", CAMERA_JPEGS)
def test_a_camera_jpeg_cut_in_its_headers_is_a_damaged_photo_with_the_reason(
    outcome, source, place
):
    """Cut inside its EXIF, or at 64 KB with no image data at all: before, it was recorded as
    a healthy photo whose preview was the cut EXIF thumbnail, with no reason anywhere."""
    rel, size, inside = outcome.corpus.header_cuts[(source, place)]
    row = outcome.files[rel]
    assert (row.size, row.format, row.role) == (size, "jpeg", "original")
    reason = (
        f"the JPEG is cut short in its headers (it ends at {size:,} bytes, inside its {inside})"
        " and has no image data: at most its embedded thumbnail can be shown"
    )
    assert row.error == reason  # recorded with the file, whatever its preview
    assert outcome.triage[row.photo] == reason  # triage marks it damaged and says why


def test_noise_behind_a_jpeg_header_gives_a_reason(outcome):
    for rel in outcome.corpus.noise:
        row = outcome.files[rel]
        assert row.format == ("tiff-raw" if rel.endswith(".NEF") else "jpeg"), rel
        assert not outcome.shown(rel), rel
        assert outcome.reason(rel), rel
    bomb = outcome.reason("noise/claims_65000_x_65000.JPG")
    assert "too many to preview safely" in bomb


def test_looping_and_10000_entry_ifds_end(outcome):
    for rel in ("ifds/loop_self.NEF", "ifds/loop_pair.NEF", "ifds/wide_10000_entries.NEF"):
        assert outcome.files[rel].format == "tiff-raw", rel
        assert "no embedded preview" in outcome.reason(rel), rel
        assert outcome.previews[rel].metadata_read, rel
    # The image of a JPEG whose EXIF loops or is too wide is still there to show.
    for rel in ("ifds/loop_in_exif.JPG", "ifds/wide_exif.JPG"):
        assert outcome.shown(rel), (rel, outcome.reason(rel))


def test_a_4gb_sparse_raw_is_hashed_and_says_it_has_no_preview(outcome):
    rel = outcome.corpus.sparse
    row = outcome.files[rel]
    assert row.size == SPARSE_BYTES and row.blake3 is not None
    assert (row.kind, row.format, row.role) == ("raw", "tiff-raw", "original")
    assert outcome.reason(rel) == "no embedded preview in this ARW"
    assert outcome.previews[rel].metadata_read


def test_hostile_names_are_recorded_as_they_are_and_never_run(outcome):
    for rel in outcome.corpus.names:
        assert rel in outcome.files, repr(rel)
        assert outcome.shown(rel), (rel, outcome.reason(rel))
    assert len({outcome.files[rel].photo for rel in outcome.corpus.names}) == len(
        outcome.corpus.names
    )
    library = outcome.corpus.library
    assert not list(library.rglob("pwned")) and not (Path.cwd() / "pwned").exists()


def test_names_that_are_not_utf8_are_reported_with_a_reason(outcome):
    # Reported with their bytes escaped (\\xff), since the catalogue holds text.
    printable = {path.decode("utf-8", "backslashreplace") for path in outcome.corpus.unstorable}
    assert set(outcome.unreadable) == printable
    for path, reason in outcome.unreadable.items():
        what = "folder name" if path.endswith("folder-\\xfe") else "name"
        assert reason.startswith(f"{what} is not valid UTF-8: rename"), (path, reason)
    assert not [rel for rel in outcome.files if "folder-" in rel]


def test_a_photo_60_folders_down_is_recorded_and_shown(outcome):
    rel = outcome.corpus.deep
    assert rel.count("/") == DEEP_LEVELS + 1
    assert outcome.shown(rel), outcome.reason(rel)


def test_fifos_sockets_devices_and_symlink_loops_are_passed_over(outcome):
    special = outcome.corpus.special
    assert {"special/pipe.JPG", "special/socket.JPG", "special/loop", "special/self.NEF"} <= set(
        special
    )
    recorded = sorted(rel for rel in outcome.files if rel.startswith("special/"))
    assert recorded == [outcome.corpus.real_beside_special]
    assert outcome.shown(outcome.corpus.real_beside_special)
    assert not [rel for rel in outcome.files if rel.startswith(("special/loop/", "special/up/"))]


def test_junk_named_like_raws_makes_no_photo_and_says_why(outcome):
    """Random bytes named .raw / .CR2 / .NEF among real photos: before, each became a photo by
    its name (triage counted 1,564 for 30 real ones) and stayed one, with no picture."""
    corpus = outcome.corpus
    for rel in corpus.junk:
        row = outcome.files[rel]
        assert (row.format, row.photo, row.role) == ("unknown", None, None), rel
        assert outcome.reason(rel) == NOT_A_PHOTO, rel
    photos = {outcome.files[rel].photo for rel in corpus.real_beside_junk}
    assert None not in photos and len(photos) == len(corpus.real_beside_junk)
    for rel in corpus.real_beside_junk:  # a twin's junk RAW leaves the JPEG the original
        assert outcome.files[rel].role == "original", rel
    assert outcome.photos_without_a_picture == 0  # in the whole corpus
    in_queue = {outcome.files[rel].photo for rel in outcome.files if rel.startswith("junk/")}
    assert in_queue - {None} == photos and photos <= outcome.triage.keys()


# --- the same faults where they meet the catalogue in other ways ----------------------------------


@pytest.mark.parametrize("junk", [60, 600])
def test_junk_named_like_raws_through_the_running_engine(tmp_path, junk):
    """The same arriving while the engine runs, described by its media workers in batches: at
    no moment is a junk file a photo, the triage counts are the real photos', every junk file
    has its reason, and ``show`` says it."""
    settings = settings_for(tmp_path)
    settings = dataclasses.replace(
        settings, media=MediaSettings(preview_cache=tmp_path / "previews")
    )
    library = tmp_path / "library"
    library.mkdir()
    add_root(settings, library)
    engine = Engine(settings, with_darktable=False, with_stages=False, with_ingest=False)
    engine.start()
    try:
        wait_until(lambda: engine.states()["watcher"].status == "running")
        junk_files, real = write_junk_among_photos(library / "shoot", junk, 24, 8, seed=junk)
        total = len(junk_files) + len(real)
        db = engine.catalogue.db
        phantoms_seen = 0

        def all_described() -> bool:
            nonlocal phantoms_seen
            phantoms_seen = max(
                phantoms_seen, db.execute_sql(PHOTOS_WITHOUT_A_PICTURE).fetchone()[0]
            )
            recorded, undescribed = db.execute_sql(
                "SELECT count(*), count(*) FILTER (WHERE format IS NULL) FROM file"
            ).fetchone()
            return recorded == total and undescribed == 0

        wait_until(all_described, timeout=120)
        assert phantoms_seen == 0  # not even for a moment
        queue = Queue(db, "all")
        assert len(queue.photo_ids) == len(real) == Photo.select().count()
        assert queue.counts() == Counts(pending=len(real), approved=0, rejected=0)
        junk_rows = {f.rel_path: f for f in FileRecord.select() if f.format == "unknown"}
        assert sorted(junk_rows) == sorted(str(p.relative_to(library)) for p in junk_files)
        assert {(f.photo_id, f.error) for f in junk_rows.values()} == {(None, NOT_A_PHOTO)}
        shown = subprocess.run(
            [sys.executable, "-m", "core.cli", "--db", str(settings.catalogue), "show", "--json",
             str(junk_files[0])],
            cwd=REPO, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        said = json.loads(shown.stdout)
        assert (said["file"]["error"], said["photo"]) == (NOT_A_PHOTO, None)
    finally:
        engine.stop()


@pytest.mark.parametrize("how", ["shootwatch scan", "an engine started afterwards"])
def test_a_file_whose_content_changed_with_no_engine_running_is_looked_at_again(tmp_path, how):
    """A JPEG overwritten with junk, and another with a copy cut in its headers, while no
    engine ran: the next scan (or the engine's start) looks at their content again. Before,
    only files never looked at were, so both stayed healthy photos with no reason."""
    settings = settings_for(tmp_path)
    settings = dataclasses.replace(settings, media=MediaSettings(preview_cache=tmp_path / "p"))
    library = tmp_path / "library"
    photo = (REPO_CAMERA / "kodak_dc240_1999.jpg").read_bytes()
    _write(library / "JUNK.JPG", photo + b"one")
    _write(library / "CUT.JPG", photo + b"two")
    _write(library / "WHOLE.JPG", photo + b"three")
    add_root(settings, library)
    cli = [sys.executable, "-m", "core.cli", "--db", str(settings.catalogue)]
    first = subprocess.run([*cli, "scan"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    (library / "JUNK.JPG").write_bytes(random.Random(1).randbytes(20_000))
    (library / "CUT.JPG").write_bytes(photo[:4000])
    for name in ("JUNK.JPG", "CUT.JPG"):
        os.utime(library / name, (1.8e9, 1.8e9))

    def looked_at_again() -> dict[str, tuple]:
        rows = sqlite3.connect(settings.catalogue).execute(
            "SELECT rel_path, format, photo_id, error FROM file"
        )
        files = {rel: (file_format, photo, error) for rel, file_format, photo, error in rows}
        return files if files["JUNK.JPG"][0] == "unknown" and files["CUT.JPG"][2] else {}

    if how == "shootwatch scan":
        again = subprocess.run([*cli, "scan"], cwd=REPO, capture_output=True, text=True,
                               timeout=120)  # fmt: skip
        assert again.returncode in (0, 1), again.stderr
        files = looked_at_again()
    else:
        engine = Engine(settings, with_darktable=False, with_stages=False, with_ingest=False)
        engine.start()
        try:
            files = wait_until(looked_at_again, timeout=30)
        finally:
            engine.stop()
    assert files["JUNK.JPG"] == ("unknown", None, NOT_A_PHOTO)
    assert files["CUT.JPG"][2].startswith("the JPEG is cut short in its headers")
    assert files["WHOLE.JPG"][2] is None and files["WHOLE.JPG"][1] is not None


def test_photos_an_earlier_version_made_of_junk_are_cleared_at_start(catalogue, library, tmp_path):
    """A catalogue from before: photos made of junk by its name, left with no file once the
    content said "unknown". The next start clears those nobody touched, and keeps the one a
    person decided about."""
    junk, real = write_junk_among_photos(library, 30, 2, 0, seed=3)
    scan(catalogue, library, workers=1)
    MediaSync(
        catalogue.db, MediaSettings(preview_cache=tmp_path / "previews"), None
    ).run_until_idle()
    assert Photo.select().count() == len(real)
    for path in junk:  # as the earlier grouping by name left them
        Photo.create(blake3=FileRecord.get(FileRecord.rel_path == path.name).blake3,
                     created_at=0)  # fmt: skip
    decided = Photo.get(Photo.blake3 == FileRecord.get(FileRecord.rel_path == junk[0].name).blake3)
    Triage(catalogue.db, source="cli").decide(decided.id, "rejected")

    MediaSync(catalogue.db, MediaSettings(preview_cache=tmp_path / "previews")).follow_file_events()
    assert Photo.select().count() == len(real) + 1
    assert Photo.get_by_id(decided.id).decision == "rejected"


def test_a_photo_whose_raw_turns_out_junk_keeps_its_decisions(catalogue, library, tmp_path):
    """A RAW overwritten with junk: with a JPEG twin, the photo goes on through the twin with
    its decisions; alone, a photo someone decided about is kept (with no file, out of the
    triage queue) and one nobody touched is gone."""
    shoot = library / "shoot"
    raw = (REPO_CAMERA / "nikon_d7100_truncated.NEF").read_bytes()
    for name in ("PAIR.NEF", "DECIDED.NEF", "UNTOUCHED.NEF"):
        _write(shoot / name, raw + name.encode())
    _write(shoot / "PAIR.JPG", (REPO_CAMERA / NAME_PHOTO).read_bytes())
    media = MediaSync(catalogue.db, MediaSettings(preview_cache=tmp_path / "previews"), None)
    media.follow_file_events()  # from now on it follows what scans record
    scan(catalogue, library, workers=1)
    media.run_until_idle()
    photo = {f.rel_path: f.photo_id for f in FileRecord.select()}
    triage = Triage(catalogue.db, source="cli")
    triage.decide(photo["shoot/PAIR.NEF"], "approved")
    triage.rate(photo["shoot/PAIR.NEF"], 4)
    triage.decide(photo["shoot/DECIDED.NEF"], "rejected")
    rng = random.Random(7)
    for name in ("PAIR.NEF", "DECIDED.NEF", "UNTOUCHED.NEF"):
        (shoot / name).write_bytes(rng.randbytes(50_000))
        os.utime(shoot / name, (1.8e9, 1.8e9))
    scan(catalogue, library, workers=1)
    media.run_until_idle()

    files = {f.rel_path: f for f in FileRecord.select()}
    for name in ("PAIR.NEF", "DECIDED.NEF", "UNTOUCHED.NEF"):
        assert (files[f"shoot/{name}"].photo_id, files[f"shoot/{name}"].error) == (
            None, NOT_A_PHOTO
        ), name  # fmt: skip
    pair = Photo.get_by_id(photo["shoot/PAIR.NEF"])  # the same photo, now the JPEG's
    assert (files["shoot/PAIR.JPG"].photo_id, files["shoot/PAIR.JPG"].role) == (pair.id, "original")
    assert (pair.decision, pair.rating, pair.blake3) == (
        "approved",
        4,
        files["shoot/PAIR.JPG"].blake3,
    )
    decided = Photo.get_by_id(photo["shoot/DECIDED.NEF"])
    assert decided.decision == "rejected"  # kept, decisions and all
    assert Photo.get_or_none(Photo.id == photo["shoot/UNTOUCHED.NEF"]) is None
    assert [p for p, _, _ in triage_queue_entries(catalogue.db, "1")] == [pair.id]


def _socket_at(path: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="sw") as short:
        with socket.socket(socket.AF_UNIX) as listening:
            listening.bind(os.path.join(short, "s"))
        os.rename(os.path.join(short, "s"), path)


def test_a_photo_replaced_by_a_fifo_after_the_scan_gets_a_reason_not_a_hang(
    catalogue, library, tmp_path
):
    photo = (REPO_CAMERA / "kodak_dc240_1999.jpg").read_bytes()
    for name in ("IMG_1.JPG", "IMG_2.JPG", "IMG_3.JPG"):
        _write(library / name, photo + name.encode())
    scan(catalogue, library, workers=1)
    # Described by the media workers from their paths, as a file is whose description the
    # scan could not make while hashing it (or a catalogue's from before it did).
    catalogue.db.execute_sql("UPDATE file SET description = NULL")
    # Between the scan and the media workers, two of them became a FIFO and a socket (a
    # tethering script streaming into a named pipe, say): reading either must not block.
    (library / "IMG_1.JPG").unlink()
    os.mkfifo(library / "IMG_1.JPG")
    (library / "IMG_2.JPG").unlink()
    _socket_at(library / "IMG_2.JPG")
    media = MediaSync(catalogue.db, MediaSettings(preview_cache=tmp_path / "previews"), None)
    try:
        finishes("describing photos that became a FIFO and a socket", media.run_until_idle,
                 60, catalogue)  # fmt: skip
    finally:
        release_fifo(library / "IMG_1.JPG")

    described = {f.rel_path: f for f in FileRecord.select()}
    fifo, sock = described["IMG_1.JPG"], described["IMG_2.JPG"]
    assert (fifo.format, fifo.photo_id) == ("unreadable", None)
    assert fifo.error == "cannot be read: not a regular file (a FIFO, socket or device)"
    assert (sock.format, sock.photo_id) == ("unreadable", None)
    assert sock.error.startswith("cannot be read: ")
    assert Photo.get_by_id(described["IMG_3.JPG"].photo_id).preview_at is not None
    # The next scan sees they are no files any more.
    assert scan(catalogue, library, workers=1).files_removed == 2
    assert [f.rel_path for f in FileRecord.select()] == ["IMG_3.JPG"]


# Lengths added to the temporary folder's path: the deep tree below must reach past PATH_MAX
# whatever the path it starts from (a CI runner's, a laptop's, a long home folder's).
BASE_PADDING = (1, 50, 100, 150, 200, 250)


@pytest.mark.parametrize("padding", BASE_PADDING)
def test_paths_longer_than_path_max_are_reported_not_crashed(catalogue, tmp_path, padding):
    library = tmp_path / ("b" * padding)
    library.mkdir()
    path_max = os.pathconf(library, "PC_PATH_MAX")
    _write(library / "top.JPG", (REPO_CAMERA / "kodak_dc240_1999.jpg").read_bytes())
    # Folders of 200-byte names, then one whose name brings its path to a few bytes short of
    # PATH_MAX: that folder can still be opened by its path, a 200-byte name in it cannot...
    deepest = path_max - 4
    level_name = "{:02d}".format
    parts: list[str] = []
    fd = os.open(library, os.O_RDONLY | os.O_DIRECTORY)
    try:
        while True:
            left = deepest - len(os.fsencode(f"{library}/{'/'.join(parts)}".rstrip("/"))) - 1
            length = 200 if left > 255 else left  # a name is at most 255 bytes
            assert length >= 3, f"{library} is too long a path to build below it"
            name = level_name(len(parts)) + "x" * (length - 2)
            os.mkdir(name, dir_fd=fd)
            inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd, parts = inner, [*parts, name]
            if length == left:
                break
        long_file = "f" * 196 + ".JPG"
        with open(os.open(long_file, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "wb") as out:
            out.write((REPO_CAMERA / NAME_PHOTO).read_bytes())
        # ...nor a folder below it.
        os.mkdir("beyond", dir_fd=fd)
        inner = os.open("beyond", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        with open(os.open("IMG.JPG", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=inner), "wb") as out:
            out.write(b"never reached")
        os.close(inner)
    finally:
        os.close(fd)
    deep = "/".join(parts)
    assert len(os.fsencode(f"{library}/{deep}")) == deepest < path_max
    assert len(os.fsencode(f"{library}/{deep}/beyond")) >= path_max
    assert len(os.fsencode(f"{library}/{deep}/{long_file}")) > path_max

    report = finishes("scanning paths longer than PATH_MAX",
                      lambda: scan(catalogue, library, workers=1), 60, catalogue)  # fmt: skip
    media = MediaSync(catalogue.db, MediaSettings(preview_cache=tmp_path / "previews"), None)
    finishes("describing paths longer than PATH_MAX", media.run_until_idle, 60, catalogue)

    assert report.status == "partial"
    assert report.error == (
        f"1 folder(s) could not be read, so nothing was removed: {deep}/beyond: File name too long"
    )
    unreadable = [json.loads(e.payload) for e in Event.select().where(Event.kind == "unreadable")]
    assert unreadable == [{"reason": "File name too long"}]
    records = {f.rel_path: f for f in FileRecord.select()}
    assert sorted(records) == sorted(["top.JPG", f"{deep}/{long_file}"])
    too_long = records[f"{deep}/{long_file}"]
    assert too_long.blake3 is not None  # hashed through its folder, by its own short name
    # ...and described from the bytes hashed; what reads it by its path later says why not.
    assert (too_long.format, too_long.error) == ("jpeg", None)
    preview_error = Photo.get_by_id(too_long.photo_id).preview_error
    assert preview_error == "the file cannot be read: File name too long"
    assert Photo.get_by_id(records["top.JPG"].photo_id).preview_at is not None


def _reads_of_a_fifo() -> dict[str, Callable[[Path], object]]:
    """Every reader of a photo, sidecar or library file, each told the file is what its name
    says: what each returns or raises when a FIFO sits there instead."""
    from core.darktable.library import change_stamp
    from core.darktable.sidecar import read_sidecar
    from core.media.metadata import read_capture_clock, read_metadata
    from core.media.preview import orientation_of, render_preview
    from core.media.sniff import Sniffed, sniff
    from core.scan.hashing import hash_file
    from core.stages.images import blurhash_of
    from core.triage.sidecar_write import Marks, write_marks
    from tui.frames import open_drafted

    said_jpeg = Sniffed("jpeg", "jpeg")  # as the catalogue recorded it, before it became a FIFO
    return {
        "sniff": lambda path: sniff(path).reason,
        "hash": lambda path: hash_file(str(path)).error,
        "preview of a JPEG": lambda path: render_preview(path, "jpeg", 1),
        "preview of a RAW": lambda path: render_preview(path, "tiff-raw", 1),
        "preview through Pillow": lambda path: render_preview(path, "png", 1),
        "orientation": lambda path: orientation_of(path, "png"),
        "EXIF": lambda path: read_metadata(path, said_jpeg).error,
        "capture clock": lambda path: read_capture_clock(path, said_jpeg).error,
        "sidecar": read_sidecar,
        "sidecar write-back": lambda path: write_marks(path, Marks(rating=3)),
        "darktable's change counter": change_stamp,
        "blurhash": blurhash_of,
        "triage frame": lambda path: open_drafted(str(path), (80, 48)),
    }


@pytest.mark.parametrize("reader", sorted(_reads_of_a_fifo()))
def test_no_reader_waits_on_a_fifo_where_a_file_was(reader, catalogue, tmp_path, corpus_figures):
    fifo = tmp_path / "IMG_0001.JPG"
    os.mkfifo(fifo)
    read = _reads_of_a_fifo()[reader]
    corpus_figures.fifo_readers.append(reader)
    try:
        result = finishes(f"{reader} of a FIFO", lambda: _outcome(read, fifo), 10, catalogue)
    finally:
        release_fifo(fifo)
    corpus_figures.fifo_readers_returned.append(reader)
    # Each says why in its own way (a reason, an error, nothing for a hint), never hangs.
    if reader in ("orientation", "darktable's change counter"):
        assert result is None
    else:
        assert "not a regular file (a FIFO, socket or device)" in str(result), result


def _outcome(read: Callable[[Path], object], path: Path) -> object:
    try:
        return read(path)
    except Exception as error:  # the reader's own error type, with the reason in it
        return error
