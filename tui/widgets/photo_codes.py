"""The escape codes a photo's lines are written with: each colour said once, where it changes.

Textual writes every segment as its whole style and a reset (``ESC[38;2;r;g;b;48;2;r;g;bm▀ESC[0m``,
about 45 bytes), so a photo of 160x48 cells is about 190 KB, and tmux spends most of a photo
change reading it. Here a colour that stays from one segment to the next is not written again,
spaces get no foreground, and the line ends with a single reset: the same cells for fewer
bytes. Strips keep their segments, so crops, filters and screenshots see the same colours as
the terminal.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.color import ColorSystem
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

RESET = "\x1b[0m"
_UNKNOWN = "?"  # not a colour's codes: whatever the terminal had is never relied upon


class PhotoStrip(Strip):
    """A line of a photo, written by ``encode_line`` (a crop or a filter of it is a plain
    strip, and goes Textual's usual way)."""

    __slots__ = ()

    def render(self, console: Console) -> str:
        if self._render_cache is None:
            # Textual renders with truecolor when the console has no colour system of its own.
            system = console._color_system or ColorSystem.TRUECOLOR
            self._render_cache = encode_line(self._segments, system)
        return super().render(console)


def encode_line(segments: Iterable[Segment], system: ColorSystem = ColorSystem.TRUECOLOR) -> str:
    """``segments`` as escape codes that show the same cells as Textual's own rendering in
    colour ``system``: each foreground or background written only where it changes (in 256
    colours, neighbours often become the same colour). A segment whose style is more than
    colours is written as Textual writes it."""
    parts: list[str] = []
    # The codes in effect: None after a reset; unknown at the start of the line.
    fg: str | None = _UNKNOWN
    bg: str | None = _UNKNOWN
    known = _STYLE_CODES.setdefault(system, {})
    for text, style, control in segments:
        if control or not text:
            continue
        if style is None:
            parts.append(text)
            continue
        wanted = known.get(style)
        if wanted is None:
            if len(known) > 400_000:  # as many as the photo view keeps styles; then again
                known.clear()
            wanted = known[style] = _style_codes(style, system)
        want_fg, want_bg = wanted
        if want_fg is None:  # bold, a link...: the style written as Textual writes it
            if fg is not None or bg is not None:
                parts.append(RESET)
            parts.append(Strip.render_style(style, text, system))
            fg = bg = None  # it ends with a reset (or wrote no codes)
            continue
        codes = []
        if want_fg != fg and text.strip(" "):  # spaces show no foreground
            codes.append(want_fg)
            fg = want_fg
        if want_bg != bg:
            codes.append(want_bg)
            bg = want_bg
        if codes:
            parts.append("\x1b[" + ";".join(codes) + "m")
        parts.append(text)
    if fg is not None or bg is not None:
        parts.append(RESET)
    return "".join(parts)


def _style_codes(style: Style, system: ColorSystem) -> tuple[str | None, str | None]:
    """The SGR parameters of the style's foreground and background (the terminal's own for
    none), as Textual writes them in ``system``; (None, None) for a style that sets more."""
    if style._attributes & style._set_attributes or style._link:
        return None, None
    fg, bg = style.color, style.bgcolor
    return (
        "39" if fg is None else ";".join(fg.downgrade(system).get_ansi_codes(True)),
        "49" if bg is None else ";".join(bg.downgrade(system).get_ansi_codes(False)),
    )


# Per colour system, the codes of each style seen: a photo's styles are shared and kept
# (tui.widgets.photo_view), so most are looked up here once.
_STYLE_CODES: dict[ColorSystem, dict[Style, tuple[str | None, str | None]]] = {}
