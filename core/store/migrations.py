"""Schema versions and the steps between them (playhouse.migrate), applied on open.

The schema version is SQLite's ``user_version`` (a table on PostgreSQL: ``core.store.dialect``).
A new catalogue is created at ``LATEST`` from the models; an older one is brought forward one
step at a time, each step in a transaction. A step's SQL runs on both back ends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from peewee import BooleanField, Database, FloatField, IntegerField, TextField

from core.store import dialect
from core.store.sqlite_file import SCHEMA_VERSION

if TYPE_CHECKING:
    from playhouse.migrate import SchemaMigrator


def migrate(*operations: object) -> None:
    """playhouse's ``migrate``, loaded only when a catalogue is upgraded: opening one that is
    current (every command's start) costs one query and no migration code."""
    from playhouse import migrate as playhouse_migrate

    playhouse_migrate.migrate(*operations)


def _to_2(migrator: SchemaMigrator) -> None:
    # Schema 2: an offline root says why; moves are paired through a (blake3, size) index; the
    # reconciler reads size + mtime from a covering index and finds unhashed files by a partial one.
    migrate(
        migrator.add_column("root", "state_reason", TextField(null=True)),
        migrator.add_index("file", ("blake3", "size"), False),
        migrator.add_index("file", ("root_id", "rel_path", "size", "mtime_ns"), False),
    )
    migrator.database.execute_sql(
        'CREATE INDEX IF NOT EXISTS "file_unhashed" ON "file" ("root_id", "rel_path")'
        ' WHERE "blake3" IS NULL'
    )


def _to_3(migrator: SchemaMigrator) -> None:
    # Schema 3: what the darktable poller keeps per image, a (folder, file) index to find an
    # image by path, and the meta table (which darktable library the snapshot belongs to).
    migrate(
        migrator.add_column("darktable_image", "internal_tags", TextField(null=True)),
        migrator.add_column("darktable_image", "rated_by_hand", BooleanField(default=False)),
        migrator.add_column("darktable_image", "exif", TextField(null=True)),
        migrator.add_column("darktable_image", "sidecar_at", FloatField(null=True)),
        migrator.add_index("darktable_image", ("film_roll_folder", "filename", "version"), False),
    )
    migrator.database.execute_sql(
        'CREATE TABLE IF NOT EXISTS "meta" ("key" TEXT NOT NULL PRIMARY KEY, "value" TEXT NOT NULL)'
    )


def _to_4(migrator: SchemaMigrator) -> None:
    # Schema 4: a photo's format and when its EXIF was read; why it has no preview; each
    # file's role in its photo (original, RAW+JPEG twin, sidecar, export).
    migrate(
        migrator.add_column("photo", "format", TextField(null=True)),
        migrator.add_column("photo", "metadata_at", FloatField(null=True)),
        migrator.add_column("photo", "preview_error", TextField(null=True)),
        migrator.add_column("photo", "preview_at", FloatField(null=True)),
        migrator.add_column("file", "role", TextField(null=True)),
        migrator.add_column("file", "format", TextField(null=True)),
    )
    migrator.database.execute_sql(
        'CREATE INDEX IF NOT EXISTS "file_not_described" ON "file" ("id") WHERE "format" IS NULL'
    )


def _to_5(migrator: SchemaMigrator) -> None:
    # Schema 5: the media backlog (photos without EXIF read, without a preview) found by
    # partial indexes, so looking for it costs nothing when there is none.
    for sql in (
        'CREATE INDEX IF NOT EXISTS "photo_without_metadata" ON "photo" ("id")'
        ' WHERE "metadata_at" IS NULL',
        'CREATE INDEX IF NOT EXISTS "photo_without_preview" ON "photo" ("id")'
        ' WHERE "preview_at" IS NULL AND "preview_error" IS NULL',
    ):
        migrator.database.execute_sql(sql)


def _to_6(migrator: SchemaMigrator) -> None:
    # Schema 6: what an artifact was made from, so a stale one is found by a query (its source's
    # blake3, its sidecar's, the stage's parameters), and the blurhash it carries.
    migrate(
        migrator.add_column("artifact", "source_blake3", TextField(null=True)),
        migrator.add_column("artifact", "sidecar_blake3", TextField(null=True)),
        migrator.add_column("artifact", "params_hash", TextField(null=True)),
        migrator.add_column("artifact", "blurhash", TextField(null=True)),
        migrator.add_index("job", ("photo_id", "stage", "status"), False),
    )


def _to_7(migrator: SchemaMigrator) -> None:
    # Schema 7: the ingest journal (core.ingest), created from its model.
    from core.store.models import IngestMove

    migrator.database.create_tables([IngestMove])


def _to_8(migrator: SchemaMigrator) -> None:
    # Schema 8: the file system each root is on (device, mount point), recorded for existing
    # roots at their next check that finds them online; the folders that could not be read.
    from core.store.models import UnreadableFolder

    migrate(
        migrator.add_column("root", "device", TextField(null=True)),
        migrator.add_column("root", "mount_point", TextField(null=True)),
    )
    migrator.database.create_tables([UnreadableFolder])


def _to_9(migrator: SchemaMigrator) -> None:
    # Schema 9: each decision row names the session that logged it (self-contained: one
    # column, NULL for the rows logged before).
    migrate(migrator.add_column("decision", "session", TextField(null=True)))


def _raw_sizes_read_again(migrator: SchemaMigrator) -> None:
    # Schema 10, data only: a TIFF-based RAW's pixel size was IFD0's (a NEF's 160 x 120
    # thumbnail); its EXIF is read again, and its size is now its full-size image's.
    migrator.database.execute_sql("UPDATE photo SET metadata_at = NULL WHERE format = 'tiff-raw'")


def _sidecar_write_back(migrator: SchemaMigrator) -> None:
    # Schema 11: sidecar write-back that never loses a rating: when a photo's existing XMP was
    # read into its triage state, why its sidecar was not written, and each write's byte edits
    # (undone exactly). Self-contained: its columns and its table only.
    from core.store.models import SidecarWrite

    migrate(
        migrator.add_column("photo", "xmp_read_at", FloatField(null=True)),
        migrator.add_column("photo", "sidecar_problem", TextField(null=True)),
    )
    migrator.database.create_tables([SidecarWrite])


def _culling_looks(migrator: SchemaMigrator) -> None:
    # Schema 12: culling among near-identical frames: each photo's looks measured on its
    # preview (hash, focus, clipping, the camera's AF point), the burst it belongs to, and
    # decisions made together for several photos. Self-contained: its columns only.
    columns = {
        "looked_at": FloatField(null=True), "look_error": TextField(null=True),
        "phash": TextField(null=True), "sharpness": FloatField(null=True),
        "sharp_x": FloatField(null=True), "sharp_y": FloatField(null=True),
        "af_x": FloatField(null=True), "af_y": FloatField(null=True),
        "clipped_highlights": FloatField(null=True), "clipped_shadows": FloatField(null=True),
        "burst": IntegerField(null=True),
    }  # fmt: skip
    migrate(
        *(migrator.add_column("photo", name, field) for name, field in columns.items()),
        migrator.add_index("photo", ("burst",)),
        migrator.add_column("decision", "batch", TextField(null=True)),
    )


def _burst_times(migrator: SchemaMigrator) -> None:
    # Schema 13: photos by capture time, so grouping bursts around a few photos reads the
    # photos near them in time, not every photo (core.store.photos.shots_of_bodies).
    # Self-contained: one index.
    migrate(migrator.add_index("photo", ("capture_time",)))


def _cards(migrator: SchemaMigrator) -> None:
    # Schema 14: ingest from a card: the cards known, each card file's verified copies, and
    # the counters of {seq} in names. Self-contained: its three tables.
    from core.store.models import Card, CardCopy, IngestCounter

    migrator.database.create_tables([Card, CardCopy, IngestCounter])


def _described_while_hashed(migrator: SchemaMigrator) -> None:
    # Schema 15: each file's description made by the scan from the bytes it hashed, until the
    # media pipeline groups it (core.media.describe). Self-contained: one column.
    migrate(migrator.add_column("file", "description", TextField(null=True)))


def _people(migrator: SchemaMigrator) -> None:
    # Schema 16: each decision names the person who made it (``triage.name``), and a person's
    # decisions are found by an index (their undo, their log). Self-contained: one column and
    # its index; the rows logged before keep NULL (someone unknown).
    migrate(
        migrator.add_column("decision", "person", TextField(null=True)),
        migrator.add_index("decision", ("person",), False),
    )


# target version -> the step that reaches it from the version before
STEPS: dict[int, Callable[[SchemaMigrator], None]] = {
    2: _to_2, 3: _to_3, 4: _to_4, 5: _to_5, 6: _to_6, 7: _to_7, 8: _to_8, 9: _to_9,
    10: _raw_sizes_read_again, 11: _sidecar_write_back, 12: _culling_looks, 13: _burst_times,
    14: _cards, 15: _described_while_hashed, 16: _people,
}  # fmt: skip
LATEST = SCHEMA_VERSION
if max(STEPS) != LATEST:  # the light module says it too (core.store.sqlite_file)
    raise RuntimeError(f"the last migration step is {max(STEPS)}, the schema version {LATEST}")


def schema_version(db: Database) -> int:
    return dialect.schema_version(db)


def upgrade(db: Database, from_version: int) -> list[int]:
    """Apply every step after ``from_version``; returns the versions reached."""
    migrator = dialect.migrator(db)
    reached = []
    for version in range(from_version + 1, LATEST + 1):
        with db.atomic():
            STEPS[version](migrator)
            dialect.set_schema_version(db, version)
        reached.append(version)
    return reached
