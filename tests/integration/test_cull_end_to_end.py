"""A cull of a 1,000-photo shoot with bursts, end to end, as a photographer runs it over SSH:
the whole app in a real tmux, keys typed with send-keys, the screen read with capture-pane, the
decisions read back from the catalogue file. See a burst, survey it, check focus at 100 % and
step through the burst at the same place, compare two frames, keep the sharpest and reject the
rest with one key, undo that with one key, do it again from the survey; then the same steps
from the command line (``bursts``, ``keep``, ``undo``) as whole processes.

The shoot is made from real photos (tests/integration/cull_shoot.py): bursts of 2 to 8 frames
where one frame is crisp and the others miss focus by known amounts, so which frame is the
keeper is known beforehand, and the real pipeline has to find it.

Skipped where tmux is not installed, unless SHOOTWATCH_REQUIRE_TMUX=1 (as in CI).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.cull_shoot import make_cull_shoot
from tests.tui.tmux_screen import TMUX, TmuxProgram, app_env

REPO = Path(__file__).resolve().parents[2]
PHOTOS = 1000


@pytest.fixture(scope="module")
def shoot(tmp_path_factory):
    if TMUX is None:
        if os.environ.get("SHOOTWATCH_REQUIRE_TMUX") == "1":
            pytest.fail("SHOOTWATCH_REQUIRE_TMUX=1 but tmux is not installed")
        pytest.skip("tmux is not installed (CI installs it)")
    made = make_cull_shoot(tmp_path_factory.mktemp("cull"), PHOTOS)
    made.shoot.catalogue.close()
    return made


def _decisions(catalogue: Path, names: list[str]) -> dict[str, str]:
    connection = sqlite3.connect(f"file:{catalogue}?mode=ro", uri=True, timeout=30)
    try:
        rows = connection.execute(
            "SELECT f.rel_path, p.decision FROM photo p JOIN file f"
            " ON f.photo_id = p.id AND f.role = 'original'"
        ).fetchall()
    finally:
        connection.close()
    by_name = {rel.rsplit("/", 1)[-1]: decision for rel, decision in rows}
    return {name: by_name[name] for name in names}


def _wait_decisions(catalogue: Path, expected: dict[str, str], what: str) -> None:
    deadline = time.monotonic() + 30
    while (found := _decisions(catalogue, list(expected))) != expected:
        assert time.monotonic() < deadline, f"{what}: the catalogue holds {found}"
        time.sleep(0.05)


def _kept(burst: list[str], keeper: str) -> dict[str, str]:
    return {name: "approved" if name == keeper else "rejected" for name in burst}


def _cli(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core.cli", "--config", str(config), *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, **env},
    )  # fmt: skip


def test_a_burst_is_culled_with_the_keyboard_in_tmux_and_from_the_command_line(shoot, tmp_path):
    config = shoot.shoot.folder.parents[1] / "shootwatch.toml"
    catalogue = shoot.shoot.settings.catalogue
    env = app_env(tmp_path / "home", REPO)
    # The first burst of five frames or more whose keeper is not its first frame.
    index, burst = next((n, names) for n, names in enumerate(shoot.bursts)
                        if len(names) >= 5 and shoot.sharpest[n] != names[0])  # fmt: skip
    keeper, size = shoot.sharpest[index], len(burst)
    first, crisp = shoot.names.index(burst[0]), burst.index(keeper)
    pending = dict.fromkeys(burst, "pending")

    program = TmuxProgram(
        f"{sys.executable} -m tui --config {config} --no-engine", tmp_path, env, size=(160, 48)
    )
    try:
        program.wait_for(lambda s: f"1 / {PHOTOS:,}" in s, "the first photo of the shoot", 90)
        # 1. See a burst: its first frame says where it stands in it.
        program.keys(*["space"] * first)
        program.wait_for(lambda s: f"{first + 1:,} / {PHOTOS:,}" in s and
                         f"burst 1 / {size}" in s, "the burst's first frame", 60)  # fmt: skip
        # 2. Survey it: every frame's name on screen at once.
        program.keys("v")
        program.wait_for(lambda s: all(name in s for name in burst), "the burst surveyed", 60)
        program.keys("Escape")
        program.wait_for(lambda s: f"burst 1 / {size}" in s, "triage again", 30)
        # 3. Focus at 100 %, then through the burst at the same place and zoom.
        program.keys(*["space"] * crisp)
        program.wait_for(lambda s: f"burst {crisp + 1} / {size}" in s and
                         f"sharpest of {size}" in s, "the keeper, sharpest", 60)  # fmt: skip
        program.keys("z")
        at = program.wait_for(lambda s: next((line for line in s.splitlines()
                                              if "100 % at" in line), None),
                              "the loupe at 100 %", 60)  # fmt: skip
        assert "sharpest region" in at  # these frames record no AF point
        place = at[at.index("100 % at") : at.index("·")].strip()
        program.keys("space")
        program.wait_for(lambda s: f"burst {crisp + 2} / {size}" in s and place in s,
                         "the next frame at the same place", 60)  # fmt: skip
        program.keys("BSpace", "z")
        program.wait_for(lambda s: "100 % at" not in s and f"burst {crisp + 1} / {size}" in s,
                         "the keeper, whole again", 60)  # fmt: skip
        # 4. Compare it with the next frame; keep it, reject the rest: one key.
        program.keys("c")
        after = burst[(crisp + 1) % size]
        program.wait_for(lambda s: keeper in s and after in s, "the two frames compared", 60)
        program.keys("K")
        _wait_decisions(catalogue, _kept(burst, keeper), "keep, reject the rest")
        program.keys("Escape")
        program.wait_for(lambda s: f"burst {crisp + 1} / {size}" in s, "back on the keeper", 30)
        # 5. One ctrl+z takes the whole step back.
        program.keys("C-z")
        _wait_decisions(catalogue, pending, "one undo")
        # 6. Again from the survey, which opens on the photo on screen.
        program.keys("v")
        program.wait_for(lambda s: all(name in s for name in burst), "the burst surveyed", 60)
        program.keys("K")
        _wait_decisions(catalogue, _kept(burst, keeper), "keep from the survey")
        program.keys("Escape", "q")
        program.wait_for(lambda s: f"/ {PHOTOS:,}" not in s, "the app closed", 30)
    finally:
        program.close()
    untouched = [name for name in shoot.names if name not in burst]
    assert set(_decisions(catalogue, untouched).values()) == {"pending"}

    # The same steps from the command line.
    listed = _cli(config, env, "bursts", str(shoot.shoot.folder / keeper), "--json")
    assert listed.returncode == 0, listed.stderr
    (found,) = json.loads(listed.stdout)["bursts"]
    assert [photo["path"].rsplit("/", 1)[-1] for photo in found["photos"]] == burst
    assert found["leader"]["path"].endswith(keeper)  # the approved one is the pick
    assert {photo["path"].rsplit("/", 1)[-1]: photo["decision"] for photo in found["photos"]} == (
        _kept(burst, keeper)
    )
    every = json.loads(_cli(config, env, "bursts", "--json").stdout)["bursts"]
    assert len(every) == len(shoot.bursts)
    other = next(n for n, names in enumerate(shoot.bursts) if n != index and len(names) >= 3)
    other_keeper = shoot.sharpest[other]
    by_sharpness = _cli(config, env, "bursts", str(shoot.shoot.folder / other_keeper), "--json")
    (other_found,) = json.loads(by_sharpness.stdout)["bursts"]
    assert other_found["leader"]["path"].endswith(other_keeper)  # undecided: the sharpest
    kept = _cli(config, env, "keep", str(shoot.shoot.folder / other_keeper))
    assert kept.returncode == 0, kept.stderr
    assert _decisions(catalogue, shoot.bursts[other]) == _kept(shoot.bursts[other], other_keeper)
    undone = _cli(config, env, "undo")
    assert undone.returncode == 0 and undone.stdout.count("(undo)") == len(shoot.bursts[other])
    assert set(_decisions(catalogue, shoot.bursts[other]).values()) == {"pending"}
    assert _decisions(catalogue, burst) == _kept(burst, keeper)  # the app's step stays
