"""The checks a setting's value goes through: each turns a value from the TOML file or a flag
into the setting's value, or raises a ConfigError that names the key, the value and what is
allowed; ``allowed`` says the same in the configuration reference."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from core.catalogue_location import is_server
from core.records import frozen_record

# What ingest folder and name templates may say: the capture date (the camera's own day), the
# camera, and the original name. One place: core.ingest.plan fills them.
INGEST_PLACEHOLDERS = (
    "year", "month", "day", "time", "camera", "make", "model", "stem", "seq", "job", "card"
)  # fmt: skip
# Filled only by an ingest from a card (``ingest --from CARD``), in file names only.
CARD_ONLY_PLACEHOLDERS = ("seq", "job", "card")


class ConfigError(ValueError):
    """A setting has a value that is not allowed; the message is one sentence for a person."""

    key: str | None = None  # the entry of a table it is about ("keys.approve"), if one


class Check(Protocol):
    """Turns a value from the file or a flag into the setting's value, or raises ConfigError."""

    @property
    def allowed(self) -> str:
        """What it accepts, in words: "a whole number from 1 to 64"."""
        ...

    def __call__(self, key: str, value: Any) -> Any: ...


def _refused(key: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"{key} = {value!r} is not allowed: use {allowed}.")


@frozen_record
class WholeNumber:
    low: int
    high: int

    @property
    def allowed(self) -> str:
        return f"a whole number from {self.low} to {self.high}"

    def __call__(self, key: str, value: Any) -> int:
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not self.low <= value <= self.high
        ):
            raise _refused(key, value, self.allowed)
        return value


@frozen_record
class Number:
    low: float
    high: float

    @property
    def allowed(self) -> str:
        return f"a number from {self.low:g} to {self.high:g}"

    def __call__(self, key: str, value: Any) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not self.low <= value <= self.high
        ):
            raise _refused(key, value, self.allowed)
        return float(value)


@frozen_record
class YesNo:
    allowed = "true or false"

    def __call__(self, key: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise _refused(key, value, self.allowed)
        return value


@frozen_record
class OneOf:
    choices: tuple[str, ...]

    @property
    def allowed(self) -> str:
        return "one of " + ", ".join(f'"{choice}"' for choice in self.choices)

    def __call__(self, key: str, value: Any) -> str:
        if value not in self.choices:
            raise _refused(key, value, self.allowed)
        return value


@frozen_record
class FilePath:
    """A path in quotes, ``~`` expanded; with ``optional``, "" means none. ``folder``: a file
    there is refused now, not when the first photo would be filed into it."""

    optional: bool = False
    folder: bool = False

    @property
    def allowed(self) -> str:
        what = "a folder path in quotes" if self.folder else "a file path in quotes"
        return what + (', or "" for none' if self.optional else "")

    def __call__(self, key: str, value: Any) -> Path | None:
        if self.optional and value == "":
            return None
        if not isinstance(value, str | Path) or not str(value).strip():
            raise _refused(key, value, self.allowed)
        path = Path(os.path.expanduser(str(value)))
        if self.folder:
            _check_not_a_file(key, value, path)
        return path


@frozen_record
class CatalogueLocation:
    """The catalogue: a file path in quotes (``~`` expanded), or a PostgreSQL database's
    ``postgresql://`` URL, kept as text (core.catalogue_location)."""

    @property
    def allowed(self) -> str:
        return 'a file path in quotes, or a database as "postgresql://user@host/database"'

    def __call__(self, key: str, value: Any) -> Path | str:
        if isinstance(value, str) and is_server(value.strip()):
            value = value.strip()
            if not value.partition("://")[2]:
                raise _refused(key, value, self.allowed)
            return value
        return FilePath()(key, value)


def _check_not_a_file(key: str, value: Any, path: Path) -> None:
    try:
        is_folder = path.is_dir()
        exists = is_folder or path.exists()
    except OSError:  # cannot look: whoever uses the folder says why
        return
    if exists and not is_folder:
        raise ConfigError(
            f"{key} = {str(value)!r} is a file, not a folder: name a folder (it is created if "
            "it is not there)."
        )


def _with_variables(value: str) -> str:
    """$VARIABLES filled in from the environment; $USER is this user's name even where the
    environment has none (a service)."""
    import getpass

    user = os.environ.get("USER") or getpass.getuser()
    return os.path.expandvars(value.replace("${USER}", user).replace("$USER", user))


@frozen_record
class Folders:
    allowed = 'a list of folders, such as ["~/Inbox"]'
    variables: bool = False  # $USER and the like are filled in ("/media/$USER")

    def __call__(self, key: str, value: Any) -> tuple[Path, ...]:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
            raise _refused(key, value, self.allowed)
        expand = _with_variables if self.variables else str
        paths = tuple(Path(os.path.expanduser(expand(v))) for v in value)
        for given, path in zip(value, paths, strict=True):
            _check_not_a_file(key, given, path)
        return paths


@frozen_record
class Patterns:
    allowed = 'a list of patterns in gitignore syntax, such as ["*.bak", "Exports/"]'

    def __call__(self, key: str, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list | tuple) or not all(isinstance(p, str) for p in value):
            raise _refused(key, value, self.allowed)
        import pathspec  # only needed when there are patterns to check

        for pattern in value:
            try:
                pathspec.GitIgnoreSpec.from_lines([pattern])
            except Exception as error:
                raise ConfigError(
                    f"{key} has a pattern that is not valid gitignore syntax: {pattern!r} "
                    f"({error})."
                ) from error
        return tuple(value)


@frozen_record
class Names:
    allowed = 'a list of names, such as ["web"]'

    def __call__(self, key: str, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise _refused(key, value, self.allowed)
        return tuple(value)


@frozen_record
class PersonName:
    """Who makes the decisions (``triage.name``): printable text, at most 64 characters, with
    no spaces at its ends, so that the log, ``--by NAME`` and the app show it as typed.
    ``$USER`` and ``$HOST`` in it are the user's login name and the machine's name (the
    default is ``$USER@$HOST``), so one settings file serves everyone in a studio."""

    allowed = 'a name of 1 to 64 printable characters, such as "ann@studio" or "$USER@$HOST"'

    def __call__(self, key: str, value: Any) -> str:
        if isinstance(value, str):
            value = value.replace("$USER", login_name()).replace("$HOST", host_name())
        if (
            not isinstance(value, str)
            or not 1 <= len(value) <= 64
            or not value.isprintable()
            or value != value.strip()
        ):
            raise _refused(key, value, self.allowed)
        return value


def login_name() -> str:
    """The user's login name, as ``$USER`` says it (or the system, without it)."""
    name = os.environ.get("USER") or os.environ.get("LOGNAME")
    if name:
        return name
    import getpass  # rarely needed: $USER is set in a login session

    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no name for this uid (a container's bare uid)
        return f"uid{os.getuid()}"


def host_name() -> str:
    # The kernel's node name is what socket.gethostname() returns, without loading socket
    # (every command's start reads the settings).
    return os.uname().nodename or "localhost"


@frozen_record
class Template:
    """A folder or file name under the ingest destination, from the placeholders; ``{seq}``
    (a counter, formatted as a number: ``{seq:04}``) only in a file name."""

    names: bool = False  # a file name's template: {seq} allowed

    @property
    def allowed(self) -> str:
        return "a template in quotes with the placeholders " + " ".join(
            f"{{{name}}}" for name in self._placeholders
        )

    @property
    def _placeholders(self) -> tuple[str, ...]:
        return tuple(p for p in INGEST_PLACEHOLDERS if self.names or p != "seq")

    def __call__(self, key: str, value: Any) -> str:
        import string  # loaded when a template is read (most settings files have none)

        if not isinstance(value, str) or not value.strip():
            raise _refused(key, value, self.allowed)
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
        except ValueError as error:
            raise ConfigError(f"{key} = {value!r} is not a valid template: {error}.") from None
        unknown = [name for name in names if name not in self._placeholders]
        if unknown:
            raise ConfigError(
                f"{key} = {value!r} has an unknown placeholder {{{unknown[0]}}}: use "
                + " ".join(f"{{{name}}}" for name in self._placeholders)
                + "."
            )
        samples: dict[str, object] = {name: "x" for name in self._placeholders}
        samples["seq"] = 1
        try:
            string.Formatter().vformat(value, (), samples)
        except (ValueError, IndexError, KeyError) as error:
            raise ConfigError(f"{key} = {value!r} cannot be filled: {error}.") from None
        if value.startswith("/") or ".." in value.split("/"):
            raise ConfigError(f"{key} = {value!r} must stay inside the destination (no / or ..).")
        return value


@frozen_record
class Keys:
    allowed = 'a key name or a list of them, such as ["a", "p"]'

    def __call__(self, key: str, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(k, str) and k for k in value)
        ):
            raise _refused(key, value, self.allowed)
        return tuple(value)


@frozen_record
class Command:
    allowed = (
        'the program and its arguments as a list, such as ["darktable-cli", "{src}", "{xmp}", '
        '"{out}"]'
    )

    def __call__(self, key: str, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise _refused(key, value, self.allowed)
        return tuple(value)


@frozen_record
class Table:
    """A table whose names are the photographer's own (actions, command stages), each entry
    checked by ``each``."""

    each: Keys | Command
    such_as: str  # one line of it, for the message

    @property
    def allowed(self) -> str:
        return f"a table of lines such as {self.such_as}"

    def __call__(self, key: str, value: Any) -> dict[str, tuple[str, ...]]:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be a table: [{key}] with lines such as {self.such_as}.")
        checked = {}
        for name, entry in value.items():
            try:
                checked[name] = self.each(f"{key}.{name}", entry)
            except ConfigError as error:
                error.key = f"{key}.{name}"
                raise
        return checked
