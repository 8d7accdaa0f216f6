"""The windowed table: a header, the rows in view and a cursor, for tables of 100,000 rows and more.
It draws only the lines on screen and asks its row source for them a page at a time, keeping a few
pages; Textual's DataTable builds every row up front, about 15 s for 100,000 rows.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from rich.console import Console
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

PAGE_SIZE = 200  # rows asked of the source at once
KEPT_PAGES = 8  # pages kept: several screens either side of the one in view
COLUMN_GAP = 1  # blank cells between two columns
FLEXIBLE_MIN_WIDTH = 4  # a flexible column narrower than this would show only its ellipsis
EMPTY_LINE = 2  # the empty message starts here, a blank line below the header

Cell = str | Text
Row = Sequence[Cell]


class RowSource(Protocol):
    """Where the table's rows come from: how many there are, and a slice of them."""

    def count(self) -> int: ...

    def rows(self, offset: int, limit: int) -> Sequence[Row]: ...


@dataclass(frozen=True)
class Column:
    title: str
    width: int | None = None  # None: flexible, shares what is left
    justify: str = "left"  # "left" | "right"


def column_widths(columns: Sequence[Column], width: int) -> list[int]:
    """Each column's width in cells: fixed columns as declared, flexible ones share what the fixed
    ones and the gaps leave, never below FLEXIBLE_MIN_WIDTH (what does not fit is cropped at the
    right)."""
    widths = [column.width if column.width is not None else 0 for column in columns]
    flexible = [n for n, column in enumerate(columns) if column.width is None]
    if flexible:
        left = width - sum(widths) - COLUMN_GAP * (len(columns) - 1)
        share, extra = divmod(max(0, left), len(flexible))
        for rank, n in enumerate(flexible):
            widths[n] = max(FLEXIBLE_MIN_WIDTH, share + (1 if rank < extra else 0))
    return widths


def fit_cell(value: Cell, width: int, justify: str) -> Text:
    """One cell on one line: cropped with an ellipsis, padded to ``width``, its styles kept."""
    if width <= 0:
        return Text()
    if isinstance(value, Text):
        text = Text(" ").join(value.split("\n")) if "\n" in value.plain else value.copy()
    else:
        text = Text(" ".join(str(value).split("\n")).replace("\t", " "))
    text.truncate(width, overflow="ellipsis")
    room = width - text.cell_len
    # the padding is outside the cell's own style: an underlined word is not underlined to the edge
    if justify == "right":
        return Text.assemble(" " * room, text)
    return Text.assemble(text, " " * room)


class RowPages:
    """A source's rows, fetched a page at a time and kept in a small least-recently-used cache.
    The count is taken once: a new RowPages is how the table learns that the data changed."""

    def __init__(self, source: RowSource, page_size: int = PAGE_SIZE, kept: int = KEPT_PAGES):
        self.source = source
        self.page_size = page_size
        self.kept = kept
        self.count = source.count()
        self._pages: OrderedDict[int, Sequence[Row]] = OrderedDict()

    def row(self, index: int) -> Row | None:
        if not 0 <= index < self.count:
            return None
        number, offset = divmod(index, self.page_size)
        page = self._pages.get(number)
        if page is None:
            start = number * self.page_size
            page = self.source.rows(start, min(self.page_size, self.count - start))
            self._pages[number] = page
            while len(self._pages) > self.kept:
                self._pages.popitem(last=False)
        else:
            self._pages.move_to_end(number)
        # a source that shrank since it was counted returns a short page
        return page[offset] if offset < len(page) else None


class WindowedTable(ScrollView, can_focus=True, inherit_bindings=False):
    """Line 0 is the header; line ``y`` below it shows row ``scroll_y + y - 1``."""

    COMPONENT_CLASSES = {
        "windowed-table--header",
        "windowed-table--cursor",
        "windowed-table--empty",
    }
    DEFAULT_CSS = """
    WindowedTable {
        height: 1fr;
        overflow-x: hidden;
        background: $surface;
        & > .windowed-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        & > .windowed-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .windowed-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
        & > .windowed-table--empty {
            color: $text-muted;
        }
    }
    """
    BINDINGS = [
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("pageup", "cursor_page(-1)", "Page up", show=False),
        Binding("pagedown", "cursor_page(1)", "Page down", show=False),
        Binding("home,g", "cursor_first", "Top", show=False),
        Binding("end,G", "cursor_last", "Bottom", show=False),
        Binding("enter", "select_cursor", "Select", show=False),
    ]

    cursor: reactive[int] = reactive(-1)
    """The highlighted row's index; -1 when there are no rows."""

    class Highlighted(Message):
        """The cursor is on another row, or the row under it changed on reload (index -1 and row
        None: the table became empty)."""

        def __init__(self, table: WindowedTable, index: int, row: Row | None) -> None:
            super().__init__()
            self.table = table
            self.index = index
            self.row = row

        @property
        def control(self) -> WindowedTable:
            return self.table

    class Selected(Message):
        """Enter (or a double click) on the cursor's row."""

        def __init__(self, table: WindowedTable, index: int, row: Row | None) -> None:
            super().__init__()
            self.table = table
            self.index = index
            self.row = row

        @property
        def control(self) -> WindowedTable:
            return self.table

    def __init__(
        self,
        columns: Sequence[Column],
        source: RowSource,
        *,
        empty: str = "",
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.columns = tuple(columns)
        self.source = source
        self.empty = empty
        self._rows: RowPages | None = None  # counted on mount, not while the app is composed
        self._announced: tuple[int, tuple | None] | None = None  # the last Highlighted sent

    # --- the data -----------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return self._rows.count if self._rows is not None else 0

    def row_at(self, index: int) -> Row | None:
        """The row at ``index``, from the cached pages or else from the source; None outside."""
        return self._rows.row(index) if self._rows is not None else None

    def reload(self) -> None:
        """The data changed: count again, forget the cached rows, keep the cursor where it was
        (or on the last row, if there are fewer now)."""
        self._rows = RowPages(self.source)
        self._fit_cursor(self.cursor)

    def set_source(self, source: RowSource) -> None:
        """Show other rows (a filter changed): the cursor goes back to the first one."""
        self.source = source
        self._rows = RowPages(source)
        self.scroll_to(y=0, animate=False)
        self._fit_cursor(0)

    def on_mount(self) -> None:
        if self._rows is None:
            self.reload()

    def _fit_cursor(self, wanted: int) -> None:
        count = self.row_count
        cursor = min(max(wanted, 0), count - 1) if count else -1
        self.virtual_size = Size(self._table_width(), count + 1)
        # no watcher: a reload announces the row only if it is not the one announced before
        self.set_reactive(WindowedTable.cursor, cursor)
        self._scroll_to_cursor()
        self.refresh()
        self._announce()

    def validate_cursor(self, cursor: int) -> int:
        count = self.row_count
        return min(max(cursor, 0), count - 1) if count else -1

    def watch_cursor(self) -> None:
        self._scroll_to_cursor()
        self.refresh()
        self._announce()

    def _announce(self) -> None:
        row = self.row_at(self.cursor)
        now = (self.cursor, tuple(row) if row is not None else None)
        if now != self._announced and (self.cursor >= 0 or self._announced is not None):
            self._announced = now
            self.post_message(self.Highlighted(self, self.cursor, row))

    # --- where the rows are on screen ---------------------------------------------------------

    def _table_width(self) -> int:
        """The width the columns share: the content minus the vertical scrollbar."""
        return self.scrollable_content_region.width

    @property
    def _rows_in_view(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _scroll_to_cursor(self) -> None:
        if self.cursor < 0:
            return
        top = self.scroll_offset.y
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + self._rows_in_view:
            self.scroll_to(y=self.cursor - self._rows_in_view + 1, animate=False)

    def on_resize(self, event: events.Resize) -> None:
        self.virtual_size = Size(self._table_width(), self.row_count + 1)
        self._scroll_to_cursor()

    def on_focus(self) -> None:
        self.refresh()  # the cursor's colour says whether keys reach the table

    def on_blur(self) -> None:
        self.refresh()

    # --- drawing ------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        base = self.rich_style
        if y == 0:
            header = base + self.get_component_rich_style("windowed-table--header")
            return self._strip([column.title for column in self.columns], header)
        if self.row_count == 0:
            return self._empty_line(y - EMPTY_LINE, base)
        index = self.scroll_offset.y + y - 1
        row = self.row_at(index)
        if row is None:
            return Strip.blank(self.size.width, base)
        if index == self.cursor:
            return self._strip(row, base + self.get_component_rich_style("windowed-table--cursor"))
        return self._strip(row, base)

    def _strip(self, cells: Sequence[Cell], style: Style) -> Strip:
        """One table line: the cells fitted to their columns, on ``style`` (a cell's own style
        wins), cropped or padded to the widget's width."""
        line = Text(no_wrap=True, end="")
        widths = column_widths(self.columns, self._table_width())
        for n, (column, width) in enumerate(zip(self.columns, widths, strict=False)):
            if n:
                line.append(" " * COLUMN_GAP)
            line.append_text(fit_cell(cells[n] if n < len(cells) else "", width, column.justify))
        return self._finish(line, style)

    def _empty_line(self, n: int, style: Style) -> Strip:
        """Line ``n`` of the empty message, wrapped and centred below the header."""
        if not self.empty or n < 0:
            return Strip.blank(self.size.width, style)
        width = self._table_width()
        lines = Text(self.empty).wrap(self._console, max(1, width - 4))
        if n >= len(lines):
            return Strip.blank(self.size.width, style)
        text = lines[n]
        text.rstrip()
        text.align("center", width)
        return self._finish(text, style + self.get_component_rich_style("windowed-table--empty"))

    def _finish(self, text: Text, style: Style) -> Strip:
        width = self.size.width
        return Strip(text.render(self._console)).crop_extend(0, width, None).apply_style(style)

    @property
    def _console(self) -> Console:
        return self.app.console

    # --- keys and the mouse -------------------------------------------------------------------

    def action_cursor_up(self) -> None:
        self.cursor -= 1

    def action_cursor_down(self) -> None:
        self.cursor += 1

    def action_cursor_page(self, direction: int) -> None:
        """Move the cursor and the view a screen at once, so the cursor keeps its place on
        screen."""
        if self.cursor < 0:
            return
        step = direction * self._rows_in_view
        self.scroll_to(y=self.scroll_offset.y + step, animate=False)
        self.cursor += step

    def action_cursor_first(self) -> None:
        self.cursor = 0

    def action_cursor_last(self) -> None:
        self.cursor = self.row_count - 1

    def action_select_cursor(self) -> None:
        if self.cursor >= 0:
            self.post_message(self.Selected(self, self.cursor, self.row_at(self.cursor)))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1:
            return
        index = self.scroll_offset.y + offset.y - 1
        if index < self.row_count:
            self.cursor = index
            if event.chain == 2:
                self.action_select_cursor()
