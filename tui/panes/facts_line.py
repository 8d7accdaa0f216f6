"""The triage facts line: what is known of the photo on screen, in one line fitted to the width
it has. What the photographer decides on (the name, the decision, stars, labels, a damaged
file, what darktable knows of it, a sidecar left alone) is always there whole; the rest gives
way by priority when the line is narrow: first the EXIF, then the burst's rank words,
darktable's stars when they agree with the ones shown, the dot before darktable, the middle of
a long file name, the sharpness bar, the burst, and at last the row of stars gives way to
"3★" (a line beside the histogram is 30 cells shorter).
Nothing is cut in the middle of a word while something of less worth is shown."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.widget import Widget

from core.triage.card import PhotoCard
from tui.panes.triage_bursts import burst_text

DECISION_STYLES = {"approved": "bold green", "rejected": "bold red", "pending": "yellow"}
LABEL_STYLES = {
    "red": "red",
    "yellow": "yellow",
    "green": "green",
    "blue": "dodger_blue1",
    "purple": "medium_purple1",
}
SHORTEST_NAME = 12  # "DSC_0…1.NEF": still tells two photos of a shoot apart
_EXIF = ("taken", "camera", "lens", "exposure", "iso")
EXIF_DOT = "  ·  "
EXIF_READABLE = 10  # cells of an EXIF part worth showing cut short


class FactsLine(Widget):
    """One line: a photo's facts fitted to the widget's width, or a message instead."""

    DEFAULT_CSS = "FactsLine { height: 1; }"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._card: PhotoCard | None = None
        self._message = Text("")

    def show(self, card: PhotoCard | None, message: Text | None = None) -> None:
        """The card's facts; ``message`` when there is no card. Repainted only when they
        change (a photo change repaints, never lays out)."""
        message = message or Text("")
        if card == self._card and message == self._message and card is not None:
            return
        self._card, self._message = card, message
        self.refresh()

    def render(self) -> Text:
        if self._card is None:
            return self._message
        return facts_text(self._card, self.content_size.width or 10_000)


def facts_text(card: PhotoCard, width: int) -> Text:
    """The card's facts in at most ``width`` cells, what matters least giving way first."""
    # how much of each part is shown: the burst's detail (-1: none), darktable's stars, the
    # dot before darktable, the name's length, the stars as a row
    shown = {"burst": 2, "darktable_stars": True, "dot": True, "name": len(_name(card)),
             "star_row": True}  # fmt: skip

    def name_down_to(shortest: int) -> Callable[[int], None]:
        """A step giving the name's middle, as much as the line is over and no shorter than
        ``shortest``: "PXL_20241116…ORIGINAL.dng"."""
        return lambda over: shown.update(
            name=max(min(shortest, shown["name"]), shown["name"] - over)
        )

    steps: list[Callable[[int], None]] = [
        lambda over: shown.update(burst=1),
        lambda over: shown.update(darktable_stars=False),
        lambda over: shown.update(dot=False),
        name_down_to(24),
        lambda over: shown.update(burst=0),
        name_down_to(16),
        lambda over: shown.update(burst=-1),
        name_down_to(SHORTEST_NAME),
        lambda over: shown.update(star_row=False),  # "★★★☆☆" as "3★" (the histogram's beside)
    ]
    text = _compose(card, shown)
    for step in steps:
        if text.cell_len <= width:
            break
        step(text.cell_len - width)
        text = _compose(card, shown)
    # The EXIF after it, from the time taken to the ISO, as far as the width goes: the last
    # part cut short ("1/250 s · f/…") when enough of it shows to be read, else left out.
    for part in (_exif_words(card, part) for part in _EXIF):
        if not part:
            continue
        room = width - text.cell_len - len(EXIF_DOT)
        if room < min(len(part), EXIF_READABLE):
            break
        text.append(EXIF_DOT)
        text.append(part)
    text.no_wrap, text.overflow = True, "ellipsis"
    return text


def _compose(card: PhotoCard, shown: dict) -> Text:
    """The facts that stay, each as far as ``shown`` says."""
    text = Text()
    text.append(_shortened(_name(card), shown["name"]), style="bold")
    text.append("  ")
    text.append(card.decision, style=DECISION_STYLES[card.decision])
    text.append("  ")
    if shown["star_row"]:
        text.append("★" * card.rating + "☆" * (5 - card.rating), style="gold1")
    else:
        text.append(f"{card.rating}★", style="gold1")
    for name in card.label_names:
        text.append(" ")
        text.append("●", style=LABEL_STYLES[name])
    if shown["burst"] >= 0:  # "burst 3 / 7 ▉▉▉▍ sharpest of 7", "focus ▉▉▉··"
        text.append_text(burst_text(card, shown["burst"]))
    if card.damage:  # the reason is in the information overlay (i)
        text.append("  damaged", style="bold red")
    state = card.darktable_state
    if state is not None:
        words = state.words(None if shown["darktable_stars"] else card.rating)
        text.append(("  ·  " if shown["dot"] else "  ") + words, style="cyan")
    if card.sidecar_problem:  # the sidecar says other than the catalogue; why: (i)
        text.append("  sidecar not written", style="bold yellow")
    return text


def _name(card: PhotoCard) -> str:
    return card.path.rsplit("/", 1)[-1]


def _shortened(name: str, length: int) -> str:
    """``name`` in ``length`` characters, its middle given up: the start and the extension
    are what tell a file apart."""
    if len(name) <= length:
        return name
    tail = min(len(name) // 3, (length - 1) // 2)
    return name[: length - 1 - tail] + "…" + name[len(name) - tail :]


def _exif_words(card: PhotoCard, part: str) -> str:
    if part == "iso":
        return f"ISO {card.iso}" if card.iso else ""
    return str(getattr(card, part) or "")
