"""Reading darktable's library.db and data.db without ever disturbing darktable.

darktable keeps no WAL and sets no busy timeout: while any reader holds a read transaction its
own writes fail and an edit is silently lost. So every read here opens the file read-only, runs
short autocommit statements, each fetched whole before the next, and closes; nothing is kept
open between reads and nothing is ever written. The schema is detected (``db_info`` and the
tables' columns), never assumed, and anything unusable is a ``LibraryUnavailable`` with a reason
for a person.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from core.darktable.facts import ALTERED_SQL
from core.files import open_to_read

BUSY_SECONDS = 1.0  # waiting for darktable's own write to finish holds no lock of ours
COARSE_BITS = 8  # a poll first sums buckets of 256 ids: one pass over each table, a seek each
BUCKET_BITS = 3  # then buckets of 8 ids inside the coarse ones that moved: a change re-reads 8
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
    # (table, column) pairs a lookup by value is a seek for: the rowid, a leading index column
    keyed: frozenset[tuple[str, str]] = frozenset()

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
    return query_each(path, [(sql, params)], gate)[0]


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
    """db_info's version, the columns of the tables shootwatch reads and which of them a range
    of ids can be sought by (an INTEGER PRIMARY KEY, an index's first column), in one
    statement."""
    tables = (*REQUIRED, *OPTIONAL_TABLES)
    parts = " UNION ALL ".join(
        f"SELECT '{table}', name, pk = 1 AND upper(type) = 'INTEGER'"
        f" AND (SELECT count(*) FROM pragma_table_info('{table}') WHERE pk > 0) = 1"
        f" FROM pragma_table_info('{table}')"
        f" UNION ALL SELECT '{table}', NULL, c.name FROM pragma_index_list('{table}') x,"
        f" pragma_index_info(x.name) c WHERE c.seqno = 0"
        for table in tables
    )
    rows = query(paths.library, parts, gate=gate)
    columns: dict[str, set[str]] = {}
    keyed: set[tuple[str, str]] = set()
    for table, column, key in rows:
        if column is None:  # an index, by its first column
            keyed.add((table, key))
            continue
        columns.setdefault(table, set()).add(column)
        if key:
            keyed.add((table, column))
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
    return Schema(version, {t: frozenset(c) for t, c in columns.items()}, warning, frozenset(keyed))


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


def _image_state(schema: Schema, alias: str = "i") -> str:
    """A number per image row that moves when its stars, reject, history, timestamps or place
    change (before its weight)."""

    def col(name: str) -> str:
        return f"ifnull({_column(schema, alias, 'images', name, 'NULL')}, -1)"

    return (
        f"{alias}.flags + 16 * {col('history_end')}"
        f" + 4096 * ({col('change_timestamp')} % {_MODULUS})"
        f" + 3 * ({col('export_timestamp')} % {_MODULUS})"
        f" + 7 * {alias}.film_id + 11 * {col('version')} + {_MODULUS}"
    )


@dataclass(frozen=True)
class SummedTable:
    """A table whose rows are summed per bucket of image ids."""

    name: str
    source: str  # the table, with its alias
    key: str  # its image id column, as the mix names it
    mix: str  # a number of at least 1 per row, moving when the row changes
    keyed: bool  # a range of ids is a seek (else every statement scans the table)

    def sums(self, bits: int, where: str = "") -> str:
        """(bucket, sum) per bucket of 2**bits ids, by grouping every row (a sort)."""
        return (
            f"SELECT {self.key} >> {bits}, sum({self.mix}) FROM {self.source}"
            f" WHERE {self.key} IS NOT NULL{where} GROUP BY 1"
        )

    def coarse_sums(self) -> str:
        """(bucket, sum) per bucket of 2**COARSE_BITS ids. With a keyed column, bucket after
        bucket by a seek to its first id: no sort, and empty ranges of ids skipped."""
        if not self.keyed:
            return self.sums(COARSE_BITS)
        key, source, bits = self.key, self.source, COARSE_BITS
        return (
            f"WITH RECURSIVE b(k) AS (SELECT (SELECT min({key}) FROM {source}) >> {bits}"
            f" UNION ALL SELECT (SELECT min({key}) FROM {source}"
            f" WHERE {key} >= (k + 1) << {bits}) >> {bits} FROM b WHERE k IS NOT NULL)"
            f" SELECT k, (SELECT sum({self.mix}) FROM {source}"
            f" WHERE {key} >= k << {bits} AND {key} < (k + 1) << {bits})"
            f" FROM b WHERE k IS NOT NULL"
        )

    def fine_sums_within(self) -> str:
        """(bucket, sum) per bucket of 2**BUCKET_BITS ids inside the coarse buckets given as a
        JSON list (the statement's one parameter)."""
        if not self.keyed:
            return self.sums(
                BUCKET_BITS, f" AND {self.key} >> {COARSE_BITS} IN (SELECT value FROM json_each(?))"
            )
        return (
            f"SELECT {self.key} >> {BUCKET_BITS}, sum({self.mix})"
            f" FROM json_each(?) b CROSS JOIN {self.source}"  # CROSS: the buckets drive
            f" WHERE {self.key} >= b.value << {COARSE_BITS}"
            f" AND {self.key} < (b.value + 1) << {COARSE_BITS} GROUP BY 1"
        )


def summed_tables(schema: Schema) -> list[SummedTable]:
    """The tables whose rows say an image's state (images, history hashes, labels, tags)."""

    def table(name: str, alias: str, mix: str) -> SummedTable:
        key = "id" if name == "images" else "imgid"
        source = f"{name} {alias}" if alias else name
        column = f"{alias}.{key}" if alias else key
        # + 1: a row added or removed moves its bucket's sum, whatever its weighted value
        return SummedTable(name, source, column, _spread(mix, column) + " + 1",
                           (name, key) in schema.keyed)  # fmt: skip

    tables = [table("images", "i", _image_state(schema))]
    if schema.has("history_hash", "current_hash"):
        tables.append(table("history_hash", "h", f"2 + {ALTERED_SQL}"))
    if schema.has("color_labels", "color"):
        tables.append(table("color_labels", "", "color + 1"))
    if schema.has("tagged_images", "tagid"):
        tables.append(table("tagged_images", "", "tagid + 1"))
    return tables


Sums = dict[str, dict[int, int]]  # table name -> bucket -> the sum of its rows' mixes


def query_each(
    path: Path, statements: Sequence[tuple[str, Sequence]], gate: QuietGate | None
) -> list[list[tuple]]:
    """Several reads on one connection, each its own autocommit statement (the file is held
    for one statement at a time; the gate is asked before each)."""
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
        results = []
        for number, (sql, params) in enumerate(statements):
            if number and gate is not None:
                gate.check(path)
            results.append(connection.execute(sql, params).fetchall())
        return results
    except sqlite3.Error as error:
        raise _unavailable(path, error) from error
    finally:
        connection.close()


def query_side_by_side(
    path: Path, groups: Sequence[Sequence[tuple[str, Sequence]]], gate: QuietGate | None
) -> list[list[tuple]]:
    """``query_each`` of each group, the groups at the same time, one connection each (sqlite3
    lets go of the GIL while a statement runs): on two cores the file is held about as long as
    the longest group takes, not as long as all of them. Results in the groups' order."""
    results: list[list[list[tuple]] | None] = [None] * len(groups)
    errors: list[BaseException] = []

    def run(number: int) -> None:
        try:
            results[number] = query_each(path, groups[number], gate)
        except BaseException as error:  # re-raised in the caller's thread
            errors.append(error)

    # daemon: a read blocked on a stalled disk must not hold up exit (as the poller's thread)
    threads = [
        threading.Thread(target=run, args=(n,), name="shootwatch-darktable-read", daemon=True)
        for n in range(1, len(groups))
    ]
    for thread in threads:
        thread.start()
    run(0)
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [statement for group in results for statement in group or []]


def _side_by_side(statements: list[tuple[str, Sequence]]) -> list[list[tuple[str, Sequence]]]:
    """The images table's statement (the largest) in one group, the others in another."""
    return [group for group in (statements[:1], statements[1:]) if group]


def read_coarse_sums(
    paths: LibraryPaths, schema: Schema, gate: QuietGate | None = None
) -> tuple[str, Sums]:
    """The film rolls' digest (``read_film_rolls``), and per table and per bucket of 256 image
    ids the sum of its rows' mixes: the first question of a poll after library.db was written.
    One statement per table, so no read holds the file for long; the images (with the film
    rolls) apart from the others at the same time."""
    tables = summed_tables(schema)
    statements = [(table.coarse_sums(), ()) for table in tables]
    groups = _side_by_side(statements)
    groups[0].append((FILM_ROLLS_SQL, ()))
    found = query_side_by_side(paths.library, groups, gate)
    film_rolls = found.pop(len(groups[0]) - 1)
    sums = {table.name: dict(rows) for table, rows in zip(tables, found, strict=True)}
    return _film_rolls_digest(film_rolls), sums


def read_fine_sums(
    paths: LibraryPaths,
    schema: Schema,
    within: dict[str, Iterable[int]] | None = None,
    gate: QuietGate | None = None,
) -> Sums:
    """Per table and per bucket of 8 image ids, the sum of its rows' mixes: of every table
    (``within`` None, side by side as ``read_coarse_sums``), or of the named tables inside the
    given coarse buckets (a few seeks: one after the other)."""
    tables = [t for t in summed_tables(schema) if within is None or within.get(t.name)]
    if within is None:
        statements = [(table.sums(BUCKET_BITS), ()) for table in tables]
        found = query_side_by_side(paths.library, _side_by_side(statements), gate)
    else:
        statements = [
            (table.fine_sums_within(), (json.dumps(sorted(within[table.name])),))
            for table in tables
        ]
        found = query_each(paths.library, statements, gate)
    return {table.name: dict(rows) for table, rows in zip(tables, found, strict=True)}


FILM_ROLLS_SQL = (
    "SELECT group_concat(roll, char(0)) FROM"
    " (SELECT id || '/' || folder AS roll FROM film_rolls ORDER BY id)"
)


def _film_rolls_digest(rows: list[tuple]) -> str:
    listing = rows[0][0] or ""
    return hashlib.blake2b(listing.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def read_film_rolls(paths: LibraryPaths, gate: QuietGate | None = None) -> str:
    """A digest of every film roll's id and folder: it moves when one is added, removed or
    renamed (to a name of any length; a sum of lengths would miss most renames)."""
    return _film_rolls_digest(query(paths.library, FILM_ROLLS_SQL, gate=gate))


def coarse_of(fine: dict[int, int]) -> dict[int, int]:
    """The coarse buckets' sums from their fine buckets' (sums are exact: they add up)."""
    coarse: dict[int, int] = {}
    shift = COARSE_BITS - BUCKET_BITS
    for bucket, total in fine.items():
        coarse[bucket >> shift] = coarse.get(bucket >> shift, 0) + total
    return coarse


def fine_in(coarse: int) -> range:
    """The fine buckets inside a coarse bucket."""
    shift = COARSE_BITS - BUCKET_BITS
    return range(coarse << shift, (coarse + 1) << shift)


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


def _image_select(schema: Schema, images: str = "images i") -> str:
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
        f" FROM {images} JOIN film_rolls f ON f.id = i.film_id{join_hash}"
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
        # The ids drive (CROSS JOIN): a seek per id, where IN would scan every image.
        by_ids = _image_select(schema, "json_each(?) j CROSS JOIN images i ON i.id = j.value")
        wanted = sorted(ids)
        for start in range(0, len(wanted), READ_CHUNK):
            chunk = "[" + ",".join(map(str, wanted[start : start + READ_CHUNK])) + "]"
            rows = query(paths.library, by_ids + " ORDER BY i.id", (chunk,), gate=gate)
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
