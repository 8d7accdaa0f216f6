"""The engine on a catalogue on a PostgreSQL server, as whole processes (``shootwatch run``):
one engine per catalogue through the server's advisory lock, whatever machine it runs on; who
holds it, as ``status`` on another process tells; a killed engine's lock released by the
server; ``rescan`` asking the engine that runs. Every process started here is ended, and none
is left."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.engine.lock import running_engine_holder, running_engine_pid
from tests.faults.crashes import processes_outliving
from tests.helpers import REPO, command_settings, write

OTHER_MACHINE = "studio-nas"


def wait_until(condition: Callable[[], object], timeout: float = 60, what: str = "") -> object:
    """Poll until ``condition()`` is truthy (a bound for a hang, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"still not true after {timeout} s: {what or condition}")


@pytest.fixture
def catalogue_backend() -> str:
    return "postgresql"


@pytest.fixture
def server_catalogue(postgres_server, catalogue_location) -> str:
    return catalogue_location


def shootwatch_on(host: str | None, config: Path, *args: str) -> list[str]:
    """The command line of ``shootwatch --config CONFIG ARGS`` as a process; on ``host``, a
    process whose machine says that name (another machine, as far as the catalogue can tell;
    run with ``machine_environment``)."""
    if host is None:
        return [sys.executable, "-m", "core.cli", "--config", str(config), *args]
    program = (
        "import socket, sys; host = sys.argv.pop(1); socket.gethostname = lambda: host; "
        "from core.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    return [sys.executable, "-c", program, host, "--config", str(config), *args]


def machine_environment(host: str | None, base: Path) -> dict[str, str]:
    """The environment of a process on ``host``: another machine has runtime folders of its
    own, where an engine's control socket is (none of this machine's processes can reach it)."""
    if host is None:
        return dict(os.environ)
    runtime = base / f"runtime-{host}"
    runtime.mkdir(mode=0o700, exist_ok=True)
    return {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "TMPDIR": str(runtime)}


class Engines:
    """The engines a test starts (``shootwatch run`` processes), each ended at the end."""

    def __init__(self, base: Path, catalogue: str) -> None:
        self.base, self.catalogue = base, catalogue
        self.config = command_settings(base)
        self.started: list[subprocess.Popen] = []

    def start(self, host: str | None = None) -> subprocess.Popen:
        log = open(self.base / f"engine-{len(self.started)}.log", "w")  # noqa: SIM115
        process = subprocess.Popen(
            shootwatch_on(host, self.config, "--db", self.catalogue, "run"),
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL,
            env=machine_environment(host, self.base),
        )  # fmt: skip
        log.close()
        self.started.append(process)
        return process

    def log(self, process: subprocess.Popen) -> str:
        return (self.base / f"engine-{self.started.index(process)}.log").read_text()

    def wait_running(self, process: subprocess.Popen) -> None:
        def holds() -> bool:
            assert process.poll() is None, self.log(process)
            return running_engine_pid(self.catalogue) == process.pid

        wait_until(holds, what="the engine holds the catalogue's lock")

    def command(self, *args: str, host: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            shootwatch_on(host, self.config, "--db", self.catalogue, *args),
            capture_output=True, text=True, cwd=REPO, timeout=300, stdin=subprocess.DEVNULL,
            env=machine_environment(host, self.base),
        )  # fmt: skip

    def status(self) -> dict:
        result = self.command("status", "--json")
        assert "Traceback" not in result.stderr, result.stderr
        return json.loads(result.stdout)

    def end(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.terminate()
        for process in self.started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def engines(tmp_path, server_catalogue) -> Iterator[Engines]:
    started = Engines(tmp_path, server_catalogue)
    try:
        yield started
    finally:
        started.end()
    assert processes_outliving(Path(os.environ["HOME"])) == {}


def test_the_engine_runs_on_a_server_and_another_process_sees_its_health(
    engines, library, tmp_path
):
    assert engines.command("add", str(library)).returncode == 0
    engine = engines.start()
    engines.wait_running(engine)

    def components() -> dict[str, str]:
        return {c["component"]: c["status"] for c in engines.status()["engine"]["components"]}

    wait_until(
        lambda: (
            components().get("watcher") == "running" and components().get("reconciler") == "idle"
        ),
        what="the startup scan done and the watcher on",
    )
    status = engines.status()
    assert status["engine"]["pid"] == engine.pid and status["engine"]["host"] is None
    # The settings name no darktable library: the one thing status has to say.
    no_darktable = tmp_path / "no-darktable" / "library.db"
    assert status["problems"] == [f"darktable degraded: there is no file at {no_darktable}"]
    text = engines.command("status")
    assert f"engine running (pid {engine.pid}):" in text.stdout, text.stdout + text.stderr
    # It does the engine's work: a file written under the root reaches the catalogue.
    write(library / "2024-06-01" / "IMG_0001.JPG", "a photo")
    wait_until(
        lambda: any(
            json.loads(line)["path"] == "2024-06-01/IMG_0001.JPG"
            for line in engines.command("events", "--kind", "added", "--json").stdout.splitlines()
        ),
        what="the watcher's file in the event log",
    )
    engine.terminate()
    assert engine.wait(timeout=30) == 0, engines.log(engine)
    assert running_engine_holder(engines.catalogue) is None
    after = engines.status()
    assert after["engine"]["pid"] is None and after["healthy"], after["problems"]
    assert "no engine running" in engines.command("status").stdout


@pytest.mark.parametrize(
    ("first_on", "second_on"),
    [(None, None), (OTHER_MACHINE, None), (None, OTHER_MACHINE)],
    ids=["same machine", "first on another machine", "second on another machine"],
)
def test_a_second_engine_is_refused_in_one_sentence_naming_the_first(
    engines, library, first_on, second_on
):
    first = engines.start(first_on)
    engines.wait_running(first)
    holder = running_engine_holder(engines.catalogue)
    assert (holder.pid, holder.host) == (first.pid, first_on)
    second = engines.start(second_on)
    assert second.wait(timeout=120) == 2
    refusal = engines.log(second)
    # Said as the second's machine sees it: the first's machine named when it is another.
    first_host = first_on or socket.gethostname()
    where = f" on {first_host}" if first_host != (second_on or socket.gethostname()) else ""
    assert refusal == (
        f"shootwatch: an engine already runs on this catalogue (pid {first.pid}{where}); "
        "nothing to do\n"
    )
    status = engines.status()
    assert (status["engine"]["pid"], status["engine"]["host"]) == (first.pid, first_on)
    assert first.poll() is None  # the first runs on, untouched


@pytest.mark.parametrize("after_seconds", [0.0, 0.5, 2.0, 5.0])
def test_an_engine_killed_with_kill_9_leaves_the_lock_to_the_next(engines, library, after_seconds):
    assert engines.command("add", str(library)).returncode == 0
    killed = engines.start()
    engines.wait_running(killed)
    time.sleep(after_seconds)  # killed at another moment of its work each time
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    # The server ends the killed process's session, and its lock with it.
    wait_until(lambda: running_engine_holder(engines.catalogue) is None, what="the lock freed")
    status = engines.command("status")
    assert "no engine running" in status.stdout, status.stdout
    if after_seconds >= 2.0:  # it had beaten: its heartbeats tell it did not stop cleanly
        assert "the engine stopped without closing (killed?)" in status.stdout, status.stdout
    again = engines.start()
    engines.wait_running(again)
    assert engines.status()["engine"]["pid"] == again.pid


def test_rescan_asks_the_engine_that_runs_here_and_refuses_to_scan_beside_one_elsewhere(
    engines, library
):
    assert engines.command("add", str(library)).returncode == 0
    here = engines.start()
    engines.wait_running(here)
    asked = engines.command("rescan")
    assert asked.returncode == 0 and "the running engine will rescan" in asked.stdout, asked
    here.terminate()
    here.wait(timeout=30)
    elsewhere = engines.start(OTHER_MACHINE)
    engines.wait_running(elsewhere)
    refused = engines.command("rescan")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert f"an engine runs on this catalogue (pid {elsewhere.pid} on {OTHER_MACHINE})" in (
        refused.stderr
    )
    assert "scanning here" not in refused.stderr
