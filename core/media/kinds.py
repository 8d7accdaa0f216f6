"""File kinds (raw, jpeg, heif, video, xmp, other) from the file name.

The catalogue records a kind for every file as it is scanned; this is the fast first answer from
the extension, which content sniffing refines for files that lie about their type.
"""

from __future__ import annotations

FILE_KINDS = ("raw", "jpeg", "heif", "video", "xmp", "other")
RAW_EXTENSIONS = frozenset(
    (
        ".3fr",
        ".ari",
        ".arw",
        ".bay",
        ".cr2",
        ".cr3",
        ".crw",
        ".dcr",
        ".dng",
        ".erf",
        ".fff",
        ".gpr",
        ".iiq",
        ".k25",
        ".kdc",
        ".mef",
        ".mos",
        ".mrw",
        ".nef",
        ".nrw",
        ".orf",
        ".pef",
        ".raf",
        ".raw",
        ".rw2",
        ".rwl",
        ".sr2",
        ".srf",
        ".srw",
        ".x3f",
    )
)
KIND_BY_EXTENSION = {
    **dict.fromkeys(RAW_EXTENSIONS, "raw"),
    **dict.fromkeys((".jpg", ".jpeg", ".jpe"), "jpeg"),
    **dict.fromkeys((".heic", ".heif", ".hif", ".avif"), "heif"),
    **dict.fromkeys((".mp4", ".mov", ".m4v", ".avi", ".mts", ".m2ts", ".mkv", ".3gp"), "video"),
    ".xmp": "xmp",
}


def kind_from_name(name: str) -> str:
    # rfind rather than os.path.splitext: this runs for every file a scan hashes.
    dot = name.rfind(".")
    return KIND_BY_EXTENSION.get(name[dot:].lower(), "other") if dot > 0 else "other"
