"""``shootwatch decisions``: the decision log with who made each decision (``--by NAME`` for
one person's), and ``--conflicts``: the photos people disagree on, with each person's
decision. Text for a person, ``--json`` for a script."""

from __future__ import annotations

import time

from core.cli import output
from core.cli.invocation import EXIT_OK, Invocation, UsageError
from core.darktable.facts import label_names
from core.store.people import LoggedDecision, decision_log, people
from core.triage.people import PhotoDecisions, conflicts, shown_person


def decisions(run: Invocation) -> int:
    args = run.args
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit {args.limit} shows nothing: give a number of 1 or more")
    person = _person(run, args.by) if args.by is not None else None
    if args.conflicts:
        found = [
            photo
            for photo in conflicts(run.catalogue.db)
            if args.by is None or any(each.person == args.by for each in photo.decisions)
        ]
        if args.limit is not None:
            found = found[-args.limit :]
        if args.json:
            output.print_json([_conflict_dict(photo) for photo in found], run.out)
        else:
            _write_conflicts(found, run)
        return EXIT_OK
    logged = decision_log(run.catalogue.db, person, args.limit)
    if args.json:
        output.print_json([_logged_dict(row) for row in logged], run.out)
    else:
        _write_log(logged, run)
    return EXIT_OK


def _person(run: Invocation, name: str) -> str | None:
    """The name as the log holds it, or UsageError naming who has decided; "unknown" is
    whoever decided before people were recorded."""
    everyone = people(run.catalogue.db)
    if name in everyone:
        return name
    if name == shown_person(None) and None in everyone:
        raise UsageError(
            "the decisions logged before people were recorded cannot be picked out by --by: "
            "leave --by out to see them"
        )
    known = ", ".join(output.shown(shown_person(each)) for each in everyone)
    raise UsageError(
        f"nobody called {output.shown(name)!r} has decided anything in this catalogue "
        + (f"(those who have: {known})" if known else "(nobody has yet)")
    )


def _what(row: LoggedDecision) -> tuple[str, str]:
    before, after = row.before, row.after
    if row.action == "labels":
        before = ", ".join(label_names(before or 0)) or "no labels"
        after = ", ".join(label_names(after or 0)) or "no labels"
    return str(before), str(after)


def _write_log(logged: list[LoggedDecision], run: Invocation) -> None:
    if not logged:
        run.out.write("no decisions yet\n")
        return
    rows = []
    for row in logged:
        before, after = _what(row)
        how = row.source + (", taken back" if row.taken_back else "")
        rows.append([
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row.at)),
            shown_person(row.person),
            row.path or f"photo {row.photo_id}",
            f"{row.action} {before} -> {after}",
            how,
        ])  # fmt: skip
    output.table(rows, ("WHEN", "WHO", "PHOTO", "WHAT", "HOW"), run.out)


def _write_conflicts(found: list[PhotoDecisions], run: Invocation) -> None:
    if not found:
        run.out.write("no conflicts: everyone who decided a photo agrees on it\n")
        return
    for photo in found:
        each = ", ".join(
            f"{decision.decision} by {output.shown(decision.person)}"
            for decision in photo.decisions
            if decision.counts
        )
        where = output.shown(photo.path) if photo.path else "(no original on file)"
        run.out.write(f"photo {photo.photo_id} {where}: {each}\n")
    run.out.write(
        f"{output.count(len(found))} photos in conflict; 'shootwatch decide --resolve "
        "--approve PATH' (or --reject) settles one\n"
    )


def _logged_dict(row: LoggedDecision) -> dict:
    return {
        "id": row.id,
        "photo": row.photo_id,
        "path": row.path,
        "person": row.person,  # null: logged before people were recorded
        "action": row.action,
        "before": row.before,
        "after": row.after,
        "source": row.source,
        "taken_back": row.taken_back,
        "at": row.at,
    }


def _conflict_dict(photo: PhotoDecisions) -> dict:
    return {
        "photo": photo.photo_id,
        "path": photo.path,
        "decisions": [
            {
                "person": decision.person,
                "decision": decision.decision,
                "at": decision.at,
                "resolution": decision.resolved,
                "counts": decision.counts,
            }
            for decision in photo.decisions
        ],
    }
