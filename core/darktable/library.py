"""Reading darktable's library.db and data.db without ever disturbing darktable.

darktable keeps no WAL and sets no busy timeout: while any reader holds a read transaction its
own writes fail and an edit is silently lost. So every read here opens the file read-only, runs
one short autocommit statement, fetches everything and closes; nothing is kept open between
reads and nothing is ever written. The schema is detected (``db_info`` and the tables' columns),
never assumed, and anything unusable is a ``LibraryUnavailable`` with a reason for a person.
"""

from __future__ import annotations

import os
import sqlite3
import time
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from core.darktable.facts import ALTERED_SQL
from core.files import open_to_read

BUSY_SECONDS = 1.0  # waiting for darktable's own write to finish holds no lock of ours
BUCKET_BITS = 6  # images are compared in buckets of 64 ids: a change re-reads its bucket only
READ_CHUNK = 2000  # images per statement: each read holds library.db for a few milliseconds
_MODULUS = 1_000_000_007
KNOWN_VERSIONS = {37: "darktable 4.2"}  # library versions whose databases were checked
REQUIRED = {
    "images": ("id", "film_id", "filename", "flags"),
    "film_rolls": ("id", "folder"),
}
OPTIONAL_TABLES = ("history_hash", "color_labels", "tagged_images", "db_info")


class LibraryUnavailable(Exception):
    """The library cannot be read now; ``state`` is missing, locked, corrupt or unsupported."""

    def __init__(self, state: str, reason: str) -> None:
        super().__init__(reason)
        self.state = state
        self.reason = reason


class DarktableWriting(LibraryUnavailable):
    """darktable wrote the file less than the quiet window ago: read after ``wait`` seconds."""

    def __init__(self, path: Path, wait: float) -> None:
        super().__init__("writing", f"darktable wrote {path.name} moments ago")
        self.wait = wait


# The journal darktable writes beside each database (rollback-journal mode) changes with it.
JOURNAL_SUFFIX = "-journal"
CLOCK_SKEW_SECONDS = 2.0  # a modification time further ahead than this says nothing of now


def seconds_since_written(path: Path, now: float | None = None) -> float | None:
    """How long ago the database at ``path`` (or its journal) was last written, by their
    modification times; None when neither says (missing, or stamped in the future)."""
    now = time.time() if now is None else now
    newest = None
    for candidate in (path, path.with_name(path.name + JOURNAL_SUFFIX)):
        try:
            modified = os.stat(candidate).st_mtime_ns / 1e9
        except OSError:
            continue
        if modified > now + CLOCK_SKEW_SECONDS:
            continue  # another machine's clock (a share): the watcher's time still holds
        newest = modified if newest is None else max(newest, modified)
    return None if newest is None else max(0.0, now - newest)


@dataclass
class QuietGate:
    """Lets a statement begin only when its database has been quiet for ``seconds``; every
    statement asks, so a read of several statements stops as soon as darktable writes again."""

    seconds: float = 0.0
    started: list[float] = field(default_factory=list)  # when statements began (the last few)

    def check(self, path: Path) -> None:
        if self.seconds > 0:
            age = seconds_since_written(path)
            if age is not None and age < self.seconds:
                raise DarktableWriting(path, self.seconds - age)
        self.started.append(time.time())
        del self.started[:-100]


@dataclass(frozen=True)
class LibraryPaths:
    library: Path
    data: Path
    data_given: bool = True  # False: data.db was not named, the reader looks for it

    @classmethod
    def beside(cls, library: Path, data: Path | None = None) -> LibraryPaths:
        """data.db as named, or else looked for (``data_candidates``), first beside library.db."""
        library = Path(os.path.expanduser(library))
        if data:
            return cls(library, Path(os.path.expanduser(data)))
        return cls(library, library.parent / "data.db", data_given=False)

    @property
    def lock(self) -> Path:
        return self.library.with_name(self.library.name + ".lock")

    def data_candidates(self) -> list[Path]:
        """Where darktable's data.db (tag names) may be, the likeliest first. darktable keeps
        library.db and data.db in its config folder unless told otherwise: ``--library`` moves
        library.db alone, ``--configdir`` moves data.db with darktablerc. So: the data.db named
        in the settings; beside library.db; in a config folder (one with a darktablerc) beside
        the library's folder (``lib/`` and ``config/`` of one setup); darktable's default config
        folder."""
        if self.data_given:
            return [self.data]
        folder = self.library.parent
        found = [folder / "data.db"]
        try:
            siblings = sorted(folder.parent.iterdir())
        except OSError:
            siblings = []
        found += [
            sibling / "data.db"
            for sibling in siblings
            if sibling != folder and (sibling / "darktablerc").is_file()
        ]
        config_home = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
        found.append(Path(config_home) / "darktable" / "data.db")
        return list(dict.fromkeys(found))


@dataclass(frozen=True)
class Schema:
    version: int | None  # db_info's version; None when the table or key is missing
    columns: dict[str, frozenset[str]]
    warning: str | None  # set when the version is one shootwatch was not checked against

    def has(self, table: str, column: str | None = None) -> bool:
        found = self.columns.get(table)
        return found is not None and (column is None or column in found)


class LibraryImage(NamedTuple):
    """One row of darktable's images, with its film roll, labels, tags and altered state."""

    id: int
    folder: str
    filename: str
    version: int
    flags: int
    history_end: int
    imported: int | None
    changed: int | None
    exported: int | None
    altered: int
    colors: str | None  # "0,3": color_labels.color values
    tag_ids: str | None  # "12,40": tagged_images.tagid values
    maker: str | None
    model: str | None
    lens: str | None
    exposure: float | None
    aperture: float | None
    iso: float | None
    focal_length: float | None
    taken: int | None
    width: int | None
    height: int | None


def _uri(path: Path) -> str:
    return f"file:{urllib.parse.quote(str(path))}?mode=ro"


def query(
    path: Path, sql: str, params: Sequence = (), gate: QuietGate | None = None
) -> list[tuple]:
    """One read: open read-only, run one autocommit statement, fetch everything, close; with a
    gate, only once the file has been quiet for the gate's seconds (else DarktableWriting)."""
    if not path.exists():
        raise LibraryUnavailable("missing", f"there is no file at {path}")
    if gate is not None:
        gate.check(path)
    try:
        connection = sqlite3.connect(
            _uri(path), uri=True, isolation_level=None, timeout=BUSY_SECONDS
        )
    except sqlite3.Error as error:
        raise _unavailable(path, error) from error
    try:
        return connection.execute(sql, params).fetchall()
    except sqlite3.Error as error:
        raise _unavailable(path, error) from error
    finally:
        connection.close()


def _unavailable(path: Path, error: sqlite3.Error) -> LibraryUnavailable:
    text = str(error)
    if "locked" in text or "busy" in text:
        return LibraryUnavailable("locked", f"{path} is locked by another program ({text})")
    if "no such" in text:
        return LibraryUnavailable("unsupported", f"{path} has an unexpected layout ({text})")
    if isinstance(error, sqlite3.OperationalError) and "unable to open" in text:
        return LibraryUnavailable("missing", f"{path} cannot be opened ({text})")
    return LibraryUnavailable("corrupt", f"{path} is damaged or not a darktable library ({text})")


# --- schema -----------------------------------------------------------------------------------


def read_schema(paths: LibraryPaths, gate: QuietGate | None = None) -> Schema:
    """db_info's version and the columns of the tables shootwatch reads, in one statement."""
    tables = (*REQUIRED, *OPTIONAL_TABLES)
    parts = " UNION ALL ".join(
        f"SELECT '{table}', name FROM pragma_table_info('{table}')" for table in tables
    )
    rows = query(paths.library, parts, gate=gate)
    columns: dict[str, set[str]] = {}
    for table, column in rows:
        columns.setdefault(table, set()).add(column)
    missing = [
        f"{table}.{column}"
        for table, needed in REQUIRED.items()
        for column in needed
        if column not in columns.get(table, ())
    ]
    if missing:
        raise LibraryUnavailable(
            "unsupported",
            f"{paths.library} is not a darktable library shootwatch can read: it lacks "
            f"{', '.join(missing)}",
        )
    version = None
    if "db_info" in columns:
        found = query(paths.library, "SELECT value FROM db_info WHERE key = 'version'", gate=gate)
        if found and str(found[0][0]).isdigit():
            version = int(found[0][0])
    warning = None
    if version not in KNOWN_VERSIONS:
        known = ", ".join(f"{v} ({name})" for v, name in KNOWN_VERSIONS.items())
        warning = (
            f"darktable library version {version if version is not None else 'unknown'} was "
            f"not checked by shootwatch (checked: {known}); reading the columns it recognises"
        )
    return Schema(version, {t: frozenset(c) for t, c in columns.items()}, warning)


def _column(schema: Schema, table_alias: str, table: str, column: str, default: str) -> str:
    return f"{table_alias}.{column}" if schema.has(table, column) else default


# --- change detection ---------------------------------------------------------------------------


def _spread(value: str, image_id: str) -> str:
    """``value`` times a pseudo-random weight of the image id, modulo a prime.

    Sums of these move when any one row changes, and two changes cancel only by chance (about
    one in a billion): with plain or small weights, two images rated in one write (one up,
    one down) could cancel exactly and the change would go unseen until the next full check.
    """
    weight = f"(({image_id} * 2654435761 + 40503) % {_MODULUS})"
    return f"((({value}) % {_MODULUS}) * {weight} % {_MODULUS})"


def _image_mix(schema: Schema, alias: str = "i") -> str:
    """A number per image row that moves when its stars, reject, history, timestamps or place
    change."""

    def col(name: str) -> str:
        return f"ifnull({_column(schema, alias, 'images', name, 'NULL')}, -1)"

    state = (
        f"{alias}.flags + 16 * {col('history_end')}"
        f" + 4096 * ({col('change_timestamp')} % {_MODULUS})"
        f" + 3 * ({col('export_timestamp')} % {_MODULUS})"
        f" + 7 * {alias}.film_id + 11 * {col('version')} + {_MODULUS}"
    )
    return _spread(state, f"{alias}.id")


def _table_mixes(schema: Schema) -> list[tuple[str, str, str]]:
    """(name, table, mix expression keyed by imgid) for the tables that hang off images."""
    mixes = [("images", "images i", _image_mix(schema))]
    if schema.has("history_hash", "current_hash"):
        mixes.append(("history_hash", "history_hash h", _spread(f"2 + {ALTERED_SQL}", "h.imgid")))
    if schema.has("color_labels", "color"):
        mixes.append(("color_labels", "color_labels", _spread("color + 1", "imgid")))
    if schema.has("tagged_images", "tagid"):
        mixes.append(("tagged_images", "tagged_images", _spread("tagid + 1", "imgid")))
    return mixes


def _key(name: str) -> str:
    return "i.id" if name == "images" else ("h.imgid" if name == "history_hash" else "imgid")


def read_totals(paths: LibraryPaths, schema: Schema, gate: QuietGate | None = None) -> tuple:
    """Values that change when any image's state changes: a count and a sum per table, the
    cheap first question of every poll (one short statement per table)."""
    parts = [
        f"SELECT count(*) || ':' || ifnull(sum({mix}), 0) FROM {table}"
        for _, table, mix in _table_mixes(schema)
    ]
    parts.append("SELECT count(*) || ':' || ifnull(sum(id * length(folder)), 0) FROM film_rolls")
    return tuple(query(paths.library, sql, gate=gate)[0][0] for sql in parts)


def table_names(schema: Schema) -> list[str]:
    """The tables read_totals sums, in its order (film_rolls last)."""
    return [name for name, _, _ in _table_mixes(schema)] + ["film_rolls"]


def read_buckets(
    paths: LibraryPaths,
    schema: Schema,
    tables: set[str] | None = None,
    gate: QuietGate | None = None,
) -> dict[tuple[str, int], str]:
    """Per table (all, or those named) and per bucket of 64 image ids, a count and a sum:
    which buckets changed. One statement per table, so no read holds the file for long."""
    buckets = {}
    for name, table, mix in _table_mixes(schema):
        if tables is not None and name not in tables:
            continue
        rows = query(
            paths.library,
            f"SELECT {_key(name)} >> {BUCKET_BITS}, count(*) || ':' || sum({mix})"
            f" FROM {table} GROUP BY 1",
            gate=gate,
        )
        buckets.update(((name, bucket), value) for bucket, value in rows)
    return buckets


def bucket_ids(buckets: Iterable[int]) -> list[int]:
    size = 1 << BUCKET_BITS
    return [
        image_id
        for bucket in sorted(buckets)
        for image_id in range(bucket * size, (bucket + 1) * size)
    ]


def bucket_of(image_id: int) -> int:
    return image_id >> BUCKET_BITS


# --- reading images -------------------------------------------------------------------------------


def _image_select(schema: Schema) -> str:
    def col(name: str) -> str:
        return _column(schema, "i", "images", name, "NULL")

    altered = ALTERED_SQL if schema.has("history_hash", "current_hash") else "0"
    join_hash = " LEFT JOIN history_hash h ON h.imgid = i.id" if schema.has("history_hash") else ""
    colors = (
        "(SELECT group_concat(color) FROM color_labels c WHERE c.imgid = i.id)"
        if schema.has("color_labels", "color")
        else "NULL"
    )
    tags = (
        "(SELECT group_concat(tagid) FROM tagged_images t WHERE t.imgid = i.id)"
        if schema.has("tagged_images", "tagid")
        else "NULL"
    )
    return (
        f"SELECT i.id, f.folder, i.filename, ifnull({col('version')}, 0), i.flags,"
        f" ifnull({col('history_end')}, 0), {col('import_timestamp')},"
        f" {col('change_timestamp')}, {col('export_timestamp')}, {altered}, {colors}, {tags},"
        f" {col('maker')}, {col('model')}, {col('lens')}, {col('exposure')}, {col('aperture')},"
        f" {col('iso')}, {col('focal_length')}, {col('datetime_taken')}, {col('width')},"
        f" {col('height')}"
        f" FROM images i JOIN film_rolls f ON f.id = i.film_id{join_hash}"
    )


def read_images(
    paths: LibraryPaths,
    schema: Schema,
    ids: Sequence[int] | None = None,
    gate: QuietGate | None = None,
) -> list[LibraryImage]:
    """Every image (``ids`` None) or those with these ids, oldest id first.

    Read in chunks of READ_CHUNK images, one short statement each: a single read of a large
    library would hold its file for a second, long enough to cost darktable a write. A change
    made between two chunks is caught by the next poll (its bucket's sum moved).
    """
    select = _image_select(schema)
    images: list[LibraryImage] = []
    if ids is not None:
        wanted = sorted(ids)
        for start in range(0, len(wanted), READ_CHUNK):
            chunk = "[" + ",".join(map(str, wanted[start : start + READ_CHUNK])) + "]"
            rows = query(
                paths.library,
                select + " WHERE i.id IN (SELECT value FROM json_each(?)) ORDER BY i.id",
                (chunk,),
                gate=gate,
            )
            images += [LibraryImage(*row) for row in rows]
        return images
    after = -1
    while True:
        rows = query(
            paths.library,
            select + " WHERE i.id > ? ORDER BY i.id LIMIT ?",
            (after, READ_CHUNK),
            gate=gate,
        )
        images += [LibraryImage(*row) for row in rows]
        if len(rows) < READ_CHUNK:
            return images
        after = rows[-1][0]


def used_tag_ids(paths: LibraryPaths, gate: QuietGate | None = None) -> set[int]:
    """The tag ids library.db's images carry (their names are in data.db)."""
    try:
        rows = query(paths.library, "SELECT DISTINCT tagid FROM tagged_images", gate=gate)
    except LibraryUnavailable as error:
        if error.state == "unsupported":  # no tagged_images in this version: no tags
            return set()
        raise
    return {tag_id for (tag_id,) in rows}


def read_tag_names(paths: LibraryPaths, gate: QuietGate | None = None) -> dict[int, str]:
    """Tag id → name from data.db (darktable keeps tag names there, not in library.db)."""
    return dict(query(paths.data, "SELECT id, name FROM tags", gate=gate))


def change_stamp(path: Path) -> tuple | None:
    """What says whether library.db was written since the last look, read without SQLite (so
    without any lock): SQLite's file change counter, which every write transaction of a
    database in rollback-journal mode (darktable's) increments, with the file's identity, size
    and mtime. None when it cannot say: a WAL database does not keep the counter up to date.
    """
    try:
        with open_to_read(path) as handle:
            header = handle.read(100)
            stat = os.fstat(handle.fileno())
    except OSError:
        return None
    # Bytes 18 and 19: the file format's write and read versions, 1 = rollback journal, 2 = WAL.
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00") or header[18] != 1:
        return None
    counter = int.from_bytes(header[24:28], "big")
    return (counter, stat.st_ino, stat.st_size, stat.st_mtime_ns)


def darktable_pid(paths: LibraryPaths) -> int | None:
    """The PID in library.db.lock when that process is alive: only to show "darktable is
    running", never to decide whether to read."""
    try:
        text = paths.lock.read_text(errors="replace").strip()
        pid = int(text.split()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except PermissionError:  # alive, run by another user
        return pid
    except OSError:
        return None
    return pid
