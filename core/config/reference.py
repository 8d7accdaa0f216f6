"""Writing settings out as TOML: ``shootwatch config`` (the settings in effect) and the
configuration reference in docs/settings.md (every setting with its help, what is allowed and an
example), both from the declarations."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from core.config.declaration import Setting
from core.config.settings import SETTINGS, Settings

REFERENCE_START = "<!-- settings:start -->"
REFERENCE_END = "<!-- settings:end -->"


def _plain(value: Any) -> Any:
    """A setting's value as the file writes it: paths as text, None as "" (none)."""
    if value is None:
        return ""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {name: _plain(item) for name, item in value.items()}
    return value


def toml_value(value: Any) -> str:
    """``value`` (a setting's, or plain) written as TOML."""
    value = _plain(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        # JSON's escapes are TOML's; TOML also wants DEL escaped
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{name} = {toml_value(v)}" for name, v in value.items()) + " }"
    return str(value)


def _comment(text: str) -> list[str]:
    return textwrap.wrap(text, width=96, initial_indent="# ", subsequent_indent="# ")


def _as_toml(value_of: Callable[[Setting], Any], described: Callable[[Setting], str]) -> str:
    lines: list[str] = []
    table = ""
    for declared in SETTINGS:
        heading = declared.key if declared.is_table else declared.key.rpartition(".")[0]
        if heading != table:
            lines += ["", f"[{heading}]"]
            table = heading
        lines += _comment(described(declared))
        value = value_of(declared)
        if declared.is_table:
            lines += [f"{name} = {toml_value(entry)}" for name, entry in value.items()]
        else:
            lines.append(f"{declared.key.rpartition('.')[2]} = {toml_value(value)}")
    return "\n".join(lines) + "\n"


def _shown(declared: Setting) -> Any:
    """What the reference shows for a setting: its example, or its default."""
    if declared.example is not None:
        return declared.example
    return declared.default_doc if declared.default_doc is not None else declared.default()


def _described(declared: Setting) -> str:
    """The help, what is allowed, and the default when the example is not it."""
    text = declared.help
    if not declared.is_table:
        text += f" {declared.allowed[0].upper()}{declared.allowed[1:]}"
        if declared.example is not None:
            default = declared.default_doc or toml_value(declared.default())
            text += f"; default: {default}"
        text += "."
    return text


def reference_toml() -> str:
    """Every setting with its help, what is allowed and an example: the configuration reference."""
    return _as_toml(_shown, _described)


def reference_markdown() -> str:
    """The text between the settings markers of docs/settings.md."""
    return f"```toml\n{reference_toml().lstrip()}```\n"


def settings_toml(settings: Settings) -> str:
    """The settings in effect, each with its help, as a file that would give them."""
    return _as_toml(lambda declared: declared.value_in(settings), lambda d: d.help)


def with_reference(text: str) -> str:
    """``text`` with what is between its settings markers made the reference."""
    start, end = text.index(REFERENCE_START) + len(REFERENCE_START), text.index(REFERENCE_END)
    return f"{text[:start]}\n{reference_markdown()}{text[end:]}"
