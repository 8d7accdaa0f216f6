"""The contact-sheet grid benchmark: key -> screen for a page of the grid in a 1,000-photo queue,
next to the single view's next photo measured the same way in the same run.

Run from the repository root (a standalone script, not a pytest test):

    python3 tests/bench/bench_cull_grid.py [--photos N] [--presses K] [--pace S] [--keep]

It builds a library of N photos (default 1,000) as tests/bench/bench_triage.py does (real camera
JPEGs made distinct, scanned into a real catalogue, previews built as the engine does), then runs
the whole app (`python -m tui`) in a 160x48 tmux on a private socket, keys typed with send-keys
and the screen read with capture-pane:

- **single view, next photo** (the reference): K presses of `space`, each timed until the new
  position is shown and its photo drawn (half-blocks);
- **grid, page down** (then **page up**): `t`, then K presses of `pgdn`, one every S seconds, each
  timed until the position line shows the new focus, its caption is on screen and no tile
  waits for its picture (a tile not drawn yet shows a mark);
- **grid, held key**: bursts of 10 `pgup` at 30 Hz from the end of the queue, over pages never
  drawn, from the last key to the last page drawn;
- the bytes the app writes to its terminal per photo change and per page;
- **headless, the filmstrip's cost**: the single view's key -> photo on screen with the
  filmstrip shown and without it (Pilot, timestamps inside the app, as bench_triage.py does),
  alternately, in the same run.

Nothing is asserted: figures are printed next to the reference from the same run. Skipped (said
so) where tmux is not installed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.config import load_settings
from core.store import open_catalogue
from core.triage.queue import Queue
from core.triage.tiles import tile_facts
from tests.bench.bench_triage import (
    build_library,
    index,
    ms,
    percentile,
    start_in_tmux,
    timed_keys,
    wait_drawn,
    wait_photo,
)
from tests.bench.benchtools import print_verdicts, table_lines, work_tree
from tests.tui.tmux_screen import POSITION, TMUX, TmuxProgram
from tui.app import ShootwatchApp
from tui.panes.grid import layout_for
from tui.panes.triage import TriagePane
from tui.widgets.thumbnails import WAITING_MARK

SIZE = (160, 48)
# The grid's share of a 160x48 app: the status and pane bars above, facts, position and footer
# below (tui.app, tui.panes.triage).
GRID_CELLS = (SIZE[0], SIZE[1] - 5)
BURST_KEYS = 10
BURST_HZ = 30.0


@dataclass
class Seen:
    """Seconds from a key sent to its result on the screen, and bytes the app wrote."""

    next_photo: list[float] = field(default_factory=list)
    page_down: list[float] = field(default_factory=list)
    page_up: list[float] = field(default_factory=list)
    arrow: list[float] = field(default_factory=list)  # the focus to the next tile
    held: list[float] = field(default_factory=list)  # from the last key of a burst
    bytes_per_photo: float = 0.0
    bytes_per_page: float = 0.0


def queue_names(config: Path) -> list[str]:
    """The file names of the pending queue, in its order (the camera's clock, then the name)."""
    settings = load_settings(config)
    with open_catalogue(settings.catalogue) as catalogue:
        ids = Queue(catalogue.db, "pending").photo_ids
        facts = tile_facts(catalogue.db, ids)
    return [facts[photo_id].name for photo_id in ids]


def grid_shows(screen: str, position: int, names: list[str]) -> bool:
    """The grid stands on ``position`` (1-based): the position line says so, the focused
    photo's caption is on screen, and every tile on screen has its picture."""
    match = POSITION.search(screen)
    if match is None or int(match[1].replace(",", "")) != position:
        return False
    return names[position - 1] in screen and WAITING_MARK not in screen


def measure(base: Path, config: Path, photos: int, presses: int, pace: float) -> Seen:
    seen = Seen()
    names = queue_names(config)

    def wait_grid(program: TmuxProgram, position: int) -> None:
        program.wait_for(lambda screen: grid_shows(screen, position, names),
                         f"the grid at {position}", 60, 0.002)  # fmt: skip

    page = layout_for(_size(*GRID_CELLS)).page
    program = start_in_tmux(base, config, "grid")
    try:
        position = 1
        time.sleep(pace)
        written = program.bytes_written()
        for _ in range(presses):
            position += 1
            started = time.perf_counter()
            program.keys("Space")
            wait_photo(program, position)
            seen.next_photo.append(time.perf_counter() - started)
            time.sleep(pace)
        time.sleep(0.5)  # pipe-pane hands the last output over
        seen.bytes_per_photo = (program.bytes_written() - written) / presses
        program.keys("Home")
        wait_photo(program, 1)
        program.keys("t")
        wait_grid(program, 1)
        # Held down first, from the end of the queue: pages never drawn (nor drawn ahead).
        program.keys("End")
        position = photos
        wait_grid(program, position)
        for _ in range(max(3, presses // 10)):
            if position - BURST_KEYS * page < 1:
                break
            time.sleep(pace)
            sent = timed_keys(program, "PageUp", BURST_KEYS, BURST_HZ)
            position -= BURST_KEYS * page
            wait_grid(program, position)
            seen.held.append(time.perf_counter() - sent)
        program.keys("Home")
        position = 1
        wait_grid(program, position)
        time.sleep(pace)
        written = program.bytes_written()
        pages = min(presses, (photos - 1) // page)
        for _ in range(pages):
            position += page
            started = time.perf_counter()
            program.keys("PageDown")
            wait_grid(program, position)
            seen.page_down.append(time.perf_counter() - started)
            time.sleep(pace)
        time.sleep(0.5)
        seen.bytes_per_page = (program.bytes_written() - written) / max(1, pages)
        for _ in range(pages):
            position -= page
            started = time.perf_counter()
            program.keys("PageUp")
            wait_grid(program, position)
            seen.page_up.append(time.perf_counter() - started)
            time.sleep(pace)
        for _ in range(min(presses, page - 1)):  # within the first page
            position += 1
            started = time.perf_counter()
            program.keys("Right")
            wait_grid(program, position)
            seen.arrow.append(time.perf_counter() - started)
            time.sleep(pace)
    finally:
        program.close()
    return seen


async def next_photos(config: Path, presses: int, pace: float, filmstrip: bool) -> list[float]:
    """Key -> photo on screen in the single view, ``presses`` times, with the filmstrip or not."""
    settings = load_settings(config)
    with open_catalogue(settings.catalogue) as catalogue:
        app = ShootwatchApp(settings, catalogue, engine="off")
        async with app.run_test(size=SIZE) as pilot:
            pane = app.query_one(TriagePane)
            await wait_drawn(pilot, pane)
            await pilot.press("home")
            if filmstrip:
                await pilot.press("s")
            await pilot.pause(0.2)
            await wait_drawn(pilot, pane)
            pane.latencies.clear()
            for _ in range(presses):
                await pilot.press("space")
                await wait_drawn(pilot, pane)
                await pilot.pause(pace)
            return list(pane.latencies)


def _size(width: int, height: int):
    from textual.geometry import Size

    return Size(width, height)


def p50_p95(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{ms(statistics.median(values))} / {ms(percentile(values, 0.95))}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=1_000)
    parser.add_argument("--presses", type=int, default=30, help="next photos and pages, each")
    parser.add_argument("--pace", type=float, default=0.25, help="seconds between presses")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if TMUX is None:
        print("tmux is not installed: nothing measured")
        return 0
    with work_tree("shootwatch-bench-grid-", keep=args.keep) as base:
        for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
            os.environ[name] = str(base / name.lower())
        config, _ = build_library(base, args.photos)
        started = time.perf_counter()
        index(config)
        took = time.perf_counter() - started
        print(f"{args.photos} photos indexed with previews in {took:.1f} s")
        seen = measure(base, config, args.photos, args.presses, args.pace)
        with_strip: list[float] = []
        without: list[float] = []
        for _ in range(2):
            without += asyncio.run(next_photos(config, args.presses, args.pace, False))
            with_strip += asyncio.run(next_photos(config, args.presses, args.pace, True))
    layout = layout_for(_size(*GRID_CELLS))
    reference = p50_p95(seen.next_photo)
    print(
        f"\n{args.photos:,} photos in tmux at {SIZE[0]}x{SIZE[1]}, half-blocks; a grid page is"
        f" {layout.columns} x {layout.rows} = {layout.page} thumbnails\n"
    )
    rows = [
        ("single view: space -> next photo drawn (p50 / p95)", reference, "(the reference)", "",
         ""),
        ("grid: pgdn -> page drawn (p50 / p95)", p50_p95(seen.page_down),
         f"next photo {reference}", _ratio(seen.page_down, seen.next_photo),
         "p95 <= next photo"),
        ("grid: pgup -> page drawn (p50 / p95)", p50_p95(seen.page_up),
         f"next photo {reference}", _ratio(seen.page_up, seen.next_photo),
         "p95 <= next photo"),
        ("grid: right arrow -> focus moved (p50 / p95)", p50_p95(seen.arrow),
         f"next photo {reference}", _ratio(seen.arrow, seen.next_photo), ""),
        (f"grid: {BURST_HZ:.0f} Hz burst of {BURST_KEYS} pgup, last key -> page drawn",
         p50_p95(seen.held), f"next photo {reference}", _ratio(seen.held, seen.next_photo), ""),
        ("terminal bytes per change", f"page {seen.bytes_per_page:,.0f} B",
         f"photo {seen.bytes_per_photo:,.0f} B",
         f"{seen.bytes_per_page / max(1.0, seen.bytes_per_photo):.2f}", ""),
        ("headless: key -> next photo with the filmstrip", p50_p95(with_strip),
         f"without {p50_p95(without)}", _ratio(with_strip, without), ""),
    ]  # fmt: skip
    for line in table_lines(rows):
        print(line)
    notes = [
        f"{len(seen.next_photo)} next photos, {len(seen.page_down)} pages down and"
        f" {len(seen.page_up)} up at a {args.pace} s pace; {len(seen.held)} bursts over pages"
        " not prefetched; the screen polled with capture-pane (a few ms per poll, the same"
        " for both views)",
    ]
    for name, values in (("pages down", seen.page_down), ("pages up", seen.page_up),
                         ("next photos", seen.next_photo)):  # fmt: skip
        worst = sorted(range(len(values)), key=values.__getitem__)[-3:]
        slowest = ", ".join(f"{ms(values[n])} (press {n + 1})" for n in worst)
        notes.append(f"slowest {name}: {slowest}")
    p95_page = percentile(seen.page_down + seen.page_up, 0.95) if seen.page_down else None
    p95_next = percentile(seen.next_photo, 0.95)
    targets = [
        ("grid page p95 <= the single view's next photo p95 (same run)",
         f"{ms(p95_page)} vs {ms(p95_next)}" if p95_page is not None else "-",
         None if p95_page is None else p95_page <= p95_next),
    ]  # fmt: skip
    print_verdicts(notes, targets)
    return 0


def _ratio(mine: list[float], reference: list[float]) -> str:
    if not mine or not reference:
        return ""
    return f"{percentile(mine, 0.95) / percentile(reference, 0.95):.2f}"


if __name__ == "__main__":
    sys.exit(main())
