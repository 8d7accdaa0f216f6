"""Ingest from a card: each camera file copied into the dated layout of ``ingest.destination``
and, when set, of ``ingest.backup``, read once from the card and verified in every destination;
and the verdict that says whether the card is safe to format.

The card is only read. Each file is journaled (``card_copy``, state ``intent``) before its
copies are written; its blake3 is written once they read back right, before they take their
names; and it is closed (``verified`` or ``failed``) after. A copy cut short (the card pulled
out, the process killed) is found at the next start: its temporaries are removed, and a copy
that took its name without being closed is checked against the journal's blake3 and kept or
removed; the file is then copied again. A card ingested again copies only files it has not
verified before, and content the library already holds (a card re-formatted, its names
started over) is recorded where it is, not copied twice.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import NamedTuple

import humanize
from peewee import Database

from core.config import Settings
from core.ingest.card import CardFile, CardIdentity, ReadAhead, card_files, identify
from core.ingest.plan import Dated, date_of, fill, name_tail
from core.ingest.run import IngestUnavailable, Write, destination_root, write_here
from core.ingest.verified_copy import (
    AfterWrite,
    CopyFailed,
    PendingCopy,
    digest_of,
    start_copy,
    temporary_for,
)
from core.media.grouping import group_folder
from core.media.kinds import kind_from_name
from core.store import queries
from core.store.dialect import insert_returning_id, larger_of
from core.store.events import EventKind, record_event
from core.store.models import Root

# FAT and exFAT keep modification times in steps of 2 s: a copy on such a backup drive keeps
# the card's time only to within that.
FAT_TIME_STEP_NS = 2_000_000_000


class CardIngestUnavailable(Exception):
    """Card ingest cannot run with these settings; the message says why and what to do."""


@dataclass
class CardReport:
    card: str  # its label, else its folder
    files: int = 0
    copied: int = 0
    bytes_copied: int = 0
    already: int = 0  # verified by an earlier ingest of this card
    in_library: int = 0  # the library had the content already: not copied
    failed: int = 0
    retried: int = 0  # copies that read back wrong once and were made again
    recovered: list[str] = field(default_factory=list)  # copies cut short earlier, put right
    lines: list[dict] = field(default_factory=list)  # one per file handled in this pass


@dataclass(frozen=True)
class DestinationProgress:
    """How one destination is keeping up: the copies verified there in this pass, and the
    seconds spent writing, flushing and reading them back."""

    path: Path
    files: int
    bytes: int
    seconds: float

    @property
    def rate(self) -> float:
        """Bytes a second it takes a copy in (0 before the first)."""
        return self.bytes / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class CardProgress:
    done: int  # files handled in this pass (copied, found in the library, or failed)
    files: int  # to handle in this pass
    done_bytes: int
    total_bytes: int
    destinations: tuple[DestinationProgress, ...]  # ingest.destination, then ingest.backup

    def said(self, elapsed: float) -> str:
        """What a person watching it wants to know, the slower drive included: "copying 212 /
        1,508 files, 2.1 GB of 15.0 GB (85.0 MB/s, 3 minutes left); destination 420.0 MB/s,
        backup 95.0 MB/s"."""
        rate = self.done_bytes / elapsed if elapsed > 0 else 0.0
        left = ""
        if rate and self.total_bytes > self.done_bytes:
            left = f", {humanize.naturaldelta((self.total_bytes - self.done_bytes) / rate)} left"
        size = humanize.naturalsize
        text = (f"copying {self.done:,} / {self.files:,} files, {size(self.done_bytes)} of "
                f"{size(self.total_bytes)} ({size(rate)}/s{left})")  # fmt: skip
        drives = [f"{name} {size(d.rate)}/s"
                  for name, d in zip(("destination", "backup"), self.destinations, strict=False)
                  if d.files]  # fmt: skip
        return f"{text}; {', '.join(drives)}" if drives else text


Progress = Callable[[CardProgress], None]


@dataclass(frozen=True)
class Verdict:
    card: CardIdentity
    files: int
    copied: int  # in every destination, verified
    in_library: int
    problems: list[tuple[str, str]]  # (file on the card, why it is not safe yet)

    @property
    def safe(self) -> bool:
        return not self.problems


def ingest_card(
    db: Database,
    settings: Settings,
    card_path: Path,
    dry_run: bool = False,
    progress: Progress | None = None,
    after_write: AfterWrite | None = None,
    now: Callable[[], float] = time.time,
    job: str | None = None,
    write: Write = write_here,
    cancel: threading.Event | None = None,
) -> CardReport:
    """Copy what is new on the card at ``card_path``; ``job`` fills {job} in names and
    folders; each catalogue write goes through ``write`` (the engine's writer thread).
    Stops between files once ``cancel`` is set. Raises CardIngestUnavailable (no
    destination, a backup inside the destination, a {job} and no job) or
    core.ingest.card.CardUnreadable."""
    primary_root, backup_root = _destinations(settings)
    templates = (settings.ingest.names, settings.ingest.folders, settings.ingest.undated)
    if job is None and any("{job" in template for template in templates):
        raise CardIngestUnavailable(
            "the ingest names or folders use {job}: say the job with --job NAME"
        )
    card = identify(card_path)
    listed = card_files(card)
    report = CardReport(card.name, files=len(listed))
    root = None
    if not dry_run:
        try:  # a library root: each verified copy is catalogued there as it takes its name
            root = write(partial(destination_root, settings))
        except IngestUnavailable as error:
            raise CardIngestUnavailable(str(error)) from None
    card_id = None if dry_run else write(partial(_remember, db, card, now()))
    if card_id is not None:
        report.recovered = recover_copies(db, card_id, write)
    verified = _verified(db, card_id) if card_id is not None else {}
    todo = [f for f in listed if (f.rel_path, f.size, f.mtime_ns) not in verified]
    report.already = len(listed) - len(todo)
    copier = _Copier(db, settings, card, card_id, report, primary_root, backup_root, dry_run,
                     after_write, now, _known_sizes(db), write, job, root)  # fmt: skip
    total_bytes = sum(f.size for f in todo)
    done_files = done_bytes = 0
    batches = _batches(todo)
    in_order = [member for members in batches for member in members]
    reader = None if dry_run else ReadAhead([(card.files_root / m.rel_path, m.size)
                                             for m in in_order])  # fmt: skip
    try:
        for members in batches:
            if cancel is not None and cancel.is_set():  # between files: nothing left open
                break
            if reader is not None:
                reader.reached(done_files)
            copier.batch(members)
            done_files += len(members)
            done_bytes += sum(member.size for member in members)
            if progress is not None:
                progress(CardProgress(done_files, len(todo), done_bytes, total_bytes,
                                      copier.destination_progress()))  # fmt: skip
        copier.settle()
        if progress is not None and done_files:  # with the last copy verified
            progress(CardProgress(done_files, len(todo), done_bytes, total_bytes,
                                  copier.destination_progress()))  # fmt: skip
    finally:
        copier.close()
        if reader is not None:
            reader.close()
    return report


class _InFlight(NamedTuple):
    """A copy written and being verified, and what naming it needs."""

    member: CardFile
    copy_id: int
    primary: Path
    backup: Path | None
    line: dict
    expected: str | None  # the blake3 read before copying (a size the library knows)
    verifying: Future[PendingCopy]


@dataclass
class _Copier:
    """One pass's batches copied: what the pass knows, and the names it gave out."""

    db: Database
    settings: Settings
    card: CardIdentity
    card_id: int | None  # None on a dry run
    report: CardReport
    primary_root: Path
    backup_root: Path | None
    dry_run: bool
    after_write: AfterWrite | None
    now: Callable[[], float]
    known_sizes: set[int]
    write: Write
    job: str | None = None
    root: Root | None = None  # the library root the primary copies are catalogued in
    taken: set[str] = field(default_factory=set)  # destinations given out, without case
    counters: dict[str, int] = field(default_factory=dict)  # {seq}: the last number given
    spent: list[float] = field(default_factory=lambda: [0.0, 0.0])  # per destination
    verifier: ThreadPoolExecutor | None = None  # one copy verified while the next is written
    in_flight: _InFlight | None = None

    def destination_progress(self) -> tuple[DestinationProgress, ...]:
        roots = [self.primary_root]
        if self.backup_root is not None:
            roots.append(self.backup_root)
        report = self.report
        return tuple(DestinationProgress(root, report.copied, report.bytes_copied, seconds)
                     for root, seconds in zip(roots, self.spent, strict=False))  # fmt: skip

    def batch(self, members: list[CardFile]) -> None:
        """A RAW, its JPEG and its sidecars: dated together, named together, copied."""
        dated = date_of(self.card.files_root, members, self.now())
        folder = self._folder(dated, os.path.basename(members[0].rel_path))
        # Content the library may have already is read first, to be recorded where it is
        # rather than copied; only a file whose size some known file has can be one of them,
        # so most files are read once, as they are copied.
        digests: dict[str, str] = {}
        new = []
        for member in members:
            if member.size not in self.known_sizes:
                new.append(member)
                continue
            try:
                digest = digests[member.rel_path] = digest_of(
                    self.card.files_root / member.rel_path
                )
            except CopyFailed as error:  # the card pulled out, a bad sector: said per file
                _failed(self.report, member, str(error))
                continue
            known = _in_library(self.db, digest)
            if known is None:
                new.append(member)
                continue
            self.report.in_library += 1
            self.report.lines.append(
                {"file": member.rel_path, "done": "in the library", "to": known}
            )
            if self.card_id is not None:
                self.write(partial(_record_known, self.db, self.card_id, member, digest, known,
                                   self.now()))  # fmt: skip
        names = self._free_names(folder, members, new, dated)
        for member in new:
            name = names[member.rel_path]
            primary = self.primary_root / folder / name
            backup = self.backup_root / folder / name if self.backup_root is not None else None
            targets = [primary] if backup is None else [primary, backup]
            line = {"file": member.rel_path, "to": str(primary)}
            if backup is not None:
                line["backup"] = str(backup)
            if self.dry_run:
                self.report.lines.append({**line, "done": "would be copied"})
                self.report.copied += 1
                continue
            assert self.card_id is not None
            tag = uuid.uuid4().hex
            copy_id = self.write(
                partial(_intent, self.db, self.card_id, member, targets, tag, self.now())
            )
            source = self.card.files_root / member.rel_path
            try:
                pending = start_copy(source, targets, tag, self.after_write)
            except CopyFailed as error:
                self._failed_copy(copy_id, member, primary, error)
                continue
            # Written while the file before it was flushed and read back: each waits for the
            # other's drive only as long as it must. That one now takes its name, then this one
            # goes to be verified.
            self.settle()
            if self.verifier is None:
                self.verifier = ThreadPoolExecutor(1, thread_name_prefix="card-verify")
            self.in_flight = _InFlight(member, copy_id, primary, backup, line,
                                       digests.get(member.rel_path),
                                       self.verifier.submit(pending.verify))  # fmt: skip

    def settle(self) -> None:
        """The copy being verified, if any: named and catalogued, or its failure recorded."""
        flight, self.in_flight = self.in_flight, None
        if flight is None:
            return

        def journal_content(digest: str) -> None:
            if flight.expected is not None and digest != flight.expected:
                raise CopyFailed("the card read differently twice: check the card and reader")
            self.write(partial(_journal_content, self.db, flight.copy_id, digest))

        try:
            copied = flight.verifying.result().finish(journal_content)
        except CopyFailed as error:
            self._failed_copy(flight.copy_id, flight.member, flight.primary, error)
            return
        assert self.root is not None
        member, backup = flight.member, flight.backup
        arrival = Arrival(flight.copy_id, self.root.id,
                          os.path.relpath(flight.primary, self.root.path), copied.size,
                          member.mtime_ns, copied.blake3,
                          {"card": self.card.name, "from": member.rel_path,
                           "backup": str(backup) if backup else None})  # fmt: skip
        self.write(partial(_arrived, self.db, arrival, self.now()))
        self.report.copied += 1
        self.report.bytes_copied += copied.size
        for index, seconds in enumerate(copied.seconds):
            self.spent[index] += seconds
        self.report.retried += copied.attempts - 1
        self.report.lines.append({**flight.line, "done": "copied and verified"})

    def close(self) -> None:
        """No thread left verifying: a copy still being verified when the pass ends early (the
        card pulled out, an error) keeps its temporaries and open journal entry for the next
        pass to put right."""
        if self.verifier is not None:
            self.verifier.shutdown(wait=True)
            self.verifier = None

    def _failed_copy(self, copy_id: int, member: CardFile, primary: Path, error: Exception) -> None:
        self.write(partial(_close, self.db, copy_id, "failed", str(error), self.now()))
        _failed(self.report, member, str(error))
        failed = {"card": self.card.name, "from": member.rel_path, "error": str(error)}
        self.write(partial(record_event, EventKind.CARD_COPY_FAILED, "ingest",
                           path=str(primary), payload=failed))  # fmt: skip

    def _folder(self, dated: Dated, original: str) -> str:
        ingest = self.settings.ingest
        template = ingest.folders if dated.day is not None else ingest.undated
        return fill(template, dated, original, self._values())

    def _values(self, seq: int | None = None) -> dict[str, str | int]:
        values: dict[str, str | int] = {"card": self.card.name.rsplit("/", 1)[-1]}
        if self.job is not None:
            values["job"] = self.job
        if seq is not None:
            values["seq"] = seq
        return values

    def _free_names(
        self, folder: str, members: list[CardFile], new: list[CardFile], dated: Dated
    ) -> dict[str, str]:
        """The new members' names: one stem for the batch (a new {seq} for each try when
        the template has one, else -1, -2 … added) while a file of that name is in either
        destination or was given out in this pass: never overwrite. Names given out are
        compared without case: a FAT or exFAT backup drive does not tell IMG_1.JPG from
        img_1.jpg."""
        if not new:
            return {}
        template = self.settings.ingest.names
        original = os.path.basename(members[0].rel_path)
        original_stem = original.split(".", 1)[0]
        tails = {m.rel_path: name_tail(os.path.basename(m.rel_path), original_stem) for m in new}
        roots = [self.primary_root] if self.backup_root is None else [self.primary_root,
                                                                      self.backup_root]  # fmt: skip
        counted = "{seq" in template
        stem = "" if counted else fill(template, dated, original, self._values())
        for attempt in range(10_000):
            if counted:
                stem = fill(template, dated, original, self._values(self._next_seq(dated)))
            candidate = stem if attempt == 0 or counted else f"{stem}-{attempt}"
            candidate = candidate.replace("/", "_")
            names = {rel: candidate + tail for rel, tail in tails.items()}
            paths = [root / folder / name for root in roots for name in names.values()]
            if not any(str(p).casefold() in self.taken or os.path.lexists(p) for p in paths):
                self.taken.update(str(p).casefold() for p in paths)
                return names
        raise CardIngestUnavailable(f"no free name for {original} in {folder}")

    def _next_seq(self, dated: Dated) -> int:
        """The next number of the counter this batch counts on: its job's when the names
        have {job}, else its day's. Kept in the catalogue, so a number is never given twice
        (a dry run only looks)."""
        if self.job is not None and "{job" in self.settings.ingest.names:
            key = f"job:{self.job}"
        else:
            key = f"day:{dated.day:%Y-%m-%d}" if dated.day else "day:undated"
        if key not in self.counters:
            row = self.db.execute_sql(
                "SELECT last FROM ingest_counter WHERE key = ?", (key,)
            ).fetchone()
            self.counters[key] = row[0] if row else 0
        self.counters[key] += 1
        if not self.dry_run:
            self.write(partial(_save_counter, self.db, key, self.counters[key]))
        return self.counters[key]


def card_verdict(
    db: Database, settings: Settings, card_path: Path, reread: bool = False
) -> Verdict:
    """Whether every file on the card is safe elsewhere: copied and verified in the
    destination and in the backup (when one is set), its copies still there as verified
    (their size and time; with ``reread`` their content read back and matched), or its
    content already in the library."""
    card = identify(card_path)
    listed = card_files(card)
    row = db.execute_sql("SELECT id FROM card WHERE key = ?", (card.key,)).fetchone()
    verified = _verified(db, row[0]) if row else {}
    problems: list[tuple[str, str]] = []
    copied = in_library = 0
    for item in listed:
        record = verified.get((item.rel_path, item.size, item.mtime_ns))
        if record is None:
            problems.append((item.rel_path, "not copied yet"))
            continue
        digest, primary, backup, known = record
        if known is not None:
            why = _missing(Path(known), item, digest, reread, check_time=False)
            if why:
                problems.append((item.rel_path, f"the library's copy {known} {why}"))
            else:
                in_library += 1
            continue
        wanted = [("destination", primary)]
        if settings.ingest.backup is not None:
            wanted.append(("backup", backup))
        whys = []
        for what, path in wanted:
            if path is None:
                whys.append(f"no copy in the {what} (it was set after this file was copied)")
                continue
            why = _missing(Path(path), item, digest, reread, check_time=True)
            if why:
                whys.append(f"the {what} copy {path} {why}")
        if whys:
            problems.append((item.rel_path, "; ".join(whys)))
        else:
            copied += 1
    return Verdict(card, len(listed), copied, in_library, problems)


def recover_copies(
    db: Database, card_id: int | None = None, write: Write = write_here
) -> list[str]:
    """Copies a crash or a pulled card left open, put right: temporaries removed; a copy that
    took its name is kept (and the file recorded verified) when every destination holds the
    journal's content, else those names are removed and the file is copied again next time.
    Returns one line per copy, saying what was done."""
    where, args = ("AND cc.card_id = ?", (card_id,)) if card_id is not None else ("", ())
    rows = db.execute_sql(
        f"SELECT cc.id, cc.rel_path, cc.blake3, cc.copy_path, cc.backup_path, cc.tag, c.label"
        f" FROM card_copy cc JOIN card c ON c.id = cc.card_id"
        f" WHERE cc.state = 'intent' {where} ORDER BY cc.id",
        args,
    ).fetchall()
    done = []
    for copy_id, rel_path, digest, primary, backup, tag, label in rows:
        targets = [Path(p) for p in (primary, backup) if p]
        for target in targets:
            with contextlib.suppress(OSError):
                os.unlink(temporary_for(target, tag))
        if digest is None:  # never verified, so never named: only temporaries were left
            write(partial(_forget, db, copy_id))
            done.append(f"{rel_path}: its copy was cut short; it is copied again")
            continue
        present = [t for t in targets if os.path.lexists(t)]
        if present and len(present) == len(targets) and all(_holds(t, digest) for t in targets):
            payload = {"card": label, "from": rel_path, "backup": backup}
            arrival = _arrival_found(copy_id, Path(primary), digest, payload)
            if arrival is None:  # its destination is no root (any more): not catalogued here
                write(partial(_close, db, copy_id, "verified", None, time.time()))
            else:
                write(partial(_arrived, db, arrival, time.time()))
            done.append(f"{rel_path}: its copies were complete; recorded")
            continue
        for target in present:
            if _holds(target, digest):  # ours, from this copy: the card still has the file
                os.unlink(target)
        write(partial(_forget, db, copy_id))
        done.append(f"{rel_path}: its copy was cut short; it is copied again")
    return done


# --- what is known ----------------------------------------------------------------------------


def _destinations(settings: Settings) -> tuple[Path, Path | None]:
    primary = settings.ingest.destination
    if primary is None:
        raise CardIngestUnavailable(
            "no ingest.destination is set: say which library folder card files are copied into"
        )
    backup = settings.ingest.backup
    primary = Path(os.path.realpath(primary))
    if backup is None:
        return primary, None
    backup = Path(os.path.realpath(backup))
    if backup == primary or primary in backup.parents or backup in primary.parents:
        raise CardIngestUnavailable(
            f"ingest.backup {backup} and ingest.destination {primary} overlap: the backup is "
            "a second copy, best on another drive"
        )
    return primary, backup


def _remember(db: Database, card: CardIdentity, at: float) -> int:
    with db.atomic():
        db.execute_sql(
            "INSERT INTO card (key, uuid, label, path, first_seen, last_seen)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET"
            " label = excluded.label, path = excluded.path, last_seen = excluded.last_seen",
            (card.key, card.uuid, card.label, str(card.path), at, at),
        )
        return db.execute_sql("SELECT id FROM card WHERE key = ?", (card.key,)).fetchone()[0]


def _verified(db: Database, card_id: int) -> dict[tuple[str, int, int], tuple]:
    """The card's verified files by (name, size, time): (blake3, primary, backup, known_at)."""
    rows = db.execute_sql(
        "SELECT rel_path, size, mtime_ns, blake3, copy_path, backup_path, known_at FROM card_copy"
        " WHERE card_id = ? AND state = 'verified' ORDER BY id",
        (card_id,),
    ).fetchall()
    return {(r[0], r[1], r[2]): r[3:] for r in rows}


def _in_library(db: Database, digest: str) -> str | None:
    """Where the library (outside the inboxes), or a verified copy of an earlier card ingest,
    already holds this content, if it is still there."""
    row = db.execute_sql(
        "SELECT r.path, f.rel_path FROM file f JOIN root r ON r.id = f.root_id"
        " WHERE f.blake3 = ? AND r.kind != 'inbox' LIMIT 1",
        (digest,),
    ).fetchone()
    if row is not None:
        return os.path.join(row[0], row[1])
    for (primary,) in db.execute_sql(
        "SELECT copy_path FROM card_copy WHERE blake3 = ? AND state = 'verified'"
        " AND copy_path IS NOT NULL ORDER BY id",
        (digest,),
    ).fetchall():
        if os.path.exists(primary):
            return primary
    return None


# --- one batch: a RAW, its JPEG and its sidecars ----------------------------------------------


def _batches(files: list[CardFile]) -> list[list[CardFile]]:
    """The files grouped as the library groups photos (the original first), a file of no
    photo a batch alone, in the order they were taken: by the time the camera wrote each
    original, then by name (the camera's counter, for shots within one tick of the card's
    clock). Photos reach the triage queue, and {seq} numbers them, as they were shot, also
    across a folder the camera started anew or a counter that went round from 9999."""
    by_folder: dict[str, dict[str, CardFile]] = {}
    for item in files:
        folder, _, name = item.rel_path.rpartition("/")
        by_folder.setdefault(folder, {})[name] = item
    batches = []
    for folder in sorted(by_folder):
        by_name = by_folder[folder]
        grouped: set[str] = set()
        for group in group_folder([(name, item.kind) for name, item in by_name.items()]):
            names = [group.original, *(n for n in group.members if n != group.original)]
            members = [by_name[n] for n in names if n in by_name]
            grouped.update(names)
            batches.append(members)
        batches.extend([item] for name, item in by_name.items() if name not in grouped)
    batches.sort(key=lambda members: (members[0].mtime_ns, members[0].rel_path))
    return batches


# --- the journal ------------------------------------------------------------------------------


def _intent(
    db: Database, card_id: int, item: CardFile, targets: list[Path], tag: str, at: float
) -> int:
    """The copy about to start: where it goes. Its content's blake3 is written once the copies
    are verified, before they take their names (``_journal_content``)."""
    backup = str(targets[1]) if len(targets) > 1 else None
    with db.atomic():
        return insert_returning_id(
            db,
            "INSERT INTO card_copy (card_id, rel_path, size, mtime_ns, state, copy_path,"
            " backup_path, tag, started_at) VALUES (?, ?, ?, ?, 'intent', ?, ?, ?, ?)",
            (card_id, item.rel_path, item.size, item.mtime_ns, str(targets[0]), backup, tag, at),
        )


def _forget(db: Database, copy_id: int) -> None:
    with db.atomic():
        db.execute_sql("DELETE FROM card_copy WHERE id = ?", (copy_id,))


def _save_counter(db: Database, key: str, last: int) -> None:
    # The larger of two numbers: never back, should two passes count on one key at once.
    larger = larger_of(db, "ingest_counter.last", "excluded.last")
    with db.atomic():
        db.execute_sql(
            "INSERT INTO ingest_counter (key, last) VALUES (?, ?) ON CONFLICT (key)"
            f" DO UPDATE SET last = {larger}",
            (key, last),
        )


def _journal_content(db: Database, copy_id: int, digest: str) -> None:
    with db.atomic():
        db.execute_sql("UPDATE card_copy SET blake3 = ? WHERE id = ?", (digest, copy_id))


def _known_sizes(db: Database) -> set[int]:
    """The sizes of the files the library (outside the inboxes) and earlier card ingests
    hold: a card file of another size cannot have their content."""
    rows = db.execute_sql(
        "SELECT DISTINCT f.size FROM file f JOIN root r ON r.id = f.root_id"
        " WHERE r.kind != 'inbox' AND f.blake3 IS NOT NULL"
        " UNION SELECT size FROM card_copy WHERE state = 'verified'"
    ).fetchall()
    return {size for (size,) in rows}


def _close(db: Database, copy_id: int, state: str, error: str | None, at: float) -> None:
    with db.atomic():
        db.execute_sql(
            "UPDATE card_copy SET state = ?, error = ?, finished_at = ? WHERE id = ?",
            (state, error, at, copy_id),
        )


class Arrival(NamedTuple):
    """A verified copy taking its place in the library."""

    copy_id: int
    root_id: int
    rel_path: str  # in the root
    size: int
    mtime_ns: int
    blake3: str
    payload: dict  # the card_copied event's


def _arrival_found(copy_id: int, primary: Path, digest: str, payload: dict) -> Arrival | None:
    """A complete copy found after a crash, as it would have arrived."""
    root = queries.root_for_path(str(primary))
    try:
        status = primary.stat()
    except OSError:
        return None
    if root is None:
        return None
    rel_path = os.path.relpath(primary, root.path)
    return Arrival(copy_id, root.id, rel_path, status.st_size, status.st_mtime_ns, digest, payload)


def _arrived(db: Database, arrival: Arrival, at: float) -> None:
    """A verified copy closed in the journal and catalogued where it now is, its blake3 the
    one read back (never hashed again), with the card_copied event that sends it to be
    described and into the triage queue: at once, not when a watcher or a scan finds it. A
    record a scan wrote for that name first is kept."""
    name = os.path.basename(arrival.rel_path)
    with db.atomic():
        _close(db, arrival.copy_id, "verified", None, at)
        row = (arrival.root_id, arrival.rel_path, arrival.size, arrival.mtime_ns, arrival.blake3,
               at, at, 0, kind_from_name(name), None, None)  # fmt: skip
        queries.insert_files(db, [row])
        record_event(EventKind.CARD_COPIED, "ingest", root=arrival.root_id,
                     path=arrival.rel_path, payload=arrival.payload)  # fmt: skip


def _record_known(
    db: Database, card_id: int, item: CardFile, digest: str, known: str, at: float
) -> None:
    with db.atomic():
        db.execute_sql(
            "INSERT INTO card_copy (card_id, rel_path, size, mtime_ns, blake3, state, known_at,"
            " tag, started_at, finished_at) VALUES (?, ?, ?, ?, ?, 'verified', ?, '', ?, ?)",
            (card_id, item.rel_path, item.size, item.mtime_ns, digest, known, at, at),
        )


def _failed(report: CardReport, item: CardFile, why: str) -> None:
    report.failed += 1
    report.lines.append({"file": item.rel_path, "done": "failed", "why": why})


def _holds(path: Path, digest: str) -> bool:
    try:
        return digest_of(path) == digest
    except CopyFailed:
        return False


def _missing(path: Path, item: CardFile, digest: str, reread: bool, check_time: bool) -> str:
    """Why ``path`` no longer holds what was verified there ("" when it does)."""
    try:
        status = os.stat(path)
    except OSError as error:
        return "is gone" if isinstance(error, FileNotFoundError) else f"cannot be read ({error})"
    if status.st_size != item.size:
        return f"changed size since it was verified ({status.st_size:,} bytes, not {item.size:,})"
    if check_time and abs(status.st_mtime_ns - item.mtime_ns) >= FAT_TIME_STEP_NS:
        when = datetime.fromtimestamp(status.st_mtime_ns / 1e9)
        return f"changed since it was verified (modified {when:%Y-%m-%d %H:%M})"
    if reread and not _holds(path, digest):
        return "reads back different from the card"
    return ""
