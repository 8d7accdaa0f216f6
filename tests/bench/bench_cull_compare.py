"""The compare and survey benchmark: key press -> screen drawn, through a real tmux at 200x60.

Run from the repository root (a standalone script, not a pytest test):

    python3 tests/bench/bench_cull_compare.py [--bursts B] [--rounds R] [--pace S] [--keep]

It builds a library of B bursts of 9 photos (default 6): real camera JPEGs (from
../shared/fixtures/camera when it is beside the checkout, else tests/fixtures/camera), each copy
made distinct, scanned into a real catalogue with EXIF read and previews built as the engine
does; each run of 9 consecutive photos is made one burst with SQL (as the grouping would) and
given a focus score. Then the whole app (`python -m tui`) runs in a 200x60 tmux session on a
private socket, keys typed with send-keys, the screen read with capture-pane until the result
is on it:

- **compare 2-up**: `c` from triage after a moment on the photo until both frames are drawn
  (the pick and the candidate, each blank until its own frame is drawn), and `→` (the next
  candidate) until the new candidate's name is in the head line and its frame drawn;
- **survey 9-up**: `v` from triage until all nine tiles are drawn: on arrival at a burst's
  first photo (nothing drawn ahead: every tile decoded from the preview cache and drawn), and
  after looking at it for a moment (the pane has drawn the tiles ahead, in the background);
  `→` (the focus moved) until the head line says so;
- **the reference**, measured the same way in the same run: triage's next photo (`space`),
  from the key to the new position shown with its photo drawn;
- the bytes the app writes to its terminal per change (pipe-pane).

Figures are printed next to the reference; nothing is asserted about time.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.config import load_settings
from core.store import open_catalogue
from core.store.photos import triage_queue_entries
from tests.bench.bench_triage import build_library, index, ms, percentile, start_in_tmux
from tests.bench.benchtools import print_verdicts, table_lines, work_tree
from tests.tui.tmux_screen import PHOTO_CELL, TMUX, TmuxProgram, photo_shown
from tui.panes.survey import survey_grid

REPO = Path(__file__).resolve().parents[2]
SIZE = (200, 60)
BURST = 9
# A frame drawn in a tile of this size has hundreds of half-blocks; a blank tile none.
TILE_DRAWN = 150
CANDIDATE = re.compile(r"candidate (\d+) / (\d+)")
SURVEY_FOCUS = re.compile(r"survey .*·\s+(\d+) / (\d+) ")


@dataclass
class Seen:
    """Seconds from a key sent to its result on the screen, and bytes written per change."""

    seconds: list[float] = field(default_factory=list)
    bytes: list[int] = field(default_factory=list)

    def p50_p95(self) -> str:
        return f"{ms(statistics.median(self.seconds))} / {ms(percentile(self.seconds, 0.95))}"

    @property
    def p95(self) -> float:
        return percentile(self.seconds, 0.95)

    @property
    def bytes_per_change(self) -> float:
        return statistics.mean(self.bytes) if self.bytes else 0.0


def make_bursts(config: Path) -> list[int]:
    """Every run of BURST photos in the triage queue's order (as shot) made one burst, each
    photo given a focus score. Returns the ids in that order."""
    settings = load_settings(config)
    with open_catalogue(settings.catalogue) as catalogue:
        db = catalogue.db
        ids = [photo_id for photo_id, _, _ in triage_queue_entries(db, "1")]
        with db.atomic():
            for at, photo in enumerate(ids):
                first = ids[at - at % BURST]
                sharpness = 100.0 + (at * 37) % 200
                db.execute_sql(
                    "UPDATE photo SET burst = ?, sharpness = ? WHERE id = ?",
                    (first, sharpness, photo),
                )
        return ids


def halfblocks(screen: str, left: int, top: int, width: int, height: int) -> int:
    lines = screen.splitlines()[top : top + height]
    return sum(line[left : left + width].count(PHOTO_CELL) for line in lines)


def compare_drawn(screen: str, candidate: int) -> bool:
    """The compare view with candidate ``candidate`` in its head, both frames drawn."""
    head = screen.splitlines()[0] if screen else ""
    found = CANDIDATE.search(head)
    if found is None or int(found[1]) != candidate:
        return False
    half = SIZE[0] // 2
    return (
        halfblocks(screen, 0, 1, half, SIZE[1] - 2) >= TILE_DRAWN
        and halfblocks(screen, half, 1, half, SIZE[1] - 2) >= TILE_DRAWN
    )


GRID = survey_grid(SIZE[0], SIZE[1] - 2, BURST)


def survey_drawn(screen: str, focus: int) -> bool:
    """The survey with frame ``focus`` focused in its head and every tile drawn."""
    head = screen.splitlines()[0] if screen else ""
    found = SURVEY_FOCUS.search(head)
    if found is None or int(found[1]) != focus:
        return False
    tiles = [divmod(n, GRID.columns) for n in range(GRID.count)]
    return all(
        halfblocks(screen, column * GRID.tile_width, 1 + row * GRID.tile_height,
                   GRID.tile_width, GRID.tile_height) >= TILE_DRAWN
        for row, column in tiles
    )  # fmt: skip


def timed(program: TmuxProgram, key: str, shown, what: str, into: Seen, pace: float) -> None:
    time.sleep(pace)
    written = program.bytes_written()
    started = time.perf_counter()
    program.keys(key)
    program.wait_for(shown, what, 30, 0.002)
    into.seconds.append(time.perf_counter() - started)
    time.sleep(0.3)  # pipe-pane hands the output over
    into.bytes.append(program.bytes_written() - written)


def measure(base: Path, config: Path, bursts: int, rounds: int, pace: float) -> dict[str, Seen]:
    seen = {name: Seen() for name in ("next", "compare_open", "candidate", "survey_open",
                                      "survey_cold", "focus")}  # fmt: skip
    program = start_in_tmux(base, config, "cull", SIZE)
    try:
        position = 1
        for round_ in range(rounds):
            # The reference: the single view's next photo, BURST of them, to the next burst.
            if round_ % bursts == 0 and round_:
                program.keys("Home")
                position = 1
                program.wait_for(lambda s: photo_shown(s, 1), "the first photo", 30)
            for _ in range(BURST if round_ else 0):
                position += 1
                timed(program, "Space", lambda s, p=position: photo_shown(s, p),
                      f"photo {position}", seen["next"], pace)  # fmt: skip
            # On arrival, before the pane has drawn anything ahead for the burst (it waits
            # for the photo to stay on screen for two looks, 0.25 s apart).
            timed(program, "v", lambda s: survey_drawn(s, 1), "survey", seen["survey_cold"], 0)
            program.keys("v")
            program.wait_for(lambda s, p=position: photo_shown(s, p), "triage", 30)
            timed(program, "c", lambda s: compare_drawn(s, 1), "compare", seen["compare_open"],
                  pace)  # fmt: skip
            for candidate in range(2, BURST):
                timed(program, "Right", lambda s, c=candidate: compare_drawn(s, c),
                      f"candidate {candidate}", seen["candidate"], pace)  # fmt: skip
            program.keys("c")  # back to triage, on the pick
            program.wait_for(lambda s, p=position: photo_shown(s, p), "triage", 30)
            timed(program, "v", lambda s: survey_drawn(s, 1), "survey", seen["survey_open"],
                  pace)  # fmt: skip
            for focus in range(2, 5):
                timed(program, "Right", lambda s, f=focus: survey_drawn(s, f),
                      f"focus {focus}", seen["focus"], pace)  # fmt: skip
            program.keys("v")
            program.wait_for(lambda s, p=position: photo_shown(s, p), "triage", 30)
    finally:
        program.close()
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bursts", type=int, default=6, help="bursts of 9 photos")
    parser.add_argument("--rounds", type=int, default=8, help="compare + survey openings")
    parser.add_argument("--pace", type=float, default=0.25, help="seconds between presses")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if TMUX is None:
        print("tmux is not installed: nothing measured")
        return 0
    with work_tree("shootwatch-bench-compare-", keep=args.keep) as base:
        for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
            os.environ[name] = str(base / name.lower())
        config, _ = build_library(base, args.bursts * BURST)
        started = time.perf_counter()
        index(config)
        make_bursts(config)
        print(f"{args.bursts * BURST} photos in {args.bursts} bursts of {BURST}, indexed with"
              f" previews in {time.perf_counter() - started:.1f} s")  # fmt: skip
        seen = measure(base, config, args.bursts, args.rounds, args.pace)
    reference = seen["next"]
    rows = []
    for name, key, target in (
        ("compare 2-up: open (both frames drawn)", "compare_open", ""),
        ("compare 2-up: next candidate drawn", "candidate", "p95 <= 150 ms"),
        ("survey 9-up: open on arrival (nine tiles drawn)", "survey_cold", "p95 <= 400 ms"),
        ("survey 9-up: open after a look (drawn ahead)", "survey_open", "p95 <= 400 ms"),
        ("survey 9-up: focus moved", "focus", ""),
    ):
        mine = seen[key]
        rows.append((f"tmux {SIZE[0]}x{SIZE[1]}: {name} (p50 / p95)", mine.p50_p95(),
                     f"triage next photo {reference.p50_p95()}",
                     f"{mine.p95 / reference.p95:.2f}", target))  # fmt: skip
    for name, key in (("compare next candidate", "candidate"), ("survey open", "survey_open")):
        rows.append((f"terminal bytes per change: {name}", f"{seen[key].bytes_per_change:,.0f} B",
                     f"triage next photo {reference.bytes_per_change:,.0f} B",
                     f"{seen[key].bytes_per_change / max(1.0, reference.bytes_per_change):.2f}",
                     ""))  # fmt: skip
    for line in table_lines(rows):
        print(line)
    notes = [
        f"{len(seen['compare_open'].seconds)} compare and survey openings,"
        f" {len(seen['candidate'].seconds)} candidate moves, {len(seen['focus'].seconds)} focus"
        f" moves, {len(reference.seconds)} next photos (the reference) at a {args.pace} s pace;"
        " half-blocks; the screen polled with capture-pane (a few ms per poll, the same for all)",
    ]
    targets = [
        ("compare next candidate p95 <= 150 ms", ms(seen["candidate"].p95),
         seen["candidate"].p95 <= 0.150),
        ("compare open p95 <= 150 ms", ms(seen["compare_open"].p95),
         seen["compare_open"].p95 <= 0.150),
        ("survey 9-up open on arrival p95 <= 400 ms", ms(seen["survey_cold"].p95),
         seen["survey_cold"].p95 <= 0.400),
        ("survey 9-up open after a look p95 <= 400 ms", ms(seen["survey_open"].p95),
         seen["survey_open"].p95 <= 0.400),
    ]  # fmt: skip
    print_verdicts(notes, targets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
