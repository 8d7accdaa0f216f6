"""Decisions while the engine indexes: 20,000 new photos are copied into the root of the running
engine, which records, describes and previews them, while 200 decisions are made with
``shootwatch decide`` (one process each, as a script would) and 200 with the keys of the real
app. None may fail, every one must be on disk, and the engine's own writes must not fail either.

Two ways the app meets the engine: attached to ``shootwatch run`` in another process, and
hosting it in a worker thread of its own process (where a decision and the engine's writer are
two threads of one process).
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest

from core.store import open_catalogue
from tests.faults.crashes import Figures, count, environment, rows
from tests.faults.indexing import CARDS, BusyLibrary, build_library, decide_command
from tests.helpers import wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

FILES = 20_000
DECISIONS = 200  # from each side
CHOICES = ("approve", "reject")  # the CLI's; the app's keys for the same are "a" and "x"
KEYS = {"approve": "a", "reject": "x"}
DECIDED = {"approve": "approved", "reject": "rejected"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def described(library: BusyLibrary) -> int:
    """New files described so far (the media's work, after the reconciler's)."""
    return count(
        library.settings.catalogue,
        "SELECT count(*) FROM file WHERE rel_path LIKE ? AND format IS NOT NULL",
        (f"{CARDS}/%",),
    )


def decide_from_the_command_line(library: BusyLibrary, done: list[dict]) -> list[dict]:
    """DECISIONS runs of ``shootwatch decide``, one after another: what each did, in ``done``."""
    env = environment(library.home)
    for n, path in enumerate(library.photos_in("decide/cli")[:DECISIONS]):
        choice = CHOICES[n % 2]
        run = subprocess.run(decide_command(library, path, choice), env=env, cwd=library.home,
                             capture_output=True, text=True, timeout=120)  # fmt: skip
        done.append({"path": path, "choice": choice, "code": run.returncode,
                     "err": run.stderr, "busy": described(library) < FILES})  # fmt: skip
    return done


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("engine", ["attached", "hosted"])
async def test_decisions_while_20000_new_photos_are_indexed(tmp_path: Path, engine: str, caplog):
    from tui.app import ShootwatchApp
    from tui.panes.triage import TriagePane

    library = build_library(tmp_path, {"decide/cli": DECISIONS, "decide/app": DECISIONS})
    if engine == "attached":
        library.start_engine()
    catalogue = open_catalogue(library.settings.catalogue)
    made_in_app: list[tuple[int, str, bool]] = []  # (photo, decision, while busy)
    made_by_cli: list[dict] = []
    advanced = 0
    try:
        app = ShootwatchApp(library.settings, catalogue, engine="auto")
        async with app.run_test(size=(120, 36)) as pilot:
            if engine == "attached":
                await pilot.pause(0.5)
                assert app.link.attached_pid == library.engine.pid, app.link.describe()
            else:
                for _ in range(600):
                    if app.link.engine is not None or app.link.problem:
                        break
                    await pilot.pause(0.1)
                assert app.link.engine is not None, app.link.describe()
            pane = app.query_one(TriagePane)
            pane.load_queue(f"folder:{library.root / 'decide' / 'app'}")
            assert len(pane.queue.photo_ids) == DECISIONS
            copying = library.copy_cards(FILES)
            cli = asyncio.create_task(
                asyncio.to_thread(decide_from_the_command_line, library, made_by_cli)
            )
            for n in range(DECISIONS):
                # Keep pace with the command line, so both sides decide through the load.
                while not cli.done() and len(made_in_app) > len(made_by_cli) + 5:
                    await pilot.pause(0.05)
                choice = CHOICES[n % 2]
                photo, index = pane.photo_id, pane.index
                busy = await asyncio.to_thread(described, library) < FILES
                await pilot.press(KEYS[choice])
                made_in_app.append((photo, DECIDED[choice], busy))
                advanced += pane.index == index + 1 or n == DECISIONS - 1
            await cli
            await asyncio.to_thread(copying.join, 600)
            if engine == "hosted":  # the engine stops with the app: let it finish the cards
                await asyncio.to_thread(
                    wait_until, lambda: described(library) == FILES, 600, "described"
                )
    finally:
        library.stop_engine()
        catalogue.close()

    figures = Figures(f"decisions while 20,000 new photos are indexed (engine {engine})",
                      files=FILES, decisions=2 * DECISIONS)  # fmt: skip
    failed_cli = [made for made in made_by_cli if made["code"] != 0 or made["err"]]
    assert not failed_cli, failed_cli[:3]
    assert advanced == DECISIONS  # no key was refused: each moved on to the next photo
    stored = dict(rows(library.settings.catalogue, "SELECT id, decision FROM photo"))
    cli_photos = library.photo_ids("decide/cli")
    root = library.root
    for made in made_by_cli:
        photo = cli_photos[str(made["path"].relative_to(root))]
        figures.missed += stored[photo] != DECIDED[made["choice"]]
    figures.missed += sum(stored[photo] != decision for photo, decision, _ in made_in_app)
    logged = dict(rows(library.settings.catalogue,
                       "SELECT source, count(*) FROM decision GROUP BY source"))  # fmt: skip
    assert logged == {"cli": DECISIONS, "key": DECISIONS}
    assert len({photo for photo, _, _ in made_in_app}) == DECISIONS
    # The load was there: a share of each side's decisions were made while the engine was still
    # recording or describing the new files (about a third of them, on a 2-core machine).
    while_busy = (sum(made["busy"] for made in made_by_cli),
                  sum(busy for _, _, busy in made_in_app))  # fmt: skip
    figures.notes.append(
        f"{while_busy[0]} CLI and {while_busy[1]} app decisions made while files were still "
        "being described; 0 failed"
    )
    figures.write()
    assert figures.missed == 0
    # Each side decided while the load was there (20 decisions in all at least, and some of each
    # side's: with the engine in the app's own process, the app's keys come slower while it
    # indexes, so the command line makes most of them on a fast machine).
    assert sum(while_busy) >= 20 and min(while_busy) >= 3, while_busy
    # Nor did the engine's own writes fail (its log: the file, or this process's when hosted).
    log = (tmp_path / "engine.log").read_text(errors="replace") if engine == "attached" else ""
    log += "\n".join(record.getMessage() for record in caplog.records)
    assert "database is locked" not in log and "task failed" not in log
