"""The edit progress pane (darktable): per shoot, the files on disk against what darktable has,
edited of what is to edit with a bar, what is left and when it will be done at this session's
pace, exported and what is edited but not exported; below, three lists that fill the pane: the
most recent edits, what is edited but not exported, and what is left to edit, best rated first."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

from core.store.progress import (
    ShootProgress,
    edited_not_exported,
    latest_changes,
    left_to_edit,
    shoot_progress,
)

MIN_BAR_WIDTH = 8
MAX_BAR_WIDTH = 24
NARROW_WIDTH = 120  # below it, the lists leave out the most recent edits
NO_LIBRARY = (
    "darktable is not followed: no library.db at {library}. Set darktable.library in the "
    "settings file to follow the library you edit in; shootwatch reads it read-only."
)
LIST_TITLES = {
    "recent": "Most recent edits",
    "unexported": "Edited, not exported",
    "left": "Left to edit, best rated first",
}


def bar(done: int, total: int, width: int, style: str) -> Text:
    """A bar of ``width`` cells, ``done`` of ``total`` filled, and a space."""
    filled = round(width * done / total) if total else 0
    text = Text("█" * filled, style=style)
    text.append("░" * (width - filled) + " ", style="grey30")
    return text


def duration(seconds: float) -> str:
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d}" if hours < 48 else f"{hours / 24:.0f} days"


def _image_name(image: dict) -> str:
    name = os.path.basename(image["path"])
    return name + (f" (v{image['version']})" if image["version"] else "")


def _stars(image: dict) -> str:
    return "rejected" if image["rejected"] else "★" * image["stars"] or "no stars"


class ProgressPane(Widget):
    DEFAULT_CSS = """
    ProgressPane { layout: vertical; }
    ProgressPane #shoots-scroll { height: auto; max-height: 60%; }
    ProgressPane #shoots { height: auto; padding: 0 1; }
    ProgressPane #lists { height: 1fr; margin-top: 1; }
    ProgressPane .list { width: 1fr; height: 100%; }
    ProgressPane .list-title { height: 1; padding: 0 1; background: $panel; }
    ProgressPane .list-body { height: 1fr; padding: 0 1; }
    """

    def __init__(self, library: str, clock: Callable[[], float] = time.time, **kwargs) -> None:
        super().__init__(**kwargs)
        self.library = library
        self.clock = clock

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="shoots-scroll", can_focus=True):
            yield Static(id="shoots")
        with Horizontal(id="lists"):
            for key, title in LIST_TITLES.items():
                with Vertical(classes="list"):
                    yield Static(title, id=f"{key}-title", classes="list-title", markup=False)
                    yield Static(id=key, classes="list-body")

    def on_resize(self) -> None:
        # two lists below NARROW_WIDTH columns: what is left to do matters most there
        self.query_one("#recent", Static).parent.display = self.size.width >= NARROW_WIDTH
        self.refresh_progress()  # the bars and the lists are as long as the pane is wide, tall

    def focus_target(self) -> Widget:
        return self.query_one("#shoots-scroll", VerticalScroll)

    def refresh_progress(self) -> None:
        now = self.clock()
        shoots = [s for s in shoot_progress(now) if s.images or s.files]
        self.query_one("#shoots", Static).update(self._shoots(shoots))
        # as many lines as the lists have room for (at least a few before the first layout)
        lines = max(5, self.query_one("#lists").size.height - 1)
        self.query_one("#recent", Static).update(self._recent(now, lines))
        self.query_one("#unexported", Static).update(self._unexported(now, lines))
        self.query_one("#left", Static).update(self._left(lines))

    def _shoots(self, shoots: list[ShootProgress]) -> Table | Text:
        if not any(s.images for s in shoots):
            return Text(NO_LIBRARY.format(library=self.library), style="dim")
        headers = ("shoot · on disk", "edited", "left", "pace", "done in", "exported",
                   "not exported", "rejected", "rated")  # fmt: skip
        rows: list[list[Text]] = []
        bars: list[tuple[tuple[int, int], tuple[int, int]] | None] = []  # (done, total) twice
        for shoot in shoots:
            name = Text(shoot.name, style="bold")
            if not shoot.images:
                name.append(f"\n{shoot.files or 0:,} files · not in darktable", style="dim")
                rows.append([name, *(Text("") for _ in headers[1:])])
                bars.append(None)
                continue
            bars.append(
                ((shoot.edited, shoot.edited + shoot.to_edit), (shoot.exported, shoot.images))
            )
            rows.append([
                name + Text("\n") + self._on_disk(shoot),
                self._of(shoot.edited, shoot.edited + shoot.to_edit, "magenta"),
                Text(f"{shoot.to_edit:,}"),
                Text(f"{shoot.edits_per_hour:.0f}/h" if shoot.edits_per_hour else "-"),
                self._done_in(shoot),
                self._of(shoot.exported, shoot.images, "blue"),
                self._not_exported(shoot),
                Text(f"{shoot.rejected:,}", style="red" if shoot.rejected else "dim"),
                Text(f"{shoot.rated:,}"),
            ])  # fmt: skip
        # Each cell measured (padding 2): the two bars take the width the others leave; on a
        # narrow pane the bars go first, then the figures a glance needs least.
        widths = [
            max(len(header), *(max(map(len, row[n].plain.splitlines() or [""])) for row in rows))
            for n, header in enumerate(headers)
        ]
        shown = list(range(len(headers)))
        available = (self.size.width or 160) - 4
        for optional in (headers.index("rated"), headers.index("pace"), headers.index("rejected")):
            if sum(widths[n] + 2 for n in shown) <= available:
                break
            shown.remove(optional)
        spare = available - sum(widths[n] + 2 for n in shown)
        width = min(MAX_BAR_WIDTH, spare // 2) if spare >= 2 * MIN_BAR_WIDTH else 0
        table = Table(box=None, expand=True, padding=(0, 1), header_style="bold")
        for n in shown:
            justify = "left" if n in (0, 1, 5) else "right"
            table.add_column(headers[n], no_wrap=True, justify=justify)
        for row, counts in zip(rows, bars, strict=True):
            if width and counts:  # the bars go in front of "done / total"
                row[1] = bar(*counts[0], width, "magenta") + row[1]
                row[5] = bar(*counts[1], width, "blue") + row[5]
            table.add_row(*(row[n] for n in shown))
        return table

    @staticmethod
    def _of(done: int, total: int, style: str) -> Text:
        text = Text(f"{done:,}", style=style if done else "dim")
        text.append(f" / {total:,}", style="dim")
        return text

    @staticmethod
    def _on_disk(shoot: ShootProgress) -> Text:
        """Files on disk and darktable's images apart: they differ when a photo was never
        imported or darktable has a photo whose file is gone."""
        if shoot.files is None:
            return Text(f"{shoot.in_darktable:,} in darktable (folder not watched)", style="dim")
        text = Text(f"{shoot.files:,} files · {shoot.in_darktable:,} in darktable", style="dim")
        apart = []
        if shoot.not_imported:
            apart.append(Text(f"{shoot.not_imported:,} not imported", style="yellow"))
        if shoot.missing_files:
            apart.append(Text(f"{shoot.missing_files:,} missing from disk", style="red"))
        if apart:
            text.append("\n")
            text.append_text(Text(" · ").join(apart))
        return text

    @staticmethod
    def _done_in(shoot: ShootProgress) -> Text:
        if not shoot.to_edit:
            return Text("done", style="green")
        eta = shoot.eta_seconds
        return Text("-", style="dim") if eta is None else Text(f"≈ {duration(eta)}")

    @staticmethod
    def _not_exported(shoot: ShootProgress) -> Text:
        text = Text(f"{shoot.to_export + shoot.changed_after_export:,}")
        if shoot.changed_after_export:
            text.append(f" · {shoot.changed_after_export:,} re-edited", style="yellow")
        return text

    def _recent(self, now: float, lines: int) -> Table | Text:
        changes = latest_changes(lines)
        if not changes:
            return Text("No edits yet.", style="dim")
        rows = []
        for change in changes:
            state = "edited" if change["edited_now"] else "not edited"
            if change["exported_at"] and change["at"] > change["exported_at"]:
                state += " since its export"
            elif change["exported_at"]:
                state += ", exported"
            rows.append((ago(now, change["at"]), change, state))
        return _image_list(rows)

    def _unexported(self, now: float, lines: int) -> Table | Text:
        images = edited_not_exported(lines)
        if not images:
            return Text("Every edit is exported.", style="dim")
        return _image_list(
            [
                (ago(now, image["changed_at"]), image,
                 "re-edited" if image["exported_at"] else "never exported")
                for image in images
            ]
        )  # fmt: skip

    def _left(self, lines: int) -> Table | Text:
        images = left_to_edit(lines)
        if not images:
            return Text("Nothing left to edit.", style="dim")
        return _image_list(
            [(None, image, os.path.basename(os.path.dirname(image["path"]))) for image in images]
        )


def ago(now: float, at: float | None) -> str:
    """How long ago, in a few characters: 40s, 5m, 3h, 2d, 20mo."""
    if at is None:
        return "-"
    seconds = now - at
    if seconds < 1:
        return "just now"  # or a clock ahead of this one
    for unit, size in (("mo", 30 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size:.0f}{unit} ago"
    return f"{seconds:.0f}s ago"


def _image_list(rows: list[tuple[str | None, dict, str]]) -> Table:
    """One line per image (when, name, stars, state), cut short rather than wrapped."""
    table = Table.grid(padding=(0, 1), expand=True)
    if rows[0][0] is not None:
        table.add_column(justify="right", no_wrap=True, style="dim")
    table.add_column(no_wrap=True, style="bold", overflow="ellipsis")
    table.add_column(no_wrap=True, style="gold1")
    table.add_column(no_wrap=True, style="dim", overflow="ellipsis", ratio=1)
    for when, image, state in rows:
        cells = [_image_name(image), _stars(image), state]
        table.add_row(*([when] if when is not None else []), *cells)
    return table
