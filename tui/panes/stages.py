"""The stage queue pane: jobs per stage and status, the failed jobs with their error, and keys
to retry or cancel the selected one."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Static

from core.store.jobs import cancel_job, failed_job_count, failed_jobs, job_counts, requeue_jobs
from core.store.models import JOB_STATUSES
from tui import keymap
from tui.widgets.windowed_table import Column, WindowedTable

STATUS_STYLES = {
    "pending": "yellow",
    "running": "cyan",
    "completed": "green",
    "failed": "bold red",
    "cancelled": "dim",
}
NO_STAGES = (
    "No stage has queued any work yet. Stages make what comes after triage from approved "
    "photos: thumbnails, web JPEGs, blurhashes and darktable-cli exports. Their jobs, and any "
    "that failed with the error, show here."
)


class FailedSource:
    def __init__(self, db) -> None:
        self.db = db
        self.ids: dict[int, int] = {}  # position -> job id

    def count(self) -> int:
        return failed_job_count(self.db)

    def rows(self, offset: int, limit: int) -> list[list]:
        rows = []
        for position, (job_id, stage, path, attempts, error, finished) in enumerate(
            failed_jobs(self.db, offset, limit), start=offset
        ):
            self.ids[position] = job_id
            when = time.strftime("%m-%d %H:%M", time.localtime(finished)) if finished else "-"
            rows.append([when, stage, path, str(attempts), Text(error or "", style="red")])
        return rows


class StagesPane(Widget):
    BINDINGS = keymap.bindings("stages", {})
    DEFAULT_CSS = """
    StagesPane { layout: vertical; }
    StagesPane #stage-counts { height: auto; max-height: 12; padding: 0 1; }
    StagesPane #failed-title { height: 1; padding: 0 1; background: $panel; }
    StagesPane WindowedTable { height: 1fr; }
    """

    def __init__(self, db, **kwargs) -> None:
        super().__init__(**kwargs)
        self.db = db
        self.source = FailedSource(db)

    def compose(self) -> ComposeResult:
        yield Static(id="stage-counts", markup=False)
        yield Static("Failed jobs   r: retry   c: cancel", id="failed-title", markup=False)
        yield WindowedTable(
            [
                Column("failed", 11),
                Column("stage", 10),
                Column("photo", 30),
                Column("tries", 5, "right"),
                Column("error"),
            ],
            self.source,
            empty="No failed jobs.",
            id="failed-table",
        )

    def focus_target(self) -> Widget:
        return self.query_one(WindowedTable)

    def refresh_jobs(self) -> None:
        counts = job_counts(self.db)
        text = Text()
        if not counts:
            text.append(NO_STAGES, style="dim")
        else:
            text.append(f"{'stage':<14}", style="bold")
            for status in JOB_STATUSES:
                text.append(f"{status:>11}", style="bold")
            for stage, by_status in counts.items():
                text.append(f"\n{stage:<14}")
                for status in JOB_STATUSES:
                    count = by_status[status]
                    text.append(f"{count:>11,}", style=STATUS_STYLES[status] if count else "dim")
        self.query_one("#stage-counts", Static).update(text)
        self.source.ids.clear()
        self.query_one(WindowedTable).reload()

    def _selected_job(self) -> int | None:
        table = self.query_one(WindowedTable)
        table.row_at(table.cursor)  # fills the position -> id map
        return self.source.ids.get(table.cursor)

    def action_retry(self) -> None:
        job_id = self._selected_job()
        if job_id is None:
            self.notify("No failed job selected.", timeout=2)
            return
        done = requeue_jobs(self.db, job_id=job_id) == 1
        self.notify(f"job {job_id} queued again" if done else f"job {job_id} is not failed")
        self.refresh_jobs()

    def action_cancel(self) -> None:
        job_id = self._selected_job()
        if job_id is None:
            self.notify("No job selected.", timeout=2)
            return
        done = cancel_job(self.db, job_id)
        self.notify(f"job {job_id} cancelled" if done else f"job {job_id} had finished")
        self.refresh_jobs()
