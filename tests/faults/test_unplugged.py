"""Unplugged and unreadable roots, end to end: real photos with decisions in a real catalogue,
the root taken away four ways (folder renamed away, tmpfs unmounted, chmod 000, replaced by an
empty folder), through a manual reconcile and through the running engine. Nothing is removed,
the root shows offline with the reason, and once it is back every record, photo and decision is
as it was."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import MediaSettings, ScanSettings, Settings, load_settings
from core.engine import Engine
from core.engine.control import ask
from core.engine.lock import running_engine_pid
from core.media.photos import MediaSync
from core.scan.reconcile import reconcile_root, reconcile_roots
from core.store import Catalogue, open_catalogue
from core.store.models import Decision, Event, FileRecord, Photo, Root, SyncRun
from core.triage.decisions import Triage
from tests.faults.crashes import Figures
from tests.helpers import FIXTURES, REPO, wait_until

SETTLE = 0.3  # the engine's watch.settle_seconds here
WAYS = ("renamed", "unmounted", "unreadable", "emptied")
# What the root's state_reason says, for each way it went away.
REASONS = {
    "renamed": "is missing",
    "unmounted": "not mounted",
    "unreadable": "permission denied",
    "emptied": "is empty",
}
SHOTS = {
    "2024/2024-06-01/DC240.JPG": "kodak_dc240_1999.jpg",
    "2024/2024-06-01/DSCN0010.JPG": "nikon_coolpix_p6000_gps_DSCN0010.jpg",
    "2024/2024-06-02/DSC00002.JPG": "sony_slt-a58_small.jpg",
}
# How each way reads in the Reliability table.
WAY_NAMES = {
    "renamed": "renamed away",
    "unmounted": "unmounted tmpfs",
    "unreadable": "chmod 000",
    "emptied": "emptied",
}
WITHOUT_BYPASS = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def bypasses_permissions() -> bool:
    """Root reads a chmod 000 folder anyway: such a scan must run without that bypass."""
    return os.geteuid() == 0


class Drive:
    """The library root and the way it goes away: ``unplug`` and ``plug_back``.

    "unmounted" is a real tmpfs holding the photos, bind-mounted on the root while plugged in:
    unmounting it leaves the bare mount point, and mounting it again brings the same files
    back, as a USB drive would.
    """

    def __init__(self, tmp_path: Path, way: str) -> None:
        self.way = way
        self.path = tmp_path / "library"
        self.away = tmp_path / "unplugged"
        self.path.mkdir()
        self._mounts: list[Path] = []
        if way == "unmounted":
            self.tmpfs = tmp_path / "drive"
            self.tmpfs.mkdir()
            self._mount(["-t", "tmpfs", "-o", "size=64m", "none"], self.tmpfs)
            self._mount(["--bind", str(self.tmpfs)], self.path)

    def _mount(self, options: list[str], target: Path) -> None:
        try:
            result = subprocess.run(
                ["mount", *options, str(target)], capture_output=True, text=True, timeout=30
            )
        except FileNotFoundError:
            pytest.skip("no mount command here: the unmounted-tmpfs case cannot run")
        if result.returncode != 0:
            self.close()
            pytest.skip(
                f"cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN): "
                f"{result.stderr.strip() or result.returncode}"
            )
        self._mounts.append(target)

    def _umount(self, target: Path) -> None:
        subprocess.run(["umount", str(target)], check=True, capture_output=True, timeout=30)
        self._mounts.remove(target)

    def unplug(self) -> None:
        if self.way == "renamed":
            self.path.rename(self.away)
        elif self.way == "unmounted":
            self._umount(self.path)
        elif self.way == "unreadable":
            self.path.chmod(0)
        elif self.way == "emptied":  # another, empty folder where the root was
            self.path.rename(self.away)
            self.path.mkdir()

    def plug_back(self) -> None:
        if self.way == "renamed":
            self.away.rename(self.path)
        elif self.way == "unmounted":
            self._mount(["--bind", str(self.tmpfs)], self.path)
        elif self.way == "unreadable":
            self.path.chmod(0o755)
        elif self.way == "emptied":
            self.path.rmdir()
            self.away.rename(self.path)

    def close(self) -> None:
        if self.path.exists():
            self.path.chmod(0o755)
        for target in reversed(self._mounts):
            subprocess.run(["umount", "-l", str(target)], capture_output=True, timeout=30)
        self._mounts.clear()


@pytest.fixture(params=WAYS)
def drive(request, tmp_path: Path) -> Iterator[Drive]:
    made = Drive(tmp_path, request.param)
    try:
        for rel, sample in SHOTS.items():
            (made.path / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(FIXTURES / "camera" / sample, made.path / rel)
        yield made
    finally:
        made.close()


def snapshot(library: Path) -> dict:
    """What must survive an unplugged root: every record of it (identity, content, photo),
    every photo with its decision, stars and labels, and the decision log."""
    root = Root.get(Root.path == str(library))
    records = {
        r.rel_path: (r.id, r.size, r.mtime_ns, r.blake3, r.photo_id, r.role)
        for r in FileRecord.select().where(FileRecord.root == root)
    }
    photos = {p.id: (p.blake3, p.decision, p.rating, p.labels) for p in Photo.select()}
    log = [(d.photo_id, d.action, d.after) for d in Decision.select().order_by(Decision.id)]
    return {"records": records, "photos": photos, "decisions": log}


def lost_from(before: dict, now: dict) -> set[tuple]:
    """What ``before`` held that ``now`` lacks or holds otherwise: records, photos (decision,
    stars, labels) and entries of the decision log."""
    lost: set[tuple] = set()
    for part in ("records", "photos"):
        lost |= {(part, key) for key, value in before[part].items() if now[part].get(key) != value}
    missing = Counter(before["decisions"]) - Counter(now["decisions"])
    lost |= {("decisions", entry, n) for entry, times in missing.items() for n in range(times)}
    return lost


class Tally:
    """One path through an unplugged root (a manual reconcile, the running engine), over every
    way the root was taken away: one row of the Reliability table."""

    def __init__(self, through: str) -> None:
        self.through = through
        self.figures = Figures("")
        self.ways: list[str] = []
        self.checks = {True: 0, False: 0}  # checks while away, and after the root came back
        self.as_expected = {True: 0, False: 0}  # offline with the way's reason; online
        self.lost: set[tuple] = set()

    def start(self, way: str, before: dict) -> None:
        self.ways.append(way)
        self.lost = set()
        self.figures.files += len(before["records"])
        self.figures.decisions += len(before["decisions"])

    def check(self, drive: Drive, before: dict, away: bool) -> dict:
        """The catalogue now, compared with ``before``: what it lost counts as missed, once."""
        root = Root.get(Root.path == str(drive.path))
        now = snapshot(drive.path)
        lost = lost_from(before, now) - self.lost
        self.lost |= lost
        self.figures.missed += len(lost)
        if away:
            expected = root.state == "offline" and REASONS[drive.way] in (root.state_reason or "")
        else:
            expected = (root.state, root.state_reason) == ("online", None)
        self.checks[away] += 1
        self.as_expected[away] += expected
        return now

    def write(self) -> None:
        if not self.ways:
            return
        ways = sorted(self.ways, key=WAYS.index)
        self.figures.scenario = f"root taken away {len(ways)} ways, {self.through}"
        self.figures.notes.append(
            f"{', '.join(WAY_NAMES[way] for way in ways)}: offline with the reason at "
            f"{self.as_expected[True]} of {self.checks[True]} checks while away, online again "
            f"at {self.as_expected[False]} of {self.checks[False]}"
        )
        skipped = [WAY_NAMES[way] for way in WAYS if way not in ways]
        if skipped:
            self.figures.notes.append(f"not run here: {', '.join(skipped)}")
        self.figures.write()


@pytest.fixture(scope="module")
def tallies() -> Iterator[dict[str, Tally]]:
    made = {
        "reconcile": Tally("a manual reconcile"),
        "engine": Tally("the engine running"),
    }
    yield made
    for tally in made.values():
        tally.write()


def decide(catalogue_db) -> dict[str, int]:
    """Decisions, stars and a label on the library's photos; returns their ids by file."""
    photo_ids = {
        r.rel_path: r.photo_id
        for r in FileRecord.select().where(FileRecord.role == "original")
        if r.rel_path in SHOTS
    }
    assert sorted(photo_ids) == sorted(SHOTS) and None not in photo_ids.values()
    triage = Triage(catalogue_db)
    triage.decide(photo_ids["2024/2024-06-01/DC240.JPG"], "approved")
    triage.rate(photo_ids["2024/2024-06-01/DC240.JPG"], 4)
    triage.decide(photo_ids["2024/2024-06-01/DSCN0010.JPG"], "rejected")
    triage.rate(photo_ids["2024/2024-06-02/DSC00002.JPG"], 2)
    triage.toggle_label(photo_ids["2024/2024-06-02/DSC00002.JPG"], 4)
    return photo_ids


def assert_offline_with_everything_kept(drive: Drive, before: dict, tally: Tally) -> None:
    root = Root.get(Root.path == str(drive.path))
    now = tally.check(drive, before, away=True)
    assert root.state == "offline"
    assert REASONS[drive.way] in (root.state_reason or ""), root.state_reason
    assert now == before
    gone = Event.select().where(Event.kind.in_(("removed", "moved")))
    assert [(e.kind, e.path) for e in gone] == []


def assert_back_as_before(
    drive: Drive, before: dict, photo_ids: dict[str, int], tally: Tally
) -> None:
    root = Root.get(Root.path == str(drive.path))
    now = tally.check(drive, before, away=False)
    assert (root.state, root.state_reason) == ("online", None)
    assert now == before
    by_id = {p.id: p for p in Photo.select()}
    kodak = by_id[photo_ids["2024/2024-06-01/DC240.JPG"]]
    assert (kodak.decision, kodak.rating) == ("approved", 4)
    assert by_id[photo_ids["2024/2024-06-01/DSCN0010.JPG"]].decision == "rejected"
    sony = by_id[photo_ids["2024/2024-06-02/DSC00002.JPG"]]
    assert (sony.decision, sony.rating, sony.labels) == ("pending", 2, 4)
    changes = Event.select().where(Event.kind.in_(("removed", "moved", "added", "modified")))
    assert [(e.kind, e.path) for e in changes] == []
    kinds = [e.kind for e in Event.select().where(Event.kind.startswith("root_"))]
    assert kinds == ["root_offline", "root_online"]


# --- a manual reconcile ---------------------------------------------------------------------

RECONCILE_ELSEWHERE = """
import json, sys
from core.config import ScanSettings
from core.scan.reconcile import reconcile_root, reconcile_roots
from core.store import open_catalogue
from core.store.models import Root

folders = json.loads(sys.argv[3])
with open_catalogue(sys.argv[1]) as catalogue:
    roots = list(Root.select().where(Root.path == sys.argv[2]))
    if folders is None:
        reports = reconcile_roots(catalogue, roots, ScanSettings(workers=2))
    else:
        reports = [reconcile_root(catalogue, roots[0], ScanSettings(workers=1), kind="realtime",
                                  folders=[(rel, whole, tuple(claimed))
                                           for rel, whole, claimed in folders])]
print(json.dumps([report.as_dict() for report in reports]))
"""
# What the watcher asks for after a change at the top of a root whose folders are gone.
TOP_FOLDER = [("", False, ())]


def reconcile(
    catalogue: Catalogue, library: Path, unreadable: bool = False, folders: list | None = None
) -> dict:
    """``reconcile_roots`` on the library's root (or ``reconcile_root`` over some of its
    ``folders``, as the watcher asks), as a dict of the report. For a chmod 000 root as root,
    in a child process without root's permission bypass (setpriv)."""
    if not (unreadable and bypasses_permissions()):
        roots = list(Root.select().where(Root.path == str(library)))
        if folders is not None:
            settings = ScanSettings(workers=1)
            return reconcile_root(
                catalogue, roots[0], settings, kind="realtime", folders=folders
            ).as_dict()
        (report,) = reconcile_roots(catalogue, roots, ScanSettings(workers=2))
        return report.as_dict()
    result = subprocess.run(
        [*WITHOUT_BYPASS, sys.executable, "-c", RECONCILE_ELSEWHERE, str(catalogue.path),
         str(library), json.dumps(folders)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (report,) = json.loads(result.stdout)
    return report


def test_a_manual_reconcile_keeps_everything_while_the_root_is_away(
    catalogue, drive, tmp_path, tallies
):
    tally = tallies["reconcile"]
    Root.create(path=str(drive.path), added_at=time.time())
    first = reconcile(catalogue, drive.path)
    assert (first["status"], first["files_added"]) == ("completed", len(SHOTS))
    MediaSync(catalogue.db, MediaSettings(preview_cache=tmp_path / "previews")).run_until_idle()
    photo_ids = decide(catalogue.db)
    before = snapshot(drive.path)
    tally.start(drive.way, before)

    drive.unplug()
    try:
        # The whole root, then the top folder as the watcher asks: neither removes anything.
        for folders in (None, TOP_FOLDER):
            report = reconcile(catalogue, drive.path, drive.way == "unreadable", folders)
            tally.figures.crashes += int(report["status"] == "failed")
            assert report["status"] == "partial", report
            assert REASONS[drive.way] in report["error"]
            assert report["files_removed"] == report["files_moved"] == 0
            assert_offline_with_everything_kept(drive, before, tally)
        assert Event.select().where(Event.kind == "root_offline").count() == 1
        # What the engine does next with the file events: nothing, there are none.
        MediaSync(catalogue.db, MediaSettings(preview_cache=tmp_path / "previews")).run_until_idle()
        assert tally.check(drive, before, away=True) == before
    finally:
        drive.plug_back()

    report = reconcile(catalogue, drive.path)
    tally.figures.crashes += int(report["status"] == "failed")
    assert report["status"] == "completed", report
    assert (report["files_hashed"], report["files_added"], report["files_removed"]) == (0, 0, 0)
    assert_back_as_before(drive, before, photo_ids, tally)


# --- the running engine ---------------------------------------------------------------------


def write_config(tmp_path: Path) -> Path:
    config = tmp_path / "shootwatch.toml"
    config.write_text(
        f"catalogue = {json.dumps(str(tmp_path / 'catalogue' / 'catalogue.db'))}\n"
        "[watch]\n"
        f"settle_seconds = {SETTLE}\n"
        "debounce_ms = 50\n"
        "[stages]\n"
        "enabled = []  # no artifacts for the approved photo: not what this test is about\n"
    )
    return config


class RunningEngine:
    """The real engine on a catalogue: ``Engine`` in this process, or, where the root is made
    unreadable and this process is root (which reads it anyway), ``shootwatch run`` in a child
    process without root's permission bypass. The models are bound to a catalogue either way."""

    def __init__(self, settings: Settings, config: Path, tmp_path: Path, here: bool) -> None:
        self.settings = settings
        self.engine: Engine | None = None
        self.process: subprocess.Popen | None = None
        self.catalogue: Catalogue | None = None
        self.log = tmp_path / "engine.log"
        if here:
            self.engine = Engine(settings)
            self.engine.start()
            self.db = self.engine.catalogue.db
            return
        self.catalogue = open_catalogue(settings.catalogue)
        self.db = self.catalogue.db
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [*WITHOUT_BYPASS, sys.executable, "-m", "core.cli", "--config", str(config),
                 "run"],
                cwd=REPO, stdout=subprocess.DEVNULL, stderr=log,
            )  # fmt: skip
        wait_until(lambda: running_engine_pid(settings.catalogue) == self.process.pid)

    def rescan(self) -> None:
        if self.engine is not None:
            self.engine.request_rescan()
        else:
            assert ask(self.settings.catalogue, {"command": "rescan"})["ok"]

    def stop(self) -> None:
        if self.engine is not None:
            self.engine.stop()
        if self.process is not None:
            self.process.terminate()
            try:
                assert self.process.wait(timeout=20) == 0, self.log.read_text()[-2000:]
            finally:
                if self.process.poll() is None:
                    self.process.kill()
                    self.process.wait()
                self.catalogue.close()


def manual_runs() -> list[str]:
    """The statuses of the finished rescans asked for, oldest first."""
    runs = SyncRun.select().where(SyncRun.kind == "manual", SyncRun.status != "running")
    return [run.status for run in runs.order_by(SyncRun.id)]


def test_the_running_engine_keeps_everything_while_the_root_is_away(drive, tmp_path, tallies):
    tally = tallies["engine"]
    config = write_config(tmp_path)
    settings = load_settings(config)
    with open_catalogue(settings.catalogue):
        Root.create(path=str(drive.path), added_at=time.time())
    here = not (drive.way == "unreadable" and bypasses_permissions())
    engine = RunningEngine(settings, config, tmp_path, here)
    try:

        def photos_made():
            """the media component has made every file a photo"""
            originals = FileRecord.select().where(
                FileRecord.role == "original", FileRecord.photo_id.is_null(False)
            )
            return originals.count() == len(SHOTS)

        wait_until(photos_made, timeout=60)
        photo_ids = decide(engine.db)
        before = snapshot(drive.path)
        tally.start(drive.way, before)

        drive.unplug()
        try:
            # Whatever the watcher saw of it is acted on within the settle time: let it, so
            # that a removal it would make shows below.
            time.sleep(SETTLE * 5)
            engine.rescan()
            assert wait_until(manual_runs) == ["partial"]
            assert_offline_with_everything_kept(drive, before, tally)
        finally:
            drive.plug_back()

        engine.rescan()
        assert wait_until(lambda: manual_runs()[1:]) == ["completed"]
        time.sleep(SETTLE * 5)  # anything the watcher would make of the return, it has by now
        assert_back_as_before(drive, before, photo_ids, tally)
        failed = SyncRun.select().where(SyncRun.status == "failed").count()
        tally.figures.crashes += failed
        assert failed == 0
    finally:
        engine.stop()
