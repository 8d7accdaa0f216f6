"""The reconciler: make the catalogue agree with what is on disk under a root, and say what changed.

A root is split into surveys (folders) that run in parallel worker processes when the scan is
long (SURVEY_HERE_SECONDS); each compares its part of the disk with the catalogue by size +
mtime and hashes only new or changed files. The results are written here, in batched
transactions, as one SyncRun with its Events. Nothing is removed from the catalogue unless the
whole root was read: a root that is missing, unreadable, suddenly empty, unmounted or another
drive in its place goes offline instead (core.scan.roots).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from core.config import ScanSettings
from core.scan.ignore import IgnoreRules, excluded_paths
from core.scan.report import ReconcileReport
from core.scan.roots import check_root, empty_reason, holds_files, set_root_state
from core.scan.survey import (
    SeenFile,
    SurveyCounters,
    SurveyResult,
    SurveyTask,
    close_catalogue_connection,
    install_counters,
    scanned_subfolders,
    survey_batch,
    surveys,
)
from core.store import Catalogue, queries
from core.store.events import EventKind, insert_events, record_event
from core.store.models import Root, SyncRun
from core.store.queries import KnownFile
from core.store.writing import BoundedWrites

SOURCE = "reconcile"
# Changes gathered before they are written (in transactions bounded in time, see flush).
WRITE_BATCH = 20_000
SURVEYS_PER_WORKER = 16  # split a root into at least this many surveys per worker...
MAX_PLAN_DEPTH = 3  # ...looking at most this many folder levels down to find them
# A scan with no pool given surveys in its own process until it has worked this long (CPU
# seconds: waiting for files to hold still is no work), then starts worker processes for the
# surveys left. Starting workers costs a fork each, and their results come back pickled: an
# unchanged tree of 10,000 files is surveyed here in about 0.07 s and never forks, while a first
# index or an unchanged tree of 100,000 files (about 0.55 s here) hands most of its surveys to
# the workers. Measuring the work as it goes needs no estimate of the tree (the catalogue's
# count says nothing of a first index, nor of how much changed and must be hashed).
SURVEY_HERE_SECONDS = 0.25
# ...but a whole root the catalogue already holds this many files of is surveyed by workers
# from the start: its surveys will take long (about 4 us a file, most of it the stat), and the
# quarter second surveyed here first would leave the other core idle. An unchanged
# 100,000-file root, whole process, medians of 9 interleaved runs on 2 busy cores (load 3):
# 0.51 s in one process, 0.54 s handing over after SURVEY_HERE_SECONDS, 0.49 s (best 0.37 s)
# with workers from the start; find -printf 0.20 s. Below it, forking costs what it saves.
WORKERS_FROM_START_FILES = 25_000


@dataclass(frozen=True)
class ScanProgress:
    root_path: str
    files_seen: int
    bytes_hashed: int
    surveys_done: int
    surveys_total: int
    elapsed: float


class ScanError(RuntimeError):
    """A scan could not finish; the message says why. Nothing was removed."""


class ScanStopped(ScanError):
    """The scan was asked to stop (the engine is shutting down) before it finished."""


def _start_worker(counters: SurveyCounters) -> None:
    from core.workers import end_with_parent

    end_with_parent()
    install_counters(counters)


class SurveyPool:
    """Worker processes for surveys, kept for as long as the caller wants (the engine keeps one).

    Threads do not help here: a survey is mostly ``stat`` calls and small Python steps, and two
    threads contending for the GIL measured 4x slower than one. A worker that dies (killed,
    out of memory) breaks the pool and fails the scan with a ScanError, rather than leaving it
    waiting for a result that never comes.
    """

    def __init__(self, workers: int) -> None:
        # Loaded here, by the scans that start workers: a scan in its own process (a command's
        # scan of an unchanged tree) pays for none of it.
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        import core.workers  # noqa: F401  (here, so that forked workers find it loaded)

        # fork is fast but unsafe once threads exist (a lock held by another thread is copied
        # held); forkserver starts workers from a clean single-threaded process instead.
        method = "fork" if threading.active_count() == 1 else "forkserver"
        context = multiprocessing.get_context(method)
        if method == "forkserver":
            context.set_forkserver_preload(["core.scan.survey"])
        self.workers = workers
        self.files_seen = context.Value("q", 0)
        self.bytes_hashed = context.Value("q", 0)
        counters = SurveyCounters(self.files_seen, self.bytes_hashed)
        self._executor = ProcessPoolExecutor(
            workers, mp_context=context, initializer=_start_worker, initargs=(counters,)
        )
        # Start the workers now, while the caller may still be single-threaded: with fork,
        # the first submit starts them all.
        self._executor.submit(int).result()

    def run(self, tasks: list[SurveyTask], poll_seconds: float) -> Iterator[SurveyResult | None]:
        """Results as they finish; None every ``poll_seconds`` while waiting (for progress)."""
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        # Batches: fewer round trips than one task each, still fine-grained enough to balance
        # the workers and show progress.
        size = max(1, min(64, len(tasks) // (self.workers * 8)))
        pending = set()
        try:
            for start in range(0, len(tasks), size):
                pending.add(self._executor.submit(survey_batch, tasks[start : start + size]))
            while pending:
                done, pending = wait(pending, timeout=poll_seconds, return_when=FIRST_COMPLETED)
                if not done:
                    yield None
                for future in done:
                    yield from future.result()
        except BrokenProcessPool as error:
            raise ScanError(
                "a scan worker stopped unexpectedly (killed, or out of memory?); nothing was "
                "removed: run the scan again"
            ) from error
        finally:
            for future in pending:
                future.cancel()

    def reset_counters(self) -> None:
        self.files_seen.value = 0
        self.bytes_hashed.value = 0

    def close(self, wait: bool = True) -> None:
        """Stop the workers; with ``wait=False`` they are terminated mid-survey (they write
        nothing, so nothing is left half-written)."""
        if not wait:
            for process in list(self._executor._processes.values()):
                process.terminate()
        self._executor.shutdown(wait=wait, cancel_futures=True)

    def __enter__(self) -> SurveyPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class _Count:
    """A counter of this process, read and added to as a multiprocessing Value is (the progress
    line reads ``.value``): no shared memory, no lock to take."""

    def __init__(self) -> None:
        self.value = 0

    def get_lock(self) -> contextlib.nullcontext:
        return contextlib.nullcontext()


class _InProcessSurveys:
    """The same interface as SurveyPool, in the calling process (workers = 1, one survey)."""

    def __init__(self) -> None:
        self.files_seen = _Count()
        self.bytes_hashed = _Count()
        install_counters(SurveyCounters(self.files_seen, self.bytes_hashed))

    def run(self, tasks: list[SurveyTask], poll_seconds: float) -> Iterator[SurveyResult | None]:
        yield from surveys(tasks)

    def reset_counters(self) -> None:
        self.files_seen.value = 0
        self.bytes_hashed.value = 0


class _Sum:
    """Two counters read as one (``.value``), for the progress line."""

    def __init__(self, first: object, second: Callable[[], object | None]) -> None:
        self._first, self._second = first, second

    @property
    def value(self) -> int:
        second = self._second()
        return self._first.value + (second.value if second is not None else 0)


class _SurveysHereFirst:
    """The same interface as SurveyPool: surveys in the calling process, and the ones left
    after SURVEY_HERE_SECONDS in worker processes started then (and closed by ``close``)."""

    def __init__(self, workers: int, here_seconds: float) -> None:
        self.workers = workers
        self.here_seconds = here_seconds
        self.pool: SurveyPool | None = None
        self._here = _InProcessSurveys()
        self.files_seen = _Sum(self._here.files_seen, lambda: self.pool and self.pool.files_seen)
        self.bytes_hashed = _Sum(
            self._here.bytes_hashed, lambda: self.pool and self.pool.bytes_hashed
        )

    def run(self, tasks: list[SurveyTask], poll_seconds: float) -> Iterator[SurveyResult | None]:
        started = time.process_time()
        here = surveys(tasks)
        try:
            for index in range(len(tasks)):
                left = len(tasks) - index
                if left > 1 and time.process_time() - started >= self.here_seconds:
                    here.close()  # its reading ends here: the workers read their own
                    self.pool = SurveyPool(min(self.workers, left))
                    yield from self.pool.run(tasks[index:], poll_seconds)
                    return
                yield next(here)
        finally:
            here.close()

    def reset_counters(self) -> None:
        self._here.reset_counters()
        if self.pool is not None:
            self.pool.reset_counters()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()


def plan_surveys(
    root_path: str, rules: IgnoreRules, target: int
) -> list[tuple[str, bool, tuple[str, ...]]]:
    """Split a root into surveys: (rel_dir, recursive, claimed_children).

    Folders near the top are opened until there are at least ``target`` sub-trees; each opened
    folder is surveyed on its own (not recursively) and each sub-tree recursively. A folder
    that cannot be listed is left as a recursive survey, which reports it unreadable.
    """
    plan: list[tuple[str, bool, tuple[str, ...]]] = []
    frontier = [""]
    depth = 0
    while frontier and len(frontier) < target and depth < MAX_PLAN_DEPTH:
        next_frontier = []
        for rel_dir in frontier:
            children = scanned_subfolders(root_path, rel_dir, rules)
            if children is None:
                plan.append((rel_dir, True, ()))
                continue
            plan.append((rel_dir, False, tuple(children)))
            next_frontier += [f"{rel_dir}/{name}" if rel_dir else name for name in children]
        frontier = next_frontier
        depth += 1
    plan += [(rel_dir, True, ()) for rel_dir in frontier]
    return plan


def _gone_from_other_folders(
    catalogue: Catalogue, root: Root, deferred: list, missing: list[KnownFile]
) -> list[KnownFile]:
    """Records outside the folders scanned, in this root or another online one, whose content
    just arrived here and whose files are gone from the disk: the far end of a move the
    watcher reported in another batch (a folder renamed: the new name's batch can come before
    or after the old name's; a folder moved from another root). Checked on the disk, so a
    copy (the old file still there) stays a copy, and a root that cannot be read keeps its
    records (it is offline, not moved away)."""
    paired = {(known.blake3, known.size) for known in missing}
    wanted = {(seen.blake3, seen.size) for seen in deferred} - paired
    if not wanted:
        return []
    roots = {other.id: other for other in Root.select().where(Root.state == "online")}
    roots[root.id] = root
    readable: dict[int, bool] = {}
    gone = []
    for known in queries.records_with_contents(catalogue.db, wanted):
        other = roots.get(known.root_id)
        if other is None:
            continue
        if known.root_id not in readable:
            # An unmounted root's files are "gone" too: they stay its records.
            check = check_root(other, IgnoreRules(), look_inside=False)
            readable[known.root_id] = check.offline_reason is None
        if readable[known.root_id] and _is_gone(os.path.join(other.path, known.rel_path)):
            gone.append(known)
    return gone


def _is_gone(path: str) -> bool:
    """Whether nothing is at ``path`` (a folder on the way that cannot be read is not
    "gone": what is in it is not known)."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return False


def _pair_moves(
    new_files: list[SeenFile], missing: list[KnownFile]
) -> tuple[list[tuple[SeenFile, KnownFile]], list[SeenFile], list[KnownFile]]:
    """Pair files that vanished with new files of the same (blake3, size): those are moves."""
    by_content: dict[tuple[str, int], list[KnownFile]] = defaultdict(list)
    for known in missing:
        if known.blake3 is not None:
            by_content[(known.blake3, known.size)].append(known)
    moves, added = [], []
    for seen in new_files:
        candidates = by_content.get((seen.blake3, seen.size)) if seen.blake3 else None
        if not candidates:
            added.append(seen)
            continue
        name = os.path.basename(seen.rel_path)
        # Prefer the candidate with the same file name, so a renamed folder pairs file by file.
        pick = next(
            (i for i, known in enumerate(candidates) if os.path.basename(known.rel_path) == name),
            0,
        )
        moves.append((seen, candidates.pop(pick)))
    moved_ids = {known.record_id for _, known in moves}
    removed = [known for known in missing if known.record_id not in moved_ids]
    return moves, added, removed


def _replaced_in_place(seen: SeenFile) -> bool:
    """A known path whose content is now different: the old content may have moved away."""
    return (
        seen.record_id is not None
        and seen.blake3 is not None
        and seen.previous_blake3 is not None
        and (seen.blake3, seen.size) != (seen.previous_blake3, seen.previous_size)
    )


def _as_source(seen: SeenFile) -> KnownFile:
    """What a replaced record held before, as a file that may have moved."""
    return KnownFile(seen.record_id, seen.rel_path, seen.previous_size, 0, seen.previous_blake3)


def settle_identities(
    new_files: list[SeenFile], replaced: list[SeenFile], missing: list[KnownFile]
) -> tuple[list[tuple[SeenFile, KnownFile]], list[SeenFile], list[SeenFile], list[KnownFile]]:
    """Decide which record each piece of content belongs to: (moves, added, updated, removed).

    Content that vanished from one path and appeared at another is a move, and keeps its
    record. A path whose content was replaced counts twice: its old content may have moved
    away (renamed, then a new card reused the name), and its new content may have come from
    elsewhere (a swap, a renumbering), so the record follows the content, not the name.
    """
    sources = missing + [_as_source(seen) for seen in replaced]
    replacements = [seen._replace(record_id=None) for seen in replaced]
    moves, unpaired, unmatched = _pair_moves(new_files + replacements, sources)
    moved_away = {known.record_id for _, known in moves}
    taken = {seen.rel_path for seen, _ in moves}
    replaced_paths = {seen.rel_path for seen in replaced}
    added = [seen for seen in unpaired if seen.rel_path not in replaced_paths]
    updated: list[SeenFile] = []
    removed = [known for known in unmatched if known.rel_path not in replaced_paths]
    for seen in replaced:
        away, arrived = seen.record_id in moved_away, seen.rel_path in taken
        if not away and not arrived:
            updated.append(seen)  # simply edited in place
        elif away and not arrived:
            added.append(seen._replace(record_id=None))  # new content where it used to be
        elif arrived and not away:
            removed.append(_as_source(seen))  # its old content is gone; another moved in
    return moves, added, updated, removed


def _summarise(items: list[tuple[str, str]], limit: int = 3) -> str:
    shown = "; ".join(f"{path}: {reason}" for path, reason in items[:limit])
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return shown + more


def reconcile_root(
    catalogue: Catalogue,
    root: Root,
    settings: ScanSettings,
    kind: str = "manual",
    on_progress: Callable[[ScanProgress], None] | None = None,
    pool: SurveyPool | None = None,
    accept_empty: bool = False,
    folders: list[tuple[str, bool, tuple[str, ...]]] | None = None,
    settle_seconds: float = 0.0,
    cancel: threading.Event | None = None,
    hold_removals: bool = False,
    hold_still_seconds: float = 0.0,
) -> ReconcileReport:
    """Reconcile one root and record the run. ``pool`` is reused when given.

    ``folders`` limits the run to some folders of the root (rel_dir, recursive,
    claimed_children), as the watcher asks after changes; ``settle_seconds`` leaves files
    modified more recently than that for a later run (see ``ReconcileReport.unsettled``).
    With ``hold_removals``, records whose files vanished and did not turn up elsewhere in
    this run are kept, and listed in ``ReconcileReport.vanished``: their content may still
    arrive in a later batch (a move), and ``remove_vanished`` removes those that did not.
    ``hold_still_seconds`` waits for files changed more recently than that to hold still that
    long before they are hashed (``SurveyTask.hold_still_ns``), when no later run will come.
    """
    started = time.time()
    clock = time.perf_counter()
    run = SyncRun.create(kind=kind, root=root, started_at=started, status="running")
    try:
        return _reconcile(
            catalogue,
            root,
            settings,
            run,
            clock,
            on_progress,
            pool,
            accept_empty,
            folders,
            int(settle_seconds * 1e9),
            cancel,
            hold_removals,
            int(hold_still_seconds * 1e9),
        )
    except BaseException as error:
        if isinstance(error, KeyboardInterrupt):
            reason = "interrupted"
        elif isinstance(error, ScanError):
            reason = str(error)
        else:
            reason = f"{type(error).__name__}: {error}"
        SyncRun.update(
            status="failed",
            error=reason,
            finished_at=time.time(),
            duration=time.perf_counter() - clock,
        ).where(SyncRun.id == run.id).execute()
        raise


def _reconcile(
    catalogue: Catalogue,
    root: Root,
    settings: ScanSettings,
    run: SyncRun,
    clock: float,
    on_progress: Callable[[ScanProgress], None] | None,
    pool: SurveyPool | None,
    accept_empty: bool,
    folders: list[tuple[str, bool, tuple[str, ...]]] | None,
    settle_ns: int,
    cancel: threading.Event | None,
    hold_removals: bool,
    hold_still_ns: int = 0,
) -> ReconcileReport:
    root_path = root.path
    whole_root = folders is None
    records_before = queries.count_files(root)
    first_index = whole_root and records_before == 0
    writer = _ChangeWriter(catalogue, root, run.id, first_index=first_index)
    # A catalogue on a server has no file in the root to leave out.
    catalogue_file = str(catalogue.path) if catalogue.path is not None else None
    excluded = excluded_paths(root_path, catalogue_file, settings.own_folders)
    rules = IgnoreRules(settings.ignore, excluded)
    # An offline root is never scanned for removals: missing, unreadable, empty, unmounted or
    # another drive in its place, it stays offline and nothing is removed.
    check = check_root(root, rules, accept_as_is=accept_empty)
    offline_reason = check.offline_reason
    results: list[SurveyResult] = []
    vanished: list[KnownFile] = []
    # Held back until every survey has said what went missing: new files whose content the
    # catalogue already has, and known paths whose content was replaced. Both may be moves.
    deferred: list[SeenFile] = []
    replaced: list[SeenFile] = []
    if offline_reason is None:
        if folders is None:
            plan = plan_surveys(root_path, rules, SURVEYS_PER_WORKER * settings.workers)
        else:
            plan = folders
        tasks = [
            SurveyTask(
                catalogue_path=str(catalogue.location),
                root_id=root.id,
                root_path=root_path,
                rel_dir=rel_dir,
                recursive=recursive,
                claimed_children=claimed,
                ignore=settings.ignore,
                excluded_paths=excluded,
                hash_retries=settings.hash_retries,
                settle_ns=settle_ns,
                hold_still_ns=hold_still_ns,
            )
            for rel_dir, recursive, claimed in plan
        ]
        # Write each survey's findings while the others run; only new files that could be the
        # far end of a move wait until every survey has said what went missing.
        known_files = records_before if whole_root else 0
        surveys = _run_surveys(
            tasks, settings, pool, root_path, clock, on_progress, cancel, known_files
        )
        for result in surveys:
            results.append(result)
            updates = [seen for seen in result.changed if seen.record_id is not None]
            new_files = [seen for seen in result.changed if seen.record_id is None]
            if records_before:
                replaced += [seen for seen in updates if _replaced_in_place(seen)]
                updates = [seen for seen in updates if not _replaced_in_place(seen)]
                known_contents = queries.existing_contents(
                    catalogue.db, ((seen.blake3, seen.size) for seen in new_files if seen.blake3)
                )
                deferred += [s for s in new_files if (s.blake3, s.size) in known_contents]
                new_files = [s for s in new_files if (s.blake3, s.size) not in known_contents]
            writer.update(updates)
            writer.add(new_files)
            writer.flush(only_if_full=True)
            # Written, or held back above: a first scan of 300,000 files kept every file's
            # finding to the end (its peak memory) for nothing the rest of the run reads.
            result.changed = []

    files_seen = sum(r.files_seen for r in results)
    missing = [known for r in results for known in r.missing]
    unreadable_folders = [item for r in results for item in r.unreadable_folders]
    unreadable_files = [item for r in results for item in r.unreadable_files]
    unsettled = tuple(path for r in results for path in r.unsettled)
    if (
        offline_reason is None
        and files_seen == 0
        and missing
        and not accept_empty
        # A run over some folders (the watcher's) sees an emptied root as files deleted.
        and (whole_root or not holds_files(root_path, rules))
    ):
        offline_reason = empty_reason(root_path, records_before)
    if offline_reason is None:
        # The drive may have gone while it was read: look again before removing anything.
        offline_reason = check_root(root, rules, accept_as_is=accept_empty).offline_reason

    if offline_reason is not None:
        status, error_text = "partial", offline_reason
    elif unreadable_folders:
        # Part of the tree was not read: nothing may be removed on what we did not see. A new
        # file whose content's record is gone from the disk (checked there, not inferred from
        # the folders read) is still the far end of a move: a folder renamed while it was
        # read is exactly that, and must keep its records.
        status = "partial"
        error_text = (
            f"{len(unreadable_folders)} folder(s) could not be read, so nothing was removed: "
            + _summarise(unreadable_folders)
        )
        moves, added, _ = _pair_moves(
            deferred, _gone_from_other_folders(catalogue, root, deferred, [])
        )
        writer.move(moves)
        writer.update(replaced)
        writer.add(added)
    else:
        status, error_text = "completed", None
        if deferred:
            missing += _gone_from_other_folders(catalogue, root, deferred, missing)
        moves, added, updated, removed = settle_identities(deferred, replaced, missing)
        if hold_removals:
            # Only records whose path no other record takes now can wait for their content.
            taken = {seen.rel_path for seen in added + updated} | {s.rel_path for s, _ in moves}
            vanished = [known for known in removed if known.rel_path not in taken]
            held = {known.record_id for known in vanished}
            removed = [known for known in removed if known.record_id not in held]
        # All in one transaction: a record may move into a path another one just left.
        writer.remove(removed)
        writer.move(moves)
        writer.update(updated)
        writer.add(added)
    writer.unreadable(unreadable_folders + unreadable_files)
    writer.flush()
    set_root_state(root, offline_reason, check.identity, time.time())
    if offline_reason is None:
        surveyed = [(rel_dir, recursive) for rel_dir, recursive, _claimed in plan]
        queries.note_folders_read(root.id, surveyed, unreadable_folders, time.time())

    report = ReconcileReport(
        run_id=run.id,
        root_path=root_path,
        status=status,
        files_scanned=files_seen,
        files_added=writer.added,
        files_updated=writer.updated,
        files_moved=writer.moved,
        files_removed=writer.removed,
        files_hashed=sum(r.files_hashed for r in results),
        files_unreadable=writer.unreadable_files + len(unreadable_files),
        bytes_hashed=sum(r.bytes_hashed for r in results),
        duration=time.perf_counter() - clock,
        error=error_text,
        unsettled=unsettled,
        vanished=tuple(known.record_id for known in vanished),
    )
    SyncRun.update(
        status=report.status,
        error=report.error,
        finished_at=time.time(),
        duration=report.duration,
        files_scanned=report.files_scanned,
        files_added=report.files_added,
        files_updated=report.files_updated,
        files_moved=report.files_moved,
        files_removed=report.files_removed,
        files_hashed=report.files_hashed,
        files_unreadable=report.files_unreadable,
        bytes_hashed=report.bytes_hashed,
    ).where(SyncRun.id == run.id).execute()
    if first_index and writer.added:
        record_event(
            EventKind.INDEXED,
            SOURCE,
            root=root,
            path=root_path,
            payload={"files": writer.added, "bytes": report.bytes_hashed, "run": run.id},
        )
    return report


def remove_vanished(
    catalogue: Catalogue, root: Root, record_ids: Iterable[int], kind: str = "realtime"
) -> ReconcileReport | None:
    """Remove the records a run held (``ReconcileReport.vanished``) whose files are still not
    on disk where the record says, as a run of its own (None when there are none). A record
    that moved meanwhile (its content turned up elsewhere) or whose file is back is left
    alone, and so is every record of a root that cannot be read now, is unmounted, emptied
    or another drive: the engine's probe takes it offline, and it keeps its records."""
    started, clock = time.time(), time.perf_counter()
    if check_root(root, IgnoreRules()).offline_reason is not None:
        return None
    gone = [
        known
        for known in queries.held_records(catalogue.db, list(record_ids))
        if known.root_id == root.id and _is_gone(os.path.join(root.path, known.rel_path))
    ]
    if not gone:
        return None
    run = SyncRun.create(kind=kind, root=root, started_at=started, status="running")
    writer = _ChangeWriter(catalogue, root, run.id, first_index=False)
    writer.remove(gone)
    writer.flush()
    duration = time.perf_counter() - clock
    SyncRun.update(
        status="completed", finished_at=time.time(), duration=duration, files_removed=writer.removed
    ).where(SyncRun.id == run.id).execute()
    return ReconcileReport(
        run_id=run.id,
        root_path=root.path,
        status="completed",
        files_scanned=0,
        files_added=0,
        files_updated=0,
        files_moved=0,
        files_removed=writer.removed,
        files_hashed=0,
        files_unreadable=0,
        bytes_hashed=0,
        duration=duration,
        error=None,
    )


def _run_surveys(
    tasks: list[SurveyTask],
    settings: ScanSettings,
    pool: SurveyPool | None,
    root_path: str,
    clock: float,
    on_progress: Callable[[ScanProgress], None] | None,
    cancel: threading.Event | None = None,
    known_files: int = 0,
) -> Iterator[SurveyResult]:
    """The surveys' results as they finish: from ``pool``, or surveyed here and, when they
    take long (or the ``known_files`` of the root say they will), by worker processes."""
    runner: SurveyPool | _SurveysHereFirst | _InProcessSurveys
    owned = None
    if pool is not None:  # the caller's, kept for its next scan
        runner = pool
    elif settings.workers > 1 and len(tasks) > 1:
        here = 0.0 if known_files >= WORKERS_FROM_START_FILES else SURVEY_HERE_SECONDS
        runner = owned = _SurveysHereFirst(settings.workers, here)
    else:
        runner = _InProcessSurveys()
    runner.reset_counters()
    done = 0
    try:
        for result in runner.run(tasks, poll_seconds=0.2):
            if cancel is not None and cancel.is_set():
                raise ScanStopped("stopped before it finished; nothing was removed")
            if result is not None:
                done += 1
                yield result
            if on_progress is not None:
                on_progress(
                    ScanProgress(
                        root_path=root_path,
                        files_seen=runner.files_seen.value,
                        bytes_hashed=runner.bytes_hashed.value,
                        surveys_done=done,
                        surveys_total=len(tasks),
                        elapsed=time.perf_counter() - clock,
                    )
                )
    finally:
        if owned is not None:
            owned.close()


class _ChangeWriter:
    """Collects a reconcile's changes and writes them, with their Events, in batched
    transactions. The first index of a root gets one summary Event instead of one per file."""

    def __init__(self, catalogue: Catalogue, root: Root, generation: int, first_index: bool):
        self.db = catalogue.db
        self.root_id = root.id
        self.generation = generation
        self.first_index = first_index
        self.now = time.time()
        self._inserts: list[tuple] = []
        self._updates: list[tuple] = []
        self._moves: list[tuple] = []
        self._move_sources: set[str] = set()  # the paths the moving records leave
        self._deletes: list[int] = []
        self._events: list[tuple] = []
        self.added = self.updated = self.moved = self.removed = self.unreadable_files = 0

    def _file_rows(self, files: list[SeenFile]) -> list[tuple]:
        """(rel_path, size, mtime_ns, blake3, hashed_at, last_seen, generation, kind, error,
        description, record_id) per file. A comprehension over plain tuples: on a first index
        this runs 100k times in the process that also writes the catalogue."""
        now, generation = self.now, self.generation
        return [
            (rel, size, mtime, digest, None if digest is None else now, now, generation, kind,
             error, description, record_id)
            for rel, size, mtime, kind, digest, error, record_id, _, _, description in files
        ]  # fmt: skip

    def _event(self, kind: EventKind, path: str, payload: dict | None = None) -> None:
        text = json.dumps(payload) if payload is not None else None
        self._events.append((kind, SOURCE, self.root_id, path, None, text))

    def _file_events(self, kind: EventKind, files: list[SeenFile]) -> None:
        problems = [(seen.rel_path, seen.error) for seen in files if seen.error is not None]
        said = self._said(problems)
        for seen in files:
            if seen.error is not None:
                self.unreadable_files += 1
                if (seen.rel_path, seen.error) not in said:
                    self._event(EventKind.UNREADABLE, seen.rel_path, {"reason": seen.error})
            elif not self.first_index:
                self._event(kind, seen.rel_path)

    def _said(self, problems: list[tuple[str, str]]) -> set[tuple[str, str]]:
        """The problems already said (a file still unreadable for the same reason is not news:
        a realtime run of its folder comes with every file written beside it)."""
        if not problems or self.first_index:
            return set()
        return queries.said_unreadable(self.db, self.root_id, problems)

    def add(self, files: list[SeenFile]) -> None:
        root_id = self.root_id
        self._inserts += [(root_id, *row[:-1]) for row in self._file_rows(files)]
        self._file_events(EventKind.ADDED, files)
        self.added += len(files)

    def update(self, files: list[SeenFile]) -> None:
        self._updates += self._file_rows(files)
        self._file_events(EventKind.MODIFIED, files)
        self.updated += len(files)

    def move(self, moves: list[tuple[SeenFile, KnownFile]]) -> None:
        rows = self._file_rows([seen for seen, _ in moves])
        for row, (seen, known) in zip(rows, moves, strict=True):
            self._moves.append((self.root_id, *row[:-1], known.record_id))
            self._move_sources.add(known.rel_path)
            payload = {"from": known.rel_path}
            if known.root_id is not None and known.root_id != self.root_id:
                payload["from_root"] = known.root_id
            self._event(EventKind.MOVED, seen.rel_path, payload)
        self.moved += len(moves)

    def remove(self, records: list[KnownFile]) -> None:
        for known in records:
            self._deletes.append(known.record_id)
            self._event(
                EventKind.REMOVED, known.rel_path, {"blake3": known.blake3, "size": known.size}
            )
        self.removed += len(records)

    def unreadable(self, items: list[tuple[str, str]]) -> None:
        said = self._said(items)
        for path, reason in items:
            if (path, reason) not in said:
                self._event(EventKind.UNREADABLE, path, {"reason": reason})

    def flush(self, only_if_full: bool = False) -> None:
        """Write what is pending: removals first, then moves (which may take a path a removal
        or another move freed), then updates, then new records, then their Events (so a file
        an Event names is there). In transactions bounded in time (core.store.writing): a
        decision never waits long for a reconcile, and each commit leaves the catalogue
        consistent; what a stop cuts short, the next reconcile finds."""
        pending = (
            len(self._inserts)
            + len(self._updates)
            + len(self._moves)
            + len(self._deletes)
            + len(self._events)
        )
        if not pending or (only_if_full and pending < WRITE_BATCH):
            return
        db = self.db
        with BoundedWrites(db) as writes:
            for chunk in writes.chunks(self._deletes):
                queries.delete_files(db, chunk)
            destinations = {row[1] for row in self._moves}  # (root_id, rel_path, ...)
            if destinations & self._move_sources:
                # A record moves to a path another one leaves (a swap, a renumbering): the
                # two steps of move_files must see every such move, in one transaction.
                queries.move_files(db, self._moves)
                writes.wrote(len(self._moves))
            else:
                for chunk in writes.chunks(self._moves):
                    queries.move_files(db, chunk)
            for chunk in writes.chunks(self._updates):
                queries.update_files(db, chunk)
            for chunk in writes.chunks(self._inserts):
                queries.insert_files(db, chunk)
            for chunk in writes.chunks(self._events):
                # Stamped as written: an event's time is when others can see it.
                written = time.time()
                insert_events(db, [(written, *event) for event in chunk])
        self._inserts, self._updates, self._moves, self._deletes = [], [], [], []
        self._move_sources, self._events = set(), []


def reconcile_roots(
    catalogue: Catalogue,
    roots: Iterable[Root],
    settings: ScanSettings,
    kind: str = "manual",
    on_progress: Callable[[ScanProgress], None] | None = None,
    accept_empty: bool = False,
    hold_still_seconds: float = 0.0,
) -> list[ReconcileReport]:
    """Reconcile several roots one after another (a command's scan). Each surveys in this
    process first, and starts worker processes only when its surveys take long (see
    SURVEY_HERE_SECONDS)."""
    try:
        return [
            reconcile_root(
                catalogue,
                root,
                settings,
                kind,
                on_progress,
                accept_empty=accept_empty,
                hold_still_seconds=hold_still_seconds,
            )
            for root in roots
        ]
    finally:
        close_catalogue_connection()  # the surveys made here opened it
