"""Crash tests: the real engine (and a triage process) killed with SIGKILL at seeded random
moments during a first index, moves, an ingest, triage and a stage run; after every kill the
catalogue passes SQLite's integrity check, and after the last restart every file has exactly
one record, no confirmed decision is missing, every photo is in the library exactly once and
no job or move is left open."""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import blake3
import pytest
from PIL import Image

from tests.faults.crashes import (
    KILLS,
    SEED,
    Figures,
    count,
    descendants,
    environment,
    integrity,
    kill_cycles,
    parent_of,
    processes_outliving,
    records_against_disk,
    rows,
    run_cli,
    start_engine,
    stop_engine,
    tree_of,
    tree_outliving,
    triage_step,
)
from tests.helpers import wait_until

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="SIGKILL and inotify: Linux")


class Library:
    """A home, a settings file and a catalogue for one scenario."""

    def __init__(self, tmp_path: Path, extra: str = "") -> None:
        self.home = tmp_path / "home"
        self.home.mkdir()
        self.catalogue = tmp_path / "catalogue.db"
        self.config = tmp_path / "shootwatch.toml"
        self.log = tmp_path / "engine.log"
        self.config.write_text(
            f'catalogue = "{self.catalogue}"\n'
            "[watch]\nsettle_seconds = 0.3\ndebounce_ms = 50\n"
            "[scan]\nworkers = 2\n"
            f'[darktable]\nlibrary = "{tmp_path / "no-darktable" / "library.db"}"\n'
            f'[media]\npreview_cache = "{tmp_path / "previews"}"\n'
            f'[stages]\nenabled = []\noutput = "{tmp_path / "art"}"\n' + extra
        )

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        done = run_cli(self.config, self.home, *args)
        assert done.returncode in (0, 1), done.stdout + done.stderr
        return done

    def engine(self) -> subprocess.Popen:
        return start_engine(self.config, self.home, self.log)

    def check_integrity(self, figures: Figures) -> None:
        result = integrity(self.catalogue)
        if result != "ok":
            figures.notes.append(f"integrity after kill {figures.kills}: {result}")

    def run_until(self, condition, what: str, timeout: float = 240) -> None:
        """The engine once more, uninterrupted, until ``condition``; then a clean stop."""
        engine = self.engine()
        try:
            wait_until(condition, timeout, what)
        finally:
            engine.send_signal(signal.SIGTERM)
            engine.wait(timeout=60)


def _b3(path: Path) -> str:
    return blake3.blake3(path.read_bytes()).hexdigest()


def jpeg(day: int, colour: tuple[int, int, int], size=(320, 240)) -> bytes:
    image = Image.new("RGB", size, colour)
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = f"2025:05:{day:02d} 10:00:00"
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif, quality=80)
    return buffer.getvalue()


def write_old(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (1.7e9, 1.7e9))


def completed_startups(library: Library, after: float) -> int:
    return rows(
        library.catalogue,
        "SELECT count(*) FROM sync_run WHERE kind = 'startup' AND status = 'completed'"
        " AND started_at >= ?",
        (after,),
    )[0][0]


def test_killed_during_a_first_index_of_5000_files(tmp_path):
    library = Library(tmp_path)
    root = tmp_path / "photos"
    rng = random.Random(SEED)
    for n in range(5000):
        write_old(root / f"2025/2025-05-{n % 50:02d}" / f"IMG_{n:05d}.CR3", rng.randbytes(2048))
    library.cli("add", str(root))
    figures = Figures("first index of 5,000 files", files=5000)
    kill_cycles(library.engine, figures, 0.3, 2.5, library.home,
                after_each=lambda _: library.check_integrity(figures))  # fmt: skip
    started = time.time()
    library.run_until(lambda: completed_startups(library, started), "a completed index")
    missing, extra, doubled = records_against_disk(library.catalogue, root)
    figures.missed, figures.duplicated = missing + extra, doubled
    wrong = [
        rel
        for rel, digest in rows(library.catalogue, "SELECT rel_path, blake3 FROM file")[::97]
        if _b3(root / rel) != digest
    ]
    figures.missed += len(wrong)
    figures.write()
    assert figures.processes_left == 0 and figures.notes == [] and figures.kills >= KILLS * 0.8
    assert (missing, extra, doubled, wrong) == (0, 0, 0, [])


def test_killed_while_folders_are_moved(tmp_path):
    library = Library(tmp_path)
    root = tmp_path / "photos"
    rng = random.Random(SEED + 1)
    folders = [f"shoot-{n:02d}" for n in range(40)]
    for n in range(2000):
        write_old(root / folders[n % 40] / f"IMG_{n:05d}.CR3", rng.randbytes(2048))
    library.cli("add", str(root))
    library.cli("scan")
    before = dict(rows(library.catalogue, "SELECT blake3, id FROM file"))
    figures = Figures("reconcile with moves (2,000 files, 40 folders)", files=2000)
    moved = 0

    def move_some(cycle: int) -> None:
        nonlocal moved
        library.check_integrity(figures)
        # Between runs and during the next: rename two folders, as a photographer tidying up.
        for _ in range(2):
            source = root / rng.choice([f.name for f in root.iterdir()])
            source.rename(root / f"{source.name}-r{cycle}")
            moved += 1

    kill_cycles(library.engine, figures, 0.3, 2.5, library.home, after_each=move_some)
    started = time.time()
    library.run_until(lambda: completed_startups(library, started), "a completed reconcile")
    missing, extra, doubled = records_against_disk(library.catalogue, root)
    after = dict(rows(library.catalogue, "SELECT blake3, id FROM file"))
    kept = sum(1 for digest, record in before.items() if after.get(digest) == record)
    figures.missed, figures.duplicated = missing + extra, doubled
    figures.notes.append(
        f"{moved} folder renames; {kept:,} of {len(before):,} records kept their id"
    )
    figures.write()
    assert not [n for n in figures.notes if n.startswith("integrity")] and moved == 2 * KILLS
    assert figures.processes_left == 0
    assert (missing, extra, doubled) == (0, 0, 0)
    assert set(after) == set(before)  # every content still recorded once
    # Identity: a record that moved keeps its id (how many did is reported, all should).
    assert kept == len(before), f"{len(before) - kept} records were re-added, not moved"


def test_killed_during_an_ingest_of_500_files(tmp_path):
    inbox, originals = tmp_path / "inbox", tmp_path / "Originals"
    library = Library(
        tmp_path,
        f'[ingest]\ndestination = "{originals}"\ninboxes = ["{inbox}"]\nsettle_seconds = 0\n',
    )
    contents = {}
    for n in range(500):
        data = jpeg(1 + n % 28, (n % 256, (n * 7) % 256, (n * 13) % 256)) + n.to_bytes(4, "big")
        write_old(inbox / f"DCIM/{100 + n // 100}CANON/IMG_{n:04d}.JPG", data)
        contents[blake3.blake3(data).hexdigest()] = n
    figures = Figures("ingest of 500 files", files=500)

    def library_copies() -> dict[str, int]:
        found: dict[str, int] = {}
        if originals.exists():
            for path in originals.rglob("*.JPG"):
                digest = _b3(path)
                found[digest] = found.get(digest, 0) + 1
        return found

    def check(_: int) -> None:
        library.check_integrity(figures)
        copies = library_copies()
        left = {_b3(p) for p in inbox.rglob("*.JPG") if ".duplicates" not in p.parts}
        figures.duplicated += sum(count - 1 for count in copies.values())
        # A crash between the link and the source's removal leaves one file under two names
        # until the next start: the same photo, not a copy, so it is not counted missing.
        figures.missed += len(set(contents) - set(copies) - left)

    kill_cycles(library.engine, figures, 0.3, 2.5, library.home, after_each=check)
    library.run_until(
        lambda: not any(p.is_file() for p in inbox.rglob("*.JPG") if ".duplicates" not in p.parts),
        "an empty inbox",
    )
    copies = library_copies()
    figures.missed += len(set(contents) - set(copies))
    figures.duplicated += sum(count - 1 for count in copies.values())
    figures.stuck = rows(
        library.catalogue, "SELECT count(*) FROM ingest_move WHERE state = 'intent'"
    )[0][0]
    temporary = list(originals.rglob(".shootwatch-ingest-*"))
    figures.write()
    assert figures.processes_left == 0 and figures.notes == []
    assert (figures.missed, figures.duplicated, figures.stuck) == (0, 0, 0)
    assert temporary == [] and set(copies) == set(contents)


DECIDER = """
import sys, time
sys.path.insert(0, {repo!r})
from core.store import open_catalogue
from core.triage.decisions import Triage
from tests.faults.crashes import triage_step
start, count, photos = int(sys.argv[2]), int(sys.argv[3]), [int(i) for i in sys.argv[4].split(",")]
with open_catalogue(sys.argv[1]) as catalogue:
    triage = Triage(catalogue.db, source="cli")
    for n in range(start, count):
        action, photo, value = triage_step(n, photos)
        if action == "rating":
            triage.rate(photo, int(value))
        else:
            triage.decide(photo, value)
        print(action, photo, value, flush=True)  # committed: what the screen shows
        time.sleep(0.05)  # a fast photographer: 20 decisions a second
"""


def test_killed_during_200_triage_decisions(tmp_path):
    library = Library(tmp_path)
    root = tmp_path / "photos"
    for n in range(40):
        write_old(root / "shoot" / f"IMG_{n:03d}.JPG", jpeg(1 + n % 28, (n * 6, 90, 200 - n)))
    library.cli("add", str(root))
    library.cli("scan")
    engine = library.engine()  # writing beside the decisions, as in the app
    photos = [photo for (photo,) in rows(library.catalogue, "SELECT id FROM photo ORDER BY id")]
    assert len(photos) == 40
    figures = Figures("200 triage decisions", decisions=200)
    confirmed: dict[tuple[int, str], str] = {}  # (photo, column) -> last value on screen
    done = 0
    rng = random.Random(f"{SEED}-triage")
    script = DECIDER.format(repo=str(Path(__file__).resolve().parents[2]))
    try:
        while done < 200:
            decider = subprocess.Popen(
                [sys.executable, "-c", script, str(library.catalogue), str(done), "200",
                 ",".join(map(str, photos))],
                stdout=subprocess.PIPE, text=True, env=environment(library.home),
            )  # fmt: skip
            last_kill = figures.kills >= KILLS
            if not last_kill:
                try:
                    decider.wait(timeout=rng.uniform(0.3, 0.9))
                except subprocess.TimeoutExpired:
                    decider.send_signal(signal.SIGKILL)
                    figures.kills += 1
            output, _ = decider.communicate(timeout=120)
            engine_tree = {engine.pid} | descendants(engine.pid)  # runs on: not a leftover
            figures.processes_left += len(processes_outliving(library.home, keep=engine_tree))
            # What the process said it committed is what the screen would have shown.
            for line in output.splitlines():
                action, photo, value = line.split()
                confirmed[(int(photo), action)] = value
                done += 1
            library.check_integrity(figures)
            # The decision a process was killed making may have been committed before it could
            # say so (the key was pressed, the screen not yet updated): either value is right.
            cut = triage_step(done, photos) if done < 200 else None
            for (photo, action), value in confirmed.items():
                column = "decision" if action == "decision" else "rating"
                (stored,) = rows(library.catalogue, f"SELECT {column} FROM photo WHERE id = ?",
                                 (photo,))[0]  # fmt: skip
                if str(stored) != value and cut != (action, photo, str(stored)):
                    figures.missed += 1
    finally:
        engine.send_signal(signal.SIGTERM)
        engine.wait(timeout=60)
    logged = rows(library.catalogue, "SELECT count(*) FROM decision WHERE source = 'cli'")[0][0]
    figures.write()
    assert figures.processes_left == 0 and figures.notes == [] and figures.kills >= KILLS * 0.8
    assert figures.missed == 0 and done == 200
    assert logged >= 200  # every confirmed decision is in the log (a cut one may be too)


def test_killed_during_a_stage_run(tmp_path):
    library = Library(tmp_path)
    library.config.write_text(
        library.config.read_text().replace("enabled = []", 'enabled = ["thumb", "web", "blurhash"]')
    )
    root = tmp_path / "photos"
    for n in range(30):
        data = jpeg(1 + n, (n * 8, 120, 250 - n * 8), size=(3000, 2000))
        write_old(root / "shoot" / f"IMG_{n:03d}.JPG", data)
    library.cli("add", str(root))
    library.cli("scan")
    for n in range(30):
        library.cli("decide", str(root / "shoot" / f"IMG_{n:03d}.JPG"), "--approve")
    figures = Figures("stage run (30 approved photos: thumb, web, blurhash)", files=30)
    kill_cycles(library.engine, figures, 0.5, 3.0, library.home,
                after_each=lambda _: library.check_integrity(figures))  # fmt: skip

    def finished() -> bool:
        open_jobs = count(
            library.catalogue, "SELECT count(*) FROM job WHERE status IN ('pending', 'running')"
        )
        made = rows(library.catalogue, "SELECT count(*) FROM artifact")[0][0]
        return open_jobs == 0 and made == 90

    library.run_until(finished, "every artifact made")
    figures.stuck = count(library.catalogue, "SELECT count(*) FROM job WHERE status = 'running'")
    failed = rows(library.catalogue, "SELECT stage, last_error FROM job WHERE status = 'failed'")
    artifacts = rows(library.catalogue, "SELECT path, blake3, stage FROM artifact")
    wrong = [
        path
        for path, digest, stage in artifacts
        if stage != "blurhash" and (not Path(path).exists() or _b3(Path(path)) != digest)
    ]
    figures.missed = len(wrong) + len(failed)
    figures.write()
    assert figures.processes_left == 0 and figures.notes == [] and figures.kills >= KILLS * 0.8
    assert (figures.stuck, failed, wrong) == (0, [], [])


SLOW_COMMAND = """
import os, subprocess, sys, time
child = subprocess.Popen(["sleep", "300"])
with open(sys.argv[1] + ".tmp", "w") as pids:
    pids.write(f"{os.getpid()} {child.pid}")
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(300)
"""


def _kinds_of_processes(engine: int, command: Path) -> dict[str, set[int]]:
    """The engine's descendants by what they are, from their command lines."""
    kinds: dict[str, set[int]] = {}
    for pid in descendants(engine):
        try:
            line = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        forkserver = "multiprocessing.forkserver" in line
        kind = (
            "forkserver" if forkserver and parent_of(pid) == engine
            else "media worker" if forkserver  # the forkserver's children
            else "resource tracker" if "multiprocessing.resource_tracker" in line
            else "sentinel" if "killpg" in line
            else "scan worker" if "core.cli" in line  # forked from the engine
            else "command" if str(command) in line or line.startswith("sleep")
            else "other"
        )  # fmt: skip
        kinds.setdefault(kind, set()).add(pid)
    return kinds


def test_a_killed_engine_leaves_no_process_and_starts_again_at_once(tmp_path):
    """kill -9 of the engine while every kind of process it starts is running: its scan
    workers (forked), the media pool's forkserver and workers, multiprocessing's resource
    tracker, the stage commands' sentinel and a command with a child of its own. None of them
    outlives it (the forkserver, its workers and the resource tracker used to, for good), and
    a new engine starts at once (forked workers used to hold the engine lock). Stopped cleanly
    while it runs the command again, the new engine ends it and exits (it used to wait for the
    command, up to its 10-minute timeout)."""
    from core.engine.lock import running_engine_pid

    pids, script = tmp_path / "command-pids", tmp_path / "slow_command.py"
    script.write_text(SLOW_COMMAND)
    library = Library(
        tmp_path,
        f'[stages.commands]\nslow = ["{sys.executable}", "{script}", "{pids}", "{{out}}"]\n',
    )
    root = tmp_path / "photos"
    write_old(root / "shoot" / "IMG_000.JPG", jpeg(1, (200, 40, 40)))
    library.cli("add", str(root))
    library.cli("scan")
    library.cli("decide", str(root / "shoot" / "IMG_000.JPG"), "--approve")
    for n in range(1, 200):  # new files: work for the media pool
        write_old(root / "shoot" / f"IMG_{n:03d}.JPG", jpeg(1 + n % 28, (n, 90, 200 - n)))
    engine = library.engine()

    wanted = {"scan worker", "forkserver", "media worker", "resource tracker", "sentinel",
              "command"}  # fmt: skip
    kinds: dict[str, set[int]] = {}
    try:
        deadline = time.monotonic() + 120
        # Every kind, and the command's child too (it starts a moment after the command).
        while not (pids.exists() and wanted <= set(kinds) and len(kinds["command"]) >= 2):
            assert time.monotonic() < deadline, f"not every kind of process ran: {kinds}"
            time.sleep(0.1)
            kinds = _kinds_of_processes(engine.pid, script)
        tree = tree_of(engine.pid)
    finally:
        engine.send_signal(signal.SIGKILL)
        engine.wait(timeout=30)
    assert len(kinds["command"]) == 2  # the command and its child
    left = processes_outliving(library.home, timeout=15)
    assert left == {}, f"left running after kill -9: {left} (of {kinds})"
    assert tree_outliving(tree) == {}, f"of {kinds}"
    assert running_engine_pid(library.catalogue) is None
    pids.unlink()
    again = library.engine()
    try:
        wait_until(lambda: running_engine_pid(library.catalogue) == again.pid, 60, "a new engine")
        wait_until(pids.exists, 120, "the command run again")  # the job the kill cut short
    finally:
        stop_engine(again)  # a clean stop does not wait for the command
    assert processes_outliving(library.home, timeout=15) == {}  # nor after a clean stop
