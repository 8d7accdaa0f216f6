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

from rich.color import ColorType
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

RESET = "\x1b[0m"
_UNKNOWN = object()  # the terminal's colour before the line: not relied upon


class PhotoStrip(Strip):
    """A line of a photo, written to a 24-bit terminal by ``encode_line`` (any other colour
    system, and any crop or filter of it, which are plain strips, go Textual's usual way)."""

    __slots__ = ()

    def render(self, console: Console) -> str:
        if self._render_cache is None and _truecolor(console):
            self._render_cache = encode_line(self._segments)
        return super().render(console)


def _truecolor(console: Console) -> bool:
    # Textual renders with truecolor when the console has no colour system of its own.
    system = console._color_system
    return system is None or system.name == "TRUECOLOR"


def encode_line(segments: Iterable[Segment]) -> str:
    """``segments`` as escape codes that show the same cells as Textual's own rendering: each
    foreground or background written only where it changes. A segment whose style is more than
    24-bit colours is written as Textual writes it."""
    parts: list[str] = []
    fg: object = _UNKNOWN
    bg: object = _UNKNOWN
    for text, style, control in segments:
        if control or not text:
            continue
        if style is None:
            parts.append(text)
            continue
        colours = _colours_only(style)
        if colours is None:  # bold, links, palette colours...: the style says it all
            if fg is not None or bg is not None:
                parts.append(RESET)
            parts.append(Style.render(style, text))
            fg = bg = None  # Style.render ends with a reset (or wrote nothing)
            continue
        want_fg, want_bg = colours
        codes = []
        if want_fg != fg and text.strip(" "):  # spaces show no foreground
            codes.append("39" if want_fg is None else "38;2;" + _rgb(want_fg))
            fg = want_fg
        if want_bg != bg:
            codes.append("49" if want_bg is None else "48;2;" + _rgb(want_bg))
            bg = want_bg
        if codes:
            parts.append("\x1b[" + ";".join(codes) + "m")
        parts.append(text)
    if fg is not None or bg is not None:
        parts.append(RESET)
    return "".join(parts)


def _rgb(triplet: tuple[int, int, int]) -> str:
    return f"{triplet[0]};{triplet[1]};{triplet[2]}"


def _colours_only(style: Style) -> tuple[tuple | None, tuple | None] | None:
    """(foreground, background) as (r, g, b) or None for the default, when the style sets
    nothing but 24-bit colours; else None."""
    if style._attributes & style._set_attributes or style._link:
        return None
    colours = []
    for colour in (style.color, style.bgcolor):
        if colour is None or colour.is_default:
            colours.append(None)
        elif colour.type == ColorType.TRUECOLOR:
            colours.append(tuple(colour.triplet))
        else:
            return None
    return colours[0], colours[1]
