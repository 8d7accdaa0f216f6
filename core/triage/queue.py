"""The triage queue: the photos a filter shows, in the order they were taken, and how many were
pending, approved and rejected when it was loaded (the triage pane counts on from there:
"412 / 1,508 — 37 approved, 12 rejected")."""

from __future__ import annotations

from dataclasses import dataclass

from peewee import SqliteDatabase

from core.darktable.facts import LABEL_NAMES
from core.store.photos import QUEUE_FILTERS, triage_queue

FILTER_HELP = (
    "pending, approved, rejected, unrated, all, label:NAME (red, yellow, green, blue, purple), "
    "folder:PATH"
)


class FilterError(ValueError):
    """A filter that means nothing; the message lists the ones that do."""


@dataclass(frozen=True)
class Filter:
    name: str  # as the photographer typed it
    where: str
    params: tuple = ()
    folder: str | None = None


def parse_filter(text: str) -> Filter:
    text = text.strip()
    if text in QUEUE_FILTERS:
        where, params = QUEUE_FILTERS[text]
        return Filter(text, where, params)
    kind, _, value = text.partition(":")
    if kind == "label" and value in LABEL_NAMES:
        return Filter(text, "(p.labels & ?) != 0", (1 << LABEL_NAMES.index(value),))
    if kind == "folder" and value:
        return Filter(text, "1", (), value)
    raise FilterError(f"{text!r} is not a filter: use {FILTER_HELP}")


class Queue:
    """The photos of one filter; ``refresh`` after decisions that may move photos out of it."""

    def __init__(self, db: SqliteDatabase, filter_text: str = "pending") -> None:
        self.db = db
        self.filter = parse_filter(filter_text)
        self.photo_ids: list[int] = []
        self.loaded_counts: dict[str, int] = {}  # decisions when the queue was loaded
        self.refresh()

    def refresh(self) -> None:
        f = self.filter
        rows = triage_queue(self.db, f.where, f.params, f.folder)
        self.photo_ids = [photo_id for photo_id, _ in rows]
        self.loaded_counts = dict.fromkeys(("pending", "approved", "rejected"), 0)
        for _, decision in rows:
            self.loaded_counts[decision] += 1
