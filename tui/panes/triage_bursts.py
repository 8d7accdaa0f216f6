"""The triage pane's bursts and navigation: bursts collapsed to their pick (B), the next and
previous pending photo in any filter (] and [), a jump to a time (/), the filters the picker
offers beyond the decisions (stars, camera bodies, edited, leaders, soft, one typed), and what
the facts line says of a photo's burst ("burst 3 / 7", a sharpness bar, "sharpest of 7").
Kept apart from tui.panes.triage so that pane stays about showing and deciding."""

from __future__ import annotations

from rich.text import Text

from core.media.looks import sharpness_fraction
from core.store.photos import camera_bodies
from core.triage.bursts import is_soft
from core.triage.card import PhotoCard, camera_name
from core.triage.queue import FilterError, MomentError, parse_filter, parse_moment
from tui.prompt import Prompt

EXAMPLE_FILTER = 'pending stars>=3 camera:"NIKON D750"'
TYPE_A_FILTER = "type:"  # the picker's choice that opens a line to type a combined filter
BURST_FILTERS = (
    ("stars>=1", "stars ≥ 1"),
    ("stars>=3", "stars ≥ 3"),
    ("stars>=5", "5 stars"),
    ("edited", "edited in darktable"),
    ("leaders", "burst picks and photos on their own"),
    ("soft", "soft: out of focus"),
    ("pending sort:sharpness", "pending, the sharpest of each burst first"),
)
BAR_CELLS = 5
_EIGHTHS = " ▏▎▍▌▋▊▉"


def filter_choices(db) -> list[tuple[str, str]]:
    """What the filter picker offers beyond the decisions and labels: stars, edited, burst
    picks, soft, each camera body, and a line to type any combination."""
    bodies = [
        (f'camera:"{model or make}"', f"camera: {camera_name(make, model)} ({count:,})")
        for make, model, count in camera_bodies(db)
    ]
    typed = (TYPE_A_FILTER, f"type a filter: {EXAMPLE_FILTER} …")
    return [*BURST_FILTERS, *bodies, typed]


def burst_text(card: PhotoCard, detail: int = 2) -> Text:
    """What the facts line says of the photo's focus and burst: "  burst 3 / 7 ▉▉▉▍·
    sharpest of 7" in a burst (the bar next to the burst's sharpest), "  focus ▉▉▉··" on its
    own (the bar on the focus score's own scale, core.media.looks.sharpness_fraction), "soft"
    when it is; empty while not measured and in no burst. A narrow line asks for less:
    ``detail`` 1 leaves out the rank's words ("  burst 3/7 ▉▉▉▍·"), 0 the bar too ("  burst
    3/7", "  soft")."""
    text = Text()
    place = card.burst
    if place is None:
        if card.sharpness is not None:
            soft = is_soft(card.sharpness, None)
            if detail > 0:
                text.append("  focus ", style="dim")
                text.append(sharpness_bar(sharpness_fraction(card.sharpness)),
                            style="yellow" if soft else "green")  # fmt: skip
            if soft:
                text.append("  soft" if detail == 0 else " soft", style="bold yellow")
        return text
    text.append("  ")
    between = " / " if detail == 2 else "/"
    text.append(f"burst {place.position}{between}{place.size}", style="bold cyan")
    relative = place.relative_sharpness
    if relative is not None and detail > 0:
        text.append(" ")
        text.append(sharpness_bar(relative), style="yellow" if place.soft else "green")
    if place.rank_words and detail == 2:
        text.append(f" {place.rank_words}", style="yellow" if place.soft else "")
    if place.soft:
        text.append(" soft", style="bold yellow")
    return text


def sharpness_bar(fraction: float, cells: int = BAR_CELLS) -> str:
    """A bar ``cells`` wide, filled to ``fraction`` (0-1) in eighths of a cell."""
    eighths = round(max(0.0, min(1.0, fraction)) * cells * 8)
    full, part = divmod(eighths, 8)
    bar = "█" * full + (_EIGHTHS[part] if part else "")
    return bar.ljust(cells, "·")


class BurstKeys:
    """The keys of bursts and navigation, mixed into the triage pane (which has ``db``,
    ``queue``, ``index``, ``photo_id``, ``go``, ``load_queue`` and ``_pressed``)."""

    collapsed = False  # each burst shows as one entry, its pick

    def action_toggle_bursts(self) -> None:
        self.collapsed = not self.collapsed
        self.load_queue(self.queue.filter.name if self.queue else "pending", self.photo_id)
        said = "Bursts collapsed: each shows as its pick." if self.collapsed else "Every photo "
        self.notify(said if self.collapsed else said + "of each burst shown.", timeout=2)

    def action_next_pending(self) -> None:
        self._to_pending(1)

    def action_previous_pending(self) -> None:
        self._to_pending(-1)

    def _to_pending(self, step: int) -> None:
        if self.queue is None or not self.queue.photo_ids:
            return
        index = self.queue.next_pending(self.index, step)
        if index is None:
            where = "after" if step > 0 else "before"
            self.notify(f"No pending photo {where} this one in this filter.", timeout=2)
            return
        self._pressed()
        self.go(index)

    def action_jump_time(self) -> None:
        if self.queue is None or not self.queue.photo_ids:
            return
        day_of = self.queue.wall_of(self.photo_id)

        def check(typed: str) -> str | None:
            try:
                parse_moment(typed, day_of)
            except MomentError as error:
                return str(error)
            return None

        def chosen(typed: str | None) -> None:
            if typed is not None and self.queue is not None:
                self._pressed()
                self.go(self.queue.index_at(parse_moment(typed, day_of)))

        prompt = Prompt("Jump to a time (the camera's clock):", "21:46 or 2024-11-16 21:46:31",
                        check=check)  # fmt: skip
        self.app.push_screen(prompt, chosen)

    def apply_filter(self, value: str) -> None:
        """Show the filter chosen in the picker; its last entry opens a line to type one."""
        if value != TYPE_A_FILTER:
            self.load_queue(value)
            return

        def check(typed: str) -> str | None:
            try:
                parse_filter(typed)
            except FilterError as error:
                return str(error)
            return None

        def typed(text: str | None) -> None:
            if text is not None:
                self.load_queue(text)

        current = self.queue.filter.name if self.queue else ""
        self.app.push_screen(Prompt("Filter (its words all hold):", EXAMPLE_FILTER, current,
                                    check), typed)  # fmt: skip
