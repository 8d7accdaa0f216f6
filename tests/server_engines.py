"""Engines on a catalogue on the tests' private PostgreSQL server, as whole processes
(``shootwatch run``), on this machine or on another one (as far as the catalogue can tell: a
process whose machine says another name, with runtime folders of its own)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from core.engine.lock import running_engine_pid
from tests.helpers import REPO, command_settings, wait_until

OTHER_MACHINE = "studio-nas"


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


class Engines:
    """The engines a test starts (``shootwatch run`` processes), each ended at the end."""

    def __init__(self, base: Path, catalogue: str) -> None:
        self.base, self.catalogue = base, catalogue
        self.config = command_settings(base)
        self.started: list[subprocess.Popen] = []
        self._machines: dict[str, Path] = {}

    def start(self, host: str | None = None) -> subprocess.Popen:
        log = open(self.base / f"engine-{len(self.started)}.log", "w")  # noqa: SIM115
        process = subprocess.Popen(
            shootwatch_on(host, self.config, "--db", self.catalogue, "run"),
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL,
            env=self.environment(host),
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

    def components(self) -> dict[str, str]:
        """Each component's status, as ``status --json`` in another process shows it."""
        return {c["component"]: c["status"] for c in self.status()["engine"]["components"]}

    def wait_watching(self, process: subprocess.Popen) -> None:
        """Until the engine's startup scan is done and its watcher on: a file written from
        then on is an "added" event (one there before the first index is part of it)."""
        self.wait_running(process)
        wait_until(
            lambda: (
                (states := self.components()).get("watcher") == "running"
                and states.get("reconciler") == "idle"
            ),
            what="the startup scan done and the watcher on",
        )

    def command(self, *args: str, host: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            shootwatch_on(host, self.config, "--db", self.catalogue, *args),
            capture_output=True, text=True, cwd=REPO, timeout=300, stdin=subprocess.DEVNULL,
            env=self.environment(host),
        )  # fmt: skip

    def status(self) -> dict:
        result = self.command("status", "--json")
        assert "Traceback" not in result.stderr, result.stderr
        return json.loads(result.stdout)

    def environment(self, host: str | None) -> dict[str, str]:
        """The environment of a process on ``host``: another machine has a runtime folder of
        its own, where its engine's control socket is (none of this machine's processes can
        reach it). A short path: a unix socket's has 107 bytes at most."""
        if host is None:
            return dict(os.environ)
        if host not in self._machines:
            self._machines[host] = Path(tempfile.mkdtemp(prefix=f"sw-{host}-"))
        return {**os.environ, "XDG_RUNTIME_DIR": str(self._machines[host])}

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
        for folder in self._machines.values():
            shutil.rmtree(folder, ignore_errors=True)
