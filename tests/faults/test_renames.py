"""Folders renamed and moved under the running engine (`shootwatch run`, default settings), at
every spacing: each file must end recorded once, under its new path, with the record it had.

The engine is a whole process; nothing here calls rescan: what the engine records by itself is
what is checked. A matrix, not a case: the gap between renames (0 ms to 2.5 s), one wave or
eight, a parent renamed and then some of its folders moved, folders moved between two roots.
"""

from __future__ import annotations

import os
import time

import pytest

from tests.faults.crashes import Figures
from tests.faults.renames import FOLDERS, Session, rename_waves, settle


def settle_and_check(session: Session, ids_before: dict[str, int], scenario: str) -> None:
    """Every file recorded once, with the record it had, and the status says all is well."""
    outcome = settle(session, ids_before)
    figures = Figures(
        scenario=scenario,
        files=outcome.files,
        missed=outcome.unrecorded,
        duplicated=outcome.doubled,
        notes=[
            f"{outcome.kept:,} of {outcome.files:,} records kept their id; {outcome.stale} "
            f"stale records; quiet {outcome.quiet:.1f} s after the last move"
        ],
    )
    figures.write()
    assert (outcome.unrecorded, outcome.stale, outcome.doubled) == (0, 0, 0), figures.notes
    assert outcome.kept == outcome.files == len(ids_before), figures.notes
    assert outcome.status_code == 0 and outcome.status, outcome.status


@pytest.fixture
def session(tmp_path):
    session = Session(tmp_path)
    yield session
    session.stop()


GAPS_MS = [0, 10, 50, 100, 300, 1000, 2500]


@pytest.mark.slow
@pytest.mark.parametrize("gap_ms", GAPS_MS, ids=[f"{gap}ms" for gap in GAPS_MS])
def test_forty_folders_renamed_one_after_another(session, gap_ms):
    folders = [f"shoot-{n:02d}" for n in range(FOLDERS)]
    session.fill(session.roots[0], folders, seed=gap_ms)
    session.start()
    ids_before = session.ids_by_content()
    rename_waves(session.roots[0], folders, waves=1, gap=gap_ms / 1000)
    settle_and_check(session, ids_before, f"rename 40 folders, {gap_ms} ms apart")


WAVE_GAPS_MS = [0, 10, 50]


@pytest.mark.slow
@pytest.mark.parametrize("gap_ms", WAVE_GAPS_MS, ids=[f"{gap}ms" for gap in WAVE_GAPS_MS])
def test_eight_waves_of_forty_renames(session, gap_ms):
    folders = [f"shoot-{n:02d}" for n in range(FOLDERS)]
    session.fill(session.roots[0], folders, seed=100 + gap_ms)
    session.start()
    ids_before = session.ids_by_content()
    rename_waves(session.roots[0], folders, waves=8, gap=gap_ms / 1000)
    settle_and_check(session, ids_before, f"8 waves of 40 renames, {gap_ms} ms apart")


@pytest.mark.slow
def test_parent_renamed_then_some_of_its_folders_moved(session):
    root = session.roots[0]
    folders = [f"2024/shoot-{n:02d}" for n in range(FOLDERS)]
    session.fill(root, folders, seed=7)
    session.start()
    ids_before = session.ids_by_content()
    os.rename(root / "2024", root / "2024-archive")
    time.sleep(1.0)
    (root / "picked").mkdir()
    for n in range(10):
        os.rename(root / "2024-archive" / f"shoot-{n:02d}", root / "picked" / f"shoot-{n:02d}")
    settle_and_check(session, ids_before, "parent renamed, 10 of its folders moved 1 s later")


@pytest.mark.slow
@pytest.mark.parametrize("gap_ms", [0, 10, 300])
def test_folders_moved_between_two_roots(tmp_path, gap_ms):
    session = Session(tmp_path, roots=2)
    try:
        folders = [f"shoot-{n:02d}" for n in range(FOLDERS)]
        session.fill(session.roots[0], folders[:20], seed=11)
        session.fill(session.roots[1], folders[20:], seed=12)
        session.start()
        ids_before = session.ids_by_content()
        for n in range(10):  # ten each way
            os.rename(session.roots[0] / folders[n], session.roots[1] / folders[n])
            os.rename(session.roots[1] / folders[20 + n], session.roots[0] / folders[20 + n])
            time.sleep(gap_ms / 1000)
        settle_and_check(session, ids_before, f"20 folders moved between roots, {gap_ms} ms apart")
    finally:
        session.stop()
