"""Real pixels through a real tmux: the whole app in a tmux session whose client is attached to
a terminal the test plays (tests/tui/outer_terminal.py), which records every byte tmux sends
it. A kitty terminal receives its picture (kitty graphics, unwrapped from tmux's passthrough)
and placeholder cells naming it; a sixel terminal receives a sixel at the photo's place; with
passthrough off, half-blocks, and the app says the tmux line that turns it on."""

from __future__ import annotations

import base64
import io
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from tests.tui.outer_terminal import OuterTerminal
from tests.tui.test_key_repeat import build_shoot
from tests.tui.tmux_screen import PHOTO_CELL, TMUX, TmuxProgram, app_env
from tui.graphics import DIACRITICS, PLACEHOLDER

REPO = Path(__file__).resolve().parents[2]
SIZE = (120, 36)
CELL = (10, 20)
SEEN_WITHIN = 60.0  # start-up of a whole app on a loaded machine; a missing picture fails
PLACEHOLDER_BYTES = PLACEHOLDER.encode()
KITTY_COMMAND = re.compile(rb"\x1b_G([^;\x1b]*)(?:;([^\x1b]*))?\x1b\\")
SIXEL = re.compile(rb'\x1b7\x1b\[(\d+);(\d+)H\x1bP0;0;0q"1;1;(\d+);(\d+)')


@dataclass
class AppInTmux:
    program: TmuxProgram
    terminal: OuterTerminal


def start(base: Path, term: str, termtype: str, passthrough: bool, renderer: str = "auto"):
    """The app on a three-photo shoot, started in tmux once the terminal is attached (as a
    photographer attaches first, then runs the app)."""
    shoot = build_shoot(base / "shoot", photos=3)
    shoot.catalogue.close()
    config = base / "shoot" / "shootwatch.toml"
    with config.open("a") as settings:
        settings.write(f'tui.renderer = "{renderer}"\n')
    attached = base / "attached"
    app = f"{sys.executable} -m tui --config {config} --no-engine"
    command = f"sh -c 'while [ ! -e {attached} ]; do sleep 0.05; done; exec {app}'"
    options = ["set -g allow-passthrough on"] if passthrough else []
    program = TmuxProgram(command, base, app_env(base / "home", REPO), SIZE, "gfx", options)
    try:
        terminal = OuterTerminal(program.socket, "gfx", base, term, termtype, SIZE, CELL)
    except Exception:
        program.close()
        raise
    running = AppInTmux(program, terminal)
    try:
        # tmux has asked the terminal its name, and has its answer
        program.wait_for(lambda _: client_termtype(program) == termtype, "the client", 20)
    except Exception:
        stop(running)
        raise
    attached.touch()
    return running


def client_termtype(program: TmuxProgram) -> str:
    return program.tmux("display-message", "-p", "-t", "gfx", "#{client_termtype}").strip()


def stop(running: AppInTmux) -> None:
    running.program.close()  # the server goes, and with it the app and the client
    running.terminal.close()


@pytest.fixture
def in_tmux(tmp_path: Path) -> Iterator[Callable]:
    if TMUX is None:
        if os.environ.get("SHOOTWATCH_REQUIRE_TMUX") == "1":
            pytest.fail("SHOOTWATCH_REQUIRE_TMUX=1 but tmux is not installed")
        pytest.skip("tmux is not installed (CI installs it)")
    started: list[AppInTmux] = []

    def run(*args, **kwargs) -> AppInTmux:
        started.append(start(tmp_path, *args, **kwargs))
        return started[-1]

    yield run
    for running in started:
        stop(running)
    leftover = subprocess.run(["tmux", "-L", started[0].program.socket, "list-sessions"],
                              capture_output=True) if started else None  # fmt: skip
    assert leftover is None or leftover.returncode != 0, "a tmux server was left running"


def kitty_pictures(data: bytes) -> list[tuple[dict[str, str], bytes]]:
    """Each picture transmitted in ``data``: its first command's keys, and its PNG."""
    pictures = []
    payload: list[bytes] | None = None
    keys: dict[str, str] = {}
    for match in KITTY_COMMAND.finditer(data):
        command = dict(part.split("=", 1) for part in match[1].decode().split(",") if part)
        if command.get("a") == "t":
            keys, payload = command, []
        if payload is not None and "m" in command:
            payload.append(match[2] or b"")
            if command["m"] == "0":
                pictures.append((keys, base64.standard_b64decode(b"".join(payload))))
                payload = None
    return pictures


def toast(screen: str, title: str) -> str:
    """The text of the toast titled ``title``: the lines from its title down, from its column
    (the photo is drawn to the left of it)."""
    lines = screen.splitlines()
    row = next(n for n, line in enumerate(lines) if title in line)
    column = lines[row].index(title)
    return " ".join(" ".join(line[column:].split()) for line in lines[row:])


def whole_sixel(data: bytes) -> re.Match | None:
    """The first sixel in ``data`` that has arrived whole (its end and the cursor put back)."""
    found = SIXEL.search(data)
    if found is None or data.find(b"\x1b\\\x1b8", found.end()) < 0:
        return None
    return found


def whole_kitty(data: bytes) -> bool:
    """A kitty picture placed across the pane's width has arrived, and its cells down to the
    last row (tmux sends them as it redraws)."""
    found = placements(data)
    if not full_width(found):
        return False
    rows, columns = int(found[-1]["r"]), int(found[-1]["c"])
    last_row = (PLACEHOLDER + DIACRITICS[rows - 1] + DIACRITICS[columns - 2]).encode()
    return last_row + PLACEHOLDER_BYTES in data


def full_width(found: list[dict[str, str]]) -> bool:
    return bool(found) and found[-1]["c"] == str(SIZE[0])


def placements(data: bytes) -> list[dict[str, str]]:
    return [
        command
        for match in KITTY_COMMAND.finditer(data)
        if (command := dict(p.split("=", 1) for p in match[1].decode().split(",") if p)).get("a")
        == "p"
    ]


@pytest.mark.parametrize(
    ("term", "termtype"),
    [("xterm-kitty", "kitty(0.35.2)"), ("xterm-ghostty", "ghostty 1.1.3")],
    ids=["kitty", "ghostty"],
)
def test_a_kitty_terminal_gets_the_picture_and_placeholder_cells(in_tmux, term, termtype):
    running = in_tmux(term, termtype, passthrough=True)
    terminal = running.terminal
    data = terminal.wait_for(whole_kitty, "a kitty picture under its cells", SEEN_WITHIN)
    # The last: the app may draw once before it has its terminal's size.
    placement = placements(data)[-1]
    image_id = int(placement["i"])
    assert placement["U"] == "1"  # virtual: shown where the placeholder cells are
    columns, rows = int(placement["c"]), int(placement["r"])
    assert columns == SIZE[0] and 20 <= rows < SIZE[1]  # the photo view: the width, most lines
    keys, png = kitty_pictures(data)[-1]
    assert keys["i"] == str(image_id) and keys["f"] == "100" and keys["q"] == "2"
    picture = Image.open(io.BytesIO(png))
    assert picture.width <= columns * CELL[0] and picture.height <= rows * CELL[1]
    assert picture.width * rows * CELL[1] == pytest.approx(picture.height * columns * CELL[0],
                                                           rel=0.02)  # fmt: skip
    extrema = picture.convert("L").getextrema()
    assert extrema[1] - extrema[0] > 100, "the picture sent is not a photo"
    # The cells: tmux kept them as text and drew them for its client, in the image's colour,
    # each naming its row and column.
    assert b"\x1b[38;5;%dm" % image_id in data
    assert data.count(PLACEHOLDER_BYTES) >= columns * rows
    first_cell = (PLACEHOLDER + DIACRITICS[0] + DIACRITICS[0]).encode()
    # The terminal's last column is a bare placeholder (the cell after its left neighbour):
    # tmux would move its diacritics onto that neighbour.
    before_last = (PLACEHOLDER + DIACRITICS[rows - 1] + DIACRITICS[columns - 2]).encode()
    assert first_cell in data and before_last + PLACEHOLDER_BYTES in data
    assert (PLACEHOLDER + DIACRITICS[rows - 1] + DIACRITICS[columns - 1]).encode() not in data

    # The next photo: its picture goes under an id of its own, the previous picture is freed
    # after it, and the cells name the new one (a picture that never arrived leaves blank
    # cells, never the previous photo). A moment on this one first, as a photographer looks at
    # it: its neighbours are drawn meanwhile (on a loaded machine a key at once may come
    # before the next picture is encoded).
    time.sleep(1.0)
    mark = terminal.mark()
    running.program.keys("Space")
    after = terminal.wait_for(
        lambda seen: (
            len(kitty_pictures(seen[mark:])) >= 1
            and b"\x1b[38;5;%dm" % int(kitty_pictures(seen[mark:])[0][0]["i"]) in seen[mark:]
        ),
        "the next photo's picture and its cells",
        SEEN_WITHIN,
    )[mark:]
    keys, png = kitty_pictures(after)[0]
    assert keys["i"] != str(image_id)
    assert png != kitty_pictures(data)[-1][1]
    freed = after.index(b"a=d,d=I,i=%d," % image_id)
    assert after.index(b"i=%s," % keys["i"].encode()) < freed


@pytest.mark.parametrize(
    ("term", "termtype"),
    [("foot", "foot(1.16.2)"), ("xterm-256color", "WezTerm 20240203-110809-5046fc22")],
    ids=["foot", "wezterm"],
)
def test_a_sixel_terminal_gets_a_sixel_where_the_photo_is(in_tmux, term, termtype):
    running = in_tmux(term, termtype, passthrough=True)
    data = running.terminal.wait_for(lambda seen: whole_sixel(seen) is not None, "a sixel",
                                     SEEN_WITHIN)  # fmt: skip
    found = whole_sixel(data)
    row, column, width, height = (int(value) for value in found.groups())
    assert (row, column) == (3, 1)  # below the status bar and the pane bar, at the left
    assert width == SIZE[0] * CELL[0] and height % CELL[1] == 0 and height >= 20 * CELL[1]
    # ... and after it, the cursor put back where tmux left it (tmux knows nothing of it).
    assert data[data.index(b"\x1b\\", found.end()) :].startswith(b"\x1b\\\x1b8")
    assert b"\x1b_G" not in data and PLACEHOLDER_BYTES not in data


def test_clipping_blinks_in_kitty_by_naming_the_other_picture(in_tmux):
    """w: the photo and its painted twin each go to the terminal once, under two ids; then a
    blink is the placeholder cells naming the other image, with no picture sent again."""
    running = in_tmux("xterm-kitty", "kitty(0.35.2)", passthrough=True)
    terminal = running.terminal
    terminal.wait_for(whole_kitty, "the first photo", SEEN_WITHIN)
    mark = terminal.mark()
    running.program.keys("w")
    after = terminal.wait_for(
        lambda seen: len({keys["i"] for keys, _ in kitty_pictures(seen[mark:])}) >= 2,
        "the photo and its painted twin",
        SEEN_WITHIN,
    )[mark:]
    ids = {int(keys["i"]) for keys, _ in kitty_pictures(after)}
    assert len(ids) == 2
    blinking = terminal.mark()
    time.sleep(2.5)  # five blinks
    blinks = terminal.since(blinking)
    assert b"a=t," not in blinks  # no picture sent again
    for image_id in ids:  # both named by the cells in turn
        assert b"\x1b[38;5;%dm" % image_id in blinks


def sixels(data: bytes) -> list[bytes]:
    """Each whole sixel in ``data``, from its introducer to its end."""
    found = []
    for match in SIXEL.finditer(data):
        end = data.find(b"\x1b\\\x1b8", match.end())
        if end >= 0:
            found.append(data[match.start() : end])
    return found


PICTURES = {  # a terminal, and the pictures found in what it received
    "kitty": (
        ("xterm-kitty", "kitty(0.35.2)"),
        lambda data: [png for _, png in kitty_pictures(data)],
    ),
    "sixel": (("foot", "foot(1.16.2)"), sixels),
}


@pytest.mark.parametrize("pressed_after", [0.05, 0.3, 1.0])
@pytest.mark.parametrize("protocol", ["kitty", "sixel"])
def test_a_picture_tmux_drops_for_a_client_behind_is_sent_again(in_tmux, protocol, pressed_after):
    """tmux 3.3 drops passthrough while a redraw waits for a client that is behind (a link
    that has all but stopped): the next photo's picture, sent then, would never arrive and the
    cells would show the previous photo. It is sent again once it is found missing."""
    (term, termtype), pictures = PICTURES[protocol]
    running = in_tmux(term, termtype, passthrough=True)
    terminal, program = running.terminal, running.program
    first = terminal.wait_for(lambda seen: pictures(seen), "the first photo", SEEN_WITHIN)
    first = pictures(first)[-1]
    mark = terminal.mark()
    terminal.link_bytes_per_second = 20
    for _ in range(6):  # redraws, waiting for the client to catch up
        program.tmux("refresh-client")
    time.sleep(pressed_after)
    program.keys("j")
    time.sleep(0.5)
    terminal.link_bytes_per_second = None
    terminal.wait_for(
        lambda seen: any(picture != first for picture in pictures(seen[mark:])),
        "the next photo's picture",
        SEEN_WITHIN,
    )


def test_a_terminal_that_attaches_again_gets_the_picture(in_tmux, tmp_path):
    """Detached, then attached from another terminal (the laptop after the train): tmux
    redraws its cells there, and the picture they name is sent to it as well."""
    running = in_tmux("xterm-kitty", "kitty(0.35.2)", passthrough=True)
    running.terminal.wait_for(whole_kitty, "the first photo", SEEN_WITHIN)
    running.terminal.close()
    again = tmp_path / "again"
    again.mkdir()
    running.terminal = OuterTerminal(running.program.socket, "gfx", again, "xterm-kitty",
                                     "kitty(0.35.2)", SIZE, CELL)  # fmt: skip
    running.terminal.wait_for(whole_kitty, "the picture, in the terminal attached", SEEN_WITHIN)
    assert kitty_pictures(running.terminal.bytes())


def test_forced_sixel_for_a_terminal_tmux_does_not_know(in_tmux):
    running = in_tmux("xterm-256color", "XTerm(390)", passthrough=True, renderer="sixel")
    running.terminal.wait_for(lambda seen: whole_sixel(seen) is not None, "a sixel",
                              SEEN_WITHIN)  # fmt: skip


def test_without_passthrough_half_blocks_and_the_line_that_enables_it(in_tmux):
    running = in_tmux("xterm-kitty", "kitty(0.35.2)", passthrough=False)
    screen = running.program.wait_for(
        lambda text: text if "allow-passthrough" in text and text.count(PHOTO_CELL) > 400
        else None, "half-blocks and the passthrough advice", SEEN_WITHIN,
    )  # fmt: skip
    assert "set -g allow-passthrough on" in toast(screen, "tmux holds photos back")
    assert b"\x1b_G" not in running.terminal.bytes()
    assert PLACEHOLDER_BYTES not in running.terminal.bytes()
