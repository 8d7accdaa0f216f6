"""Where the loupe looks: a zoom level and a centre on the photo, moved by keys, kept inside
the picture, and turned into the region of the full-size picture a pane of a given size shows.

Pure geometry: no pixels, no Textual. The centre is kept as fractions (0-1) of the upright
picture, so the same place holds on the next frame of a burst whatever its pixel size, as
darktable's culling layout keeps it. A zoom is screen pixels per picture pixel: at 100 % one
pixel of the picture is one pixel of the screen (a half-block pixel, or one of a graphics
terminal's own pixels).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

# Fit first, then the zooms in order; None is "the whole picture fits the pane".
ZOOMS: tuple[float | None, ...] = (None, 0.5, 1.0, 2.0)
SMALL_STEP = 0.1  # of the view: a tenth moves the eye without losing what it looked at
BIG_STEP = 0.5  # of the view: half a screen, what was at the edge comes to the middle
# Why the loupe starts where it does, in the words the position line uses.
STARTS = ("AF point", "sharpest region", "centre")
HALF_BLOCK = (1, 2)  # a half-block cell: one pixel wide, two tall

Box = tuple[int, int, int, int]  # left, top, right, bottom in pixels of the full-size picture


@dataclass(frozen=True)
class LoupePlace:
    """A zoom (None: fit) and where the view is centred, in fractions of the upright picture;
    ``start`` says why it started there (one of STARTS)."""

    zoom: float | None = None
    x: float = 0.5
    y: float = 0.5
    start: str = "centre"

    @property
    def zoomed(self) -> bool:
        return self.zoom is not None

    @property
    def percent(self) -> str:
        return "fit" if self.zoom is None else f"{round(self.zoom * 100)} %"

    def zoomed_in(self) -> LoupePlace:
        """The next zoom up (fit -> 50 -> 100 -> 200 %); 200 % stays."""
        at = ZOOMS.index(self.zoom)
        return replace(self, zoom=ZOOMS[min(at + 1, len(ZOOMS) - 1)])

    def zoomed_out(self) -> LoupePlace:
        """Back to fit, whatever the zoom: the way out is one key."""
        return replace(self, zoom=None)

    def at(self, x: float, y: float, start: str) -> LoupePlace:
        return replace(self, x=_fraction(x), y=_fraction(y), start=start)

    def panned(
        self,
        dx: int,
        dy: int,
        image_size: tuple[int, int],
        cells: tuple[int, int],
        cell_pixels: tuple[int, int] = HALF_BLOCK,
        big: bool = False,
    ) -> LoupePlace:
        """Moved by ``dx``, ``dy`` steps (-1, 0, 1) of a tenth of the view (half of it when
        ``big``), and kept where the view stays inside the picture."""
        if self.zoom is None:
            return self
        view_w, view_h = _view_fraction(self.zoom, image_size, cells, cell_pixels)
        step = BIG_STEP if big else SMALL_STEP
        moved = replace(self, x=self.x + dx * step * view_w, y=self.y + dy * step * view_h)
        return moved.clamped(image_size, cells, cell_pixels)

    def clamped(
        self,
        image_size: tuple[int, int],
        cells: tuple[int, int],
        cell_pixels: tuple[int, int] = HALF_BLOCK,
    ) -> LoupePlace:
        """The nearest place whose view lies inside the picture: at an edge the view stops
        rather than showing the background (a view wider than the picture is centred)."""
        if self.zoom is None:
            return self
        view_w, view_h = _view_fraction(self.zoom, image_size, cells, cell_pixels)
        return replace(self, x=_within(self.x, view_w), y=_within(self.y, view_h))

    def crop_box(
        self,
        image_size: tuple[int, int],
        cells: tuple[int, int],
        cell_pixels: tuple[int, int] = HALF_BLOCK,
    ) -> Box:
        """The region of the full-size picture (``image_size``, upright) a pane of ``cells``
        (columns, lines) shows, each cell ``cell_pixels`` screen pixels (half-blocks: 1 x 2).
        Fit: the whole picture. Zoomed: the view's worth of picture pixels around the centre,
        moved inside the picture at its edges, and no larger than the picture."""
        width, height = image_size
        if self.zoom is None:
            return (0, 0, width, height)
        place = self.clamped(image_size, cells, cell_pixels)
        box_w = min(width, max(1, round(cells[0] * cell_pixels[0] / self.zoom)))
        box_h = min(height, max(1, round(cells[1] * cell_pixels[1] / self.zoom)))
        left = min(max(0, round(place.x * width - box_w / 2)), width - box_w)
        top = min(max(0, round(place.y * height - box_h / 2)), height - box_h)
        return (left, top, left + box_w, top + box_h)

    def shown_size(self, box: Box) -> tuple[int, int]:
        """The size in screen pixels the region ``box`` is drawn at (zoomed only)."""
        zoom = self.zoom or 1.0
        return (
            max(1, round((box[2] - box[0]) * zoom)),
            max(1, round((box[3] - box[1]) * zoom)),
        )

    def describe(self) -> str:
        """The position line's words: "100 % at 62%, 40% · from the AF point"."""
        if self.zoom is None:
            return "loupe off"
        why = "centre" if self.start == "centre" else f"from the {self.start}"
        return f"{self.percent} at {self.x:.0%}, {self.y:.0%} · {why}"


def start_place(
    af: tuple[float | None, float | None],
    sharp: tuple[float | None, float | None],
    zoom: float | None = 1.0,
) -> LoupePlace:
    """Where a loupe starts on a photo: the camera's AF point when it recorded one, else the
    sharpest region found in the preview, else the centre."""
    for (x, y), why in ((af, "AF point"), (sharp, "sharpest region")):
        if x is not None and y is not None and 0 <= x <= 1 and 0 <= y <= 1:
            return LoupePlace(zoom, x, y, why)
    return LoupePlace(zoom, 0.5, 0.5, "centre")


def _view_fraction(
    zoom: float, image_size: tuple[int, int], cells: tuple[int, int], cell_pixels: tuple[int, int]
) -> tuple[float, float]:
    """How much of the picture's width and height the view covers, as fractions (may be > 1)."""
    width, height = image_size
    return (
        cells[0] * cell_pixels[0] / zoom / max(1, width),
        cells[1] * cell_pixels[1] / zoom / max(1, height),
    )


def _within(centre: float, view: float) -> float:
    if view >= 1:
        return 0.5
    return min(max(centre, view / 2), 1 - view / 2)


def _fraction(value: float) -> float:
    return min(max(float(value), 0.0), 1.0)
