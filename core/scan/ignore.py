"""Which files and folders a scan leaves out: the built-in rules, the catalogue's own files, and
the user's patterns in gitignore syntax. Applied before descending, so ignored folders cost
nothing."""

from __future__ import annotations

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
