"""How photos and colours reach the terminal, decided before the app starts: textual-image asks
the terminal about sixel and kitty graphics when it is imported, which cannot happen once
Textual owns the terminal."""

from __future__ import annotations

import os
import sys

from textual.widget import Widget

HALFBLOCK = "halfblock"


def choose_renderer(setting: str) -> tuple[str, type[Widget] | None]:
    """(renderer name, the textual-image widget class for graphics, or None for half-blocks)."""
    if setting == HALFBLOCK:
        return HALFBLOCK, None
    tty = sys.__stdout__ is not None and sys.__stdout__.isatty()
    if setting == "auto" and (not tty or os.environ.get("TMUX")):
        # tmux (3.3) passes no sixel through; without a terminal there is nothing to ask.
        return HALFBLOCK, None
    try:
        if setting == "auto":
            from textual_image.renderable import Image as detected
            from textual_image.renderable.sixel import Image as SixelRenderable
            from textual_image.renderable.tgp import Image as TGPRenderable

            setting = {SixelRenderable: "sixel", TGPRenderable: "kitty"}.get(detected, HALFBLOCK)
            if setting == HALFBLOCK:
                return HALFBLOCK, None
        from textual_image.widget import SixelImage, TGPImage
    except Exception:  # a terminal that does not answer the query: half-blocks always work
        return HALFBLOCK, None
    return setting, SixelImage if setting == "sixel" else TGPImage


def apply_colors(setting: str) -> str:
    """Set COLORTERM so Textual draws 24-bit colour where the terminal has it; returns the
    colour mode in effect. Inside tmux, COLORTERM is often lost on the way in, though tmux
    passes 24-bit colour on to any terminal that has it."""
    if setting == "truecolor" or (
        setting == "auto"
        and (os.environ.get("TMUX") or os.environ.get("TERM", "").endswith("-direct"))
    ):
        os.environ["COLORTERM"] = "truecolor"
    elif setting == "256":
        os.environ.pop("COLORTERM", None)
    return "truecolor" if os.environ.get("COLORTERM") in ("truecolor", "24bit") else "auto"
