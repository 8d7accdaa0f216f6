"""How the command line shows things to a person: tables, sizes, times, the progress line."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

import humanize

if TYPE_CHECKING:  # every command shows things; only a scan loads the reconciler
    from core.scan.reconcile import ReconcileReport, ScanProgress
    from core.store.models import SyncRun

# Characters a terminal obeys rather than shows, beyond the control characters: line
# separators, and the bidirectional overrides that make a name read backwards
# ("IMG_<U+202E>gpj.exe" shows as "IMG_exe.jpg").
_UNSAFE = frozenset("\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e"
                    "\u2066\u2067\u2068\u2069")  # fmt: skip


def shown(text: object) -> str:
    """Text from outside (a file name, a reason that quotes one) as a terminal shows it
    harmlessly: control characters (ESC, BEL, newline...), line separators and bidirectional
    overrides become visible escapes (\\x1b, \\u202e), and bytes of a name that are not UTF-8
    are shown as \\xff, as a scan reports them. Everything the command prints from outside
    goes through here."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(_shown_char(char) for char in text)


def _shown_char(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8, as Python decodes a file name
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x20 or 0x7F <= code < 0xA0:
        return f"\\x{code:02x}"
    if char in _UNSAFE or 0xD800 <= code <= 0xDFFF:
        return f"\\u{code:04x}"
    return char


def size(value: int | None) -> str:
    return humanize.naturalsize(value or 0, binary=False)


def count(value: int | None) -> str:
    return humanize.intcomma(value or 0)


def when(timestamp: float | None) -> str:
    if timestamp is None:
        return "never"
    return humanize.naturaltime(time.time() - timestamp)


def moment(timestamp: float) -> str:
    """A time in local time, with how long ago it was: "2024-06-01 14:02:33 (2 minutes ago)"."""
    return f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(timestamp))} ({when(timestamp)})"


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} s" if value < 120 else humanize.naturaldelta(value)


def table(rows: Sequence[Sequence[str]], headers: Sequence[str], out: TextIO) -> None:
    """A plain aligned table: readable over SSH, greppable, no box drawing."""
    rows = [[shown(cell) for cell in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    for line in (headers, *rows):
        out.write("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
        out.write("\n")


def print_json(value: Any, out: TextIO) -> None:
    import json  # for --json only: a command's start does without it

    json.dump(value, out, indent=2, default=str)
    out.write("\n")


def sync_run_dict(run: SyncRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "kind": run.kind,
        "root": run.root.path if run.root_id is not None else None,
        "status": run.status,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration": run.duration,
        "files_scanned": run.files_scanned,
        "files_added": run.files_added,
        "files_updated": run.files_updated,
        "files_moved": run.files_moved,
        "files_removed": run.files_removed,
        "files_hashed": run.files_hashed,
        "files_unreadable": run.files_unreadable,
        "bytes_hashed": run.bytes_hashed,
        "error": run.error,
    }


def scan_summary(report: ReconcileReport) -> str:
    changes = [
        f"{count(report.files_added)} added",
        f"{count(report.files_updated)} updated",
        f"{count(report.files_moved)} moved",
        f"{count(report.files_removed)} removed",
    ]
    if report.files_unreadable:
        changes.append(f"{count(report.files_unreadable)} unreadable")
    line = (
        f"{shown(report.root_path)}: {count(report.files_scanned)} files scanned in "
        f"{seconds(report.duration)}: {', '.join(changes)}; {size(report.bytes_hashed)} hashed"
    )
    if report.status != "completed":
        line += f"\n  {report.status}: {shown(report.error)}"
    return line


def previews_left(left: int) -> str:
    """What a scan says of the previews it leaves to the engine."""
    return (
        f"previews: {count(left)} photos have none yet; the engine builds them in "
        "the background (the app, or 'shootwatch run'), the shoot on screen first, then "
        "newest first; 'shootwatch scan --previews' builds them here now\n"
    )


class ProgressLine:
    """One line on a terminal, rewritten in place at most every ``interval`` seconds."""

    def __init__(self, out: TextIO = sys.stderr, interval: float = 0.2) -> None:
        self.out = out
        self.enabled = out.isatty()
        self.interval = interval
        self._last: float | None = None  # never shown yet (monotonic time starts near boot)
        self._width = 0

    def __call__(self, progress: ScanProgress) -> None:
        if not self._due():
            return  # told before the line is made: a scan calls this for each folder
        rate = progress.bytes_hashed / progress.elapsed if progress.elapsed > 0 else 0
        self.write(
            f"scanning {shown(progress.root_path)}: {count(progress.files_seen)} files, "
            f"{size(progress.bytes_hashed)} hashed ({size(rate)}/s), "
            f"{progress.surveys_done}/{progress.surveys_total} folders"
        )

    def write(self, text: str) -> None:
        """Show ``text`` in place (at most every ``interval`` seconds)."""
        if not self._due():
            return
        self._last = time.monotonic()
        self.out.write("\r" + text.ljust(self._width))
        self.out.flush()
        self._width = len(text)

    def _due(self) -> bool:
        if not self.enabled:
            return False
        return self._last is None or time.monotonic() - self._last >= self.interval

    def clear(self) -> None:
        if self.enabled and self._width:
            self.out.write("\r" + " " * self._width + "\r")
            self.out.flush()
            self._width = 0
