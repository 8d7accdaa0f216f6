"""The quiet window holds whatever the poll cadence: no statement of the poller's reads begins
within ``quiet_seconds`` of a write to library.db, whether the read was woken by the watcher, by
the poll timer, or is the next statement of a read already under way. A writer process writes
the real library copy in bursts the way darktable does, while the real poller runs."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import core.darktable.library as library
from core.config import ConfigError, load_settings
from core.darktable.facts import MIN_POLL_SECONDS, SAFE_QUIET_SECONDS
from core.darktable.poller import Poller, PollerState
from tests.darktable_fixture import DarktableCopy, copy_fixture

BURSTS = 2
BURST_SECONDS = 1.5
PAUSE_SECONDS = 2.0
# A write landing between the reader's last look and its connect cannot be seen by any reader;
# on a loaded machine the two can be a scheduler's time slice apart.
RACE_SECONDS = 0.02


@pytest.fixture
def darktable(tmp_path: Path) -> DarktableCopy:
    return copy_fixture(tmp_path)


class ConnectClock:
    """When each read-only connection to library.db was opened (the real connect is still
    made; the writer's own connection is not counted)."""

    def __init__(self, library_db: Path, monkeypatch) -> None:
        self.starts: list[float] = []
        real = sqlite3.connect
        wanted = library_db.name

        def connect(database, *args, **kwargs):
            name, _, options = str(database).partition("?")
            if name.endswith(wanted) and "mode=ro" in options:
                self.starts.append(time.time())
            return real(database, *args, **kwargs)

        monkeypatch.setattr(library.sqlite3, "connect", connect)


class ChangeLog:
    """When another process (darktable) wrote library.db: its modification time, looked at
    every 2 ms from a thread (a stat: no lock, nothing darktable could notice)."""

    def __init__(self, library_db: Path) -> None:
        self.path = library_db
        self.writes: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        last = None
        while not self._stop.wait(0.002):
            try:
                modified = os.stat(self.path).st_mtime_ns
            except OSError:
                continue
            if modified != last:
                last = modified
                self.writes.append(modified / 1e9)

    def __enter__(self) -> ChangeLog:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


def reads_too_soon(starts: list[float], writes: list[float], quiet: float) -> list[float]:
    """For each read that began less than ``quiet`` seconds after the last write before it,
    how long after. A write landing between the last look and the connect (microseconds) is
    a race no reader can close: reads within RACE_SECONDS of a write are not counted."""
    too_soon = []
    for start in starts:
        before = [write for write in writes if write <= start]
        if before and RACE_SECONDS <= start - before[-1] < quiet:
            too_soon.append(round(start - before[-1], 3))
    return too_soon


WRITER = """
import os, sqlite3, sys, time
library, gap, bursts, burst_seconds, pause_seconds = sys.argv[1], *map(float, sys.argv[2:])
connection = sqlite3.connect(library, isolation_level=None)
written = 0  # a new value every time: no burst ends where another did
for _ in range(int(bursts)):
    end = time.monotonic() + burst_seconds
    while time.monotonic() < end:
        written += 1
        connection.execute("UPDATE images SET change_timestamp = ? WHERE id = 6", (written,))
        print(os.stat(library).st_mtime_ns / 1e9, flush=True)  # the write's time, by the file
        time.sleep(gap)
    time.sleep(pause_seconds)
connection.close()
"""


def reads_just_before(starts: list[float], writes: list[float], window: float = 0.02) -> int:
    """How many reads began less than ``window`` seconds before a write: no reader can know
    darktable's next write, but waiting for quiet makes these rare (darktable writes in bursts)."""
    return sum(any(0 <= write - start < window for write in writes) for start in starts)


def _write_bursts(copy: DarktableCopy, gap: float) -> list[float]:
    """Another process (as darktable is) writes bursts of short transactions ``gap`` apart,
    with pauses between bursts; returns each write's time (the file's modification time)."""
    result = subprocess.run(
        [sys.executable, "-c", WRITER, str(copy.paths.library), str(gap), str(BURSTS),
         str(BURST_SECONDS), str(PAUSE_SECONDS)],
        capture_output=True, text=True, timeout=BURSTS * (BURST_SECONDS + PAUSE_SECONDS) + 60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return [float(line) for line in result.stdout.split()]


@pytest.mark.parametrize("gap", [0.05, 0.2], ids=["writes-50ms-apart", "writes-200ms-apart"])
@pytest.mark.parametrize(
    ("poll_seconds", "quiet_seconds"),
    [(1.0, 0.3), (1.0, 1.0), (2.0, 0.5)],
    ids=["poll-1s-quiet-0.3s", "poll-1s-quiet-1s", "poll-2s-quiet-0.5s"],
)
def test_no_read_begins_inside_the_quiet_window(
    darktable, monkeypatch, poll_seconds, quiet_seconds, gap
):
    clock = ConnectClock(darktable.paths.library, monkeypatch)
    applied, states = [], []
    poller = Poller(
        darktable.paths,
        apply=applied.append,
        on_state=states.append,
        poll_seconds=poll_seconds,
        quiet_seconds=quiet_seconds,
    )
    writes: list[float] = []
    poller.start()
    try:
        deadline = time.monotonic() + 10
        while not applied and time.monotonic() < deadline:
            time.sleep(0.05)
        assert applied, f"the first read never came: {states[-3:]}"
        first_reads = len(clock.starts)
        writes = _write_bursts(darktable, gap)
        deadline = time.monotonic() + 15  # a loaded machine may take a while to read again
        while len(applied) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        poller.stop()
    starts = clock.starts[first_reads:]
    too_soon = reads_too_soon(starts, writes, quiet_seconds)
    assert writes and len(applied) > 1, "the poller read nothing after the writes began"
    assert not too_soon, (
        f"{len(too_soon)} of {len(starts)} statements began within {quiet_seconds} s of a "
        f"write (seconds after it: {too_soon[:10]})"
    )
    assert all(state.status in ("idle", "running") for state in states), states
    assert not any(isinstance(state, PollerState) and state.error for state in states[-1:])


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("darktable.quiet_seconds", SAFE_QUIET_SECONDS / 2),
        ("darktable.quiet_seconds", 0),
        ("darktable.poll_seconds", MIN_POLL_SECONDS / 2),
    ],
)
def test_the_settings_refuse_a_cadence_faster_than_the_live_test_ran(tmp_path, key, value):
    """The live darktable session (tests/integration/test_darktable_live.py) runs at the fastest
    cadence the settings accept; anything faster is refused with a sentence, not used."""
    with pytest.raises(ConfigError) as refused:
        load_settings(None, {"catalogue": str(tmp_path / "c.db"), key: value})
    assert key in str(refused.value) and "from" in str(refused.value)
    accepted = load_settings(
        None,
        {
            "catalogue": str(tmp_path / "c.db"),
            "darktable.quiet_seconds": SAFE_QUIET_SECONDS,
            "darktable.poll_seconds": MIN_POLL_SECONDS,
        },
    )
    assert accepted.darktable.quiet_seconds == SAFE_QUIET_SECONDS
