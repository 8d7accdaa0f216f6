"""Photos in the catalogue, on the engine's writer thread: files described by the media
workers (true kind, EXIF), grouped into photos (identity: the blake3 of the original, so a move
keeps a photo and its decisions), and previews built in the background.

Work goes to the MediaPool and comes back through ``deliver`` (the engine's queue), so the
writer never waits for it; without a pool (tests, one-off commands) it runs inline.
"""

from __future__ import annotations

import logging
import os
import queue
import time
from collections.abc import Callable, Collection
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from peewee import SqliteDatabase

from core.config import MediaSettings
from core.media.cache import preview_cache_dir
from core.media.describe import Description, describe_files
from core.media.grouping import (
    PHOTO_KINDS,
    StemIndex,
    export_stems,
    group_folder,
    stem,
    stems_placing,
    unversioned,
)
from core.media.preview import PreviewUnavailable, render_preview
from core.media.reach import PREVIEW_NOT_BUILT, originals_here
from core.media.sniff import FORMAT_KINDS, NOT_PHOTOS
from core.media.work import PreviewJob, PreviewResult, build_previews, cache_for
from core.store import photos as queries
from core.store.events import FILE_EVENTS, FILE_IS_THERE, EventKind, EventReader
from core.store.queries import RootIndex
from core.store.writing import run_transaction
from core.triage.bursts import DEFAULT_RULES, BurstRules
from core.triage.bursts import regroup as regroup_bursts
from core.triage.sidecar_read import read_existing_marks

if TYPE_CHECKING:  # the pool is the caller's: a scan that needs none never loads it
    from core.media.pool import MediaPool

log = logging.getLogger("shootwatch.media")

BATCH = 64  # files a worker describes per task
PREVIEW_BATCH = 8
# Photos without a preview taken newest first this many at a time: one sorted read of the
# backlog per window (about 2 s of the workers' time), not one per batch.
PREVIEW_WINDOW = 500
IDLE_RECHECK_SECONDS = 5.0  # with nothing to do, the backlog is looked at this often
INDEXES_KEPT = 8  # folders whose stem index is kept for their next batch
# Batches the scan described already, grouped on the writer per turn before it gets back to
# its other work (a decision waits for at most a turn: a batch of 64 is 5-20 ms of grouping).
RECORDED_BATCHES_PER_TURN = 8


@dataclass
class MediaCounts:
    described: int = 0
    previews: int = 0
    looked: int = 0  # photos whose looks were measured (core.media.looks)


class MediaSync:
    # The file events that mean a file may be a photo, or belong to one, anew; and the shoot
    # an app on another machine has on screen (told through the catalogue, not a socket).
    FOLLOWS = (*FILE_EVENTS, EventKind.SHOOT_ON_SCREEN)

    def __init__(
        self,
        db: SqliteDatabase,
        settings: MediaSettings,
        pool: MediaPool | None = None,
        deliver: Callable[[Callable[[], None]], None] | None = None,
        events_after: int | None = None,
        bursts: BurstRules = DEFAULT_RULES,
    ) -> None:
        """``events_after``: follow the file events after this one (those of a scan that ran
        before this was made: files whose content changed are looked at again); None: from
        now on, since files never looked at are found without them. ``bursts``: the rules the
        photos measured are grouped into bursts by (``triage.burst_*``)."""
        self.db = db
        self.settings = settings
        self.burst_rules = bursts
        self.pool = pool
        self.deliver = deliver  # hands a finished task's apply step to the writer thread
        self.counts = MediaCounts()
        self._file_events: EventReader | None = None  # from the first follow_file_events
        self._events_after = events_after
        self._queued: dict[int, tuple[str, str]] = {}  # file id -> (root path, rel path)
        self._in_flight = 0
        self._more = False  # a turn stopped with described batches left to group
        self._backlog_after = {"files": 0, "metadata": 0, "looks": 0}
        self._roots = RootIndex()
        self._idle_until = 0.0  # after finding no work: when to look at the backlog again
        # Folders known to hold no file of their own and no export claimed from below (a year
        # above its days): their pass as a parent is skipped. Reading one took 20-70 ms (every
        # file of the year), once per batch of each day below it. A folder leaves this set
        # when it is regrouped itself, which a change of any file directly in it leads to.
        self._bare_parents: set[tuple[int, str]] = set()
        self._parents_with_files: set[tuple[int, str]] = set()  # found not bare once
        self._photo_stems_of: dict[tuple[int, str], set[str]] = {}  # see _photo_stems
        # The stem indexes of the folders grouped last, with the names they were built from.
        self._indexes: dict[tuple[int, str], tuple[list, StemIndex]] = {}
        self._preview_window: list[tuple] = []  # newest last: the next previews to build
        self._previewing: set[str] = set()  # blake3 of the photos a worker is previewing
        # The folder (root id, rel_dir) of the shoot on screen: its previews come first. Set
        # from another thread (the app's); read once a batch.
        self.focus: tuple[int, str] | None = None
        self._previews = True  # off: files are described and grouped, no preview is built

    @property
    def previews(self) -> bool:
        """Whether previews are built (and photos measured on them) after describing."""
        return self._previews

    @previews.setter
    def previews(self, on: bool) -> None:
        self._previews = on
        self._idle_until = 0.0  # there may be work now that was none a moment ago

    @property
    def busy(self) -> bool:
        return self._in_flight > 0 or bool(self._queued)

    @property
    def more(self) -> bool:
        """Whether the last turn stopped with work left that needs no worker (files the scan
        described, to group): the next turn can come at once."""
        return self._more

    # --- what to do -------------------------------------------------------------------------

    def follow_file_events(self) -> None:
        """Queue the files the catalogue's file events name; regroup where files went away."""
        if self._file_events is None:
            # Photos an earlier version made of junk files by their names alone.
            with self.db.atomic():
                junk = queries.photos_made_of_junk(self.db, NOT_PHOTOS)
                queries.delete_untouched_photos_without_files(self.db, junk)
            if self._events_after is None:
                # Start from now: files never looked at are found by the backlog queries.
                self._file_events = EventReader(self.db, kinds=self.FOLLOWS).from_now()
                return
            self._file_events = EventReader(
                self.db, kinds=self.FOLLOWS, since_id=self._events_after
            )
        changes = self._file_events.read()
        if not changes:
            return
        self._idle_until = 0.0  # files changed: look for work at once
        self._roots.refresh()
        gone: set[tuple[int, str]] = set()
        for change in changes:
            root_id, rel_path = change.root_id, change.path
            if root_id not in self._roots.paths or rel_path is None:
                continue
            if change.kind == EventKind.SHOOT_ON_SCREEN:
                self.focus = (root_id, rel_path)  # the newest told wins, as over the socket
                continue
            if change.kind == EventKind.INDEXED:
                self._backlog_after["files"] = 0  # a first index: the backlog finds them all
            elif change.kind in (EventKind.REMOVED, EventKind.MOVED):
                gone.add((root_id, os.path.dirname(rel_path)))
            if change.kind in FILE_IS_THERE:
                file_id = queries.file_id(self.db, root_id, rel_path)
                if file_id is not None:
                    self._queued[file_id] = (self._roots.paths[root_id], rel_path)
        for root_id, rel_dir in sorted(gone):  # a transaction each: they may be many
            run_transaction(self.db, partial(self.regroup, root_id, rel_dir))

    def tick(self) -> None:
        """Follow the event log and keep the workers busy (describing first, then previews)."""
        self.follow_file_events()
        self._hand_out()

    def _hand_out(self) -> None:
        """Fill the workers' free slots, describing first, then previews. Run at each tick and
        as each batch comes back: the engine ticks every 0.2 s and a batch is about 30 ms of
        a worker's time, so workers fed at ticks alone sat idle two thirds of the time."""
        if self.pool is not None and self.pool.closed:
            return  # the engine is stopping
        if not self._queued and time.monotonic() < self._idle_until:
            return  # nothing was left last time, and no file has changed since
        capacity = (self.pool.workers * 2 if self.pool else 1) - self._in_flight
        self._more = False
        applied_here = 0
        while capacity > 0:
            batch = self._next_describe_batch()
            if batch:
                if self._describe(batch):
                    capacity -= 1
                    continue
                # Described by the scan already: grouped here, on the writer, which gets
                # back to its other work after a few such batches (the next tick goes on).
                applied_here += 1
                if applied_here >= RECORDED_BATCHES_PER_TURN:
                    self._more = True
                    return
                continue
            if applied_here:  # previews from the next turn: this one grouped files already
                self._more = True
                return
            jobs = self._next_preview_batch() if self.previews else []
            if not jobs:
                if self._in_flight == 0:
                    # All done. Look again later, from the start: a photo whose original
                    # changed may have gone back behind where the backlog had got to.
                    self._idle_until = time.monotonic() + IDLE_RECHECK_SECONDS
                    self._backlog_after = dict.fromkeys(self._backlog_after, 0)
                return
            self._preview(jobs)
            capacity -= 1

    def run_until_idle(
        self, on_progress: Callable[[MediaCounts], None] | None = None
    ) -> MediaCounts:
        """Everything there is to do, here and now (a command run with no engine, tests)."""
        if self.pool is None:
            while True:
                before = (self.counts.described, self.counts.previews, self.counts.looked)
                self.tick()
                if on_progress:
                    on_progress(self.counts)
                after = (self.counts.described, self.counts.previews, self.counts.looked)
                if after == before and not self._queued:
                    return self.counts
        finished: queue.Queue[Callable[[], None]] = queue.Queue()
        self.deliver = finished.put
        while True:
            self.tick()
            if self._in_flight == 0:
                if not self._queued and not self._more:
                    return self.counts
                if on_progress:
                    on_progress(self.counts)
                continue  # grouped what the scan had described: more of it, at once
            finished.get()()
            if on_progress:
                on_progress(self.counts)

    def _next_describe_batch(self) -> dict[int, tuple[str, str]]:
        batch: dict[int, tuple[str, str]] = {}
        while self._queued and len(batch) < BATCH:
            file_id, where = self._queued.popitem()
            batch[file_id] = where
        if batch:
            return batch
        for name, query in (
            ("files", queries.files_not_described),
            ("metadata", queries.photos_without_metadata),
        ):
            rows = query(self.db, self._backlog_after[name], BATCH)
            if rows:
                self._backlog_after[name] = rows[-1][0]
                return {file_id: (root, rel) for file_id, root, rel in rows}
        return {}

    def _next_preview_batch(self) -> list[PreviewJob]:
        """Photos without a preview, the shoot on screen first, then newest first; then
        photos with one never measured (a catalogue from before looks were): build_previews
        measures them on their cached preview."""
        rows = self._focused_previews() or self._newest_previews()
        if not rows:
            rows = queries.photos_not_looked_at(
                self.db, self._backlog_after["looks"], PREVIEW_BATCH
            )
            if not rows:
                return []
            self._backlog_after["looks"] = rows[-1][0]
        return [
            PreviewJob(blake3, os.path.join(root, rel), file_format or "unknown", orientation)
            for _, blake3, root, rel, file_format, orientation in rows
        ]

    def _focused_previews(self) -> list[tuple]:
        focus = self.focus
        if focus is None:
            return []
        limit = PREVIEW_BATCH + len(self._previewing)
        rows = queries.newest_without_preview(self.db, limit, focus)
        rows = [row for row in rows if row[1] not in self._previewing][:PREVIEW_BATCH]
        if not rows and not self._previewing:
            self.focus = None  # the shoot on screen has all its previews
        return rows

    def _newest_previews(self) -> list[tuple]:
        taken = self._from_window()
        if not taken:  # the window is spent: the next newest, read once for many batches
            self._preview_window = queries.newest_without_preview(self.db, PREVIEW_WINDOW)[::-1]
            taken = self._from_window()
        return taken

    def _from_window(self) -> list[tuple]:
        """Up to a batch from the window, newest first, none a worker is previewing now."""
        window, taken = self._preview_window, []
        while window and len(taken) < PREVIEW_BATCH:
            row = window.pop()
            if row[1] not in self._previewing:
                taken.append(row)
        return taken

    # --- describing files ---------------------------------------------------------------------

    def _describe(self, batch: dict[int, tuple[str, str]]) -> bool:
        """Describe a batch of files and group them: those the scan described while hashing
        them from its description, here; the others read by a worker (or here, without a
        pool). Returns whether any file needed reading (a worker's slot taken)."""
        ids = {os.path.join(root, rel): file_id for file_id, (root, rel) in batch.items()}
        recorded = queries.recorded_descriptions(self.db, list(batch))
        if recorded:
            self.apply_descriptions(
                [
                    Description.from_record(os.path.join(*batch[file_id]), record)
                    for file_id, record in recorded.items()
                ],
                ids,
            )
        paths = [
            os.path.join(root, rel)
            for file_id, (root, rel) in batch.items()
            if file_id not in recorded
        ]
        if not paths:
            return False
        if self.pool is None:
            self.apply_descriptions(describe_files(paths), ids)
            return True
        self._in_flight += 1

        def done(future: Future) -> None:  # on a pool thread: the writer applies it
            self.deliver(lambda: self._finish(future, lambda r: self.apply_descriptions(r, ids)))

        self.pool.describe(paths, done)
        return True

    def _finish(self, future: Future, apply: Callable) -> None:
        self._in_flight -= 1
        try:
            results = future.result()
        except Exception as error:  # a worker died: the backlog queries find the files again
            log.warning("media worker failed: %s", error)
            self._backlog_after = dict.fromkeys(self._backlog_after, 0)
            self._previewing.clear()  # the backlog finds what it had again
        else:
            apply(results)
        self._hand_out()  # the slot just freed, now rather than at the next tick

    def apply_descriptions(self, descriptions: list[Description], ids: dict[str, int]) -> None:
        """What the workers found, folder by folder: each folder's files described, grouped
        into photos and their EXIF recorded in one short transaction, whose reads (the folder,
        its parent) come before its first write, so the write lock is held for the writes
        alone (run again holding it from the start if a decision committed in between)."""
        now = time.time()
        described: dict[int, tuple] = {}  # file id -> (format, kind, reason)
        metadata: dict[int, tuple] = {}
        by_folder: dict[tuple[int, str] | None, list[int]] = {}
        names: dict[int, str] = {}  # file id -> its name in its folder
        self._roots.refresh()
        for description in descriptions:
            file_id = ids[description.path]
            sniffed = description.sniffed
            # A damaged picture is still a photo: the reason is kept with its file.
            reason = sniffed.reason or description.damage
            described[file_id] = (sniffed.format, sniffed.kind, reason)
            metadata[file_id] = (description.metadata, sniffed.format)
            root_id, rel_path = self._roots.locate(description.path)
            folder = (root_id, os.path.dirname(rel_path)) if root_id is not None else None
            by_folder.setdefault(folder, []).append(file_id)
            names[file_id] = os.path.basename(description.path)
        photo_ids: list[int] = []
        for folder, file_ids in sorted(by_folder.items(), key=lambda item: item[0] or (0, "")):
            touched = [names[file_id] for file_id in file_ids]
            work = partial(
                self._describe_folder, folder, touched, file_ids, described, metadata, now
            )
            photo_ids += run_transaction(self.db, work)
        # The stars, reject and labels their sidecars (or a JPEG's own XMP) already had: of
        # the files just described, as read when they were.
        read_existing_marks(self.db, photo_ids, now, {d.path: d.xmp for d in descriptions})
        self.counts.described += len(descriptions)

    def _describe_folder(
        self,
        folder: tuple[int, str] | None,
        touched: list[str],
        file_ids: list[int],
        described: dict[int, tuple],
        metadata: dict[int, tuple],
        now: float,
    ) -> list[int]:
        """One folder's part of a batch: its files regrouped (only the photos they can be part
        of), described, and the EXIF of the photos whose original they are recorded."""
        if folder is None:
            originals = {}
        else:
            originals = self.regroup(*folder, described=described, touched=touched)
        queries.set_described(self.db, [(*described[file_id], file_id) for file_id in file_ids])
        updates = []
        for photo_id, file_id in originals.items():
            if file_id in metadata:
                found, file_format = metadata[file_id]
                values = found.as_dict()
                updates.append(
                    (*(values[c] for c in queries.PHOTO_METADATA_COLUMNS[:14]),
                     values["error"], file_format, now, photo_id)
                )  # fmt: skip
        queries.set_photo_metadata(self.db, updates)
        return list(originals)

    # --- grouping -----------------------------------------------------------------------------

    def regroup(
        self,
        root_id: int,
        rel_dir: str,
        with_parent: bool = True,
        described: dict[int, tuple] | None = None,
        touched: Collection[str] | None = None,
    ) -> dict[int, int]:
        """Bring the photos of one folder up to date; returns {photo id: original file id}.
        The parent folder first: a folder may hold the parent's exports. ``described``
        (file id -> (format, kind, reason)) is what the media workers found and is about to be
        written: grouping sees it already, so it reads before it writes. ``touched``: the
        names of the files directly in the folder that changed (a batch described): only the
        photos they can be part of are looked at, with the files those depend on, to the same
        result as the whole folder's (see _rows_around); a folder of N files described in
        batches cost N² row reads otherwise. None: the whole folder."""
        return self._regroup(root_id, rel_dir, with_parent, described or {}, touched)[0]

    def _regroup(
        self,
        root_id: int,
        rel_dir: str,
        with_parent: bool,
        described: dict[int, tuple],
        touched: Collection[str] | None,
    ) -> tuple[dict[int, int], set[str]]:
        """regroup's work: its photos, and the names whose photo or role it changed."""
        if with_parent:
            self._bare_parents.discard((root_id, rel_dir))
            self._photo_stems_of.pop((root_id, rel_dir), None)
            if rel_dir:
                parent, name = os.path.split(rel_dir)
                below = None if touched is None else [f"{name}/{child}" for child in touched]
                _, changed = self._regroup(root_id, parent, False, described, below)
                if touched is not None:
                    # Files the parent's photos claimed as exports, or let go, group anew here.
                    claims = {path.partition("/")[2] for path in changed if "/" in path}
                    touched = {*touched, *claims}
        elif (root_id, rel_dir) in self._bare_parents:
            return {}, set()
        if touched is None:
            rows = self._grouping_rows(root_id, rel_dir, with_parent, described)
            if not with_parent and not rows:
                self._bare_parents.add((root_id, rel_dir))
            return self._group(root_id, rel_dir, with_parent, rows, None)
        if not with_parent and (root_id, rel_dir) not in self._parents_with_files:
            # Whether it is bare is known once; a parent with files of its own stays looked at
            # (in part: _exports_around), which is right whatever it holds later.
            if not queries.own_files_and_exports(self.db, root_id, rel_dir):
                self._bare_parents.add((root_id, rel_dir))
                return {}, set()
            self._parents_with_files.add((root_id, rel_dir))
        if with_parent:
            rows, scope = self._rows_around(root_id, rel_dir, set(touched), described)
        else:
            rows, scope = self._exports_around(root_id, rel_dir, set(touched), described)
        return self._group(root_id, rel_dir, with_parent, rows, scope)

    def _rows_around(
        self, root_id: int, rel_dir: str, touched: set[str], described: dict[int, tuple]
    ) -> tuple[list[tuple], set[int]]:
        """The rows grouping ``touched`` (names directly in the folder) needs, and the ids of
        those whose photo and role it decides (the scope). In the scope: the touched files,
        every file directly here that a group of a touched stem can place (grouping.
        stems_placing), and every file of a subfolder one of whose pictures may be an export
        of such a group (a subfolder's pictures are all exports or none). With them: every file
        directly here of a stem those are placed by, so each group with a file in the scope is
        whole and each decision sees all it depends on; files outside the scope keep theirs,
        since nothing they depend on changed. The folder's names are read, and only these
        files' rows."""
        prefix = rel_dir + "/" if rel_dir else ""
        index = self._index(root_id, rel_dir)
        stems = {stem(name) for name in touched}
        scope: set[int] = set()
        needed = set(stems)
        subfolders: set[str] = set()
        found: dict[int, tuple] = {}
        for row in queries.files_by_id(self.db, index.ids(stems)):
            row = found[row[0]] = _as_described(row, described.get(row[0]))
            name = row[1][len(prefix) :]
            subfolder, _, child = name.partition("/")
            if child:
                if export_stems(child) & stems:
                    subfolders.add(subfolder)
            elif name in touched or stems_placing(name, _kind(row)) & stems:
                scope.add(row[0])
                needed |= stems_placing(name, _kind(row))
        ids = {file_id for name in subfolders for file_id in index.subfolders[name]}
        for row in queries.files_by_id(self.db, ids - found.keys()):
            found[row[0]] = _as_described(row, described.get(row[0]))
        for file_id in ids:
            scope.add(file_id)
            needed |= export_stems(os.path.basename(found[file_id][1]))
        for row in queries.files_by_id(self.db, index.ids(needed) - found.keys()):
            found[row[0]] = _as_described(row, described.get(row[0]))
        rows = []
        for row in found.values():
            name = row[1][len(prefix) :]
            subfolder, _, child = name.partition("/")
            wanted = subfolder in subfolders if child else stem(name) in needed
            if wanted or row[0] in scope:
                rows.append(row)
        return rows, scope

    def _exports_around(
        self, root_id: int, rel_dir: str, touched: set[str], described: dict[int, tuple]
    ) -> tuple[list[tuple], set[int]]:
        """A parent's pass for ``touched`` files of one subfolder ("subfolder/name"): whether
        that subfolder holds exports of the parent's photos. When the parent has no photo of
        its own, or a touched picture is a RAW or matches none of them, it holds none: only
        what it had claimed is let go, and neither folder is read. Else the subfolder's
        files are all read and decided on."""
        prefix = rel_dir + "/" if rel_dir else ""
        subfolder = next(iter(touched)).partition("/")[0]
        here = self._photo_stems(root_id, rel_dir, described)
        exports = bool(here)
        for row in queries.files_at(self.db, root_id, [prefix + name for name in touched]):
            row = _as_described(row, described.get(row[0]))
            if not exports or not (_usable(row) and _kind(row) in PHOTO_KINDS):
                continue
            name = stem(os.path.basename(row[1]))
            key = name if name in here else unversioned(name)
            exports = _kind(row) != "raw" and key in here
        if not exports:  # let go of what it had claimed
            claimed = queries.files_directly_in(self.db, root_id, prefix + subfolder, True)
            rows = [_as_described(row, described.get(row[0])) for row in claimed]
            return rows, {row[0] for row in rows}
        rows = [
            _as_described(row, described.get(row[0]))
            for row in queries.files_directly_in(self.db, root_id, prefix + subfolder)
        ]
        scope = {row[0] for row in rows}
        needed = set().union(*(export_stems(os.path.basename(row[1])) for row in rows))
        for row in queries.files_directly_in(self.db, root_id, rel_dir):
            if stem(os.path.basename(row[1])) in needed:
                rows.append(_as_described(row, described.get(row[0])))
        return rows, scope

    def _photo_stems(self, root_id: int, rel_dir: str, described: dict[int, tuple]) -> set[str]:
        """The stems of the photos' files directly in a folder, for its subfolders' batches
        (a folder of days, or the root, may have a file of its own): read once, and again
        after the folder was regrouped itself, which any change of a file directly in it
        leads to (described, removed, moved away; one moved in is seen once described)."""
        key = (root_id, rel_dir)
        if key not in self._photo_stems_of:
            rows = queries.files_directly_in(self.db, root_id, rel_dir)
            rows = [_as_described(row, described.get(row[0])) for row in rows]
            self._photo_stems_of[key] = {
                stem(os.path.basename(row[1]))
                for row in rows
                if _usable(row) and _kind(row) in PHOTO_KINDS
            }
        return self._photo_stems_of[key]

    def _index(self, root_id: int, rel_dir: str) -> StemIndex:
        """The folder's names by stem. Read each time (another writer may have changed the
        folder), built again only when they changed: the batches of a folder come one after
        the other, and building it was most of a batch's grouping in a 3,000-file folder."""
        listing = queries.folder_listing(self.db, root_id, rel_dir)
        cached = self._indexes.pop((root_id, rel_dir), None)
        if cached is None or cached[0] != listing:
            prefix_length = len(rel_dir) + 1 if rel_dir else 0
            names = ((file_id, rel_path[prefix_length:]) for file_id, rel_path in listing)
            cached = (listing, StemIndex(names))
        self._indexes[(root_id, rel_dir)] = cached  # the newest last
        while len(self._indexes) > INDEXES_KEPT:
            del self._indexes[next(iter(self._indexes))]
        return cached[1]

    def _group(
        self,
        root_id: int,
        rel_dir: str,
        with_parent: bool,
        rows: list[tuple],
        scope: set[int] | None,
    ) -> tuple[dict[int, int], set[str]]:
        """Group ``rows`` (a folder's, and its direct subfolders') into photos and write the
        photo and role of each file in ``scope`` (None: every file) that changed; returns
        {photo id: original file id} and the names (in the folder) of the files changed."""
        prefix = rel_dir + "/" if rel_dir else ""
        by_name: dict[str, tuple] = {}
        direct: list[tuple[str, str]] = []
        below: dict[str, list[tuple[str, str]]] = {}
        for row in rows:
            name = row[1][len(prefix) :]
            # What the content says wins over the name (a move re-derives kind from the name).
            kind = _kind(row)
            usable = _usable(row)
            subfolder, _, child = name.partition("/")
            by_name[name] = row
            if not usable:
                continue
            if child:
                below.setdefault(subfolder, []).append((child, kind))
            elif not (with_parent and row[5] == "export"):  # claimed by the parent's photo
                direct.append((name, kind))
        members: dict[int, tuple[int, str]] = {}
        originals: dict[int, int] = {}
        for group in group_folder(direct, below):
            group_rows = [by_name[name] for name in group.members]
            if scope is not None and not any(row[0] in scope for row in group_rows):
                continue  # no file of it changes: what it holds is as it was
            original = by_name[group.original]
            photo_id = self._photo_for(original, group_rows, set(originals))
            originals[photo_id] = original[0]
            for name, role in group.members.items():
                members[by_name[name][0]] = (photo_id, role)
        updates, left, changed = [], set(), set()
        for name, row in by_name.items():
            if scope is not None and row[0] not in scope:
                continue
            if "/" in name and row[0] not in members and row[5] != "export":
                continue  # a subfolder's own files: its own regroup decides
            if with_parent and "/" not in name and row[5] == "export" and row[0] not in members:
                continue  # still the parent's export
            wanted = members.get(row[0], (None, None))
            if (row[4], row[5]) != wanted:
                updates.append((*wanted, row[0]))
                changed.add(name)
                if row[4] is not None and row[4] != wanted[0] and row[7] in NOT_PHOTOS:
                    left.add(row[4])  # its photo lost a file found to be no picture
        queries.set_members(self.db, updates)
        # A photo whose files turned out to be no picture is none (unless a person decided
        # something about it: then it is kept, with no file, out of the triage queue).
        if left - set(originals):
            queries.delete_untouched_photos_without_files(self.db, left - set(originals))
        return originals, changed

    def _grouping_rows(
        self, root_id: int, rel_dir: str, with_parent: bool, described: dict[int, tuple]
    ) -> list[tuple]:
        """The rows of the files grouping looks at, as the media workers described them. A
        parent's pass (``with_parent`` off) looks at its subfolders only when it has photos
        of its own to claim exports for; without, only the exports it claimed before, to
        release them (reading every file of a year for each day's batch was most of the work)."""
        if not with_parent:
            rows = queries.own_files_and_exports(self.db, root_id, rel_dir)
            rows = [_as_described(row, described.get(row[0])) for row in rows]
            depth = rel_dir.count("/") + 1 if rel_dir else 0
            if not any(_usable(row) for row in rows if row[1].count("/") == depth):
                return rows
        rows = queries.folder_files(self.db, root_id, rel_dir)
        return [_as_described(row, described.get(row[0])) for row in rows]

    def _photo_for(self, original: tuple, group_rows: list[tuple], taken: set[int]) -> int:
        """The photo of this original: by its content (a moved or copied file keeps its photo),
        or the photo it had when its content changed (decisions follow the edit), or the photo
        one of its files belongs to whose own original is gone (deleted, or found to be no
        picture: a junk RAW's JPEG twin keeps the photo and its decisions), or a new one."""
        blake3, had = original[3], original[4]
        found = queries.photo_by_blake3(self.db, blake3)
        if found is not None:
            return found
        if had is not None and original[5] == "original":
            queries.rekey_photo(self.db, had, blake3)
            return had
        file_ids = [row[0] for row in group_rows]
        for row in sorted(group_rows, key=lambda row: row[5] != "original"):
            held = row[4]
            if (
                held is not None
                and held not in taken
                and queries.photo_lost_its_original(self.db, held, file_ids, NOT_PHOTOS)
            ):
                queries.rekey_photo(self.db, held, blake3)
                return held
        return queries.create_photo(self.db, blake3, time.time())

    # --- previews -----------------------------------------------------------------------------

    def _preview(self, jobs: list[PreviewJob]) -> None:
        settings = self.settings
        self._previewing.update(job.blake3 for job in jobs)
        args = (
            str(preview_cache_dir(settings)),
            settings.preview_cache_mb * 1024 * 1024,
            settings.preview_long_edge,
        )
        if self.pool is None:
            self.apply_previews(build_previews(jobs, *args))
            return
        self._in_flight += 1

        def done(future: Future) -> None:
            self.deliver(lambda: self._finish(future, self.apply_previews))

        self.pool.previews(jobs, *args, done=done)

    def apply_previews(self, results: list[PreviewResult]) -> None:
        """Previews built and their photos measured: stored, then bursts regrouped around the
        photos measured, in one transaction."""
        now = time.time()
        rows = [(None if error else now, error, blake3) for blake3, error, _looks in results]
        looks = {
            blake3: looked or {"look_error": f"it has no preview to measure: {error}"}
            for blake3, error, looked in results
        }
        measured = {blake3 for blake3, values in looks.items() if values.get("phash")}
        with self.db.atomic():
            queries.set_previews(self.db, rows)
            queries.set_looks(self.db, now, looks)
            if measured:
                try:
                    with self.db.atomic():  # a savepoint: a failed regroup keeps the looks
                        ids = queries.photo_ids_of(self.db, measured)
                        regroup_bursts(self.db, ids, self.burst_rules)
                except Exception:  # bursts are a help: looks and previews go on without them
                    log.exception("bursts could not be regrouped")
        self._previewing.difference_update(blake3 for blake3, _error, _looks in results)
        self.counts.previews += len(results)
        self.counts.looked += len(measured)


def _kind(row: tuple) -> str:
    """A folder_files row's kind: what its content says wins over its name (a move re-derives
    kind from the name)."""
    file_format = row[7]
    return FORMAT_KINDS.get(file_format, "other") if file_format else row[2]


def _usable(row: tuple) -> bool:
    """Whether a folder_files row can be part of a photo. Only a picture whose content was
    looked at makes (or is part of) a photo: by its name alone, a thousand junk files named
    .CR2 became a thousand photos. Sidecars join by name (the media workers do not look at
    them)."""
    file_format = row[7]
    kind = FORMAT_KINDS.get(file_format, "other") if file_format else row[2]
    return row[3] is not None and (
        file_format not in (None, *NOT_PHOTOS) or (file_format is None and kind == "xmp")
    )


def _as_described(row: tuple, found: tuple | None) -> tuple:
    """A folder_files row with the format, kind and reason the workers found for it."""
    if found is None:
        return row
    file_format, kind, reason = found
    return (row[0], row[1], kind, row[3], row[4], row[5], reason, file_format)


def preview_for(
    db: SqliteDatabase, settings: MediaSettings, photo_id: int
) -> tuple[Path | None, str | None]:
    """The preview of the photo being looked at: from the cache, or built now when the
    background has not got to it, unless its original is on another machine (an app away
    from the engine: core.media.reach). (path, None), or (None, why there is none)."""
    found = queries.original_of(db, photo_id)
    if found is not None and not originals_here(found[1]):
        cached = cached_preview(db, settings, photo_id)
        return (cached, None) if cached is not None else (None, no_preview_here(db, found[1]))
    try:
        return built_preview(db, settings, photo_id), None
    except PreviewUnavailable as error:
        return None, error.reason


def built_preview(db: SqliteDatabase, settings: MediaSettings, photo_id: int) -> Path:
    """The path of the photo's preview in the cache, built now when it is not there. Raises
    PreviewUnavailable; its ``lasting`` says whether the photo's file itself is the cause."""
    found = queries.original_of(db, photo_id)
    if found is None:
        raise PreviewUnavailable("this photo has no original file on disk", lasting=False)
    blake3, root, rel_path, file_format, orientation = found
    cache = cache_for(str(preview_cache_dir(settings)), settings.preview_cache_mb * 1024 * 1024)
    cached = cache.get(blake3)
    if cached is not None:
        return cached
    try:
        data = render_preview(
            Path(root) / rel_path, file_format or "unknown", orientation, settings.preview_long_edge
        )
    except OSError as error:
        raise PreviewUnavailable(
            f"cannot be read: {error.strerror or error}", lasting=False
        ) from error
    return cache.put(blake3, data)


def view_for(db: SqliteDatabase, photo_id: int, long_edge: int) -> tuple[bytes | None, str | None]:
    """The photo drawn at ``long_edge`` straight from its original, not cached: what a screen
    shows at once while the preview is not built yet (decoded at 1/8 for a terminal pane; the
    loupe's full-size pixels come from core.media.pixels). (JPEG bytes, None) or (None, why
    not: among others, that the original is on another machine and its preview not built)."""
    found = queries.original_of(db, photo_id)
    if found is None:
        return None, "this photo has no original file on disk"
    _blake3, root, rel_path, file_format, orientation = found
    if not originals_here(root):
        return None, no_preview_here(db, root)
    try:
        data = render_preview(
            Path(root) / rel_path, file_format or "unknown", orientation, long_edge
        )
    except PreviewUnavailable as error:
        return None, error.reason
    except OSError as error:
        return None, f"cannot be read: {error.strerror or error}"
    return data, None


def no_preview_here(db: SqliteDatabase, root_path: str) -> str:
    """Why a photo whose original is not on this machine (core.media.reach) and whose preview
    is not in the cache has nothing to show, in one line: its root is offline (the engine
    found it so: a drive unplugged), else the engine has not built its preview yet."""
    offline = queries.root_offline_reason(db, root_path)
    if offline is not None:
        return f"its root is offline ({offline}) and its preview was not built"
    return PREVIEW_NOT_BUILT


def cached_preview(db: SqliteDatabase, settings: MediaSettings, photo_id: int) -> Path | None:
    """The photo's preview if the cache has it (never builds one)."""
    found = queries.original_of(db, photo_id)
    if found is None:
        return None
    cache = cache_for(str(preview_cache_dir(settings)), settings.preview_cache_mb * 1024 * 1024)
    return cache.get(found[0])
