"""darktable's facts, in one place: what its numbers mean, as darktable 4.2 itself writes them.

Every other module asks here: how stars and rejects are packed in ``flags``, darktable's own rule
for "altered", its timestamp unit, its colour-label numbers, which tags are its own, and how a
duplicate's sidecar is named.
"""

from __future__ import annotations

import os
import re

# Timestamps are microseconds since 0001-01-01 UTC; this many seconds lie between then and 1970.
EPOCH_OFFSET_SECONDS = 62_135_596_800
STAR_BITS = 0x7
REJECTED_BIT = 0x8
LEGACY_REJECT_STARS = 6  # what darktable's Lua API (rating = -1) still writes into the star bits
LABEL_NAMES = ("red", "yellow", "green", "blue", "purple")  # color_labels.color 0..4
INTERNAL_TAG_PREFIX = "darktable|"  # darktable|changed, darktable|exported, darktable|format|…
DEFAULT_IMPORT_STARS = 1  # new imports get one star: one star alone is not a rating by hand
# darktable keeps no WAL and no busy timeout: a read while it writes costs it the write. The
# shortest quiet window after its last write, and the fastest poll, that the live session test
# (tests/integration/test_darktable_live.py, the real darktable 4.2 driven by Lua) shows lose
# nothing and make darktable log no failed statement; the settings refuse anything below.
SAFE_QUIET_SECONDS = 0.3
MIN_POLL_SECONDS = 1.0


def unix_time(timestamp: int | None) -> float | None:
    """darktable's microseconds since 0001-01-01 as unix seconds; -1, 0 and NULL mean never."""
    if timestamp is None or timestamp <= 0:
        return None
    return timestamp / 1_000_000 - EPOCH_OFFSET_SECONDS


def darktable_time(unix: float) -> int:
    """Unix seconds as darktable's timestamp (for tests and fixtures)."""
    return round((unix + EPOCH_OFFSET_SECONDS) * 1_000_000)


def wall_clock(timestamp: int | None) -> str | None:
    """``datetime_taken``: the camera's wall clock stored as if UTC, as "YYYY-MM-DD HH:MM:SS"."""
    unix = unix_time(timestamp)
    if unix is None:
        return None
    from datetime import UTC, datetime  # loaded when asked: the settings load this module

    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%d %H:%M:%S")


def stars(flags: int) -> int:
    """Stars 0–5; the legacy reject value 6 counts as no stars."""
    value = flags & STAR_BITS
    return 0 if value > 5 else value


def is_rejected(flags: int) -> bool:
    """Rejected by the reject bit (the ``r`` key keeps the stars under it) or the legacy value."""
    return bool(flags & REJECTED_BIT) or flags & STAR_BITS == LEGACY_REJECT_STARS


def is_altered(basic: bytes | None, auto: bytes | None, current: bytes | None) -> bool:
    """darktable's "altered" rule for a history_hash row (no row: not altered).

    The same CASE darktable evaluates in SQL, NULLs included: equal to the basic hash is basic,
    equal to the auto hash is auto, different from both (or they are NULL) is altered.
    """
    if current is not None and current == basic:
        return False
    if current is not None and current == auto:
        return False
    differs_from_basic = basic is None or (None if current is None else current != basic)
    differs_from_auto = auto is None or (None if current is None else current != auto)
    return bool(differs_from_basic) and bool(differs_from_auto)


# The same rule in SQL over history_hash aliased h, for reading many images at once.
ALTERED_SQL = (
    "CASE WHEN h.imgid IS NULL THEN 0"
    " WHEN h.basic_hash = h.current_hash THEN 0"
    " WHEN h.auto_hash = h.current_hash THEN 0"
    " WHEN (h.basic_hash IS NULL OR h.current_hash != h.basic_hash)"
    " AND (h.auto_hash IS NULL OR h.current_hash != h.auto_hash) THEN 1"
    " ELSE 0 END"
)


def label_bits(colors: list[int] | tuple[int, ...]) -> int:
    """darktable's colour numbers as the catalogue's label bits (red 1, yellow 2, … purple 16)."""
    bits = 0
    for color in colors:
        if 0 <= color < len(LABEL_NAMES):
            bits |= 1 << color
    return bits


def label_names(bits: int) -> list[str]:
    return [name for index, name in enumerate(LABEL_NAMES) if bits & (1 << index)]


def unknown_tag(tag_id: int) -> str:
    """What a tag is called while its name (in data.db) is not known: ``#16``."""
    return f"#{tag_id}"


def is_unknown_tag(name: str) -> bool:
    return name.startswith("#") and name[1:].isdigit()


def is_internal_tag(name: str) -> bool:
    return name.startswith(INTERNAL_TAG_PREFIX)


def split_tags(names: list[str]) -> tuple[list[str], list[str]]:
    """(the photographer's tags, darktable's own tags), each sorted."""
    user = sorted(name for name in names if not is_internal_tag(name))
    internal = sorted(name for name in names if is_internal_tag(name))
    return user, internal


def sidecar_name(filename: str, version: int) -> str:
    """``IMG_0003.JPG`` version 0 → ``IMG_0003.JPG.xmp``; version 1 → ``IMG_0003_01.JPG.xmp``."""
    if version <= 0:
        return f"{filename}.xmp"
    stem, extension = os.path.splitext(filename)
    return f"{stem}_{version:02d}{extension}.xmp"


_NUMBERED = re.compile(r"^(?P<stem>.+)_\d{2,}$")


def export_stems(filename: str) -> list[str]:
    """The lower-case stems of the images an exported file can come from, the plainer first.

    darktable's disk export names a file after its image (``$(FILE_NAME)``, no extension) and,
    when that name is taken, adds ``_01``, ``_02``, … (``_%.2d``: ``_100`` after ``_99``) rather
    than overwrite: ``IMG_0001_02.jpg`` is the third export of ``IMG_0001``.
    """
    stem = os.path.splitext(filename)[0].lower()
    match = _NUMBERED.match(stem)
    return [stem, match["stem"]] if match else [stem]


def sidecar_has_photo(name: str, names: set[str]) -> bool:
    """Whether the photo of the sidecar ``name`` is among the file ``names`` of its folder:
    darktable's ``IMG_0001.CR2.xmp`` (``IMG_0001_01.CR2.xmp`` for a duplicate) names its photo
    whole; the Adobe style ``IMG_0001.xmp`` (Lightroom, digiKam, …) names only its stem."""
    image = name[:-4]
    if not os.path.splitext(image)[1]:
        return any(
            other != name and os.path.splitext(other)[0] == image and not other.endswith(".xmp")
            for other in names
        )
    return any(filename in names for filename, _ in sidecar_images(name))


_DUPLICATE = re.compile(r"^(?P<stem>.+)_(?P<version>\d{2,})(?P<extension>\.[^.]+)$")


def sidecar_images(name: str) -> list[tuple[str, int]]:
    """The (filename, version) pairs a sidecar name can belong to, the plainer reading first.

    ``IMG_01.JPG.xmp`` is either ``IMG_01.JPG`` itself or version 1 of ``IMG.JPG``: the caller
    picks the one darktable has.
    """
    if not name.lower().endswith(".xmp"):
        return []
    image = name[:-4]
    readings = [(image, 0)]
    match = _DUPLICATE.match(image)
    if match:
        readings.append((match["stem"] + match["extension"], int(match["version"])))
    return readings
