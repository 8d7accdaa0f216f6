"""The keymap: every action of the app, its default keys, what it does, and where it applies;
the `[keys]` table of the settings file replaces an action's keys.

Defaults use only keys that reach an app over SSH and through tmux: letters, digits, arrows,
space, backspace, enter and ctrl+letter. F1-F5 are extra keys for colour labels, never the only
way to do something.

The loupe is a mode of the triage pane: while it is on, its keys come before the pane's and the
app's (``h j k l`` and the arrows pan instead of moving on, ``H`` pans instead of opening Sync
history); off, those keys are the pane's and the app's again. So a loupe key is checked only
against the other loupe keys and the keys that zoom (always on, the way out of the loupe).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from textual.binding import Binding

from core.config import ConfigError


@dataclass(frozen=True)
class Action:
    name: str  # what the settings file calls it
    keys: tuple[str, ...]
    description: str
    # app, triage, loupe (triage with the loupe on), grid, compare, survey, events, history,
    # stages, progress
    scope: str
    action: str  # the Textual action it runs
    footer: str | None = None  # its word in the footer, if it has one (help lists them all)


SCOPES = {
    "app": "Everywhere",
    "triage": "Triage",
    "loupe": "Triage, loupe on",
    "grid": "Triage grid",
    "compare": "Compare (two frames of a burst)",
    "survey": "Survey (a burst's frames at once)",
    "events": "Live events",
    "history": "Sync history",
    "stages": "Stage queue",
    "progress": "Edit progress",
}

_LABEL_KEYS = {
    "red": ("6", "f1"),
    "yellow": ("7", "f2"),
    "green": ("8", "f3"),
    "blue": ("9", "f4"),
    "purple": ("f5",),
}

ACTIONS: tuple[Action, ...] = (
    Action("triage", ("T",), "Triage pane", "app", "app.show_pane('triage')"),
    Action("events", ("E",), "Live events pane", "app", "app.show_pane('events')"),
    Action("history", ("H",), "Sync history pane", "app", "app.show_pane('history')"),
    Action("stages", ("S",), "Stage queue pane", "app", "app.show_pane('stages')"),
    Action("progress", ("D",), "Edit progress pane (darktable)", "app",
           "app.show_pane('progress')"),
    Action("next_pane", ("tab",), "Next pane", "app", "app.cycle_pane(1)"),
    Action("previous_pane", ("shift+tab",), "Previous pane", "app", "app.cycle_pane(-1)"),
    Action("help", ("question_mark",), "Help: every key", "app", "app.help", "help"),
    Action("palette", ("ctrl+p",), "Command palette", "app", "app.command_palette"),
    Action("quit", ("q",), "Quit", "app", "app.quit", "quit"),
    # triage
    Action("next", ("space", "right", "down", "j"), "Next photo", "triage", "next", "next"),
    Action("previous", ("backspace", "left", "up", "k"), "Previous photo", "triage", "previous"),
    Action("approve", ("a", "p"), "Approve", "triage", "decide('approved')", "approve"),
    Action("reject", ("x", "r"), "Reject", "triage", "decide('rejected')", "reject"),
    Action("pending", ("u",), "Back to pending", "triage", "decide('pending')", "pending"),
    Action("undo", ("ctrl+z",), "Undo (unlimited)", "triage", "undo", "undo"),
    Action("redo", ("ctrl+y",), "Redo", "triage", "redo", "redo"),
    *(
        Action(f"stars_{n}", (str(n),), f"{n} star{'s' if n != 1 else ''}", "triage",
               f"rate({n})", "stars 0-5" if n == 0 else None)
        for n in range(6)
    ),
    *(
        Action(f"label_{name}", keys, f"Toggle the {name} label", "triage", f"label('{name}')",
               "labels 6-9" if name == "red" else None)
        for name, keys in _LABEL_KEYS.items()
    ),
    Action("auto_advance", ("n",), "Auto-advance after a decision on / off", "triage",
           "toggle_advance", "auto-advance"),
    Action("filter", ("f",), "Filter: pending, approved, rejected, unrated, label, shoot, stars, "
           "camera, edited, burst picks, soft, or typed",
           "triage", "choose_filter", "filter"),
    Action("zoom", ("z",), "Loupe: 100 % at the AF point, and back", "triage", "zoom", "loupe"),
    Action("zoom_in", ("plus", "equals_sign"), "Loupe: zoom in (50, 100, 200 %)", "triage",
           "zoom_in"),
    Action("zoom_out", ("minus",), "Loupe: back to fit", "triage", "zoom_out"),
    Action("info", ("i",), "Information overlay", "triage", "info", "info"),
    Action("histogram", ("e",), "Histogram (luma and R, G, B) beside the photo, on / off",
           "triage", "histogram"),
    Action("clipping", ("w",), "Clipping, from the preview: highlights blink red, shadows blue",
           "triage", "clipping('preview')"),
    Action("clipping_raw", ("W",), "Clipping from the RAW data, at the sensor's white level",
           "triage", "clipping('raw')"),
    Action("toggle_bursts", ("B",), "Bursts collapsed to their pick, or every photo", "triage",
           "toggle_bursts"),
    Action("next_pending", ("right_square_bracket",), "Next pending photo in this filter",
           "triage", "next_pending"),
    Action("previous_pending", ("left_square_bracket",), "Previous pending photo in this filter",
           "triage", "previous_pending"),
    Action("jump_time", ("slash",), "Jump to a time (the camera's clock)", "triage",
           "jump_time"),
    Action("first", ("home", "g"), "First photo", "triage", "first"),
    Action("last", ("end", "G"), "Last photo", "triage", "last"),
    # people (triage.name): whose decisions the card shows, and the conflicts between people
    Action("people_view", ("P",), "Whose decisions: everyone's, mine, each person's, blind "
           "(others' hidden)", "triage", "people_view"),
    Action("next_conflict", ("C",), "Next photo people disagree on", "triage", "next_conflict"),
    Action("resolve", ("m",), "Settle the photo's conflict with the decision shown", "triage",
           "resolve"),
    # the loupe (triage, while zoomed): a step is a tenth of the view, a big one half of it
    Action("pan_left", ("h", "left"), "Loupe: pan left", "loupe", "pan(-1, 0)"),
    Action("pan_down", ("j", "down"), "Loupe: pan down", "loupe", "pan(0, 1)"),
    Action("pan_up", ("k", "up"), "Loupe: pan up", "loupe", "pan(0, -1)"),
    Action("pan_right", ("l", "right"), "Loupe: pan right", "loupe", "pan(1, 0)"),
    Action("pan_left_far", ("shift+left", "H"), "Loupe: pan left, half a view", "loupe",
           "pan(-1, 0, True)"),
    Action("pan_down_far", ("shift+down", "J"), "Loupe: pan down, half a view", "loupe",
           "pan(0, 1, True)"),
    Action("pan_up_far", ("shift+up", "K"), "Loupe: pan up, half a view", "loupe",
           "pan(0, -1, True)"),
    Action("pan_right_far", ("shift+right", "L"), "Loupe: pan right, half a view", "loupe",
           "pan(1, 0, True)"),
    Action("grid", ("t",), "Contact-sheet grid on / off", "triage", "toggle_grid", "grid"),
    Action("filmstrip", ("s",), "Filmstrip under the photo on / off", "triage",
           "toggle_filmstrip"),
    # the grid (t): its keys, then the triage keys it does not take (decisions, undo, ...)
    Action("grid_left", ("left", "h"), "Grid: focus left", "grid", "step(-1, 0)"),
    Action("grid_right", ("right", "l"), "Grid: focus right", "grid", "step(1, 0)"),
    Action("grid_up", ("up", "k"), "Grid: focus up", "grid", "step(0, -1)"),
    Action("grid_down", ("down", "j"), "Grid: focus down", "grid", "step(0, 1)"),
    Action("grid_page_down", ("pagedown",), "Grid: a page down", "grid", "page(1)"),
    Action("grid_page_up", ("pageup",), "Grid: a page up", "grid", "page(-1)"),
    Action("grid_open", ("enter",), "Grid: open the photo alone", "grid", "open", "open"),
    Action("grid_select", ("space",), "Grid: select the photo, or not", "grid",
           "toggle_selected", "select"),
    Action("grid_extend_left", ("shift+left",), "Grid: select to the left", "grid",
           "step(-1, 0, True)"),
    Action("grid_extend_right", ("shift+right",), "Grid: select to the right", "grid",
           "step(1, 0, True)"),
    Action("grid_extend_up", ("shift+up",), "Grid: select up", "grid", "step(0, -1, True)"),
    Action("grid_extend_down", ("shift+down",), "Grid: select down", "grid",
           "step(0, 1, True)"),
    Action("grid_burst", ("b",), "Grid: select the photo's whole burst", "grid",
           "select_burst", "burst"),
    Action("grid_clear", ("escape",), "Grid: select nothing", "grid", "clear_selection"),
    Action("compare", ("c",), "Compare the photo with the next frame of its burst", "triage",
           "compare", "compare"),
    Action("survey", ("v",), "Survey its burst: up to 9 frames at once", "triage", "survey",
           "survey"),
    # compare: the pick (the photo on screen) and a candidate, side by side
    Action("candidate_next", ("right", "l"), "Next candidate", "compare", "candidate(1)",
           "candidate"),
    Action("candidate_previous", ("left", "h"), "Previous candidate", "compare",
           "candidate(-1)"),
    Action("promote", ("enter",), "The candidate becomes the pick", "compare", "promote",
           "promote"),
    Action("reject_candidate", ("x",), "Reject the candidate, show the next", "compare",
           "reject_candidate", "reject"),
    Action("keep_pick", ("K",), "Keep the pick, reject the rest of the burst", "compare",
           "keep_pick", "keep, reject rest"),
    Action("close_compare", ("escape", "c"), "Back to triage, on the pick", "compare",
           "close", "back"),
    # survey: the burst's frames in a grid
    Action("survey_left", ("left", "h"), "Focus the frame to the left", "survey", "move(-1, 0)"),
    Action("survey_right", ("right", "l"), "Focus the frame to the right", "survey",
           "move(1, 0)", "move"),
    Action("survey_up", ("up", "k"), "Focus the frame above", "survey", "move(0, -1)"),
    Action("survey_down", ("down", "j"), "Focus the frame below", "survey", "move(0, 1)"),
    Action("survey_approve", ("a",), "Approve the focused frame", "survey",
           "decide('approved')", "approve"),
    Action("survey_reject", ("x",), "Reject the focused frame", "survey", "decide('rejected')",
           "reject"),
    Action("survey_open", ("enter",), "Open the focused frame in triage", "survey", "open",
           "open"),
    Action("keep_focused", ("K",), "Keep the focused frame, reject the rest of the burst",
           "survey", "keep_focused", "keep, reject rest"),
    Action("close_survey", ("escape", "v"), "Back to triage", "survey", "close", "back"),
    # the other panes
    Action("event_filter", ("f",), "Show one kind of event", "events", "choose_kind", "kind"),
    Action("event_all", ("c",), "Show every kind", "events", "all_kinds", "every kind"),
    Action("rescan", ("R",), "Rescan every root now", "history", "rescan", "rescan now"),
    Action("retry", ("r",), "Retry the failed job", "stages", "retry", "retry"),
    Action("cancel", ("c",), "Cancel the job", "stages", "cancel", "cancel"),
)  # fmt: skip

BY_NAME = {action.name: action for action in ACTIONS}
LOUPE_EXITS = ("zoom", "zoom_out")  # always on, so the loupe can always be left
# Kept at the footer's right edge on every pane and at any width: the way to every other key,
# and the way out. The footer lists the others in the order above, as many as fit: the triage
# pane's first ones are the cull itself (next, approve, reject, undo).
PINNED_IN_FOOTER = ("help", "quit")


def check_keys(overrides: Mapping[str, tuple[str, ...]]) -> None:
    """Raise ConfigError for an unknown action, or a key given to two actions of one scope."""
    for name in overrides:
        if name not in BY_NAME:
            raise ConfigError(
                f"[keys] {name} is not an action; the actions are: {', '.join(BY_NAME)}."
            )
    taken: dict[tuple[str, str], str] = {}
    actions = resolved(overrides)
    exits = {key: action.name for action in actions if action.name in LOUPE_EXITS
             for key in action.keys}  # fmt: skip
    for action in actions:
        for key in action.keys:
            if action.scope == "loupe" and key in exits:
                raise ConfigError(
                    f"[keys] the key {key!r} is given to both {exits[key]} and {action.name}:"
                    " the loupe could not be left."
                )
            for scope in _checked_against(action):
                other = taken.get((scope, key))
                if other is not None and other != action.name:
                    raise ConfigError(
                        f"[keys] the key {key!r} is given to both {other} and {action.name}."
                    )
            taken[(action.scope, key)] = action.name


def _checked_against(action: Action) -> set[str]:
    # A loupe key takes the pane's and the app's place while the loupe is on (see above).
    return {"loupe"} if action.scope == "loupe" else {action.scope, "app"}


def pane_of(scope: str) -> str:
    """The pane whose keys a scope's are (the loupe's and the grid's are the triage pane's)."""
    return "triage" if scope in ("loupe", "grid") else scope


def resolved(overrides: Mapping[str, tuple[str, ...]]) -> list[Action]:
    """The actions with the settings' keys in place of the defaults."""
    out = []
    for action in ACTIONS:
        keys = overrides.get(action.name)
        out.append(action if keys is None else Action(**{**action.__dict__, "keys": tuple(keys)}))
    return out


def bindings(scope: str, overrides: Mapping[str, tuple[str, ...]]) -> list[Binding]:
    """Textual bindings of one scope (app bindings take priority over a pane's own keys, but no
    app key is a letter a pane uses)."""
    return [
        Binding(
            ",".join(action.keys),
            action.action.removeprefix("app.") if scope == "app" else action.action,
            action.footer or action.description,
            show=action.footer is not None,
            key_display=display(action.keys[0]),
            priority=scope == "app" and action.name in ("next_pane", "previous_pane"),
            id=action.name,
        )
        for action in resolved(overrides)
        if action.scope == scope
    ]


_DISPLAY = {
    "question_mark": "?",
    "space": "␣",
    "backspace": "⌫",
    "ctrl+z": "^z",
    "ctrl+y": "^y",
    "ctrl+p": "^p",
    "shift+tab": "⇧tab",
    "right_square_bracket": "]",
    "left_square_bracket": "[",
    "slash": "/",
    "plus": "+",
    "equals_sign": "=",
    "minus": "-",
    "shift+left": "⇧←",
    "shift+right": "⇧→",
    "shift+up": "⇧↑",
    "shift+down": "⇧↓",
    "pagedown": "pgdn",
    "pageup": "pgup",
    "escape": "esc",
}


def display(key: str) -> str:
    return _DISPLAY.get(key, key)
