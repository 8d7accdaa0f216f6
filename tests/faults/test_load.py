"""Load: 20,000 files created in 30 seconds across 500 new folders while a reconcile runs, the
engine running as a service and the app attached to it; after the backstop reconcile no file is
missed or recorded twice; the app's longest event-loop stall is measured against its 100 ms
target."""

from __future__ import annotations

import asyncio
import itertools
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.config import load_settings
from core.engine.lock import running_engine_pid
from core.store import open_catalogue
from tests.faults.crashes import (
    Figures,
    count,
    records_against_disk,
    run_cli,
    start_engine,
)
from tests.helpers import wait_until

pytestmark = pytest.mark.anyio

FILES, FOLDERS, SECONDS = 20_000, 500, 30.0
TICK = 0.02  # the app's own heartbeat: a late beat is the event loop blocked
STALL_LIMIT = 0.100

WRITER = """
import os, sys, time
root, files, folders, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
start = time.monotonic()
per_folder = files // folders
for f in range(folders):
    folder = os.path.join(root, "2025", f"2025-06-{f % 30 + 1:02d}", f"card-{f:03d}")
    os.makedirs(folder, exist_ok=True)
    for n in range(per_folder):
        with open(os.path.join(folder, f"IMG_{n:04d}.CR3"), "wb") as out:
            out.write(os.urandom(512))
    # Spread over the time asked for, as a card reader copying would.
    wait = start + seconds * (f + 1) / folders - time.monotonic()
    if wait > 0:
        time.sleep(wait)
print(round(time.monotonic() - start, 1))
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_20000_files_in_30_seconds_with_the_app_attached(tmp_path: Path):
    from tui.app import ShootwatchApp

    home = tmp_path / "home"
    home.mkdir()
    root = tmp_path / "photos"
    (root / "existing").mkdir(parents=True)
    for n in range(3000):  # something for the reconcile to be busy with when the burst starts
        (root / "existing" / f"OLD_{n:05d}.CR3").write_bytes(n.to_bytes(4, "big") * 256)
    config = tmp_path / "shootwatch.toml"
    config.write_text(
        f'catalogue = "{tmp_path / "catalogue.db"}"\n'
        f'[darktable]\nlibrary = "{tmp_path / "no-darktable" / "library.db"}"\n'
        f'[media]\npreview_cache = "{tmp_path / "previews"}"\n'
        f'[stages]\nenabled = []\noutput = "{tmp_path / "art"}"\n'
    )
    assert run_cli(config, home, "add", str(root)).returncode == 0
    settings = load_settings(config)
    engine = start_engine(config, home, tmp_path / "engine.log")
    catalogue = open_catalogue(settings.catalogue)
    figures = Figures("20,000 files in 30 s, 500 new folders, app attached", files=FILES)
    beats: list[float] = []
    try:
        wait_until(lambda: running_engine_pid(settings.catalogue) == engine.pid, 60, "engine")
        app = ShootwatchApp(settings, catalogue, engine="auto")
        async with app.run_test(size=(160, 48)) as pilot:
            await pilot.pause(0.5)
            assert app.link.attached_pid == engine.pid, app.link.describe()
            app.set_interval(TICK, lambda: beats.append(time.monotonic()))
            await pilot.press("E")  # the live events pane: the busiest to keep up to date
            # Commands run beside the app, never on its event loop (that would be the test's stall).
            rescan = await asyncio.to_thread(run_cli, config, home, "rescan")
            assert rescan.returncode == 0  # a reconcile, running
            writer = subprocess.Popen(
                [sys.executable, "-c", WRITER, str(root), str(FILES), str(FOLDERS),
                 str(SECONDS)],
                stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            while writer.poll() is None:
                await pilot.pause(0.2)
            assert writer.returncode == 0
            # The backstop: a reconcile after the burst, then the catalogue is compared.
            started = time.time()
            rescan = await asyncio.to_thread(run_cli, config, home, "rescan")
            assert rescan.returncode == 0

            def reconciled() -> bool:
                return count(
                    settings.catalogue,
                    "SELECT count(*) FROM sync_run WHERE kind = 'manual' AND status = 'completed'"
                    " AND started_at >= ?",
                    (started,),
                ) > 0  # fmt: skip

            while not reconciled():
                await pilot.pause(0.5)
            await pilot.pause(1.0)
    finally:
        engine.send_signal(signal.SIGTERM)
        engine.wait(timeout=60)
        catalogue.close()
    missing, extra, doubled = records_against_disk(settings.catalogue, root)
    gaps = [later - earlier for earlier, later in itertools.pairwise(beats)]
    stall = max(gaps) - TICK
    figures.missed, figures.duplicated = missing + extra, doubled
    figures.notes.append(
        f"app event loop: {len(gaps):,} beats of {TICK * 1000:.0f} ms, longest stall "
        f"{stall * 1000:.0f} ms"
    )
    figures.notes.append(
        f"target {STALL_LIMIT * 1000:.0f} ms: {'met' if stall <= STALL_LIMIT else 'MISSED'}"
    )
    figures.write()
    assert (missing, extra, doubled) == (0, 0, 0)
    assert len(gaps) > 500  # the app kept beating throughout
    # The stall is a time on a shared machine: reported (the Reliability table), never asserted.
    # It was 150-250 ms until the app froze its start-up objects (tests/tui/test_panes.py).
