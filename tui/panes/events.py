"""The live events pane: what happened, newest first, with the value each event set ("3 stars
(was 1)"), bursts folded into one line ("2,000 added in 2025/2025-03-08", "watcher, media:
off → running"), coloured by kind, filtered by kind.

Events reach the pane in batches from the app's 10 Hz timer, never one message per event, so
2,000 events a second cost one redraw a tenth of a second.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from rich.text import Text
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Static

from core.store.events import Event, EventKind
from tui import keymap
from tui.picker import Picker
from tui.widgets.windowed_table import Column, WindowedTable

KEEP_GROUPS = 20_000
SEED_EVENTS = 2000  # the pane opens with this many of the latest events
BURST_SECONDS = 10.0  # events of one kind in one folder this close together are one line
KIND_STYLES = {
    EventKind.ADDED: "green",
    EventKind.MODIFIED: "yellow",
    EventKind.MOVED: "cyan",
    EventKind.REMOVED: "red",
    EventKind.UNREADABLE: "bold red",
    EventKind.EDITED: "magenta",
    EventKind.REEDITED_AFTER_EXPORT: "magenta",
    EventKind.EXPORTED: "blue",
    EventKind.EXPORT_WRITTEN: "blue",
    EventKind.RATED: "gold1",
    EventKind.REJECTED: "red",
    EventKind.LABELLED: "orchid",
    EventKind.TAGGED: "orchid",
    EventKind.DARKTABLE_IMPORTED: "bright_magenta",
    EventKind.DARKTABLE_REMOVED: "red",
    EventKind.COMPONENT_STATE: "bold yellow",
}


@dataclass(slots=True)
class Group:
    kind: EventKind
    folder: str
    source: str
    first_at: float
    last_at: float
    count: int = 1
    last_path: str | None = None
    detail: str = ""  # the value the events set ("3 stars (was 1)"), when they all set the same
    detail_varies: bool = False
    subjects: list[str] = field(default_factory=list)  # what changed, for events with no path
    jobs: int = 0  # stage_queued: the jobs queued


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _detail(kind: EventKind, data: dict | None) -> str:
    """What an event set, in words: the new value (and the old one, where it helps)."""
    if not data:
        return ""
    if kind == EventKind.COMPONENT_STATE:
        reason = f" ({data['error']})" if data.get("error") else ""
        return f"{data.get('was')} → {data.get('status')}{reason}"
    if kind == EventKind.RATED:
        return f"{_plural(data.get('stars') or 0, 'star')} (was {data.get('was')})"
    if kind == EventKind.REJECTED:
        return "rejected" if data.get("rejected") else "no longer rejected"
    if kind == EventKind.LABELLED:
        was = ", ".join(data.get("was") or ()) or "none"
        return f"{', '.join(data.get('labels') or ()) or 'no label'} (was {was})"
    if kind == EventKind.TAGGED:
        changes = [f"+{tag}" for tag in data.get("added") or ()]
        changes += [f"−{tag}" for tag in data.get("removed") or ()]
        return " ".join(changes)
    if kind in (EventKind.MOVED, EventKind.INGESTED) and data.get("from"):
        return f"from {data['from']}"
    if kind == EventKind.DUPLICATE and data.get("of"):
        return f"a copy of {data['of']}"
    if kind in (EventKind.STAGE_DONE, EventKind.STAGE_FAILED) and data.get("stage"):
        failure = f": {data['error']}" if data.get("error") else ""
        return f"{data['stage']}{failure}"
    for key in ("error", "reason", "note"):
        if data.get(key):
            return str(data[key])
    return ""


def _jobs(kind: EventKind, data: dict | None) -> int:
    if kind != EventKind.STAGE_QUEUED or not data:
        return 0
    jobs = data.get("jobs")
    return jobs if isinstance(jobs, int) else 0


def _subject(kind: EventKind, data: dict | None) -> str | None:
    """What an event with no path is about: the component, the stage."""
    if not data:
        return None
    if kind == EventKind.COMPONENT_STATE:
        return data.get("component")
    if kind == EventKind.STAGE_QUEUED:
        return data.get("stage")
    return None


def _what(group: Group) -> str:
    """The "what" cell of a group: one event's path and value, or a burst's count and where."""
    detail = "" if group.detail_varies else group.detail
    if group.kind == EventKind.STAGE_QUEUED:
        job = " ".join([*group.subjects, "job"])
        return f"{_plural(group.jobs, job)} queued"
    if group.subjects:
        return f"{', '.join(group.subjects)}: {detail}" if detail else ", ".join(group.subjects)
    if group.count == 1:
        if group.last_path and detail:
            return f"{group.last_path}: {detail}"
        return group.last_path or detail
    where = f" in {group.folder}" if group.folder else ""
    burst = f"{group.count:,} {group.kind.replace('_', ' ')}{where}"
    return f"{burst}: {detail}" if detail else burst


class GroupSource:
    """The groups a kind filter shows, newest first, as rows for the windowed table."""

    def __init__(self, pane: EventsPane) -> None:
        self.pane = pane

    def count(self) -> int:
        return len(self.pane.shown)

    def rows(self, offset: int, limit: int) -> list[list]:
        shown = self.pane.shown
        end = min(offset + limit, len(shown))
        return [self.pane.row(shown[-1 - i]) for i in range(offset, end)]


class EventsPane(Widget, can_focus=False):
    BINDINGS = keymap.bindings("events", {})
    DEFAULT_CSS = """
    EventsPane { layout: vertical; }
    EventsPane WindowedTable { height: 1fr; }
    EventsPane #events-status { height: 1; padding: 0 1; background: $panel; color: $text-muted; }
    """

    def __init__(self, roots: dict[int, str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.roots = roots  # root id -> path, to show where things happened
        self.groups: list[Group] = []  # oldest first
        self.shown: list[Group] = []  # the groups the filter keeps, oldest first
        self.kind: EventKind | None = None
        self.total = 0
        self.kinds: dict[EventKind, int] = {}

    def compose(self) -> ComposeResult:
        yield WindowedTable(
            [Column("time", 8), Column("kind", 22), Column("what"), Column("source", 9)],
            GroupSource(self),
            empty="No events yet: they appear here as the watcher, the scans and darktable "
            "report them.",
            id="events-table",
        )
        yield Static(id="events-status", markup=False)

    def on_mount(self) -> None:
        self._update_status()

    def focus_target(self) -> Widget:
        return self.query_one(WindowedTable)

    def add_events(self, events: list[Event]) -> None:
        """Fold a batch of events, oldest first, into the groups, then redraw once."""
        if not events:
            return
        for event in events:
            at, kind, source, path = event.at, event.kind, event.source, event.path
            self.total += 1
            self.kinds[kind] = self.kinds.get(kind, 0) + 1
            folder = os.path.dirname(path) if path else ""
            detail, subject = _detail(kind, event.payload), _subject(kind, event.payload)
            last = self.groups[-1] if self.groups else None
            if (
                last is not None
                and last.kind == kind
                and last.folder == folder
                and last.source == source
                and at - last.last_at <= BURST_SECONDS
                # Events about no file fold only when they say the same: six components
                # starting are one line, a component going down is a line of its own.
                and (path is not None or last.detail == detail or kind == EventKind.STAGE_QUEUED)
                and (kind != EventKind.STAGE_QUEUED or last.subjects == [subject])
            ):
                last.count += 1
                last.last_at = at
                last.last_path = path
                last.detail_varies = last.detail_varies or last.detail != detail
                if subject is not None and subject not in last.subjects:
                    last.subjects.append(subject)
                last.jobs += _jobs(kind, event.payload)
                continue
            group = Group(kind, folder, source, at, at, last_path=path, detail=detail,
                          subjects=[subject] if subject is not None else [],
                          jobs=_jobs(kind, event.payload))  # fmt: skip
            self.groups.append(group)
            if self.kind is None or self.kind == kind:
                self.shown.append(group)
        if len(self.groups) > KEEP_GROUPS:
            del self.groups[: len(self.groups) - KEEP_GROUPS]
            self._refilter()
        self.query_one(WindowedTable).reload()
        self._update_status()

    def _refilter(self) -> None:
        self.shown = [g for g in self.groups if self.kind is None or g.kind == self.kind]

    def row(self, group: Group) -> list:
        style = KIND_STYLES.get(group.kind, "")
        when = time.strftime("%H:%M:%S", time.localtime(group.last_at))
        return [when, Text(group.kind, style=style), _what(group), group.source]

    def _update_status(self) -> None:
        filtered = f"showing {self.kind} only (c: every kind)" if self.kind else "every kind"
        self.query_one("#events-status", Static).update(
            f"{self.total:,} events shown (the app opens with the latest {SEED_EVENTS:,})"
            f"   {filtered}   f: one kind"
        )

    def action_choose_kind(self) -> None:
        choices = [(kind, f"{kind} ({count:,})") for kind, count in sorted(self.kinds.items())]
        if not choices:
            self.notify("No events yet.", timeout=2)
            return

        def chosen(kind: EventKind | None) -> None:
            if kind is not None:
                self._set_kind(kind)

        self.app.push_screen(Picker("Show which kind of event?", choices, self.kind), chosen)

    def action_all_kinds(self) -> None:
        self._set_kind(None)

    def _set_kind(self, kind: EventKind | None) -> None:
        self.kind = kind
        self._refilter()
        self.query_one(WindowedTable).set_source(GroupSource(self))
        self._update_status()
