"""The triage benchmark: key press -> new photo on screen, and start -> first paint.

Run from the repository root (a standalone script, not a pytest test):

    python3 tests/bench/bench_triage.py [--photos N] [--catalogue-photos M] [--pace S]
        [--tmux-presses K] [--keep] [--start-only]

It builds a library of N photos (default 200): real camera JPEGs (from ../shared/fixtures/camera
when it is beside the checkout, else tests/fixtures/camera), each copy made distinct by bytes
after its end marker and taken ten minutes after the one before (its EXIF dates rewritten in
place), so the queue shows the pictures in turn: the next photo is always another picture, as in
a shoot (copies of one picture side by side would let unchanged lines go unsent). They are
scanned into a real catalogue with EXIF read and previews built as the engine does. It then
drives the real app with Pilot at 160x48 (half-blocks, as in tmux):

- **with prefetch**: `space` through all N photos, one press every S seconds (default 0.25 s,
  a brisk culling pace), the default prefetch of 3 on each side;
- **not yet cached**: the same with prefetch off and the preview cache emptied, so each press
  builds the preview from the original, decodes and draws it;
- **start to first paint** with M photos in the catalogue (default 100,000: the N real ones plus
  rows added with SQL): from creating the app to its first screen, and to the first photo drawn;
- **through a real tmux**, what the photographer sees: the whole app (`python -m tui`) in a
  160x48 tmux session on a private socket, keys typed with send-keys, the screen read with
  capture-pane until the new position is shown *and* the photo area is drawn (half-blocks):
  next photo, a decision with auto-advance, and 30 Hz bursts of 20 spaces or backspaces (from
  the last key to the final photo drawn); the bytes the app writes to its terminal per photo
  (pipe-pane). The reference, measured the same way in the same run: a minimal Textual app whose
  label counts the keys, in a tmux of its own, each of its keys right after the app's (so both
  meet the same load). Skipped (said so) where tmux is not installed;
- **the whole process's start** with M photos, through a real tmux: `python -m tui` started,
  timed to its photo drawn and on to the whole queue's position shown, five times after one
  start not counted, each next to the minimal app's start (Python's compiled modules kept, as
  an installed shootwatch has them). ``--start-only`` measures the starts alone.

Latency is measured inside the app, as DESIGN.md advises (Pilot's own press/pause cost more
than the app does): from the key's action to the screen refresh after the new frame is shown.
References measured in the same run: a full Pillow decode of one original (what a viewer
without previews pays per photo) and `cp` of one preview.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sqlite3
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.config import load_settings
from core.media.photos import MediaSync, preview_cache_dir
from core.media.pool import MediaPool
from core.scan.reconcile import reconcile_roots
from core.store import open_catalogue, queries
from tests.bench.benchtools import (
    print_verdicts,
    reference_cp,
    reference_decode,
    table_lines,
    work_tree,
)
from tests.tui.tmux_screen import (
    PHOTO_CELL,
    POSITION,
    TMUX,
    TmuxProgram,
    app_env,
    photo_shown,
)
from tui.app import ShootwatchApp
from tui.panes.triage import TriagePane
from tui.widgets.photo_view import PhotoView

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("nikon_d90.jpg", "canon_eos1000d_orient6.jpg", "pentax_ist_d.jpg",
           "panasonic_dmc-lx3_gps.jpg", "minolta_dimage_a1.jpg")  # fmt: skip
FALLBACK = ("nikon_coolpix_p6000_gps_DSCN0010.jpg", "apple_iphone5_orient3_gps.jpg",
            "samsung_galaxy_s_orient6_gps.jpg")  # fmt: skip
SIZE = (160, 48)


def source_files() -> list[Path]:
    shared = REPO.parent / "shared" / "fixtures" / "camera"
    found = [shared / name for name in SOURCES if (shared / name).exists()]
    return found or [REPO / "tests" / "fixtures" / "camera" / name for name in FALLBACK]


def build_library(base: Path, photos: int) -> tuple[Path, list[Path]]:
    """N distinct JPEGs in shoot folders of 50, taken in turn (see ``taken_at``), a config
    file pointing everything at ``base``."""
    sources = [path.read_bytes() for path in source_files()]
    made = []
    for n in range(photos):
        day, shot = 1 + n // 50, n % 50  # ten minutes apart: no bursts
        folder = base / "photos" / f"2025-03-{day:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"IMG_{n:05d}.JPG"
        taken = f"2025:03:{day:02d} {10 + shot // 6:02d}:{shot % 6 * 10:02d}:00"
        picture = taken_at(sources[n % len(sources)], taken)
        path.write_bytes(picture + f"shootwatch-bench-{n}".encode())
        made.append(path)
    config = base / "shootwatch.toml"
    config.write_text(
        f'catalogue = "{base / "catalogue.db"}"\n'
        f'darktable.library = "{base / "no-darktable" / "library.db"}"\n'
        f'media.preview_cache = "{base / "previews"}"\n'
    )
    return config, made


EXIF_DATE = re.compile(rb"\d{4}:\d\d:\d\d \d\d:\d\d:\d\d")
EXIF_SPAN = 65_536  # the EXIF block of a JPEG (APP1) is within its first 64 KB


def taken_at(jpeg: bytes, taken: str) -> bytes:
    """``jpeg`` with its EXIF dates (the first one found, wherever it is repeated) replaced by
    ``taken`` ("YYYY:MM:DD HH:MM:SS", the same length: no offset moves)."""
    head = jpeg[:EXIF_SPAN]
    found = EXIF_DATE.search(head)
    if found is None:
        return jpeg
    return head.replace(found.group(), taken.encode()) + jpeg[EXIF_SPAN:]


def index(config: Path) -> None:
    settings = load_settings(config)
    with open_catalogue(settings.catalogue) as catalogue:
        root, _ = queries.add_root(str(config.parent / "photos"))
        reconcile_roots(catalogue, [root], settings.scan, kind="manual")
        pool = MediaPool(2)
        try:
            MediaSync(catalogue.db, settings.media, pool).run_until_idle()
        finally:
            pool.close()


def add_catalogue_rows(config: Path, total: int) -> int:
    """Photo and file rows up to ``total`` photos, taken after the real ones (as a large
    catalogue holds older shoots the queue does not start with, here newer ones)."""
    settings = load_settings(config)
    with open_catalogue(settings.catalogue) as catalogue:
        db = catalogue.db
        have = db.execute_sql("SELECT count(*) FROM photo").fetchone()[0]
        root_id = db.execute_sql("SELECT id FROM root").fetchone()[0]
        start = time.time() + 86400
        with db.atomic():
            for first in range(have, total, 10_000):
                rows = range(first, min(total, first + 10_000))
                db.execute_sql(
                    "INSERT INTO photo (blake3, capture_time, decision, rating, labels,"
                    " created_at, metadata_at) SELECT 'bench' || value, ? + value, 'pending',"
                    " 0, 0, ?, ? FROM json_each(?)",
                    (start, start, start, "[" + ",".join(map(str, rows)) + "]"),
                )
                db.execute_sql(
                    "INSERT INTO file (root_id, rel_path, size, mtime_ns, blake3, hashed_at,"
                    " last_seen, scan_generation, kind, photo_id, role, format)"
                    " SELECT ?, 'later/' || p.blake3 || '.JPG', 1, 1, p.blake3, ?, ?, 0, 'jpeg',"
                    " p.id, 'original', 'jpeg' FROM photo p WHERE p.blake3 LIKE 'bench%'"
                    " AND p.id NOT IN (SELECT photo_id FROM file WHERE photo_id IS NOT NULL)",
                    (root_id, start, start),
                )
        return db.execute_sql("SELECT count(*) FROM photo").fetchone()[0]


async def drive(config: Path, presses: int, pace: float, prefetch: bool) -> list[float]:
    settings = load_settings(config)
    if not prefetch:
        from dataclasses import replace

        settings = replace(settings, tui=replace(settings.tui, prefetch=0))
    with open_catalogue(settings.catalogue) as catalogue:
        app = ShootwatchApp(settings, catalogue, engine="off")
        async with app.run_test(size=SIZE) as pilot:
            pane = app.query_one(TriagePane)
            await wait_drawn(pilot, pane)
            await pilot.press("home")  # the app comes back to the photo it was left on
            await wait_drawn(pilot, pane)
            await pilot.pause(pace)
            pane.latencies.clear()
            for _ in range(presses):
                await pilot.press("space")
                await wait_drawn(pilot, pane)
                await pilot.pause(pace)
            return list(pane.latencies)


async def wait_drawn(pilot, pane: TriagePane, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = pane.query_one(PhotoView).frame
        if frame is not None and frame.photo_id == pane.photo_id and frame.strips:
            return
        await asyncio.sleep(0.002)
    raise RuntimeError("a photo was never drawn")


async def first_paint(config: Path) -> tuple[float, float]:
    settings = load_settings(config)
    started = time.perf_counter()
    with open_catalogue(settings.catalogue) as catalogue:
        app = ShootwatchApp(settings, catalogue, engine="off")
        async with app.run_test(size=SIZE) as pilot:
            screen = time.perf_counter() - started
            pane = app.query_one(TriagePane)
            await wait_drawn(pilot, pane)
            await pilot.pause(0)
            return screen, time.perf_counter() - started


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


MINIMAL_APP = """
import sys
from textual.app import App
from textual.widgets import Label


class Minimal(App):
    def compose(self):
        self.count = 0
        yield Label("count 0", id="count")

    def on_key(self, event):
        self.count += 1
        self.query_one(Label).update(f"count {self.count}")


sys.exit(Minimal().run())
"""
BURST_KEYS = 20
BURST_HZ = 30.0
BYTES_PER_CHANGE = 80_000  # at 160x48 with half-blocks (over SSH: what a slow link carries)


@dataclass
class SeenInTmux:
    """Seconds from a key sent to its result on the screen, and bytes the program wrote."""

    next: list[float] = field(default_factory=list)
    decision: list[float] = field(default_factory=list)
    burst: list[float] = field(default_factory=list)  # from the last key of a burst
    bytes_per_change: float = 0.0


def timed_keys(program: TmuxProgram, key: str, count: int, hz: float) -> float:
    """``count`` presses at ``hz``, as key repeat sends them; returns when the last was sent."""
    started = time.monotonic()
    for n in range(count):
        program.keys(key)
        if n + 1 < count:
            time.sleep(max(0.0, started + (n + 1) / hz - time.monotonic()))
    return time.perf_counter()


def wait_photo(program: TmuxProgram, position: int) -> None:
    program.wait_for(lambda screen: photo_shown(screen, position), f"photo {position}", 30, 0.002)


def start_in_tmux(base: Path, config: Path, name: str, size: tuple[int, int] = SIZE) -> TmuxProgram:
    """The whole app in a tmux of ``size``, standing on the first photo, drawn."""
    command = f"{sys.executable} -m tui --config {config} --no-engine"
    program = TmuxProgram(command, base, app_env(base / "home", REPO), size, name=name)
    try:
        # The app comes back to the photo it was left on: each run starts from the first.
        program.wait_for(lambda screen: POSITION.search(screen), "a photo", timeout=120)
        program.keys("Home")
        program.wait_for(lambda screen: photo_shown(screen, 1), "the first photo", timeout=120)
    except BaseException:
        program.close()
        raise
    return program


class MinimalInTmux:
    """The reference app in its tmux: a label counting the keys."""

    def __init__(self, base: Path) -> None:
        script = base / "minimal_app.py"
        script.write_text(MINIMAL_APP)
        env = app_env(base / "home", REPO)
        self.program = TmuxProgram(f"{sys.executable} {script}", base, env, SIZE, name="minimal")
        self.count = 0
        try:
            self.program.wait_for(lambda screen: "count 0" in screen, "the minimal app", 60)
        except BaseException:
            self.program.close()
            raise

    def _shown(self, screen: str) -> bool:
        return any(line.rstrip() == f"count {self.count}" for line in screen.splitlines())

    def press(self, key: str) -> float:
        """Seconds from the key sent to its count on the screen."""
        self.count += 1
        started = time.perf_counter()
        self.program.keys(key)
        self.program.wait_for(self._shown, f"count {self.count}", 30, 0.002)
        return time.perf_counter() - started

    def burst(self, key: str) -> float:
        """Seconds from the last key of a burst to its count on the screen."""
        sent = timed_keys(self.program, key, BURST_KEYS, BURST_HZ)
        self.count += BURST_KEYS
        self.program.wait_for(self._shown, f"count {self.count}", 30, 0.002)
        return time.perf_counter() - sent


START_ROUNDS = 5  # whole-process starts of each app, in turn


@dataclass
class Starts:
    """Seconds from starting a whole process in a tmux to what it shows, one per round."""

    photo: list[float] = field(default_factory=list)  # the app: its photo drawn
    queue: list[float] = field(default_factory=list)  # the app: the whole queue's position
    minimal: list[float] = field(default_factory=list)  # the minimal app: its first screen


def bytecode_env(base: Path) -> dict[str, str]:
    """Python's compiled modules kept (in the work tree), as an installed shootwatch has
    them: an environment that turns them off would time compiling every module at each
    start, which no user pays after the first."""
    return {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": str(base / "pycache")}


def started_in_tmux(base: Path, config: Path, rounds: int) -> Starts:
    """Seconds from starting the whole ``shootwatch`` process in a tmux (the interpreter, its
    imports, the catalogue, the part of the queue around its photo) to its photo drawn, and
    on to the whole queue read (its position and counts shown); and from starting the
    minimal Textual app in another to its first screen; ``rounds`` times each in turn,
    after one start of each that is not counted (it compiles the modules)."""
    starts = Starts()
    script = base / "minimal_app.py"
    script.write_text(MINIMAL_APP)
    env = {**app_env(base / "home", REPO), **bytecode_env(base)}

    def photo_drawn(screen: str) -> bool:
        return screen.count(PHOTO_CELL) >= 400

    for number in range(rounds + 1):
        started = time.perf_counter()
        program = TmuxProgram(f"{sys.executable} -m tui --config {config} --no-engine", base,
                              env, SIZE, name=f"start{number}")  # fmt: skip
        try:
            program.wait_for(photo_drawn, "a photo drawn", timeout=120, poll=0.002)
            photo = time.perf_counter() - started
            program.wait_for(POSITION.search, "the queue's position", timeout=120, poll=0.002)
            if number:
                starts.photo.append(photo)
                starts.queue.append(time.perf_counter() - started)
        finally:
            program.close()
        started = time.perf_counter()
        program = TmuxProgram(f"{sys.executable} {script}", base, env, SIZE,
                              name=f"minimal-start{number}")  # fmt: skip
        try:
            program.wait_for(lambda screen: "count 0" in screen, "the minimal app", 60, 0.002)
            if number:
                starts.minimal.append(time.perf_counter() - started)
        finally:
            program.close()
    return starts


def tmux_both(
    base: Path, config: Path, photos: int, presses: int, pace: float
) -> tuple[SeenInTmux, SeenInTmux]:
    """The whole app in tmux and the minimal app in another, each key of one followed by the
    same key to the other, so both meet the same load on the machine. Bursts first, each in
    an app just started (so the photos it runs over were never drawn: the frames are in
    memory, the previews on disk stay), alternately forward from the first photo and back
    from the last; then ``presses`` next photos and as many decisions."""
    app, minimal = SeenInTmux(), SeenInTmux()
    reference = MinimalInTmux(base)
    try:
        for round_ in range(max(3, presses // 6)):
            program = start_in_tmux(base, config, f"burst{round_}")
            try:
                key, step, position = "Space", 1, 1
                if round_ % 2:
                    key, step, position = "BSpace", -1, photos
                    program.keys("End")
                    wait_photo(program, position)
                time.sleep(pace)
                sent = timed_keys(program, key, BURST_KEYS, BURST_HZ)
                wait_photo(program, position + step * BURST_KEYS)
                app.burst.append(time.perf_counter() - sent)
            finally:
                program.close()
            time.sleep(pace)
            minimal.burst.append(reference.burst("Space"))
        program = start_in_tmux(base, config, "app")
        try:
            position = 1
            time.sleep(pace)
            for key, mine, theirs in (("Space", app.next, minimal.next),
                                      ("a", app.decision, minimal.decision)):  # fmt: skip
                written = program.bytes_written(), reference.program.bytes_written()
                for _ in range(presses):
                    position += 1
                    started = time.perf_counter()
                    program.keys(key)
                    wait_photo(program, position)
                    mine.append(time.perf_counter() - started)
                    time.sleep(pace)
                    theirs.append(reference.press(key))
                    time.sleep(pace)
                if key == "Space":
                    time.sleep(0.5)  # pipe-pane hands the last output over
                    app.bytes_per_change = (program.bytes_written() - written[0]) / presses
                    minimal.bytes_per_change = (
                        reference.program.bytes_written() - written[1]
                    ) / presses
        finally:
            program.close()
    finally:
        reference.program.close()
    return app, minimal


def copy_catalogue(source: Path, target: Path) -> None:
    """SQLite's own backup: the copy is whole, whatever is still in the source's WAL."""
    read, write = sqlite3.connect(source), sqlite3.connect(target)
    try:
        read.backup(write)
    finally:
        read.close()
        write.close()


def p50_p95(values: list[float]) -> str:
    return f"{ms(statistics.median(values))} / {ms(percentile(values, 0.95))}"


def tmux_rows(app: SeenInTmux, minimal: SeenInTmux) -> list[tuple[str, ...]]:
    rows = []
    for name, mine, reference, target in (
        ("tmux: key -> photo drawn, next", app.next, minimal.next, "p95 <= 2x minimal"),
        ("tmux: decision + auto-advance", app.decision, minimal.decision, "p95 <= 2x minimal"),
        (f"tmux: {BURST_HZ:.0f} Hz burst of {BURST_KEYS}, last key -> photo", app.burst,
         minimal.burst, "p95 <= 300 ms"),
    ):  # fmt: skip
        ratio = percentile(mine, 0.95) / percentile(reference, 0.95)
        rows.append((f"{name} (p50 / p95)", p50_p95(mine), f"minimal app {p50_p95(reference)}",
                     f"{ratio:.2f}", target))  # fmt: skip
    ratio = app.bytes_per_change / max(1.0, minimal.bytes_per_change)
    reference = f"minimal app {minimal.bytes_per_change:,.0f} B per key"
    mine = f"{app.bytes_per_change:,.0f} B"
    rows.append(("tmux: terminal bytes per photo change", mine, reference, f"{ratio:.0f}",
                 f"<= {BYTES_PER_CHANGE:,} B"))  # fmt: skip
    return rows


def tmux_targets(app: SeenInTmux, minimal: SeenInTmux) -> list[tuple[str, str, bool | None]]:
    targets = []
    for name, mine, reference in (("next photo", app.next, minimal.next),
                                  ("decision", app.decision, minimal.decision)):  # fmt: skip
        p95, limit = percentile(mine, 0.95), 2 * percentile(reference, 0.95)
        targets.append((f"tmux {name} p95 <= 2x the minimal app's", f"{ms(p95)} vs {ms(limit)}",
                        p95 <= limit))  # fmt: skip
    worst = max(app.burst)
    targets.append((f"tmux photo drawn <= 300 ms after a burst (worst of {len(app.burst)})",
                    ms(worst), worst <= 0.300))  # fmt: skip
    mine = app.bytes_per_change
    targets.append((f"tmux terminal bytes per photo change <= {BYTES_PER_CHANGE // 1000} KB",
                    f"{mine:,.0f} B", mine <= BYTES_PER_CHANGE))  # fmt: skip
    return targets


def start_rows(whole_starts: Starts | None, total: int, rows: list, notes: list,
               targets: list) -> None:  # fmt: skip
    """The whole-process start's rows, notes and target, when tmux measured it; the machine's
    load (it may be shared: the figures move with it)."""
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    notes.append(f"load average (1, 5, 15 min) after the starts: {load}")
    if whole_starts is not None:
        app_start, whole_queue, minimal_start = (
            statistics.median(times)
            for times in (whole_starts.photo, whole_starts.queue, whole_starts.minimal)
        )
        reference = f"minimal Textual app's first screen {ms(minimal_start)}"
        rows.append((f"whole process: start -> photo drawn in tmux, {total:,} photos",
                     ms(app_start), reference, f"{app_start / minimal_start:.2f}",
                     "<= 1.0 s"))  # fmt: skip
        rows.append((f"whole process: start -> whole queue (position, counts), {total:,}",
                     ms(whole_queue), reference, f"{whole_queue / minimal_start:.2f}",
                     ""))  # fmt: skip
        targets.append(("whole process: start -> photo drawn <= 1.0 s", ms(app_start),
                        app_start <= 1.0))  # fmt: skip
        notes.append(f"whole process: `python -m tui` started in a tmux, timed to its photo "
                     f"drawn and to its queue's position shown (capture-pane), median of "
                     f"{START_ROUNDS} after one start not counted, each next to the minimal "
                     "app's start the same way; Python's compiled modules kept, as an "
                     "installed shootwatch has them")  # fmt: skip


def start_only(args: argparse.Namespace) -> int:
    """The starts alone: the library indexed, rows added up to ``--catalogue-photos``."""
    with work_tree("shootwatch-bench-triage-", keep=args.keep) as base:
        for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
            os.environ[name] = str(base / name.lower())
        config, _ = build_library(base, args.photos)
        index(config)
        total = add_catalogue_rows(config, args.catalogue_photos)
        paints = [asyncio.run(first_paint(config)) for _ in range(3)]
        whole_starts = started_in_tmux(base, config, START_ROUNDS) if TMUX is not None else None
    rows = [(f"start -> first photo drawn in-process, {total:,} photos",
             ms(statistics.median(p[1] for p in paints)), "", "", "")]  # fmt: skip
    notes: list = []
    targets: list = []
    start_rows(whole_starts, total, rows, notes, targets)
    for line in table_lines(rows):
        print(line)
    print_verdicts(notes, targets)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--catalogue-photos", type=int, default=100_000)
    parser.add_argument("--pace", type=float, default=0.25, help="seconds between presses")
    parser.add_argument(
        "--tmux-presses", type=int, default=30, help="next photos and decisions in tmux, each"
    )
    parser.add_argument("--keep", action="store_true")
    parser.add_argument(
        "--start-only", action="store_true", help="only the starts, in-process and whole process"
    )
    args = parser.parse_args()
    if args.start_only:
        return start_only(args)
    with work_tree("shootwatch-bench-triage-", keep=args.keep) as base:
        for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
            os.environ[name] = str(base / name.lower())
        config, originals = build_library(base, args.photos)
        started = time.perf_counter()
        index(config)
        print(
            f"{args.photos} photos indexed with previews in {time.perf_counter() - started:.1f} s"
        )
        presses = args.photos - 1
        cached = asyncio.run(drive(config, presses, args.pace, prefetch=True))
        in_tmux = None  # with the previews built, as the engine leaves them
        tmux_presses = min(args.tmux_presses, (args.photos - 1) // 2)
        if TMUX is not None and args.photos > BURST_KEYS:
            catalogue = load_settings(config).catalogue
            copy_catalogue(catalogue, base / "before-tmux.db")
            in_tmux = tmux_both(base, config, args.photos, tmux_presses, args.pace)
            copy_catalogue(base / "before-tmux.db", catalogue)  # the decisions made there go
        settings = load_settings(config)
        previews = preview_cache_dir(settings.media)
        some_preview = next(previews.rglob("*.jpg"))
        cp_time = reference_cp(some_preview)
        shutil.rmtree(previews)
        uncached = asyncio.run(drive(config, presses, args.pace, prefetch=False))
        decode_time = reference_decode(originals[0])
        total = add_catalogue_rows(config, args.catalogue_photos)
        paints = [asyncio.run(first_paint(config)) for _ in range(3)]
        whole_starts = started_in_tmux(base, config, START_ROUNDS) if TMUX is not None else None
        screen = statistics.median(p[0] for p in paints)
        photo = statistics.median(p[1] for p in paints)
        with Image.open(originals[0]) as image:
            source = f"{image.width}x{image.height} JPEG"
    print(f"\n{presses} presses each at 160x48, half-blocks; reference original: {source}\n")
    p95_cached, p95_uncached = percentile(cached, 0.95), percentile(uncached, 0.95)
    rows = [
        ("key -> frame, prefetch (p50 / p95)",
         f"{ms(statistics.median(cached))} / {ms(p95_cached)}",
         f"cp of a preview {ms(cp_time)}", "", "p95 <= 50 ms"),
        ("key -> frame, not cached (p50 / p95)",
         f"{ms(statistics.median(uncached))} / {ms(p95_uncached)}",
         f"Pillow full decode of the original {ms(decode_time)}",
         f"{p95_uncached / decode_time:.2f}", "p95 <= 300 ms"),
        (f"start -> first screen, {total:,} photos", ms(screen), "", "", ""),
        (f"start -> first photo drawn, {total:,} photos", ms(photo), "", "", "<= 1.5 s"),
    ]  # fmt: skip
    notes = [f"{len(cached)} and {len(uncached)} latencies measured (one per press)"]
    targets = [
        ("key -> frame p95 with prefetch <= 50 ms", ms(p95_cached), p95_cached <= 0.050),
        ("key -> frame p95 not cached <= 300 ms", ms(p95_uncached), p95_uncached <= 0.300),
        ("start to first paint <= 1.5 s", ms(photo), photo <= 1.5),
    ]
    start_rows(whole_starts, total, rows, notes, targets)
    if in_tmux is not None:
        rows += tmux_rows(*in_tmux)
        targets += tmux_targets(*in_tmux)
        notes.append(
            f"tmux: {tmux_presses} next photos and {tmux_presses} decisions at a {args.pace} s"
            f" pace; {len(in_tmux[0].burst)} bursts over photos not drawn yet (the app started"
            " afresh for each); the screen polled with capture-pane"
            " (a few ms per poll, the same for both apps); each key to the minimal app right"
            " after the app's"
        )
    else:
        notes.append(f"tmux: not measured ({'no tmux' if TMUX is None else 'too few photos'})")
        targets.append(("tmux key -> photo drawn, next to a minimal app", "", None))
        targets.append(("tmux terminal bytes per photo change", "", None))
    for line in table_lines(rows):
        print(line)
    print_verdicts(notes, targets)
    return 0 if len(cached) == presses and len(uncached) == presses else 1


if __name__ == "__main__":
    sys.exit(main())
