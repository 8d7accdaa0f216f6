"""How photos and colours reach the terminal, decided before the app starts (a terminal can only
be asked before Textual owns it): half-blocks everywhere, or real pixels (kitty graphics or
sixel) where the terminal has them, directly or, inside tmux, through tmux's passthrough to
the terminal tmux runs in."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from tui.graphics import KITTY, SIXEL, Graphics

HALFBLOCK = "halfblock"
DEFAULT_CELL_PIXELS = (10, 20)
ENABLE_PASSTHROUGH = "set -g allow-passthrough on"
# Terminals by the names tmux learns for them (the terminal's answer to XTVERSION, its TERM)
# or the variables they set. kitty's Unicode placeholders are what make its pictures live
# inside tmux; WezTerm and Konsole speak kitty graphics without the placeholders, so they get
# sixel, as do the others.
KITTY_NAMES = ("kitty", "ghostty")
KITTY_VARIABLES = ("KITTY_WINDOW_ID", "GHOSTTY_RESOURCES_DIR")
SIXEL_NAMES = ("wezterm", "foot", "iterm", "mlterm", "contour", "konsole", "mintty", "sixel")
SIXEL_VARIABLES = ("WEZTERM_PANE", "WEZTERM_EXECUTABLE")
# One tmux command says everything about the client the app is seen through.
_TMUX_FORMAT = "\t".join((
    "#{client_termname}", "#{client_termtype}", "#{client_termfeatures}",
    "#{allow-passthrough}", "#{client_cell_width}", "#{client_cell_height}",
))  # fmt: skip
TMUX_SECONDS = 2.0


@dataclass(frozen=True)
class TmuxFacts:
    """What tmux knows of the terminal it runs in (its client's) and of its own settings."""

    termname: str  # the client's TERM: xterm-kitty, foot, xterm-256color, ...
    termtype: str  # the terminal's own name, from its answer to XTVERSION: "kitty(0.35.2)"
    features: str  # tmux's terminal features of the client: "RGB,sixel,..."
    passthrough: bool  # allow-passthrough, for the app's pane
    cell_pixels: tuple[int, int] | None


@dataclass(frozen=True)
class Choice:
    """The renderer in effect: its name, how pictures are sent (None: half-blocks), and a
    sentence for the photographer when more is possible than is used."""

    name: str
    graphics: Graphics | None = None
    note: str | None = None


def outer_protocol(facts: TmuxFacts | None, env: Mapping[str, str]) -> str | None:
    """KITTY or SIXEL where the terminal (outside tmux, when inside) is known to draw them."""
    names = []
    if facts is not None:
        names += [facts.termtype, facts.termname]
        if "sixel" in facts.features.split(","):
            names.append("sixel")
    terminal = env.get("TERM_PROGRAM", "")
    if terminal != "tmux":  # tmux sets it to itself inside its panes
        names.append(terminal)
    names += [env.get("LC_TERMINAL", ""), env.get("TERM", "")]  # LC_ passes through ssh
    text = " ".join(names).lower()
    if any(name in text for name in KITTY_NAMES) or any(v in env for v in KITTY_VARIABLES):
        return KITTY
    if any(name in text for name in SIXEL_NAMES) or any(v in env for v in SIXEL_VARIABLES):
        return SIXEL
    return None


def decide(
    setting: str,
    env: Mapping[str, str],
    tmux: TmuxFacts | None,
    direct: str | None = None,
    cell_pixels: tuple[int, int] = DEFAULT_CELL_PIXELS,
) -> Choice:
    """The renderer for the ``tui.renderer`` setting: inside tmux (``tmux`` holds what tmux
    said), from the outer terminal and whether tmux lets pictures through; outside, ``direct``
    is what the terminal answered when asked (KITTY, SIXEL or None)."""
    if setting == HALFBLOCK:
        return Choice(HALFBLOCK)
    if env.get("TMUX"):
        if tmux is None:  # tmux did not answer: nothing is known of the terminal outside it
            return Choice(HALFBLOCK)
        protocol = setting if setting in (KITTY, SIXEL) else outer_protocol(tmux, env)
        if protocol is None:
            return Choice(HALFBLOCK)
        if not tmux.passthrough:
            return Choice(
                HALFBLOCK,
                note=f"This terminal draws {protocol} graphics: add '{ENABLE_PASSTHROUGH}' to "
                "~/.tmux.conf and restart shootwatch for real pixels.",
            )
        return Choice(protocol, Graphics(protocol, True, tmux.cell_pixels or cell_pixels))
    protocol = setting if setting in (KITTY, SIXEL) else direct
    if protocol is None:
        return Choice(HALFBLOCK)
    return Choice(protocol, Graphics(protocol, False, cell_pixels))


def tmux_facts(env: Mapping[str, str] = os.environ) -> TmuxFacts | None:
    """Ask the tmux the app runs in about its client and its passthrough (None: not in tmux,
    or tmux did not answer)."""
    if not env.get("TMUX"):
        return None
    target = ["-t", env["TMUX_PANE"]] if env.get("TMUX_PANE") else []
    try:
        answer = subprocess.run(
            ["tmux", "display-message", "-p", *target, _TMUX_FORMAT],
            capture_output=True, text=True, timeout=TMUX_SECONDS, check=True,
            env={**os.environ, **env},  # TMUX names the server
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    parts = answer.rstrip("\n").split("\t")
    if len(parts) != 6:
        return None
    termname, termtype, features, allowed, cell_w, cell_h = parts
    cells = (int(cell_w), int(cell_h)) if cell_w.isdigit() and cell_h.isdigit() else None
    return TmuxFacts(
        termname,
        termtype,
        features,
        passthrough=allowed not in ("", "0", "off"),
        cell_pixels=cells if cells and all(cells) else None,
    )


def pane_offset(env: Mapping[str, str] = os.environ) -> tuple[int, int]:
    """The app's pane's top-left cell in the terminal tmux runs in (rows, columns): where a
    sixel sent through passthrough must be drawn. (0, 0) outside tmux."""
    if not env.get("TMUX"):
        return (0, 0)
    target = ["-t", env["TMUX_PANE"]] if env.get("TMUX_PANE") else []
    fields = "#{pane_top}\t#{pane_left}\t#{status}\t#{status-position}"
    try:
        answer = subprocess.run(
            ["tmux", "display-message", "-p", *target, fields],
            capture_output=True, text=True, timeout=TMUX_SECONDS, check=True,
            env={**os.environ, **env},
        ).stdout  # fmt: skip
        top, left, status, position = answer.rstrip("\n").split("\t")
        # A status line on top pushes every pane down (pane_top counts from below it).
        lines = 0 if status == "off" else int(status) if status.isdigit() else 1
        return (int(top) + (lines if position == "top" else 0), int(left))
    except (OSError, subprocess.SubprocessError, ValueError):
        return (0, 0)


def _direct_protocol() -> str | None:
    """Ask the terminal itself (outside tmux) what it draws, through textual-image's queries,
    made when its renderable module is imported."""
    try:
        from textual_image.renderable import Image as detected
        from textual_image.renderable.sixel import Image as SixelRenderable
        from textual_image.renderable.tgp import Image as TGPRenderable
    except Exception:  # a terminal that does not answer the query: half-blocks always work
        return None
    return {SixelRenderable: SIXEL, TGPRenderable: KITTY}.get(detected)


def _terminal_cell_pixels() -> tuple[int, int]:
    try:
        from textual_image._terminal import get_cell_size

        size = get_cell_size()
        return (size.width or DEFAULT_CELL_PIXELS[0], size.height or DEFAULT_CELL_PIXELS[1])
    except Exception:  # a terminal that does not say: a common size
        return DEFAULT_CELL_PIXELS


def choose_renderer(setting: str, env: Mapping[str, str] = os.environ) -> Choice:
    """The renderer for the ``tui.renderer`` setting on this terminal, asked now (before the
    app starts)."""
    if setting == HALFBLOCK:
        return Choice(HALFBLOCK)
    if env.get("TMUX"):
        return decide(setting, env, tmux_facts(env))
    tty = sys.__stdout__ is not None and sys.__stdout__.isatty()
    if not tty and setting == "auto":  # nothing to ask
        return Choice(HALFBLOCK)
    direct = _direct_protocol() if setting == "auto" else None
    cell_pixels = _terminal_cell_pixels() if tty else DEFAULT_CELL_PIXELS
    return decide(setting, env, None, direct, cell_pixels)


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
