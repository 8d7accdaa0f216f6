"""The sync history pane: every reconciliation and watcher batch (SyncRun), newest first, with
the selected run's detail below and a key to rescan now."""

from __future__ import annotations

import time
from collections.abc import Callable

import humanize
from rich.text import Text
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Static

from core.store import queries
from core.store.models import SyncRun
from tui import keymap
from tui.widgets.windowed_table import Column, WindowedTable

STATUS_STYLES = {"completed": "green", "running": "cyan", "partial": "yellow", "failed": "bold red"}


def _took(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else humanize.precisedelta(seconds)


def _count(files: int) -> Text:
    """A count of files, dim when nothing happened, so the changes stand out."""
    return Text(f"{files:,}", style="" if files else "grey50")


class RunSource:
    def __init__(self) -> None:
        self.runs: dict[int, SyncRun] = {}  # by position, for the detail

    def count(self) -> int:
        return queries.sync_run_count()

    def rows(self, offset: int, limit: int) -> list[list]:
        runs = queries.recent_sync_runs(limit, offset)
        rows = []
        for position, run in enumerate(runs, start=offset):
            self.runs[position] = run
            rows.append(
                [
                    time.strftime("%m-%d %H:%M:%S", time.localtime(run.started_at)),
                    run.kind,
                    run.root.path if run.root_id is not None else "-",
                    f"{run.files_scanned:,}",
                    _count(run.files_added),
                    _count(run.files_updated),
                    _count(run.files_moved),
                    _count(run.files_removed),
                    _took(run.duration),
                    Text(run.status, style=STATUS_STYLES.get(run.status, "")),
                ]
            )
        return rows


class HistoryPane(Widget):
    BINDINGS = keymap.bindings("history", {})
    DEFAULT_CSS = """
    HistoryPane { layout: vertical; }
    HistoryPane WindowedTable { height: 1fr; }
    HistoryPane #run-detail {
        height: 7; padding: 0 1; border-top: solid $panel-lighten-2; background: $panel;
    }
    """

    def __init__(self, rescan: Callable[[], str], **kwargs) -> None:
        super().__init__(**kwargs)
        self._rescan = rescan
        self.source = RunSource()

    def compose(self) -> ComposeResult:
        yield WindowedTable(
            [
                Column("started", 14),
                Column("kind", 9),
                Column("root"),
                Column("scanned", 9, "right"),
                # One column a count, each headed by its word: a combined "+1 ~2 >3 -4" cell
                # left readers matching signs to a header cut short.
                Column("added", 7, "right"),
                Column("updated", 7, "right"),
                Column("moved", 7, "right"),
                Column("removed", 7, "right"),
                Column("took", 10, "right"),
                Column("status", 9),
            ],
            self.source,
            empty="No scans yet: the engine scans every root when it starts; R rescans now.",
            id="history-table",
        )
        yield Static(id="run-detail", markup=False)

    def focus_target(self) -> Widget:
        return self.query_one(WindowedTable)

    def refresh_runs(self) -> None:
        self.source.runs.clear()
        self.query_one(WindowedTable).reload()
        self._show_detail(self.query_one(WindowedTable).cursor)

    def on_mount(self) -> None:
        self._show_detail(0)

    def on_windowed_table_highlighted(self, message: WindowedTable.Highlighted) -> None:
        self._show_detail(message.index)

    def _show_detail(self, index: int) -> None:
        run = self.source.runs.get(index)
        detail = self.query_one("#run-detail", Static)
        if run is None:
            detail.update(Text("R: rescan every root now", style="dim"))
            return
        text = Text()
        root = run.root.path if run.root_id is not None else "every root"
        finished = (
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.finished_at))
            if run.finished_at
            else "not finished"
        )
        text.append(f"run {run.id}: {run.kind} scan of {root}\n", style="bold")
        text.append(
            f"started {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(run.started_at))}, "
            f"finished {finished}, took {_took(run.duration)}\n"
        )
        text.append(
            f"{run.files_scanned:,} files scanned: {run.files_added:,} added, "
            f"{run.files_updated:,} updated, {run.files_moved:,} moved, "
            f"{run.files_removed:,} removed; {humanize.naturalsize(run.bytes_hashed)} hashed\n"
        )
        text.append(run.status, style=STATUS_STYLES.get(run.status, ""))
        if run.error:
            text.append(f": {run.error}", style="red")
        detail.update(text)

    def action_rescan(self) -> None:
        self.notify(self._rescan(), timeout=4)
