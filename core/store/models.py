"""The catalogue's tables as peewee models: the whole data model of DESIGN.md, designed once.

Times are unix seconds (UTC) as REAL; ``mtime_ns`` stays an integer so "unchanged" is exact.
Models are bound to a database by ``core.store.database.open_catalogue``.
"""

from __future__ import annotations

from peewee import (
    AutoField,
    BooleanField,
    Check,
    CompositeKey,
    DatabaseProxy,
    FloatField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

database = DatabaseProxy()

ROOT_KINDS = ("library", "inbox", "export")
ROOT_STATES = ("online", "offline")
DECISIONS = ("pending", "approved", "rejected")
SYNC_KINDS = ("startup", "scheduled", "manual", "realtime")
SYNC_STATUSES = ("running", "completed", "failed", "partial")
JOB_STATUSES = ("pending", "running", "completed", "failed", "cancelled")


def _one_of(column: str, allowed: tuple[str, ...]) -> Check:
    quoted = ", ".join(f"'{value}'" for value in allowed)
    return Check(f"{column} IN ({quoted})")


class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False


class Root(BaseModel):
    """A watched folder."""

    id = AutoField()
    path = TextField(unique=True)
    kind = TextField(default="library", constraints=[_one_of("kind", ROOT_KINDS)])
    state = TextField(default="online", constraints=[_one_of("state", ROOT_STATES)])
    state_reason = TextField(null=True)  # why it is offline; added in schema 2
    added_at = FloatField()
    seen_at = FloatField(null=True)  # last time a scan found it readable
    # Schema 8: the file system it was found on at `add` (or, for older roots, at the first
    # check that found it online): an unmounted drive, or another one in its place, is told
    # apart from the drive itself by these (core.scan.roots).
    device = TextField(null=True)  # st_dev as "major:minor"
    mount_point = TextField(null=True)  # where the file system holding it is mounted


class Photo(BaseModel):
    """One picture the photographer decides about, identified by the blake3 of its original."""

    id = AutoField()
    blake3 = TextField(unique=True)
    capture_time = FloatField(null=True, index=True)  # schema 13: the index, for bursts
    capture_offset = TextField(null=True)  # "+02:00"; NULL = camera wall clock taken as local
    camera_make = TextField(null=True)
    camera_model = TextField(null=True)
    lens = TextField(null=True)
    exposure_time = TextField(null=True)  # "1/250"
    aperture = FloatField(null=True)
    iso = IntegerField(null=True)
    focal_length = FloatField(null=True)
    width = IntegerField(null=True)
    height = IntegerField(null=True)
    orientation = IntegerField(null=True)
    gps_latitude = FloatField(null=True)
    gps_longitude = FloatField(null=True)
    metadata_error = TextField(null=True)
    decision = TextField(default="pending", constraints=[_one_of("decision", DECISIONS)])
    rating = IntegerField(default=0, constraints=[Check("rating BETWEEN 0 AND 5")])
    labels = IntegerField(
        default=0
    )  # bit per colour label: red 1, yellow 2, green 4, blue 8, purple 16
    decided_at = FloatField(null=True)
    created_at = FloatField()
    # Schema 4:
    format = TextField(null=True)  # the original's format by content: jpeg, tiff-raw, cr3, …
    metadata_at = FloatField(null=True)  # when its EXIF was read (NULL: not yet)
    preview_error = TextField(null=True)  # why there is no preview, when there is none
    preview_at = FloatField(null=True)  # when its preview was built into the cache
    # Schema 9: when the XMP it already had (sidecars, a JPEG's own) was read into its triage
    # state, and why its sidecar does not say what the catalogue says (shown on its card).
    xmp_read_at = FloatField(null=True)
    sidecar_problem = TextField(null=True)
    # Schema 12: how the photo looks, measured on its preview (core.media.looks): for bursts,
    # focus and exposure. Positions are fractions (0-1) of the upright picture's width/height.
    looked_at = FloatField(null=True)  # when it was measured (NULL: not yet)
    look_error = TextField(null=True)  # why it could not be
    phash = TextField(null=True)  # perceptual hash of the preview, 16 hex digits
    sharpness = FloatField(null=True)  # focus score: higher is sharper (core.media.looks)
    sharp_x = FloatField(null=True)  # the centre of its sharpest region
    sharp_y = FloatField(null=True)
    af_x = FloatField(null=True)  # the camera's AF point, when its maker notes record one
    af_y = FloatField(null=True)
    clipped_highlights = FloatField(null=True)  # fraction of the preview's pixels clipped
    clipped_shadows = FloatField(null=True)
    burst = IntegerField(null=True, index=True)  # the id of its burst's first photo


class FileRecord(BaseModel):
    """One file under a root."""

    id = AutoField()
    # No index of its own: the unique (root, rel_path) index serves lookups by root.
    root = ForeignKeyField(Root, backref="files", on_delete="RESTRICT", index=False)
    rel_path = TextField()
    size = IntegerField()
    mtime_ns = IntegerField()
    blake3 = TextField(null=True)  # NULL until hashed, or when the last hash attempt failed
    hashed_at = FloatField(null=True)
    last_seen = FloatField()  # last time a scan wrote this record
    scan_generation = IntegerField(default=0)  # the SyncRun that last wrote this record
    # No CHECK on this hot table: SQLite evaluates an IN-list check at ~5 us a row, which
    # doubled the cost of indexing 100k files. core.media.kinds is the only writer of kinds.
    kind = TextField(default="other")
    error = TextField(null=True)  # the last read error, if any
    photo = ForeignKeyField(Photo, null=True, backref="files", on_delete="SET NULL")
    # Schema 4: what the file is to its photo: original, jpeg (a RAW's twin), sidecar,
    # duplicate_sidecar, export; NULL when it belongs to no photo.
    role = TextField(null=True)
    format = TextField(null=True)  # by content (core.media.sniff); NULL: not looked at yet
    # Schema 15: what the scan made of the file's content while hashing it (core.media.describe's
    # record), kept until the media pipeline groups the file (then NULL): a file is read once.
    description = TextField(null=True)

    class Meta:
        table_name = "file"
        indexes = (
            (("root", "rel_path"), True),
            # Schema 2: move pairing and duplicate detection...
            (("blake3", "size"), False),
            # ...and a covering index for the reconciler's comparison by size + mtime.
            (("root", "rel_path", "size", "mtime_ns"), False),
        )


# Schema 5: the media backlog, by partial indexes.
Photo.add_index(
    Photo.index(Photo.id, name="photo_without_metadata", where=Photo.metadata_at.is_null())
)
Photo.add_index(
    Photo.index(
        Photo.id,
        name="photo_without_preview",
        where=Photo.preview_at.is_null() & Photo.preview_error.is_null(),
    )
)

# Schema 4: files not looked at by the media workers yet.
FileRecord.add_index(
    FileRecord.index(FileRecord.id, name="file_not_described", where=FileRecord.format.is_null())
)

# Schema 2: the few records without a hash (unreadable, still being written), found by range.
FileRecord.add_index(
    FileRecord.index(
        FileRecord.root,
        FileRecord.rel_path,
        name="file_unhashed",
        where=FileRecord.blake3.is_null(),
    )
)


class Decision(BaseModel):
    """Append-only log of every triage action: the undo stack and the audit trail."""

    id = AutoField()
    photo = ForeignKeyField(Photo, backref="decisions", on_delete="CASCADE")
    action = TextField()  # "decision", "rating", "labels"
    before = TextField(null=True)
    after = TextField(null=True)
    source = TextField(default="key")  # "key", "cli", "resolve", "undo", "redo"
    undone = BooleanField(default=False)
    at = FloatField(index=True)
    # Schema 9: the session that logged it (one app run, one ``decide``): undo takes back the
    # session's own decisions first (core.triage.decisions). NULL: logged before schema 9.
    session = TextField(null=True)
    # Schema 12: rows logged by one action on several photos (a multi-select, "keep this one,
    # reject the rest") share a batch: one undo takes back all of them. NULL: on its own.
    batch = TextField(null=True)
    # Schema 16: the person who made it (``triage.name``): the log, undo and redo are per
    # person, and people's decisions are merged on demand (core.triage.people). NULL: logged
    # before schema 16, by someone unknown.
    person = TextField(null=True, index=True)


class SidecarWrite(BaseModel):
    """Schema 9: one write of a decision into a sidecar, as byte edits, so undo gives the
    sidecar back exactly what it had, and only in the session that wrote it."""

    id = AutoField()
    decision = ForeignKeyField(Decision, on_delete="CASCADE")  # the decision a person made
    photo = ForeignKeyField(Photo, on_delete="CASCADE", index=False)
    session = TextField()  # the Triage that wrote it
    kind = TextField()  # "write" (the decision, or its redo) or "undo"
    path = TextField()
    edits = TextField()  # JSON: [[offset, old, new], ...], bytes as latin-1 text
    fields = TextField()  # JSON: {"Rating": [before, after], ...}
    blake3 = TextField()  # of what the sidecar holds after it ("": an undo removed it)
    created = BooleanField(default=False)  # the write made the file: its undo removes it
    at = FloatField()

    class Meta:
        table_name = "sidecar_write"


class Event(BaseModel):
    """Append-only log of what happened."""

    id = AutoField()
    at = FloatField(index=True)
    kind = TextField(index=True)
    source = TextField()
    root = ForeignKeyField(Root, null=True, on_delete="SET NULL", index=False)
    path = TextField(null=True)
    photo = ForeignKeyField(Photo, null=True, on_delete="SET NULL")
    payload = TextField(null=True)  # JSON


class SyncRun(BaseModel):
    """One reconciliation or watcher batch."""

    id = AutoField()
    kind = TextField(constraints=[_one_of("kind", SYNC_KINDS)])
    root = ForeignKeyField(Root, null=True, backref="sync_runs", on_delete="SET NULL")
    status = TextField(default="running", constraints=[_one_of("status", SYNC_STATUSES)])
    started_at = FloatField(index=True)
    finished_at = FloatField(null=True)
    duration = FloatField(null=True)
    files_scanned = IntegerField(default=0)
    files_added = IntegerField(default=0)
    files_updated = IntegerField(default=0)
    files_moved = IntegerField(default=0)
    files_removed = IntegerField(default=0)
    files_hashed = IntegerField(default=0)
    files_unreadable = IntegerField(default=0)
    bytes_hashed = IntegerField(default=0)
    error = TextField(null=True)


class DarktableImage(BaseModel):
    """The last snapshot of one darktable image (see core.darktable for what the fields mean)."""

    id = AutoField()
    darktable_id = IntegerField(unique=True)
    film_roll_folder = TextField()
    filename = TextField()
    version = IntegerField(default=0)
    stars = IntegerField(default=0)
    rejected = BooleanField(default=False)
    labels = IntegerField(default=0)  # same bits as Photo.labels
    tags = TextField(null=True)  # JSON list
    altered = BooleanField(default=False)
    history_end = IntegerField(default=0)
    changed_at = FloatField(null=True)
    exported_at = FloatField(null=True)
    imported_at = FloatField(null=True)
    signature = TextField()
    photo = ForeignKeyField(Photo, null=True, backref="darktable_images", on_delete="SET NULL")
    seen_at = FloatField()  # the last read of library.db that wrote this row
    # Schema 3:
    internal_tags = TextField(null=True)  # JSON list of darktable's own tags (darktable|…)
    rated_by_hand = BooleanField(default=False)  # stars set by the photographer, not import
    exif = TextField(null=True)  # JSON: the EXIF basics darktable read
    sidecar_at = FloatField(null=True)  # mtime of the last sidecar that updated this row

    class Meta:
        table_name = "darktable_image"
        indexes = ((("film_roll_folder", "filename", "version"), False),)


class CatalogueFact(BaseModel):
    """Small facts about the catalogue itself, by key (such as the darktable library it
    follows)."""

    key = TextField(primary_key=True)
    value = TextField()

    class Meta:
        table_name = "meta"


class Artifact(BaseModel):
    """One output of a stage for a photo."""

    id = AutoField()
    photo = ForeignKeyField(Photo, backref="artifacts", on_delete="CASCADE")
    stage = TextField()
    path = TextField()
    blake3 = TextField()
    size = IntegerField()
    width = IntegerField(null=True)
    height = IntegerField(null=True)
    params = TextField(null=True)  # JSON
    created_at = FloatField()
    # Schema 6: what it was made from (stale when any of these changed), and its blurhash.
    source_blake3 = TextField(null=True)  # the photo's original, or the input artifact
    sidecar_blake3 = TextField(null=True)  # for stages that read the sidecar (darktable-cli)
    params_hash = TextField(null=True)
    blurhash = TextField(null=True)

    class Meta:
        indexes = ((("photo", "stage"), True),)


class Job(BaseModel):
    """One unit of stage work."""

    id = AutoField()
    photo = ForeignKeyField(Photo, backref="jobs", on_delete="CASCADE")
    stage = TextField()
    status = TextField(default="pending", constraints=[_one_of("status", JOB_STATUSES)])
    attempts = IntegerField(default=0)
    last_error = TextField(null=True)
    queued_at = FloatField()
    next_attempt_at = FloatField(null=True)
    started_at = FloatField(null=True)
    finished_at = FloatField(null=True)

    class Meta:
        indexes = ((("status", "stage"), False), (("photo", "stage", "status"), False))


INGEST_METHODS = ("rename", "copy", "quarantine", "delete")
INGEST_STATES = ("intent", "done", "rolled_back", "failed")


class IngestMove(BaseModel):
    """The ingest journal: one file's move out of an inbox, written before the move starts
    (intent) and closed after it (done), so a start after a crash finishes or undoes it."""

    id = AutoField()
    batch = TextField()  # the files that move together: a RAW, its JPEG and its sidecar
    method = TextField(constraints=[_one_of("method", INGEST_METHODS)])
    state = TextField(default="intent", constraints=[_one_of("state", INGEST_STATES)])
    source = TextField()  # absolute paths
    destination = TextField(null=True)  # None when deleted
    temporary = TextField(null=True)  # the copy's name in the destination folder until verified
    blake3 = TextField()
    size = IntegerField()
    file_id = IntegerField(null=True)  # its catalogue record, moved with it
    dest_root_id = IntegerField(null=True)
    dest_rel_path = TextField(null=True)
    started_at = FloatField()
    finished_at = FloatField(null=True)
    error = TextField(null=True)

    class Meta:
        table_name = "ingest_move"
        indexes = ((("state",), False),)


class Card(BaseModel):
    """A memory card (or a folder) ingested from (schema 14), known again by its file system's
    UUID, else by its folder."""

    id = AutoField()
    key = TextField(unique=True)  # "uuid:<UUID>" or "folder:<absolute path>"
    uuid = TextField(null=True)
    label = TextField(null=True)
    path = TextField()  # where it was last seen
    first_seen = FloatField()
    last_seen = FloatField()

    class Meta:
        table_name = "card"


CARD_COPY_STATES = ("intent", "verified", "failed")


class CardCopy(BaseModel):
    """One file of a card and its copies (schema 14): written before the copy starts (intent),
    given its content's blake3 once the copies read back right, then verified (every
    destination read back and matched) or failed (why). A card file whose content the library
    already had is verified with ``known_at`` and no copies."""

    id = AutoField()
    card = ForeignKeyField(Card, backref="copies", on_delete="CASCADE", index=False)
    rel_path = TextField()  # on the card
    size = IntegerField()
    mtime_ns = IntegerField()
    blake3 = TextField(null=True)  # once its copies are verified, before they take their names
    state = TextField(default="intent", constraints=[_one_of("state", CARD_COPY_STATES)])
    copy_path = TextField(null=True)  # absolute paths of the copies
    backup_path = TextField(null=True)
    known_at = TextField(null=True)  # where the library already had this content
    tag = TextField()  # names the copies' temporaries until they are verified
    error = TextField(null=True)
    started_at = FloatField()
    finished_at = FloatField(null=True)

    class Meta:
        table_name = "card_copy"
        indexes = (
            (("card", "rel_path", "size", "mtime_ns"), False),
            (("blake3",), False),
            (("state",), False),
        )


class IngestCounter(BaseModel):
    """The last number {seq} gave in ingest names (schema 14), per job or per day."""

    key = TextField(primary_key=True)  # "job:<name>" or "day:<YYYY-MM-DD>"
    last = IntegerField()

    class Meta:
        table_name = "ingest_counter"


class UnreadableFolder(BaseModel):
    """A folder of a root that the last run to look at it could not read (schema 8): nothing
    under it is removed, and the root needs attention, until a run reads it."""

    root = ForeignKeyField(Root, backref="unreadable_folders", on_delete="CASCADE", index=False)
    rel_path = TextField()  # "" for the root's own folder
    reason = TextField()
    seen_at = FloatField()

    class Meta:
        table_name = "unreadable_folder"
        primary_key = CompositeKey("root", "rel_path")


class Heartbeat(BaseModel):
    """One row per component: its state and when it last reported."""

    component = TextField(primary_key=True)
    status = TextField()
    task = TextField(null=True)
    error = TextField(null=True)
    beat_at = FloatField()


MODELS = (
    Root,
    Photo,
    FileRecord,
    Decision,
    SidecarWrite,
    Event,
    SyncRun,
    DarktableImage,
    Artifact,
    Job,
    IngestMove,
    Card,
    CardCopy,
    IngestCounter,
    Heartbeat,
    CatalogueFact,
    UnreadableFolder,
)
