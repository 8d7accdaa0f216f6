"""Compare: two frames of a burst side by side, the pick (the photo the photographer stood on)
and a candidate (at first the next frame), to choose the keeper.

The candidate moves through the burst's other frames; it can take the pick's place, be
rejected (the next one comes), or the pick kept and the rest of the burst rejected in one
batch. Leaving, the triage pane stands on the pick.

Both frames are seen through one loupe (tui.loupe): the same zoom at the same place of each
picture, panned together, kept while the candidate changes. It opens where triage's loupe
was; the pixels are cut by the triage pane's LoupeSource, as its own loupe's are.
"""

from __future__ import annotations

from dataclasses import replace

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.geometry import Size

from tui import keymap
from tui.loupe import LoupePlace
from tui.panes.burst_view import BurstSource, BurstView
from tui.widgets.tile import PhotoTile


def compare_bindings() -> list[Binding]:
    """The compare keys, the loupe's zoom keys and its pan keys, in the order they are tried:
    the arrows always move the candidate; while zoomed, h j k l (and the big steps) pan, and
    out of the loupe h and l move the candidate too (a pan key not allowed falls through)."""
    compare = keymap.bindings("compare", {})
    candidate = [b for b in compare if b.id in ("candidate_next", "candidate_previous")]
    arrows = [
        replace(b, key=",".join(k for k in b.key.split(",") if k in ("left", "right")))
        for b in candidate
    ]
    zoom = [b for b in keymap.bindings("triage", {}) if b.id in ("zoom", "zoom_in", "zoom_out")]
    first = [b for b in compare if b not in candidate]  # K keeps, also while zoomed
    return [*first, *(b for b in arrows if b.key), *zoom, *keymap.bindings("loupe", {}),
            *candidate]  # fmt: skip


class CompareScreen(BurstView):
    BINDINGS = compare_bindings()
    DEFAULT_CSS = """
    CompareScreen #pick { border: round $success; }
    """

    def __init__(self, source: BurstSource) -> None:
        super().__init__(source)
        self.pick = 0
        self.candidate: int | None = None
        self.loupe = LoupePlace()  # fit: the loupe is off

    def start(self, current: int, loupe: LoupePlace) -> None:
        self.pick = current
        self.candidate = self._after(current)
        self.loupe = loupe

    def compose_tiles(self) -> ComposeResult:
        with Horizontal(id="tiles"):
            yield PhotoTile(self.source.graphics, id="pick")
            yield PhotoTile(self.source.graphics, id="candidate")

    def first_frames(self, members: list[int], current: int, screen: Size
                     ) -> tuple[list[int], Size]:  # fmt: skip
        after = members[(members.index(current) + 1) % len(members)]
        # Two tiles side by side under the head line, over the footer; a tile's border takes
        # two cells each way and its caption two lines.
        size = Size(screen.width // 2 - 2, screen.height - 2 - 4)
        return [after, current] if after != current else [current], size

    def _others(self) -> list[int]:
        return [photo_id for photo_id in self.members if photo_id != self.pick]

    def _after(self, photo_id: int, step: int = 1) -> int | None:
        """The frame ``step`` places from ``photo_id`` in the order they were shot, going
        round the burst, passing over the pick."""
        count = len(self.members)
        at = self.members.index(photo_id) if photo_id in self.members else 0
        for n in range(1, count + 1):  # at the end, itself: the only other frame stays
            member = self.members[(at + step * n) % count]
            if member != self.pick:
                return member
        return None

    # --- drawing -----------------------------------------------------------------------------

    def show_tiles(self) -> None:
        pick = self.query_one("#pick", PhotoTile)
        candidate = self.query_one("#candidate", PhotoTile)
        half = self.app.size.width // 2  # both of one size (81 columns: not 40 and 41)
        if pick.styles.width != half:
            pick.styles.width = candidate.styles.width = half
        count = len(self.members)
        zoom = self.loupe if self.loupe.zoomed else None  # how the frames are keyed
        pick.show_photo(self.facts.get(self.pick), f"pick · {self._place(self.pick)}", zoom)
        if self.candidate is None:
            candidate.show_photo(None, "candidate", empty="no other frame to compare with")
        else:
            candidate.show_photo(self.facts.get(self.candidate),
                                 f"candidate · {self._place(self.candidate)}", zoom)  # fmt: skip
        head = Text(no_wrap=True, overflow="ellipsis")
        head.append("compare", style="bold")
        head.append(f"  burst of {count}" if self.in_burst else "  no burst: the next photos")
        if self.candidate is not None:
            head.append(f"  ·  candidate {self._others().index(self.candidate) + 1} / "
                        f"{len(self._others())}")  # fmt: skip
        if self.loupe.zoomed:  # one loupe over both: the same zoom, at the same place
            head.append(f"  ·  loupe {self.loupe.percent} at {self.loupe.x:.0%}, "
                        f"{self.loupe.y:.0%}", style="bold magenta")  # fmt: skip
        self.set_head(head)
        ahead = [self._after(self.candidate, 1), self._after(self.candidate, -1)] if (
            self.candidate is not None) else []  # fmt: skip
        # The candidate first: it is what a key changes; the pick is drawn already.
        self.want([candidate, pick], [photo_id for photo_id in ahead if photo_id is not None],
                  zoom)  # fmt: skip

    def _place(self, photo_id: int) -> str:
        return f"{self.members.index(photo_id) + 1} / {len(self.members)}"

    # --- keys --------------------------------------------------------------------------------

    def action_candidate(self, step: int) -> None:
        if self.candidate is not None:
            self.candidate = self._after(self.candidate, step)
            self.show_tiles()

    def action_promote(self) -> None:
        if self.candidate is None:
            return
        self.pick = self.candidate
        self.candidate = self._after(self.pick)
        self.show_tiles()

    def action_reject_candidate(self) -> None:
        if self.candidate is None:
            return
        if self.decide(self.candidate, "rejected") is not None:
            self.action_candidate(1)

    def action_keep_pick(self) -> None:
        self.keep_one(self.pick)

    def action_close(self) -> None:
        self.dismiss(self.pick)

    # --- the loupe, over both frames ---------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "pan":  # out of the loupe, its keys fall through to the candidate's
            return self.loupe.zoomed
        return super().check_action(action, parameters)

    def action_zoom(self) -> None:
        """The loupe at 100 % where it starts on the pick (its AF point, its sharpest
        region), or off."""
        self._set_loupe(self.loupe.zoomed_out() if self.loupe.zoomed else self._started(1.0))

    def action_zoom_in(self) -> None:
        self._set_loupe(self.loupe.zoomed_in() if self.loupe.zoomed else self._started(0.5))

    def action_zoom_out(self) -> None:
        self._set_loupe(self.loupe.zoomed_out())

    def action_pan(self, dx: int, dy: int, big: bool = False) -> None:
        """Both frames move together: the place is a fraction of each picture, panned by the
        pick's size (frames of a burst share it)."""
        source = self.source.loupe_source
        pixels = source.source_of(self.pick) if source is not None else None
        if pixels is None:  # the pick not drawn in the loupe yet: nothing to pan across
            return
        cells = self.query_one("#pick", PhotoTile).picture_size
        place = self.loupe.panned(dx, dy, pixels.full_size, (cells.width, cells.height),
                                  source.cell_pixels, big=big)  # fmt: skip
        self._set_loupe(place)

    def _started(self, zoom: float) -> LoupePlace:
        source = self.source.loupe_source
        return source.start(self.pick, zoom) if source is not None else LoupePlace(zoom)

    def _set_loupe(self, place: LoupePlace) -> None:
        if place == self.loupe:
            return
        was_zoomed, self.loupe = self.loupe.zoomed, place
        if was_zoomed != place.zoomed:
            self.refresh_bindings()  # the pan keys come and go
        self.show_tiles()
