"""The XMP inside a JPEG is found by reading the segment headers, not the segments: a photo's
existing marks are read on the catalogue's writer thread when it is first described, and a
camera JPEG's EXIF (with its thumbnail) and other segments before the XMP are tens of KB."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.darktable.sidecar import embedded_xmp

SAMPLE = Path(__file__).parents[1] / "fixtures" / "camera" / "sony_slt-a58_small.jpg"
XMP = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF'
    ' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description'
    ' xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="4"/></rdf:RDF></x:xmpmeta>'
)
BIG_SEGMENT = 60_000


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + (len(payload) + 2).to_bytes(2, "big") + payload


def _jpeg(tmp_path: Path, with_xmp: bool) -> Path:
    """The sample with, after its start, an EXIF-like APP1 and two comment segments of 60 KB
    each (a camera's EXIF and maker segments), then the XMP packet when ``with_xmp``."""
    jpeg = SAMPLE.read_bytes()
    before = _segment(0xE1, b"Exif\0\0" + bytes(BIG_SEGMENT))
    before += _segment(0xFE, bytes(BIG_SEGMENT)) + _segment(0xED, bytes(BIG_SEGMENT))
    if with_xmp:
        before += _segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + XMP.encode())
    path = tmp_path / "IMG_1.JPG"
    path.write_bytes(jpeg[:2] + before + jpeg[2:])
    return path


def _bytes_read() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux's /proc/self/io")
@pytest.mark.parametrize("with_xmp", [True, False])
def test_the_segments_before_the_xmp_are_passed_over_unread(tmp_path, with_xmp):
    path = _jpeg(tmp_path, with_xmp)
    before = _bytes_read()
    found = embedded_xmp(path)
    read = _bytes_read() - before
    if with_xmp:
        assert found is not None and found.rating == 4
    else:
        assert found is None
    # The three big segments are 180 KB; their headers and the XMP are a few KB (reads go
    # through an 8 KB buffer).
    assert read < BIG_SEGMENT, f"{read:,} bytes read"


@pytest.mark.parametrize("cut", [3, 7, 40, 60_010, 120_020])
def test_a_jpeg_cut_short_in_its_segments_has_no_xmp(tmp_path, cut):
    path = _jpeg(tmp_path, with_xmp=True)
    path.write_bytes(path.read_bytes()[:cut])
    assert embedded_xmp(path) is None
