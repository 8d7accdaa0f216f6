"""The stages as configured, and the runner: it queues what is due, claims jobs, makes the
artifacts in worker threads (Pillow and blake3 let other threads run while they work), and
records each result: the artifact with what it was made from, the job's end, an event.

Writes happen on the thread that calls ``tick`` (the engine's writer, or the command's own
thread); the workers only read the catalogue and write files.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import blake3
from peewee import SqliteDatabase

from core.config import ConfigError, MediaSettings, StageSettings
from core.files import open_to_read, write_atomically
from core.media.photos import built_preview
from core.media.preview import PreviewUnavailable
from core.stages import command as commands
from core.stages import images
from core.stages.queue import Claimed, Due, claim, fail, finish, queue_due, recover_running
from core.store.events import EventKind, record_event
from core.store.photos import original_of

COMMAND_WORKERS = 2  # darktable-cli uses every core itself: two at once is plenty
QUEUE_SECONDS = 5.0  # how often the runner looks for photos that became due
REQUEUE_AFTER_DONE_SECONDS = 0.5


@dataclass(frozen=True)
class StageDef:
    name: str
    ext: str
    params: dict
    approved_only: bool = True
    after: str | None = None  # made from this stage's artifact, not from the original
    command: tuple[str, ...] | None = None
    program: str | None = None  # the command's program, resolved at start

    @property
    def reads_sidecar(self) -> bool:
        return self.command is not None and any("{xmp}" in arg for arg in self.command)

    @property
    def params_hash(self) -> str:
        return blake3.blake3(json.dumps(self.params, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def due(self) -> Due:
        return Due(self.name, self.params_hash, self.approved_only, self.after, self.reads_sidecar)


def stage_defs(settings: StageSettings, preview_long_edge: int = 1600) -> list[StageDef]:
    """The enabled built-in stages and the configured command stages, checked: an unknown
    stage, or a command that cannot run, is a ConfigError at start."""
    # With web on, the thumb is made from the web JPEG: decoding a 24 MP original once per
    # photo instead of twice nearly doubles the photos a second.
    thumb_from = "web" if "web" in settings.enabled else None
    built_in = {
        "thumb": StageDef("thumb", "jpg", {"long_edge": 400, "quality": 85}, after=thumb_from),
        "web": StageDef(
            "web",
            "jpg",
            {"long_edge": 2048, "quality": 88, "keep_metadata": settings.web_keep_metadata},
        ),
        "blurhash": StageDef("blurhash", "", {"x": 4, "y": 3}, after="thumb"),
        # The triage preview (the media engine builds it for every photo; as a stage it is
        # also kept with the other artifacts, for every photo, approved or not).
        "preview": StageDef(
            "preview", "jpg", {"long_edge": preview_long_edge}, approved_only=False
        ),
    }
    defs = []
    for name in settings.enabled:
        if name not in built_in:
            raise ConfigError(
                f"stages.enabled: {name!r} is not a built-in stage (they are: "
                f"{', '.join(built_in)}); command stages go under [stages.commands]."
            )
        defs.append(built_in[name])
    if "blurhash" in settings.enabled and "thumb" not in settings.enabled:
        raise ConfigError("stages.enabled: blurhash is made from the thumb: enable thumb too.")
    for name, argv in settings.commands.items():
        if name in built_in:
            raise ConfigError(f"stages.commands: {name!r} is the name of a built-in stage.")
        try:
            program = commands.check_command(name, argv)
        except commands.CommandConfigError as error:
            raise ConfigError(str(error)) from None
        defs.append(StageDef(name, "jpg", {"command": list(argv)}, command=tuple(argv),
                             program=program))  # fmt: skip
    return defs


@dataclass
class RunCounts:
    queued: int = 0
    done: int = 0
    failed: int = 0  # failures, retried later or for good
    by_stage: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Made:
    path: str
    blake3: str
    size: int
    width: int | None
    height: int | None
    source_blake3: str
    sidecar_blake3: str | None
    blurhash: str | None = None


class StageRunner:
    def __init__(
        self,
        db: SqliteDatabase,
        settings: StageSettings,
        defs: list[StageDef] | None = None,
        workers: int | None = None,
        media: MediaSettings | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.media = media or MediaSettings()
        if defs is None:
            defs = stage_defs(settings, self.media.preview_long_edge)
        self.defs = {d.name: d for d in defs}
        self.workers = workers or settings.workers
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="shootwatch-stage")
        self._commands = threading.BoundedSemaphore(COMMAND_WORKERS)
        self._stopping = threading.Event()  # set: running commands are stopped
        self._running: dict[Future, Claimed] = {}
        self._next_queue = 0.0
        self.counts = RunCounts()
        recover_running(db)

    def close(self, wait: bool = True) -> None:
        """Stop starting jobs. Without ``wait`` (the engine stopping), a command still running
        is stopped (it could run for minutes, and the process cannot end before it) and other
        jobs are left to finish on their own; their rows stay "running" and run again at the
        next start."""
        if not wait:
            self._stopping.set()
        self._pool.shutdown(wait=wait, cancel_futures=True)

    # --- the loop ----------------------------------------------------------------------------

    def tick(self, stages: list[str] | None = None, now: float | None = None) -> bool:
        """Queue what became due (every few seconds), start jobs in free workers, record the
        finished ones. Returns True while there is work running."""
        now = time.time() if now is None else now
        names = [n for n in (stages or self.defs) if n in self.defs]
        for future in [f for f in self._running if f.done()]:
            self._record(self._running.pop(future), future)
            # A finished artifact can make a stage that works from it due: look again soon.
            self._next_queue = min(self._next_queue, now + REQUEUE_AFTER_DONE_SECONDS)
        if now >= self._next_queue:
            self._next_queue = now + QUEUE_SECONDS
            self.queue(names)
        while len(self._running) < self.workers + 1:  # one waiting: no worker idles
            claimed = claim(self.db, names, now)
            if claimed is None:
                break
            self._running[self._pool.submit(self._make, claimed)] = claimed
        return bool(self._running)

    def queue(self, names: list[str] | None = None, photo_ids: list[int] | None = None) -> int:
        queued = 0
        for name in names or list(self.defs):
            count = queue_due(self.db, self.defs[name].due, photo_ids)
            if count:
                record_event(
                    EventKind.STAGE_QUEUED, "stage", payload={"stage": name, "jobs": count}
                )
            queued += count
        self.counts.queued += queued
        return queued

    def run_until_idle(
        self,
        stages: list[str] | None = None,
        progress: Callable[[RunCounts], None] | None = None,
    ) -> RunCounts:
        """Everything due now, to the end (jobs waiting for a retry later are left waiting)."""
        self._next_queue = 0.0
        while True:
            busy = self.tick(stages)
            if progress is not None:
                progress(self.counts)
            if not busy:
                # Stages made from another's artifact become due as the first finish.
                self._next_queue = 0.0
                if not self.tick(stages):
                    return self.counts
            wait(list(self._running), timeout=0.5, return_when=FIRST_COMPLETED)

    # --- one job (a worker thread: files only) -----------------------------------------------

    def _make(self, claimed: Claimed) -> _Made:
        stage = self.defs[claimed.stage]
        found = original_of(self.db, claimed.photo_id)
        if found is None:
            raise images.StageFailed("the photo has no original file on disk")
        source_blake3, root, rel_path, file_format, orientation = found
        src = Path(root) / rel_path
        if stage.name == "blurhash":
            return self._blurhash(claimed, stage)
        if stage.name == "preview":
            return self._preview(claimed, stage, source_blake3)
        if stage.after is not None:  # made from another stage's JPEG, already upright
            src, source_blake3 = self._input(claimed, stage)
            file_format, orientation = "jpeg", 1
        out = Path(self.settings.output) / stage.name / f"{claimed.photo_id}.{stage.ext}"
        sidecar, sidecar_blake3 = self._sidecar(claimed.photo_id)
        if stage.reads_sidecar and sidecar is None:
            raise images.StageFailed("the photo has no XMP sidecar (any more)")
        if stage.command is not None:
            with self._commands:
                program = os.fsencode(stage.program or stage.command[0])
                argv = [program, *commands.expand(
                    stage.command[1:],
                    {
                        "src": src,
                        "xmp": sidecar or Path(f"{src}.xmp"),  # unused: no {xmp} in it
                        "out": out,
                        "stem": src.stem,
                        "photo": str(claimed.photo_id),
                        "outdir": out.parent,
                    },
                )]  # fmt: skip
                out.parent.mkdir(parents=True, exist_ok=True)
                commands.run_command(argv, out, stop=self._stopping)
            made = images.Made(*_dimensions(out))
        elif stage.name == "thumb":
            made = images.make_thumb(src, file_format or "unknown", orientation, out,
                                     **stage.params)  # fmt: skip
        else:
            made = images.make_web(src, file_format or "unknown", orientation, out,
                                   **stage.params)  # fmt: skip
        digest, size = _hash(out)
        return _Made(str(out), digest, size, made.width, made.height, source_blake3,
                     sidecar_blake3 if stage.reads_sidecar else None)  # fmt: skip

    def _preview(self, claimed: Claimed, stage: StageDef, source_blake3: str) -> _Made:
        try:
            cached = built_preview(self.db, self.media, claimed.photo_id)
        except PreviewUnavailable as failure:
            raise images.StageFailed(failure.reason, failure.lasting) from failure
        out = Path(self.settings.output) / stage.name / f"{claimed.photo_id}.{stage.ext}"
        out.parent.mkdir(parents=True, exist_ok=True)
        with open_to_read(cached) as preview:  # a copy: the cache evicts, the artifact stays
            write_atomically(out, lambda handle: shutil.copyfileobj(preview, handle))
        digest, size = _hash(out)
        width, height = _dimensions(out)
        return _Made(str(out), digest, size, width, height, source_blake3, None)

    def _input(self, claimed: Claimed, stage: StageDef) -> tuple[Path, str]:
        row = self.db.execute_sql(
            "SELECT path, blake3 FROM artifact WHERE photo_id = ? AND stage = ?",
            (claimed.photo_id, stage.after),
        ).fetchone()
        if row is None:
            raise images.StageFailed(f"the {stage.after} is not made yet")
        return Path(row[0]), row[1]

    def _blurhash(self, claimed: Claimed, stage: StageDef) -> _Made:
        row = self.db.execute_sql(
            "SELECT path, blake3, width, height FROM artifact WHERE photo_id = ? AND stage = ?",
            (claimed.photo_id, stage.after),
        ).fetchone()
        if row is None:
            raise images.StageFailed(f"the {stage.after} is not made yet")
        path, input_blake3, width, height = row
        value = images.blurhash_of(Path(path), stage.params["x"], stage.params["y"])
        return _Made(path, input_blake3, len(value), width, height, input_blake3, None, value)

    def _sidecar(self, photo_id: int) -> tuple[Path | None, str | None]:
        row = self.db.execute_sql(
            "SELECT r.path, f.rel_path, f.blake3 FROM file f JOIN root r ON r.id = f.root_id"
            " WHERE f.photo_id = ? AND f.role = 'sidecar' ORDER BY f.rel_path LIMIT 1",
            (photo_id,),
        ).fetchone()
        if row is None:
            return None, None
        return Path(row[0]) / row[1], row[2]

    # --- the result (the calling thread: every write) ----------------------------------------

    def _record(self, claimed: Claimed, future: Future) -> None:
        stage = self.defs[claimed.stage]
        by = self.counts.by_stage
        try:
            made: _Made = future.result()
        except (images.StageFailed, commands.CommandFailed, OSError) as error:
            lasting = isinstance(error, images.StageFailed) and error.lasting
            self._failed(claimed, _reason(error), retry=not lasting)
            return
        except Exception as error:  # a bug in a stage must not stop the others
            self._failed(claimed, f"{type(error).__name__}: {error}")
            return
        with self.db.atomic():
            self.db.execute_sql(
                "INSERT INTO artifact (photo_id, stage, path, blake3, size, width, height,"
                " params, created_at, source_blake3, sidecar_blake3, params_hash, blurhash)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (photo_id, stage) DO UPDATE SET path = excluded.path,"
                " blake3 = excluded.blake3, size = excluded.size, width = excluded.width,"
                " height = excluded.height, params = excluded.params,"
                " created_at = excluded.created_at, source_blake3 = excluded.source_blake3,"
                " sidecar_blake3 = excluded.sidecar_blake3, params_hash = excluded.params_hash,"
                " blurhash = excluded.blurhash",
                (claimed.photo_id, stage.name, made.path, made.blake3, made.size, made.width,
                 made.height, json.dumps(stage.params, sort_keys=True), time.time(),
                 made.source_blake3, made.sidecar_blake3, stage.params_hash, made.blurhash),
            )  # fmt: skip
            finish(self.db, claimed.job_id)
            payload = {"stage": stage.name, "photo": claimed.photo_id}
            record_event(EventKind.STAGE_DONE, "stage", path=made.path, payload=payload)
        self.counts.done += 1
        by[stage.name] = by.get(stage.name, 0) + 1

    def _failed(self, claimed: Claimed, reason: str, retry: bool = True) -> None:
        """Record a failure: tried again later, unless ``retry`` is False (the file itself is
        the cause: the same bytes give the same failure) or the tries are used up."""
        attempts = self.settings.max_attempts if retry else claimed.attempts
        with self.db.atomic():
            final = fail(self.db, claimed.job_id, reason, attempts)
            record_event(
                EventKind.STAGE_FAILED,
                "stage",
                payload={"stage": claimed.stage, "photo": claimed.photo_id, "error": reason,
                         "attempt": claimed.attempts, "final": final},
            )  # fmt: skip
        self.counts.failed += 1


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError):
        return f"cannot be written or read: {error.strerror or error}"
    return str(error)


def _hash(path: Path) -> tuple[str, int]:
    hasher = blake3.blake3()
    size = 0
    with open_to_read(path) as handle:
        while chunk := handle.read(1 << 20):
            hasher.update(chunk)
            size += len(chunk)
    return hasher.hexdigest(), size


def _dimensions(path: Path) -> tuple[int | None, int | None]:
    from PIL import Image

    try:
        with open_to_read(path) as handle, Image.open(handle) as image:
            return image.size
    except (OSError, ValueError):  # a command's output need not be a picture
        return None, None
