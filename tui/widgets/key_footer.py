"""The footer: the keys that apply now, from the left, as many as the width holds whole (none cut
in the middle of its word); and the keys that must never be left out (help, quit) at the right
edge, whatever the width."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.containers import HorizontalGroup
from textual.widgets import Footer
from textual.widgets._footer import FooterKey  # Textual exports no public name for it

from tui.keymap import PINNED_IN_FOOTER


class KeyFooter(Footer):
    DEFAULT_CSS = """
    KeyFooter > .pinned-keys {
        dock: right;
        width: auto;
        height: 1;
        background: $footer-background;
    }
    """

    def __init__(self, **kwargs) -> None:
        # The command palette's key is in the help screen: its 20 cells go to the keymap's.
        super().__init__(show_command_palette=False, **kwargs)
        self._laid_out_for = 0  # the width the keys were chosen for

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        keys: dict[str, FooterKey] = {}  # one per action: the first of its keys
        pinned: dict[str, FooterKey] = {}
        for _node, binding, enabled, tooltip in self.screen.active_bindings.values():
            if not binding.show:
                continue
            shown = pinned if binding.id in PINNED_IN_FOOTER else keys
            if binding.action in shown:
                continue
            shown[binding.action] = FooterKey(
                binding.key,
                self.app.get_key_display(binding),
                binding.description,
                binding.action,
                disabled=not enabled,
                tooltip=tooltip,
            ).data_bind(compact=Footer.compact)
        room = (self.size.width or self.app.size.width) - sum(map(_cells, pinned.values()))
        if pinned:
            with HorizontalGroup(classes="pinned-keys"):
                yield from pinned.values()
        for key in keys.values():
            room -= _cells(key)
            if room < 0:
                break
            yield key

    def on_resize(self, event: events.Resize) -> None:
        if event.size.width != self._laid_out_for:
            self._laid_out_for = event.size.width
            self.refresh(recompose=True)


def _cells(key: FooterKey) -> int:
    """The width of a key in the footer: " k " and "word " (Textual's padding)."""
    return len(key.key_display) + 2 + len(key.description) + 1
