"""Where a command's scan surveys, as a whole process: a root the catalogue holds many files of
goes to worker processes from the start (WORKERS_FROM_START_FILES), a smaller one is surveyed
in the command's own process; both find the same."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

# Runs ``shootwatch ARGS`` with the two thresholds given, then writes how many processes it
# started (forked) and what it imported to REPORT.
RUN_AND_REPORT = """
import json, os, sys
import core.scan.reconcile as reconcile
started = []
os.register_at_fork(before=lambda: started.append("fork"))
here_seconds, from_start, report, *args = sys.argv[1:]
reconcile.SURVEY_HERE_SECONDS = float(here_seconds)
reconcile.WORKERS_FROM_START_FILES = int(from_start)
from core.cli import main
code = main(args)
with open(report, "w") as out:
    json.dump({"code": code, "started": started, "modules": sorted(sys.modules)}, out)
sys.exit(code)
"""


def scan(base: Path, here_seconds: float, from_start: int, *options: str) -> dict:
    report = base / "report.json"
    result = subprocess.run(
        [sys.executable, "-c", RUN_AND_REPORT, str(here_seconds), str(from_start), str(report),
         "--db", str(base / "catalogue.db"), "scan", "--json", *options],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    found = json.loads(report.read_text())
    found["reports"] = json.loads(result.stdout)
    return found


@pytest.fixture
def indexed(tmp_path: Path) -> Path:
    """A root of 240 files in 12 folders, indexed once."""
    library = tmp_path / "library"
    for folder in range(12):
        where = library / "2024" / f"2024-01-{1 + folder:02d}"
        where.mkdir(parents=True)
        for number in range(20):
            (where / f"DSC_{number:04d}.NEF").write_bytes(b"%d %d" % (folder, number))
    add = [sys.executable, "-m", "core.cli", "--db", str(tmp_path / "catalogue.db"), "add"]
    assert subprocess.run([*add, str(library)], cwd=REPO, capture_output=True).returncode == 0
    first = scan(tmp_path, 1000.0, 10**9)
    assert first["reports"][0]["files_added"] == 240
    return tmp_path


@pytest.mark.parametrize(
    "from_start, forks",
    [(100, True), (240, True), (241, False), (10**9, False)],
    ids=["far below the catalogue's count", "at it", "just above it", "never"],
)
def test_a_root_with_many_known_files_is_surveyed_by_workers_from_the_start(
    indexed, from_start, forks
):
    # A survey here never takes long enough to hand over (SURVEY_HERE_SECONDS is 1,000 s): a
    # worker process is started only by the count of files the catalogue knows.
    found = scan(indexed, 1000.0, from_start)
    assert found["code"] == 0
    (report,) = found["reports"]
    assert (report["files_scanned"], report["files_added"], report["files_removed"]) == (240, 0, 0)
    assert bool(found["started"]) is forks, found["started"]
    assert ("concurrent.futures.process" in found["modules"]) is forks


def test_workers_from_the_start_find_what_changed_as_the_command_does_alone(indexed):
    library = indexed / "library" / "2024"
    (library / "2024-01-03" / "DSC_0001.NEF").unlink()
    (library / "2024-01-05" / "DSC_0002.NEF").write_bytes(b"edited, longer than before")
    (library / "2024-01-07" / "new.NEF").write_bytes(b"new")
    (library / "2024-01-09" / "DSC_0003.NEF").rename(library / "2024-01-10" / "moved.NEF")
    found = scan(indexed, 1000.0, 100)
    assert found["started"], "no worker process was started"
    (report,) = found["reports"]
    counts = {key: report[f"files_{key}"] for key in ("added", "updated", "moved", "removed")}
    assert counts == {"added": 1, "updated": 1, "moved": 1, "removed": 1}
    again = scan(indexed, 1000.0, 10**9)
    assert not again["started"]
    (report,) = again["reports"]
    assert (report["files_scanned"], report["files_added"], report["files_updated"]) == (240, 0, 0)
