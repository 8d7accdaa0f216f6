"""The panes besides triage, and the engine the app hosts or attaches to, in the real app on a
real catalogue: what reaches the catalogue is read back from the file, what reaches the screen is
read off the widgets."""

from __future__ import annotations

import gc
import io
import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text
from textual.command import CommandPalette
from textual.widgets import OptionList, Static

from core.darktable.facts import darktable_time
from core.darktable.library import LibraryPaths
from core.darktable.poller import sync_once
from core.engine import Engine
from core.engine.lock import running_engine_pid
from core.scan.reconcile import reconcile_roots
from core.store.events import EventKind, insert_events, record_event
from core.store.models import JOB_STATUSES, Event, FileRecord, Job, Photo, Root, SyncRun
from tests.darktable_fixture import copy_fixture
from tests.tui.conftest import Library, build_library
from tui.app import SEED_EVENTS, ShootwatchApp
from tui.panes.progress import ProgressPane
from tui.panes.triage import TriagePane
from tui.picker import Picker
from tui.widgets.status_bar import StatusBar
from tui.widgets.windowed_table import WindowedTable

pytestmark = pytest.mark.anyio
SIZE = (120, 36)
POLL = 0.3  # a little more than two of the app's 10 Hz event polls


def make_app(library: Library, engine: str = "off") -> ShootwatchApp:
    return ShootwatchApp(library.settings, library.catalogue, engine=engine)


def text_of(widget: Static) -> str:
    """The plain text a Static shows, whatever it was given (a string, a Text, a rich table)."""
    content = widget.content
    if isinstance(content, str):
        return content
    if isinstance(content, Text):
        return content.plain
    console = Console(width=200, record=True, file=io.StringIO(), color_system=None)
    console.print(content)
    return console.export_text()


def cells(table: WindowedTable, index: int) -> list[str]:
    row = table.row_at(index)
    assert row is not None, f"no row {index}"
    return [cell.plain if isinstance(cell, Text) else str(cell) for cell in row]


def notified(app: ShootwatchApp) -> list[str]:
    return [str(notification.message) for notification in app._notifications]


async def wait_until(pilot, condition: Callable[[], object], polls: int, step: float = 0.1):
    """Pause until ``condition()`` holds, at most ``polls`` times (a bound against a hang)."""
    for _ in range(polls):
        value = condition()
        if value:
            return value
        await pilot.pause(step)
    value = condition()
    assert value, f"still not true after {polls} polls: {condition.__doc__ or condition}"
    return value


def on_disk(library: Library, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows read from the catalogue file through a connection of the test's own."""
    connection = sqlite3.connect(f"file:{library.settings.catalogue}?mode=ro", uri=True)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


def added_rows(root: Root, folder: str, first: int, count: int) -> list[tuple]:
    """Event rows as the reconciler writes them: (at, kind, source, root_id, rel_path,
    photo_id, payload)."""
    now = time.time()
    return [
        (now, EventKind.ADDED, "reconcile", root.id, f"{folder}/IMG_{n:05d}.JPG", None, None)
        for n in range(first, first + count)
    ]


# --- live events -----------------------------------------------------------------------------


async def test_live_events_arrive_in_batches_folded_into_bursts(library: Library):
    root = Root.get()
    before = Event.select().count()
    assert before < SEED_EVENTS  # every event of the library is in the opening seed
    async with make_app(library).run_test(size=SIZE) as pilot:
        app = pilot.app
        db = library.catalogue.db
        with db.atomic():
            insert_events(db, added_rows(root, "2025/2025-03-08", 0, 2000))
        record_event(EventKind.REMOVED, "reconcile", root, "2024-06-01_wedding/IMG_0001.JPG")
        await pilot.pause(POLL)
        await pilot.press("E")
        assert app.pane == "events"
        table = app.query_one("#events-table", WindowedTable)
        status = app.query_one("#events-status", Static)

        assert table.row_count == 4  # root_added, indexed, the burst, the removal
        removed, burst = cells(table, 0), cells(table, 1)
        assert removed[1:] == ["removed", "2024-06-01_wedding/IMG_0001.JPG", "reconcile"]
        assert burst[1:] == ["added", "2,000 added in 2025/2025-03-08", "reconcile"]
        assert "2,000 added in 2025/2025-03-08" in table.render_line(2).text  # on screen
        assert f"{before + 2001:,} events shown" in text_of(status)
        assert "every kind" in text_of(status)

        # 2,000 more in four batches of 500 between key presses: the keys keep working.
        for batch in range(4):
            with db.atomic():
                insert_events(db, added_rows(root, "2025/2025-03-09", batch * 500, 500))
            await pilot.pause(0.05)
            await pilot.press("f")
            assert isinstance(app.screen, Picker)
            assert app.screen.title_text == "Show which kind of event?"
            await pilot.press("escape")
            assert not isinstance(app.screen, Picker)
            assert app.pane == "events"
        await pilot.press("T")
        assert app.pane == "triage"
        await pilot.pause(POLL)
        await pilot.press("E")
        assert table.row_count == 5  # the four batches are one burst
        assert cells(table, 0)[2] == "2,000 added in 2025/2025-03-09"
        assert cells(table, 1)[1] == "removed"
        assert f"{before + 4001:,} events shown" in text_of(status)

        await pilot.press("f")
        assert isinstance(app.screen, Picker)
        options = app.screen.query_one(OptionList)
        kinds = sorted(app.query_one("#events").kinds)
        for _ in range(kinds.index("removed")):
            await pilot.press("down")
        assert options.highlighted_option.id == "removed"
        await pilot.press("enter")
        assert not isinstance(app.screen, Picker)
        assert table.row_count == 1
        assert cells(table, 0)[1:3] == ["removed", "2024-06-01_wedding/IMG_0001.JPG"]
        assert "showing removed only" in text_of(status)

        await pilot.press("c")
        assert table.row_count == 5
        assert [cells(table, n)[1] for n in range(5)] == [
            "added", "removed", "added", "indexed", "root_added"
        ]  # fmt: skip
        assert "every kind" in text_of(status)


# --- sync history ----------------------------------------------------------------------------


async def test_sync_history_lists_the_runs_newest_first_with_their_detail(library: Library):
    assert SyncRun.select().count() == 1
    async with make_app(library).run_test(size=SIZE) as pilot:
        app = pilot.app
        await pilot.press("H")
        assert app.pane == "history"
        table = app.query_one("#history-table", WindowedTable)
        detail = app.query_one("#run-detail", Static)
        assert table.row_count == 1
        scan = cells(table, 0)
        assert (scan[1], scan[2], scan[-1]) == ("manual", str(library.photos), "completed")
        scanned = FileRecord.select().count()
        assert scan[3] == f"{scanned:,}"
        assert f"{scanned:,} files scanned" in text_of(detail)
        assert "completed" in text_of(detail)

        now = time.time()
        failed = SyncRun.create(
            kind="scheduled",
            root=Root.get(),
            status="failed",
            started_at=now,
            finished_at=now + 1.5,
            duration=1.5,
            files_scanned=3,
            error="the disk went away during the scan",
        )
        await pilot.press("T", "H")
        assert table.row_count == 2
        top = cells(table, 0)
        assert (top[1], top[-1]) == ("scheduled", "failed")
        assert table.cursor == 0
        assert f"run {failed.id}: scheduled scan" in text_of(detail)
        assert "failed: the disk went away during the scan" in text_of(detail)

        await pilot.press("down")
        assert table.cursor == 1
        assert "the disk went away" not in text_of(detail)
        assert f"{scanned:,} files scanned" in text_of(detail)
        await pilot.press("up")
        assert "the disk went away during the scan" in text_of(detail)

        await pilot.press("R")
        await pilot.pause()
        assert any(message.startswith("no engine runs") for message in notified(app))


# --- stage queue -----------------------------------------------------------------------------


def stage_counts(text: str) -> dict[str, dict[str, int]]:
    """The counts table of the stage pane, read back: stage -> status -> jobs."""
    header, *lines = text.strip().splitlines()
    assert header.split() == ["stage", *JOB_STATUSES]
    counts = {}
    for line in lines:
        stage, *numbers = line.split()
        counts[stage] = dict(zip(JOB_STATUSES, (int(n.replace(",", "")) for n in numbers),
                                 strict=True))  # fmt: skip
    return counts


def job_status(library: Library, job_id: int) -> str:
    return on_disk(library, "SELECT status FROM job WHERE id = ?", (job_id,))[0][0]


async def test_stage_queue_counts_failed_jobs_retry_and_cancel(library: Library):
    async with make_app(library).run_test(size=SIZE) as pilot:
        app = pilot.app
        await pilot.press("S")
        assert app.pane == "stages"
        assert "No stage has queued" in text_of(app.query_one("#stage-counts", Static))
        assert app.query_one("#failed-table", WindowedTable).row_count == 0

        photos = list(Photo.select().order_by(Photo.id))
        now = time.time()

        def job(stage: str, photo: Photo, status: str, **fields) -> Job:
            return Job.create(photo=photo, stage=stage, status=status, queued_at=now - 60,
                              **fields)  # fmt: skip

        failed = [
            job("web", photos[0], "failed", attempts=3, finished_at=now - 5,
                last_error="the export folder is read-only"),
            job("thumbnail", photos[1], "failed", attempts=2, finished_at=now - 10,
                last_error="cannot decode the image"),
            job("thumbnail", photos[2], "failed", attempts=1, finished_at=now - 20,
                last_error="no space left on the device"),
        ]  # fmt: skip
        for photo in photos[3:8]:
            job("thumbnail", photo, "completed", attempts=1, finished_at=now - 30)
        for photo in photos[3:6]:
            job("web", photo, "completed", attempts=1, finished_at=now - 30)
        for photo in photos[8:10]:
            job("thumbnail", photo, "pending")
        for photo in photos[6:13]:
            job("web", photo, "pending")

        await pilot.press("T", "S")
        counts = app.query_one("#stage-counts", Static)
        table = app.query_one("#failed-table", WindowedTable)
        assert stage_counts(text_of(counts)) == {
            "thumbnail": {"pending": 2, "running": 0, "completed": 5, "failed": 2, "cancelled": 0},
            "web": {"pending": 7, "running": 0, "completed": 3, "failed": 1, "cancelled": 0},
        }
        assert table.row_count == 3
        originals = {
            record.photo_id: record.rel_path
            for record in FileRecord.select().where(FileRecord.role == "original")
        }
        for n, expected in enumerate(failed):  # newest failure first
            row = cells(table, n)
            assert row[1:] == [
                expected.stage,
                originals[expected.photo_id],
                str(expected.attempts),
                expected.last_error,
            ]

        assert table.cursor == 0
        await pilot.press("r")
        assert job_status(library, failed[0].id) == "pending"
        await pilot.pause()
        assert f"job {failed[0].id} queued again" in notified(app)
        assert table.row_count == 2
        assert stage_counts(text_of(counts))["web"]["pending"] == 8
        assert stage_counts(text_of(counts))["web"]["failed"] == 0

        assert cells(table, 0)[4] == "cannot decode the image"
        await pilot.press("c")
        assert job_status(library, failed[1].id) == "cancelled"
        assert job_status(library, failed[2].id) == "failed"
        assert table.row_count == 1
        thumbnail = stage_counts(text_of(counts))["thumbnail"]
        assert (thumbnail["failed"], thumbnail["cancelled"]) == (1, 1)


# --- edit progress ---------------------------------------------------------------------------


def rendered(widget: Static) -> str:
    """What a Static shows at its own width on screen."""
    console = Console(width=widget.size.width, record=True, file=io.StringIO(), color_system=None)
    console.print(widget.content)
    return console.export_text()


def shoot_line(text: str, shoot: str) -> str:
    """The progress table's row of one shoot (two lines), its cells' text run together."""
    lines = text.splitlines()
    found = [n for n, line in enumerate(lines) if line.strip().startswith(shoot)]
    assert len(found) == 1, text
    return " ".join(" ".join(lines[found[0] : found[0] + 3]).split())


@pytest.mark.parametrize("gone", [False, True], ids=["all-on-disk", "one-file-gone"])
async def test_edit_progress_follows_the_darktable_library(tmp_path: Path, gone: bool):
    library = build_library(tmp_path)
    try:
        if gone:  # a photo darktable has, deleted from the disk: its image is an orphan
            street = library.photos / "2024-07-15_street"
            for name in ("DSC_0106.JPG", "DSC_0106.JPG.xmp"):
                (street / name).unlink()
            reconcile_roots(library.catalogue, list(Root.select()), library.settings.scan)
        darktable = copy_fixture(tmp_path)
        # The film rolls name the library's own photos, as the demo's do.
        darktable.write(
            "UPDATE film_rolls SET folder = replace(folder, ?, ?)",
            (str(darktable.photos), str(library.photos)),
        )
        # Three edits in the last twenty minutes: this session's pace.
        now = time.time()
        for image_id, minutes_ago in ((2, 20), (3, 10), (4, 5)):
            darktable.write(
                "UPDATE images SET change_timestamp = ? WHERE id = ?",
                (darktable_time(now - minutes_ago * 60), image_id),
            )
        paths = darktable.paths
        followed = replace(
            library.settings.darktable, library=paths.library, data=paths.data, explicit=True
        )
        settings = replace(library.settings, darktable=followed)
        state, reason = sync_once(
            library.catalogue.db, LibraryPaths.beside(paths.library, paths.data), True
        )
        assert state == "ok", reason

        app = ShootwatchApp(settings, library.catalogue, engine="off")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("D")
            assert app.pane == "progress"
            pane = app.query_one(ProgressPane)
            shoots_widget = app.query_one("#shoots", Static)
            shoots = rendered(shoots_widget)
            # The fixture README: the wedding has ten images and a duplicate; edited 2, 3, 4 and
            # the duplicate of 3; rejected 9, 10; so 5 left to edit of 9 to edit. Exported 2, 4,
            # 5; edited and never exported 3 and its duplicate. Its folder holds 11 photos, one
            # (IMG_0011) never imported.
            wedding = shoot_line(shoots, "2024-06-01_wedding")
            assert "4 / 9" in wedding and "3 / 11" in wedding
            assert "11 files · 10 in darktable 1 not imported" in wedding
            # 3 edits in 20 minutes: 9 an hour; 5 left: done in about 33 minutes
            assert "9/h" in wedding and "≈ 33 min" in wedding
            street = shoot_line(shoots, "2024-07-15_street")
            assert "2 / 6" in street and "1 / 6" in street and "2 · 1 re-edited" in street
            if gone:
                assert "5 files · 5 in darktable 1 missing from disk" in street, street
            else:
                assert "6 files · 6 in darktable" in street and "missing" not in street
            assert "not imported" not in street
            assert "not followed" not in shoots
            # the table spans the pane, and the lists below fill its height
            assert shoots_widget.size.width >= pane.size.width - 2
            lists = app.query_one("#lists")
            assert lists.region.bottom >= pane.region.bottom - 1
            assert text_of(app.query_one("#recent-title", Static)) == "Most recent edits"
            recent = text_of(app.query_one("#recent", Static))
            first = " ".join(recent.splitlines()[0].split())  # 5 minutes ago, after its export
            assert first.endswith("IMG_0004.JPG ★★★★★ edited since its export"), first
            unexported = text_of(app.query_one("#unexported", Static))
            assert {name for name in unexported.split() if name.endswith(".JPG")} == {
                "IMG_0002.JPG", "IMG_0003.JPG", "IMG_0004.JPG", "DSC_0102.JPG", "DSC_0104.JPG"
            }  # fmt: skip
            left = text_of(app.query_one("#left", Static)).splitlines()
            assert left[0].split()[:2] == ["DSC_0103.JPG", "★★★★★"]  # the best rated first
            # at 80 columns the bars and the least needed figures give way to the counts
            await pilot.resize_terminal(80, 24)
            await pilot.pause()
            narrow = shoot_line(rendered(shoots_widget), "2024-06-01_wedding")
            assert "4 / 9 5" in narrow and "≈ 33 min" in narrow and "█" not in narrow, narrow
    finally:
        library.catalogue.close()


async def test_edit_progress_without_darktable_says_where_it_looked(library: Library):
    async with make_app(library).run_test(size=SIZE) as pilot:
        await pilot.press("D")
        shoots = text_of(pilot.app.query_one("#shoots", Static))
        assert "darktable is not followed" in shoots
        assert str(library.settings.darktable.library) in shoots


# --- the engine --------------------------------------------------------------------------------


def status_text(app: ShootwatchApp) -> str:
    return text_of(app.query_one(StatusBar))


async def test_the_app_tells_its_engine_the_shoot_on_screen(library: Library):
    """The engine builds the previews of the shoot on screen first: the app tells the engine
    it hosts which one that is, and again when it changes (not at every photo)."""
    app = make_app(library, engine="auto")
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.link.engine is not None, polls=300)
        engine = app.link.engine
        told: list[str] = []
        original = engine.focus_previews

        def focus_previews(folder: str) -> bool:
            told.append(folder)
            return original(folder)

        engine.focus_previews = focus_previews
        pane = app.query_one(TriagePane)
        shown = [os.path.dirname(pane.card.path)]  # the shoot of each photo shown, in turn
        for _ in range(len(pane.queue.photo_ids) - 1):
            await pilot.press("space")
            await pilot.pause()
            shown.append(os.path.dirname(pane.card.path))
        changes = [folder for n, folder in enumerate(shown) if n == 0 or shown[n - 1] != folder]
        assert len(changes) >= 2, shown
        # Each change of shoot told once (the first one maybe before this test listened).
        assert told in (changes, changes[1:]), (told, changes)


async def test_the_app_hosts_the_engine_and_stops_it_on_quit(library: Library):
    app = make_app(library, engine="auto")
    async with app.run_test(size=SIZE) as pilot:

        def watching() -> bool:
            """the watcher runs and the status bar says so"""
            state = app.link.states()["watcher"].status
            return state in ("running", "idle") and "● watcher" in status_text(app)

        await wait_until(pilot, watching, polls=300)
        assert app.link.engine is not None
        assert app.link.attached_pid is None
        assert running_engine_pid(library.settings.catalogue) == os.getpid()

        await pilot.press("E")
        table = app.query_one("#events-table", WindowedTable)
        source = library.photos / "2024-06-01_wedding" / "IMG_0001.JPG"
        shutil.copyfile(source, library.photos / "2024-06-01_wedding" / "ARRIVED_0001.JPG")

        def arrived() -> bool:
            """the new photo is in the live events pane"""
            rows = (cells(table, n) for n in range(table.row_count))
            return any(row[1] == "added" and row[2].endswith("ARRIVED_0001.JPG") for row in rows)

        await wait_until(pilot, arrived, polls=100)
        await pilot.press("q")
    assert app.link.engine is None
    assert running_engine_pid(library.settings.catalogue) is None


async def test_the_app_leaves_its_start_up_objects_out_of_garbage_collection(library: Library):
    """A full collection walks every object: the app's start-up ones are frozen while it runs
    (the longest stall under load was one), and given back when it quits."""
    before = gc.get_freeze_count()
    app = make_app(library)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        # textual, the panes, the queue: tens of thousands
        assert gc.get_freeze_count() > before + 10_000
    assert gc.get_freeze_count() == 0


async def test_the_app_attaches_to_an_engine_that_runs(library: Library):
    # Without darktable: the library names a darktable library that is not there, and the
    # status bar would give its line to that trouble instead of to the engine it attached to.
    engine = Engine(library.settings, with_darktable=False)
    engine.start()
    try:
        app = make_app(library, engine="auto")
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.link.attached_pid is not None, polls=100)
            assert app.link.attached_pid == os.getpid()
            assert app.link.engine is None
            await wait_until(pilot, lambda: "attached" in status_text(app), polls=50)
            assert f"attached to the engine of pid {os.getpid()}" in status_text(app)
        assert running_engine_pid(library.settings.catalogue) == os.getpid()  # still its own
    finally:
        engine.stop()
    assert running_engine_pid(library.settings.catalogue) is None


# --- command palette -------------------------------------------------------------------------


async def test_the_command_palette_runs_a_triage_action(library: Library):
    async with make_app(library).run_test(size=SIZE) as pilot:
        app = pilot.app
        pane = app.query_one(TriagePane)
        first = pane.photo_id
        assert on_disk(library, "SELECT decision FROM photo WHERE id = ?", (first,)) == [
            ("pending",)
        ]
        await pilot.press("E")  # the palette shows the triage pane for a triage action
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"Approve")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, CommandPalette)
        assert on_disk(library, "SELECT decision FROM photo WHERE id = ?", (first,)) == [
            ("approved",)
        ]
        assert app.pane == "triage"
        assert pane.photo_id != first  # it moved on, as the key does


def test_the_status_line_shows_a_card_being_filed_and_trouble_first():
    from core.engine import ComponentState
    from tui.widgets.status_bar import status_text

    states = {
        "watcher": ComponentState("running"),
        "ingest": ComponentState("running", task="ingesting 412 / 1,508, 3 duplicates"),
    }
    shown = status_text(states, "engine running in this app").plain
    assert shown.endswith("ingesting 412 / 1,508, 3 duplicates")
    states["ingest"] = ComponentState("idle", task="filed 1,508, 3 duplicates")
    assert status_text(states, "engine running in this app").plain.endswith("in this app")
    states["watcher"] = ComponentState("degraded", error="inotify limit")
    assert "watcher degraded: inotify limit" in status_text(states, "x").plain


@pytest.mark.parametrize(
    ("said", "style"),
    [
        ("EOS_DIGITAL: safe to format (1,508 files)", "green"),
        ("EOS_DIGITAL: NOT safe to format (3 of 1,508 files not copied: shootwatch card /m)",
         "bold red"),
    ],
)  # fmt: skip
def test_the_status_line_says_whether_the_card_copied_last_is_safe_to_format(said, style):
    from core.engine import ComponentState
    from tui.widgets.status_bar import status_text

    states = {"watcher": ComponentState("running"), "ingest": ComponentState("idle", task=said)}
    shown = status_text(states, "engine running in this app")
    assert shown.plain.endswith(said)
    assert any(span.style == style for span in shown.spans if shown.plain[span.start :] == said)
    states["ingest"] = ComponentState("running", task="EOS_DIGITAL: copying 2 / 9 files")
    assert status_text(states, "x").plain.endswith("EOS_DIGITAL: copying 2 / 9 files")


async def test_the_information_overlay_says_darktable_once():
    from tests.tui.demo_app import SIZE as DEMO_SIZE
    from tests.tui.demo_app import demo_app

    app = demo_app()
    async with app.run_test(size=DEMO_SIZE) as pilot:
        pane = app.query_one(TriagePane)
        for _ in range(len(pane.queue.photo_ids)):  # a photo darktable has
            if pane.card.darktable and pane.card.darktable != "not in darktable":
                break
            await pilot.press("right")
        else:
            raise AssertionError("no photo of the demo is in darktable")
        await pilot.press("i")
        info = str(pane.query_one("#info-text").render())
        line = next(line for line in info.splitlines() if line.strip().startswith("darktable"))
        assert line.split()[0] == "darktable" and "darktable:" not in line, line
        assert line.split()[1] in ("edited,", "not"), line  # "edited, …" / "not edited, …"
