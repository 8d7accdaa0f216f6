"""The settings, each declared once on the field that holds it: its type, default, check and
help. Every other module reads these dataclasses (``settings.scan.workers``); the file, the flags,
``shootwatch config`` and the reference in docs/settings.md are read from the declarations."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from core.config.checks import (
    CatalogueLocation,
    Command,
    FilePath,
    Folders,
    Keys,
    Names,
    Number,
    OneOf,
    Patterns,
    PersonName,
    Table,
    Template,
    WholeNumber,
    YesNo,
    host_name,
    login_name,
)
from core.config.declaration import declared_in, section_types, setting
from core.darktable.facts import MIN_POLL_SECONDS, SAFE_QUIET_SECONDS
from core.records import field, frozen_record
from core.scan.ignore import BUILTIN_RULES

APP_NAME = "shootwatch"
# The burst rules' defaults (core.triage.bursts says what they were measured on). Here, with
# the settings they are the defaults of, so that reading the settings loads no triage code.
DEFAULT_GAP_SECONDS = 2.0
DEFAULT_HASH_DISTANCE = 16


def _xdg_folder(variable: str, fallback: str) -> Path:
    """A folder of the XDG Base Directory specification: ``$variable`` when it is an absolute
    path (the specification says to ignore a relative one), else ``~/fallback``."""
    value = os.environ.get(variable, "").strip()
    return Path(value) if os.path.isabs(value) else Path(os.path.expanduser("~")) / fallback


def default_config_path() -> Path:
    return _xdg_folder("XDG_CONFIG_HOME", ".config") / APP_NAME / "config.toml"


def default_catalogue_path() -> Path:
    return _xdg_folder("XDG_DATA_HOME", ".local/share") / APP_NAME / "catalogue.db"


def default_preview_cache() -> Path:
    return _xdg_folder("XDG_CACHE_HOME", ".cache") / APP_NAME / "previews"


def default_stage_output() -> Path:
    return _xdg_folder("XDG_DATA_HOME", ".local/share") / APP_NAME / "art"


def default_darktable_library() -> Path:
    return _xdg_folder("XDG_CONFIG_HOME", ".config") / "darktable" / "library.db"  # darktable's


def default_person_name() -> str:
    """``$USER@$HOST``: who decides, when ``triage.name`` does not say."""
    return PersonName()("triage.name", f"{login_name()}@{host_name()}"[:64])


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


@frozen_record
class ScanSettings:
    ignore: tuple[str, ...] = setting(
        (),
        check=Patterns(),
        help="Extra files and folders to leave out, in gitignore syntax, on top of the built-in "
        f"rules ({BUILTIN_RULES}).",
        example=["*.bak", "Exports/"],
    )
    workers: int = setting(
        factory=default_workers,
        check=WholeNumber(1, 64),
        help="Processes that walk and hash in parallel during a scan; 1 scans in the calling "
        "process.",
        example=2,
        default_doc="one per core, at most 8",
    )
    hash_retries: int = setting(
        3,
        check=WholeNumber(0, 20),
        help="How many times a file that changes while it is hashed is hashed again before it "
        "is recorded as still being written.",
    )
    # shootwatch's own output folders (stage artifacts, the preview cache): never catalogued,
    # even when one lies inside a root, or every thumb would become a photo with a thumb.
    own_folders: tuple[str, ...] = ()


@frozen_record
class WatchSettings:
    debounce_ms: int = setting(
        200,
        check=WholeNumber(10, 10_000),
        help="How long the watcher gathers a burst of changes before acting on it (milliseconds).",
    )
    settle_seconds: float = setting(
        2.0,
        check=Number(0, 600),
        help="A file is recorded once it has not changed for this long (seconds), so copies in "
        "progress are never recorded half-written.",
    )


@frozen_record
class EngineSettings:
    reconcile_hours: float = setting(
        6.0,
        check=Number(0.01, 24 * 30),
        help="How often the engine reconciles every root as a backstop to the watcher (hours, "
        "with up to 10% jitter); it also does so at start and after any watcher trouble.",
    )
    fallback_minutes: float = setting(
        5.0,
        check=Number(0.05, 24 * 60),
        help="How often a root that cannot be watched (watch limit reached, a network file "
        "system without notifications) is scanned instead (minutes).",
    )


@frozen_record
class MediaSettings:
    preview_long_edge: int = setting(
        1600,
        check=WholeNumber(160, 8192),
        help="The long edge of the previews shown in triage (pixels).",
    )
    preview_cache: Path = setting(
        factory=default_preview_cache,
        check=FilePath(folder=True),
        help="Where previews are kept, by content hash, one folder per preview size (readable "
        "by you only).",
        default_doc="~/.cache/shootwatch/previews",
    )
    preview_cache_mb: int = setting(
        2048,
        check=WholeNumber(16, 1024 * 1024),
        help="How large the preview cache may grow (MB); the least recently shown go first.",
    )


@frozen_record
class TriageSettings:
    name: str = setting(
        factory=default_person_name,
        check=PersonName(),
        help="Who makes the decisions, recorded with each one: the decision log, undo and redo "
        "are per person, and several people (on one machine, or on a shared PostgreSQL "
        "catalogue) cull one shoot each with their own. $USER and $HOST in it are the login "
        "name and the machine's name, so one settings file serves a studio. 'shootwatch "
        "decide --as NAME' (and keep, undo, redo) says it for one command.",
        default_doc="$USER@$HOST",
    )
    write_sidecars: bool = setting(
        False,
        check=YesNo(),
        help="Also write each decision into the photo's XMP sidecars: xmp:Rating (-1 for a "
        "reject), the colour labels and digiKam's pick (digiKam:PickLabel 3 approved, 1 "
        "rejected), only the fields the decision changes, nothing else. "
        "Undo puts back exactly what they had. A sidecar that changed since shootwatch last "
        "read or wrote it is left alone, and the photo's card says so.",
    )
    sidecar_names: str = setting(
        "darktable",
        check=OneOf(("darktable", "adobe", "both")),
        help='Which sidecars decisions are written into: "darktable" (IMG_1.CR2.xmp, '
        "darktable's name, digiKam's by default), \"adobe\" (IMG_1.xmp, Lightroom's and "
        'Bridge\'s) or "both".',
    )
    burst_gap_seconds: float = setting(
        DEFAULT_GAP_SECONDS,
        check=Number(0.0, 60.0),
        help="Consecutive photos of one camera body at most this far apart in capture time "
        "(seconds), and alike in look, are one burst; two visits to one spot further apart are "
        "two. Photos are grouped as they are measured; after a change, 'shootwatch bursts "
        "--regroup' groups those measured before again.",
    )
    burst_hash_distance: int = setting(
        DEFAULT_HASH_DISTANCE,
        check=WholeNumber(0, 64),
        help="How many of the 64 bits of two photos' perceptual hashes may differ for them to "
        "be one burst (16 keeps a 5 % shift, a stop of exposure or blur together; different "
        "photos measured 22 or more apart).",
    )


@frozen_record
class DarktableSettings:
    library: Path = setting(
        factory=default_darktable_library,
        check=FilePath(),
        help="darktable's library.db, read read-only. When it is not there and not set here, "
        "the darktable poller is off (not an error).",
        default_doc="~/.config/darktable/library.db",
    )
    data: Path | None = setting(
        None,
        check=FilePath(optional=True),
        help='darktable\'s data.db, where tag names live ("" = looked for: beside library.db, '
        "in a config folder with a darktablerc beside the library's folder, in darktable's "
        "default config folder).",
    )
    poll_seconds: float = setting(
        60.0,
        check=Number(MIN_POLL_SECONDS, 24 * 3600),
        help="How often library.db is read when it has not changed (seconds); it is also read "
        "about a second after darktable writes it. Every read, timed or not, waits for "
        "quiet_seconds of quiet.",
    )
    quiet_seconds: float = setting(
        1.0,
        check=Number(SAFE_QUIET_SECONDS, 60),
        help="How long library.db must be quiet after darktable writes it before it is read "
        "(seconds): reading while darktable writes could cost darktable an edit.",
    )
    explicit: bool = False  # library.db was named in the settings, not taken by default


@frozen_record
class StageSettings:
    output: Path = setting(
        factory=default_stage_output,
        check=FilePath(folder=True),
        help="Where stages put what they make, one flat folder per stage "
        "(art/<stage>/<photo>.<ext>); inside a root it is left out of the catalogue.",
        default_doc="~/.local/share/shootwatch/art",
    )
    enabled: tuple[str, ...] = setting(
        ("thumb", "web", "blurhash"),
        check=Names(),
        help="The built-in stages that run on approved photos: thumb (400 px JPEG), web (2048 px "
        "JPEG, sRGB, upright), blurhash (of the thumb), preview (the triage preview, kept for "
        "every photo); [] for none. Command stages are on when configured.",
    )
    web_keep_metadata: bool = setting(
        False,
        check=YesNo(),
        help="Keep the EXIF (camera, lens, time, GPS) in web JPEGs; false strips everything.",
    )
    max_attempts: int = setting(
        3,
        check=WholeNumber(1, 20),
        help="How often a job is tried before it counts as failed (retries wait 30 s, 60 s, ...).",
    )
    workers: int = setting(
        factory=default_workers,
        check=WholeNumber(1, 64),
        help="Jobs run at once; command stages run at most 2 at once.",
        example=2,
        default_doc="one per core, at most 8",
    )
    commands: Mapping[str, tuple[str, ...]] = setting(  # name -> argv
        factory=dict,
        check=Table(Command(), 'export = ["darktable-cli", "{src}", "{xmp}", "{out}"]'),
        help="Command stages: a name, and the program with its arguments, run without a shell "
        "on each approved photo. Placeholders: {src} {xmp} {out} {stem} {photo} {outdir}.",
        example={"export": ["darktable-cli", "{src}", "{xmp}", "{out}", "--width", "2048"]},
    )


@frozen_record
class IngestSettings:
    destination: Path | None = setting(
        None,
        check=FilePath(optional=True, folder=True),
        help="The library folder photos from inbox roots are filed into (it becomes a root if "
        'it is not in one); "" = no ingest. Inbox roots: shootwatch add PATH --kind inbox.',
        example="~/Pictures/Originals",
    )
    backup: Path | None = setting(
        None,
        check=FilePath(optional=True, folder=True),
        help="A second folder, best on another drive, that 'shootwatch ingest --from CARD' also "
        "copies each card file into (same folders and names as in the destination), each copy "
        'read back and verified; "" = one copy only.',
        example="/mnt/backup/Originals",
    )
    inboxes: tuple[Path, ...] = setting(
        (),
        check=Folders(),
        help="Folders cards are copied into, filed into the destination: each becomes an inbox "
        "root (as shootwatch add PATH --kind inbox does).",
        example=["~/Inbox"],
    )
    cards: tuple[Path, ...] = setting(
        (),
        check=Folders(variables=True),
        help="Folders where cards appear when inserted (each card mounted in one of them, or "
        "one level below): while the engine runs, a card with a DCIM folder mounted there is "
        "copied into ingest.destination and ingest.backup (as 'shootwatch ingest --from CARD' "
        "does), and the status line says when it is safe to format. $USER is filled in.",
        example=["/media/$USER", "/run/media/$USER"],
    )
    folders: str = setting(
        "{year}/{year}-{month}-{day}",
        check=Template(),
        help="The folder under the destination for each photo, from its capture date (the "
        "camera's own day).",
    )
    names: str = setting(
        "{stem}",
        check=Template(names=True),
        help="The file name before its extensions ({stem} = the original name's); a RAW, its "
        "JPEG and its sidecar keep one name. An ingest from a card also fills {seq} (a "
        "counter per job when the name has {job}, else per day, e.g. {seq:04}), {job} "
        "(ingest --from CARD --job NAME) and {card} (the card's label); {time} is the "
        "capture time, HHMMSS.",
    )
    settle_seconds: float = setting(
        5.0,
        check=Number(0, 3600),
        help="A file is filed once its size and time have not changed for this long (seconds).",
    )
    undated: str = setting(
        "undated",
        check=Template(),
        help="The folder under the destination for photos without a believable date (none in "
        "the EXIF or the file, or before 1990, or in the future).",
    )
    duplicates: str = setting(
        ".duplicates",
        check=Template(),
        help="Where a file already in the catalogue goes, inside its inbox (a hidden folder is "
        "never catalogued).",
    )
    delete_duplicates: bool = setting(
        False,
        check=YesNo(),
        help="Delete duplicates instead of moving them aside (the catalogue has the same "
        "content elsewhere).",
    )


@frozen_record
class TuiSettings:
    renderer: str = setting(
        "auto",
        check=OneOf(("auto", "halfblock", "sixel", "kitty")),
        help='How photos are drawn: "auto" asks the terminal before the app starts: kitty '
        "graphics (kitty, Ghostty) or sixel (foot, WezTerm, iTerm2, ...) where it has them, "
        "coloured half-blocks elsewhere. Inside tmux the terminal tmux runs in is asked of tmux, "
        "and real pixels need 'set -g allow-passthrough on' in ~/.tmux.conf (without it, "
        'half-blocks and a note saying so). "kitty" or "sixel" force one, "halfblock" the '
        "fallback that works everywhere.",
    )
    colors: str = setting(
        "auto",
        check=OneOf(("auto", "truecolor", "256")),
        help='"auto" uses 24-bit colour when COLORTERM says so or inside tmux; "truecolor" '
        'forces it, "256" is for terminals without it and for slow links (photos look '
        "posterised; a photo change at 160x48 is about 40 KB instead of 75 KB).",
    )
    auto_advance: bool = setting(
        True,
        check=YesNo(),
        help="After approve or reject, show the next photo (n toggles it in the app).",
    )
    prefetch: int = setting(
        3,
        check=WholeNumber(0, 20),
        help="Photos before and after the one on screen decoded and drawn ahead of time.",
    )
    keys: Mapping[str, tuple[str, ...]] = setting(  # action -> keys
        factory=dict,
        check=Table(Keys(), 'approve = "a"'),
        help="Replace an action's keys: action = key or list of keys (the names are in the "
        "README's keymap and on the app's help screen, ?). A key given to two actions is refused "
        "at start.",
        example={"approve": ["a", "p"], "reject": ["x", "r"]},
        key="keys",
    )


@frozen_record
class Settings:
    catalogue: Path | str = setting(
        factory=default_catalogue_path,
        check=CatalogueLocation(),
        help="The catalogue: a SQLite file (created on first use), or a database on a PostgreSQL "
        "server (its tables are created on first use). --db or $SHOOTWATCH_DB override it.",
        default_doc="~/.local/share/shootwatch/catalogue.db",
    )
    scan: ScanSettings = field(default_factory=ScanSettings)
    watch: WatchSettings = field(default_factory=WatchSettings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    media: MediaSettings = field(default_factory=MediaSettings)
    triage: TriageSettings = field(default_factory=TriageSettings)
    darktable: DarktableSettings = field(default_factory=DarktableSettings)
    stages: StageSettings = field(default_factory=StageSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    tui: TuiSettings = field(default_factory=TuiSettings)
    config_file: Path | None = None  # the file that was read, if any


SECTION_TYPES = section_types(Settings)
SETTINGS = declared_in(Settings)  # in the order the reference and ``shootwatch config`` show them
