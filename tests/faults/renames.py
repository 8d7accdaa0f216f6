"""The rename harness: roots full of folders under the real engine (`shootwatch run` with
default settings), folders renamed or moved at a given spacing, and what the engine then holds:
files with no record, records with no file, records that kept their id, how long until quiet.
Used by tests/faults/test_renames.py and by tests/bench/bench_watch.py's rename matrix.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import blake3

from tests.faults.crashes import (
    environment,
    records_against_disk,
    rows,
    run_cli,
    start_engine,
)
from tests.helpers import wait_until

FOLDERS, FILES = 40, 50
# Root without root's permission bypass, so that a chmod 000 folder is unreadable to the engine.
WITHOUT_BYPASS = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
QUIET_SECONDS = 90  # how long the engine may take to agree with the disk after the last move
WAVES = 8
WAVE_PAUSE = 2.0  # seconds between two waves of renames


class Session:
    """A home, default settings, some roots full of folders, and the engine running on them."""

    def __init__(self, tmp_path: Path, roots: int = 1, without_bypass: bool = False) -> None:
        self.without_bypass = without_bypass and os.geteuid() == 0
        self.home = tmp_path / "home"
        self.home.mkdir()
        self.catalogue = tmp_path / "catalogue.db"
        self.config = tmp_path / "shootwatch.toml"
        self.log = tmp_path / "engine.log"
        self.roots = [tmp_path / f"library-{n}" for n in range(roots)]
        self.config.write_text(
            f'catalogue = "{self.catalogue}"\n'
            f'[media]\npreview_cache = "{tmp_path / "previews"}"\n'
            f'[stages]\nenabled = []\noutput = "{tmp_path / "art"}"\n'
        )
        self.engine = None

    def fill(self, root: Path, folders: list[str], seed: int) -> None:
        rng = random.Random(seed)
        for folder in folders:
            (root / folder).mkdir(parents=True)
            for n in range(FILES):
                (root / folder / f"IMG_{n:04d}.CR3").write_bytes(rng.randbytes(512))

    def start(self) -> None:
        for root in self.roots:
            root.mkdir(exist_ok=True)
            done = run_cli(self.config, self.home, "add", str(root))
            assert done.returncode == 0, done.stdout + done.stderr
        if self.without_bypass:
            with open(self.log, "ab") as out:
                command = [*WITHOUT_BYPASS, sys.executable, "-m", "core.cli"]
                self.engine = subprocess.Popen(
                    [*command, "--config", str(self.config), "run"],
                    env=environment(self.home), stdout=out, stderr=out, cwd=self.home,
                )  # fmt: skip
        else:
            self.engine = start_engine(self.config, self.home, self.log)
        total = sum(1 for root in self.roots for path in root.rglob("*") if path.is_file())
        wait_until(lambda: self.record_count() == total, 120, "the first index")
        wait_until(self.watching, 60, "the watcher running")

    def stop(self) -> None:
        if self.engine is not None and self.engine.poll() is None:
            self.engine.send_signal(signal.SIGTERM)
            self.engine.wait(timeout=60)

    def record_count(self) -> int:
        return rows(self.catalogue, "SELECT count(*) FROM file")[0][0]

    def watching(self) -> bool:
        found = rows(self.catalogue, "SELECT status FROM heartbeat WHERE component = 'watcher'")
        return bool(found) and found[0][0] == "running"

    def ids_by_content(self) -> dict[str, int]:
        return dict(rows(self.catalogue, "SELECT blake3, id FROM file"))

    def contents_on_disk(self) -> dict[str, str]:
        """{blake3: path} of every file under the roots."""
        found = {}
        for root in self.roots:
            for path in root.rglob("*"):
                if path.is_file():
                    found[blake3.blake3(path.read_bytes()).hexdigest()] = str(path)
        return found

    def agreement(self) -> tuple[int, int, int]:
        """(files with no record, records with no file, paths recorded twice), all roots."""
        totals = [records_against_disk(self.catalogue, root) for root in self.roots]
        return tuple(sum(values) for values in zip(*totals, strict=True))

    def status(self) -> tuple[int, dict]:
        done = run_cli(self.config, self.home, "status", "--json")
        return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {}


@dataclass(frozen=True)
class Outcome:
    files: int
    unrecorded: int  # files on disk with no record
    stale: int  # records of files no longer on disk
    doubled: int  # paths recorded twice
    kept: int  # files whose record is the one they had before the moves
    quiet: float  # seconds from the last move until the engine agreed with the disk
    status_code: int
    status: dict


def settle(session: Session, ids_before: dict[str, int]) -> Outcome:
    """Wait for the engine to agree with the disk (a bound, not a timed assertion) and say
    what it holds then."""
    started = time.monotonic()
    try:
        wait_until(lambda: session.agreement() == (0, 0, 0), QUIET_SECONDS, "records = disk")
        # Moves still pending pairing hold the old records a moment longer than the files.
        wait_until(lambda: session.ids_by_content() == ids_before, 30, "every record kept")
    except AssertionError:
        pass  # reported by the asserts below, with the figures
    quiet = time.monotonic() - started
    unrecorded, stale, doubled = session.agreement()
    ids_after = session.ids_by_content()
    on_disk = session.contents_on_disk()
    kept = sum(1 for digest in on_disk if ids_after.get(digest) == ids_before.get(digest))
    # The probe forgets folders that vanished while a run read them (moved, not unreadable)
    # within a few seconds: status is asked until it says all is well, or that bound.
    deadline = time.monotonic() + 20
    code, status = session.status()
    while code != 0 and time.monotonic() < deadline:
        time.sleep(0.5)
        code, status = session.status()
    return Outcome(len(on_disk), unrecorded, stale, doubled, kept, quiet, code, status)


def rename_waves(root: Path, folders: list[str], waves: int, gap: float) -> None:
    """Rename every folder, ``gap`` seconds apart, ``waves`` times; it returns right after the
    last rename (the time until quiet is counted from there)."""
    names = list(folders)
    for wave in range(waves):
        if wave:
            time.sleep(WAVE_PAUSE)
        for i, name in enumerate(names):
            if i and gap:
                time.sleep(gap)
            new = f"{name.split('~')[0]}~{wave}"
            os.rename(root / name, root / new)
            names[i] = new


def folder_names(count: int = FOLDERS, parent: str = "") -> list[str]:
    return [f"{parent}shoot-{n:02d}" for n in range(count)]


@dataclass(frozen=True)
class Scenario:
    """One row of the matrix: how many roots, and what is done to their folders (it fills
    them, starts the engine, moves folders and returns {blake3: id} from before the moves)."""

    name: str
    roots: int
    act: Callable[[Session], dict[str, int]]


def waves_scenario(waves: int, gap_ms: int) -> Scenario:
    """40 folders renamed one after another ``gap_ms`` apart, ``waves`` times, 2 s between
    waves."""

    def act(session: Session) -> dict[str, int]:
        folders = folder_names()
        session.fill(session.roots[0], folders, seed=gap_ms if waves == 1 else 100 + gap_ms)
        session.start()
        ids_before = session.ids_by_content()
        rename_waves(session.roots[0], folders, waves=waves, gap=gap_ms / 1000)
        return ids_before

    if waves == 1:
        return Scenario(f"rename 40 folders, {gap_ms} ms apart", 1, act)
    return Scenario(f"{waves} waves of 40 renames, {gap_ms} ms apart", 1, act)


def parent_scenario() -> Scenario:
    """The parent of 40 folders renamed, then 1 s later 10 of its folders moved into a new
    folder beside it."""

    def act(session: Session) -> dict[str, int]:
        root = session.roots[0]
        session.fill(root, folder_names(parent="2024/"), seed=7)
        session.start()
        ids_before = session.ids_by_content()
        os.rename(root / "2024", root / "2024-archive")
        time.sleep(1.0)
        (root / "picked").mkdir()
        for name in folder_names(10):
            os.rename(root / "2024-archive" / name, root / "picked" / name)
        return ids_before

    return Scenario("parent renamed, 10 of its folders moved 1 s later", 1, act)


def across_roots_scenario(gap_ms: int) -> Scenario:
    """Two roots of 20 folders each; 10 folders moved each way, a pair every ``gap_ms``."""

    def act(session: Session) -> dict[str, int]:
        folders = folder_names()
        first, second = session.roots
        session.fill(first, folders[:20], seed=11)
        session.fill(second, folders[20:], seed=12)
        session.start()
        ids_before = session.ids_by_content()
        for n in range(10):  # ten each way
            if n:
                time.sleep(gap_ms / 1000)
            os.rename(first / folders[n], second / folders[n])
            os.rename(second / folders[20 + n], first / folders[20 + n])
        return ids_before

    return Scenario(f"20 folders moved between roots, {gap_ms} ms apart", 2, act)


def run_scenario(scenario: Scenario, base: Path) -> tuple[Session, Outcome]:
    """The scenario in a fresh home under ``base``, the engine stopped afterwards; the session
    (its roots stay on disk) and what the engine held once quiet."""
    session = Session(base, roots=scenario.roots)
    try:
        ids_before = scenario.act(session)
        return session, settle(session, ids_before)
    finally:
        session.stop()
