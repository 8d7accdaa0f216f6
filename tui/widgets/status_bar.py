"""The two lines at the top: each engine component's state (with the reason when one is not
well), and the panes with the key that shows each."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.text import Text
from textual.widgets import Static

from core.engine import ComponentState
from core.engine.ingest import NOT_SAFE_TO_FORMAT, SAFE_TO_FORMAT

STATUS_STYLES = {"running": "green", "idle": "green", "degraded": "bold yellow",
                 "down": "bold red", "off": "grey50"}  # fmt: skip
STATUS_MARKS = {"running": "●", "idle": "●", "degraded": "▲", "down": "✖", "off": "○"}
PANE_KEYS = {"triage": "T", "events": "E", "history": "H", "stages": "S", "progress": "D"}


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { height: 1; background: $primary-background; padding: 0 1; }
    """

    def show(
        self, states: Mapping[str, ComponentState], engine: str, catalogue_away: str | None = None
    ) -> None:
        """Asked once a second: repainted when it says something new (one line: never laid
        out again). ``catalogue_away``: why the catalogue's server cannot be reached, said
        before anything else."""
        text = status_text(states, engine, catalogue_away)
        if text != self.content:
            self.update(text, layout=False)


def status_text(
    states: Mapping[str, ComponentState], engine: str, catalogue_away: str | None = None
) -> Text:
    """Each component's mark; then the catalogue's server away, or the first component in
    trouble, or a card being filed ("ingesting 412 / 1,508, 3 duplicates", "EOS_DIGITAL:
    copying 212 / 1,508 files …"), or whether the last card copied is safe to format, or
    where the engine runs."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append("shootwatch ", style="bold")
    trouble = None
    for name, state in states.items():
        style = STATUS_STYLES.get(state.status, "")
        text.append(f" {STATUS_MARKS.get(state.status, '?')} ", style=style)
        text.append(name, style=style if state.status != "off" else "grey50")
        if state.status in ("degraded", "down") and trouble is None:
            trouble = f"{name} {state.status}: {state.error or 'no reason given'}"
    ingest = states.get("ingest")
    filing = ingest.task if ingest is not None and ingest.status == "running" else None
    card_said = ingest.task if ingest is not None and ingest.status == "idle" else None
    text.append("   ")
    if catalogue_away:
        text.append(catalogue_away, style="bold red")
    elif trouble:
        text.append(trouble, style="yellow")
    elif filing:
        text.append(filing, style="cyan")
    elif card_said and NOT_SAFE_TO_FORMAT in card_said:
        text.append(card_said, style="bold red")
    elif card_said and SAFE_TO_FORMAT in card_said:
        text.append(card_said, style="green")
    else:
        text.append(engine, style="grey62")
    return text


class PaneBar(Static):
    DEFAULT_CSS = """
    PaneBar { height: 1; background: $panel; padding: 0 1; }
    """

    def __init__(self, panes: Sequence[str], titles: Mapping[str, str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.panes = panes
        self.titles = titles

    def on_mount(self) -> None:
        self.show(self.panes[0])

    def show(self, current: str) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        for name in self.panes:
            key = PANE_KEYS[name]
            if name == current:
                text.append(f" {self.titles[name]} ", style="bold reverse")
            else:
                text.append(f" {self.titles[name]} ", style="")
            text.append(f"{key}  ", style="grey50")
        text.append("tab: next   ?: help", style="grey50")
        self.update(text)
