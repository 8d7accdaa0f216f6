"""What a scan of one root reports: the figures its run records and its summary says. Apart
from the reconciler so that a scan which found nothing changed (core.cli.unchanged_scan) reports
the same without loading it."""

from __future__ import annotations

from core.records import frozen_record


@frozen_record
class ReconcileReport:
    run_id: int
    root_path: str
    status: str  # completed, partial, failed
    files_scanned: int
    files_added: int
    files_updated: int
    files_moved: int
    files_removed: int
    files_hashed: int
    files_unreadable: int
    bytes_hashed: int
    duration: float
    error: str | None
    unsettled: tuple[str, ...] = ()  # files left for later: modified within the settle time
    vanished: tuple[int, ...] = ()  # records kept for now: their files went (see hold_removals)

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self._record_names}
