"""The crash harness: the real engine (``shootwatch run``) or a worker script in a subprocess,
killed with SIGKILL at seeded random moments, and the checks every restart must pass.

The seed (``SHOOTWATCH_FAULT_SEED``, default 2026) and the number of kills per scenario
(``SHOOTWATCH_FAULT_KILLS``, default 20) make a run reproducible; with
``SHOOTWATCH_FAULT_REPORT=FILE`` each scenario appends its figures to FILE as a JSON line, which
``tests/faults/reliability_report.py`` turns into the Reliability table of docs/reliability.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("SHOOTWATCH_FAULT_SEED", "2026"))
KILLS = int(os.environ.get("SHOOTWATCH_FAULT_KILLS", "20"))
REPORT = os.environ.get("SHOOTWATCH_FAULT_REPORT")


def triage_step(n: int, photos: list[int]) -> tuple[str, int, str]:
    """Decision ``n`` of the triage scenario: (action, photo, value), the same in every process,
    so the one a killed process was making is made again, identical, by the next."""
    photo = photos[n % len(photos)]
    if n % 3 == 2:
        return "rating", photo, str(n % 6)
    return "decision", photo, "approved" if n % 3 == 0 else "rejected"


def current_test_file() -> str:
    """The file of the test pytest is running (set up, running or tearing down), or ""."""
    return os.environ.get("PYTEST_CURRENT_TEST", "").split("::")[0]


@dataclass
class Figures:
    """What a scenario did and found, for the Reliability table (docs/reliability.md)."""

    scenario: str
    kills: int = 0
    files: int = 0
    decisions: int = 0
    missed: int = 0  # files, decisions or photos that should be there and are not
    duplicated: int = 0  # records or library copies that should be one and are more
    stuck: int = 0  # jobs left running, ingest moves left open
    processes_left: int = 0  # processes a killed run started that outlived it
    crashes: int = 0  # runs that ended by themselves with an error
    seed: int = SEED
    notes: list[str] = field(default_factory=list)
    # The test file that measured them: the report orders its rows by file, not by run order.
    test: str = field(default_factory=current_test_file)

    def write(self) -> None:
        if self.processes_left:
            self.notes.append(f"{self.processes_left} processes outlived the kills")
        if REPORT:
            with open(REPORT, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(asdict(self)) + "\n")


def environment(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local/share"),
        XDG_CACHE_HOME=str(home / ".cache"),
        PYTHONPATH=str(REPO),
    )
    env.pop("SHOOTWATCH_DB", None)
    env.pop("SHOOTWATCH_CONFIG", None)
    return env


def start_engine(config: Path, home: Path, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "core.cli", "--config", str(config), "run"],
            env=environment(home),
            stdout=out,
            stderr=out,
            cwd=home,
        )


def run_cli(
    config: Path, home: Path, *args: str, timeout: float = 600
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core.cli", "--config", str(config), *args],
        env=environment(home),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=home,
    )


def stop_engine(process: subprocess.Popen, timeout: float = 60) -> None:
    """SIGTERM, as a service manager stops it; an engine still running ``timeout`` seconds
    later is killed (so a failing test leaves nothing behind) and the test fails."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)
        raise AssertionError(f"the engine did not stop within {timeout:g} s of SIGTERM") from None


def kill_after(process: subprocess.Popen, seconds: float) -> bool:
    """SIGKILL the process after ``seconds``; False when it had already ended by itself."""
    try:
        process.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        pass
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    return True


def kill_cycles(
    start: Callable[[], subprocess.Popen],
    figures: Figures,
    low: float,
    high: float,
    home: Path,
    after_each: Callable[[int], None] | None = None,
    rng: random.Random | None = None,
) -> None:
    """Start, kill at a random moment in [low, high) seconds, count the processes the killed
    run left (started with ``home`` as HOME), check; ``KILLS`` times."""
    rng = rng or random.Random(f"{SEED}-{figures.scenario}")
    for n in range(KILLS):
        process = start()
        if kill_after(process, rng.uniform(low, high)):
            figures.kills += 1
        elif process.returncode not in (0, None):
            figures.crashes += 1
        left = processes_outliving(home)
        figures.processes_left += len(left)
        # Which process and whose child: the one thing a rare failure here has to tell.
        figures.notes.extend(f"after kill {n + 1}: {command}" for command in left.values())
        if after_each is not None:
            after_each(n)


# --- processes ---------------------------------------------------------------------------------


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, None when it has gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie (a zombie has ended: it is only waiting
    for its parent to read its exit status)."""
    stat = _proc_stat(pid)
    return stat is not None and stat[0] != "Z"


def parent_of(pid: int) -> int | None:
    stat = _proc_stat(pid)
    return stat[1] if stat is not None else None


def _pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def started_at(pid: int) -> int | None:
    """When a process started (clock ticks after boot): with its pid, it names one process,
    where a pid alone may name a newer one once the old one has gone (pids wrap at 32,768)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(text.rsplit(")", 1)[1].split()[19])


def tree_of(pid: int) -> dict[int, int]:
    """The living processes below ``pid``, each with its start time (see ``started_at``)."""
    return {child: start for child in descendants(pid) if (start := started_at(child))}


def tree_outliving(tree: dict[int, int], timeout: float = 15) -> dict[int, str]:
    """Which processes of ``tree`` are still alive ``timeout`` seconds after what started them
    was killed, each with its state, parent and command line; they are killed, so that one
    failure does not leave processes behind. A process that is exiting (its memory already
    released, not yet a zombie) has no environment left to find it by: this waits for it."""

    def running(pid: int, start: int) -> bool:
        return alive(pid) and started_at(pid) == start

    deadline = time.monotonic() + timeout
    while (left := [pid for pid, start in tree.items() if running(pid, start)]) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.02)
    found = {}
    for pid in left:
        found[pid] = f"{_proc_stat(pid)} {command_line(pid)}"
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return "?"


def descendants(pid: int) -> set[int]:
    """Every living process below ``pid`` (children, their children, ...)."""
    children: dict[int, list[int]] = {}
    for other in _pids():
        stat = _proc_stat(other)
        if stat is not None and stat[0] != "Z":
            children.setdefault(stat[1], []).append(other)
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def processes_under(home: Path) -> dict[int, str]:
    """Living processes started with ``home`` as their HOME, as every process the tests' runs
    start is (``environment``), wherever they were reparented: pid -> command line."""
    marker = b"HOME=" + os.fsencode(home)
    found = {}
    for pid in _pids():
        if pid == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:  # gone, or another user's
            continue
        stat = _proc_stat(pid)
        if marker in environ.split(b"\0") and stat is not None and stat[0] != "Z":
            line = command.replace(b"\0", b" ").decode(errors="replace").strip()
            found[pid] = f"{line} (pid {pid}, parent {stat[1]}, state {stat[0]})"
    return found


def processes_outliving(
    home: Path, keep: Collection[int] = (), timeout: float = 15
) -> dict[int, str]:
    """The processes under ``home`` (but ``keep``) still alive ``timeout`` seconds after what
    started them was killed: none, when everything ends with it. A process takes a moment to
    notice (a pipe's end, a parent's death), so this waits for them to go, and kills what is
    left so that one failure does not leave processes behind."""
    deadline = time.monotonic() + timeout
    while True:
        left = {pid: cmd for pid, cmd in processes_under(home).items() if pid not in keep}
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    for pid in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return left


def integrity(catalogue: Path) -> str:
    connection = sqlite3.connect(catalogue, timeout=30)
    try:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        connection.close()


def rows(catalogue: Path, sql: str, params: tuple = ()) -> list[tuple]:
    connection = sqlite3.connect(catalogue, timeout=30)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


def count(catalogue: Path, sql: str, params: tuple = ()) -> int:
    return rows(catalogue, sql, params)[0][0]


def records_against_disk(catalogue: Path, root: Path) -> tuple[int, int, int]:
    """(files on disk with no record, records of files not on disk, paths with more than one
    record) for the root at ``root``."""
    on_disk = {
        str(path.relative_to(root))
        for path in root.rglob("*")
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(root).parts)
    }
    recorded = [
        rel
        for (rel,) in rows(
            catalogue,
            "SELECT f.rel_path FROM file f JOIN root r ON r.id = f.root_id WHERE r.path = ?",
            (str(root),),
        )
    ]
    missing = len(on_disk - set(recorded))
    extra = len(set(recorded) - on_disk)
    doubled = len(recorded) - len(set(recorded))
    return missing, extra, doubled
