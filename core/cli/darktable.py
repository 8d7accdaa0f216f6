"""Commands about darktable: ``darktable stats`` (edit progress per shoot), ``darktable
recent-edits``, ``show PATH`` (a file, its catalogue record and darktable's view in one place)
and ``report unfinished|exported|velocity``. Each works with or without a running engine."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TextIO

from core.cli import bursts, output, stages
from core.cli.invocation import EXIT_ATTENTION, EXIT_OK, Invocation, UsageError
from core.cli.service import parse_since
from core.darktable.facts import label_names, sidecar_name
from core.darktable.library import LibraryPaths, darktable_pid
from core.engine.lock import running_engine_pid
from core.media.cache import PreviewCache, preview_cache_dir
from core.store import progress, queries, snapshot
from core.store.events import events_at
from core.store.models import DarktableImage, FileRecord, Heartbeat, Photo
from core.store.photos import LOOK_COLUMNS, PHOTO_METADATA_COLUMNS, original_of
from core.triage.bursts import burst_place, rank_words


def darktable(run: Invocation) -> int:
    """``shootwatch darktable stats|recent-edits``."""
    command = {"stats": stats, "recent-edits": recent_edits}[run.args.darktable_command]
    return command(run)


def _refresh(run: Invocation) -> tuple[str, str | None]:
    """darktable's state: from the running engine, or from one read here when none runs."""
    settings = run.settings.darktable
    if running_engine_pid(run.settings.catalogue):
        beat = Heartbeat.get_or_none(Heartbeat.component == "darktable")
        if beat is None:
            return "unknown", "the engine has not reported on darktable yet"
        return beat.status, beat.error
    from core.darktable.poller import sync_once  # the watcher's library comes with it

    paths = LibraryPaths.beside(settings.library, settings.data)
    return sync_once(run.catalogue.db, paths, settings.explicit, settings.quiet_seconds)


def _header(run: Invocation, state: str, reason: str | None) -> dict:
    settings = run.settings.darktable
    paths = LibraryPaths.beside(settings.library, settings.data)
    pid = darktable_pid(paths)
    return {
        "library": str(paths.library),
        "state": state,
        "reason": reason,
        "darktable_running": pid is not None,
        "darktable_pid": pid,
        "images": DarktableImage.select().count(),
    }


def _write_header(header: dict, out: TextIO) -> None:
    running = (
        f"darktable running (pid {header['darktable_pid']})"
        if header["darktable_running"]
        else "darktable not running"
    )
    out.write(
        f"darktable library {output.shown(header['library'])}: "
        f"{output.count(header['images'])} images; {running}\n"
    )
    if header["reason"]:
        out.write(f"! {header['state']}: {output.shown(header['reason'])}\n")


def _problem(state: str) -> bool:
    return state not in ("ok", "idle", "running", "off")


def stats(run: Invocation) -> int:
    state, reason = _refresh(run)
    header = _header(run, state, reason)
    shoots = progress.shoot_progress()
    if run.args.json:
        output.print_json({**header, "shoots": [s.as_dict() for s in shoots]}, run.out)
        return EXIT_ATTENTION if _problem(state) else EXIT_OK
    _write_header(header, run.out)
    if not shoots:
        run.out.write(
            "no shoots yet: add the folders darktable imports from with 'shootwatch add'\n"
        )
    rows = [
        (
            s.name,
            "-" if s.files is None else output.count(s.files),
            output.count(s.in_darktable),
            "-" if s.not_imported is None else output.count(s.not_imported),
            "-" if s.missing_files is None else output.count(s.missing_files),
            output.count(s.edited),
            output.count(s.to_edit),
            output.count(s.rated),
            output.count(s.rated_by_hand),
            output.count(s.rejected),
            output.count(s.exported),
            output.count(s.to_export),
            output.count(s.changed_after_export),
            "-" if s.edits_per_hour is None else f"{s.edits_per_hour:.0f}",
        )
        for s in shoots
    ]
    headers = ("SHOOT", "FILES", "IN DARKTABLE", "NOT IMPORTED", "MISSING", "EDITED", "TO EDIT",
               "RATED", "BY HAND", "REJECTED", "EXPORTED", "TO EXPORT", "RE-EDITED",
               "EDITS/H")  # fmt: skip
    if rows:
        output.table(rows, headers, run.out)
        run.out.write(
            "FILES are the photos on disk, IN DARKTABLE those of them darktable has, NOT "
            "IMPORTED those it does not, MISSING darktable's images whose file is gone; EDITED "
            "and the rest count darktable's images (duplicates too); TO EDIT is neither edited "
            "nor rejected; RATED is darktable's own count (one star or more, rejects left out, "
            "the import default star included); BY HAND is those whose stars are not the import "
            "default or were seen changing; TO EXPORT is edited and never exported; RE-EDITED "
            "changed after its last export; EDITS/H in this session.\n"
        )
    return EXIT_ATTENTION if _problem(state) else EXIT_OK


def recent_edits(run: Invocation) -> int:
    state, reason = _refresh(run)
    edits = progress.recent_edits(run.args.limit)
    if run.args.json:
        output.print_json(edits, run.out)
        return EXIT_OK
    if reason:
        run.out.write(f"! {state}: {output.shown(reason)}\n")
    if not edits:
        run.out.write("no edits seen yet: shootwatch records them while it follows darktable\n")
        return EXIT_OK
    rows = [
        (
            output.when(edit["at"]),
            edit["path"] or f"darktable id {edit['darktable_id']} (no longer in darktable)",
            "edited" if edit["altered"] else "history discarded",
            "rejected" if edit["rejected"] else f"{edit['stars'] or 0}*",
            "yes" if edit["exported_at"] else "no",
        )
        for edit in edits
    ]
    output.table(rows, ("WHEN", "IMAGE", "WHAT", "RATING", "EXPORTED"), run.out)
    return EXIT_OK


def _image_dict(row: DarktableImage) -> dict:
    return {
        "darktable_id": row.darktable_id,
        "version": row.version,
        "sidecar": sidecar_name(row.filename, row.version),
        "stars": row.stars,
        "rated_by_hand": bool(row.rated_by_hand),
        "rejected": bool(row.rejected),
        "labels": label_names(row.labels),
        "tags": json.loads(row.tags or "[]"),
        "darktable_tags": json.loads(row.internal_tags or "[]"),
        "edited": bool(row.altered),
        "history_end": row.history_end,
        "imported_at": row.imported_at,
        "changed_at": row.changed_at,
        "exported_at": row.exported_at,
        "exif": json.loads(row.exif or "{}"),
        "read_at": row.seen_at,
    }


def show(run: Invocation) -> int:
    from core.darktable.sidecar import SidecarError, read_sidecar

    path = os.path.realpath(os.path.expanduser(run.args.path))
    state, reason = _refresh(run)
    root = queries.root_for_path(path)
    rel = os.path.relpath(path, root.path) if root is not None else None
    record = (
        FileRecord.get_or_none((FileRecord.root == root) & (FileRecord.rel_path == rel))
        if root is not None
        else None
    )
    folder, name = os.path.split(path)
    images = snapshot.images_at(folder, name)
    on_disk = os.path.exists(path)
    if not on_disk and record is None and not images:
        raise UsageError(f"{run.args.path}: no such file, and nothing known about it")
    sidecars = {}
    for image in images or []:
        sidecar_path = Path(folder) / sidecar_name(image.filename, image.version)
        try:
            sidecar = read_sidecar(sidecar_path)
            sidecars[image.darktable_id] = {
                "path": str(sidecar_path),
                "rating": sidecar.rating,
                "labels": label_names(sidecar.labels),
                "tags": list(sidecar.tags),
                "edited": sidecar.altered,
            }
        except SidecarError as error:
            sidecars[image.darktable_id] = {"path": str(sidecar_path), "error": str(error)}
    if root is not None:
        events = events_at(root.id, rel, limit=10)
    else:
        events = events_at(None, path, limit=10)
    removed_at = None if images else snapshot.removed_at(root.id if root else None, rel or path)
    result = {
        "path": path,
        "on_disk": on_disk,
        "root": root.path if root is not None else None,
        "file": None
        if record is None
        else {
            "size": record.size,
            "kind": record.kind,
            "blake3": record.blake3,
            "modified": record.mtime_ns / 1e9,
            "last_seen": record.last_seen,
            "error": record.error,
        },
        "photo": _photo_dict(run, record),
        "darktable": [
            _image_dict(image) | {"sidecar_now": sidecars.get(image.darktable_id)}
            for image in images
        ],
        "darktable_state": {"state": state, "reason": reason},
        "darktable_removed_at": removed_at,  # removed from darktable's library, not imported
        "events": [
            {
                "at": event.at,
                "kind": event.kind,
                "source": event.source,
                "payload": event.payload,
            }
            for event in reversed(events)
        ],
    }
    if run.args.json:
        output.print_json(result, run.out)
        return EXIT_OK
    _write_show(result, run.out)
    return EXIT_OK


def _photo_dict(run: Invocation, record: FileRecord | None) -> dict | None:
    """The photo a file belongs to: what it is to it, the EXIF, the decision, the preview
    (built now when the engine has not got to it yet)."""
    if record is None or record.photo_id is None:
        return None
    photo = Photo.get_by_id(record.photo_id)
    preview, reason = _preview(run, photo.id)
    fields = {name: getattr(photo, name) for name in PHOTO_METADATA_COLUMNS}
    return {
        "id": photo.id,
        "role": record.role,
        "blake3": photo.blake3,
        **fields,
        "decision": photo.decision,
        "rating": photo.rating,
        "labels": label_names(photo.labels),
        "files": [
            {"path": f.rel_path, "role": f.role}
            for f in FileRecord.select().where(FileRecord.photo == photo).order_by(FileRecord.id)
        ],
        "preview": str(preview) if preview else None,
        "preview_error": reason,
        "sidecar_problem": photo.sidecar_problem,  # why write-back left its sidecar alone
        **_looks_dict(run.catalogue.db, photo, preview),
        "burst": bursts.place_dict(burst_place(run.catalogue.db, photo.id)),
    }


def _preview(run: Invocation, photo_id: int) -> tuple[Path | None, str | None]:
    """The photo's preview: the cached one, found without loading the image libraries (as
    core.media.photos.built_preview finds it: by its original's blake3), else built now."""
    found = original_of(run.catalogue.db, photo_id)
    if found is not None:
        media = run.settings.media
        cache = PreviewCache(preview_cache_dir(media), media.preview_cache_mb * 1024 * 1024)
        cached = cache.get(found[0])
        if cached is not None:
            return cached, None
    from core.media.photos import preview_for  # Pillow, to build it

    return preview_for(run.catalogue.db, run.settings.media, photo_id)


def _looks_dict(db, photo: Photo, preview: Path | None) -> dict:
    """How the photo looks (core.media.looks) as the media pipeline measured it; measured now
    from its preview when the pipeline has not got to it yet (not stored: that is its job)."""
    values = {column: getattr(photo, column) for column in LOOK_COLUMNS}
    measured_at = photo.looked_at
    if measured_at is None and preview is not None:
        from core.media.work import looks_of  # the image libraries, for this case only

        original = original_of(db, photo.id)
        values = {column: None for column in LOOK_COLUMNS} | looks_of(
            preview, os.path.join(original[1], original[2]) if original else ""
        )
        measured_at = "now"

    def point(x: float | None, y: float | None) -> dict | None:
        return None if x is None or y is None else {"x": x, "y": y}

    clipped = values["clipped_highlights"], values["clipped_shadows"]
    return {
        "looked_at": measured_at,  # "now": measured for this answer, not stored yet
        "look_error": values["look_error"],
        "phash": values["phash"],
        "sharpness": values["sharpness"],
        "sharp_point": point(values["sharp_x"], values["sharp_y"]),
        "af_point": point(values["af_x"], values["af_y"]),
        "histogram": None
        if None in clipped
        else {
            "source": "preview",
            "clipped_highlights_percent": round(clipped[0] * 100, 3),
            "clipped_shadows_percent": round(clipped[1] * 100, 3),
        },
    }


def _write_photo(photo: dict, out: TextIO) -> None:
    camera = " ".join(p for p in (photo["camera_make"], photo["camera_model"]) if p) or "?"
    settings = [
        photo["exposure_time"] and f"{photo['exposure_time']} s",
        photo["aperture"] and f"f/{photo['aperture']:g}",
        photo["iso"] and f"ISO {photo['iso']}",
        photo["focal_length"] and f"{photo['focal_length']:g} mm",
    ]
    exposure = ", ".join(part for part in settings if part) or "-"
    triage = [
        photo["decision"],
        photo["rating"] and f"{photo['rating']} star{'s' if photo['rating'] != 1 else ''}",
        photo["labels"] and f"labels {', '.join(photo['labels'])}",
    ]
    out.write(
        f"  photo {photo['id']} ({photo['role']}): {camera}; {exposure}; "
        f"{', '.join(part for part in triage if part)}\n"
    )
    for member in photo["files"]:
        out.write(f"    {member['role']}: {output.shown(member['path'])}\n")
    if photo["metadata_error"]:
        out.write(f"    ! {output.shown(photo['metadata_error'])}\n")
    if photo["sidecar_problem"]:
        out.write(f"    ! sidecar not written: {output.shown(photo['sidecar_problem'])}\n")
    if photo["burst"]:
        burst = photo["burst"]
        out.write(f"    burst {burst['position']} / {burst['size']}"
                  f"{', ' + rank_words(burst['rank'], burst['size']) if burst['rank'] else ''}"
                  f" (burst {burst['id']})\n")  # fmt: skip
    if photo["preview"]:
        out.write(f"    preview: {output.shown(photo['preview'])}\n")
    else:
        out.write(f"    no preview: {output.shown(photo['preview_error'])}\n")
    _write_looks(photo, out)


def _write_looks(photo: dict, out: TextIO) -> None:
    if photo["look_error"]:
        out.write(f"    ! not measured: {output.shown(photo['look_error'])}\n")
        return
    if photo["sharpness"] is None:
        out.write("    looks: not measured yet\n")
        return

    def where(point: dict) -> str:
        return f"{point['x']:.0%} across, {point['y']:.0%} down"

    sharp = photo["sharp_point"]
    af = photo["af_point"]
    histogram = photo["histogram"]
    out.write(
        f"    sharpness: {photo['sharpness']:,.0f} (sharpest at {where(sharp)}); "
        f"AF point: {where(af) if af else 'none recorded'}\n"
        f"    clipped: {histogram['clipped_highlights_percent']:.2f} % highlights, "
        f"{histogram['clipped_shadows_percent']:.2f} % shadows (of the preview)\n"
    )


def _write_show(result: dict, out: TextIO) -> None:
    out.write(f"{output.shown(result['path'])}{'' if result['on_disk'] else '  (not on disk)'}\n")
    record = result["file"]
    if result["root"] is None:
        out.write("  catalogue: not inside a root\n")
    elif record is None:
        out.write(f"  catalogue: not recorded yet (root {output.shown(result['root'])})\n")
    else:
        digest = (record["blake3"] or "not hashed")[:16]
        out.write(
            f"  catalogue: {record['kind']}, {output.size(record['size'])}, blake3 {digest}…, "
            f"modified {output.when(record['modified'])}, seen {output.when(record['last_seen'])}\n"
        )
        if record["error"]:
            out.write(f"  ! {output.shown(record['error'])}\n")
    if result["photo"] is not None:
        _write_photo(result["photo"], out)
    if not result["darktable"] and result["darktable_removed_at"]:
        out.write(
            "  darktable: removed from darktable's library "
            f"{output.when(result['darktable_removed_at'])} (the file is still here)\n"
        )
    elif not result["darktable"]:
        out.write("  darktable: not imported\n")
    for image in result["darktable"]:
        rating = "rejected" if image["rejected"] else f"{image['stars']} stars"
        edited = "edited" if image["edited"] else "not edited"
        exported = (
            f"exported {output.when(image['exported_at'])}"
            if image["exported_at"]
            else "not exported"
        )
        out.write(
            f"  darktable id {image['darktable_id']} (version {image['version']}): {rating}, "
            f"{edited}, {exported}\n"
        )
        if image["labels"] or image["tags"]:
            tags = output.shown(", ".join(image["tags"])) or "-"
            out.write(f"    labels: {', '.join(image['labels']) or '-'}; tags: {tags}\n")
        if image["changed_at"]:
            out.write(f"    last change {output.when(image['changed_at'])}\n")
        exif = image["exif"]
        if exif:
            basics = [exif.get(k) for k in ("camera", "lens", "exposure", "taken")]
            extra = [f"f/{exif['aperture']:g}" if exif.get("aperture") else None,
                     f"ISO {exif['iso']}" if exif.get("iso") else None]  # fmt: skip
            out.write(f"    {output.shown(', '.join(str(b) for b in basics + extra if b))}\n")
        sidecar = image.get("sidecar_now")
        if sidecar and sidecar.get("error"):
            out.write(f"    ! sidecar: {output.shown(sidecar['error'])}\n")
        elif sidecar:
            out.write(
                f"    sidecar {os.path.basename(sidecar['path'])}: rating {sidecar['rating']}\n"
            )
    state = result["darktable_state"]
    if state["reason"]:
        out.write(f"  ! darktable {state['state']}: {output.shown(state['reason'])}\n")
    for event in result["events"]:
        out.write(f"  {output.when(event['at'])}: {event['kind']} ({event['source']})\n")


def report(run: Invocation) -> int:
    args, out = run.args, run.out
    if args.report == "artifacts":  # the stage queue's, not darktable's
        return stages.artifacts_report(run)
    state, reason = _refresh(run)
    if reason and not args.json:
        out.write(f"! darktable {state}: {output.shown(reason)}\n")
    if args.report == "unfinished":
        images = progress.unfinished(args.min_stars)
        if args.json:
            output.print_json(images, out)
            return EXIT_OK
        _image_table(images, out, "nothing unfinished: every edit is exported")
        return EXIT_OK
    default = "7d" if args.report == "exported" else "24h"
    since = parse_since(args.since or default)
    if args.report == "exported":
        images = progress.exported_since(since)
        if args.json:
            output.print_json(images, out)
            return EXIT_OK
        _image_table(images, out, f"nothing exported since {time.ctime(since)}")
        return EXIT_OK
    hours = progress.velocity(since)
    pace, session_edits = progress.session_pace([at for at, _ in progress.edit_times()])
    if args.json:
        output.print_json(
            {
                "since": since,
                "hours": [{"hour": start, "edits": edits} for start, edits in hours],
                "session": {"edits": session_edits, "edits_per_hour": pace},
            },
            out,
        )
        return EXIT_OK
    if not hours:
        out.write(f"no edits since {time.ctime(since)}\n")
    else:
        rows = [(time.strftime("%Y-%m-%d %H:00", time.localtime(start)), str(edits),
                 "#" * min(edits, 60)) for start, edits in hours]  # fmt: skip
        output.table(rows, ("HOUR", "EDITS", ""), out)
    if pace is not None:
        out.write(f"this session: {session_edits} edits, {pace:.0f} an hour\n")
    return EXIT_OK


def _image_table(images: list[dict], out: TextIO, empty: str) -> None:
    if not images:
        out.write(empty + "\n")
        return
    rows = [
        (
            image["shoot"],
            os.path.basename(image["path"]) + (f" v{image['version']}" if image["version"] else ""),
            "rejected" if image["rejected"] else f"{image['stars']}*",
            "yes" if image["edited"] else "no",
            output.when(image["changed_at"]) if image["changed_at"] else "-",
            output.when(image["exported_at"]) if image["exported_at"] else "never",
        )
        for image in images
    ]
    output.table(rows, ("SHOOT", "IMAGE", "RATING", "EDITED", "CHANGED", "EXPORTED"), out)
    out.write(f"{len(images)} images\n")
