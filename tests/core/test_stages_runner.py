"""The stage queue on a real catalogue: what is due, claiming, retries with backoff, crash
recovery, staleness, and the runner making real artifacts from real camera files."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import blake3
import pytest
from PIL import Image

from core.config import ConfigError, MediaSettings, StageSettings
from core.media.photos import MediaSync
from core.stages.queue import backoff, cancel_stage, claim, recover_running
from core.stages.runner import StageDef, StageRunner, stage_defs
from core.store.jobs import requeue_jobs
from core.store.models import Artifact, Event, Job
from core.triage.decisions import Triage
from tests.helpers import scan
from tests.postgres_cluster import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS

CAMERA = Path(__file__).resolve().parents[1] / "fixtures" / "camera"
SAMPLES = {
    "shoot/kodak.jpg": "kodak_dc240_1999.jpg",
    "shoot/coolpix.jpg": "nikon_coolpix_p6000_gps_DSCN0010.jpg",
    "shoot/samsung.jpg": "samsung_galaxy_s_orient6_gps.jpg",
    "shoot/sony.jpg": "sony_slt-a58_small.jpg",
}
COPY = [sys.executable, "-c", "import shutil, sys; shutil.copyfile(sys.argv[1], sys.argv[2])"]
FAIL = [sys.executable, "-c", "import sys; print('no such preset'); sys.exit(3)", "{out}"]


@pytest.fixture
def photos(catalogue, library) -> dict[str, int]:
    for rel, sample in SAMPLES.items():
        (library / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(CAMERA / sample, library / rel)
    scan(catalogue, library)
    MediaSync(
        catalogue.db, MediaSettings(preview_cache=library.parent / "previews"), None
    ).run_until_idle()
    ids = dict(
        catalogue.db.execute_sql(
            "SELECT f.rel_path, f.photo_id FROM file f WHERE f.role = 'original'"
        ).fetchall()
    )
    return {rel: ids[rel] for rel in SAMPLES}


def settings(tmp_path: Path, **changes) -> StageSettings:
    return replace(StageSettings(output=tmp_path / "art", workers=2), **changes)


def approve(catalogue, *photo_ids: int) -> None:
    triage = Triage(catalogue.db)
    for photo_id in photo_ids:
        triage.decide(photo_id, "approved")


def command_stage(name: str, argv: list[str]) -> StageDef:
    return stage_defs(StageSettings(enabled=(), commands={name: tuple(argv)}))[0]


def test_built_in_stages_make_real_artifacts_for_approved_photos_only(catalogue, photos, tmp_path):
    approve(catalogue, photos["shoot/kodak.jpg"], photos["shoot/samsung.jpg"])
    runner = StageRunner(catalogue.db, settings(tmp_path))
    counts = runner.run_until_idle()
    runner.close()
    assert counts.done == 6 and counts.failed == 0  # 2 photos x thumb, web, blurhash
    made = {(a.photo_id, a.stage): a for a in Artifact.select()}
    assert set(made) == {
        (photos[rel], stage)
        for rel in ("shoot/kodak.jpg", "shoot/samsung.jpg")
        for stage in ("thumb", "web", "blurhash")
    }
    for (photo_id, stage), artifact in made.items():
        if stage == "blurhash":
            assert len(artifact.blurhash) == 28
            assert artifact.path == made[(photo_id, "thumb")].path
            continue
        path = Path(artifact.path)
        assert path == tmp_path / "art" / stage / f"{photo_id}.jpg"
        assert blake3.blake3(path.read_bytes()).hexdigest() == artifact.blake3
        assert artifact.size == path.stat().st_size
        with Image.open(path) as image:
            assert image.size == (artifact.width, artifact.height)
            assert max(image.size) <= (400 if stage == "thumb" else 2048)
    samsung_thumb = made[(photos["shoot/samsung.jpg"], "thumb")]
    assert samsung_thumb.height > samsung_thumb.width  # orientation 6: made upright
    assert Job.select().where(Job.status != "completed").count() == 0
    assert Event.select().where(Event.kind == "stage_done").count() == 6
    # Nothing is due any more.
    assert StageRunner(catalogue.db, settings(tmp_path)).queue() == 0


def test_a_stale_artifact_is_made_again(catalogue, photos, tmp_path):
    kodak = photos["shoot/kodak.jpg"]
    approve(catalogue, kodak)
    only_thumb = settings(tmp_path, enabled=("thumb",))
    StageRunner(catalogue.db, only_thumb).run_until_idle()
    runner = StageRunner(catalogue.db, only_thumb)
    assert runner.queue() == 0
    # The original edited in place: its blake3 changes, the thumb is stale.
    catalogue.db.execute_sql("UPDATE photo SET blake3 = 'edited' WHERE id = ?", (kodak,))
    assert runner.queue() == 1
    runner.run_until_idle()
    assert Artifact.get(Artifact.stage == "thumb").source_blake3 == "edited"
    # Other stage parameters: the params hash differs, the photo is due again.
    bigger = replace(runner.defs["thumb"], params={"long_edge": 500, "quality": 85})
    assert StageRunner(catalogue.db, only_thumb, defs=[bigger]).queue() == 1


def test_a_stage_reading_the_sidecar_is_stale_when_the_sidecar_changes(
    catalogue, photos, tmp_path, library
):
    kodak = photos["shoot/kodak.jpg"]
    approve(catalogue, kodak)
    export = command_stage("export", [*COPY, "{xmp}", "{out}"])
    runner = StageRunner(catalogue.db, settings(tmp_path), defs=[export])
    assert runner.queue() == 0  # no sidecar yet: nothing to export from, nothing queued
    (library / "shoot" / "kodak.jpg.xmp").write_text("<x:xmpmeta/>")
    scan(catalogue, library)
    catalogue.db.execute_sql(
        "UPDATE file SET photo_id = ?, role = 'sidecar' WHERE rel_path = 'shoot/kodak.jpg.xmp'",
        (kodak,),
    )
    assert runner.run_until_idle().done == 1
    assert Path(Artifact.get().path).read_text() == "<x:xmpmeta/>"
    assert runner.queue() == 0
    (library / "shoot" / "kodak.jpg.xmp").write_text("<x:xmpmeta>edited in darktable</x:xmpmeta>")
    scan(catalogue, library)
    assert runner.queue() == 1


def test_failures_are_retried_with_backoff_then_fail_with_the_error(catalogue, photos, tmp_path):
    approve(catalogue, photos["shoot/sony.jpg"])
    broken = command_stage("export", FAIL)
    runner = StageRunner(catalogue.db, settings(tmp_path, max_attempts=3), defs=[broken])
    runner.run_until_idle()
    job = Job.get()
    assert (job.status, job.attempts) == ("pending", 1)
    assert "exited with code 3" in job.last_error and "no such preset" in job.last_error
    assert job.next_attempt_at >= time.time() + backoff(1) - 5
    assert claim(catalogue.db, ["export"]) is None  # not before its time
    for attempt in (2, 3):
        later = Job.get().next_attempt_at + 1
        runner.tick(now=later)
        while runner.tick(now=later):
            time.sleep(0.01)
        assert Job.get().attempts == attempt
    job = Job.get()
    assert job.status == "failed"
    assert backoff(2) == 2 * backoff(1)
    final = Event.select().where(Event.kind == "stage_failed").order_by(Event.id.desc()).get()
    assert '"final": true' in final.payload
    # Retrying asks again, with its tries counted afresh.
    assert requeue_jobs(catalogue.db, stage="export") == 1
    assert (Job.get().status, Job.get().attempts) == ("pending", 0)


# Files whose own bytes say there is nothing to make: trying again gives the same answer.
LASTING = {
    "shoot/m50.CR3": ("canon_eos_m50_stripped.CR3", "no embedded preview in this CR3"),
    "shoot/a7iii.ARW": ("bad_sony_a7iii_header_only.ARW", "lies beyond its 8,255 bytes"),
}


@pytest.mark.parametrize("stage", ["thumb", "preview"])
@pytest.mark.parametrize("rel", sorted(LASTING))
def test_a_failure_the_file_itself_causes_is_not_retried(catalogue, library, tmp_path, rel, stage):
    sample, reason = LASTING[rel]
    (library / rel).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(CAMERA / sample, library / rel)
    scan(catalogue, library)
    MediaSync(
        catalogue.db, MediaSettings(preview_cache=tmp_path / "previews"), None
    ).run_until_idle()
    photo_id = catalogue.db.execute_sql(
        "SELECT photo_id FROM file WHERE rel_path = ?", (rel,)
    ).fetchone()[0]
    approve(catalogue, photo_id)
    runner = StageRunner(
        catalogue.db,
        settings(tmp_path, max_attempts=3, enabled=(stage,)),
        media=MediaSettings(preview_cache=tmp_path / "previews"),
    )
    runner.run_until_idle()
    runner.close()
    job = Job.get()
    assert (job.stage, job.status, job.attempts, job.next_attempt_at) == (stage, "failed", 1, None)
    assert reason in job.last_error
    failed = [json.loads(e.payload) for e in Event.select().where(Event.kind == "stage_failed")]
    assert [(f["attempt"], f["final"]) for f in failed] == [(1, True)]


def test_a_file_that_cannot_be_read_now_is_tried_again(catalogue, photos, library, tmp_path):
    # The drive holding the original is unplugged: the next try may find it back.
    approve(catalogue, photos["shoot/kodak.jpg"])
    (library / "shoot/kodak.jpg").unlink()
    runner = StageRunner(catalogue.db, settings(tmp_path, max_attempts=3, enabled=("thumb",)))
    runner.run_until_idle()
    runner.close()
    job = Job.get()
    assert (job.status, job.attempts) == ("pending", 1)
    assert job.next_attempt_at is not None and "cannot be read" in job.last_error


def test_jobs_a_crash_left_running_run_again(catalogue, photos, tmp_path):
    approve(catalogue, photos["shoot/kodak.jpg"])
    runner = StageRunner(catalogue.db, settings(tmp_path, enabled=("thumb",)))
    runner.queue()
    claimed = claim(catalogue.db, ["thumb"])
    assert Job.get_by_id(claimed.job_id).status == "running"
    # The engine died here. The next runner finds the job and finishes it.
    again = StageRunner(catalogue.db, settings(tmp_path, enabled=("thumb",)))
    assert Job.get_by_id(claimed.job_id).status == "pending"
    assert again.run_until_idle().done == 1
    assert recover_running(catalogue.db) == 0


def test_claims_never_share_a_job(catalogue, photos, tmp_path):
    approve(catalogue, *photos.values())
    StageRunner(catalogue.db, settings(tmp_path, enabled=("thumb",))).queue()
    taken = [claim(catalogue.db, ["thumb"]) for _ in range(5)]
    ids = [c.job_id for c in taken if c is not None]
    assert len(ids) == 4 and len(set(ids)) == 4 and taken[-1] is None


def test_cancelling_a_stage(catalogue, photos, tmp_path):
    approve(catalogue, *photos.values())
    runner = StageRunner(catalogue.db, settings(tmp_path, enabled=("thumb",)))
    runner.queue()
    assert cancel_stage(catalogue.db, "thumb") == 4
    assert runner.queue() == 0  # cancelled jobs stand until asked again
    assert runner.run_until_idle().done == 0


def test_stage_settings_that_cannot_work_are_refused():
    with pytest.raises(ConfigError, match="not a built-in stage"):
        stage_defs(StageSettings(enabled=("thumbs",)))
    with pytest.raises(ConfigError, match="made from the thumb"):
        stage_defs(StageSettings(enabled=("blurhash",)))
    with pytest.raises(ConfigError, match="not found"):
        stage_defs(
            StageSettings(enabled=(), commands={"export": ("no-such-program-here", "{out}")})
        )
    with pytest.raises(ConfigError, match="built-in"):
        stage_defs(StageSettings(enabled=(), commands={"web": (*COPY, "{src}", "{out}")}))


def test_the_stage_commands(capsys, catalogue, photos, tmp_path):
    import json

    from tests.core.test_cli import run

    config = tmp_path / "shootwatch.toml"
    config.write_text(
        f'catalogue = "{catalogue.location}"\n[stages]\noutput = "{tmp_path / "art"}"\n'
        'enabled = ["thumb"]\n[stages.commands]\n'
        f"broken = {json.dumps(FAIL)}\n"
    )
    approve(catalogue, photos["shoot/kodak.jpg"], photos["shoot/sony.jpg"])
    cli = ("--config", str(config))
    code, out, _ = run(capsys, *cli, "run-stage", "thumb")
    assert code == 0 and out.startswith("thumb: 2 made, 0 failures")
    code, out, _ = run(capsys, *cli, "run-stage", "broken")
    assert code == 1 and "2 failures" in out
    code, out, _ = run(capsys, *cli, "stages")
    assert code == 0 and "thumb" in out and "broken" in out
    code, out, _ = run(capsys, *cli, "jobs", "--stage", "broken", "--json")
    listed = json.loads(out)
    assert {job["status"] for job in listed} == {"pending"}
    assert all("exited with code 3" in job["error"] for job in listed)
    code, out, _ = run(capsys, *cli, "cancel", "--stage", "broken")
    assert code == 0 and "2 jobs of broken cancelled" in out
    code, out, _ = run(capsys, *cli, "retry", "--stage", "broken")
    assert code == 0 and "2 jobs will run again" in out
    code, out, _ = run(capsys, *cli, "report", "artifacts", "--json")
    report = json.loads(out)
    assert {entry["file"] for entry in report} == {"shoot/kodak.jpg", "shoot/sony.jpg"}
    assert all(set(entry["artifacts"]) == {"thumb"} for entry in report)
    code, _, err = run(capsys, *cli, "run-stage", "nothing")
    assert code == 2 and "not a stage in effect" in err
    # Named photos are made again, up to date or not; one not approved is said, not made.
    kodak = Artifact.get(Artifact.stage == "thumb", Artifact.photo_id == photos["shoot/kodak.jpg"])
    library_file = Path(catalogue.db.execute_sql("SELECT path FROM root").fetchone()[0])
    by_path = str(library_file / "shoot" / "kodak.jpg")
    coolpix = str(photos["shoot/coolpix.jpg"])
    code, out, err = run(capsys, *cli, "run-stage", "thumb", "--photo", by_path, "--photo", coolpix)
    assert code == 0 and out.startswith("thumb: 1 made, 0 failures")
    assert f"thumb runs on approved photos; not queued: {coolpix}" in err
    again = Artifact.get(Artifact.stage == "thumb", Artifact.photo_id == photos["shoot/kodak.jpg"])
    assert again.created_at > kodak.created_at and again.params_hash == kodak.params_hash


def test_the_preview_stage_keeps_the_triage_preview_for_every_photo(catalogue, photos, tmp_path):
    runner = StageRunner(
        catalogue.db,
        settings(tmp_path, enabled=("preview",)),
        media=MediaSettings(preview_cache=tmp_path / "library-previews"),
    )
    counts = runner.run_until_idle()
    runner.close()
    assert counts.done == 4  # every photo, approved or not
    for artifact in Artifact.select():
        assert Path(artifact.path).parent == tmp_path / "art" / "preview"
        with Image.open(artifact.path) as image:
            assert max(image.size) <= 1600


def test_artifacts_inside_a_root_are_never_catalogued(catalogue, photos, library):
    from core.config import load_settings

    art = library / "shootwatch-art"
    loaded = load_settings(None, {"stages.output": str(art)})
    assert str(art) in loaded.scan.own_folders
    approve(catalogue, photos["shoot/kodak.jpg"])
    runner = StageRunner(catalogue.db, replace(loaded.stages, enabled=("thumb",)))
    assert runner.run_until_idle().done == 1
    assert (art / "thumb").is_dir()
    report = scan(catalogue, library, own_folders=loaded.scan.own_folders)
    assert report.status == "completed"
    paths = [p for (p,) in catalogue.db.execute_sql("SELECT rel_path FROM file").fetchall()]
    assert sorted(paths) == sorted(SAMPLES)  # the photos, and no thumb among them
    # Without the rule the thumb would be catalogued: the test can see it.
    scan(catalogue, library)
    paths = [p for (p,) in catalogue.db.execute_sql("SELECT rel_path FROM file").fetchall()]
    assert any(p.startswith("shootwatch-art/") for p in paths)


@pytest.mark.skipif(
    shutil.which("darktable-cli") is None and os.environ.get("SHOOTWATCH_REQUIRE_DARKTABLE") != "1",
    reason="needs darktable-cli (set SHOOTWATCH_REQUIRE_DARKTABLE=1 to fail instead of skipping)",
)
def test_a_darktable_cli_stage_exports_with_the_edit_and_again_when_it_changes(
    catalogue, library, tmp_path
):
    """The export stage as a photographer configures it: darktable-cli applies the sidecar's
    edit history; an edit saved in darktable (the sidecar changes) makes the export stale."""
    from tests.darktable_fixture import copy_fixture

    wedding = copy_fixture(tmp_path).wedding()
    shoot = library / "wedding"
    shoot.mkdir()
    for name in ("IMG_0002.JPG", "IMG_0002.JPG.xmp"):
        shutil.copyfile(wedding / name, shoot / name)
    media = MediaSettings(preview_cache=tmp_path / "previews")

    def rescan() -> None:
        scan(catalogue, library)
        MediaSync(catalogue.db, media, None).run_until_idle()

    rescan()
    ((photo_id,),) = catalogue.db.execute_sql(
        "SELECT photo_id FROM file WHERE role = 'original'"
    ).fetchall()
    approve(catalogue, photo_id)
    configured = StageSettings(
        output=tmp_path / "art",
        enabled=(),
        commands={"export": ("darktable-cli", "{src}", "{xmp}", "{out}", "--width", "400",
                             "--core", "--configdir", str(tmp_path / "dt-config"),
                             "--cachedir", str(tmp_path / "dt-cache"))},
    )  # fmt: skip
    runner = StageRunner(catalogue.db, configured)
    assert runner.run_until_idle().done == 1
    first = Artifact.get(Artifact.stage == "export")
    assert first.path == str(tmp_path / "art" / "export" / f"{first.photo_id}.jpg")
    with Image.open(first.path) as exported:
        assert exported.format == "JPEG" and max(exported.size) <= 400
        assert exported.size == (first.width, first.height)
    assert (
        first.sidecar_blake3 == blake3.blake3((shoot / "IMG_0002.JPG.xmp").read_bytes()).hexdigest()
    )
    first_bytes = Path(first.path).read_bytes()
    assert runner.queue() == 0

    # darktable saves the edit with its history cut back to nothing: the export is stale.
    xmp = shoot / "IMG_0002.JPG.xmp"
    xmp.write_text(
        xmp.read_text().replace('darktable:history_end="5"', 'darktable:history_end="0"')
    )
    rescan()
    assert runner.queue() == 1
    assert runner.run_until_idle().done == 2
    again = Artifact.get(Artifact.stage == "export")
    assert (
        again.sidecar_blake3 == blake3.blake3(xmp.read_bytes()).hexdigest() != first.sidecar_blake3
    )
    assert Path(again.path).read_bytes() != first_bytes
    runner.close()


# Each photo's thumb and web job: every status, failed and cancelled ones in and out of each
# narrowing (a stage, the first photos).
SEEDED = (("failed", "cancelled"), ("cancelled", "completed"), ("pending", "failed"),
          ("running", "failed"))  # fmt: skip


def seed_jobs(catalogue, photos) -> dict[tuple[int, str], int]:
    """The SEEDED jobs; (photo, stage) -> job id."""
    ids = {}
    for statuses, photo_id in zip(SEEDED, sorted(photos.values()), strict=True):
        for stage, status in zip(("thumb", "web"), statuses, strict=True):
            ids[photo_id, stage] = catalogue.db.execute_sql(
                "INSERT INTO job (photo_id, stage, status, attempts, last_error, queued_at,"
                " next_attempt_at, started_at, finished_at) VALUES (?, ?, ?, 3, 'boom', 1, 2, 3, 4)"
                " RETURNING id",
                (photo_id, stage, status),
            ).fetchone()[0]
    return ids


def job_rows(catalogue) -> dict[int, tuple]:
    rows = catalogue.db.execute_sql(
        "SELECT id, status, attempts, last_error, next_attempt_at, started_at, finished_at FROM job"
    )
    return {row[0]: row[1:] for row in rows}


@pytest.mark.parametrize(
    "which",
    [
        {},
        {"stage": "web"},
        {"stage": "web", "photos": 2},
        {"photos": 3},
        {"job": "failed"},
        {"job": "completed"},
    ],
    ids=["all", "stage", "stage-and-photos", "photos", "a-failed-job", "a-completed-job"],
)
def test_a_job_back_to_pending_is_failed_or_cancelled_ones_queued_afresh(catalogue, photos, which):
    ids = seed_jobs(catalogue, photos)
    before = job_rows(catalogue)
    chosen = sorted(photos.values())[: which.get("photos", len(photos))]
    job_id = None
    if "job" in which:
        job_id = next(i for i, row in before.items() if row[0] == which["job"])
    asked = {
        i for (photo_id, stage), i in ids.items()
        if ("stage" not in which or stage == which["stage"])
        and ("photos" not in which or photo_id in chosen) and (job_id is None or i == job_id)
    }  # fmt: skip
    started = time.time()
    count = requeue_jobs(
        catalogue.db, job_id=job_id, stage=which.get("stage"),
        photo_ids=chosen if "photos" in which else None,
    )  # fmt: skip
    after = job_rows(catalogue)
    back = {i for i in asked if before[i][0] in ("failed", "cancelled")}
    assert count == len(back) and (back or which.get("job") == "completed")
    for i, row in after.items():
        if i in back:  # its last error kept, to read until it runs again
            assert row == ("pending", 0, "boom", None, None, None), row
            assert Job.get_by_id(i).queued_at >= started
        else:
            assert row == before[i]
    if back:  # it runs now, its first try
        claimed = claim(catalogue.db, ["thumb", "web"])
        assert claimed is not None and claimed.job_id in back and claimed.attempts == 1


def test_retry_from_the_command_line_and_a_direct_requeue_agree(catalogue, photos, capsys):
    """`shootwatch retry JOB`, `retry --stage S` and `retry` leave the rows requeue_jobs does."""
    from tests.core.test_cli import run

    db = ("--db", str(catalogue.location))
    ids = seed_jobs(catalogue, photos)
    failed = next(i for i, row in job_rows(catalogue).items() if row[0] == "failed")
    code, out, _ = run(capsys, *db, "retry", str(failed))
    assert code == 0 and out == f"job {failed} will run again\n"
    code, _, err = run(capsys, *db, "retry", str(failed))
    assert code == 2 and "is not failed or cancelled" in err
    by_cli_stage = run(capsys, *db, "retry", "--stage", "web")
    by_cli_all = run(capsys, *db, "retry")
    assert by_cli_stage[0] == by_cli_all[0] == 0
    by_cli = job_rows(catalogue)
    catalogue.db.execute_sql("DELETE FROM job")
    ids_again = seed_jobs(catalogue, photos)
    requeue_jobs(catalogue.db)
    direct = job_rows(catalogue)
    renumber = {ids_again[key]: ids[key] for key in ids}
    assert {renumber[i]: row for i, row in direct.items()} == by_cli
