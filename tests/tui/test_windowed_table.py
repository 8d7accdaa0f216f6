"""The windowed table in a bare app at 80x24: what it draws (read back from the lines it renders),
what it asks its source for, the cursor and the messages it posts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from rich.text import Text
from textual.app import App, ComposeResult

from tui.widgets.windowed_table import PAGE_SIZE, Column, WindowedTable

pytestmark = pytest.mark.anyio
SIZE = (80, 24)
SHOT_COLUMNS = [Column("#", 6, "right"), Column("name"), Column("bytes", 11, "right")]


class ShotTable:
    """A row source over a real SQLite table of shots, recording every slice it is asked for."""

    def __init__(self, path: Path, shots: int = 0, where: str = "1") -> None:
        self.db = sqlite3.connect(path)
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS shot (id INTEGER PRIMARY KEY, name TEXT, size INTEGER)"
        )
        self.add(shots)
        self.where = where
        self.calls: list[tuple[int, int]] = []

    def add(self, shots: int) -> None:
        start = self.db.execute("SELECT COUNT(*) FROM shot").fetchone()[0]
        self.db.executemany(
            "INSERT INTO shot (id, name, size) VALUES (?, ?, ?)",
            ((n, f"IMG_{n:06d}.CR3", n * 1000) for n in range(start, start + shots)),
        )
        self.db.commit()

    def count(self) -> int:
        return self.db.execute(f"SELECT COUNT(*) FROM shot WHERE {self.where}").fetchone()[0]

    def rows(self, offset: int, limit: int) -> list[list[str]]:
        self.calls.append((offset, limit))
        found = self.db.execute(
            f"SELECT id, name, size FROM shot WHERE {self.where} ORDER BY id LIMIT ? OFFSET ?",
            (limit, offset),
        )
        return [[str(n), name, f"{size:,}"] for n, name, size in found]

    def fetched(self) -> int:
        return sum(limit for _, limit in self.calls)


class Rows:
    """A row source over a list."""

    def __init__(self, rows: list[list]) -> None:
        self.data = rows

    def count(self) -> int:
        return len(self.data)

    def rows(self, offset: int, limit: int) -> list[list]:
        return self.data[offset : offset + limit]


class TableApp(App):
    def __init__(self, table: WindowedTable) -> None:
        super().__init__()
        self.table = table
        self.highlighted: list[tuple[int, list | None]] = []
        self.selected: list[tuple[int, list | None]] = []

    def compose(self) -> ComposeResult:
        yield self.table

    def on_windowed_table_highlighted(self, message: WindowedTable.Highlighted) -> None:
        self.highlighted.append((message.index, message.row))

    def on_windowed_table_selected(self, message: WindowedTable.Selected) -> None:
        self.selected.append((message.index, message.row))


def screen(table: WindowedTable) -> list[str]:
    """The table's lines as they are drawn now."""
    return [table.render_line(y).text for y in range(table.size.height)]


def background(table: WindowedTable, y: int):
    return next(iter(table.render_line(y))).style.bgcolor


@pytest.fixture
def shots(tmp_path: Path) -> ShotTable:
    return ShotTable(tmp_path / "shots.db", 100_000)


async def test_a_hundred_thousand_rows_are_drawn_a_page_at_a_time(shots: ShotTable) -> None:
    app = TableApp(WindowedTable(SHOT_COLUMNS, shots))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.table
        assert shots.calls == [(0, PAGE_SIZE)], "the first paint asks for one page"
        assert table.row_count == 100_000
        assert table.virtual_size.height == 100_001
        lines = screen(table)
        assert lines[0].split() == ["#", "name", "bytes"]
        assert all(segment.style.bold for segment in table.render_line(0) if segment.text.strip())
        assert lines[1].split() == ["0", "IMG_000000.CR3", "0"]
        assert lines[23].split() == ["22", "IMG_000022.CR3", "22,000"]
        assert table.cursor == 0

        await pilot.press("end")
        await pilot.pause()
        assert table.cursor == 99_999
        lines = screen(table)
        assert lines[23].split() == ["99999", "IMG_099999.CR3", "99,999,000"]
        assert lines[1].split()[0] == "99977"
        assert background(table, 23) != background(table, 22), "the cursor's row stands out"

        await pilot.press("pageup", "pageup", "up", "k", "home", "pagedown", "j", "G", "g")
        await pilot.pause()
        assert table.cursor == 0
        assert screen(table)[1].split()[0] == "0"
        assert all(limit <= PAGE_SIZE for _, limit in shots.calls)
        assert shots.fetched() < 2_000, shots.calls


async def test_reload_keeps_the_cursor_and_set_source_resets_it(tmp_path: Path) -> None:
    shots = ShotTable(tmp_path / "shots.db", 50)
    app = TableApp(WindowedTable(SHOT_COLUMNS, shots))
    async with app.run_test(size=SIZE) as pilot:
        table = app.table
        await pilot.press("down", "down", "down")
        await pilot.pause()
        assert table.cursor == 3
        announced = len(app.highlighted)

        shots.add(10)
        table.reload()
        await pilot.pause()
        assert (table.row_count, table.cursor) == (60, 3)
        assert len(app.highlighted) == announced, "the row under the cursor did not change"
        await pilot.press("G")
        await pilot.pause()
        assert table.cursor == 59
        assert screen(table)[23].split() == ["59", "IMG_000059.CR3", "59,000"]

        shots.db.execute("DELETE FROM shot WHERE id >= 20")
        shots.db.commit()
        table.reload()
        await pilot.pause()
        assert (table.row_count, table.cursor) == (20, 19)
        assert app.highlighted[-1] == (19, ["19", "IMG_000019.CR3", "19,000"])
        assert screen(table)[20].split() == ["19", "IMG_000019.CR3", "19,000"]
        assert screen(table)[21] == " " * 80

        table.set_source(ShotTable(tmp_path / "shots.db", where="id % 2 = 1"))
        await pilot.pause()
        assert (table.row_count, table.cursor) == (10, 0)
        assert screen(table)[1].split() == ["1", "IMG_000001.CR3", "1,000"]


async def test_an_empty_source_shows_the_empty_message() -> None:
    table = WindowedTable(SHOT_COLUMNS, Rows([]), empty="No shots yet: copy a card to begin.")
    app = TableApp(table)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("down", "end", "enter")
        await pilot.pause()
        lines = screen(table)
        assert lines[0].split() == ["#", "name", "bytes"]
        assert lines[2].strip() == "No shots yet: copy a card to begin."
        assert lines[2].startswith("    "), "centred, not at the left edge"
        assert lines[1].strip() == lines[3].strip() == ""
        assert (table.row_count, table.cursor) == (0, -1)
        assert app.highlighted == app.selected == []


async def test_moving_posts_highlighted_and_enter_posts_selected() -> None:
    data = [[str(n), f"shot {n}", f"{n * 10:,}"] for n in range(100)]
    app = TableApp(WindowedTable(SHOT_COLUMNS, Rows(data)))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.highlighted == [(0, data[0])]
        await pilot.press("down", "j")
        await pilot.pause()
        assert app.highlighted[1:] == [(1, data[1]), (2, data[2])]
        await pilot.press("enter")
        await pilot.pause()
        assert app.selected == [(2, data[2])]

        focused = background(app.table, 3)
        app.set_focus(None)
        await pilot.pause()
        unfocused = background(app.table, 3)
        assert unfocused not in (focused, background(app.table, 2)), "dimmer, still visible"
        app.set_focus(app.table)

        await pilot.press("pagedown")
        await pilot.pause()
        assert app.table.cursor == 25  # 23 rows under the header
        assert app.highlighted[-1] == (25, data[25])

        await pilot.click(WindowedTable, offset=(3, 5))  # the fifth row on screen
        await pilot.pause()
        top = app.table.scroll_offset.y
        assert app.table.cursor == top + 4
        assert app.highlighted[-1] == (top + 4, data[top + 4])


async def test_columns_fit_80_cells() -> None:
    what = "a very long note about the shoot " * 6
    row = ["18:30:02", what, "12,345", Text("deleted", style="red")]
    columns = [Column("time", 8), Column("what"), Column("count", 7, "right"), Column("kind", 10)]
    app = TableApp(WindowedTable(columns, Rows([row])))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        lines = screen(app.table)
        # time 0-7, gap, what 9-60, gap, count 62-68, gap, kind 70-79
        assert lines[0][62:69] == "  count"
        assert lines[1][62:69] == " 12,345"
        assert lines[1][9:61] == what[:51] + "…"
        assert lines[1][70:79] == "deleted  "
        assert lines[2].strip() == "", "the long text is cropped, not wrapped"
        kind = [s for s in app.table.render_line(1) if s.text == "deleted"]
        assert kind and kind[0].style.color.name == "red"


async def test_a_right_column_stays_clear_of_the_scrollbar() -> None:
    data = [[f"IMG_{n:04d}.CR3 " * 8, f"{n * 1_000_003:,}"] for n in range(500)]
    app = TableApp(WindowedTable([Column("name"), Column("bytes", 14, "right")], Rows(data)))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("G")
        await pilot.pause()
        width = app.table.scrollable_content_region.width
        assert width < 80, "a vertical scrollbar is shown"
        line = screen(app.table)[23]
        assert line[:width].endswith(" 499,001,497")
        assert line[width:].strip() == ""


async def test_fixed_columns_wider_than_the_screen_are_cropped_at_the_right() -> None:
    columns = [Column("left", 50), Column("right", 50), Column("rest")]
    app = TableApp(WindowedTable(columns, Rows([["x" * 50, "y" * 50, "z"]])))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        strip = app.table.render_line(1)
        assert strip.cell_length == 80
        assert strip.text == "x" * 50 + " " + "y" * 29
        assert screen(app.table)[2].strip() == ""
