"""The engine on a catalogue on a PostgreSQL server, as whole processes (``shootwatch run``),
in what only a server has (the rest of the engine's tests run on both back ends, in
test_engine): one engine per catalogue through the server's advisory lock, whatever machine
it runs on; who holds it, as ``status`` on another process tells; a killed engine's lock
released by the server; ``rescan`` asking the engine that runs; ``events --follow`` told
through NOTIFY. Every process started here is ended, and none is left."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.engine.lock import running_engine_holder
from tests.faults.crashes import processes_outliving
from tests.helpers import REPO, wait_until, write
from tests.server_engines import OTHER_MACHINE, Engines


@pytest.fixture
def catalogue_backend() -> str:
    return "postgresql"


@pytest.fixture
def server_catalogue(postgres_server, catalogue_location) -> str:
    return catalogue_location


@pytest.fixture
def engines(tmp_path, server_catalogue) -> Iterator[Engines]:
    started = Engines(tmp_path, server_catalogue)
    try:
        yield started
    finally:
        started.end()
    assert processes_outliving(Path(os.environ["HOME"])) == {}


def test_another_process_sees_the_engine_on_a_server_its_health_and_where_it_runs(
    engines, library, tmp_path
):
    """What the engine does on a server (files, events, status, a clean stop) is
    test_engine's, on both back ends; here, what another process reads of the lock's holder
    and of its health."""
    assert engines.command("add", str(library)).returncode == 0
    engine = engines.start()
    engines.wait_watching(engine)
    status = engines.status()
    assert status["engine"]["pid"] == engine.pid and status["engine"]["host"] is None
    # The settings name no darktable library: the one thing status has to say.
    no_darktable = tmp_path / "no-darktable" / "library.db"
    assert status["problems"] == [f"darktable degraded: there is no file at {no_darktable}"]
    text = engines.command("status")
    assert f"engine running (pid {engine.pid}):" in text.stdout, text.stdout + text.stderr
    engine.terminate()
    assert engine.wait(timeout=30) == 0, engines.log(engine)
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


def follow_without_polling(engines: Engines, output: Path) -> subprocess.Popen:
    """``shootwatch events --follow`` as a process of its own, whose poll is as good as never
    and whose every wait for NOTIFY lasts an hour: an event reaches it only if the server
    announces it."""
    program = (
        "import sys; from core.cli import service, main; "
        "service.FOLLOW_POLL_SECONDS = service.FOLLOW_WAIT_SECONDS = 3600; sys.exit(main())"
    )
    with open(output, "w") as out:
        return subprocess.Popen(
            [sys.executable, "-c", program, "--config", str(engines.config), "--db",
             engines.catalogue, "events", "--follow", "--json", "--kind", "added", "--limit", "0"],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip


@pytest.mark.parametrize("files", [1, 25, 150])
@pytest.mark.parametrize("pause", [0.0, 0.05])
def test_events_follow_on_a_server_receives_the_engines_events_through_notify(
    engines, library, tmp_path, files, pause
):
    assert engines.command("add", str(library)).returncode == 0
    engine = engines.start()
    engines.wait_watching(engine)
    output = tmp_path / "followed.jsonl"
    follower = follow_without_polling(engines, output)
    engines.started.append(follower)  # ended with the engines
    names = [f"2024-06-01/IMG_{n:04d}.JPG" for n in range(files)]
    for name in names:
        write(library / name, f"photo {name}")
        time.sleep(pause)

    def followed() -> list[str]:
        assert follower.poll() is None, output.read_text()
        return [json.loads(line)["path"] for line in output.read_text().splitlines()]

    wait_until(lambda: len(followed()) >= files, what=f"{files} events followed")
    time.sleep(0.5)  # anything more (a second copy) would be here by now
    assert sorted(followed()) == names  # each once
