"""What an ingest pass would do, decided before anything moves: which inbox files have settled,
which belong together (a RAW, its JPEG twin and its sidecars), the day each batch was taken,
which files the catalogue already has, and where each of the others goes.

Reads the catalogue and the disk; writes nothing. ``core.ingest.run`` carries a plan out.
"""

from __future__ import annotations

import os
import string
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from peewee import Database

from core.config import IngestSettings
from core.files import last_written_ns
from core.media.grouping import PHOTO_KINDS, group_folder
from core.media.metadata import read_capture_clock
from core.scan.ignore import IgnoreRules

EARLIEST_YEAR = 1990  # before digital cameras were sold: a camera clock that was never set
FUTURE_SLACK = timedelta(days=1)  # time zones: a camera a day ahead of this machine is believable


@dataclass(frozen=True)
class Dated:
    """The day a batch was taken, and what says so."""

    day: datetime | None  # None: undated
    source: str  # "DateTimeOriginal +02:00", "DateTimeDigitized", "file time", or why undated
    make: str | None = None
    model: str | None = None


@dataclass(frozen=True)
class Move:
    source: Path
    destination: Path | None  # None: a duplicate deleted (ingest.delete_duplicates)
    blake3: str
    size: int
    file_id: int
    action: str  # "ingest" or "duplicate"
    duplicate_of: str | None = None  # where the catalogue has it


@dataclass
class Batch:
    """Files that move together, dated together."""

    inbox: str  # the inbox root's folder
    dated: Dated
    moves: list[Move] = field(default_factory=list)


@dataclass
class Plan:
    batches: list[Batch] = field(default_factory=list)
    waiting: int = 0  # files not settled yet, or whose batch is not complete yet

    @property
    def files(self) -> int:
        return sum(len(batch.moves) for batch in self.batches)


@dataclass(frozen=True)
class _Candidate:
    file_id: int
    rel_path: str
    size: int
    mtime_ns: int
    blake3: str
    kind: str


def plan_ingest(
    db: Database,
    settings: IngestSettings,
    destination_root: str,
    ignore: tuple[str, ...] = (),
    now: float | None = None,
) -> Plan:
    """The plan for every online inbox root. ``destination_root`` is the root folder
    ``settings.destination`` lies in (the catalogue's duplicate check leaves inboxes out)."""
    now = time.time() if now is None else now
    plan = Plan()
    claimed: dict[str, str] = {}  # blake3 -> where this pass files it: a second copy is a duplicate
    taken: set[Path] = set()  # destinations this pass has given out
    rules = IgnoreRules(ignore)
    inboxes = db.execute_sql(
        "SELECT id, path FROM root WHERE kind = 'inbox' AND state = 'online' ORDER BY path"
    ).fetchall()
    for root_id, root_path in inboxes:
        for folder, (candidates, unusable) in _by_folder(db, root_id).items():
            on_disk = _folder_names(Path(root_path) / folder, rules, folder)
            if on_disk is None:
                continue
            for members in _groups(candidates, on_disk):
                names = {os.path.basename(c.rel_path) for c in members}
                # A file of the batch not hashed yet (still arriving) holds the rest back; one
                # that cannot be read does not (the reconciler records why).
                arriving = [
                    name
                    for name in on_disk.get(_stem(os.path.basename(members[0].rel_path)), ())
                    if name not in names and name not in unusable
                ]
                settled = all(
                    _settled(Path(root_path), c, settings.settle_seconds, now) for c in members
                )
                if arriving or not settled:
                    plan.waiting += len(members)
                    continue
                batch = _batch(db, settings, root_path, members, claimed, taken, now)
                plan.batches.append(batch)
    return plan


# --- candidates ---------------------------------------------------------------------------


def _by_folder(db: Database, root_id: int) -> dict[str, tuple[list[_Candidate], set[str]]]:
    """Folder by folder, the inbox's hashed files, and the names of those that cannot be read."""
    rows = db.execute_sql(
        "SELECT id, rel_path, size, mtime_ns, blake3, kind, error FROM file"
        " WHERE root_id = ? AND (blake3 IS NOT NULL OR error IS NOT NULL) ORDER BY rel_path",
        (root_id,),
    ).fetchall()
    folders: dict[str, tuple[list[_Candidate], set[str]]] = {}
    for *fields, _error in rows:
        candidates, unusable = folders.setdefault(os.path.dirname(fields[1]), ([], set()))
        if fields[4] is None:
            unusable.add(os.path.basename(fields[1]))
        else:
            candidates.append(_Candidate(*fields))
    return folders


def _folder_names(path: Path, rules: IgnoreRules, folder: str) -> dict[str, list[str]] | None:
    """The files in an inbox folder now, by stem: a file still arriving (not catalogued yet)
    holds back the rest of its batch. None when the folder cannot be read."""
    names: dict[str, list[str]] = {}
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                rel = f"{folder}/{entry.name}" if folder else entry.name
                if entry.is_file(follow_symlinks=False) and not rules.ignores(
                    rel, entry.name, False
                ):
                    names.setdefault(_stem(entry.name), []).append(entry.name)
    except OSError:
        return None
    return names


def _stem(name: str) -> str:
    return name.split(".", 1)[0].lower()


def _groups(candidates: list[_Candidate], on_disk: dict[str, list[str]]) -> list[list[_Candidate]]:
    """Candidates grouped as the media grouping makes photos: the original first, then its
    twins and sidecars. A file of no photo (a lone sidecar, a text file) is a batch alone."""
    by_name = {os.path.basename(c.rel_path): c for c in candidates}
    groups = group_folder([(name, c.kind) for name, c in by_name.items()])
    batches: list[list[_Candidate]] = []
    grouped: set[str] = set()
    for group in groups:
        names = [group.original, *(n for n in group.members if n != group.original)]
        members = [by_name[n] for n in names if n in by_name]
        # Files named like this photo but grouped apart (IMG_1.wav beside IMG_1.CR2) join it.
        for name in on_disk.get(_stem(group.original), ()):
            if name in by_name and name not in names:
                members.append(by_name[name])
        grouped.update(os.path.basename(m.rel_path) for m in members)
        batches.append(members)
    for name, candidate in by_name.items():
        if name not in grouped:
            batches.append([candidate])
    return batches


def _settled(root: Path, candidate: _Candidate, settle_seconds: float, now: float) -> bool:
    """Still as catalogued (size and time), and unchanged for the settle time."""
    try:
        stat = os.stat(root / candidate.rel_path, follow_symlinks=False)
    except OSError:
        return False
    return (
        stat.st_size == candidate.size
        and stat.st_mtime_ns == candidate.mtime_ns
        and now - last_written_ns(stat) / 1e9 >= settle_seconds
    )


# --- one batch ----------------------------------------------------------------------------


def _batch(
    db: Database,
    settings: IngestSettings,
    root_path: str,
    members: list[_Candidate],
    claimed: dict[str, str],
    taken: set[Path],
    now: float,
) -> Batch:
    root = Path(root_path)
    dated = date_of(root, members, now)
    batch = Batch(root_path, dated)
    original_duplicate = _known(db, members[0].blake3, claimed)
    new_members = []
    for candidate in members:
        known = _known(db, candidate.blake3, claimed)
        if original_duplicate is not None or known is not None:
            batch.moves.append(
                Move(
                    root / candidate.rel_path,
                    _quarantine(root, settings, candidate.rel_path, taken),
                    candidate.blake3,
                    candidate.size,
                    candidate.file_id,
                    "duplicate",
                    known or f"its photo, {original_duplicate}",
                )
            )
        else:
            new_members.append(candidate)
    if new_members:
        folder = _folder_for(settings, dated, os.path.basename(members[0].rel_path))
        names = _free_names(root, folder, members[0], new_members, settings, dated, taken)
        for candidate, name in zip(new_members, names, strict=True):
            destination = folder / name
            batch.moves.append(
                Move(root / candidate.rel_path, destination, candidate.blake3, candidate.size,
                     candidate.file_id, "ingest")
            )  # fmt: skip
            claimed[candidate.blake3] = str(destination)
    return batch


def _known(db: Database, digest: str, claimed: dict[str, str]) -> str | None:
    """Where the catalogue (outside the inboxes) or this pass already has this content."""
    if digest in claimed:
        return claimed[digest]
    row = db.execute_sql(
        "SELECT r.path, f.rel_path FROM file f JOIN root r ON r.id = f.root_id"
        " WHERE f.blake3 = ? AND r.kind != 'inbox' LIMIT 1",
        (digest,),
    ).fetchone()
    return os.path.join(row[0], row[1]) if row else None


def date_of(root: Path, members: list[_Candidate], now: float) -> Dated:
    """The capture day from the EXIF of the original, else of another picture of the batch
    (a RAW whose EXIF cannot be read, its JPEG twin), else the original's file time. A date
    before 1990 or in the future is no date: the batch goes to the undated folder."""
    make = model = None
    reasons = []
    for candidate in sorted(members, key=_picture_first):
        if candidate.kind not in PHOTO_KINDS:
            continue
        clock = read_capture_clock(root / candidate.rel_path)
        make, model = make or clock.make, model or clock.model
        if clock.local is None:
            reasons.append(f"{os.path.basename(candidate.rel_path)}: {clock.error}")
            continue
        source = clock.source + (f" {clock.offset}" if clock.offset else "")
        why_not = _unbelievable(clock.local, now)
        if why_not:
            return Dated(None, f"{source} says {clock.local:%Y-%m-%d}: {why_not}", make, model)
        return Dated(clock.local, source, make, model)
    original = members[0]
    local = datetime.fromtimestamp(original.mtime_ns / 1e9)
    why_not = _unbelievable(local, now)
    if why_not:
        reasons.append(f"the file time {local:%Y-%m-%d} is {why_not}")
        return Dated(None, "; ".join(reasons), make, model)
    return Dated(local, f"file time ({'; '.join(reasons)})" if reasons else "file time", make,
                 model)  # fmt: skip


def _picture_first(candidate: _Candidate) -> int:
    return PHOTO_KINDS.index(candidate.kind) if candidate.kind in PHOTO_KINDS else 99


def _unbelievable(local: datetime, now: float) -> str | None:
    if local.year < EARLIEST_YEAR:
        return f"before {EARLIEST_YEAR} (a camera clock never set?)"
    if local > datetime.fromtimestamp(now) + FUTURE_SLACK:
        return "in the future"
    return None


# --- where it goes ------------------------------------------------------------------------


def _folder_for(settings: IngestSettings, dated: Dated, original: str) -> Path:
    assert settings.destination is not None
    if dated.day is None:
        return settings.destination / fill(settings.undated, dated, original)
    return settings.destination / fill(settings.folders, dated, original)


def fill(
    template: str, dated: Dated, original: str, more: Mapping[str, str | int] | None = None
) -> str:
    """A folder or name template with the batch's values, each made safe as a name. ``more``:
    the values only a card ingest has ({job}, {card} as text, {seq} as a number); a template
    naming one that is not given raises IngestNeeds."""
    day = dated.day
    make = (dated.make or "").strip()
    model = (dated.model or "").strip()
    # "Canon" + "Canon EOS R5" is "Canon EOS R5"; "NIKON CORPORATION" + "NIKON D850" likewise.
    camera = (
        model
        if make and model.lower().startswith(make.split()[0].lower())
        else (f"{make} {model}".strip())
    )
    values: dict[str, str | int] = {
        "year": f"{day:%Y}" if day else "undated",
        "month": f"{day:%m}" if day else "undated",
        "day": f"{day:%d}" if day else "undated",
        "time": f"{day:%H%M%S}" if day else "undated",
        "make": make or "unknown camera",
        "model": model or "unknown camera",
        "camera": camera or "unknown camera",
        "stem": original.split(".", 1)[0],
    }
    values = {k: _safe(v) for k, v in values.items()}
    values.update({k: v if isinstance(v, int) else _safe(v) for k, v in (more or {}).items()})
    try:
        filled = string.Formatter().vformat(template, (), values)
    except KeyError as error:
        raise IngestNeeds(str(error.args[0])) from None
    return "/".join(part for part in filled.split("/") if part not in ("", ".", ".."))


class IngestNeeds(KeyError):
    """A name or folder template uses a placeholder this ingest has no value for (``{seq}``,
    ``{job}``, ``{card}`` outside a card ingest); the argument is its name."""


def _safe(value: str) -> str:
    cleaned = "".join("_" if ch in "/\\\0" or ord(ch) < 32 else ch for ch in value).strip()
    return cleaned.lstrip(".") or "_"


def _free_names(
    root: Path,
    folder: Path,
    original: _Candidate,
    members: list[_Candidate],
    settings: IngestSettings,
    dated: Dated,
    taken: set[Path],
) -> list[str]:
    """The members' names in the destination: one new stem for all of them, with -1, -2 …
    added when a file of that name is there (or given out in this pass): never overwrite."""
    original_name = os.path.basename(original.rel_path)
    original_stem = original_name.split(".", 1)[0]
    stem = fill(settings.names, dated, original_name).replace("/", "_")
    tails = [name_tail(os.path.basename(m.rel_path), original_stem) for m in members]
    for attempt in range(10_000):
        candidate = stem if attempt == 0 else f"{stem}-{attempt}"
        names = [candidate + tail for tail in tails]
        paths = [folder / name for name in names]
        if not any(p in taken or os.path.lexists(p) for p in paths):
            taken.update(paths)
            return names
    raise RuntimeError(f"no free name for {original_name} in {folder}")


def name_tail(name: str, original_stem: str) -> str:
    """What follows the shared stem: ``.CR2.xmp``, or ``_01.CR2.xmp`` for a duplicate's."""
    if name.lower().startswith(original_stem.lower()):
        return name[len(original_stem) :]
    return "." + name.split(".", 1)[1] if "." in name else "-" + name


def _quarantine(
    root: Path, settings: IngestSettings, rel_path: str, taken: set[Path]
) -> Path | None:
    if settings.delete_duplicates:
        return None
    target = root / settings.duplicates / rel_path
    stem, dot, rest = target.name.partition(".")
    attempt = 0
    while target in taken or os.path.lexists(target):
        attempt += 1
        target = target.with_name(f"{stem}-{attempt}{dot}{rest}")
    taken.add(target)
    return target
