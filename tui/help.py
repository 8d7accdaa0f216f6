"""The help screen: every action, its keys and where it applies, from the keymap in effect."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.keymap import SCOPES, Action, display


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90; max-width: 100%; height: 90%; border: round $accent;
        background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close"),
        Binding("j,down", "scroll('down')", show=False),
        Binding("k,up", "scroll('up')", show=False),
    ]

    def __init__(self, actions: Sequence[Action]) -> None:
        super().__init__()
        self.actions = actions

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(self._table())

    def _table(self) -> Table:
        table = Table(box=None, expand=True, show_header=False, padding=(0, 1))
        table.add_column("keys", style="bold cyan", width=22, no_wrap=True)
        table.add_column("what")
        table.add_column("action", style="grey50", no_wrap=True)
        for scope, title in SCOPES.items():
            actions = [a for a in self.actions if a.scope == scope]
            if not actions:
                continue
            table.add_row(Text(title, style="bold underline"), "", "")
            for action in actions:
                keys = "  ".join(display(key) for key in action.keys)
                table.add_row(keys, action.description, action.name)
            table.add_row("", "", "")
        table.add_row(
            "", Text("Change keys in the settings file under [keys], by action name.", "dim"), ""
        )
        return table

    def action_scroll(self, direction: str) -> None:
        scroll = self.query_one(VerticalScroll)
        scroll.scroll_down() if direction == "down" else scroll.scroll_up()
