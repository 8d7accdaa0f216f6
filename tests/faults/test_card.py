"""Ingest from a card under the faults that lose shoots: `shootwatch ingest --from CARD` killed
(SIGKILL) at random moments, run after run, and the card pulled out of its reader mid-copy and
put back, again and again; after each, what is on the card is checked in both destinations:
every file exactly once, no temporary left, no journal entry left open, and "safe to format"
only once all of it is there. Figures for the Reliability table (docs/reliability.md)."""

from __future__ import annotations

import contextlib
import json
import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import blake3
import pytest

from core.ingest.verified_copy import TEMPORARY_PREFIX
from tests.card_image import (
    Card,
    Destinations,
    Mounts,
    camera_files,
    mounts_undone_after,
    shootwatch,
    verified,
)
from tests.faults.crashes import KILLS, SEED, Figures, environment, kill_cycles
from tests.helpers import REPO

BIG_FILES = 80  # 3.5 MB RAWs: the copy takes about a second, long enough to be cut anywhere


@pytest.fixture
def mounts() -> Iterator[Mounts]:
    yield from mounts_undone_after()


def copies_by_content(root: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    if root.exists():
        for path in sorted(root.rglob("*")):
            if path.is_file():
                digest = _b3(path)
                found.setdefault(digest, []).append(str(path.relative_to(root)))
    return found


def _b3(path: Path) -> str:
    return blake3.blake3(path.read_bytes()).hexdigest()


def count_faults(card: Card, places: Destinations, figures: Figures, finished: bool) -> None:
    """Against the card: files missing (only once the ingest said it finished), files doubled
    and temporaries left, in both destinations; journal entries left open."""
    on_card = set(card.files().values())
    for root in (places.primary, places.backup):
        copies = copies_by_content(root)
        # A copy's hidden temporary beside its name (a kill between the link and the
        # temporary's removal) is no second copy: the next run removes it, and one left after
        # the last run counts as stuck, below.
        figures.duplicated += sum(
            len([n for n in names if not Path(n).name.startswith(TEMPORARY_PREFIX)]) - 1
            for names in copies.values()
            if any(not Path(n).name.startswith(TEMPORARY_PREFIX) for n in names)
        )
        if finished:  # a cut copy's temporary waits for the next run, which removes it
            figures.missed += len(on_card - set(copies))
            figures.stuck += sum(1 for names in copies.values() for n in names
                                 if Path(n).name.startswith(TEMPORARY_PREFIX))  # fmt: skip


def open_entries(catalogue: Path) -> int:
    query = "SELECT count(*) FROM card_copy WHERE state = 'intent'"
    with contextlib.closing(sqlite3.connect(f"file:{catalogue}?mode=ro", uri=True)) as db:
        return db.execute(query).fetchone()[0]


def uncatalogued(places: Destinations) -> list[str]:
    """The destination's copies whose catalogue record is missing or names other content
    (each verified copy is catalogued as it takes its name, or when a crash left it named and
    the next run found it whole), and records of no copy."""
    query = ("SELECT f.rel_path, f.blake3 FROM file f JOIN root r ON r.id = f.root_id"
             " WHERE r.path = ?")  # fmt: skip
    with contextlib.closing(sqlite3.connect(f"file:{places.catalogue}?mode=ro", uri=True)) as db:
        records = dict(db.execute(query, (str(places.primary),)).fetchall())
    copies = places.copies(places.primary)
    return sorted(set(copies.items()) ^ set(records.items()))


def finish(card: Card, places: Destinations, figures: Figures) -> None:
    """One more run to its end: it must say safe to format, and leave everything in place."""
    done = shootwatch(places.config, "ingest", "--from", str(card.path), "--json")
    report = json.loads(done.stdout) if done.stdout else {}
    if done.returncode != 0 or not report.get("safe_to_format"):
        figures.crashes += 1
        figures.notes.append(f"the run after the faults: exit {done.returncode}, {done.stderr}")
    count_faults(card, places, figures, finished=True)
    figures.stuck += open_entries(places.catalogue)


def test_a_card_ingest_killed_again_and_again_loses_and_doubles_nothing(tmp_path, mounts):
    card = Card(tmp_path, mounts, size_mb=400).format(camera_files(big=BIG_FILES))
    places = Destinations(tmp_path, mounts, size_mb=512)
    files = len(card.files())
    figures = Figures(f"card ingest into 2 destinations ({files} files), kill -9", files=files)
    home = tmp_path / "home"
    home.mkdir()

    def start() -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "core.cli", "--config", str(places.config), "ingest",
             "--from", str(card.path)], cwd=REPO, env=environment(home),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def after_each(n: int) -> None:
        count_faults(card, places, figures, finished=False)
        if verified(places.catalogue) == files:  # done before the kill: start again, emptied
            finish(card, places, figures)
            for root in (places.primary, places.backup):
                subprocess.run(["rm", "-rf", str(root)], check=True)
            places.catalogue.unlink()
            for suffix in ("-wal", "-shm"):
                Path(f"{places.catalogue}{suffix}").unlink(missing_ok=True)

    kill_cycles(start, figures, 0.15, 1.2, home, after_each=after_each)
    finish(card, places, figures)
    figures.write()
    assert figures.processes_left == 0 and figures.crashes == 0, figures.notes
    assert (figures.missed, figures.duplicated, figures.stuck) == (0, 0, 0)
    assert uncatalogued(places) == []


def test_a_card_pulled_out_mid_copy_again_and_again_loses_and_doubles_nothing(tmp_path, mounts):
    card = Card(tmp_path, mounts, size_mb=400).format(camera_files(big=BIG_FILES))
    places = Destinations(tmp_path, mounts, size_mb=512)
    files = len(card.files())
    figures = Figures(f"card pulled out mid-copy and put back ({files} files)", files=files)
    chance = random.Random(f"{SEED}-card-pulled")
    pulls = max(3, KILLS // 4)
    for _ in range(pulls):
        process = subprocess.Popen(
            [sys.executable, "-m", "core.cli", "--config", str(places.config), "ingest",
             "--from", str(card.path)], cwd=REPO, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(chance.uniform(0.15, 1.2))
        card.pull_out()
        if process.wait(timeout=120) not in (0, 1, 2):
            figures.crashes += 1
            figures.notes.append(f"exit {process.returncode} after the card was pulled out")
        count_faults(card, places, figures, finished=False)
        card.plug_in()
    finish(card, places, figures)
    figures.kills = pulls  # the card taken away, as a kill takes the process away
    figures.write()
    assert figures.crashes == 0, figures.notes
    assert (figures.missed, figures.duplicated, figures.stuck) == (0, 0, 0)
    assert uncatalogued(places) == []
