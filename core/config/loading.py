"""Loading the settings: the defaults, then the TOML file, then $SHOOTWATCH_DB, then the
command-line flags, each value checked; a mistake in the file is one sentence naming the file,
the line, the key, the value and what is allowed."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from core.config.checks import CatalogueLocation, ConfigError
from core.config.declaration import Setting
from core.config.settings import SECTION_TYPES, SETTINGS, Settings, default_config_path
from core.records import frozen_record, replace

CONFIG_ENV = "SHOOTWATCH_CONFIG"
CATALOGUE_ENV = "SHOOTWATCH_DB"
_BY_KEY = {declared.key: declared for declared in SETTINGS}
_TABLES = {key.rpartition(".")[0] for key in _BY_KEY} - {""}  # [scan], [stages], …


# --- reading the file ----------------------------------------------------------------------


@frozen_record
class _File:
    path: Path
    text: str
    values: dict[str, Any]  # by dotted key; a table setting's value is its table

    def where(self, key: str) -> str:
        line = _line_of(self.text, key)
        return f"{self.path}, line {line}" if line else str(self.path)


def _read_file(path: Path) -> _File:
    """The file's settings by dotted key; FileNotFoundError when there is no file."""
    try:
        with path.open("rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise  # the caller decides whether a missing file is an error
    except OSError as error:
        raise ConfigError(f"{path} cannot be read: {error.strerror or error}.") from error
    try:
        text = data.decode("utf-8-sig")  # a BOM, as some editors write, is no mistake
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ConfigError(
            f"{path} is not UTF-8 text (line {line} has the byte {data[error.start]:#04x}): "
            "save it as UTF-8."
        ) from None
    import tomllib  # only when there is a settings file to read

    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}.") from error
    file = _File(path, text, {})
    _flatten(table, "", file)
    return file


def _flatten(table: Mapping[str, Any], prefix: str, file: _File) -> None:
    for name, value in table.items():
        key = f"{prefix}{name}"
        if key in _BY_KEY:
            file.values[key] = value
        elif key in _TABLES and isinstance(value, Mapping):
            _flatten(value, key + ".", file)
        elif key in _TABLES:
            raise ConfigError(
                f"{file.where(key)}: {key} must be a table: [{key}] with its settings under it."
            )
        else:
            import difflib  # only to name the setting that was meant

            known = ", ".join(sorted(_BY_KEY))
            close = difflib.get_close_matches(key, _BY_KEY, n=1)
            guess = f"; did you mean {close[0]!r}?" if close else "."
            raise ConfigError(
                f"{file.where(key)}: unknown setting {key!r} (known settings: {known}){guess}"
            )


def _line_of(text: str, key: str) -> int | None:
    """The line of the file where ``key`` is set, found as a person would: under its [table],
    or as a dotted key; None when it is written some other way (an inline table)."""
    table = ""
    for number, line in enumerate(text.split("\n"), 1):
        stripped = line.strip()
        if stripped.startswith("[") and not stripped.startswith("[["):
            table = stripped.strip("[]").split("]")[0].strip().replace(" ", "")
            if table == key:
                return number
            continue
        name = stripped.partition("=")[0].strip().replace(" ", "").strip('"')
        if stripped.partition("=")[1] and (f"{table}.{name}" if table else name) == key:
            return number
    return None


def _checked(declared: Setting, value: Any, where: Callable[[str], str]) -> Any:
    """The checked value; its ConfigError says ``where`` the value came from."""
    try:
        return declared.check(declared.key, value)
    except ConfigError as error:
        place = where(error.key or declared.key)
        raise ConfigError(f"{str(error).rstrip('.')} ({place}).") from None


# --- loading -------------------------------------------------------------------------------


def load_settings(
    config_path: Path | str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Defaults, then the config file, then ``overrides`` (command-line flags by dotted key;
    None = not given).

    ``config_path`` None means the default location (or $SHOOTWATCH_CONFIG), which may be absent;
    a path given explicitly must exist.
    """
    explicit = config_path is not None or CONFIG_ENV in os.environ
    path = Path(config_path or os.environ.get(CONFIG_ENV) or default_config_path()).expanduser()
    try:
        file: _File | None = _read_file(path)
    except FileNotFoundError:
        if explicit:
            raise ConfigError(
                f"config file {path} does not exist: create it or leave out --config."
            ) from None
        file = None

    given: dict[str, Any] = {}
    if file is not None:
        for key, value in file.values.items():
            given[key] = _checked(_BY_KEY[key], value, lambda at: f"in {file.where(at)}")
    if CATALOGUE_ENV in os.environ:
        given["catalogue"] = CatalogueLocation()(f"${CATALOGUE_ENV}", os.environ[CATALOGUE_ENV])
    flags = {key: value for key, value in (overrides or {}).items() if value is not None}
    for key, value in flags.items():
        given[key] = _checked(_BY_KEY[key], value, lambda at: "given on the command line")

    fields: dict[str | None, dict[str, Any]] = {}
    for key, value in given.items():
        declared = _BY_KEY[key]
        fields.setdefault(declared.section, {})[declared.name] = value
    sections = {name: cls(**fields.get(name, {})) for name, cls in SECTION_TYPES.items()}
    # What follows from the settings rather than being one.
    sections["scan"] = replace(
        sections["scan"],
        own_folders=(str(sections["stages"].output), str(sections["media"].preview_cache)),
    )
    sections["darktable"] = replace(sections["darktable"], explicit="darktable.library" in given)
    return Settings(**fields.get(None, {}), **sections, config_file=file.path if file else None)
