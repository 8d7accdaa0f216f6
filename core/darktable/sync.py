"""Bringing the catalogue's darktable snapshot up to date, on the engine's writer thread.

Three inputs: what the poller read from library.db, sidecars the watcher saw change (first: they
cost darktable nothing), and the file events of the catalogue (a new photo darktable has not
imported, a file deleted while darktable still has it, an export landing on disk). Each change
becomes a smart event carrying where the image stands in darktable.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from peewee import Database

from core.darktable.facts import export_stems, sidecar_has_photo, sidecar_images, sidecar_name
from core.darktable.library import bucket_ids
from core.darktable.sidecar import SidecarError, read_sidecar
from core.darktable.state import (
    ImageState,
    rated_by_hand,
    smart_events,
    with_sidecar,
)
from core.media.kinds import kind_from_name
from core.store import queries, snapshot
from core.store.events import FILE_CHANGES, Event, EventKind, EventReader, insert_events
from core.store.photos import direct_files
from core.store.writing import BoundedWrites

log = logging.getLogger("shootwatch.darktable")

SOURCE = "darktable"
IMAGE_KINDS = frozenset(("raw", "jpeg", "heif"))
EXPORT_MATCH_SECONDS = 600  # an export file and its export time are paired within this window


@dataclass(frozen=True)
class LibraryRead:
    """What one poll read: the states of the images it looked at."""

    library: str  # the library.db it came from
    states: list[ImageState]
    buckets: frozenset[int] | None  # the id buckets it covers; None: the whole library
    read_at: float
    notes: tuple[str, ...] = ()
    problem: str | None = None  # what makes darktable's state degraded (tag names unknown)


@dataclass
class ApplyReport:
    new: int = 0
    changed: int = 0
    removed: int = 0
    events: int = 0
    first_sync: bool = False
    notes: list[str] = field(default_factory=list)


def _state_from_row(row: tuple) -> tuple[ImageState, float, float | None]:
    (dt_id, folder, filename, version, stars, rejected, labels, tags, internal, altered,
     history_end, imported, changed, exported, signature, by_hand, exif, seen_at,
     sidecar_at) = row  # fmt: skip
    state = ImageState(
        darktable_id=dt_id,
        folder=folder,
        filename=filename,
        version=version,
        stars=stars,
        rejected=bool(rejected),
        labels=labels,
        tags=tuple(json.loads(tags or "[]")),
        internal_tags=tuple(json.loads(internal or "[]")),
        altered=bool(altered),
        history_end=history_end,
        imported_at=imported,
        changed_at=changed,
        exported_at=exported,
        signature=signature,
        rated_by_hand=bool(by_hand),
        exif=json.loads(exif or "{}"),
    )
    return state, seen_at, sidecar_at


def _row(state: ImageState, seen_at: float, sidecar_at: float | None) -> tuple:
    return (
        state.darktable_id, state.folder, state.filename, state.version, state.stars,
        state.rejected, state.labels, snapshot.as_json(state.tags),
        snapshot.as_json(state.internal_tags), state.altered, state.history_end,
        state.imported_at, state.changed_at, state.exported_at, state.signature,
        state.rated_by_hand, json.dumps(state.exif), seen_at, sidecar_at,
    )  # fmt: skip


def _stem(filename: str) -> str:
    return os.path.splitext(filename)[0].lower()


class DarktableSync:
    """The snapshot in memory and on disk; every method runs on the writer thread."""

    # The file events that may change what darktable's images mean (a file there or gone).
    FOLLOWS = FILE_CHANGES

    def __init__(self, db: Database) -> None:
        self.db = db
        self.active = False  # the library was read: say what darktable lacks
        self._library: str | None = None
        self._states: dict[int, ImageState] = {}
        self._seen_at: dict[int, float] = {}
        self._sidecar_at: dict[int, float | None] = {}
        self._by_path: dict[tuple[str, str, int], int] = {}
        self._by_stem: dict[tuple[str, str], int] = {}
        self._file_events: EventReader | None = None  # from the first follow_file_events
        self._recent_exports: dict[str, list[tuple[int, float]]] = {}
        self._recent_files: dict[str, list[tuple[str, float]]] = {}
        self._roots = queries.RootIndex()
        self._not_imported: set[tuple[int | None, str]] | None = None

    # --- the snapshot ------------------------------------------------------------------------

    def _load(self, library: str) -> bool:
        """Load the snapshot of ``library``; True when shootwatch starts following it now (a
        first sync: what is already there is not news)."""
        first = snapshot.followed_library() != library
        if first:
            dropped = snapshot.follow_library(self.db, library)
            if dropped:
                log.info("following %s: dropped %d images of another library", library, dropped)
            rows = []
        else:
            rows = snapshot.load_snapshot(self.db)
        self._library = library
        self._states, self._seen_at, self._sidecar_at = {}, {}, {}
        self._by_path, self._by_stem = {}, {}
        for row in rows:
            state, seen_at, sidecar_at = _state_from_row(row)
            self._remember(state, seen_at, sidecar_at)
        return first

    def _remember(self, state: ImageState, seen_at: float, sidecar_at: float | None) -> None:
        image_id = state.darktable_id
        old = self._states.get(image_id)
        if old is not None and (old.folder, old.filename) != (state.folder, state.filename):
            self._by_path.pop((old.folder, old.filename, old.version), None)
        self._states[image_id] = state
        self._seen_at[image_id] = seen_at
        self._sidecar_at[image_id] = sidecar_at
        self._by_path[(state.folder, state.filename, state.version)] = image_id
        self._by_stem[(state.folder, _stem(state.filename))] = image_id

    def _forget(self, image_id: int) -> None:
        state = self._states.pop(image_id)
        self._seen_at.pop(image_id, None)
        self._sidecar_at.pop(image_id, None)
        self._by_path.pop((state.folder, state.filename, state.version), None)
        if self._by_stem.get((state.folder, _stem(state.filename))) == image_id:
            del self._by_stem[(state.folder, _stem(state.filename))]

    def state(self, image_id: int) -> ImageState | None:
        return self._states.get(image_id)

    def apply(self, read: LibraryRead) -> ApplyReport:
        """Write what changed since the last read, with its events."""
        report = ApplyReport(notes=list(read.notes))
        if self._library != read.library:
            report.first_sync = self._load(read.library)
        self._roots.refresh()
        seen: set[int] = set()
        rows, events = [], []
        changed_states: list[ImageState] = []
        for new in read.states:
            seen.add(new.darktable_id)
            old = self._states.get(new.darktable_id)
            if old is not None and old.signature == new.signature:
                continue
            new = replace(new, rated_by_hand=rated_by_hand(old, new))
            changed_states.append(new)
            if old is None:
                report.new += 1
            else:
                report.changed += 1
            if not report.first_sync:
                for kind, payload in smart_events(old, new):
                    events.append(self._event(kind, new, payload))
                    if kind == EventKind.EXPORTED:
                        events += self._link_export_on_export(new)
            rows.append(_row(new, read.read_at, self._sidecar_at.get(new.darktable_id)))
        removed = self._removed(read, seen)
        if read.buckets is None and not read.states and self._states:
            report.notes.append(
                f"the darktable library has no images now (it had {len(self._states):,}); "
                "keeping what shootwatch knew"
            )
            removed = []
        for image_id in removed:
            events.append(self._event(EventKind.DARKTABLE_REMOVED, self._states[image_id], {}))
        if report.first_sync:
            events.append(
                (read.read_at, EventKind.DARKTABLE_LIBRARY_SYNCED, SOURCE, None, read.library, None,
                 json.dumps({"images": len(read.states)}))
            )  # fmt: skip
        # In transactions of about 0.1 s (a first sync writes every image: seconds in one),
        # the events last, so an event names an image already there.
        with BoundedWrites(self.db) as writes:
            for chunk in writes.chunks(rows):
                snapshot.save_images(self.db, chunk)
            for chunk in writes.chunks(removed):
                snapshot.delete_images(self.db, chunk)
            for chunk in writes.chunks(events):
                insert_events(self.db, chunk)
        for state in changed_states:
            self._remember(state, read.read_at, self._sidecar_at.get(state.darktable_id))
        for image_id in removed:
            self._forget(image_id)
        report.removed = len(removed)
        report.events = len(events)
        self.active = True
        return report

    def _removed(self, read: LibraryRead, seen: set[int]) -> list[int]:
        if read.buckets is None:
            return sorted(set(self._states) - seen)
        # The ids of the buckets read, not every image known: a poll reads a few buckets.
        return [
            image_id
            for image_id in bucket_ids(read.buckets)
            if image_id in self._states and image_id not in seen
        ]

    # --- events -------------------------------------------------------------------------------

    def _event(
        self, kind: EventKind, state: ImageState | None, payload: dict, path: str | None = None
    ) -> tuple:
        full = dict(payload)
        if state is not None:
            full.update(state.enrichment())
            path = path or state.path
        else:
            full.setdefault("in_darktable", False)
        root_id, shown = self._roots.locate(path) if path else (None, None)
        return (time.time(), kind, SOURCE, root_id, shown, None, json.dumps(full))

    # --- sidecars -----------------------------------------------------------------------------

    def apply_sidecar(self, path: str, report_unreadable: bool = True) -> list[tuple]:
        """Events for one sidecar the watcher saw change (not yet written)."""
        folder, name = os.path.split(path)
        image_id = None
        for filename, version in sidecar_images(name):
            image_id = self._by_path.get((folder, filename, version))
            if image_id is not None:
                break
        if image_id is None:
            try:
                names = set(os.listdir(folder))
            except OSError:
                names = None
            if self.active and names is not None and not sidecar_has_photo(name, names):
                gone = {"reason": "its image is gone"}
                return [self._event(EventKind.SIDECAR_ORPHANED, None, gone, path)]
            return []  # not imported yet: the next poll of library.db brings it
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            return []
        if mtime <= self._seen_at.get(image_id, 0.0):
            return []  # library.db was read after this sidecar was written: it knows more
        try:
            sidecar = read_sidecar(Path(path))
        except SidecarError as error:
            if not report_unreadable:
                return []
            return [self._event(EventKind.SIDECAR_UNREADABLE, self._states[image_id],
                                {"reason": str(error)}, path)]  # fmt: skip
        old = self._states[image_id]
        new = with_sidecar(old, sidecar)
        new = replace(new, rated_by_hand=rated_by_hand(old, new))
        if new == old:
            return []
        events = []
        for kind, payload in smart_events(old, new):
            events.append(self._event(kind, new, {**payload, "via": "sidecar"}))
            if kind == EventKind.EXPORTED:
                events += self._link_export_on_export(new)
        snapshot.save_images(self.db, [_row(new, self._seen_at[image_id], mtime)])
        self._remember(new, self._seen_at[image_id], mtime)
        return events

    def apply_sidecar_files(self, paths: list[str]) -> int:
        """Sidecars the watcher saw change, read before the catalogue records them (they are
        small and darktable writes them whole). A sidecar caught half-written is left for the
        catalogue's path, which reads it again once it has settled. Returns the events."""
        events = 0
        with BoundedWrites(self.db) as writes:  # as in follow_file_events
            for path in paths:
                found = self.apply_sidecar(path, report_unreadable=False)
                if found:
                    insert_events(self.db, found)
                    events += len(found)
                writes.wrote(1)
        return events

    # --- what the catalogue's file events mean for darktable ------------------------------

    def follow_file_events(self) -> int:
        """Look at the file events written since the last call; returns how many were new."""
        if self._file_events is None:
            self._file_events = EventReader(self.db, kinds=self.FOLLOWS).from_now()
            return 0
        changes = self._file_events.read()
        if not changes:
            return 0
        self._roots.refresh()
        roots = self._roots.paths
        # A sidecar's update and its events in one transaction; a transaction ends every 0.1 s
        # or so (a sidecar is read from disk while the write lock is held).
        with BoundedWrites(self.db) as writes:
            for change in changes:
                root_path = roots.get(change.root_id)
                if root_path is None or change.path is None:
                    continue
                events = self._events_for_file(change, root_path, roots)
                if events:
                    insert_events(self.db, events)
                writes.wrote(1)
        return len(changes)

    def _events_for_file(self, change: Event, root_path: str, roots: dict[int, str]) -> list[tuple]:
        """What one file event means for darktable (a sidecar read, a photo new or gone)."""
        path = os.path.join(root_path, change.path)
        if path.lower().endswith(".xmp"):
            return self.apply_sidecar(path) if change.kind != EventKind.REMOVED else []
        if kind_from_name(path) not in IMAGE_KINDS:
            return []
        if change.kind == EventKind.ADDED:
            return self._on_new_image_file(path)
        if change.kind == EventKind.REMOVED:
            return self._on_image_file_gone(path, moved_to=None)
        if change.kind == EventKind.MOVED:
            moved = change.payload or {}  # from another root, perhaps
            old_root = roots.get(moved.get("from_root"), root_path)
            old_path = os.path.join(old_root, moved.get("from", ""))
            return self._on_image_file_gone(old_path, moved_to=path)
        return []

    def _on_new_image_file(self, path: str) -> list[tuple]:
        folder, name = os.path.split(path)
        if (folder, name, 0) in self._by_path or not self.active:
            return []
        linked = self._link_export_on_file(path)
        if linked:
            return linked
        parent = os.path.dirname(folder)
        if any((parent, stem) in self._by_stem for stem in export_stems(name)):
            return []  # a derivative beside its original's film roll (an export, say)
        return [self._event(EventKind.NEEDS_PROCESSING, None,
                            {"reason": "fresh import, needs processing"}, path)]  # fmt: skip

    def _on_image_file_gone(self, path: str, moved_to: str | None) -> list[tuple]:
        folder, name = os.path.split(path)
        events = []
        for (image_folder, filename, version), image_id in list(self._by_path.items()):
            if image_folder != folder or filename != name:
                continue
            payload = {"reason": "the file is gone but darktable still has it"}
            if moved_to:
                payload["moved_to"] = moved_to
            events.append(
                self._event(EventKind.DARKTABLE_ORPHANED, self._states[image_id], payload)
            )
            sidecar = os.path.join(folder, sidecar_name(filename, version))
            if os.path.exists(sidecar):
                events.append(self._event(EventKind.SIDECAR_ORPHANED, None,
                                          {"reason": "its image is gone"}, sidecar))  # fmt: skip
        return events

    def _link_export_on_export(self, state: ImageState) -> list[tuple]:
        """An export time moved: pair it with an export file the watcher already saw."""
        stem = _stem(state.filename)
        exported_at = state.exported_at or 0.0
        for path, mtime in self._recent_files.get(stem, []):
            if abs(mtime - exported_at) <= EXPORT_MATCH_SECONDS:
                for candidate in export_stems(os.path.basename(path)):  # filed under each
                    if (path, mtime) in self._recent_files.get(candidate, []):
                        self._recent_files[candidate].remove((path, mtime))
                return [self._event(EventKind.EXPORT_WRITTEN, state, {"export_path": path}, path)]
        self._recent_exports.setdefault(stem, []).append((state.darktable_id, exported_at))
        return []

    def _link_export_on_file(self, path: str) -> list[tuple]:
        """A new image file: the output of an export darktable reported, or one to come."""
        stems = export_stems(os.path.basename(path))  # IMG_0001_01.jpg: an export again
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            return []
        now = time.time()
        for stem in stems:
            for image_id, exported_at in self._recent_exports.get(stem, []):
                state = self._states.get(image_id)
                if state is not None and abs(mtime - exported_at) <= EXPORT_MATCH_SECONDS:
                    self._recent_exports[stem].remove((image_id, exported_at))
                    return [
                        self._event(EventKind.EXPORT_WRITTEN, state, {"export_path": path}, path)
                    ]
        # Maybe darktable has not reported the export yet: remember the file for a while.
        for stem in stems:
            recent = [
                (p, t)
                for p, t in self._recent_files.get(stem, [])
                if now - t < EXPORT_MATCH_SECONDS
            ]
            self._recent_files[stem] = [*recent, (path, mtime)]
        return []

    def find_orphans(self) -> int:
        """What was orphaned before shootwatch looked (a first sync) or while it did not run:
        darktable images whose file is gone, and sidecars whose photo is gone, in darktable's
        film roll folders; each said once. A folder in which none of darktable's files is left
        (an unmounted drive, a folder renamed outside darktable) is skipped: that is not a
        folder of deleted photos. Returns how many were found this time."""
        if not self.active:
            return 0
        self._roots.refresh()
        said = snapshot.reported_paths(EventKind.DARKTABLE_ORPHANED) | snapshot.reported_paths(
            EventKind.SIDECAR_ORPHANED
        )
        by_folder: dict[str, list[ImageState]] = {}
        for state in self._states.values():
            by_folder.setdefault(state.folder, []).append(state)
        events = []
        gone = {"reason": "the file is gone but darktable still has it"}
        for folder, states in sorted(by_folder.items()):
            try:
                names = set(os.listdir(folder))
            except OSError:
                continue  # offline or unreadable: nothing can be said
            if not any(state.filename in names for state in states):
                continue
            for state in sorted(states, key=lambda s: (s.filename, s.version)):
                if state.filename in names or self._roots.locate(state.path) in said:
                    continue
                said.add(self._roots.locate(state.path))
                events.append(self._event(EventKind.DARKTABLE_ORPHANED, state, gone))
            for name in sorted(names):
                if not name.lower().endswith(".xmp") or sidecar_has_photo(name, names):
                    continue
                path = os.path.join(folder, name)
                if self._roots.locate(path) in said:
                    continue
                said.add(self._roots.locate(path))
                events.append(self._event(EventKind.SIDECAR_ORPHANED, None,
                                          {"reason": "its image is gone"}, path))  # fmt: skip
        if events:
            with self.db.atomic():
                insert_events(self.db, events)
        return len(events)

    def find_not_imported(self) -> int:
        """Image files in darktable's film roll folders that darktable never imported: said
        once per file. Returns how many were found this time."""
        if not self.active:
            return 0
        self._roots.refresh()
        if self._not_imported is None:
            self._not_imported = snapshot.reported_paths(EventKind.NOT_IMPORTED)
        # A photo removed from darktable's library was imported once: darktable_removed said so.
        removed = snapshot.reported_paths(EventKind.DARKTABLE_REMOVED)
        folders = {state.folder for state in self._states.values()}
        events = []
        for folder in sorted(folders):
            root_id, rel_dir = self._roots.locate(folder + "/x")
            if root_id is None:
                continue
            rel_dir = os.path.dirname(rel_dir)
            for rel_path, kind in direct_files(self.db, root_id, rel_dir):
                name = os.path.basename(rel_path)
                if kind not in IMAGE_KINDS or (folder, name, 0) in self._by_path:
                    continue
                if (root_id, rel_path) in self._not_imported or (root_id, rel_path) in removed:
                    continue
                self._not_imported.add((root_id, rel_path))
                events.append(self._event(EventKind.NOT_IMPORTED, None,
                                          {"reason": "in a film roll folder, never imported"},
                                          os.path.join(folder, name)))  # fmt: skip
        if events:
            with self.db.atomic():
                insert_events(self.db, events)
        return len(events)
