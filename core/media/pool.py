"""Worker processes for media work (file types, EXIF, previews), separate from the scan's so a
backlog of previews never delays a scan, and the watcher never waits for either."""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from core.media.describe import describe_files
from core.media.work import PreviewJob, build_previews
from core.workers import end_with_parent

log = logging.getLogger(__name__)


class MediaPool:
    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.closed = False
        self._executor = self._start()

    def _start(self) -> ProcessPoolExecutor:
        # fork is unsafe once threads exist; forkserver starts workers from a clean process.
        method = "fork" if threading.active_count() == 1 else "forkserver"
        context = multiprocessing.get_context(method)
        if method == "forkserver":
            context.set_forkserver_preload(["core.media.describe", "core.media.work"])
        return ProcessPoolExecutor(self.workers, mp_context=context, initializer=end_with_parent)

    def _submit(self, work: Callable, *args: object) -> Future:
        """Hand ``work`` to a worker. A worker that died (killed, out of memory) breaks the
        whole pool for good: a fresh one takes its place, and the work it had is found again
        by the media backlog."""
        try:
            return self._executor.submit(work, *args)
        except BrokenProcessPool:
            log.warning("a media worker stopped unexpectedly: starting the media workers again")
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = self._start()
            return self._executor.submit(work, *args)

    def describe(self, paths: list[str], done: Callable[[Future], None]) -> Future:
        future = self._submit(describe_files, paths)
        future.add_done_callback(done)
        return future

    def previews(
        self,
        jobs: list[PreviewJob],
        cache_dir: str,
        max_bytes: int,
        long_edge: int,
        done: Callable[[Future], None],
    ) -> Future:
        future = self._submit(build_previews, jobs, cache_dir, max_bytes, long_edge)
        future.add_done_callback(done)
        return future

    def close(self) -> None:
        self.closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)
