"""Bytes to the terminal per photo change: half-blocks vs kitty graphics vs sixel, through a real
tmux, measured the same way for the three in one run.

Run from the repository root (a standalone script, not a pytest test):

    python3 tests/bench/bench_cull_bytes.py [--photos N] [--changes K] [--size 160x48]

It builds a shoot of N real camera JPEGs (default 12) in a real catalogue with previews, then
runs the whole app (`python -m tui`) three times in a tmux session (allow-passthrough on) whose
client is attached to a terminal played by the benchmark (tests/tui/outer_terminal.py): one
calling itself kitty (renderer "halfblock", then "auto", which picks kitty graphics) and one
calling itself foot ("auto": sixel). For each of K photo changes (space), it counts what the
app wrote to its pane (tmux pipe-pane) and what tmux sent its client, from the key until both
have been quiet for half a second; then, with clipping blinking (w), what tmux sends a
second. Half-blocks are the reference: the renderer every terminal has. It also times, in
this process, how long the frame thread takes to make one frame for the pane in each form
from the same preview (half-block lines; PNG for kitty; sixel).
"""

from __future__ import annotations

import argparse
import functools
import io
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from PIL import Image, ImageOps
from textual.geometry import Size

from core.config import load_settings
from core.media.photos import preview_cache_dir
from tests.bench.benchtools import print_verdicts, table_lines, work_tree
from tests.helpers import camera_sample, catalogue_photos
from tests.tui.outer_terminal import OuterTerminal
from tests.tui.tmux_screen import POSITION, TMUX, TmuxProgram, app_env, photo_shown
from tui.graphics import Graphics, encode
from tui.widgets.photo_view import BACKGROUND, halfblock_strips

REPO = Path(__file__).resolve().parents[2]
CELL = (10, 20)
QUIET_SECONDS = 0.5
BLINK_SETTLE_SECONDS = 4.0
BLINK_WINDOW_SECONDS = 4.0
CHANGE_TIMEOUT = 20.0
# Full-size camera JPEGs, as a shoot has them: the previews built from them are full-size too.
# The shared set beside the checkout has them all; a fresh clone has the first.
SOURCES = (
    "apple_iphone5_orient3_gps.jpg",
    "nikon_d90.jpg",
    "canon_eos1000d_orient6.jpg",
    "panasonic_dmc-lx3_gps.jpg",
    "fujifilm_finepix_f40fd.jpg",
    "minolta_dimage_a1.jpg",
)
RUNS = (  # what the table calls it, the setting, the terminal's TERM and its name
    ("half-blocks", "halfblock", "xterm-kitty", "kitty(0.35.2)"),
    ("kitty graphics", "auto", "xterm-kitty", "kitty(0.35.2)"),
    ("sixel", "auto", "foot", "foot(1.16.2)"),
)


@dataclass
class Changes:
    app: list[int] = field(default_factory=list)  # bytes the app wrote, per photo change
    terminal: list[int] = field(default_factory=list)  # bytes tmux sent its client
    blinking: float = 0.0  # bytes a second tmux sent its client while clipping blinks


def build_shoot(base: Path, photos: int) -> tuple[Path, list[str]]:
    """``photos`` copies of the camera JPEGs (each made distinct by bytes after its end marker)
    in a real catalogue with their previews built, as the engine leaves them; the settings
    file and the sources used."""
    sources = [path for name in SOURCES if (path := camera_sample(name)) is not None]
    folder = base / "photos" / "2025-03-08"
    folder.mkdir(parents=True)
    for n in range(photos):
        source = sources[n % len(sources)]
        target = folder / f"IMG_{n:04d}.JPG"
        turn = n // len(sources)
        # Copies of one camera file share its capture time, so the queue puts them side by
        # side: each copy is another picture (turned, with the same EXIF), or a photo change
        # to the next copy would redraw nothing and measure nothing.
        data = source.read_bytes() if turn == 0 else turned(source, turn)
        target.write_bytes(data + b"repeat-%d" % n)
    settings, catalogue = catalogue_photos(base)
    catalogue.close()
    return settings.config_file, [path.name for path in sources]


def turned(source: Path, turn: int) -> bytes:
    """``source`` mirrored, flipped or turned upside down (by ``turn``), its EXIF kept."""
    with Image.open(source) as image:
        exif = image.info.get("exif", b"")
        picture = (ImageOps.mirror, ImageOps.flip, lambda im: im.rotate(180))[(turn - 1) % 3](
            image.convert("RGB")
        )
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def run_app(base: Path, config: Path, run: tuple[str, ...], size: tuple[int, int],
            changes: int) -> Changes:  # fmt: skip
    label, setting, term, termtype = run
    name = label.split()[0].replace("-", "")
    work = base / name
    work.mkdir()
    settings = work / "shootwatch.toml"
    settings.write_text(config.read_text() + f'tui.renderer = "{setting}"\n')
    attached = work / "attached"
    app = f"{sys.executable} -m tui --config {settings} --no-engine"
    command = f"sh -c 'while [ ! -e {attached} ]; do sleep 0.05; done; exec {app}'"
    program = TmuxProgram(command, work, app_env(work / "home", REPO), size, name,
                          ["set -g allow-passthrough on"])  # fmt: skip
    terminal = None
    try:
        terminal = OuterTerminal(program.socket, name, work, term, termtype, size, CELL)
        deadline = time.monotonic() + 20
        while program.tmux("display-message", "-p", "-t", name, "#{client_termtype}").strip() \
                != termtype:  # fmt: skip
            if time.monotonic() > deadline:
                raise RuntimeError("the terminal never attached")
            time.sleep(0.05)
        attached.touch()
        # The app opens where the last run left the queue: back to the first photo.
        program.wait_for(lambda screen: at_position(screen) is not None, "the queue", 60)
        program.keys("g")
        program.wait_for(lambda screen: at_position(screen) == 1, "the first photo", 60)
        quiet(program, terminal)
        seen = Changes()
        for change in range(changes):
            app_mark, terminal_mark = program.bytes_written(), terminal.mark()
            program.keys("Space")
            program.wait_for(lambda screen, n=change + 2: at_position(screen) == n,
                             f"photo {change + 2}", CHANGE_TIMEOUT)  # fmt: skip
            # The photo itself, not only its position line: on a loaded machine its frame
            # may come after more than the quiet time.
            drawn = functools.partial(picture_drawn, label, program, terminal, terminal_mark)
            wait_until(functools.partial(drawn, change + 2), CHANGE_TIMEOUT)
            quiet(program, terminal)
            seen.app.append(program.bytes_written() - app_mark)
            seen.terminal.append(len(terminal.since(terminal_mark)))
        program.keys("w")  # clipping from the preview, blinking
        time.sleep(BLINK_SETTLE_SECONDS)  # both halves drawn (and sent once)
        mark = terminal.mark()
        time.sleep(BLINK_WINDOW_SECONDS)
        seen.blinking = len(terminal.since(mark)) / BLINK_WINDOW_SECONDS
        return seen
    finally:
        program.close()
        if terminal is not None:
            terminal.close()


def picture_drawn(label: str, program: TmuxProgram, terminal: OuterTerminal, mark: int,
                  position: int) -> bool:  # fmt: skip
    """The photo at ``position`` has reached the terminal since ``mark``, in ``label``'s form."""
    if label == "half-blocks":
        return photo_shown(program.screen(), position)
    sent = terminal.since(mark)
    return b"a=t," in sent if label == "kitty graphics" else b'q"1;1;' in sent


def wait_until(test, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not test():
        if time.monotonic() > deadline:
            raise RuntimeError("the photo never reached the terminal")
        time.sleep(0.05)


def at_position(screen: str) -> int | None:
    found = POSITION.search(screen)
    return int(found[1].replace(",", "")) if found else None


def quiet(program: TmuxProgram, terminal: OuterTerminal) -> None:
    """Until neither the app nor tmux has written anything for QUIET_SECONDS."""
    last = (program.bytes_written(), terminal.mark())
    still_since = time.monotonic()
    deadline = still_since + CHANGE_TIMEOUT
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = (program.bytes_written(), terminal.mark())
        if now != last:
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= QUIET_SECONDS:
            return


def frame_times(preview: Path, cells: Size, rounds: int = 5) -> dict[str, float]:
    """Median seconds to make one frame of ``preview`` for ``cells`` in each form."""
    with Image.open(preview) as image:
        picture = image.convert("RGB")
    makers = {
        "half-blocks": lambda: halfblock_strips(picture, cells),
        "kitty graphics": lambda: encode(picture, cells, Graphics("kitty", True, CELL), BACKGROUND),
        "sixel": lambda: encode(picture, cells, Graphics("sixel", True, CELL), BACKGROUND),
    }
    times = {}
    for label, make in makers.items():
        samples = []
        for _ in range(rounds):
            started = time.perf_counter()
            make()
            samples.append(time.perf_counter() - started)
        times[label] = statistics.median(samples)
    return times


def kb(value: float) -> str:
    return f"{value / 1000:,.0f} KB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=12)
    parser.add_argument("--changes", type=int, default=8)
    parser.add_argument("--size", default="160x48", help="the terminal, in cells")
    args = parser.parse_args()
    size = tuple(int(part) for part in args.size.split("x"))
    changes = min(args.changes, args.photos - 1)
    if TMUX is None:
        print("tmux is not installed: nothing measured")
        return 0
    with work_tree("shootwatch-bench-cull-bytes-") as base:
        config, sources = build_shoot(base / "shoot", args.photos)
        measured = {run[0]: run_app(base, config, run, size, changes) for run in RUNS}
        preview = max(preview_cache_dir(load_settings(config).media).rglob("*.jpg"),
                      key=lambda path: path.stat().st_size)  # fmt: skip
        with Image.open(preview) as image:
            preview_size = f"{image.width}x{image.height}"
        # the photo view: the whole width, the lines the bars and the footer leave
        times = frame_times(preview, Size(size[0], size[1] - 5))
    reference = measured["half-blocks"]
    ref_app, ref_terminal = statistics.median(reference.app), statistics.median(reference.terminal)
    print(f"\n{changes} photo changes per renderer, {size[0]}x{size[1]} cells of "
          f"{CELL[0]}x{CELL[1]} px, tmux {TMUX and 'with allow-passthrough on'}\n")  # fmt: skip
    rows = []
    for label, seen in measured.items():
        app, sent = statistics.median(seen.app), statistics.median(seen.terminal)
        rows.append((f"{label}: app -> tmux per change (median)", kb(app), kb(ref_app),
                     f"{app / ref_app:.2f}", ""))  # fmt: skip
        rows.append((f"{label}: tmux -> terminal per change (median)", kb(sent),
                     kb(ref_terminal), f"{sent / ref_terminal:.2f}", ""))  # fmt: skip
    ref_blink = reference.blinking
    for label, seen in measured.items():
        # Half-blocks write only the lines that change: a blink over a photo with nothing
        # clipped writes nothing at all, and then there is no ratio to give.
        ratio = f"{seen.blinking / ref_blink:.2f}" if ref_blink else "-"
        rows.append((f"{label}: tmux -> terminal while clipping blinks", f"{kb(seen.blinking)}/s",
                     f"{kb(ref_blink)}/s", ratio, ""))  # fmt: skip
    for label, seconds in times.items():
        rows.append((f"{label}: one frame made (frame thread)", f"{seconds * 1000:.0f} ms",
                     f"{times['half-blocks'] * 1000:.0f} ms",
                     f"{seconds / times['half-blocks']:.2f}", ""))  # fmt: skip
    for line in table_lines(rows):
        print(line)
    notes = [
        "reference: half-blocks, the renderer every terminal has, measured the same way",
        "kitty: the picture at the pane's size in pixels (PNG, 24-bit, base64) under an image "
        "id of its own, and the placeholder cells written again to name it (a picture that "
        "never arrives leaves blank cells, not the previous photo)",
        "sixel: the whole pane in pixels, 256 colours (textual-image's encoder), redrawn over "
        "blank cells",
        f"blinking: clipping from the preview (w), {BLINK_WINDOW_SECONDS:.0f} s measured after "
        f"{BLINK_SETTLE_SECONDS:.0f} s; kitty names its two pictures in turn, half-blocks and "
        "sixel redraw the photo at each blink",
        "tmux writes each cell carrying diacritics up to three times to its client",
        f"photos: {', '.join(sources)}; frames made from a {preview_size} preview",
    ]
    print_verdicts(notes, [])
    return 0


if __name__ == "__main__":
    sys.exit(main())
