"""The grid through a real terminal: what tmux shows after each key is the page the grid stands
on, every tile drawn, the focus mark beside one tile only (a tile left unpainted after a move
would keep the old mark, or the old page's pictures). Real app, real JPEGs, keys by send-keys."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from textual.geometry import Size

from core.triage.queue import Queue
from core.triage.tiles import tile_facts
from tests.tui.test_key_repeat import REPO, build_shoot
from tests.tui.tmux_screen import POSITION, TMUX, TmuxProgram, app_env
from tui.panes.grid import layout_for
from tui.widgets.thumbnails import WAITING_MARK

SIZE = (80, 24)
PHOTOS = 20
# 80x24 leaves the grid 80x19 (status and pane bars, facts, position and footer lines).
LAYOUT = layout_for(Size(80, 19))
SHOWN_WITHIN = 20.0  # generous: a loaded machine is slow; a stale screen stays stale


def on_screen(screen: str, names: list[str], index: int, top: int) -> bool:
    """The grid stands on ``index`` (0-based) with row ``top`` first: the position line says
    so, every tile of the page has its caption and its picture, one tile has the focus bar."""
    match = POSITION.search(screen)
    if match is None or int(match[1].replace(",", "")) != index + 1:
        return False
    first = top * LAYOUT.columns
    page = names[first : first + LAYOUT.page]
    others = [name for name in names if name not in page]
    return (
        all(name in screen for name in page)
        and not any(name in screen for name in others)
        and WAITING_MARK not in screen
        and screen.count("▌") == LAYOUT.tile_height  # beside the focused tile, every line
    )


# Keys from the first photo, and where each leaves the grid: (index, top row). 3 tiles a row,
# 2 rows a page, 20 photos: 7 rows.
STEPS = [
    ("Right", 1, 0),
    ("Right", 2, 0),
    ("Down", 5, 0),
    ("Right", 6, 1),  # the next row scrolls in
    ("PageDown", 12, 3),
    ("PageDown", 18, 5),
    ("Left", 17, 5),
    ("Up", 14, 4),
    ("PageUp", 8, 2),
    ("Home", 0, 0),
]


@pytest.fixture
def grid_in_tmux(tmp_path: Path):
    if TMUX is None:
        pytest.skip("tmux is not installed (CI installs it)")
    shoot = build_shoot(tmp_path / "shoot", photos=PHOTOS)
    ids = Queue(shoot.catalogue.db, "pending").photo_ids
    facts = tile_facts(shoot.catalogue.db, ids)
    names = [facts[photo_id].name for photo_id in ids]
    shoot.catalogue.close()
    config = tmp_path / "shoot" / "shootwatch.toml"
    command = f"{sys.executable} -m tui --config {config} --no-engine"
    program = TmuxProgram(command, tmp_path, app_env(tmp_path / "home", REPO), SIZE)
    try:
        yield program, names
    finally:
        program.close()


def test_each_key_in_the_grid_shows_its_page_drawn_with_one_focus(grid_in_tmux):
    program, names = grid_in_tmux
    assert (LAYOUT.columns, LAYOUT.rows) == (3, 2)
    program.wait_for(lambda screen: POSITION.search(screen), "the triage pane", timeout=60)
    program.keys("t")
    program.wait_for(lambda screen: on_screen(screen, names, 0, 0), "the grid", SHOWN_WITHIN)
    for key, index, top in STEPS:
        program.keys(key)
        program.wait_for(lambda screen, i=index, t=top: on_screen(screen, names, i, t),
                         f"the grid at {index + 1} after {key}", SHOWN_WITHIN)  # fmt: skip
