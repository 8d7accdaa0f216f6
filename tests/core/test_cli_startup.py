"""A command pays for what it uses, as a whole process: the commands that read the catalogue do
not load the app, the image libraries, the media pipeline or the engine, and a scan of a small
tree starts no worker processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers import REPO, command_settings, run_command

# What a command that reads the catalogue has no use for: the app (and Textual under it), the
# image libraries, the media pipeline and its workers, the engine.
NOT_FOR_READING = ("textual", "tui.app", "PIL", "numpy", "imagehash", "rawpy",
                   "core.media.pool", "core.media.photos", "core.engine.scheduler")  # fmt: skip

# Runs ``shootwatch ARGS`` through ENTRY's main in this process, then writes what it loaded
# and how many processes it started (by fork, or by forkserver or spawn) to REPORT.
RUN_AND_REPORT = """
import json, os, sys
started = []
os.register_at_fork(before=lambda: started.append("fork"))
if os.environ.get("WATCH_PROCESSES"):
    import multiprocessing.util
    _spawn = multiprocessing.util.spawnv_passfds
    def _counted(*args, **kwargs):
        started.append("spawn")
        return _spawn(*args, **kwargs)
    multiprocessing.util.spawnv_passfds = _counted
if os.environ.get("SURVEY_HERE_SECONDS"):
    import core.scan.reconcile
    core.scan.reconcile.SURVEY_HERE_SECONDS = float(os.environ["SURVEY_HERE_SECONDS"])
entry, report, *args = sys.argv[1:]
sys.argv = ["shootwatch", *args]
if entry == "tui.launch":  # what the installed shootwatch script runs
    from tui.launch import main
else:
    from core.cli import main
code = main(args)
with open(report, "w") as out:
    json.dump({"code": code, "modules": sorted(sys.modules), "started": started}, out)
sys.exit(code)
"""


def run_and_report(
    tmp_path: Path, *args: str, entry: str = "core.cli", env: dict | None = None
) -> dict:
    report = tmp_path / "report.json"
    report.unlink(missing_ok=True)
    result = subprocess.run(
        [sys.executable, "-c", RUN_AND_REPORT, entry, str(report), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=300,
    )
    assert "Traceback" not in result.stderr, result.stderr
    found = json.loads(report.read_text())
    found["stdout"] = result.stdout
    return found


def photo(path: Path, colour: str = "red") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 48), colour).save(path, "JPEG")


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A catalogue of a few real photos, scanned: described, previews built, looks measured."""
    base = tmp_path_factory.mktemp("scanned")
    library = base / "library"
    for number, colour in enumerate(("red", "green", "blue")):
        photo(library / "2024" / "2024-05-01" / f"IMG_{number:04d}.JPG", colour)
    config = command_settings(base)
    assert run_command(config, "add", str(library)).returncode == 0
    scan = run_command(config, "scan")
    assert scan.returncode == 0, scan.stderr
    assert "3 previews built" in scan.stderr, scan.stderr
    return config, library


@pytest.mark.parametrize("entry", ["core.cli", "tui.launch"])
@pytest.mark.parametrize(
    "command",
    [("status",), ("status", "--json"), ("events", "--limit", "50"), ("roots",), ("history",)],
    ids=" ".join,
)
def test_a_command_that_reads_loads_no_image_library_app_or_engine(
    tmp_path, scanned, command, entry
):
    config, _library = scanned
    found = run_and_report(tmp_path, "--config", str(config), *command, entry=entry)
    assert found["code"] == 0, found
    loaded = [name for name in NOT_FOR_READING if name in found["modules"]]
    assert loaded == [], f"{' '.join(command)} loaded {loaded}"


def test_show_of_a_photo_with_its_preview_built_loads_no_image_library(tmp_path, scanned):
    config, library = scanned
    shown = library / "2024" / "2024-05-01" / "IMG_0001.JPG"
    found = run_and_report(tmp_path, "--config", str(config), "show", str(shown), "--json")
    assert found["code"] == 0, found
    answer = json.loads(found["stdout"])
    assert answer["photo"]["preview"] is not None and answer["photo"]["looked_at"] != "now"
    loaded = [name for name in NOT_FOR_READING if name in found["modules"]]
    assert loaded == [], f"show loaded {loaded}"


def test_show_of_a_photo_whose_preview_is_gone_builds_it(tmp_path, scanned):
    """Without a cached preview, show loads the image libraries to build one: the light path
    above is a shortcut, not a different answer."""
    config, library = scanned
    shown = library / "2024" / "2024-05-01" / "IMG_0002.JPG"
    before = json.loads(run_command(config, "show", str(shown), "--json").stdout)
    preview = Path(before["photo"]["preview"])
    preview.unlink()
    found = run_and_report(tmp_path, "--config", str(config), "show", str(shown), "--json")
    assert found["code"] == 0, found
    assert json.loads(found["stdout"])["photo"]["preview"] == str(preview)
    assert preview.is_file() and "PIL" in found["modules"]


def _tree(library: Path, folders: int, files_per_folder: int) -> None:
    """Files that are not pictures (the media pipeline finds nothing to build), in folders."""
    for folder in range(folders):
        where = library / f"2024-{1 + folder // 28:02d}-{1 + folder % 28:02d}"
        where.mkdir(parents=True)
        for number in range(files_per_folder):
            (where / f"notes_{number:04d}.txt").write_text(f"{folder} {number}\n")


WATCHED = {"WATCH_PROCESSES": "1"}


@pytest.mark.parametrize(
    "folders, files_per_folder",
    [(1, 5), (4, 10), (30, 100)],  # one folder; a few; 3,000 files over 30 folders
    ids=["5 files", "40 files", "3000 files"],
)
def test_a_scan_of_a_small_tree_starts_no_worker_process(tmp_path, folders, files_per_folder):
    library = tmp_path / "library"
    _tree(library, folders, files_per_folder)
    config = command_settings(tmp_path)
    assert run_command(config, "add", str(library)).returncode == 0
    total = folders * files_per_folder
    first = run_and_report(tmp_path, "--config", str(config), "scan", env=WATCHED)
    assert first["code"] == 0 and f"{total:,} added" in first["stdout"], first["stdout"]
    assert first["started"] == [], "the first scan started worker processes"
    again = run_and_report(tmp_path, "--config", str(config), "scan", env=WATCHED)
    assert again["code"] == 0 and "0 added, 0 updated" in again["stdout"], again["stdout"]
    assert again["started"] == [], "the scan of an unchanged tree started worker processes"
    assert "core.media.photos" not in again["modules"]  # nothing to describe: not loaded


def test_a_scan_that_takes_long_hands_its_surveys_to_worker_processes(tmp_path):
    """The other side of the rule: surveys left after SURVEY_HERE_SECONDS go to workers (here
    after no time at all), and the scan's counts are the same."""
    library = tmp_path / "library"
    _tree(library, 6, 20)
    config = command_settings(tmp_path)
    assert run_command(config, "add", str(library)).returncode == 0
    found = run_and_report(
        tmp_path, "--config", str(config), "scan", env={**WATCHED, "SURVEY_HERE_SECONDS": "0"}
    )
    assert found["code"] == 0 and "120 added" in found["stdout"], found["stdout"]
    assert found["started"], "no worker process was started"
    again = run_command(config, "scan")
    assert again.returncode == 0 and "120 files scanned" in again.stdout
    assert "0 added, 0 updated, 0 moved, 0 removed" in again.stdout
