"""Compare: two frames of a burst side by side, the pick (the photo the photographer stood on)
and a candidate (at first the next frame), to choose the keeper.

The candidate moves through the burst's other frames; it can take the pick's place, be
rejected (the next one comes), or the pick kept and the rest of the burst rejected in one
batch. Leaving, the triage pane stands on the pick.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.geometry import Size

from tui import keymap
from tui.panes.burst_view import BurstSource, BurstView
from tui.widgets.tile import PhotoTile


class CompareScreen(BurstView):
    BINDINGS = keymap.bindings("compare", {})
    DEFAULT_CSS = """
    CompareScreen #pick { border: round $success; }
    """

    def __init__(self, source: BurstSource) -> None:
        super().__init__(source)
        self.pick = 0
        self.candidate: int | None = None

    def start(self, current: int) -> None:
        self.pick = current
        self.candidate = self._after(current)

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
        pick.show_photo(self.facts.get(self.pick), f"pick · {self._place(self.pick)}")
        if self.candidate is None:
            candidate.show_photo(None, "candidate", empty="no other frame to compare with")
        else:
            candidate.show_photo(self.facts.get(self.candidate),
                                 f"candidate · {self._place(self.candidate)}")  # fmt: skip
        head = Text(no_wrap=True, overflow="ellipsis")
        head.append("compare", style="bold")
        head.append(f"  burst of {count}" if self.in_burst else "  no burst: the next photos")
        if self.candidate is not None:
            head.append(f"  ·  candidate {self._others().index(self.candidate) + 1} / "
                        f"{len(self._others())}")  # fmt: skip
        self.set_head(head)
        ahead = [self._after(self.candidate, 1), self._after(self.candidate, -1)] if (
            self.candidate is not None) else []  # fmt: skip
        # The candidate first: it is what a key changes; the pick is drawn already.
        self.want([candidate, pick], [photo_id for photo_id in ahead if photo_id is not None])

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
