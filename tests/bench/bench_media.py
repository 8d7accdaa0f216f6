"""The media benchmark: EXIF metadata and previews in files/s, previews from the cache in ms.

Run from the repository root (a standalone script, not a pytest test):

    python3 tests/bench/bench_media.py [--files N] [--previews P] [--repeat R]
        [--cold-cache auto|drop_caches|fadvise] [--keep]

It builds a tree of N files (default 4,000), copies of the camera samples in
tests/fixtures/camera taken in turn: only the samples that are whole pictures (described with
no reason or damage, a preview of at least 400 px that decodes, a JPEG that decodes in full);
the broken and tiny ones are said and left out, and a sample that should decode but does not
stops the run before anything is timed. Copies, not hard links: each file has page-cache pages
of its own, so a cold pass reads every file from the disk. It then times, in one run:

- ``describe_files`` (sniff + EXIF) over all N files, in R rounds; in each, one process, a
  ``MediaPool`` of 2 workers fed batches of 64 paths as the engine feeds it, and two plain
  forked processes each describing half the files (what 2 cores give now, with no pool: the
  machine's ceiling, as other work on it lowers it). The first round starts each pass from a
  cold page cache (``drop_caches`` when run as root, else ``posix_fadvise(DONTNEED)`` per
  file; the output says which: drop_caches empties the whole machine's cache, so on a shared
  machine ``--cold-cache fadvise`` disturbs less); the others are warm. The passes of a round
  run one order, then the other in the next. The pool's speed-up over one process is taken in
  each round and its median judged against the target (>= 1.8x on 2 cores), with the CPU
  pressure each round started under (the share of time some task waited for a CPU: other
  work on the machine, which no pool gets back); ``cat`` and ``b3sum`` over the same files
  are references (files/s);
- the same describing as the engine does it, into a catalogue (``MediaSync`` fed at the
  engine's 0.2 s ticks, the results applied by one writer), one process against the pool;
- ``build_previews`` for P files (default 1,000) with a usable preview, in batches of 8 as the
  engine sends them, in this process and through the pool, each into an empty PreviewCache.
  Copies share their content, hence their blake3: each file gets a key of its own (a blake3 of
  its path), or all but the first copy of a sample would be cache hits;
- a preview from the cache: ``PreviewCache.get`` and reading the file it names, against a plain
  read of the same file;
- ``render_preview`` of the D7100 NEF (a 6000 x 4000 = 24 MP embedded JPEG, decoded in draft
  mode for a 1600 px preview) and of an 8 MP phone JPEG, against Pillow decoding the same JPEG
  bytes in full, and in draft mode alone at the scale the preview was decoded at (the rest is
  what finding the JPEG, scaling, turning and encoding cost).

Speed targets are reported as met or missed and never fail the run; a file described as
another format than its sample, or a preview that could not be built, exits with 1.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import platform
import queue
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import blake3
import PIL
from benchtools import print_verdicts, table_lines, work_tree
from PIL import Image, JpegImagePlugin, features

from core.config import MediaSettings, ScanSettings
from core.media.cache import PreviewCache
from core.media.describe import Description, describe_files
from core.media.photos import BATCH as DESCRIBE_BATCH
from core.media.photos import PREVIEW_BATCH, MediaSync, preview_cache_dir
from core.media.pool import MediaPool
from core.media.preview import PreviewUnavailable, embedded_jpeg, render_preview
from core.media.work import PreviewJob, PreviewResult, build_previews
from core.scan.reconcile import reconcile_root
from core.store import open_catalogue
from core.store.models import Root

SEED = 20240604
SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "camera"
NOT_SAMPLES = {"MANIFEST.md"}
FILES_PER_FOLDER = 1_000
READ_CHUNK = 1024 * 1024
WORKERS = 2
CACHE_GETS = 1_000
RENDER_RUNS = 20
BIG_RAW = ("nikon_d7100_truncated.NEF", "tiff-raw", (6000, 4000))
PHONE_JPEG = ("apple_iphone5_orient3_gps.jpg", "jpeg", (3264, 2448))
MB = 1_000_000

METADATA_TARGET = 1_000.0  # files/s with 2 workers
SPEED_UP_TARGET = 1.8  # the pool over one process, on 2 cores
MIN_PREVIEW_EDGE = 400  # px: a sample whose picture is smaller is too tiny to stand for a photo
ENGINE_TICK = 0.2  # seconds, core.engine.media.MediaComponent.tick_seconds
CACHE_TARGET = 0.005  # seconds, median of get + read
BIG_RAW_TARGET = 0.060  # seconds, median of a preview made from a 24 MP embedded JPEG

T = TypeVar("T")


# --- the tree ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TreeFile:
    path: str
    sample: Path


@dataclass(frozen=True)
class Tree:
    files: list[TreeFile]
    total_bytes: int

    @property
    def paths(self) -> list[str]:
        return [file.path for file in self.files]


def all_samples() -> list[Path]:
    return sorted(path for path in SAMPLES.iterdir() if path.name not in NOT_SAMPLES)


def why_not_a_whole_picture(sample: Path) -> str | None:
    """Why ``sample`` cannot stand for a camera's photo (broken, or tiny), None when it can:
    described with no reason and no damage, and a preview of at least MIN_PREVIEW_EDGE px."""
    (description,) = describe_files([str(sample)])
    reason = description.sniffed.reason or description.damage
    if reason:
        return reason
    try:
        preview = render_preview(
            sample, description.sniffed.format, description.metadata.orientation
        )
    except PreviewUnavailable as error:
        return f"no preview: {error.reason}"
    size = image_size(preview)
    if max(size) < MIN_PREVIEW_EDGE:
        return f"tiny: its picture is {size[0]} x {size[1]}"
    return None


def check_decodes(sample: Path, file_format: str, orientation: int | None) -> None:
    """Raise unless the sample's picture decodes in full: its preview, and a JPEG itself."""
    decode_full(render_preview(sample, file_format, orientation))
    if file_format == "jpeg":
        decode_full(sample.read_bytes())


def sample_files() -> list[Path]:
    """The samples the tree is made of (cached: each is described and previewed once)."""
    if not _chosen:
        for sample in all_samples():
            reason = why_not_a_whole_picture(sample)
            if reason is None:
                _chosen.append(sample)
            else:
                _left_out[sample.name] = reason
    return _chosen


_chosen: list[Path] = []
_left_out: dict[str, str] = {}  # sample name -> why it is not in the tree


def build_tree(library: Path, count: int) -> Tree:
    """``count`` files, the samples in turn, in folders of FILES_PER_FOLDER; each keeps its
    sample's extension behind a unique name. Copies, so each has page-cache pages of its own."""
    samples = sample_files()
    files, total = [], 0
    for number in range(count):
        sample = samples[number % len(samples)]
        folder = library / f"{number // FILES_PER_FOLDER:03d}"
        if number % FILES_PER_FOLDER == 0:
            folder.mkdir(parents=True)
        target = folder / f"{number:05d}_{sample.stem}{sample.suffix}"
        shutil.copyfile(sample, target)
        files.append(TreeFile(str(target), sample))
        total += sample.stat().st_size
    return Tree(files, total_bytes=total)


DROP_CACHES = Path("/proc/sys/vm/drop_caches")


def cold_cache_method(wanted: str) -> str:
    """How the page cache is emptied: "drop_caches" (root: every file's pages on the machine)
    or "fadvise" (posix_fadvise(DONTNEED) on each file of the tree)."""
    if wanted == "auto":
        return "drop_caches" if os.access(DROP_CACHES, os.W_OK) else "fadvise"
    return wanted


def empty_page_cache(paths: list[str], method: str) -> None:
    os.sync()  # dirty pages are not dropped
    if method == "drop_caches":
        DROP_CACHES.write_text("3\n")
        return
    for path in paths:
        handle = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(handle, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(handle)


# --- measuring ------------------------------------------------------------------------------


def timed(action: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float | None  # CPU time of whoever did the work (this process, or the pool's workers)


def children_cpu() -> float | None:
    """CPU time (user + system) of this process's live children, the pool's workers while no
    other child runs; None where /proc does not tell."""
    total = 0
    try:
        for listing in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
            for pid in listing.read_text().split():
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    except (OSError, IndexError, ValueError):
        return None
    return total / os.sysconf("SC_CLK_TCK")


def run_here(action: Callable[[], T]) -> tuple[Run, T]:
    cpu_before = time.process_time()
    taken, result = timed(action)
    return Run(taken, time.process_time() - cpu_before), result


def run_in_pool(action: Callable[[], T]) -> tuple[Run, T]:
    cpu_before = children_cpu()
    taken, result = timed(action)
    cpu_after = children_cpu()
    used = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    return Run(taken, used), result


def percentile(values: list[float], percent: float) -> float:
    """Nearest-rank percentile (the value below which ``percent`` % of them are)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


def batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def ignore(_future: Future) -> None:
    """The pool's done callback: here the futures are waited for in order instead."""


def run_over_files(command: list[str], list_file: Path) -> None:
    """``command`` over the files named in ``list_file`` (NUL-separated), through xargs."""
    with open(list_file, "rb") as names:
        subprocess.run(
            ["xargs", "-0", "-n", "5000", *command],
            stdin=names,
            stdout=subprocess.DEVNULL,
            check=True,
        )


def describe_in_pool(pool: MediaPool, paths: list[str]) -> list[Description]:
    futures = [pool.describe(batch, ignore) for batch in batches(paths, DESCRIBE_BATCH)]
    return [description for future in futures for description in future.result()]


def previews_here(
    jobs: list[PreviewJob], cache_dir: Path, settings: MediaSettings
) -> list[PreviewResult]:
    limit = settings.preview_cache_mb * 1024 * 1024
    return [
        result
        for batch in batches(jobs, PREVIEW_BATCH)
        for result in build_previews(batch, str(cache_dir), limit, settings.preview_long_edge)
    ]


def previews_in_pool(
    pool: MediaPool, jobs: list[PreviewJob], cache_dir: Path, settings: MediaSettings
) -> list[PreviewResult]:
    limit = settings.preview_cache_mb * 1024 * 1024
    futures = [
        pool.previews(batch, str(cache_dir), limit, settings.preview_long_edge, ignore)
        for batch in batches(jobs, PREVIEW_BATCH)
    ]
    return [result for future in futures for result in future.result()]


def decode_full(data: bytes) -> None:
    with Image.open(io.BytesIO(data)) as image:
        image.load()


def decode_draft(data: bytes, size: tuple[int, int]) -> tuple[int, int]:
    """Only the decode a preview starts with: draft mode asked for ``size`` (libjpeg picks the
    smallest of 1/1, 1/2, 1/4 and 1/8 that covers it); the size decoded."""
    image = JpegImagePlugin.JpegImageFile(io.BytesIO(data))
    image.draft("RGB", size)
    image.load()
    return image.size


def image_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


# --- the results ------------------------------------------------------------------------------


def ms(value: float) -> str:
    shown = value * 1000
    digits = 3 if shown < 1 else 2 if shown < 10 else 1
    return f"{shown:,.{digits}f} ms"


def rate(files: int, taken: float) -> str:
    return f"{files / taken:,.0f} files/s"


@dataclass
class Results:
    rows: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    targets: list[tuple[str, str, bool | None]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def row(
        self, measure: str, ours: str = "", reference: str = "", ratio: str = "", target: str = ""
    ) -> None:
        self.rows.append((measure, ours, reference, ratio, target))

    def target(self, line: str, shown: str, met: bool | None) -> None:
        self.targets.append((line, shown, met))

    def fail(self, line: str) -> None:
        print(f"FAILURE {line}", flush=True)
        self.failures.append(line)


@dataclass
class Session:
    """What the steps of one benchmark run share."""

    args: argparse.Namespace
    base: Path
    tree: Tree
    results: Results
    cold_method: str  # how the page cache is emptied (cold_cache_method)
    settings: MediaSettings = field(default_factory=MediaSettings)
    rng: random.Random = field(default_factory=lambda: random.Random(SEED))
    formats: dict[Path, str] = field(default_factory=dict)  # sample -> its sniffed format
    orientations: dict[Path, int | None] = field(default_factory=dict)  # sample -> EXIF's

    @property
    def files(self) -> int:
        return len(self.tree.files)


def progress(message: str) -> None:
    print(message, flush=True)


# --- metadata -----------------------------------------------------------------------------------


def describe_samples(session: Session) -> None:
    """The format and orientation of each sample, as the copies must be described; a sample
    whose picture does not decode stops the run here, before anything is timed."""
    for description in describe_files([str(sample) for sample in sample_files()]):
        sample = Path(description.path)
        session.formats[sample] = description.sniffed.format
        session.orientations[sample] = description.metadata.orientation
        try:
            check_decodes(sample, description.sniffed.format, description.metadata.orientation)
        except Exception as error:  # Pillow on a damaged file raises nearly anything
            message = f"{sample.name} does not decode: {type(error).__name__}: {error}"
            raise SystemExit(message) from None
    for name, reason in sorted(_left_out.items()):
        progress(f"  left out {name}: {reason}")
    session.results.notes.append(
        f"samples: {len(sample_files())} whole pictures, all decoded before timing; "
        f"{len(_left_out)} left out (broken or tiny): {', '.join(sorted(_left_out))}"
    )


def check_descriptions(session: Session, descriptions: list[Description], how: str) -> None:
    if len(descriptions) != session.files:
        session.results.fail(f"{how}: {len(descriptions)} descriptions of {session.files} files")
        return
    wrong = [
        (file.path, description.sniffed.format)
        for file, description in zip(session.tree.files, descriptions, strict=True)
        if description.path != file.path
        or description.sniffed.format != session.formats[file.sample]
        or description.sniffed.reason
        or description.damage
    ]
    if wrong:
        path, found = wrong[0]
        session.results.fail(f"{how}: {len(wrong)} files described wrongly, first {path} ({found})")


class TwoProcesses:
    """Two plain processes, forked and waiting before the pass starts (their start-up is not
    timed, as the pool's is not), then each describing half the files at a word: what the
    machine's 2 cores give now, with no pool between."""

    def __init__(self, paths: list[str]) -> None:
        self.children: list[tuple[int, int, int]] = []  # pid, its "go" pipe, its "done" pipe
        for half in (paths[0::2], paths[1::2]):
            go_read, go_write = os.pipe()
            done_read, done_write = os.pipe()
            child = os.fork()
            if child == 0:  # the child
                status = 1
                try:
                    os.read(go_read, 1)
                    status = 0 if len(describe_files(half)) == len(half) else 1
                    os.write(done_write, b"x")
                finally:
                    os._exit(status)
            os.close(go_read)
            os.close(done_write)
            self.children.append((child, go_write, done_read))

    def run(self) -> float:
        started = time.perf_counter()
        for _child, go, _done in self.children:
            os.write(go, b"x")
        for _child, _go, done in self.children:
            os.read(done, 1)
        taken = time.perf_counter() - started
        for child, go, done in self.children:
            os.close(go)
            os.close(done)
            _pid, status = os.waitpid(child, 0)
            if os.waitstatus_to_exitcode(status) != 0:
                raise SystemExit("a reference process failed to describe its files")
        return taken


def cpu_pressure() -> float | None:
    """The share of the last 10 s in which some runnable task waited for a CPU (Linux's
    /proc/pressure/cpu, "some avg10"), in %; None where the kernel does not say."""
    try:
        first = Path("/proc/pressure/cpu").read_text().splitlines()[0]
        return float(dict(field.split("=") for field in first.split()[1:])["avg10"])
    except (OSError, IndexError, KeyError, ValueError):
        return None


def pressure_text(pressure: float | None) -> str:
    if pressure is None:
        return "CPU pressure unknown"
    return f"tasks waited for a CPU {pressure:.0f}% of the last 10 s"


@dataclass
class Round:
    cold: bool
    here: Run
    in_pool: Run
    two_processes: float
    pressure: float | None  # CPU pressure as the round started (cpu_pressure)

    @property
    def speed_up(self) -> float:
        return self.here.wall / self.in_pool.wall

    @property
    def ceiling(self) -> float:
        return self.here.wall / self.two_processes


def measure_metadata(session: Session, pool: MediaPool) -> None:
    paths, files, repeat = session.tree.paths, session.files, session.args.repeat
    method = session.cold_method
    list_file = session.base / "files.list"
    list_file.write_bytes(b"\0".join(os.fsencode(path) for path in paths))
    has_b3sum = shutil.which("b3sum") is not None
    progress(
        f"metadata of {files:,} files: {repeat} rounds (the first from a cold page cache, "
        f"by {method}) of 1 process, the pool, 2 plain processes, cat, b3sum ..."
    )
    # The workers up and warm, on files outside the tree (its page cache stays as it is).
    warm_up = [str(sample) for sample in sample_files()] * (DESCRIBE_BATCH * WORKERS // 4)
    pool_start = timed(lambda: describe_in_pool(pool, warm_up))[0]
    session.results.notes.append(
        f"the pool's first {len(warm_up):,} files, worker start-up included: {pool_start:.2f} s"
        " (not in the figures)"
    )
    cat_runs, b3sum_runs, rounds = [], [], []
    for number in range(repeat):
        cold = number == 0

        def pass_start(cold: bool = cold) -> None:
            if cold:
                empty_page_cache(paths, method)

        def one_process() -> Run:
            pass_start()
            run, described = run_here(lambda: describe_files(paths))
            check_descriptions(session, described, "describe_files in 1 process")
            return run

        def the_pool() -> Run:
            pass_start()
            run, described = run_in_pool(lambda: describe_in_pool(pool, paths))
            check_descriptions(session, described, f"describe_files in MediaPool({WORKERS})")
            return run

        def two_processes() -> float:
            pass_start()
            return TwoProcesses(paths).run()

        pressure = cpu_pressure()
        # In turn, one order then the other: a load that grows or falls over a round is not
        # always against the same one.
        if number % 2:
            two, in_pool, here = two_processes(), the_pool(), one_process()
        else:
            here, in_pool, two = one_process(), the_pool(), two_processes()
        rounds.append(Round(cold, here, in_pool, two, pressure))
        if not cold:  # whole files read: they would warm the cache for the next pass
            cat_runs.append(timed(lambda: run_over_files(["cat"], list_file))[0])
            if has_b3sum:
                b3sum_runs.append(timed(lambda: run_over_files(["b3sum"], list_file))[0])
        progress(
            f"  round {number + 1}/{repeat} ({'cold' if cold else 'warm'}): "
            f"1 process {rate(files, here.wall)}, pool {rate(files, in_pool.wall)} "
            f"({rounds[-1].speed_up:.2f}x), 2 plain processes {rate(files, two)} "
            f"({rounds[-1].ceiling:.2f}x); {pressure_text(pressure)}"
        )
    record_metadata(session, cat_runs, b3sum_runs, rounds)


def median_pressure(pressures: list[float | None]) -> str:
    known = [pressure for pressure in pressures if pressure is not None]
    if not known:
        return "CPU pressure unknown"
    return f"tasks waited for a CPU {statistics.median(known):.0f}% of the time (median)"


def record_metadata(
    session: Session, cat_runs: list[float], b3sum_runs: list[float], rounds: list[Round]
) -> None:
    results, files, method = session.results, session.files, session.cold_method
    for label, chosen in (
        (f"cold page cache ({method}), round 1", [r for r in rounds if r.cold]),
        (f"warm page cache, median of {len(rounds) - 1} rounds", [r for r in rounds if not r.cold]),
    ):
        if not chosen:
            continue
        here = median_wall([r.here for r in chosen])
        in_pool = median_wall([r.in_pool for r in chosen])
        two = statistics.median(r.two_processes for r in chosen)
        speed_up = statistics.median(r.speed_up for r in chosen)
        ceiling = statistics.median(r.ceiling for r in chosen)
        results.row(
            f"metadata (describe_files) of {files:,} files, {label}",
            f"pool({WORKERS}) {rate(files, in_pool)}",
            f"1 process {rate(files, here)}",
            f"{speed_up:.2f}",
            f">= {SPEED_UP_TARGET}",
        )
        results.row(
            "  2 plain processes, half each (the 2 cores now)",
            "",
            f"{rate(files, two)} ({ceiling:.2f}x 1 process)",
            "",
            "(info)",
        )
        results.target(
            f"metadata, {label.split(',')[0]}: the pool >= {SPEED_UP_TARGET}x 1 process",
            f"{speed_up:.2f}x, median of the same-round ratios over {len(chosen)} round(s); "
            f"2 plain processes reached {ceiling:.2f}x in the same rounds; "
            f"{median_pressure([r.pressure for r in chosen])}",
            speed_up >= SPEED_UP_TARGET,
        )
    warm = [r for r in rounds if not r.cold] or rounds
    in_pool = median_wall([r.in_pool for r in warm])
    for name, runs in (("cat", cat_runs), ("b3sum", b3sum_runs)):
        if runs:
            reference = statistics.median(runs)
            results.row(
                f"  warm pool against {name} over the same files",
                rate(files, in_pool),
                f"{name} {rate(files, reference)}",
                f"{reference / in_pool:.3f}",
                "(info)",
            )
    if not b3sum_runs:
        results.notes.append("b3sum is not installed: its reference is left out")
    record_pool_cpu(results, files, [r.here for r in warm], [r.in_pool for r in warm])
    pool_rate = files / in_pool
    results.target(
        f"metadata >= {METADATA_TARGET:,.0f} files/s with {WORKERS} workers",
        f"{pool_rate:,.0f} files/s, warm, median of {len(warm)}",
        pool_rate >= METADATA_TARGET,
    )


def median_wall(runs: list[Run]) -> float:
    return statistics.median(run.wall for run in runs)


def record_pool_cpu(results: Results, files: int, here: list[Run], in_pool: list[Run]) -> None:
    """Where a pool short of WORKERS x 1 process loses: idle workers (the pool's part), or more
    CPU per file than in one process (the machine's: the processes slow each other down)."""
    pool_cpu = [run.cpu for run in in_pool if run.cpu is not None]
    here_cpu = [run.cpu for run in here if run.cpu is not None]
    if len(pool_cpu) < len(in_pool) or len(here_cpu) < len(here):
        note = "/proc does not give the workers' CPU time: their rows are left out"
        if note not in results.notes:
            results.notes.append(note)
        return
    busy = statistics.median(
        cpu / (WORKERS * run.wall) for cpu, run in zip(pool_cpu, in_pool, strict=True)
    )
    results.row(
        "  workers busy (their CPU time / (workers x wall))", f"{busy:.0%}", target="(info)"
    )
    per_file_in_pool = statistics.median(pool_cpu) / files
    per_file_here = statistics.median(here_cpu) / files
    results.row(
        "  CPU per file in the pool",
        ms(per_file_in_pool),
        f"1 process {ms(per_file_here)}",
        f"{per_file_in_pool / per_file_here:.2f}",
        "(info)",
    )


# --- as the engine does it ---------------------------------------------------------------------


def scanned_catalogue(session: Session) -> Path:
    """A catalogue of the tree, scanned (hashed) and not yet described: its folder."""
    folder = session.base / "catalogue-scanned"
    catalogue = open_catalogue(folder / "catalogue.db")
    try:
        library = str(Path(session.tree.paths[0]).parents[1])
        root = Root.create(path=library, kind="library", added_at=time.time())
        reconcile_root(catalogue, root, ScanSettings(workers=1))
        # A scan describes the files it hashes, and those need no worker: what is measured here
        # is the files the media workers read (a catalogue from before, a description that
        # failed), so the descriptions the scan made are dropped.
        catalogue.db.execute_sql("UPDATE file SET description = NULL")
    finally:
        catalogue.close()
    return folder


def describe_into_catalogue(
    session: Session, scanned: Path, name: str, pool: MediaPool | None
) -> float:
    """Every file of the tree described and grouped into photos in a fresh copy of the scanned
    catalogue, as the engine's writer does it: the workers' results applied as they come,
    MediaSync ticked every ENGINE_TICK; without a pool, in this process. The seconds taken."""
    folder = session.base / name
    shutil.copytree(scanned, folder)
    catalogue = open_catalogue(folder / "catalogue.db")
    try:
        settings = replace(session.settings, preview_cache=session.base / "cache-engine")
        sync = MediaSync(catalogue.db, settings, pool)
        sync.previews = False  # describing alone: previews are measured on their own
        started = time.perf_counter()
        if pool is None:
            sync.run_until_idle()
        else:
            finished: queue.Queue[Callable[[], None]] = queue.Queue()
            sync.deliver = finished.put
            sync.tick()
            next_tick = time.monotonic() + ENGINE_TICK
            # core.engine.scheduler's writer loop, media alone; done as soon as nothing is
            # left (not at the next tick: up to 0.2 s that one process never waits).
            while sync.busy:
                with contextlib.suppress(queue.Empty):
                    finished.get(timeout=0.05)()
                now = time.monotonic()
                if now >= next_tick:
                    next_tick = now + ENGINE_TICK
                    sync.tick()
        taken = time.perf_counter() - started
    finally:
        catalogue.close()
    shutil.rmtree(folder, ignore_errors=True)
    if sync.counts.described != session.files:
        how = f"into the catalogue, {'pool' if pool else '1 process'}"
        session.results.fail(f"{how}: {sync.counts.described} of {session.files} described")
    return taken


def measure_engine_path(session: Session, pool: MediaPool) -> None:
    files, rounds = session.files, max(1, session.args.repeat - 2)
    progress(f"describing into a catalogue as the engine does: scanning {files:,} files ...")
    scanned = scanned_catalogue(session)
    here_runs, pool_runs, ratios = [], [], []
    pressures = []
    for number in range(rounds):
        pressures.append(cpu_pressure())
        if number % 2:  # in turn, as the metadata's rounds
            in_pool = describe_into_catalogue(session, scanned, f"pool-{number}", pool)
            here = describe_into_catalogue(session, scanned, f"here-{number}", None)
        else:
            here = describe_into_catalogue(session, scanned, f"here-{number}", None)
            in_pool = describe_into_catalogue(session, scanned, f"pool-{number}", pool)
        here_runs.append(here)
        pool_runs.append(in_pool)
        ratios.append(here / in_pool)
        progress(
            f"  round {number + 1}/{rounds}: 1 process {rate(files, here)}, "
            f"pool {rate(files, in_pool)} ({ratios[-1]:.2f}x); {pressure_text(pressures[-1])}"
        )
    here, in_pool = statistics.median(here_runs), statistics.median(pool_runs)
    speed_up = statistics.median(ratios)
    session.results.row(
        f"described into the catalogue as the engine does ({ENGINE_TICK} s ticks), warm",
        f"pool({WORKERS}) {rate(files, in_pool)}",
        f"1 process {rate(files, here)}",
        f"{speed_up:.2f}",
        f">= {SPEED_UP_TARGET}",
    )
    session.results.target(
        f"described into the catalogue: the pool >= {SPEED_UP_TARGET}x 1 process",
        f"{speed_up:.2f}x, median of the same-round ratios over {rounds} round(s); "
        + median_pressure(pressures),
        speed_up >= SPEED_UP_TARGET,
    )


# --- previews -----------------------------------------------------------------------------------


def samples_with_previews(session: Session) -> set[Path]:
    """The samples a preview can be made of; the others are said, with the reason."""
    usable = set()
    for sample in sample_files():
        try:
            render_preview(sample, session.formats[sample], session.orientations[sample])
        except PreviewUnavailable as error:
            progress(f"  no preview from {sample.name}: {error.reason}")
            continue
        usable.add(sample)
    return usable


def preview_jobs(session: Session) -> list[PreviewJob]:
    usable = samples_with_previews(session)
    chosen = [file for file in session.tree.files if file.sample in usable]
    wanted = session.args.previews
    if len(chosen) < wanted:
        raise SystemExit(
            f"only {len(chosen):,} of {session.files:,} files have a preview, "
            f"{wanted:,} wanted: raise --files"
        )
    chosen = chosen[:wanted]
    mix = Counter(file.sample.name for file in chosen)
    progress(f"  {wanted:,} files from {len(mix)} samples: " + ", ".join(sorted(mix)))
    return [
        PreviewJob(
            blake3.blake3(os.fsencode(file.path)).hexdigest(),
            file.path,
            session.formats[file.sample],
            session.orientations[file.sample],
        )
        for file in chosen
    ]


def check_previews(
    session: Session, jobs: list[PreviewJob], built: list[PreviewResult], cache_dir: Path
) -> None:
    how = f"previews into {cache_dir.parent.name}"
    errors = [(key, reason) for key, reason, _looks in built if reason is not None]
    if errors:
        session.results.fail(f"{how}: {len(errors)} without a preview, first: {errors[0][1]}")
    cache = PreviewCache(cache_dir, session.settings.preview_cache_mb * 1024 * 1024)
    missing = [job.path for job in jobs if not cache.path_for(job.blake3).is_file()]
    if len(built) != len(jobs) or missing:
        session.results.fail(f"{how}: {len(built)} results, {len(missing)} not in the cache")


def measure_previews(session: Session, pool: MediaPool) -> tuple[list[PreviewJob], Path]:
    """Previews built in this process and in the pool; the jobs, and the cache the pool
    filled."""
    progress("choosing the files to preview ...")
    jobs = preview_jobs(session)
    count, settings, results = len(jobs), session.settings, session.results
    here_cache = preview_cache_dir(replace(settings, preview_cache=session.base / "cache-here"))
    pool_cache = preview_cache_dir(replace(settings, preview_cache=session.base / "cache-pool"))
    progress(f"previews of {count:,} files in 1 process, batches of {PREVIEW_BATCH} ...")
    here_run, built = run_here(lambda: previews_here(jobs, here_cache, settings))
    check_previews(session, jobs, built, here_cache)
    here = here_run.wall
    progress(f"  {rate(count, here)}")
    progress(f"previews of {count:,} files in MediaPool({WORKERS}) ...")
    pool_run, built = run_in_pool(lambda: previews_in_pool(pool, jobs, pool_cache, settings))
    check_previews(session, jobs, built, pool_cache)
    in_pool = pool_run.wall
    progress(f"  {rate(count, in_pool)}")
    results.row(
        f"previews (build_previews), 1 process, {count:,} files",
        f"{rate(count, here)} ({here:.2f} s)",
        target="(info)",
    )
    results.row(
        f"previews, MediaPool({WORKERS}), batches of {PREVIEW_BATCH}",
        f"{rate(count, in_pool)} ({in_pool:.2f} s)",
        f"{WORKERS} x 1 process {rate(WORKERS * count, here)}",
        f"{here / in_pool / WORKERS:.2f}",
        "(info)",
    )
    record_pool_cpu(results, count, [here_run], [pool_run])
    cached = sum(1 for _ in pool_cache.glob("*/*.jpg"))
    size = sum(path.stat().st_size for path in pool_cache.glob("*/*.jpg"))
    results.notes.append(
        f"previews: {cached:,} in the cache, {size / MB:,.1f} MB, "
        f"{settings.preview_long_edge} px long edge; one run each (no median)"
    )
    return jobs, pool_cache


def measure_cache_gets(session: Session, jobs: list[PreviewJob], cache_dir: Path) -> None:
    progress(f"previews from the cache: {CACHE_GETS:,} gets, each beside a plain read ...")
    cache = PreviewCache(cache_dir, session.settings.preview_cache_mb * 1024 * 1024)
    keys = [job.blake3 for job in jobs]
    gets, reads, misses = [], [], 0
    for number in range(CACHE_GETS):
        if number % len(keys) == 0:
            session.rng.shuffle(keys)
        key = keys[number % len(keys)]
        started = time.perf_counter()
        found = cache.get(key)
        data = found.read_bytes() if found is not None else b""
        gets.append(time.perf_counter() - started)
        if found is None or not data:
            misses += 1
            continue
        reads.append(timed(found.read_bytes)[0])
    if misses:
        session.results.fail(f"preview cache: {misses} of {CACHE_GETS} gets missed")
    if not reads:
        return
    median, reference = statistics.median(gets), statistics.median(reads)
    session.results.row(
        f"preview from cache: get + read, {CACHE_GETS:,} gets",
        f"{ms(median)} (p95 {ms(percentile(gets, 95))})",
        f"plain read {ms(reference)} (p95 {ms(percentile(reads, 95))})",
        f"{median / reference:.2f}",
        f"<= {ms(CACHE_TARGET)}",
    )
    session.results.target(
        f"preview from cache <= {ms(CACHE_TARGET)}",
        f"median {ms(median)}, p95 {ms(percentile(gets, 95))}",
        median <= CACHE_TARGET,
    )


def measure_render(session: Session, sample: tuple[str, str, tuple[int, int]]) -> float:
    """render_preview of one sample, interleaved with Pillow decoding its JPEG in full, and in
    draft mode alone at the scale of the preview; returns the median."""
    name, file_format, size = sample
    path, long_edge = SAMPLES / name, session.settings.preview_long_edge
    data = embedded_jpeg(path, file_format)
    found = image_size(data)
    if found != size:
        session.results.fail(f"{name}: its JPEG is {found[0]} x {found[1]}, not {size}")
    megapixels = found[0] * found[1] / 1e6
    progress(f"preview of {name} ({megapixels:.0f} MP JPEG): {RENDER_RUNS} runs ...")
    # The first run maps what the others find mapped; its output says the preview's size.
    width, height = image_size(render_preview(path, file_format, long_edge=long_edge))
    if (width > height) != (found[0] > found[1]):
        width, height = height, width  # turned upright: the JPEG is stored the other way
    scale = found[0] // decode_draft(data, (width, height))[0]
    renders, fulls, drafts = [], [], []
    for _ in range(RENDER_RUNS):
        renders.append(timed(lambda: render_preview(path, file_format, long_edge=long_edge))[0])
        fulls.append(timed(lambda: decode_full(data))[0])
        drafts.append(timed(lambda: decode_draft(data, (width, height)))[0])
    median = statistics.median(renders)
    full, draft = statistics.median(fulls), statistics.median(drafts)
    is_target = sample is BIG_RAW
    session.results.row(
        f"preview of {name} ({found[0]}x{found[1]}, {megapixels:.0f} MP -> {width}x{height})",
        f"{ms(median)} (p95 {ms(percentile(renders, 95))})",
        f"Pillow full decode {ms(full)}",
        f"{median / full:.2f}",
        f"<= {ms(BIG_RAW_TARGET)}" if is_target else "(info)",
    )
    session.results.row(
        "",
        "",
        f"Pillow draft decode only (1/{scale}) {ms(draft)}",
        f"{median / draft:.2f}",
        "(info)",
    )
    return median


def measure_renders(session: Session) -> None:
    big = measure_render(session, BIG_RAW)
    measure_render(session, PHONE_JPEG)
    session.results.target(
        f"preview from a 24 MP embedded JPEG <= {ms(BIG_RAW_TARGET)}",
        f"median {ms(big)}",
        big <= BIG_RAW_TARGET,
    )


# --- the run --------------------------------------------------------------------------------


def print_table(session: Session) -> None:
    results, tree = session.results, session.tree
    lines = table_lines(results.rows)
    turbo = "libjpeg-turbo" if features.check_feature("libjpeg_turbo") else "libjpeg"
    print()
    print(
        f"tree: {session.files:,} files (copies of {len(sample_files())} samples), "
        f"{tree.total_bytes / MB:,.0f} MB; cold page cache by {session.cold_method}; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the end, "
        f"Python {platform.python_version()}, Pillow {PIL.__version__} ({turbo}); "
        "medians; ratio: ours / reference, in the unit shown"
    )
    print("\n".join(lines))
    print_verdicts(results.notes, results.targets)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=4_000, help="files in the tree (default 4000)")
    parser.add_argument(
        "--previews", type=int, default=1_000, help="files previewed (default 1000)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="rounds of the metadata timings, the first cold (default 5)",
    )
    parser.add_argument(
        "--cold-cache",
        choices=("auto", "drop_caches", "fadvise"),
        default="auto",
        help="how the page cache is emptied: drop_caches (root; the whole machine's), "
        "fadvise (the tree's files), auto: drop_caches when allowed (default)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    samples = len(sample_files())
    if args.files < samples:
        parser.error(f"--files must be at least {samples} (one of each sample)")
    if args.previews < 1 or args.repeat < 2:
        parser.error("--previews must be at least 1 and --repeat at least 2 (1 cold, 1 warm)")
    if args.cold_cache == "drop_caches" and not os.access(DROP_CACHES, os.W_OK):
        parser.error(f"{DROP_CACHES} is not writable here: use --cold-cache fadvise")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = Results()
    with work_tree("shootwatch-bench-media-", keep=args.keep) as base:
        progress("choosing the samples (whole pictures only) ...")
        session_samples = sample_files()
        progress(f"building {args.files:,} copies of {len(session_samples)} samples in {base} ...")
        taken, tree = timed(lambda: build_tree(base / "library", args.files))
        progress(f"  {tree.total_bytes / MB:,.0f} MB in {taken:.1f} s")
        method = cold_cache_method(args.cold_cache)
        session = Session(args=args, base=base, tree=tree, results=results, cold_method=method)
        describe_samples(session)
        pool = MediaPool(WORKERS)  # before any thread: forked, as in a one-off command
        try:
            measure_metadata(session, pool)
            measure_engine_path(session, pool)
            jobs, cache_dir = measure_previews(session, pool)
        finally:
            pool.close()
        measure_cache_gets(session, jobs, cache_dir)
        measure_renders(session)
    print_table(session)
    if results.failures:
        print(f"{len(results.failures)} failure(s): files described or previewed wrongly")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
