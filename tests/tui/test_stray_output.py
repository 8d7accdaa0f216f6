"""What C libraries print stays off the screen: LibRaw writes "Unexpected end of file" to the
process's stderr for a cut-short RAW, and in the app that is the terminal it draws on. The whole
app in a real tmux, every byte it sends its terminal recorded: the message is in the log beside
the catalogue, not among those bytes, and the app goes on drawing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tui.tmux_screen import TMUX, TmuxProgram, app_env

REPO = Path(__file__).resolve().parents[2]
CUT_RAW = REPO / "tests" / "fixtures" / "camera" / "nikon_d7100_truncated.NEF"
LIBRAW_SAYS = b"Unexpected end of file"


@pytest.fixture
def tmux_available() -> None:
    if TMUX is None:
        if os.environ.get("SHOOTWATCH_REQUIRE_TMUX") == "1":
            pytest.fail("SHOOTWATCH_REQUIRE_TMUX=1 but tmux is not installed")
        pytest.skip("tmux is not installed (CI installs it)")


@pytest.mark.parametrize("keys", [("W",), ("e", "W")])
def test_libraws_complaint_goes_to_the_log_not_over_the_photo(tmp_path, tmux_available, keys):
    library = tmp_path / "photos" / "shoot"
    library.mkdir(parents=True)
    shutil.copy(CUT_RAW, library / "DSC_0001.NEF")
    catalogue = tmp_path / "catalogue.db"
    config = tmp_path / "shootwatch.toml"
    config.write_text(f'catalogue = "{catalogue}"\n')
    env = app_env(tmp_path / "home", REPO)
    for args in (("add", str(tmp_path / "photos")), ("scan",)):
        subprocess.run([sys.executable, "-m", "core.cli", "--config", str(config), *args],
                       check=True, capture_output=True, env={**os.environ, **env},
                       timeout=120)  # fmt: skip
    program = TmuxProgram(
        f"{sys.executable} -m tui --config {config} --no-engine", tmp_path, env, size=(120, 36)
    )
    try:
        program.wait_for(lambda screen: "1 / 1" in screen, "the photo's position", 60)
        for key in keys:
            program.keys(key)
        log = catalogue.with_name(catalogue.name + ".messages.log")
        program.wait_for(lambda _: log.exists() and LIBRAW_SAYS in log.read_bytes(),
                         "LibRaw's complaint in the log", 60)  # fmt: skip
        program.keys("q")
        program.wait_for(lambda screen: "1 / 1" not in screen, "the app closed", 30)
    finally:
        program.close()
    assert LIBRAW_SAYS not in program.output.read_bytes()
