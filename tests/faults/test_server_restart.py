"""The catalogue's PostgreSQL server restarted, or stopped a while, under ``shootwatch run``
(the tests' private cluster, really stopped and started): the engine says it is degraded and
why, waits for the server with backoff, takes its lock again, loses nothing (every file written
meanwhile recorded once, without a rescan) and catches up; a decision made while the server is
down is refused in one sentence, and never recorded behind the person's back."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.engine.lock import running_engine_pid
from tests.faults.crashes import processes_outliving
from tests.helpers import REPO, wait_until, write
from tests.postgres_cluster import connect_directly
from tests.server_engines import Engines

CITY = REPO / "core" / "demo" / "photos" / "2024-11-16_city-night"
AWAY_SAID = "the catalogue's server cannot be reached since"


@pytest.fixture
def catalogue_backend() -> str:
    return "postgresql"


@pytest.fixture
def engines(tmp_path, postgres_server, catalogue_location) -> Iterator[Engines]:
    started = Engines(tmp_path, catalogue_location)
    try:
        yield started
    finally:
        if not postgres_server.is_running():  # a failed test leaves it as the next needs it
            postgres_server.start_server()
        started.end()
    assert processes_outliving(Path(os.environ["HOME"])) == {}


def catalogued(catalogue: str) -> list[str]:
    """The relative path of every file record, as another process sees the catalogue."""
    connection = connect_directly(catalogue)
    try:
        return [row[0] for row in connection.execute("SELECT rel_path FROM file ORDER BY 1")]
    finally:
        connection.close()


def said_away(catalogue: str) -> bool:
    """Whether the engine recorded itself degraded because the server was away."""
    connection = connect_directly(catalogue)
    try:
        rows = connection.execute(
            "SELECT payload FROM event WHERE kind = 'component_state' AND payload LIKE %s",
            (f"%{AWAY_SAID}%",),
        ).fetchall()
    finally:
        connection.close()
    return bool(rows)


def write_slowly(folder: Path, names: list[str], pause: float) -> threading.Thread:
    def run() -> None:
        for name in names:
            write(folder / name, f"photo {name}")
            time.sleep(pause)

    writer = threading.Thread(target=run)
    writer.start()
    return writer


@pytest.mark.parametrize("away_seconds", [0.0, 3.0], ids=["restart", "stopped 3 s"])
@pytest.mark.parametrize("after_seconds", [0.0, 0.4, 1.5])
@pytest.mark.parametrize("scanning", [False, True], ids=["watching", "startup scan"])
def test_the_server_away_under_the_engine_loses_nothing_and_the_engine_catches_up(
    engines, postgres_server, library, scanning, after_seconds, away_seconds
):
    """The server goes ``after_seconds`` into a startup scan of 600 files, or into a stream of
    60 files written while the engine watches, for ``away_seconds``."""
    before = [f"shoot/before_{n:04d}.JPG" for n in range(600 if scanning else 0)]
    for name in before:
        write(library / name, f"photo {name}")
    assert engines.command("add", str(library)).returncode == 0
    engine = engines.start()
    if scanning:
        engines.wait_running(engine)
    else:
        engines.wait_watching(engine)
    during = [f"shoot/during_{n:04d}.JPG" for n in range(60)]
    writer = write_slowly(library, during, pause=0.05)
    time.sleep(after_seconds)
    postgres_server.stop_server()
    time.sleep(away_seconds)
    postgres_server.start_server()
    writer.join()
    # Without a rescan: every file there, each once (rel_path is unique per root; the count
    # says no record was lost nor made twice).
    expected = sorted(before + during)
    wait_until(
        lambda: catalogued(engines.catalogue) == expected,
        120,
        lambda: f"every file catalogued (the engine said: {engines.log(engine)[-4000:]})",
    )
    assert engine.poll() is None, engines.log(engine)
    wait_until(lambda: running_engine_pid(engines.catalogue) == engine.pid, 60, "the lock again")
    log = engines.log(engine)
    if "went away while the engine started" in log:  # started again: there was no engine yet
        assert "starting again in" in log and log.count(": engine started (pid") == 1, log
    else:  # the engine said it was degraded, and why: in its log, then in the event log
        assert "cannot be reached" in log and "is back after" in log, log
        wait_until(lambda: said_away(engines.catalogue), 60, "degraded, in the event log")

    # Healthy again: only darktable (none in the settings) says something.
    def back() -> bool:
        states = engines.components()
        states.pop("darktable")
        return set(states.values()) <= {"idle", "running", "off"}

    wait_until(back, 60, lambda: f"every component back: {engines.status()}")
    assert "Traceback" not in log, log


def test_a_decision_while_the_server_is_down_is_refused_in_one_sentence(
    engines, postgres_server, tmp_path
):
    shoot = tmp_path / "library" / "2024-11-16"
    shutil.copytree(CITY, shoot, ignore=shutil.ignore_patterns("*.xmp", "darktable_exported"))
    assert engines.command("add", str(tmp_path / "library")).returncode == 0
    assert engines.command("scan").returncode == 0
    photo = str(shoot / "DSC_0101.JPG")
    postgres_server.stop_server()
    try:
        for decision in (("--reject",), ("--stars", "3")):
            refused = engines.command("decide", photo, *decision)
            assert refused.returncode == 2, refused
            assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
            assert refused.stderr.startswith("shootwatch: error: cannot open the catalogue")
            assert "nothing was read or changed" in refused.stderr, refused.stderr
    finally:
        postgres_server.start_server()
    shown = engines.command("show", photo, "--json")
    assert '"decision": "pending"' in shown.stdout, shown.stdout  # neither was kept for later
    decided = engines.command("decide", photo, "--reject")
    assert decided.returncode == 0 and "pending -> rejected" in decided.stdout, decided


@pytest.mark.parametrize("away_seconds", [0.0, 3.0], ids=["restart", "stopped 3 s"])
def test_events_follow_listens_again_after_the_server_was_away(
    engines, postgres_server, library, tmp_path, away_seconds
):
    from tests.core.test_engine_postgres import follow_without_polling

    assert engines.command("add", str(library)).returncode == 0
    engine = engines.start()
    engines.wait_watching(engine)
    output = tmp_path / "followed.jsonl"
    follower = follow_without_polling(engines, output)
    engines.started.append(follower)  # ended with the engines
    write(library / "shoot" / "before.JPG", "before")

    def followed() -> list[str]:
        assert follower.poll() is None, output.read_text()
        return [json.loads(line)["path"] for line in output.read_text().splitlines()]

    wait_until(lambda: followed() == ["shoot/before.JPG"], 60, "the first event followed")
    postgres_server.stop_server()
    time.sleep(away_seconds)
    postgres_server.start_server()
    after = [f"shoot/after_{n:02d}.JPG" for n in range(10)]
    for name in after:
        write(library / name, f"photo {name}")
    # Told by the server again (the follower's waits last an hour: no poll brings them).
    wait_until(lambda: sorted(followed()) == sorted(["shoot/before.JPG", *after]), 120,
               lambda: f"every event followed: {followed()}")  # fmt: skip


@pytest.mark.parametrize("mode", ["fast", "immediate"])
@pytest.mark.parametrize("decisions_before", [0, 1, 3])
def test_a_decision_on_a_connection_the_restart_ended_is_made_on_a_new_one(
    engines, postgres_server, tmp_path, mode, decisions_before
):
    """The app's connection was ended by a restart it has not noticed yet: the first decision
    after it is made (once) on a new connection, not refused."""
    from core.store import open_catalogue
    from core.triage.decisions import Triage

    shoot = tmp_path / "library" / "2024-11-16"
    shutil.copytree(CITY, shoot, ignore=shutil.ignore_patterns("*.xmp", "darktable_exported"))
    assert engines.command("add", str(tmp_path / "library")).returncode == 0
    assert engines.command("scan").returncode == 0
    with open_catalogue(engines.catalogue) as catalogue:
        photo_ids = [row[0] for row in catalogue.db.execute_sql("SELECT id FROM photo ORDER BY id")]
        triage = Triage(catalogue.db)
        for photo_id in photo_ids[:decisions_before]:
            triage.decide(photo_id, "approved")
        # The test server does not wait for the disk at commit (synchronous_commit off): what
        # the scan committed is written out first, so that an immediate stop keeps it as a
        # durable server does.
        postgres_server.execute("CHECKPOINT")
        postgres_server.restart(mode)
        change = triage.decide(photo_ids[-1], "rejected")
        assert (change.before, change.after) == ("pending", "rejected")
    connection = connect_directly(engines.catalogue)
    try:
        logged = connection.execute(
            "SELECT count(*) FROM decision WHERE photo_id = %s", (photo_ids[-1],)
        ).fetchone()[0]
    finally:
        connection.close()
    assert logged == 1  # made once
