"""One frame of a compare or survey: the photo drawn in a box titled with its place, and under it
its name, decision, stars and sharpness (a bar against the sharpest of the frames, and its rank).

A tile never shows another photo's frame: given a new photo it is blank until that photo's
frame is drawn, so what is on screen beside a name is that photo.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.geometry import Size
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from core.triage.bursts import rank_words
from core.triage.card import FrameFacts
from tui.graphics import Graphics
from tui.widgets.photo_view import Frame, PhotoView

DECISION_STYLES = {"approved": "bold green", "rejected": "bold red", "pending": "yellow"}
BAR_CELLS = 8
_EIGHTHS = " ▏▎▍▌▋▊▉"


def sharpness_bar(relative: float, cells: int = BAR_CELLS) -> str:
    """``relative`` (0-1) as a bar ``cells`` wide, in eighths of a cell."""
    units = round(max(0.0, min(1.0, relative)) * cells * 8)
    full, part = divmod(units, 8)
    bar = "█" * full + (_EIGHTHS[part] if part else "")
    return bar.ljust(cells)


def caption(facts: FrameFacts) -> Text:
    """Two lines: the name and decision; the stars and sharpness."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(facts.name, style="bold")
    text.append("  ")
    text.append(facts.decision, style=DECISION_STYLES.get(facts.decision, ""))
    text.append("\n")
    text.append("★" * facts.rating + "☆" * (5 - facts.rating), style="gold1")
    text.append("  ")
    if facts.sharpness_rank is None:
        text.append("sharpness not measured", style="dim")
        return text
    sharpest = facts.sharpness_rank == 1
    text.append(sharpness_bar(facts.relative_sharpness or 0.0),
                style="green" if sharpest else "grey62")  # fmt: skip
    text.append(" ")
    text.append(rank_words(facts.sharpness_rank, facts.frames),
                style="bold green" if sharpest else "")  # fmt: skip
    return text


class PhotoTile(Widget):
    class Resized(Message):
        """The tile has its size (first laid out, or the terminal resized): frames are
        wanted at it."""

    DEFAULT_CSS = """
    PhotoTile {
        layout: vertical; width: 1fr; height: 1fr;
        border: round $panel-lighten-2; border-title-align: left;
    }
    PhotoTile.-focused { border: round $accent; border-title-style: bold; }
    PhotoTile > PhotoView { height: 1fr; }
    PhotoTile > .caption { height: 2; }
    """

    def __init__(self, graphics: Graphics | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self._graphics = graphics
        self.facts: FrameFacts | None = None
        self.zoom: object = None  # as the frames are keyed: None (fit) or the loupe's place

    def compose(self) -> ComposeResult:
        yield PhotoView(self._graphics)
        yield Static(classes="caption", markup=False)

    def on_resize(self, event: events.Resize) -> None:
        self.post_message(self.Resized())

    @property
    def photo_id(self) -> int | None:
        return self.facts.photo_id if self.facts else None

    @property
    def picture_size(self) -> Size:
        """The cells the photo is drawn in."""
        return self.query_one(PhotoView).size

    def show_photo(self, facts: FrameFacts | None, title: str, zoom: object = None,
                   empty: str = "") -> None:  # fmt: skip
        """The tile is for ``facts``' photo (None: for no photo, saying ``empty``): a photo
        other than the one shown, or a new zoom, blanks the picture until its frame comes."""
        view = self.query_one(PhotoView)
        self.border_title = title
        self.query_one(Static).update(caption(facts) if facts else Text(""))
        was = view.frame
        if facts is None:
            self.facts = None
            view.show(Frame(0, view.size, False, reason=empty))
            return
        self.facts, self.zoom = facts, zoom
        if was is None or (was.photo_id, was.size, was.zoom) != (facts.photo_id, view.size, zoom):
            view.show(Frame(facts.photo_id, view.size, zoom, reason="drawing…"))

    def show_frame(self, frame: Frame) -> bool:
        """Show ``frame`` if it is this tile's photo at its size and zoom; whether it was."""
        view = self.query_one(PhotoView)
        wanted = (self.facts.photo_id, view.size, self.zoom) if self.facts else None
        if (frame.photo_id, frame.size, frame.zoom) != wanted:
            return False
        view.show(frame)
        return True

    @property
    def drawn(self) -> bool:
        """The photo's frame is on screen (not the blank while it is drawn)."""
        frame = self.query_one(PhotoView).frame
        return (
            frame is not None
            and self.facts is not None
            and frame.photo_id == self.facts.photo_id
            and bool(frame.strips or frame.picture is not None or frame.reason != "drawing…")
        )
