"""Which files make one photo: the original, its RAW+JPEG twin, its sidecars (darktable's
``IMG_1.CR2.xmp`` and the duplicates' ``IMG_1_01.CR2.xmp``) and its exports in a subfolder.

Pure: from the names and kinds in one folder (and its direct subfolders) to groups. The
catalogue side (Photo rows, identity by blake3) is in ``core.media.photos``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from core.darktable.facts import sidecar_images

PHOTO_KINDS = ("raw", "heif", "jpeg", "video")  # the original is the first kind present
_VERSION_SUFFIX = re.compile(r"_\d{2,}$")  # IMG_1_01: darktable's duplicate, or an export's


@dataclass
class Group:
    original: str  # name of the original in the folder
    members: dict[str, str] = field(default_factory=dict)  # rel name -> role

    def add(self, name: str, role: str) -> None:
        self.members.setdefault(name, role)


def stem(name: str) -> str:
    """``IMG_1.CR2`` and ``IMG_1.CR2.xmp`` → ``img_1`` (up to the first dot, any case)."""
    return name.split(".", 1)[0].lower()


def unversioned(key: str) -> str:
    """``img_1_01`` → ``img_1``: a stem without its duplicate's (or second export's) number."""
    return _VERSION_SUFFIX.sub("", key)


def stems_placing(name: str, kind: str) -> set[str]:
    """The stems of the groups that decide where a file directly in the folder goes: its own,
    and for a sidecar those of the images its name may be a duplicate's sidecar of
    (``IMG_1_01.CR2.xmp``: ``img_1_01`` and ``img_1``). Only files with these stems can
    change where it goes (see group_folder)."""
    stems = {stem(name)}
    if kind == "xmp":
        stems.update(stem(filename) for filename, _ in sidecar_images(name)[1:])
    return stems


def export_stems(name: str) -> set[str]:
    """The stems of the groups a picture in a subfolder may be an export of."""
    return {stem(name), unversioned(stem(name))}


class StemIndex:
    """The files of a folder and of its direct subfolders by every stem they may be grouped
    under (their own; a sidecar's duplicate readings; a subfolder picture's stem without its
    version suffix), from their names alone: which few files of a big folder a change to some
    stems concerns."""

    def __init__(self, names: Iterable[tuple[int, str]]) -> None:
        """``names``: (file id, name in the folder: ``IMG_1.CR2`` or ``subfolder/IMG_1.jpg``)."""
        self._by_stem: dict[str, list[int]] = {}
        self.subfolders: dict[str, list[int]] = {}  # subfolder -> ids of its files
        for file_id, name in names:
            subfolder, _, child = name.partition("/")
            if child:
                self.subfolders.setdefault(subfolder, []).append(file_id)
                keys = export_stems(child)
            elif name[-4:].lower() == ".xmp":
                keys = stems_placing(name, "xmp")
            else:  # most files: one stem, no set made
                self._by_stem.setdefault(stem(name), []).append(file_id)
                continue
            for key in keys:
                self._by_stem.setdefault(key, []).append(file_id)

    def ids(self, stems: Iterable[str]) -> set[int]:
        """The files that may be grouped under any of ``stems``."""
        found: set[int] = set()
        for key in stems:
            found.update(self._by_stem.get(key, ()))
        return found


def group_folder(
    files: list[tuple[str, str]], subfolder_files: dict[str, list[tuple[str, str]]] | None = None
) -> list[Group]:
    """Groups from (name, kind) of the usable files directly in a folder, and of the files in
    its direct subfolders (subfolder name -> (name, kind)), which are exports of these photos
    when the subfolder holds no RAW and each of its pictures matches a photo here by name."""
    by_stem: dict[str, list[tuple[str, str]]] = {}
    names = {name.lower(): name for name, _ in files}
    for name, kind in files:
        if kind in PHOTO_KINDS:
            by_stem.setdefault(stem(name), []).append((name, kind))
    groups: dict[str, Group] = {}
    for key, members in by_stem.items():
        members.sort(key=lambda item: (PHOTO_KINDS.index(item[1]), item[0]))
        group = Group(members[0][0])
        group.add(members[0][0], "original")
        for name, _ in members[1:]:
            group.add(name, "twin")
        groups[key] = group
    for name, kind in files:
        if kind != "xmp":
            continue
        image_name = name[:-4] if name.lower().endswith(".xmp") else name
        owner = names.get(image_name.lower())
        if owner is not None and stem(owner) in groups:
            groups[stem(owner)].add(name, "sidecar")
            continue
        for filename, version in sidecar_images(name)[1:]:
            owner = names.get(filename.lower())
            if owner is not None and version > 0 and stem(owner) in groups:
                groups[stem(owner)].add(name, "duplicate_sidecar")
                break
        else:
            if stem(name) in groups and image_name.lower() == stem(name):  # IMG_1.xmp
                groups[stem(name)].add(name, "sidecar")
    for folder, children in (subfolder_files or {}).items():
        pictures = [(name, kind) for name, kind in children if kind in PHOTO_KINDS]
        if not pictures or any(kind == "raw" for _, kind in pictures):
            continue
        # IMG_0001.jpg, or IMG_0001_01.jpg (a duplicate's export, or a second export)
        keys = [
            stem(name) if stem(name) in groups else unversioned(stem(name)) for name, _ in pictures
        ]
        if all(key in groups for key in keys):
            for (name, _), key in zip(pictures, keys, strict=True):
                groups[key].add(f"{folder}/{name}", "export")
    return list(groups.values())
