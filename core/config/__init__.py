"""Settings: each one declared once, on the dataclass field that holds it (type, default, check
and help together), and everything else read from those declarations.

- ``settings``: the dataclasses every other module reads (``settings.scan.workers``);
- ``checks``: what a value may be, and the sentence that says so when it is not;
- ``declaration``: ``setting()``, the field that carries one, and ``Setting``, what is read
  back from it (``SETTINGS`` holds them all, in order);
- ``loading``: defaults, the TOML file, $SHOOTWATCH_DB and command-line flags, checked;
- ``reference``: ``shootwatch config`` and the configuration reference in docs/settings.md
  (``python3 -m core.config --markdown``, ``--update docs/settings.md``).
"""

from typing import TYPE_CHECKING

from core.config.checks import INGEST_PLACEHOLDERS, ConfigError
from core.config.declaration import Setting
from core.config.loading import CATALOGUE_ENV, CONFIG_ENV, load_settings
from core.config.settings import (
    APP_NAME,
    SETTINGS,
    DarktableSettings,
    EngineSettings,
    IngestSettings,
    MediaSettings,
    ScanSettings,
    Settings,
    StageSettings,
    TriageSettings,
    TuiSettings,
    WatchSettings,
    default_catalogue_path,
    default_config_path,
    default_darktable_library,
    default_preview_cache,
    default_stage_output,
    default_workers,
)

if TYPE_CHECKING:
    from core.config.reference import reference_markdown, settings_toml, toml_value

# The reference (``shootwatch config``, docs/settings.md) is loaded when asked for: every
# command's start reads the settings, few print them.
_REFERENCE = ("reference_markdown", "settings_toml", "toml_value")


def __getattr__(name: str) -> object:
    if name not in _REFERENCE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from core.config import reference

    return getattr(reference, name)


__all__ = [
    "APP_NAME",
    "CATALOGUE_ENV",
    "CONFIG_ENV",
    "INGEST_PLACEHOLDERS",
    "SETTINGS",
    "ConfigError",
    "DarktableSettings",
    "EngineSettings",
    "IngestSettings",
    "MediaSettings",
    "ScanSettings",
    "Setting",
    "Settings",
    "StageSettings",
    "TriageSettings",
    "TuiSettings",
    "WatchSettings",
    "default_catalogue_path",
    "default_config_path",
    "default_darktable_library",
    "default_preview_cache",
    "default_stage_output",
    "default_workers",
    "load_settings",
    "reference_markdown",
    "settings_toml",
    "toml_value",
]
