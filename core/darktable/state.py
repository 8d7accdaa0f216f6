"""One darktable image's state as shootwatch keeps it, built from library.db or a sidecar, and
the smart events that a change of state means (rated, edited, exported, …)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from core.darktable.facts import (
    DEFAULT_IMPORT_STARS,
    is_rejected,
    is_unknown_tag,
    label_bits,
    label_names,
    split_tags,
    stars,
    unix_time,
    unknown_tag,
    wall_clock,
)
from core.darktable.library import LibraryImage
from core.darktable.sidecar import Sidecar
from core.store.events import EventKind


@dataclass(frozen=True)
class ImageState:
    darktable_id: int
    folder: str
    filename: str
    version: int
    stars: int
    rejected: bool
    labels: int
    tags: tuple[str, ...]
    internal_tags: tuple[str, ...]
    altered: bool
    history_end: int
    imported_at: float | None
    changed_at: float | None
    exported_at: float | None
    signature: str  # the library row this came from: equal signatures, nothing to do
    rated_by_hand: bool = False
    exif: dict = field(default_factory=dict, compare=False)

    @property
    def path(self) -> str:
        return os.path.join(self.folder, self.filename)

    @property
    def changed_after_export(self) -> bool:
        return (
            self.exported_at is not None
            and self.changed_at is not None
            and self.changed_at > self.exported_at
        )

    def enrichment(self) -> dict:
        """What every darktable event carries: where the image stands, and its EXIF basics."""
        return {
            "darktable_id": self.darktable_id,
            "in_darktable": True,
            "version": self.version,
            "processed": self.altered,
            "exported": self.exported_at is not None,
            "stars": self.stars,
            "rejected": self.rejected,
            "labels": label_names(self.labels),
            "exif": self.exif,
        }


def _ids(text: str | None) -> list[int]:
    return [int(part) for part in text.split(",")] if text else []


def signature(image: LibraryImage) -> str:
    return "|".join(
        map(
            str,
            (image.folder, image.filename, image.version, image.flags, image.history_end,
             image.imported, image.changed, image.exported, image.altered, image.colors,
             image.tag_ids),
        )
    )  # fmt: skip


def from_library(image: LibraryImage, tag_names: dict[int, str] | None) -> ImageState:
    names = [
        tag_names.get(tag_id, unknown_tag(tag_id)) if tag_names is not None else unknown_tag(tag_id)
        for tag_id in _ids(image.tag_ids)
    ]
    user_tags, internal_tags = split_tags(names)
    exif = {
        "taken": wall_clock(image.taken),
        "camera": _camera(image.maker, image.model),
        "lens": image.lens or None,
        "exposure": _exposure(image.exposure),
        "aperture": image.aperture or None,
        "iso": int(image.iso) if image.iso else None,
        "focal_length": image.focal_length or None,
        "width": image.width or None,
        "height": image.height or None,
    }
    return ImageState(
        darktable_id=image.id,
        folder=image.folder,
        filename=image.filename,
        version=image.version,
        stars=stars(image.flags),
        rejected=is_rejected(image.flags),
        labels=label_bits(_ids(image.colors)),
        tags=tuple(user_tags),
        internal_tags=tuple(internal_tags),
        altered=bool(image.altered),
        history_end=image.history_end,
        imported_at=unix_time(image.imported),
        changed_at=unix_time(image.changed),
        exported_at=unix_time(image.exported),
        # the names too: names learnt later, or renamed in darktable, are a change to write
        signature=signature(image) + "|" + ",".join(names),
        exif={key: value for key, value in exif.items() if value is not None},
    )


def _camera(maker: str | None, model: str | None) -> str | None:
    """The camera name without the maker said twice (Canon + Canon EOS R5 is Canon EOS R5)."""
    if not model:
        return maker or None
    if not maker or model.lower().startswith(maker.split()[0].lower()):
        return model
    return f"{maker} {model}"


def _exposure(seconds: float | None) -> str | None:
    if not seconds:
        return None
    if seconds >= 1:
        return f"{seconds:g}s"
    return f"1/{round(1 / seconds)}"


def with_sidecar(state: ImageState, sidecar: Sidecar) -> ImageState:
    """The state as the sidecar tells it. A rejected sidecar says -1 and loses the stars under
    the reject, so those are kept; darktable's own tags and the EXIF are not in sidecars."""
    return replace(
        state,
        stars=state.stars if sidecar.rejected or sidecar.rating is None else sidecar.stars,
        rejected=sidecar.rejected,
        labels=sidecar.labels,
        tags=sidecar.tags,
        altered=sidecar.altered,
        history_end=sidecar.history_end if sidecar.history_end is not None else state.history_end,
        changed_at=unix_time(sidecar.changed),
        exported_at=unix_time(sidecar.exported)
        if sidecar.exported is not None
        else state.exported_at,
    )


def smart_events(old: ImageState | None, new: ImageState) -> list[tuple[EventKind, dict]]:
    """What changed between two states of one image, as (event kind, payload) pairs."""
    if old is None:
        return [(EventKind.DARKTABLE_IMPORTED, {"imported_at": new.imported_at})]
    events: list[tuple[EventKind, dict]] = []
    # darktable writes the history and its change time first and the history hash after it:
    # a moved change time on an image that is not altered is not an edit (yet).
    if new.altered != old.altered or (
        new.altered and new.changed_at is not None and new.changed_at != old.changed_at
    ):
        events.append(
            (EventKind.EDITED, {"altered": new.altered, "was_altered": old.altered,
                        "changed_at": new.changed_at, "history_end": new.history_end})
        )  # fmt: skip
        if new.changed_after_export and not old.changed_after_export:
            events.append(
                (EventKind.REEDITED_AFTER_EXPORT,
                 {"changed_at": new.changed_at, "exported_at": new.exported_at})
            )  # fmt: skip
    if new.rejected != old.rejected:
        events.append((EventKind.REJECTED, {"rejected": new.rejected, "was": old.rejected}))
    if new.stars != old.stars:
        events.append((EventKind.RATED, {"stars": new.stars, "was": old.stars}))
    if new.labels != old.labels:
        events.append(
            (
                EventKind.LABELLED,
                {"labels": label_names(new.labels), "was": label_names(old.labels)},
            )
        )
    if new.tags != old.tags and not _names_learnt(old, new):
        added = sorted(set(new.tags) - set(old.tags))
        removed = sorted(set(old.tags) - set(new.tags))
        events.append(
            (EventKind.TAGGED, {"tags": list(new.tags), "added": added, "removed": removed})
        )
    if new.exported_at is not None and new.exported_at != old.exported_at:
        events.append(
            (EventKind.EXPORTED, {"exported_at": new.exported_at, "was": old.exported_at})
        )
    return events


def _names_learnt(old: ImageState, new: ImageState) -> bool:
    """The same tags, their names learnt in place of the ids shown so far: not a tagging."""
    old_all = (*old.tags, *old.internal_tags)
    if not any(is_unknown_tag(tag) for tag in old_all):
        return False
    named = {tag for tag in old_all if not is_unknown_tag(tag)}
    new_all = (*new.tags, *new.internal_tags)
    return len(new_all) == len(old_all) and named <= set(new_all)


def rated_by_hand(old: ImageState | None, new: ImageState) -> bool:
    """Stars set by the photographer: any change we saw, or anything but the import default."""
    if old is not None and (old.rated_by_hand or old.stars != new.stars):
        return True
    return new.stars != DEFAULT_IMPORT_STARS if old is None else False
