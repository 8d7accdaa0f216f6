"""A small line to type one thing into (a time to jump to, a filter), as a modal screen: enter
to take it, escape to leave everything as it was. What cannot be taken is said under the line,
in one sentence, and the line stays for another try."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static


class Prompt(ModalScreen[str | None]):
    DEFAULT_CSS = """
    Prompt { align: center middle; }
    Prompt > Vertical {
        width: 70; max-width: 95%; height: auto; border: round $accent; background: $surface;
        padding: 0 1;
    }
    Prompt Label { color: $text-muted; }
    Prompt #problem { color: $error; height: auto; }
    """
    BINDINGS = [Binding("escape", "dismiss_none", "Close", show=True)]

    def __init__(
        self,
        title: str,
        placeholder: str = "",
        value: str = "",
        check: Callable[[str], str | None] | None = None,
    ) -> None:
        """``check``: the sentence saying why a typed value cannot be taken, None when it can."""
        super().__init__()
        self.title_text = title
        self.placeholder = placeholder
        self.value = value
        self.check = check

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text)
            yield Input(value=self.value, placeholder=self.placeholder)
            yield Static(id="problem", markup=False)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        problem = self.check(event.value) if self.check is not None else None
        if problem:
            self.query_one("#problem", Static).update(problem)
            return
        self.dismiss(event.value)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
