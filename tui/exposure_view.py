"""Exposure aids in the triage pane: their keys (histogram; clipping from the preview or from
the RAW data) and the panel beside the photo that shows the histogram, luma and R, G, B, and
how much is clipped, measured on what. The measuring and the painted twin of each picture are
made in the frame threads (tui.exposure); the photo view blinks between the two.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.widgets import Static

from core.media.reach import originals_here
from core.store.photos import original_of
from tui.exposure import NO_AIDS, PREVIEW, RAW, Aids, Exposure, RawMeasures
from tui.widgets.photo_view import PhotoView

EIGHTHS = " ▁▂▃▄▅▆▇█"
CHARTS = (("luma", "luma", "grey85"), ("R", "red", "red3"), ("G", "green", "green3"),
          ("B", "blue", "dodger_blue2"))  # fmt: skip
MAX_CHART_ROWS = 6


def chart_rows(counts: list[int], width: int, rows: int) -> list[str]:
    """``counts`` as a bar chart ``width`` columns wide and ``rows`` tall, top row first, in
    eighths of a cell. Scaled to the tallest bin between the two ends: a spike of black or
    white (what clipping is) fills its column without flattening the rest."""
    if width < 1 or rows < 1 or not counts:
        return []
    bins = len(counts)
    columns = []
    for column in range(width):
        start = column * bins // width
        end = max(start + 1, (column + 1) * bins // width)
        columns.append(sum(counts[start:end]) / (end - start))
    inner = columns[1:-1] if width > 2 else columns
    tallest = max(inner) or max(columns) or 1
    heights = [min(rows * 8, round(value / tallest * rows * 8)) for value in columns]
    lines = []
    for row in range(rows - 1, -1, -1):  # the top row first
        lines.append("".join(EIGHTHS[max(0, min(8, height - row * 8))] for height in heights))
    return lines


def clipping_words(aids: Aids, exposure: Exposure | None) -> str:
    """The clipping shown, for the pane's lines: "clipping: preview" or "clipping: RAW,
    sensor white level 15520"."""
    if aids.clipping is None:
        return ""
    if exposure is None or exposure.clipping is None:
        return f"clipping: {'RAW' if aids.clipping == RAW else PREVIEW}, measuring…"
    return f"clipping: {exposure.clipping}"


class ExposurePanel(Static):
    """Beside the photo while an aid is on: the histogram and the clipping, for the frame the
    photo view shows."""

    DEFAULT_CSS = """
    ExposurePanel {
        display: none; dock: right; width: 30; height: 1fr;
        padding: 0 1; background: $panel;
    }
    ExposurePanel.-on { display: block; }
    """

    def show_exposure(self, aids: Aids, exposure: Exposure | None) -> None:
        self.set_class(bool(aids), "-on")
        if aids:
            self.update(self.text(aids, exposure))

    def text(self, aids: Aids, exposure: Exposure | None) -> Text:
        width = max(8, self.size.width - 2 if self.size.width else 28)
        text = Text(no_wrap=True, overflow="ellipsis")
        if aids.histogram:
            shown = exposure.histogram if exposure is not None else None
            text.append("histogram", style="bold")
            text.append("  preview\n" if shown else "  measuring…\n", style="dim")
            height = self.size.height or 20
            spare = height - 1 - (4 if aids.clipping else 0)
            rows = max(1, min(MAX_CHART_ROWS, spare // len(CHARTS) - 1))
            for label, field, colour in CHARTS:
                text.append(f"{label}\n", style="dim")
                if shown is None:
                    text.append("\n" * rows)
                    continue
                for line in chart_rows(getattr(shown, field), width, rows):
                    text.append(line + "\n", style=colour)
        if aids.clipping:
            text.append(clipping_words(aids, exposure) + "\n", style="bold magenta")
            if exposure is not None and exposure.clipping is not None:
                text.append(f"▲ {exposure.clipped_highlights:.2%} highlights\n", style="red")
                text.append(f"▼ {exposure.clipped_shadows:.2%} shadows\n", style="dodger_blue2")
            if exposure is not None and exposure.note:
                text.append(exposure.note, style="yellow")
        text.rstrip()
        return text


class ExposureKeys:
    """The exposure aids' keys, for the triage pane (which owns ``db``, ``frames`` and
    ``show_current``): ``e`` the histogram, ``w`` clipping from the preview, ``W`` from the
    RAW data; each key again turns its aid off."""

    aids: Aids = NO_AIDS
    _raw_measures: RawMeasures | None = None

    def action_histogram(self) -> None:
        self._set_aids(Aids(not self.aids.histogram, self.aids.clipping))

    def action_clipping(self, source: str) -> None:
        clipping = None if self.aids.clipping == source else source
        self._set_aids(Aids(self.aids.histogram, clipping))

    def _set_aids(self, aids: Aids) -> None:
        self.aids = aids
        if self._raw_measures is None:
            self._raw_measures = RawMeasures(self._original_path)
        if self.frames is not None:
            self.frames.set_aids(aids, self._raw_measures)
        self.query_one(ExposurePanel).show_exposure(aids, None)
        # After the layout: the panel coming or going changes the photo's size.
        self.call_after_refresh(self.show_current)

    def _original_path(self, photo_id: int) -> Path | None:  # a frame thread
        found = original_of(self.db, photo_id)
        # An original on another machine is never opened (core.media.reach).
        return Path(found[1]) / found[2] if found and originals_here(found[1]) else None

    def on_photo_view_shown(self, message: PhotoView.Shown) -> None:
        frame = message.frame
        if frame.aids == self.aids and (frame.strips or frame.encoded or frame.picture):
            self.query_one(ExposurePanel).show_exposure(self.aids, frame.exposure)
