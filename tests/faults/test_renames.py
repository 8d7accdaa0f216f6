"""Folders renamed and moved under the running engine (`shootwatch run`, default settings), at
every spacing: each file must end recorded once, under its new path, with the record it had,
and `status` says all is well only when it is.

The engine is a whole process; nothing here calls rescan: what the engine records by itself is
what is checked. A matrix, not a case: the gap between renames (0 ms to 2.5 s), one wave or
eight, a parent renamed and then some of its folders moved, folders moved between two roots,
a folder that cannot be read renamed among the others. The scenarios are
tests/faults/renames.py's, which tests/bench/bench_watch.py's rename matrix runs too.
"""

from __future__ import annotations

import os
import time

import pytest

from tests.faults.crashes import Figures, rows
from tests.faults.renames import (
    FILES,
    FOLDERS,
    QUIET_SECONDS,
    WAVES,
    Outcome,
    Scenario,
    Session,
    across_roots_scenario,
    folder_names,
    parent_scenario,
    run_scenario,
    settle,
    waves_scenario,
)
from tests.helpers import wait_until


def check(scenario: Scenario, outcome: Outcome) -> None:
    """Every file recorded once, with the record it had, and status says so: healthy only if
    all of that holds (what it says is checked first, against the disk)."""
    figures = Figures(
        scenario=scenario.name,
        files=outcome.files,
        missed=outcome.unrecorded,
        duplicated=outcome.doubled,
        notes=[
            f"{outcome.kept:,} of {outcome.files:,} records kept their id; {outcome.stale} "
            f"stale records; quiet {outcome.quiet:.1f} s after the last move"
        ],
    )
    figures.write()
    lost = (outcome.unrecorded, outcome.stale, outcome.doubled, outcome.files - outcome.kept)
    if outcome.status_code == 0:
        assert lost == (0, 0, 0, 0), f"status said healthy with {lost}: {figures.notes}"
    assert (outcome.unrecorded, outcome.stale, outcome.doubled) == (0, 0, 0), figures.notes
    assert outcome.kept == outcome.files == FOLDERS * FILES, figures.notes
    assert outcome.status_code == 0 and outcome.status, outcome.status


GAPS_MS = [0, 10, 50, 100, 300, 1000, 2500]


@pytest.mark.slow
@pytest.mark.parametrize("gap_ms", GAPS_MS, ids=[f"{gap}ms" for gap in GAPS_MS])
def test_forty_folders_renamed_one_after_another(tmp_path, gap_ms):
    scenario = waves_scenario(1, gap_ms)
    check(scenario, run_scenario(scenario, tmp_path)[1])


# Each case renames for 8 x 40 x the gap, plus 7 pauses of 2 s: 100 ms is 46 s, 300 ms would
# be 110 s (the benchmark runs it).
WAVE_GAPS_MS = [0, 10, 50, 100]


@pytest.mark.slow
@pytest.mark.parametrize("gap_ms", WAVE_GAPS_MS, ids=[f"{gap}ms" for gap in WAVE_GAPS_MS])
def test_eight_waves_of_forty_renames(tmp_path, gap_ms):
    scenario = waves_scenario(WAVES, gap_ms)
    check(scenario, run_scenario(scenario, tmp_path)[1])


@pytest.mark.slow
def test_parent_renamed_then_some_of_its_folders_moved(tmp_path):
    scenario = parent_scenario()
    check(scenario, run_scenario(scenario, tmp_path)[1])


@pytest.mark.slow
@pytest.mark.parametrize("gap_ms", [0, 10, 300])
def test_folders_moved_between_two_roots(tmp_path, gap_ms):
    scenario = across_roots_scenario(gap_ms)
    check(scenario, run_scenario(scenario, tmp_path)[1])


UNREADABLE_GAPS_MS = [0, 50]


@pytest.mark.slow
@pytest.mark.parametrize("gap_ms", UNREADABLE_GAPS_MS, ids=[f"{g}ms" for g in UNREADABLE_GAPS_MS])
def test_status_is_not_healthy_while_a_renamed_folder_cannot_be_read(tmp_path, gap_ms):
    """One of 40 folders renamed one after another is made unreadable as it is renamed (the
    engine runs without root's permission bypass): its files cannot be recorded, and for as long
    as that lasts status names the folder instead of saying healthy, also after a realtime run
    of another folder. Readable again, every file is recorded with its id and status is
    healthy."""
    session = Session(tmp_path, without_bypass=True)
    root = session.roots[0]
    folders = folder_names()
    locked = folders[FOLDERS // 2]
    hidden = root / f"{locked}~0"
    session.fill(root, folders, seed=200 + gap_ms)
    try:
        session.start()
        ids_before = session.ids_by_content()
        try:
            for name in folders:
                if name == locked:
                    (root / name).chmod(0)
                os.rename(root / name, root / f"{name}~0")
                time.sleep(gap_ms / 1000)

            def only_the_locked_folder_unrecorded() -> bool:
                recorded = {rel for (rel,) in rows(session.catalogue, "SELECT rel_path FROM file")}
                return not any(rel.startswith(f"{hidden.name}/") for rel in recorded) and (
                    session.agreement()[0] == FILES
                )

            wait_until(only_the_locked_folder_unrecorded, QUIET_SECONDS, "the others recorded")

            def names_the_locked_folder() -> bool:
                code, status = session.status()
                return code != 0 and any(hidden.name in problem for problem in status["problems"])

            wait_until(names_the_locked_folder, 20, "status names the folder that cannot be read")
            # A realtime run of another folder reads that folder, not the locked one.
            os.rename(root / f"{folders[0]}~0", root / f"{folders[0]}~1")
            wait_until(only_the_locked_folder_unrecorded, QUIET_SECONDS, "the moved one recorded")
            assert names_the_locked_folder(), session.status()
        finally:
            for path in (root / locked, hidden):
                if path.exists():
                    path.chmod(0o755)
        outcome = settle(session, ids_before)
    finally:
        session.stop()
    Figures(
        scenario=f"rename 40 folders {gap_ms} ms apart, one of them unreadable for a while",
        files=outcome.files,
        missed=outcome.unrecorded,
        duplicated=outcome.doubled,
        notes=[f"{outcome.kept:,} of {outcome.files:,} records kept their id"],
    ).write()
    assert (outcome.unrecorded, outcome.stale, outcome.doubled) == (0, 0, 0)
    # A run that could not read all it was given removes nothing: the locked folder's records
    # wait under its old name, and find their files once it can be read.
    assert outcome.kept == outcome.files == FOLDERS * FILES
    assert outcome.status_code == 0, outcome.status
