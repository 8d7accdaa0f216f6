"""Triage from the command line: ``decide PATH...`` (approve, reject, stars, a colour label, for
one photo or several at once), ``keep PATH`` (the keeper of a burst, the rest rejected), ``undo``
and ``redo``, for scripts and for when the app is not at hand. The same log as the app: what
one undoes, the other can redo."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from core.cli import output
from core.cli.failures import known_catalogue_failure
from core.cli.invocation import EXIT_ATTENTION, EXIT_OK, Invocation, UsageError
from core.darktable.facts import LABEL_NAMES, label_names
from core.store import queries
from core.store.models import FileRecord, Photo
from core.store.photos import burst_members
from core.store.writing import is_busy

if TYPE_CHECKING:  # loaded by the commands that decide: it brings the sidecar writer
    from core.triage.decisions import Change, DecisionNotSaved, Triage


def photo_of(path: str) -> int:
    real = os.path.realpath(os.path.expanduser(path))
    root = queries.root_for_path(real)
    record = (
        FileRecord.get_or_none(
            (FileRecord.root == root) & (FileRecord.rel_path == os.path.relpath(real, root.path))
        )
        if root is not None
        else None
    )
    if record is None:
        raise UsageError(f"{path} is not in the catalogue: add its folder and scan it first")
    if record.photo_id is None:
        reason = f" ({record.error})" if record.error else ""
        raise UsageError(f"{path} belongs to no photo{reason}")
    return record.photo_id


def _say(change: Change | None, run: Invocation, nothing: str) -> int:
    """One line per photo the step changed; exit 1 when one of them was left as it was or
    its sidecar was not written."""
    if change is None:
        run.out.write(nothing + "\n")
        return EXIT_ATTENTION
    exits = [_say_one(each, run) for each in change.all]
    return EXIT_ATTENTION if EXIT_ATTENTION in exits else EXIT_OK


def _say_one(change: Change, run: Invocation) -> int:
    photo = Photo.get_or_none(Photo.id == change.photo_id)
    before, after = change.before, change.after
    if change.action == "labels":
        before = ", ".join(label_names(before or 0)) or "no labels"
        after = ", ".join(label_names(after or 0)) or "no labels"
    where = ""
    if photo is not None:
        original = photo.files.where(FileRecord.role == "original").first()
        where = f" {output.shown(original.rel_path)}" if original else ""
    if change.skipped:
        verb = {"undo": "undone", "redo": "redone"}[change.source]
        run.out.write(f"photo {change.photo_id}{where}: not {verb}: {change.skipped}\n")
        return EXIT_ATTENTION
    if change.kept_by:
        verb = {"undo": "taken back", "redo": "made again"}[change.source]
        run.out.write(
            f"photo {change.photo_id}{where}: {change.action} {verb} by "
            f"{output.shown(change.person)}; the photo keeps {output.shown(change.kept_by)}'s "
            f"newer {after}\n"
        )
        return EXIT_OK
    run.out.write(
        f"photo {change.photo_id}{where}: {change.action} {before} -> {after}"
        f"{'' if change.source in ('key', 'cli') else f' ({change.source})'}"
        f" by {output.shown(change.person)}\n"
    )
    if change.warning:
        run.err.write(f"! sidecar not written: {output.shown(change.warning)}\n")
        return EXIT_ATTENTION
    return EXIT_OK


def decide(run: Invocation) -> int:
    from core.triage.decisions import DecisionNotSaved, TriageError

    args = run.args
    photo_ids = list(dict.fromkeys(photo_of(path) for path in args.paths))  # each photo once
    triage = _triage(run)
    if args.resolve and not (args.approve or args.reject or args.pending):
        raise UsageError("--resolve settles with a decision: add --approve, --reject or --pending")
    try:
        if args.approve or args.reject or args.pending:
            choice = "approved" if args.approve else "rejected" if args.reject else "pending"
            if args.resolve:
                change = triage.resolve(photo_ids, choice)
            else:
                change = triage.decide_many(photo_ids, choice)
        elif args.stars is not None:
            change = triage.rate_many(photo_ids, args.stars)
        elif len(photo_ids) == 1:  # one photo: the label toggles
            change = triage.toggle_label(photo_ids[0], 1 << LABEL_NAMES.index(args.label))
        else:  # several: on every one, or off every one when all have it
            change = triage.label_many(photo_ids, 1 << LABEL_NAMES.index(args.label))
    except TriageError as error:
        raise UsageError(str(error)) from error
    except DecisionNotSaved as error:
        raise UsageError(_not_saved(error, run)) from error
    return _say(change, run, "")


def keep(run: Invocation) -> int:
    from core.triage.decisions import DecisionNotSaved

    photo_id = photo_of(run.args.path)
    try:
        change = _triage(run).keep_one(photo_id, burst_members(run.catalogue.db, photo_id))
    except DecisionNotSaved as error:
        raise UsageError(_not_saved(error, run)) from error
    return _say(change, run, "")


def _not_saved(error: DecisionNotSaved, run: Invocation) -> str:
    """What stopped the change, in the words every command uses for the catalogue (read-only,
    a full disk), else the decision's own sentence (a lock held past its deadline)."""
    cause = error.__cause__
    if cause is None or is_busy(cause):
        return str(error)
    return known_catalogue_failure(cause, run.catalogue.path) or str(error)


def _triage(run: Invocation) -> Triage:
    from core.triage.decisions import Triage

    triage = run.settings.triage
    return Triage(
        run.catalogue.db,
        "cli",
        write_sidecars=triage.write_sidecars,
        sidecar_names=triage.sidecar_names,
        session="cli",
        person=triage.name,
    )


def undo(run: Invocation) -> int:
    from core.triage.decisions import DecisionNotSaved

    try:
        change = _triage(run).undo()
    except DecisionNotSaved as error:
        raise UsageError(_not_saved(error, run)) from error
    return _say(change, run, "nothing to undo")


def redo(run: Invocation) -> int:
    from core.triage.decisions import DecisionNotSaved

    try:
        change = _triage(run).redo()
    except DecisionNotSaved as error:
        raise UsageError(_not_saved(error, run)) from error
    return _say(change, run, "nothing to redo")
