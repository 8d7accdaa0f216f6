"""What compare and survey share: a screen over the triage pane showing frames of one burst as
tiles, drawn in background threads (tui.frames) from the preview cache, and decisions made on
them through the triage pane's own session (so ctrl+z there takes them back).

Which frames: the photo's burst (``Photo.burst``) in the order it was shot; a photo that
belongs to no burst is shown with the photos after it in the queue.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from peewee import SqliteDatabase
from rich.console import Console
from textual.app import ComposeResult
from textual.css.query import NoMatches
from textual.geometry import Size
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static

from core.store.photos import burst_members
from core.triage.card import FrameFacts, frame_facts
from core.triage.decisions import Change, DecisionNotSaved, Triage, TriageError
from core.triage.people import SeenDecisions
from tui.frames import FrameMaker, Loader
from tui.graphics import Graphics
from tui.loupe import LoupePlace
from tui.loupe_view import LoupeSource
from tui.widgets.key_footer import KeyFooter
from tui.widgets.photo_view import Frame
from tui.widgets.tile import PhotoTile


@dataclass(frozen=True)
class BurstSource:
    """What a compare or survey needs from the triage pane."""

    db: SqliteDatabase
    triage: Triage  # the pane's session: its undo takes these decisions back
    load: Loader  # the pane's: a photo's picture from the preview cache or its original
    graphics: Graphics | None  # how a sixel / kitty terminal gets pictures; None: half-blocks
    cell_pixels: tuple[int, int]  # a graphics terminal's cell size
    console: Console  # the app's: frame threads turn strips into escape codes with it
    loupe_source: LoupeSource | None = None  # the pane's: full-size pixels, cut for a place
    seen: SeenDecisions | None = None  # the pane's: whose decisions the tiles show


@dataclass(frozen=True)
class BurstFrames:
    photo_ids: list[int]  # in the order they were shot
    in_burst: bool  # False: a photo of no burst, with the photos after it in the queue


def frames_of(
    db: SqliteDatabase, photo_id: int, queue: Sequence[int], alone_with: int
) -> BurstFrames:
    """The frames to show for ``photo_id``: its burst in shot order; for a photo of no burst,
    itself and up to ``alone_with`` photos after it in ``queue`` (the triage queue)."""
    members = burst_members(db, photo_id)
    if len(members) > 1 or photo_id not in queue:
        return BurstFrames(members, len(members) > 1)
    at = queue.index(photo_id)
    return BurstFrames(list(queue[at : at + 1 + alone_with]), False)


class BurstView(Screen):
    """The frames of a burst as tiles; subclasses lay the tiles out and give the keys."""

    class TileReady(Message):
        """A frame thread has drawn a frame (posted from that thread)."""

        bubble = False

        def __init__(self, frame: Frame) -> None:
            super().__init__()
            self.frame = frame

    DEFAULT_CSS = """
    BurstView { layout: vertical; }
    BurstView > #head { height: 1; padding: 0 1; background: $panel; }
    BurstView > #tiles { height: 1fr; }
    """

    def __init__(self, source: BurstSource) -> None:
        super().__init__()
        self.source = source
        self.db = source.db
        self.triage = source.triage
        self.members: list[int] = []
        self.in_burst = False
        self.facts: dict[int, FrameFacts] = {}
        # Made with the screen (not at its mount): frames are drawn ahead, before it is shown.
        self.frames = FrameMaker(
            self.load,
            self._frame_ready,
            graphics=source.graphics,
            # One lane beside the urgent one: drawing is Python, one core's work at a time;
            # more lanes only share it, and the UI thread, and bring every tile later.
            workers=1,
            console=source.console,
            cell_pixels=source.cell_pixels,
        )
        self._tiles_wanted = False  # tiles resized: shown again after the next refresh
        self._wanted_tiles: list[int] = []  # the frames on screen, as last asked for
        self._ahead: list[int] = []  # frames to draw once those on screen are drawn
        self._ahead_at: tuple = ()  # their size and zoom

    def _frame_ready(self, frame: Frame) -> None:  # a frame thread
        # Drawn ahead for a screen never shown yet: it has no app to post to; the frame is
        # kept, and taken when the screen shows.
        if self.is_attached:
            with contextlib.suppress(Exception):  # the app is closing
                self.post_message(self.TileReady(frame))

    def open(self, frames: BurstFrames, current: int, loupe: LoupePlace | None = None) -> None:
        """Show ``frames``, ``current`` (the photo on triage's screen) first, at the triage
        loupe's place where the view has a loupe: before each push. The screen is kept
        between two openings (its tiles laid out, its frames drawn)."""
        self.members = list(frames.photo_ids)
        self.in_burst = frames.in_burst
        self.start(current, loupe or LoupePlace())

    def start(self, current: int, loupe: LoupePlace) -> None:
        raise NotImplementedError

    def prefetch(self, frames: BurstFrames, current: int, screen: Size) -> None:
        """Draw, in the background, the frames an opening on ``current`` would show first, at
        the size its tiles would have on a ``screen`` of that size (``stop_prefetch`` ends it).
        """
        if self.is_attached and self.app.screen is self:
            return
        ids, size = self.first_frames(list(frames.photo_ids), current, screen)
        if ids and size.width >= 4 and size.height >= 2:
            self.frames.want(ids, size, None)

    def stop_prefetch(self) -> None:
        if not (self.is_attached and self.app.screen is self):
            self.frames.want([], Size(0, 0))

    def first_frames(self, members: list[int], current: int, screen: Size
                     ) -> tuple[list[int], Size]:  # fmt: skip
        """The frames an opening on ``current`` shows, and their size in cells."""
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        yield Static(id="head", markup=False)
        yield from self.compose_tiles()
        yield KeyFooter()

    def compose_tiles(self) -> ComposeResult:
        raise NotImplementedError

    def on_screen_resume(self) -> None:
        self.read_facts()
        self.show_tiles()

    def on_screen_suspend(self) -> None:
        self.frames.want([], Size(0, 0))  # closed: frames drawn ahead would slow triage's

    def close_frames(self) -> None:
        """Stop drawing (the app closes): the frame threads end."""
        self.frames.close()

    def on_unmount(self) -> None:
        self.close_frames()

    def on_resize(self) -> None:
        self.call_after_refresh(self.show_tiles)

    def on_photo_tile_resized(self) -> None:
        if not self._tiles_wanted:
            self._tiles_wanted = True
            self.call_after_refresh(self._show_tiles_again)

    def _show_tiles_again(self) -> None:
        self._tiles_wanted = False
        self.show_tiles()

    def load(self, photo_id: int, zoom: object, min_size: tuple[int, int]):
        """A frame thread: the picture for a tile, the whole photo (``zoom`` None) or the
        loupe's cut at its place (a LoupePlace), as the triage pane draws its own."""
        return self.source.load(photo_id, zoom if zoom is not None else False, min_size)

    # --- what is shown -----------------------------------------------------------------------

    def read_facts(self) -> None:
        """Names, decisions, stars and sharpness of every frame, from the catalogue."""
        facts = frame_facts(self.db, self.members, self.source.seen)
        self.facts = {each.photo_id: each for each in facts}
        self.members = [photo_id for photo_id in self.members if photo_id in self.facts]

    def show_tiles(self) -> None:
        """Put each tile's photo and caption in place and ask for the frames: subclasses."""
        raise NotImplementedError

    def want(self, tiles: Sequence[PhotoTile], ahead: Sequence[int] = (), zoom: object = None
             ) -> None:  # fmt: skip
        """Frames for ``tiles`` (the first most urgent), at the tiles' size, and once they are
        all drawn those of ``ahead`` (what a key may show next); those already drawn go on
        screen at once."""
        tiles = [tile for tile in tiles if tile.photo_id is not None]
        if not tiles:
            return
        size = tiles[0].picture_size
        if size.width < 4 or size.height < 2:  # not laid out yet: its resize comes
            return
        for tile in tiles:
            frame = self.frames.get(tile.photo_id, size, zoom)
            if frame is not None:
                tile.show_frame(frame)
        self._wanted_tiles = [tile.photo_id for tile in tiles]
        # Drawn after: on two cores, frames drawn at once share them and all come later.
        self._ahead = [photo_id for photo_id in ahead if photo_id not in self._wanted_tiles]
        self._ahead_at = (size, zoom)
        self.frames.want(self._wanted_tiles, size, zoom)
        self._want_ahead()

    def _want_ahead(self) -> None:
        if not self._ahead:
            return
        tiles = [tile for tile in self.query(PhotoTile) if tile.photo_id is not None]
        if all(tile.drawn for tile in tiles):
            self.frames.want([*self._wanted_tiles, *self._ahead], *self._ahead_at)
            self._ahead = []

    def on_burst_view_tile_ready(self, message: TileReady) -> None:
        with contextlib.suppress(NoMatches):  # the screen is closing
            for tile in self.query(PhotoTile):
                tile.show_frame(message.frame)
            self._want_ahead()

    def set_head(self, text) -> None:
        self.query_one("#head", Static).update(text)

    # --- decisions ---------------------------------------------------------------------------

    def decide(self, photo_id: int, decision: str) -> Change | None:
        return self.made(lambda: self.triage.decide(photo_id, decision))

    def keep_one(self, keep: int) -> Change | None:
        """Approve ``keep`` and reject every other frame shown that is not rejected yet, as
        one batch: one undo takes all of it back."""
        rest = [
            pid for pid in self.members if pid != keep and self.facts[pid].decision != "rejected"
        ]
        changes = self.made(lambda: self.triage.keep_one(keep, rest))
        if changes is not None:
            names = self.facts[keep].name
            self.notify(f"Kept {names}; rejected {len(rest)} other frame"
                        f"{'s' if len(rest) != 1 else ''} (ctrl+z in triage takes it back).",
                        timeout=4)  # fmt: skip
        return changes

    def made(self, make: Callable[[], object]):
        """Make a change; errors become notifications (and None); the captions follow."""
        try:
            change = make()
        except TriageError as error:
            self.notify(str(error), severity="error")
            return None
        except DecisionNotSaved as error:
            self.notify(f"Not saved: {error}.", severity="error", timeout=8)
            return None
        except Exception as error:  # a damaged catalogue: say so, keep the app
            self.notify(f"not saved: {error}", severity="error", timeout=8)
            return None
        for warning in {c.warning for c in _changes(change) if c.warning}:
            self.notify(warning, severity="warning", timeout=6)
        if self.source.seen is not None:  # the view's decisions, this one among them
            self.source.seen.refresh()
        self.read_facts()
        self.show_tiles()
        return change


def _changes(made: object) -> tuple[Change, ...]:
    return made.all if isinstance(made, Change) else ()
