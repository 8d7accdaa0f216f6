"""Roots that go away and come back under the running engine, which must notice by itself: no
``rescan`` is ever asked for. The root is renamed away and back, emptied and restored, made
unreadable and readable again, a tmpfs unmounted and mounted again, and a bind mount unmounted
with a stray file left in its mount point. Each time: nothing is removed, the root is offline
within 5 s and online again within 10 s of its return, every record keeps its id, and files
copied in after the return are recorded. The same again for a root back before the engine
looked (away 0 or 1 s): it may never show offline, and must end the same way, watched (an
unmount drops the watcher's watches without a word). Also: a root added while the engine runs
is indexed, and `status` stays honest while a folder cannot be read.

The engine runs as the user runs it (``shootwatch run`` in a child process); as root, without
root's permission bypass, so a chmod 000 folder is really unreadable to it.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from core.config import load_settings
from core.engine.lock import running_engine_pid
from core.store import open_catalogue
from core.store.models import Event, FileRecord, Root, SyncRun
from tests.faults.crashes import Figures
from tests.helpers import FIXTURES, REPO, wait_until

SETTLE = 0.3  # the engine's watch.settle_seconds here
OFFLINE_WITHIN = 5.0  # the promise: a root that went away is offline this soon...
ONLINE_WITHIN = 10.0  # ...and online again this soon after its return
RECORDED_WITHIN = 30.0  # a bound for a hang: new files are recorded once they settle
QUICK_RETURNS = (0.0, 1.0)  # seconds away, shorter than the engine takes to look
WAYS = ("renamed", "emptied", "unreadable", "tmpfs", "tmpfs-fresh", "bind-stray")
WAY_NAMES = {
    "renamed": "renamed away and back",
    "emptied": "emptied and restored",
    "unreadable": "chmod 000 and 755",
    "tmpfs": "tmpfs unmounted and mounted again",
    "tmpfs-fresh": "tmpfs unmounted, the same files back on a fresh one",
    "bind-stray": "bind mount unmounted, a stray file in its mount point",
}
# What the root's state_reason says for each way it went away.
REASONS = {
    "renamed": "is missing",
    "emptied": "is empty",
    "unreadable": "permission denied",
    "tmpfs": "not mounted",
    "tmpfs-fresh": "not mounted",
    "bind-stray": "not mounted",
}
WITHOUT_BYPASS = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def write_photo(path: Path, seed: int) -> Path:
    """A small real JPEG whose content no other file has."""
    path.parent.mkdir(parents=True, exist_ok=True)
    noise = random.Random(seed).randbytes(48 * 32 * 3)
    Image.frombytes("RGB", (48, 32), noise).save(path, quality=90)
    return path


def fill(library: Path) -> int:
    """A shoot of real camera files and generated photos; how many files."""
    for n, sample in enumerate(("kodak_dc240_1999.jpg", "sony_slt-a58_small.jpg")):
        target = library / "2024" / "2024-06-01" / f"DSC{n:05d}.JPG"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(FIXTURES / "camera" / sample, target)
    for n in range(12):
        write_photo(library / "2024" / f"2024-06-0{2 + n % 3}" / f"IMG_{n:04d}.JPG", n)
    return 14


def mount(*args: str) -> None:
    try:
        done = subprocess.run(["mount", *args], capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        pytest.skip("no mount command here")
    if done.returncode != 0:
        pytest.skip(f"mounting is not allowed here (needs root): {done.stderr.strip()}")


def umount(target: Path) -> None:
    """Unmount, retrying while something has it open for a moment (a scan, a watch)."""
    for _ in range(50):
        done = subprocess.run(["umount", str(target)], capture_output=True, timeout=30)
        if done.returncode == 0:
            return
        time.sleep(0.1)
    subprocess.run(["umount", "-l", str(target)], check=True, capture_output=True, timeout=30)


def is_mount_point(path: Path) -> bool:
    with open("/proc/self/mountinfo", "rb") as handle:
        points = [line.split()[4] for line in handle]
    return os.fsencode(path) in points


class Drive:
    """The library root and the way it goes away: ``unplug`` and ``plug_back``.

    "tmpfs" is a tmpfs holding the photos, mounted on the root (by a bind of it, so that it
    keeps its files while it is not on the root, as a USB drive would); "tmpfs-fresh" is a
    tmpfs mounted on the root itself: unmounted, its files (and the watches on its folders) go
    with it, and the same files come back on a fresh tmpfs (another device number) moved onto
    the root at once, as the same drive plugged in again and numbered anew; "bind-stray" is a
    folder of the same file system bind-mounted on the root (the same device either way: only
    the mount tells them apart), and a stray file is written into the bare mount point as soon
    as it is unmounted.
    """

    def __init__(self, tmp_path: Path, way: str) -> None:
        self.way = way
        self.path = tmp_path / "library"
        self.away = tmp_path / "unplugged"
        self.source = tmp_path / "drive"
        self.copy = tmp_path / "copy"
        self.path.mkdir()
        self.mounts: list[Path] = []
        try:
            if way in ("tmpfs", "bind-stray"):
                self.source.mkdir()
                if way == "tmpfs":
                    self._mount("-t", "tmpfs", "-o", "size=64m", "none", self.source)
                self._mount("--bind", str(self.source), self.path)
            elif way == "tmpfs-fresh":
                self._fresh_tmpfs()
        except BaseException:
            self.close()
            raise

    def _mount(self, *args: str | Path) -> None:
        mount(*map(str, args))
        self.mounts.append(Path(args[-1]))

    def _fresh_tmpfs(self) -> None:
        """A new tmpfs with the files of ``copy`` (if any), moved onto the root at once."""
        self.source.mkdir(exist_ok=True)
        self._mount("-t", "tmpfs", "-o", "size=64m", "none", self.source)
        if self.copy.exists():
            shutil.copytree(self.copy, self.source, dirs_exist_ok=True)  # mtimes kept
        done = subprocess.run(
            ["mount", "--move", str(self.source), str(self.path)], capture_output=True, text=True
        )
        if done.returncode != 0:
            pytest.skip(f"mount --move is not allowed here: {done.stderr.strip()}")
        self.mounts[-1] = self.path

    def unplug(self) -> None:
        if self.way == "renamed":
            self.path.rename(self.away)
        elif self.way == "emptied":  # another, empty folder where the root was
            self.path.rename(self.away)
            self.path.mkdir()
        elif self.way == "unreadable":
            self.path.chmod(0)
        else:
            if self.way == "tmpfs-fresh":  # what the drive holds, to bring back
                shutil.copytree(self.path, self.copy)
            umount(self.path)
            self.mounts.remove(self.path)
            if self.way == "bind-stray":
                (self.path / "stray.txt").write_text("left in the mount point\n")

    def plug_back(self) -> None:
        if self.way == "renamed":
            self.away.rename(self.path)
        elif self.way == "emptied":
            self.path.rmdir()
            self.away.rename(self.path)
        elif self.way == "unreadable":
            self.path.chmod(0o755)
        elif self.way == "tmpfs-fresh":
            self._fresh_tmpfs()
        else:
            self._mount("--bind", str(self.source), self.path)

    def close(self) -> None:
        """Leave no mount behind, whatever happened."""
        if self.path.exists():
            self.path.chmod(0o755)
        for target in reversed(self.mounts):
            subprocess.run(["umount", "-l", str(target)], capture_output=True, timeout=30)
        self.mounts.clear()
        for target in (self.path, self.source):
            assert not is_mount_point(target)


def cli(config: Path, *args: str, without_bypass: bool = False) -> subprocess.CompletedProcess:
    prefix = WITHOUT_BYPASS if without_bypass and os.geteuid() == 0 else []
    command = [*prefix, sys.executable, "-m", "core.cli", "--config", str(config), *args]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)


class Service:
    """``shootwatch run`` in a child process, as root without root's permission bypass; the
    test reads the catalogue it writes."""

    def __init__(self, tmp_path: Path) -> None:
        self.config = tmp_path / "shootwatch.toml"
        self.config.write_text(
            f"catalogue = {json.dumps(str(tmp_path / 'catalogue' / 'catalogue.db'))}\n"
            "[watch]\n"
            f"settle_seconds = {SETTLE}\n"
            "debounce_ms = 50\n"
            "[stages]\n"
            "enabled = []\n"
        )
        self.settings = load_settings(self.config)
        self.log = tmp_path / "engine.log"
        self.process: subprocess.Popen | None = None
        self.catalogue = open_catalogue(self.settings.catalogue)

    def add(self, path: Path) -> str:
        done = cli(self.config, "add", str(path))
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(self) -> None:
        prefix = WITHOUT_BYPASS if os.geteuid() == 0 else []
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [*prefix, sys.executable, "-m", "core.cli", "--config", str(self.config), "run"],
                cwd=REPO, stdout=subprocess.DEVNULL, stderr=log,
            )  # fmt: skip
        wait_until(lambda: running_engine_pid(self.settings.catalogue) == self.process.pid, 30)

    def status(self) -> tuple[int, dict]:
        done = cli(self.config, "status", "--json")
        return done.returncode, json.loads(done.stdout)

    def stop(self) -> None:
        try:
            if self.process is not None:
                self.process.terminate()
                try:
                    assert self.process.wait(timeout=30) == 0, self.log.read_text()[-3000:]
                finally:
                    if self.process.poll() is None:
                        self.process.kill()
                        self.process.wait()
        finally:
            self.catalogue.close()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    made = Service(tmp_path)
    try:
        yield made
    finally:
        made.stop()


def root_of(path: Path) -> Root:
    return Root.get(Root.path == str(path))


def record_ids(path: Path) -> dict[str, int]:
    return {r.rel_path: r.id for r in FileRecord.select().where(FileRecord.root == root_of(path))}


def removed() -> list[str]:
    return [e.path for e in Event.select().where(Event.kind == "removed")]


class Tally:
    """The figures of every way, for the Reliability table (docs/reliability.md)."""

    def __init__(self) -> None:
        self.figures = Figures("")
        self.ways: set[str] = set()
        self.quick_returns = 0
        self.offline_after: list[float] = []
        self.online_after: list[float] = []

    def write(self) -> None:
        if not self.ways:
            return
        ways = sorted(self.ways, key=WAYS.index)
        self.figures.scenario = f"root taken away {len(ways)} ways, the engine noticing alone"
        self.figures.notes.append(
            f"{', '.join(WAY_NAMES[way] for way in ways)}: offline after "
            f"{max(self.offline_after):.1f} s at most (promise 5 s), online again "
            f"{max(self.online_after):.1f} s at most after the return (promise 10 s); "
            f"{self.quick_returns} returns within {max(QUICK_RETURNS)} s, before the engine "
            "looked; every id kept, files copied in after each return recorded"
        )
        skipped = [WAY_NAMES[way] for way in WAYS if way not in ways]
        if skipped:
            self.figures.notes.append(f"not run here: {', '.join(skipped)}")
        self.figures.write()


@pytest.fixture(scope="module")
def tally() -> Iterator[Tally]:
    made = Tally()
    yield made
    made.write()


def indexed_drive(tmp_path: Path, service: Service, way: str) -> tuple[Drive, dict[str, int]]:
    """The drive, filled, added, indexed by the running engine and watched; its record ids."""
    drive = Drive(tmp_path, way)
    try:
        files = fill(drive.path)
        service.add(drive.path)
        service.start()

        def indexed():
            """the engine has indexed the root"""
            return len(record_ids(drive.path)) == files

        wait_until(indexed, RECORDED_WITHIN)
        time.sleep(SETTLE * 3)  # the watcher is in place over the indexed tree
    except BaseException:
        drive.close()
        raise
    return drive, record_ids(drive.path)


def online():
    """the root is online"""
    root = Root.get()
    return (root.state, root.state_reason) == ("online", None)


def assert_back_as_before(drive: Drive, before: dict[str, int], service: Service, tally: Tally):
    """Every record kept its id, nothing was removed, files copied in now are recorded (the
    root is watched again), and status is healthy."""
    assert record_ids(drive.path) == before
    assert removed() == []
    new = [
        write_photo(drive.path / "2024" / "2024-06-09" / f"NEW_{n}.JPG", 100 + n) for n in range(3)
    ]
    new.append(write_photo(drive.path / "2024" / "2024-06-01" / "NEW_3.JPG", 103))
    wanted = {str(path.relative_to(drive.path)) for path in new}

    def recorded():
        """the files copied in after the return are recorded"""
        return wanted <= set(record_ids(drive.path))

    wait_until(recorded, RECORDED_WITHIN)
    now = record_ids(drive.path)
    runs = list(SyncRun.select())
    tally.figures.files += len(now)
    tally.figures.missed += sum(now.get(rel) != record_id for rel, record_id in before.items())
    tally.figures.crashes += sum(r.status == "failed" for r in runs)
    assert {rel: now.get(rel) for rel in before} == before
    assert removed() == []
    assert [r.kind for r in runs if r.kind == "manual"] == []  # the engine noticed alone
    assert [r.error for r in runs if r.status == "failed"] == []
    assert sum(r.files_removed for r in runs) == 0
    code, status = service.status()
    assert code == 0, status["problems"]


@pytest.mark.parametrize("way", WAYS)
def test_a_root_that_goes_away_and_comes_back_is_followed_by_the_engine_alone(
    way, tmp_path, service, tally
):
    drive, before = indexed_drive(tmp_path, service, way)
    try:
        drive.unplug()
        away_at = time.monotonic()
        try:

            def offline():
                """the root is offline with the reason for the way it went"""
                root = root_of(drive.path)
                return root.state == "offline" and REASONS[way] in (root.state_reason or "")

            wait_until(offline, OFFLINE_WITHIN)
            tally.offline_after.append(time.monotonic() - away_at)
            time.sleep(SETTLE * 5)  # whatever the engine makes of the change, it has by now
            assert removed() == []
            assert record_ids(drive.path) == before
            code, status = service.status()
            assert code == 1 and not status["healthy"]
            assert any(str(drive.path) in problem for problem in status["problems"])
        finally:
            drive.plug_back()
        back_at = time.monotonic()
        wait_until(online, ONLINE_WITHIN)
        tally.online_after.append(time.monotonic() - back_at)
        assert_back_as_before(drive, before, service, tally)
        kinds = [e.kind for e in Event.select().where(Event.kind.startswith("root_"))]
        assert kinds == ["root_added", "root_offline", "root_online"]
        tally.ways.add(way)
    finally:
        service.stop()
        drive.close()


@pytest.mark.parametrize("gap", QUICK_RETURNS)
@pytest.mark.parametrize("way", WAYS)
def test_a_root_back_before_the_engine_looked_is_followed_all_the_same(
    way, gap, tmp_path, service, tally
):
    """Away for less than the engine takes to look: it may never show offline, and must end
    as it was, watched (a drive unmounted and mounted again lost its folders' watches)."""
    drive, before = indexed_drive(tmp_path, service, way)
    try:
        drive.unplug()
        try:
            time.sleep(gap)
        finally:
            drive.plug_back()
        wait_until(online, ONLINE_WITHIN)
        assert_back_as_before(drive, before, service, tally)
        kinds = [e.kind for e in Event.select().where(Event.kind.startswith("root_"))]
        assert kinds.count("root_offline") == kinds.count("root_online")
        tally.quick_returns += 1
    finally:
        service.stop()
        drive.close()


def test_a_root_added_while_the_engine_runs_is_indexed_and_watched(tmp_path, service):
    first = tmp_path / "first"
    write_photo(first / "a" / "A.JPG", 1)
    service.add(first)
    service.start()
    wait_until(lambda: len(record_ids(first)) == 1, RECORDED_WITHIN)

    second = tmp_path / "second"
    files = fill(second)
    said = service.add(second)
    assert "engine" in said and "scan" not in said, said

    def indexed():
        """the root added while the engine runs is indexed"""
        return len(record_ids(second)) == files

    wait_until(indexed, RECORDED_WITHIN)
    write_photo(second / "2024" / "2024-06-09" / "LATER.JPG", 50)

    def watched():
        """a file copied into the new root afterwards is recorded"""
        return "2024/2024-06-09/LATER.JPG" in record_ids(second)

    wait_until(watched, RECORDED_WITHIN)
    assert removed() == []


@pytest.mark.parametrize("then", ["readable", "deleted"])
def test_status_stays_honest_while_a_folder_cannot_be_read(then, tmp_path, service):
    library = tmp_path / "library"
    fill(library)
    hidden = library / "2024" / "2024-06-03"
    under_it = {f"2024/2024-06-03/{p.name}" for p in hidden.iterdir()}
    service.add(library)
    service.start()
    wait_until(lambda: len(record_ids(library)) == 14, RECORDED_WITHIN)
    wait_until(lambda: service.status()[0] == 0, RECORDED_WITHIN)
    try:
        hidden.chmod(0)

        def unhealthy():
            """status names the folder that cannot be read"""
            code, status = service.status()
            return code == 1 and any("2024/2024-06-03" in p for p in status["problems"])

        wait_until(unhealthy, RECORDED_WITHIN)
        # A realtime run of another folder reads that folder, not the hidden one.
        write_photo(library / "2024" / "2024-06-01" / "LATER.JPG", 60)
        wait_until(lambda: "2024/2024-06-01/LATER.JPG" in record_ids(library), RECORDED_WITHIN)

        def last_run_over():
            """the run that recorded it has finished (its records land before its end)"""
            last = SyncRun.select().order_by(SyncRun.id.desc()).first()
            return last if last.status != "running" else None

        last = wait_until(last_run_over, RECORDED_WITHIN)
        assert (last.kind, last.status) == ("realtime", "completed")
        assert unhealthy()
        assert removed() == []
    finally:
        hidden.chmod(0o755)
        if then == "deleted":
            shutil.rmtree(hidden)

    def healthy():
        """status is healthy again once a run has read the folder, or it is gone"""
        return service.status()[0] == 0

    wait_until(healthy, RECORDED_WITHIN)
    if then == "readable":
        assert removed() == []
    else:  # deleted for real: its records go, with the folder
        wait_until(lambda: not under_it & set(record_ids(library)), RECORDED_WITHIN)
        assert sorted(removed()) == sorted(under_it)


def unreadable_events(path: str) -> list[str]:
    """The reasons the event log gave, in order, for ``path`` being unreadable."""
    query = Event.select().where((Event.kind == "unreadable") & (Event.path == path))
    return [json.loads(e.payload)["reason"] for e in query.order_by(Event.id)]


@pytest.mark.parametrize("gap", [0.0, 0.1, 0.5])
def test_a_file_that_cannot_be_read_is_said_once_until_it_changes(gap, tmp_path, service):
    """A realtime run of a folder comes with every file written beside it: a file there that
    cannot be read is said once for its reason, not once per run; said again after it was put
    right and changed while it could not be read."""
    library = tmp_path / "library"
    fill(library)
    folder = library / "2024" / "2024-06-02"
    locked = write_photo(folder / "LOCKED.JPG", 90)
    locked.chmod(0)
    service.add(library)
    service.start()
    rel = "2024/2024-06-02/LOCKED.JPG"
    try:
        wait_until(lambda: unreadable_events(rel), RECORDED_WITHIN)

        def neighbours(first: int) -> None:
            """files written beside it, each a realtime run of the folder or part of one"""
            for n in range(first, first + 12):
                write_photo(folder / f"NEXT_{n:03d}.JPG", 100 + n)
                time.sleep(gap)
            names = {f"2024/2024-06-02/NEXT_{n:03d}.JPG" for n in range(first, first + 12)}
            wait_until(lambda: names <= set(record_ids(library)), RECORDED_WITHIN)

        neighbours(0)
        assert unreadable_events(rel) == ["permission denied"]
        locked.chmod(0o644)
        wait_until(lambda: FileRecord.get(FileRecord.rel_path == rel).blake3, RECORDED_WITHIN)
        locked.chmod(0)
        write_photo(locked, 91)  # changed while it cannot be read (root writes it anyway)
        wait_until(lambda: len(unreadable_events(rel)) == 2, RECORDED_WITHIN)
        neighbours(100)
        assert unreadable_events(rel) == ["permission denied", "permission denied"]
    finally:
        locked.chmod(0o644)
    assert removed() == []
