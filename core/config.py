"""Settings: defaults, the TOML file, command-line overrides, and validation a person understands.

Every setting is declared once in ``SETTINGS`` (key, default, check, help); the README's
configuration reference and ``shootwatch config`` are read from the same table.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

APP_NAME = "shootwatch"
CONFIG_ENV = "SHOOTWATCH_CONFIG"
CATALOGUE_ENV = "SHOOTWATCH_DB"


TABLE_SETTINGS = ("keys", "stages.commands")  # tables whose names are the user's own


class ConfigError(ValueError):
    """A setting has a value that is not allowed; the message is one sentence for a person."""


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def default_catalogue_path() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME)) / "catalogue.db"


@dataclass(frozen=True)
class Setting:
    key: str  # dotted: "scan.workers"
    default: Callable[[], Any]
    check: Callable[[str, Any], Any]  # returns the parsed value or raises ConfigError
    help: str


def _whole_number(low: int, high: int) -> Callable[[str, Any], int]:
    def check(key: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(
                f"{key} = {value!r} is not allowed: use a whole number from {low} to {high}."
            )
        return value

    return check


def _path(key: str, value: Any) -> Path:
    if not isinstance(value, str | Path) or not str(value).strip():
        raise ConfigError(f"{key} = {value!r} is not allowed: use a file path in quotes.")
    return Path(os.path.expanduser(str(value)))


def _patterns(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(p, str) for p in value):
        raise ConfigError(
            f"{key} = {value!r} is not allowed: use a list of patterns in gitignore syntax, "
            'such as ["*.bak", "Exports/"].'
        )
    import pathspec  # only needed when there are patterns to check

    for pattern in value:
        try:
            pathspec.GitIgnoreSpec.from_lines([pattern])
        except Exception as error:
            raise ConfigError(
                f"{key} has a pattern that is not valid gitignore syntax: {pattern!r} ({error})."
            ) from error
    return tuple(value)


def _seconds(low: float, high: float) -> Callable[[str, Any], float]:
    def check(key: str, value: Any) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not low <= value <= high
        ):
            raise ConfigError(
                f"{key} = {value!r} is not allowed: use a number from {low:g} to {high:g}."
            )
        return float(value)

    return check


def _optional_path(key: str, value: Any) -> Path | None:
    if value == "":
        return None
    return _path(key, value)


def default_preview_cache() -> Path:
    return Path(platformdirs.user_cache_dir(APP_NAME)) / "previews"


def default_darktable_library() -> Path:
    # darktable's own default: $XDG_CONFIG_HOME/darktable/library.db
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return Path(base) / "darktable" / "library.db"


def _yes_no(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key} = {value!r} is not allowed: use true or false.")
    return value


def _one_of(*choices: str) -> Callable[[str, Any], str]:
    def check(key: str, value: Any) -> str:
        if value not in choices:
            raise ConfigError(
                f"{key} = {value!r} is not allowed: use one of "
                + ", ".join(f'"{choice}"' for choice in choices)
                + "."
            )
        return value

    return check


def _command(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(
            f"{key} = {value!r} is not allowed: use the program and its arguments as a list, "
            'such as ["darktable-cli", "{src}", "{xmp}", "{out}"].'
        )
    return tuple(value)


def _keys(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(k, str) and k for k in value):
        raise ConfigError(
            f"{key} = {value!r} is not allowed: use a key name or a list of them, "
            'such as ["a", "p"].'
        )
    return tuple(value)


def _names(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError(
            f'{key} = {value!r} is not allowed: use a list of names, such as ["web"].'
        )
    return tuple(value)


# What ingest folder and name templates may say: the capture date (the camera's own day), the
# camera, and the original name. One place: core.ingest.plan fills them.
INGEST_PLACEHOLDERS = ("year", "month", "day", "camera", "make", "model", "stem")


def _template(key: str, value: Any) -> str:
    import string

    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key} = {value!r} is not allowed: use a template in quotes.")
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
    except ValueError as error:
        raise ConfigError(f"{key} = {value!r} is not a valid template: {error}.") from None
    unknown = [name for name in fields if name not in INGEST_PLACEHOLDERS]
    if unknown:
        raise ConfigError(
            f"{key} = {value!r} has an unknown placeholder {{{unknown[0]}}}: use "
            + " ".join(f"{{{name}}}" for name in INGEST_PLACEHOLDERS)
            + "."
        )
    if value.startswith("/") or ".." in value.split("/"):
        raise ConfigError(f"{key} = {value!r} must stay inside the destination (no / or ..).")
    return value


def _paths(key: str, value: Any) -> tuple[Path, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(
            f'{key} = {value!r} is not allowed: use a list of folders, such as ["~/Inbox"].'
        )
    return tuple(Path(os.path.expanduser(v)) for v in value)


def _default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "catalogue",
        default_catalogue_path,
        _path,
        "The SQLite catalogue file (created on first use). `--db` overrides it.",
    ),
    Setting(
        "scan.ignore",
        tuple,
        _patterns,
        "Extra files and folders to leave out, in gitignore syntax, on top of the built-in "
        "rules (hidden names, *~, *.tmp, *.part, .DS_Store, Thumbs.db, @eaDir).",
    ),
    Setting(
        "scan.workers",
        _default_workers,
        _whole_number(1, 64),
        "Processes that walk and hash in parallel during a scan (default: one per core, at "
        "most 8). 1 scans in the calling process.",
    ),
    Setting(
        "scan.hash_retries",
        lambda: 3,
        _whole_number(0, 20),
        "How many times a file that changes while it is hashed is hashed again before it is "
        "recorded as still being written.",
    ),
    Setting(
        "watch.debounce_ms",
        lambda: 200,
        _whole_number(10, 10_000),
        "How long the watcher gathers a burst of changes before acting on it (milliseconds).",
    ),
    Setting(
        "watch.settle_seconds",
        lambda: 2.0,
        _seconds(0, 600),
        "A file is recorded once it has not changed for this long, so copies in progress are "
        "never recorded half-written.",
    ),
    Setting(
        "engine.reconcile_hours",
        lambda: 6.0,
        _seconds(0.01, 24 * 30),
        "How often the engine reconciles every root as a backstop to the watcher (with up to "
        "10% jitter); it also does so at start and after any watcher trouble.",
    ),
    Setting(
        "engine.fallback_minutes",
        lambda: 5.0,
        _seconds(0.05, 24 * 60),
        "How often a root that cannot be watched (watch limit reached, network file system "
        "without notifications) is scanned instead.",
    ),
    Setting(
        "media.preview_long_edge",
        lambda: 1600,
        _whole_number(160, 8192),
        "The long edge of the previews shown in triage (pixels).",
    ),
    Setting(
        "media.preview_cache",
        default_preview_cache,
        _path,
        "Where previews are kept, by content hash (default: ~/.cache/shootwatch/previews).",
    ),
    Setting(
        "media.preview_cache_mb",
        lambda: 2048,
        _whole_number(16, 1024 * 1024),
        "How large the preview cache may grow (MB); the least recently shown go first.",
    ),
    Setting(
        "triage.write_sidecars",
        lambda: False,
        _yes_no,
        "Also write each decision into the photo's XMP sidecar (xmp:Rating, -1 for a reject, "
        "and xmp:Label), keeping everything else in it; a sidecar that changed since it was "
        "read is left alone, with a warning.",
    ),
    Setting(
        "tui.renderer",
        lambda: "auto",
        _one_of("auto", "halfblock", "sixel", "kitty"),
        'How photos are drawn: "auto" asks the terminal before the app starts (sixel or kitty '
        "graphics where the terminal has them, coloured half-blocks elsewhere, as in tmux).",
    ),
    Setting(
        "tui.colors",
        lambda: "auto",
        _one_of("auto", "truecolor", "256"),
        'Colours: "auto" uses 24-bit colour when COLORTERM says so or inside tmux; "256" for '
        "terminals without it (photos look posterised).",
    ),
    Setting(
        "tui.auto_advance",
        lambda: True,
        _yes_no,
        "After approve or reject, show the next photo (toggle in the app with `n`).",
    ),
    Setting(
        "tui.prefetch",
        lambda: 3,
        _whole_number(0, 20),
        "Photos before and after the one on screen that are decoded and drawn ahead of time.",
    ),
    Setting(
        "keys",
        dict,
        lambda key, value: value,
        "The keymap: a table of action = key or list of keys, replacing that action's keys, "
        'such as `approve = ["a", "enter"]` under `[keys]`; `?` in the app lists the actions.',
    ),
    Setting(
        "stages.output",
        lambda: Path(platformdirs.user_data_dir(APP_NAME)) / "art",
        _path,
        "Where stages put what they make, one flat folder per stage (art/<stage>/<photo>.<ext>"
        " under it); inside a root it is left out of the catalogue.",
    ),
    Setting(
        "stages.enabled",
        lambda: ("thumb", "web", "blurhash"),
        _names,
        "The built-in stages that run on approved photos: thumb (400 px JPEG), web (2048 px "
        "JPEG, sRGB, upright), blurhash (of the thumb), preview (the triage preview, kept for "
        "every photo); [] for none. Command stages are on when configured.",
    ),
    Setting(
        "stages.web_keep_metadata",
        lambda: False,
        _yes_no,
        "Keep the EXIF (camera, lens, time, GPS) in web JPEGs; off strips everything.",
    ),
    Setting(
        "stages.max_attempts",
        lambda: 3,
        _whole_number(1, 20),
        "How often a job is tried before it counts as failed (retries wait 30 s, 60 s, …).",
    ),
    Setting(
        "stages.workers",
        _default_workers,
        _whole_number(1, 64),
        "Jobs run at once (default: one per core); command stages run at most 2 at once.",
    ),
    Setting(
        "stages.commands",
        dict,
        lambda key, value: value,
        "Command stages: name = the program and its arguments, run without a shell on each "
        'approved photo, such as export = ["darktable-cli", "{src}", "{xmp}", "{out}", '
        '"--width", "2048"] under [stages.commands]. Placeholders: {src} {xmp} {out} {stem} '
        "{photo} {outdir}.",
    ),
    Setting(
        "ingest.destination",
        lambda: None,
        _optional_path,
        "The library folder photos from inbox roots are filed into (it becomes a root if it "
        'is not in one); "" = no ingest. Inbox roots: shootwatch add PATH --kind inbox.',
    ),
    Setting(
        "ingest.inboxes",
        tuple,
        _paths,
        "Folders cards are copied into, filed into the destination: each becomes an inbox "
        "root (as shootwatch add PATH --kind inbox does).",
    ),
    Setting(
        "ingest.folders",
        lambda: "{year}/{year}-{month}-{day}",
        _template,
        "The folder under the destination for each photo, from its capture date (the "
        "camera's own day): {year} {month} {day} {camera} {make} {model} {stem}.",
    ),
    Setting(
        "ingest.names",
        lambda: "{stem}",
        _template,
        "The file name before its extensions ({stem} = the original name's); a RAW, its "
        "JPEG and its sidecar keep one name. Same placeholders as ingest.folders.",
    ),
    Setting(
        "ingest.settle_seconds",
        lambda: 5.0,
        _seconds(0.0, 3600.0),
        "A file is filed once its size and time have not changed for this long (seconds).",
    ),
    Setting(
        "ingest.undated",
        lambda: "undated",
        _template,
        "The folder under the destination for photos without a believable date (none in "
        "the EXIF or the file, or before 1990, or in the future).",
    ),
    Setting(
        "ingest.duplicates",
        lambda: ".duplicates",
        _template,
        "Where a file already in the catalogue goes, inside its inbox (a hidden folder is "
        "never catalogued).",
    ),
    Setting(
        "ingest.delete_duplicates",
        lambda: False,
        _yes_no,
        "Delete duplicates instead of moving them aside (the catalogue has the same content "
        "elsewhere).",
    ),
    Setting(
        "darktable.library",
        default_darktable_library,
        _path,
        "darktable's library.db, read read-only (default: darktable's own, "
        "~/.config/darktable/library.db). When it is not there and not set here, the darktable "
        "poller is off.",
    ),
    Setting(
        "darktable.data",
        lambda: None,
        _optional_path,
        'darktable\'s data.db, where tag names live ("" = the data.db beside library.db).',
    ),
    Setting(
        "darktable.poll_seconds",
        lambda: 60.0,
        _seconds(1, 24 * 3600),
        "How often library.db is read when it has not changed (it is also read about a second "
        "after darktable writes it).",
    ),
    Setting(
        "darktable.quiet_seconds",
        lambda: 1.0,
        _seconds(0.3, 60),
        "How long library.db must be quiet after darktable writes it before it is read: reading "
        "while darktable writes could cost darktable an edit.",
    ),
)

_BY_KEY = {setting.key: setting for setting in SETTINGS}


@dataclass(frozen=True)
class ScanSettings:
    ignore: tuple[str, ...] = ()
    workers: int = field(default_factory=_default_workers)
    hash_retries: int = 3
    # shootwatch's own output folders (stage artifacts, the preview cache): never catalogued,
    # even when one lies inside a root, or every thumb would become a photo with a thumb.
    own_folders: tuple[str, ...] = ()


@dataclass(frozen=True)
class WatchSettings:
    debounce_ms: int = 200
    settle_seconds: float = 2.0


@dataclass(frozen=True)
class EngineSettings:
    reconcile_hours: float = 6.0
    fallback_minutes: float = 5.0


@dataclass(frozen=True)
class MediaSettings:
    preview_long_edge: int = 1600
    preview_cache: Path = field(default_factory=default_preview_cache)
    preview_cache_mb: int = 2048


@dataclass(frozen=True)
class TriageSettings:
    write_sidecars: bool = False


@dataclass(frozen=True)
class StageSettings:
    output: Path = field(default_factory=lambda: Path(platformdirs.user_data_dir(APP_NAME)) / "art")
    enabled: tuple[str, ...] = ("thumb", "web", "blurhash")
    web_keep_metadata: bool = False
    max_attempts: int = 3
    workers: int = field(default_factory=_default_workers)
    commands: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # name -> argv


@dataclass(frozen=True)
class IngestSettings:
    destination: Path | None = None
    inboxes: tuple[Path, ...] = ()
    folders: str = "{year}/{year}-{month}-{day}"
    names: str = "{stem}"
    settle_seconds: float = 5.0
    undated: str = "undated"
    duplicates: str = ".duplicates"
    delete_duplicates: bool = False


@dataclass(frozen=True)
class TuiSettings:
    renderer: str = "auto"
    colors: str = "auto"
    auto_advance: bool = True
    prefetch: int = 3
    keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # action -> keys


@dataclass(frozen=True)
class DarktableSettings:
    library: Path = field(default_factory=default_darktable_library)
    data: Path | None = None
    poll_seconds: float = 60.0
    quiet_seconds: float = 1.0
    explicit: bool = False  # library.db was named in the settings, not taken by default


@dataclass(frozen=True)
class Settings:
    catalogue: Path
    scan: ScanSettings
    config_file: Path | None  # the file that was read, if any
    watch: WatchSettings = field(default_factory=WatchSettings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    darktable: DarktableSettings = field(default_factory=DarktableSettings)
    media: MediaSettings = field(default_factory=MediaSettings)
    triage: TriageSettings = field(default_factory=TriageSettings)
    tui: TuiSettings = field(default_factory=TuiSettings)
    stages: StageSettings = field(default_factory=StageSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if dotted in TABLE_SETTINGS and isinstance(value, Mapping):
            flat[dotted] = {f"{dotted}.{name}": item for name, item in value.items()}
        elif isinstance(value, Mapping):
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def read_config_file(path: Path) -> dict[str, Any]:
    """The file's settings as dotted keys; a missing default file is simply no settings."""
    try:
        with path.open("rb") as handle:
            table = tomllib.load(handle)
    except FileNotFoundError:
        raise  # the caller decides whether a missing file is an error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}.") from error
    except UnicodeDecodeError as error:  # TOML is UTF-8; a file saved as Latin-1 is not
        line = error.object[: error.start].count(b"\n") + 1
        raise ConfigError(
            f"{path} is not UTF-8 text (byte 0x{error.object[error.start]:02x} on line {line}): "
            "save it as UTF-8."
        ) from error
    except OSError as error:
        raise ConfigError(f"{path} cannot be read: {error.strerror or error}.") from error
    flat = _flatten(table)
    for key in flat:
        if key not in _BY_KEY:
            known = ", ".join(sorted(_BY_KEY))
            raise ConfigError(f"{path}: unknown setting {key!r} (known settings: {known}).")
    return flat


def load_settings(
    config_path: Path | str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Defaults, then the config file, then ``overrides`` (command-line flags; None = not given).

    ``config_path`` None means the default location (or $SHOOTWATCH_CONFIG), which may be absent;
    a path given explicitly must exist.
    """
    explicit = config_path is not None or CONFIG_ENV in os.environ
    path = Path(config_path or os.environ.get(CONFIG_ENV) or default_config_path()).expanduser()
    try:
        from_file = read_config_file(path)
        read_from: Path | None = path
    except FileNotFoundError:
        if explicit:
            raise ConfigError(
                f"config file {path} does not exist: create it or leave out --config."
            ) from None
        from_file, read_from = {}, None

    values: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.key == "keys":  # one table, checked per action; the app knows the actions
            if not isinstance(from_file.get("keys", {}), Mapping):
                raise ConfigError('keys must be a table: [keys] with lines such as approve = "a".')
            values["keys"] = {
                dotted.removeprefix("keys."): _keys(dotted, keys)
                for dotted, keys in from_file.get("keys", {}).items()
            }
        elif setting.key == "stages.commands":
            table = from_file.get("stages.commands", {})
            if not isinstance(table, Mapping):
                raise ConfigError("stages.commands must be a table: [stages.commands].")
            values["stages.commands"] = {
                dotted.removeprefix("stages.commands."): _command(dotted, argv)
                for dotted, argv in table.items()
            }
        elif setting.key in from_file:
            values[setting.key] = setting.check(setting.key, from_file[setting.key])
        else:
            values[setting.key] = setting.default()
    if CATALOGUE_ENV in os.environ:
        values["catalogue"] = _path(CATALOGUE_ENV, os.environ[CATALOGUE_ENV])
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = _BY_KEY[key].check(key, value)

    return Settings(
        catalogue=values["catalogue"],
        scan=ScanSettings(
            ignore=values["scan.ignore"],
            workers=values["scan.workers"],
            hash_retries=values["scan.hash_retries"],
            own_folders=(str(values["stages.output"]), str(values["media.preview_cache"])),
        ),
        config_file=read_from,
        watch=WatchSettings(
            debounce_ms=values["watch.debounce_ms"],
            settle_seconds=values["watch.settle_seconds"],
        ),
        engine=EngineSettings(
            reconcile_hours=values["engine.reconcile_hours"],
            fallback_minutes=values["engine.fallback_minutes"],
        ),
        media=MediaSettings(
            preview_long_edge=values["media.preview_long_edge"],
            preview_cache=values["media.preview_cache"],
            preview_cache_mb=values["media.preview_cache_mb"],
        ),
        triage=TriageSettings(write_sidecars=values["triage.write_sidecars"]),
        stages=StageSettings(
            output=values["stages.output"],
            enabled=values["stages.enabled"],
            web_keep_metadata=values["stages.web_keep_metadata"],
            max_attempts=values["stages.max_attempts"],
            workers=values["stages.workers"],
            commands=values["stages.commands"],
        ),
        ingest=IngestSettings(
            destination=values["ingest.destination"],
            inboxes=values["ingest.inboxes"],
            folders=values["ingest.folders"],
            names=values["ingest.names"],
            settle_seconds=values["ingest.settle_seconds"],
            undated=values["ingest.undated"],
            duplicates=values["ingest.duplicates"],
            delete_duplicates=values["ingest.delete_duplicates"],
        ),
        tui=TuiSettings(
            renderer=values["tui.renderer"],
            colors=values["tui.colors"],
            auto_advance=values["tui.auto_advance"],
            prefetch=values["tui.prefetch"],
            keys=values["keys"],
        ),
        darktable=DarktableSettings(
            library=values["darktable.library"],
            data=values["darktable.data"],
            poll_seconds=values["darktable.poll_seconds"],
            quiet_seconds=values["darktable.quiet_seconds"],
            explicit="darktable.library" in from_file
            or (overrides or {}).get("darktable.library") is not None,
        ),
    )


def setting_values(settings: Settings) -> dict[str, Any]:
    """The settings in effect by dotted key, as they would be written in the TOML file."""
    return {
        "catalogue": str(settings.catalogue),
        "scan.ignore": list(settings.scan.ignore),
        "scan.workers": settings.scan.workers,
        "scan.hash_retries": settings.scan.hash_retries,
        "watch.debounce_ms": settings.watch.debounce_ms,
        "watch.settle_seconds": settings.watch.settle_seconds,
        "engine.reconcile_hours": settings.engine.reconcile_hours,
        "engine.fallback_minutes": settings.engine.fallback_minutes,
        "media.preview_long_edge": settings.media.preview_long_edge,
        "media.preview_cache": str(settings.media.preview_cache),
        "media.preview_cache_mb": settings.media.preview_cache_mb,
        "triage.write_sidecars": settings.triage.write_sidecars,
        "tui.renderer": settings.tui.renderer,
        "tui.colors": settings.tui.colors,
        "tui.auto_advance": settings.tui.auto_advance,
        "tui.prefetch": settings.tui.prefetch,
        "keys": {action: list(keys) for action, keys in settings.tui.keys.items()},
        "stages.output": str(settings.stages.output),
        "stages.enabled": list(settings.stages.enabled),
        "stages.web_keep_metadata": settings.stages.web_keep_metadata,
        "stages.max_attempts": settings.stages.max_attempts,
        "stages.workers": settings.stages.workers,
        "stages.commands": {name: list(argv) for name, argv in settings.stages.commands.items()},
        "ingest.destination": str(settings.ingest.destination or ""),
        "ingest.inboxes": [str(path) for path in settings.ingest.inboxes],
        "ingest.folders": settings.ingest.folders,
        "ingest.names": settings.ingest.names,
        "ingest.settle_seconds": settings.ingest.settle_seconds,
        "ingest.undated": settings.ingest.undated,
        "ingest.duplicates": settings.ingest.duplicates,
        "ingest.delete_duplicates": settings.ingest.delete_duplicates,
        "darktable.library": str(settings.darktable.library),
        "darktable.data": str(settings.darktable.data or ""),
        "darktable.poll_seconds": settings.darktable.poll_seconds,
        "darktable.quiet_seconds": settings.darktable.quiet_seconds,
    }
