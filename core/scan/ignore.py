"""Which files and folders a scan leaves out: the built-in rules, the catalogue's own files, and
the user's patterns in gitignore syntax. Applied before descending, so ignored folders cost
nothing. Also which names the catalogue cannot hold (not UTF-8): a scan records no file of
such a name, and says so."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

# Compared in lower case: NAS and camera software write these with varying case.
BUILTIN_NAMES = frozenset({".ds_store", "thumbs.db", "@eadir", "desktop.ini"})
BUILTIN_SUFFIXES = ("~", ".tmp", ".part")
BUILTIN_RULES = "hidden names, *~, *.tmp, *.part, .DS_Store, Thumbs.db, desktop.ini, @eaDir"
# The last letters of every built-in name and suffix: a name ending otherwise (most photos) is
# passed without lower-casing it. This check runs for every file of every scan.
_LAST_LETTERS = frozenset(
    letter
    for word in (*BUILTIN_NAMES, *BUILTIN_SUFFIXES)
    for letter in (word[-1].lower(), word[-1].upper())
)


class IgnoreRules:
    """``ignores(rel_path, name, is_dir)`` answers for one entry of a root."""

    def __init__(self, patterns: Sequence[str] = (), excluded_paths: Iterable[str] = ()) -> None:
        self.patterns = tuple(patterns)
        self.excluded_paths = frozenset(excluded_paths)
        self._spec = None
        if self.patterns:
            import pathspec  # loaded only for the user's patterns (most scans have none)

            self._spec = pathspec.GitIgnoreSpec.from_lines(self.patterns)

    def ignores(self, rel_path: str, name: str, is_dir: bool) -> bool:
        if name[0] == ".":
            return True
        if name[-1] in _LAST_LETTERS:
            lower = name.lower()
            if lower in BUILTIN_NAMES or lower.endswith(BUILTIN_SUFFIXES):
                return True
        if self.excluded_paths and rel_path in self.excluded_paths:
            return True
        if self._spec is not None:
            return self._spec.match_file(rel_path + "/" if is_dir else rel_path)
        return False


def excluded_paths(
    root_path: str, catalogue_path: str | None, own_folders: tuple[str, ...] = ()
) -> tuple[str, ...]:
    """The catalogue's own files (None: it has none, on a server) and shootwatch's own
    folders, those inside the root."""
    from core.store.turns import SUFFIX as TURN_SUFFIX  # the settings load this module

    root = os.path.realpath(root_path)
    excluded: list[str] = []
    inside = _inside(root, catalogue_path) if catalogue_path is not None else None
    if inside is not None:
        excluded += [inside + suffix for suffix in ("", "-wal", "-shm", "-journal", TURN_SUFFIX)]
    for folder in own_folders:
        inside = _inside(root, folder)
        if inside is not None and inside != os.curdir:
            excluded.append(inside)
    return tuple(excluded)


def _inside(root: str, path: str) -> str | None:
    """``path`` relative to ``root`` if it lies inside it."""
    inside = os.path.relpath(os.path.realpath(path), root)
    if inside == os.pardir or inside.startswith(os.pardir + os.sep):
        return None
    return inside


def is_storable_name(name: str) -> bool:
    """Whether a name can be stored as text (names with bytes that are not UTF-8 cannot)."""
    if name.isascii():
        return True
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
