"""The edit progress pane (darktable): per shoot, bars for edited, exported and rejected of its
images, the pace of edits in this session, and the most recent edits."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import humanize
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

from core.store.progress import ShootProgress, latest_changes, shoot_progress

BAR_WIDTH = 12
NO_LIBRARY = (
    "darktable is not followed: no library.db at {library}. Set darktable.library in the "
    "settings file to follow the library you edit in; shootwatch reads it read-only."
)


def bar(done: int, total: int, style: str) -> Text:
    filled = round(BAR_WIDTH * done / total) if total else 0
    text = Text("█" * filled, style=style)
    text.append("░" * (BAR_WIDTH - filled), style="grey30")
    text.append(f" {done:>4,}", style=style if done else "dim")
    return text


class ProgressPane(Widget):
    DEFAULT_CSS = """
    ProgressPane { layout: vertical; }
    ProgressPane VerticalScroll { height: 1fr; }
    ProgressPane #shoots { height: auto; padding: 0 1; }
    ProgressPane #recent-title { height: 1; padding: 0 1; background: $panel; margin-top: 1; }
    ProgressPane #recent { height: auto; padding: 0 1; }
    """

    def __init__(self, library: str, clock: Callable[[], float] = time.time, **kwargs) -> None:
        super().__init__(**kwargs)
        self.library = library
        self.clock = clock

    def compose(self) -> ComposeResult:
        with VerticalScroll(can_focus=True):
            yield Static(id="shoots")
            yield Static("Most recent edits", id="recent-title", markup=False)
            yield Static(id="recent")

    def focus_target(self) -> Widget:
        return self.query_one(VerticalScroll)

    def refresh_progress(self) -> None:
        now = self.clock()
        shoots = [s for s in shoot_progress(now) if s.images or s.files]
        self.query_one("#shoots", Static).update(self._shoots(shoots))
        self.query_one("#recent", Static).update(self._recent(now))

    def _shoots(self, shoots: list[ShootProgress]) -> Table | Text:
        if not any(s.images for s in shoots):
            return Text(NO_LIBRARY.format(library=self.library), style="dim")
        table = Table(box=None, expand=False, padding=(0, 1), header_style="bold")
        table.add_column("shoot", no_wrap=True, max_width=28, overflow="ellipsis")
        table.add_column("images", justify="right")
        table.add_column("edited")
        table.add_column("exported")
        table.add_column("rejected")
        table.add_column("edits/h", justify="right")
        for shoot in shoots:
            if not shoot.images:
                table.add_row(shoot.name, f"{shoot.files or 0:,}", Text("not in darktable",
                              style="dim"), "", "", "")  # fmt: skip
                continue
            pace = f"{shoot.edits_per_hour:.0f}" if shoot.edits_per_hour else "-"
            table.add_row(
                shoot.name,
                f"{shoot.images:,}",
                bar(shoot.edited, shoot.images, "magenta"),
                bar(shoot.exported, shoot.images, "blue"),
                bar(shoot.rejected, shoot.images, "red"),
                pace,
            )
        return table

    def _recent(self, now: float) -> Text:
        changes = latest_changes(8)
        if not changes:
            return Text("No edits yet.", style="dim")
        text = Text()
        for change in changes:
            ago = humanize.naturaltime(now - change["at"])
            name = os.path.basename(change["path"])
            if change["version"]:
                name += f" (version {change['version']})"
            state = "edited" if change["edited_now"] else "not edited"
            if change["exported_at"]:
                state += ", exported"
            stars = "rejected" if change["rejected"] else "★" * change["stars"] or "no stars"
            text.append(f"{ago:>18}  ", style="dim")
            text.append(f"{name:<28}", style="bold")
            text.append(f" {state:<20} {stars}\n")
        return text
