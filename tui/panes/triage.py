"""The triage pane: the photo as large as the pane allows, a line of facts about it, where the
photographer stands in the queue, and one key per decision.

Every decision is committed to the catalogue (core.triage) inside the key's handler, before
the next photo is asked for: what the screen shows as made is on disk. Frames of the photo and
its neighbours come from tui.frames, drawn ahead of time for the pane's size.

Whose decisions the pane shows (everyone's, a person's, blind: core.triage.people) is one
``SeenDecisions`` the card, the counters, the decision filters, the grid's and the filmstrip's
marks and compare and survey all read: a view shows one person's decisions everywhere.

The pane follows the catalogue a few times a second: decisions another session made (a second
app, ``shootwatch decide``) show on the photo's card and in the counters, as do the stars or
reject read from the existing XMP of photos that joined the queue a moment before; and the
photo on screen is kept in the catalogue, where a reopened app (even after a kill) resumes.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import replace

from PIL import Image
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from core.config import Settings
from core.darktable.facts import LABEL_NAMES, label_names
from core.engine.component import ComponentState
from core.media.photos import cached_preview, preview_for, view_for
from core.media.reach import PREVIEW_NOT_BUILT
from core.store.photos import index_progress, photo_folders, xmp_not_read
from core.triage.card import PhotoCard, decisions_since, newest_decision, photo_card
from core.triage.decisions import (
    KEY_SAVE_DEADLINE_SECONDS,
    Change,
    DecisionNotSaved,
    Triage,
    TriageError,
)
from core.triage.indexing import WORKERS as INDEX_WORKERS
from core.triage.indexing import index_activity
from core.triage.people import (
    BLIND,
    EVERYONE,
    PhotoDecisions,
    SeenDecisions,
    conflicts,
    people_words,
    photo_decisions,
    views,
)
from core.triage.queue import Counts, FilterError, Queue, save_position, saved_position
from tui import keymap
from tui.exposure_view import ExposureKeys, ExposurePanel
from tui.frames import FrameMaker, open_drafted
from tui.graphics import Graphics
from tui.loupe import LoupePlace
from tui.loupe_view import LOUPE_AHEAD, LOUPE_BEHIND, LoupeDeveloped, LoupeKeys, LoupeSource
from tui.panes.burst_view import BurstSource, BurstView, frames_of
from tui.panes.compare import CompareScreen
from tui.panes.facts_line import FactsLine
from tui.panes.grid import Grid
from tui.panes.survey import MOST_FRAMES, SurveyScreen
from tui.panes.triage_bursts import BurstKeys, filter_choices
from tui.picker import Picker
from tui.widgets.filmstrip import Filmstrip
from tui.widgets.photo_view import Frame, PhotoView
from tui.widgets.thumbnails import ThumbnailMaker

FILTERS = (
    ("pending", "pending: not decided yet"),
    ("approved", "approved"),
    ("rejected", "rejected"),
    ("unrated", "unrated: no stars"),
    ("all", "all photos"),
    *((f"label:{name}", f"label: {name}") for name in LABEL_NAMES),
)


# How often the pane looks at the catalogue for other sessions' decisions and keeps the photo
# on screen there: a card changed elsewhere shows within this (well under a second).
FOLLOW_SECONDS = 0.25
# A photo waiting for the engine to build its preview (its original on the engine's machine)
# looks in the cache this often.
PREVIEW_RECHECK_SECONDS = 2.0
_OFF = ComponentState("off")
# The app opens on a part of the queue and reads the whole one once the photo is drawn, or
# this long after it opened, whichever comes first.
WHOLE_QUEUE_AT_LATEST_SECONDS = 1.0


class TriagePane(ExposureKeys, BurstKeys, LoupeKeys, Widget, can_focus=True):
    class FrameReady(Message):
        """A frame thread has drawn a frame (posted from that thread)."""

        bubble = False

        def __init__(self, frame: Frame) -> None:
            super().__init__()
            self.frame = frame

    class ThumbnailsReady(Message):
        """The thumbnail thread has drawn thumbnails (posted from that thread)."""

        bubble = False

    class FirstPhotoShown(Message):
        """The photo the app opened on is on screen (or the queue has none): the app's start
        is over, and what it put off (the engine) can start."""

    class QueueLoaded(Message):
        """The whole queue and its counts, read in a thread while the app opened on a part."""

        bubble = False

        def __init__(self, queue: Queue | None, counts: Counts | None, error: str = "") -> None:
            super().__init__()
            self.queue = queue  # None when it could not be read: ``error`` says why
            self.counts = counts
            self.error = error

    # The loupe's keys first: while it is on they come before the pane's (h j k l pan).
    BINDINGS = keymap.bindings("loupe", {}) + keymap.bindings("triage", {})
    DEFAULT_CSS = """
    TriagePane { layout: vertical; }
    TriagePane > PhotoView { height: 1fr; }
    TriagePane > Grid { display: none; }
    TriagePane > Filmstrip { display: none; }
    TriagePane.-grid > Grid { display: block; }
    TriagePane.-grid > PhotoView { display: none; }
    TriagePane.-filmstrip > Filmstrip { display: block; }
    TriagePane.-grid > Filmstrip { display: none; }
    TriagePane #facts { height: 1; padding: 0 1; background: $panel; }
    TriagePane #position { height: 1; padding: 0 1; background: $panel; color: $text-muted; }
    TriagePane #info {
        display: none; layer: overlay; dock: right; width: 44; height: auto;
        max-height: 100%; margin: 1 1; padding: 0 1;
        background: $surface 90%; border: round $accent;
    }
    TriagePane.-info #info { display: block; }
    """

    def __init__(
        self,
        db,
        settings: Settings,
        graphics: Graphics | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.db = db
        self.settings = settings
        self.triage = Triage(db, source="key", write_sidecars=settings.triage.write_sidecars,
                             deadline=KEY_SAVE_DEADLINE_SECONDS,
                             sidecar_names=settings.triage.sidecar_names,
                             person=settings.triage.name)  # fmt: skip
        self.auto_advance = settings.tui.auto_advance
        self._focused_folder: str | None = None  # the shoot the engine was told is on screen
        self._waiting_for_preview: int | None = None  # the photo whose preview is looked for
        self.prefetch = settings.tui.prefetch
        self.loupe = LoupePlace()  # fit: the loupe is off
        self.loupe_source: LoupeSource | None = None
        self.queue: Queue | None = None
        self.index = 0
        self.counts = Counts(0, 0, 0)  # over the filter's whole set, from the catalogue
        # Keys pressed while the app shows a part of the queue, the whole one being read:
        # pressed again, in their order, once it is there (None: the queue is whole).
        self._held_keys: list[events.Key] | None = None
        self._whole_queue_to_read: str | None = None  # its filter, until it is asked for
        self._first_shown = False  # FirstPhotoShown posted
        self._decisions_seen = 0  # the newest Decision row the card and counters reflect
        # Photos that joined before their existing XMP was read (described a moment before):
        # the stars or reject read into them move no Decision row, so they are watched.
        self._marks_to_come: set[int] = set()
        self._position_saved: tuple[str, int | None] | None = None
        self._position_seen: tuple[str, int | None] | None = None  # at the last look
        self._keep_position = True  # until the catalogue refuses it
        self._activity: tuple[str, str] | None = None  # what the engine does while it is empty
        self.card: PhotoCard | None = None
        # Whose decisions the pane shows (core.triage.people): everyone's, a person's, or
        # blind (this person's own, nothing of anyone else's); and the photo's, by person.
        self.seen = SeenDecisions(db, self.triage.person)
        self.people: PhotoDecisions | None = None
        self.latencies: list[float] = []  # key press -> new frame on screen, seconds
        self._pressed_at: float | None = None
        self._graphics = graphics
        self.frames: FrameMaker | None = None
        # Thumbnails for the grid and the filmstrip: made before compose, which hands it over.
        self.thumbnails = ThumbnailMaker(
            self._thumbnail_picture, lambda: self.post_message(self.ThumbnailsReady())
        )
        self._burst_views: dict[type[BurstView], BurstView] = {}  # compare, survey
        self._burst_prefetched: int | None = None  # the photo their frames were drawn for
        self._burst_looked: int | None = None  # the photo on screen at the last look

    def compose(self) -> ComposeResult:
        yield ExposurePanel(id="exposure")
        yield PhotoView(self._graphics, id="photo")
        yield Grid(self.db, self.thumbnails, self.go, self.seen, id="grid")
        yield Filmstrip(self.db, self.thumbnails, self.seen, id="filmstrip")
        yield FactsLine(id="facts")
        yield Static(id="position", markup=False)
        with Vertical(id="info"):
            yield Static(id="info-text", markup=False)

    def on_mount(self) -> None:
        # a graphics terminal's cell size in pixels (asked before the app started)
        cell_pixels = self._graphics.cell_pixels if self._graphics is not None else (1, 2)
        self.frames = FrameMaker(
            self._load,
            self._frame_ready,
            graphics=self._graphics,
            console=self.app.console,
            cell_pixels=cell_pixels,
        )
        self.loupe_source = LoupeSource(
            self.db,
            cell_pixels,
            lambda photo_id: self.post_message(LoupeDeveloped(photo_id)),
            self.settings.media,
        )
        self._decisions_seen = newest_decision(self.db)
        saved = saved_position(self.db)
        self._position_saved = (saved.filter, saved.photo_id) if saved else None
        try:
            self._open_queue(saved.filter if saved else "pending", saved and saved.photo_id)
        except FilterError:  # a filter this version does not know: start afresh
            self._open_queue("pending", None)
        self.set_interval(FOLLOW_SECONDS, self._follow_catalogue)

    def on_unmount(self) -> None:
        self.frames.close()
        self.thumbnails.close()
        self.loupe_source.close()
        for view in self._burst_views.values():
            view.close_frames()
        with contextlib.suppress(Exception):  # closing: the catalogue may have gone first
            self._save_position(now=True)

    # --- the queue ---------------------------------------------------------------------------

    def load_queue(self, filter_text: str, photo_id: int | None = None) -> None:
        """Show a filter's photos, standing on ``photo_id`` (by default the photo on screen)
        when the filter has it, else on its photo nearest by the camera's clock."""
        keep = photo_id if photo_id is not None else self.photo_id
        self.queue = Queue(self.db, filter_text, collapsed=self.collapsed, seen=self.seen)
        self.index = self.queue.index_near(keep)
        self.counts = self.queue.counts()
        self.show_current()

    def _open_queue(self, filter_text: str, photo_id: int | None) -> None:
        """The photo the app opens on, drawn first: the part of the queue around it is read
        (a few milliseconds), the whole queue and its counts in a thread (a quarter of a
        second with 100,000 photos); keys pressed meanwhile wait for it."""
        reach = max(self.prefetch, 1)
        self.queue = Queue.opening(self.db, filter_text, photo_id, reach, self.collapsed)
        self.index = self.queue.index_near(photo_id)
        if self.queue.whole:
            self.counts = self.queue.counts()
        else:
            self._held_keys = []
            self._whole_queue_to_read = filter_text
            # Read once the photo is drawn (its frame thread has the cores to itself till
            # then), or after a while if it never is.
            self.set_timer(WHOLE_QUEUE_AT_LATEST_SECONDS, self._read_whole_queue)
        self.show_current()

    def _read_whole_queue(self) -> None:
        filter_text, self._whole_queue_to_read = self._whole_queue_to_read, None
        if filter_text is not None:
            self.run_worker(lambda: self._whole_queue(filter_text), thread=True,
                            name="whole queue", group="queue", exit_on_error=False)  # fmt: skip

    def _whole_queue(self, filter_text: str) -> None:  # a worker thread
        try:
            queue = Queue(self.db, filter_text, collapsed=self.collapsed, seen=self.seen)
            counts = queue.counts()
        except Exception as error:  # a damaged catalogue: the part stays, and keys work on it
            self.post_message(self.QueueLoaded(None, None, str(error)))
            return
        self.post_message(self.QueueLoaded(queue, counts))

    def on_triage_pane_queue_loaded(self, message: QueueLoaded) -> None:
        """The whole queue, standing on the photo on screen; then the keys held meanwhile."""
        if message.queue is None:
            self.notify(
                f"Only the photos around this one are shown: the rest of the queue could not "
                f"be read ({message.error}).", severity="error", timeout=10,
            )  # fmt: skip
        else:
            shown = self.photo_id
            self.queue, self.counts = message.queue, message.counts
            self.index = self.queue.index_near(shown)
        held, self._held_keys = self._held_keys or [], None
        self.show_current()
        for key in held:
            self.app.post_message(events.Key(key.key, key.character))

    def on_key(self, event: events.Key) -> None:
        if self._held_keys is not None:
            event.stop()
            event.prevent_default()
            self._held_keys.append(event)

    @property
    def reading_queue(self) -> bool:
        """The app shows a part of the queue while the whole one is read."""
        return self._held_keys is not None

    def add_new_photos(self) -> int:
        """Photos that arrived since the queue was loaded (a card copied in while culling,
        the first index) join it: the photo on screen and the order so far stay, those
        taken after it go to their place in time. Returns how many joined."""
        if self.queue is None or self.reading_queue:
            return 0
        was_empty = not self.queue.photo_ids
        arrived = self.queue.add_arrivals(self.index)
        if not arrived:
            return 0
        self._marks_to_come |= xmp_not_read(self.db, [photo_id for photo_id, _ in arrived])
        self.counts = self.queue.counts()
        if was_empty:
            self.show_current()
        else:
            self._update_text()
        return len(arrived)

    @property
    def photo_id(self) -> int | None:
        if self.queue is None or not self.queue.photo_ids:
            return None
        return self.queue.photo_ids[self.index]

    def go(self, index: int) -> None:
        if self.queue is None or not self.queue.photo_ids:
            return
        index = max(0, min(index, len(self.queue.photo_ids) - 1))
        if index == self.index:
            self._pressed_at = None
            return
        self.index = index
        self.show_current()

    # --- drawing -----------------------------------------------------------------------------

    def on_resize(self) -> None:
        self.call_after_refresh(self.show_current)

    def on_photo_view_resized(self) -> None:
        # The photo's own size changed within the pane (the exposure panel, the filmstrip came
        # or went): its frame for the new size.
        self.show_current()

    def show_current(self) -> None:
        photo_id = self.photo_id
        view = self.query_one(PhotoView)
        if photo_id is None:
            self.card = None
            empty = self.queue.filter.name if self.queue else "pending"
            reason = self._activity[0] if self._activity else f"no {empty} photos"
            view.show(Frame(0, view.size, False, reason=reason))
            self._update_text()
            self._tell_first_photo_shown()  # no photo to wait for
            return
        if not self._read_card(photo_id):
            return  # the server is away: the photo on screen stays
        self._focus_engine()
        self._update_text()
        size = view.size
        if size.width < 1 or size.height < 1:
            return
        if self.loupe_source is not None:  # a RAW on screen in the loupe is developed first
            self.loupe_source.focus(photo_id if self.zoomed else None)
        frame = self.frames.get(photo_id, size, self.zoomed)
        if frame is not None:
            view.show(frame)
            self._mark_shown()
            self._wait_for_preview(frame)
        else:
            waiting = f"loupe at {self.loupe.percent}…" if self.zoomed else ""
            view.show(Frame(photo_id, size, self.zoomed, reason=waiting))
        self.frames.want(self._neighbours(photo_id), size, self.zoomed)
        self.warm_loupe(photo_id, size)

    def _focus_engine(self) -> None:
        """The engine builds the previews of the shoot on screen first: told when the shoot
        changes, not at every photo."""
        folder = os.path.dirname(self.card.path) if self.card is not None else None
        link = getattr(self.app, "link", None)
        if folder is not None and folder != self._focused_folder and link is not None:
            # Told again at the next photo when no engine ran yet (the app starts it).
            self._focused_folder = folder if link.focus(folder) else None

    def _wait_for_preview(self, frame: Frame) -> None:
        """A photo whose original is on the engine's machine and whose preview the engine has
        not built yet: shown as soon as the preview is in the cache."""
        if frame.reason != PREVIEW_NOT_BUILT or self._waiting_for_preview == frame.photo_id:
            return
        self._waiting_for_preview = frame.photo_id

        def look_again() -> None:
            if self.photo_id != frame.photo_id or not self.is_attached:
                self._waiting_for_preview = None  # moved on: the next photo waits for its own
                return
            if cached_preview(self.db, self.settings.media, frame.photo_id) is None:
                self.set_timer(PREVIEW_RECHECK_SECONDS, look_again)
                return
            self._waiting_for_preview = None
            self.frames.forget(frame.photo_id)
            self.show_current()

        self.set_timer(PREVIEW_RECHECK_SECONDS, look_again)

    def _neighbours(self, photo_id: int) -> list[int]:
        ids = self.queue.photo_ids if self.queue else []
        wanted = [photo_id]
        ahead, behind = (self.prefetch,) * 2
        if self.zoomed:  # fewer: each holds a full-size picture
            ahead, behind = min(ahead, LOUPE_AHEAD), min(behind, LOUPE_BEHIND)
        for step in range(1, max(ahead, behind) + 1):
            for index in (self.index + step, self.index - step):
                if 0 <= index < len(ids) and step <= (ahead if index > self.index else behind):
                    wanted.append(ids[index])
        return wanted

    def _frame_ready(self, frame: Frame) -> None:  # a frame thread
        # A message rather than call_from_thread, which waits for the UI: a frame thread
        # waiting on a closing app held the close up (it joins the threads) and then showed
        # the frame in a pane whose photo view had gone. A closed pane drops the message.
        self.post_message(self.FrameReady(frame))

    def on_triage_pane_frame_ready(self, message: FrameReady) -> None:
        # While the app closes, the photo view goes before its pane: nothing to show then.
        with contextlib.suppress(NoMatches):
            self._show_ready(message.frame)

    def _show_ready(self, frame: Frame) -> None:
        view = self.query_one(PhotoView)
        current = (self.photo_id, view.size, self.zoomed)
        if (frame.photo_id, frame.size, frame.zoom) == current:
            view.show(frame)
            self._mark_shown()
            self._wait_for_preview(frame)
            if self.zoomed:  # the loupe's line names where its pixels came from
                self._update_text()

    def _mark_shown(self) -> None:
        pressed = self._pressed_at
        self._pressed_at = None

        def shown() -> None:
            self._tell_first_photo_shown()
            self._read_whole_queue()
            if pressed is not None:
                self.latencies.append(time.perf_counter() - pressed)
            if self.frames is not None:
                self.frames.ui_idle()

        self.call_after_refresh(shown)

    def _tell_first_photo_shown(self) -> None:
        if not self._first_shown:
            self._first_shown = True
            self.post_message(self.FirstPhotoShown())

    def _load(self, photo_id: int, zoom: LoupePlace | bool, min_size: tuple[int, int]):
        """A frame thread: the picture to draw. In the loupe, cut from the photo's full-size
        pixels (tui.loupe_view). Else from the preview cache when it is there; otherwise
        straight from the original at the pane's size (fast: a JPEG decodes at 1/8), and the
        preview is built for the cache afterwards, in the background."""
        if isinstance(zoom, LoupePlace):
            return self.loupe_source.view(photo_id, zoom, (min_size[0], min_size[1] // 2))
        path = cached_preview(self.db, self.settings.media, photo_id)
        if path is not None:
            return open_drafted(str(path), min_size), None
        data, reason = view_for(self.db, photo_id, max(min_size))
        if data is None:
            return None, reason
        self.frames.later(lambda: preview_for(self.db, self.settings.media, photo_id))
        image = Image.open(io.BytesIO(data))
        image.load()
        return image, None

    def _update_text(self) -> None:
        # One line each, whatever they say: repainted, never laid out again (a layout of the
        # whole screen at every key cost 2 ms of the photo change).
        self._show_facts()
        _show_text(self.query_one("#position", Static), self._position())
        # The overlay's height follows its text: laid out again only while it is shown.
        _show_text(self.query_one("#info-text", Static), self._info(), self.has_class("-info"))
        self._thumbnails_follow()

    def _show_facts(self) -> None:
        facts = self.query_one("#facts", FactsLine)
        if self.card is None and self._activity:
            facts.show(None, Text(self._activity[1], style="cyan", no_wrap=True,
                                  overflow="ellipsis"))  # fmt: skip
        elif self.card is None:
            facts.show(None, Text("nothing to show: press f to choose another filter", style="dim"))
        else:
            facts.show(self.card)  # fitted to the line's width (tui.panes.facts_line)

    def _position(self) -> Text:
        if self.queue is None:
            return Text("")
        ids = self.queue.photo_ids
        shown = self.index + 1 if ids else 0
        text = self.loupe_words()  # first: an 80-column line keeps it
        text.no_wrap, text.overflow = True, "ellipsis"
        counts = self.counts  # of the whole set, by the decisions the view shows
        if self.reading_queue:  # the position and the counts come with the whole queue
            text.append("reading the whole queue…", style="bold")
        else:
            text.append(f"{shown:,} / {len(ids):,}", style="bold")
            if self.people_view == BLIND:
                text.append(" — blind: your decisions only", style="bold")
            text.append(
                f" — {counts.approved:,} approved, {counts.rejected:,} rejected,"
                f" {counts.pending:,} pending of {counts.total:,}"
            )
        if self.people_view not in (EVERYONE, BLIND):
            whose = "yours" if self.people_view == self.triage.person else self.people_view
            text.append(f"   decisions: {whose}", style="bold")
        if self.people_view != BLIND and self.people is not None and self.people.in_conflict:
            text.append("   conflict", style="bold red")
        text.append(f"   filter: {self.queue.filter.name}")
        if self.collapsed:
            text.append("   bursts collapsed", style="bold cyan")
        text.append(f"   auto-advance {'on' if self.auto_advance else 'off'}")
        if self._activity and ids:
            text.append(f"   {self._activity[0]}", style="cyan")
        return text

    def _info(self) -> Text:
        card = self.card
        if card is None:
            return Text("")
        rows = [
            ("file", card.rel_path),
            ("files", f"{card.files} (the original, its twins, sidecars and exports)"),
            ("taken", card.taken),
            ("camera", card.camera or "-"),
            ("lens", card.lens or "-"),
            ("exposure", card.exposure or "-"),
            ("ISO", str(card.iso or "-")),
            ("size", f"{card.width} × {card.height}" if card.width else "-"),
            ("decision", card.decision),
            ("stars", str(card.rating)),
            ("labels", ", ".join(card.label_names) or "-"),
            # the facts line says "darktable: …"; beside its own label the state is enough
            ("darktable", card.darktable.removeprefix("darktable: ") or "not followed"),
        ]
        if card.damage:
            rows.append(("damaged", card.damage))
        if card.sidecar_problem:
            rows.append(("sidecar", card.sidecar_problem))
        words = people_words(self.people, self.people_view) if self.people else None
        if words:
            rows.append(("people", words))
        text = Text()
        for name, value in rows:
            text.append(f"{name:>10}  ", style="dim")
            text.append(f"{value}\n")
        return text

    # --- keys --------------------------------------------------------------------------------

    def _pressed(self) -> None:
        self._pressed_at = time.perf_counter()
        if self.frames is not None:
            self.frames.ui_busy()
        for view in self._burst_views.values():  # the photo on screen comes first
            view.stop_prefetch()
        self._burst_prefetched = None

    def action_next(self) -> None:
        self._pressed()
        self.go(self.index + 1)

    def action_previous(self) -> None:
        self._pressed()
        self.go(self.index - 1)

    def action_first(self) -> None:
        self._pressed()
        self.go(0)

    def action_last(self) -> None:
        self._pressed()
        self.go(len(self.queue.photo_ids) - 1 if self.queue else 0)

    def action_decide(self, decision: str) -> None:
        selection = self._selection()
        if selection:
            self._apply_many(lambda: self.triage.decide_many(selection, decision), decision)
            return
        photo_id = self.photo_id
        if photo_id is None:
            return
        self._pressed()
        change = self._apply(lambda: self.triage.decide(photo_id, decision), photo_id)
        if change is None:
            return
        if self.auto_advance and decision != "pending" and self.queue is not None:
            if self.index + 1 < len(self.queue.photo_ids):
                self.go(self.index + 1)
                return
            self.notify("That was the last photo of this filter.", timeout=3)
        self.show_current()

    def action_rate(self, stars: int) -> None:
        selection = self._selection()
        if selection:
            self._apply_many(lambda: self.triage.rate_many(selection, stars), f"{stars} ★")
            return
        photo_id = self.photo_id
        if photo_id is not None and self._apply(lambda: self.triage.rate(photo_id, stars),
                                                photo_id):  # fmt: skip
            self._refresh_card()

    def action_label(self, name: str) -> None:
        photo_id = self.photo_id
        bit = 1 << LABEL_NAMES.index(name)
        selection = self._selection()
        if selection:
            self._apply_many(lambda: self.triage.label_many(selection, bit), f"{name} label")
            return
        if photo_id is not None and self._apply(
            lambda: self.triage.toggle_label(photo_id, bit), photo_id
        ):
            self._refresh_card()

    def action_undo(self) -> None:
        self._replay(self.triage.undo, "Nothing to undo.")

    def action_redo(self) -> None:
        self._replay(self.triage.redo, "Nothing to redo.")

    def _replay(self, step: Callable[[], Change | None], nothing: str) -> None:
        """Undo or redo, then show the photo it changed (back in the queue if a reload had
        left it out), its toast naming it."""
        earlier = self.seen.as_now()
        change = self._apply(step)
        if change is None:
            if not self._server_away():  # refused: said already
                self.notify(nothing, timeout=2)
            return
        card = photo_card(self.db, change.photo_id)
        name = os.path.basename(card.path) if card else f"photo {change.photo_id}"
        verb = "Undone" if change.source == "undo" else "Redone"
        if change.together:  # a decision made for several photos at once: taken back whole
            moved = [each for each in change.all if not each.skipped]
            left = len(change.all) - len(moved)
            self.notify(f"{verb} on {len(moved)} photos, from {name}"
                        + (f"; {left} changed since elsewhere, left as they are" if left else ""),
                        severity="warning" if left else "information", timeout=4)  # fmt: skip
        elif not self.seen.everyone and change.action == "decision":
            # What the view shows, before and after: nothing of anyone else's decision.
            self.notify(self._replayed_as_seen(change, earlier, f"{verb} on {name}"),
                        severity="warning" if change.skipped else "information",
                        timeout=4)  # fmt: skip
        elif change.skipped:
            self.notify(f"Not {verb.lower()} on {name}: {change.skipped}.", severity="warning",
                        timeout=6)  # fmt: skip
        elif change.kept_by:
            self.notify(f"{verb} on {name}: yours; it keeps {change.kept_by}'s newer "
                        f"{_shown(change.action, change.after)}", timeout=4)  # fmt: skip
        else:
            self.notify(f"{verb} on {name}: {change.action} {_shown(change.action, change.before)}"
                        f" → {_shown(change.action, change.after)}", timeout=3)  # fmt: skip
        if self.queue is not None and card is not None:
            self._pressed()
            self.index = self.queue.rejoin(change.photo_id)
        self.show_current()

    def _replayed_as_seen(self, change: Change, earlier: SeenDecisions, done: str) -> str:
        """An undo or redo of a decision, said in a person's view (blind: mine): that
        person's decision on the photo before and after, "pending" when they have none."""
        if change.skipped:
            return f"{done}: nothing moved, its decision was changed since in another session"
        was = earlier.decision(change.photo_id, "pending")
        now = self.seen.decision(change.photo_id, "pending")
        if self.seen.whose == self.triage.person:
            return f"{done}: your decision {was} → {now}"
        return f"{done}: yours; {self.seen.whose}'s decision stays {now}"

    def _apply(
        self, make: Callable[[], Change | None], photo_id: int | None = None
    ) -> Change | None:
        """Make a change (on ``photo_id`` when known beforehand; undo and redo find theirs)
        and move the counters by it; errors become notifications."""
        if self._server_away():
            self.notify(self._reach.refusal(), severity="error", timeout=8)
            return None
        try:
            was = self.queue.counted_as(photo_id) if self.queue and photo_id is not None else None
            change = make()
        except TriageError as error:
            self.notify(str(error), severity="error")
            return None
        except DecisionNotSaved as error:  # the catalogue stayed locked, or refused: say so
            self._went_away(error)
            self.notify(f"Not saved: {error}.", severity="error", timeout=8)
            return None
        except Exception as error:  # a damaged catalogue, or its server gone: say so, keep on
            if self._went_away(error):
                self.notify(self._reach.refusal(), severity="error", timeout=8)
            else:
                self.notify(f"not saved: {error}", severity="error", timeout=8)
            return None
        if change is None:
            return None
        if change.action == "decision":  # a person's view shows it too (none read otherwise)
            self.seen.refresh()
        if self.queue is not None and change.together:  # several photos: count again
            self.counts = self.queue.counts()
        elif self.queue is not None and not change.skipped:
            now = self.queue.counted_as(change.photo_id)
            if photo_id is not None:
                self.counts = self.counts.moved(was, now)
            elif not self.seen.everyone:  # undo / redo: whose it was is in the log alone
                self.counts = self.queue.counts()
            elif change.action == "decision":  # undo / redo: its decision before and after
                self.counts = self.counts.moved(now and change.before, now)
            else:  # stars or labels brought back: they may take it in or out of the set
                self.counts = self.queue.counts()
        if change.warning:
            self.notify(change.warning, severity="warning", timeout=6)
        return change

    def _refresh_card(self) -> None:
        if self.photo_id is not None and not self._read_card(self.photo_id):
            return
        self._update_text()

    def _read_card(self, photo_id: int) -> bool:
        """The photo's card, read into ``card``; False when the server is away."""
        reach = self._reach

        def read() -> None:
            self.card = self._card_for(photo_id)

        if reach is None:
            read()
            return True
        return reach.read(read)

    def _went_away(self, error: BaseException) -> bool:
        """Whether ``error`` says the catalogue's server went away (the app then says so)."""
        reach = self._reach
        return reach is not None and reach.went_away(error)

    def _card_for(self, photo_id: int) -> PhotoCard | None:
        """The photo's card, its decision the one the people view shows."""
        card = photo_card(self.db, photo_id)
        self.people = photo_decisions(self.db, photo_id)
        if card is None or self.seen.everyone:
            return card
        return replace(card, decision=self.seen.decision(photo_id, card.decision))

    # --- people ------------------------------------------------------------------------------

    @property
    def people_view(self) -> str:
        """Whose decisions the pane shows: EVERYONE, BLIND or a person's name."""
        return self.seen.view

    def action_people_view(self) -> None:
        """Everyone's decisions, mine, each other person's, blind, and round again."""
        order = views(self.db, self.triage.person)
        now = order.index(self.people_view) if self.people_view in order else 0
        self.show_people(order[(now + 1) % len(order)])
        self.notify(f"Showing {self._people_view_words()}.", timeout=3)

    def show_people(self, view: str) -> None:
        """Show ``view``'s decisions everywhere: the filter chosen is loaded again by them
        (its pending are the photos that person has not decided), the photo on screen kept
        on screen in it, as a photo decided while culling stays in its filter."""
        on_screen = self.photo_id
        self.seen.show(view)
        if self.queue is None:
            self._refresh_card()
            return
        self.queue = Queue(self.db, self.queue.filter.name, self.collapsed, seen=self.seen)
        self.index = self.queue.rejoin(on_screen) if on_screen is not None else 0
        self.counts = self.queue.counts()
        self.show_current()

    def _people_view_words(self) -> str:
        if self.people_view == EVERYONE:
            return "everyone's decisions (the newest standing)"
        if self.people_view == BLIND:
            return "your decisions only: blind, others' hidden"
        if self.people_view == self.triage.person:
            return "your decisions"
        return f"{self.people_view}'s decisions"

    def action_next_conflict(self) -> None:
        """The next photo of the queue people disagree on, round to the first."""
        if self.queue is None or not self.queue.photo_ids:
            return
        if self.people_view == BLIND:
            self.notify("Blind: others' decisions are hidden (P to see them).", timeout=3)
            return
        disputed = {photo.photo_id for photo in conflicts(self.db)}
        ids = self.queue.photo_ids
        order = [*range(self.index + 1, len(ids)), *range(0, self.index + 1)]
        found = next((index for index in order if ids[index] in disputed), None)
        if found is None:
            self.notify("No conflicts in this filter: everyone who decided agrees.", timeout=3)
            return
        self._pressed()
        self.go(found)

    def action_resolve(self) -> None:
        """Settle the photo's conflict with the decision on screen (everyone's: the newest
        standing; a person's view: theirs)."""
        photo_id = self.photo_id
        if photo_id is None or self.card is None:
            return
        if self.people_view == BLIND or self.people is None or not self.people.in_conflict:
            self.notify("No conflict on this photo: nothing to settle.", timeout=3)
            return
        decision = self.card.decision
        if self._apply(lambda: self.triage.resolve([photo_id], decision), photo_id):
            self.notify(f"Settled: {decision}, by {self.triage.person}.", timeout=3)
            self._refresh_card()

    # --- the grid and the filmstrip (tui.panes.grid, tui.widgets.filmstrip) ------------------

    def focus_target(self) -> Widget:
        """What takes the keys when the pane is shown: the grid while it is open."""
        return self.query_one(Grid) if self.has_class("-grid") else self

    def show_grid(self, on: bool) -> Grid:
        """Open (or close) the grid, standing on the photo on screen; returns it."""
        grid = self.query_one(Grid)
        self.set_class(on, "-grid")
        (grid if on else self).focus()
        self.call_after_refresh(self.show_current)
        return grid

    def action_toggle_grid(self) -> None:
        self.show_grid(not self.has_class("-grid"))

    def action_toggle_filmstrip(self) -> None:
        self.toggle_class("-filmstrip")
        self.call_after_refresh(self.show_current)

    def _thumbnails_follow(self) -> None:
        ids = self.queue.photo_ids if self.queue is not None else []
        if self.has_class("-grid"):
            self.query_one(Grid).follow(ids, self.index)
        elif self.has_class("-filmstrip"):
            self.query_one(Filmstrip).follow(ids, self.index)

    def on_grid_opened(self, message: Grid.Opened) -> None:
        self._pressed()
        self.index = message.index
        self.show_grid(False)

    def on_triage_pane_thumbnails_ready(self, message: ThumbnailsReady) -> None:
        self.thumbnails.ready_seen()
        with contextlib.suppress(NoMatches):  # the app is closing
            if self.has_class("-grid"):
                self.query_one(Grid).thumbnails_ready()
            elif self.has_class("-filmstrip"):
                self.query_one(Filmstrip).refresh()

    def _thumbnail_picture(self, photo_id: int, min_size: tuple[int, int]):
        """The thumbnail thread: the picture, from the preview cache, else the original's."""
        path = cached_preview(self.db, self.settings.media, photo_id)
        if path is not None:
            return open_drafted(str(path), min_size), None
        data, reason = view_for(self.db, photo_id, max(min_size))
        if data is None:
            return None, reason
        image = Image.open(io.BytesIO(data))
        image.load()
        return image, None

    def _selection(self) -> list[int]:
        """The photos selected in the grid, in the queue's order (none while it is closed)."""
        if not self.has_class("-grid") or self.queue is None:
            return []
        selected = self.query_one(Grid).selected
        return [photo_id for photo_id in self.queue.photo_ids if photo_id in selected]

    def _apply_many(self, make: Callable[[], Change | None], what: str) -> None:
        """One change made to every selected photo at once (one undo takes it all back)."""
        if self._server_away():
            self.notify(self._reach.refusal(), severity="error", timeout=8)
            return
        try:
            made = make()
        except (TriageError, DecisionNotSaved) as error:
            self._went_away(error)
            self.notify(f"Not saved: {error}.", severity="error", timeout=8)
            return
        except Exception as error:  # a damaged catalogue, or its server gone: say so, keep on
            if self._went_away(error):
                self.notify(self._reach.refusal(), severity="error", timeout=8)
            else:
                self.notify(f"not saved: {error}", severity="error", timeout=8)
            return
        changes = made.all if made is not None else ()
        self.seen.refresh()
        if self.queue is not None:
            self.counts = self.queue.counts()
        count = len(changes)
        self.notify(f"{count:,} photo{'s' if count != 1 else ''}: {what} (ctrl+z undoes all)",
                    timeout=3)  # fmt: skip
        for warning in {change.warning for change in changes if change.warning}:
            self.notify(warning, severity="warning", timeout=6)
        self._refresh_card()

    # --- the catalogue, followed -------------------------------------------------------------

    def engine_states(self, states: Mapping[str, ComponentState]) -> None:
        """The engine's component states, about once a second (from the app). While the
        queue is empty, photos the engine has brought in join it, and until then the pane
        says what the engine is doing and how far it has got; while the engine indexes,
        the position line says so too."""
        if self.queue is None:
            return
        empty = not self.queue.photo_ids
        if empty and self.add_new_photos():
            empty = False
        working = any(states.get(name, _OFF).status == "running" for name in INDEX_WORKERS)
        activity = index_activity(states, index_progress(self.db)) if empty or working else None
        if activity != self._activity:
            self._activity = activity
            if empty:
                self.show_current()
            else:
                self._update_text()

    def _follow_catalogue(self) -> None:
        reach = self._reach
        if reach is not None and not reach.read(lambda: None):
            return  # the server is away: what is on screen stays until it is back
        try:
            with contextlib.suppress(NoMatches):  # the app is closing
                self._follow_decisions()
                self._follow_marks_read()
            self._save_position()
            self._prefetch_burst_views()
        except Exception as error:
            if reach is None or not reach.went_away(error):
                raise

    @property
    def _reach(self):
        """The app's hold on the catalogue's server (tui.server_reach), when it has one."""
        return getattr(self.app, "reach", None)

    def _server_away(self) -> bool:
        """Whether the catalogue's server is away (said on screen, once, by the app)."""
        reach = self._reach
        return reach is not None and reach.away

    def catalogue_back(self) -> None:
        """The catalogue's server is back: the counters and the photo's card read again
        (decisions made elsewhere meanwhile)."""
        if self.queue is not None:
            self.counts = self.queue.counts()
        self._decisions_seen = newest_decision(self.db)
        self._refresh_card()

    def _follow_decisions(self) -> None:
        """Decisions logged since the last look, by any session: the photo on screen shows
        its card anew, and the counters count again."""
        if self.reading_queue:  # looked at once the whole queue and its counts are there
            return
        newest, photo_ids = decisions_since(self.db, self._decisions_seen, self.triage.session)
        if newest == self._decisions_seen:
            return
        self._decisions_seen = newest
        if photo_ids:  # a person's view reads them (this app's own were read when made)
            self.seen.refresh()
        if self.queue is not None and photo_ids:  # this app's own moved the counters already
            self.counts = self.queue.counts()
        if self.photo_id in photo_ids:
            self._refresh_card()
        else:
            self._update_text()

    def _follow_marks_read(self) -> None:
        """Photos that joined the queue before their existing XMP was read: once it is, the
        counters count again and the photo on screen shows its card anew."""
        if not self._marks_to_come or self.queue is None or self.reading_queue:
            return
        still = xmp_not_read(self.db, self._marks_to_come)
        read, self._marks_to_come = self._marks_to_come - still, still
        if not read:
            return
        self.counts = self.queue.counts()
        if self.photo_id in read:
            self._refresh_card()
        else:
            self._update_text()

    def _save_position(self, now: bool = False) -> None:
        """The photo on screen, into the catalogue, once it has stayed there for a look (a
        key held down writes nothing until it is let go), or ``now``; tried again at the
        next look while the catalogue is busy."""
        if self.queue is None:
            return
        position = (self.queue.filter.name, self.photo_id)
        steady, self._position_seen = position == self._position_seen, position
        if position == self._position_saved or not (steady or now) or not self._keep_position:
            return
        try:
            if save_position(self.db, *position):
                self._position_saved = position
        except Exception as error:  # a catalogue that takes no writes: say so once, go on
            self._keep_position = False
            self.notify(f"Where you stand is not kept for next time: {error}.",
                        severity="warning", timeout=6)  # fmt: skip

    def action_toggle_advance(self) -> None:
        self.auto_advance = not self.auto_advance
        self._update_text()

    # --- compare and survey (tui.panes.compare, tui.panes.survey) ----------------------------

    def action_compare(self) -> None:
        self._open_burst(CompareScreen, alone_with=1)

    def action_survey(self) -> None:
        self._open_burst(SurveyScreen, alone_with=MOST_FRAMES - 1)

    def _burst_view(self, view: type[BurstView]) -> BurstView:
        screen = self._burst_views.get(view)
        if screen is None:  # made once and kept: its tiles laid out, its frames drawn
            cells = self._graphics.cell_pixels if self._graphics is not None else (1, 2)
            source = BurstSource(self.db, self.triage, self._load, self._graphics, cells,
                                 self.app.console, self.loupe_source, self.seen)  # fmt: skip
            screen = self._burst_views[view] = view(source)
            self.app.install_screen(screen, f"triage-{view.__name__}")
        return screen

    def _open_burst(self, view: type[BurstView], alone_with: int) -> None:
        photo_id = self.photo_id
        if photo_id is None:
            return
        screen = self._burst_view(view)
        for other in self._burst_views.values():  # the other view's drawing ahead stops
            if other is not screen:
                other.stop_prefetch()
        frames = frames_of(self.db, photo_id, self.queue.photo_ids, alone_with)
        screen.open(frames, photo_id, self.loupe)
        self.frames.want([], self.query_one(PhotoView).size)  # neighbours give the cores up
        self.app.push_screen(screen, self._back_from_burst)

    def _prefetch_burst_views(self) -> None:
        """On a photo of a burst for a moment (the photographer looks at it): the frames its
        survey and compare would open on are drawn in the background, until the next key."""
        if isinstance(self.app.screen, BurstView) or self.reading_queue:
            return  # one is open: it draws what it shows; or the queue is not whole yet
        photo_id = self.photo_id
        still, self._burst_looked = photo_id == self._burst_looked, photo_id
        if not still or photo_id in (None, self._burst_prefetched) or self.queue is None:
            return  # moving (at the next look), or done
        self._burst_prefetched = photo_id
        frames = frames_of(self.db, photo_id, self.queue.photo_ids, 0)
        if frames.in_burst:
            for view in (SurveyScreen, CompareScreen):
                self._burst_view(view).prefetch(frames, photo_id, self.app.size)

    def _back_from_burst(self, photo_id: int | None) -> None:
        """Back from compare or survey: on the photo it names (the pick, the frame opened),
        the counters counted again for the decisions made there."""
        if self.queue is None:
            return
        self.counts = self.queue.counts()
        if photo_id is not None:
            self.index = self.queue.rejoin(photo_id)
        self.show_current()

    def action_info(self) -> None:
        self.toggle_class("-info")
        # The photo under the overlay is drawn again: hiding a widget of the overlay layer
        # does not always repaint what it covered (seen in tmux: the overlay stayed on screen).
        self.query_one(PhotoView).refresh()

    def action_choose_filter(self) -> None:
        shoots = [
            (f"folder:{folder}", f"shoot: {folder} ({count:,})")
            for folder, count in photo_folders(self.db)
        ]
        current = self.queue.filter.name if self.queue else None

        def chosen(value: str | None) -> None:
            if value is not None:
                self.apply_filter(value)

        choices = [*FILTERS, *filter_choices(self.db), *shoots]
        self.app.push_screen(Picker("Show which photos?", choices, current), chosen)


def _show_text(static: Static, text: Text, layout: bool = False) -> None:
    """``text`` in ``static`` unless it says that already (nothing to repaint then)."""
    if static.content != text:
        static.update(text, layout=layout)


def _shown(action: str, value: object) -> str:
    """A logged value as the photographer reads it: "approved", "3 ★", "red, green"."""
    if action == "rating":
        return f"{value} ★"
    if action == "labels":
        return ", ".join(label_names(value or 0)) or "no labels"
    return str(value)
