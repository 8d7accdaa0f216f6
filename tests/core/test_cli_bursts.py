"""``shootwatch bursts`` and the burst in ``shootwatch show``, run as the user runs them: whole
processes on a real catalogue of a real shoot (the demo's burst and bursts made of real
photos), as text and as JSON, with bad paths refused in one sentence."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from core.triage.bursts import regroup_all
from core.triage.decisions import Triage
from tests.bursts_sequences import MIXED_BURSTS, catalogue_shoot, mixed_frames
from tests.helpers import REPO

SHARPNESS = {"DSC_0101.JPG": 400.0, "DSC_0102.JPG": 900.0, "DSC_0103.JPG": 1200.0,
             "DSC_0104.JPG": 300.0, "A_0.JPG": 500.0, "A_1.JPG": 600.0,
             "A_2.JPG": 700.0}  # fmt: skip


@pytest.fixture(scope="module")
def shoot(tmp_path_factory, shared_catalogue_location):
    built = catalogue_shoot(
        tmp_path_factory.mktemp("cli"), mixed_frames(), catalogue=shared_catalogue_location
    )
    with built.db.atomic():
        regroup_all(built.db)
    built.set_sharpness(SHARPNESS)  # DSC_0105 and A_3 not measured
    triage = Triage(built.db, "cli", session="test")
    triage.decide(built.ids["DSC_0102.JPG"], "approved")
    triage.decide(built.ids["DSC_0104.JPG"], "rejected")
    triage.rate(built.ids["DSC_0102.JPG"], 4)
    built.catalogue.close()
    return built


def shootwatch(shoot, *args: str) -> subprocess.CompletedProcess:
    config = shoot.folder.parent.parent / "shootwatch.toml"
    return subprocess.run(
        [sys.executable, "-m", "core.cli", "--config", str(config), *args],
        capture_output=True, text=True, cwd=REPO, env={**os.environ, "COLUMNS": "200"},
        timeout=120,
    )  # fmt: skip


def test_bursts_json_lists_each_burst_with_its_photos(shoot):
    result = shootwatch(shoot, "bursts", "--json")
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    names = [[os.path.basename(p["path"]) for p in b["photos"]] for b in listing["bursts"]]
    assert sorted(names) == MIXED_BURSTS
    assert listing["photos_not_measured"] == 0
    night = next(b for b in listing["bursts"] if b["id"] == shoot.ids["DSC_0101.JPG"])
    assert night["size"] == 5 and night["camera"] == "NIKON D750"
    assert night["taken"] == "2024-11-16 21:46:31.00"
    assert night["leader"]["id"] == shoot.ids["DSC_0102.JPG"]  # approved: the pick
    by_name = {os.path.basename(p["path"]): p for p in night["photos"]}
    assert [p["position"] for p in night["photos"]] == [1, 2, 3, 4, 5]
    assert [by_name[f"DSC_010{n}.JPG"]["rank"] for n in range(1, 6)] == [3, 2, 1, 4, None]
    assert by_name["DSC_0102.JPG"] | {"path": None, "id": None, "taken": None} == {
        "id": None, "path": None, "position": 2, "taken": None, "decision": "approved",
        "rating": 4, "labels": [], "sharpness": 900.0, "rank": 2, "leader": True, "soft": False,
    }  # fmt: skip
    assert by_name["DSC_0104.JPG"]["decision"] == "rejected" and by_name["DSC_0104.JPG"]["soft"]
    assert by_name["DSC_0103.JPG"]["taken"] == "2024-11-16 21:46:31.24"


def test_bursts_as_text(shoot):
    result = shootwatch(shoot, "bursts")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert (
        f"burst {shoot.ids['DSC_0101.JPG']}: 5 photos, 2024-11-16 21:46:31.00, NIKON D750;" in out
    )
    assert "pick DSC_0102.JPG" in out
    line = next(line for line in out.splitlines() if line.rstrip().endswith("DSC_0103.JPG")
                or "DSC_0103.JPG " in line)  # fmt: skip
    assert "3/5" in line and "1200" in line and "sharpest of 5" in line
    assert "4th sharpest of 5 (soft)" in out
    assert "not measured" in out  # DSC_0105
    assert out.rstrip().endswith("3 bursts, 12 photos")


def test_bursts_of_a_folder_and_of_one_photo(shoot):
    result = shootwatch(shoot, "bursts", str(shoot.folder), "--json")
    assert len(json.loads(result.stdout)["bursts"]) == 3
    result = shootwatch(shoot, "bursts", str(shoot.folder / "A_3.JPG"), "--json")
    (burst,) = json.loads(result.stdout)["bursts"]
    assert burst["id"] == shoot.ids["A_0.JPG"] and burst["size"] == 4
    result = shootwatch(shoot, "bursts", str(shoot.folder / "C_1.JPG"))
    assert result.stdout.endswith("\n1 burst, 3 photos\n")
    result = shootwatch(shoot, "bursts", str(shoot.folder / "DSC_0106.JPG"))
    assert result.returncode == 0 and result.stdout == "no bursts\n"


@pytest.mark.parametrize(
    ("path", "said"),
    [
        ("/nonexistent/DSC_0001.JPG", "is not in the catalogue"),
        ("/", "is not inside a root"),
    ],
)
def test_a_path_with_no_bursts_to_show_is_one_sentence(shoot, path, said):
    result = shootwatch(shoot, "bursts", path)
    assert result.returncode == 2
    assert said in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_show_json_gains_the_burst(shoot):
    result = shootwatch(shoot, "show", str(shoot.folder / "DSC_0103.JPG"), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["photo"]["burst"] == {
        "id": shoot.ids["DSC_0101.JPG"], "position": 3, "size": 5, "rank": 1,
        "leader": shoot.ids["DSC_0102.JPG"],
    }  # fmt: skip
    alone = shootwatch(shoot, "show", str(shoot.folder / "B_2.JPG"), "--json")
    assert json.loads(alone.stdout)["photo"]["burst"] is None
    text = shootwatch(shoot, "show", str(shoot.folder / "DSC_0103.JPG")).stdout
    assert "burst 3 / 5, sharpest of 5" in text


def test_photos_not_measured_are_counted(tmp_path):
    built = catalogue_shoot(tmp_path, mixed_frames()[:6], measure=False)
    built.catalogue.close()
    result = shootwatch(built, "bursts")
    assert result.returncode == 0
    assert "no bursts\n6 photos not measured yet" in result.stdout


def test_regroup_groups_again_by_changed_settings(tmp_path):
    built = catalogue_shoot(tmp_path, mixed_frames())
    built.catalogue.close()
    config = tmp_path / "shootwatch.toml"
    config.write_text(config.read_text() + "triage.burst_gap_seconds = 0.3\n")
    result = shootwatch(built, "bursts", "--regroup")
    assert result.returncode == 0, result.stderr
    # 0.12 s and 0.3 s apart stay; 0.4 s apart (the Canon's first burst) do not
    assert result.stdout.startswith("grouped again: 4 photos changed burst\n")
    listing = json.loads(shootwatch(built, "bursts", "--json").stdout)
    assert sorted(b["size"] for b in listing["bursts"]) == [3, 5]
