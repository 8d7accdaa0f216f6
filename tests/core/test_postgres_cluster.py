"""The tests' private PostgreSQL server (tests/postgres_cluster.py): it runs as another user than
root, leaves no server process and no folder behind, and its absence skips the PostgreSQL tests
with a reason, or fails them when CI requires it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import REPO, wait_until
from tests.postgres_cluster import PostgresCluster, connect_directly, server_processes


def test_a_cluster_runs_as_postgres_and_leaves_nothing_behind(postgres_server):
    # postgres_server first: it skips (or fails, in CI) when PostgreSQL cannot run here.
    cluster = PostgresCluster()
    try:
        cluster.start()
        assert server_processes(cluster.data) > 0
        connection = connect_directly(cluster.create_database("tried"))
        try:
            user = connection.execute("SELECT current_user").fetchone()[0]
            listens = connection.execute("SHOW listen_addresses").fetchone()[0]
        finally:
            connection.close()
        assert (user, listens) == (cluster.superuser, "")  # its socket only: no TCP port
        owner = (cluster.data / "PG_VERSION").stat().st_uid
        assert owner != 0 or os.geteuid() != 0
    finally:
        cluster.stop()
    assert server_processes(cluster.data) == 0
    assert not cluster.folder.exists()


OWNER_KILLED = textwrap.dedent(
    """
    import os, signal, sys
    from tests.postgres_cluster import PostgresCluster
    cluster = PostgresCluster()
    cluster.start()
    print(cluster.folder, cluster.data, flush=True)
    os.kill(os.getpid(), getattr(signal, sys.argv[1]))  # no teardown, as pytest-timeout kills
    """
)


@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGTERM"])
def test_a_cluster_whose_owner_is_killed_is_stopped_and_removed(postgres_server, signal_name):
    owner = subprocess.run(
        [sys.executable, "-c", OWNER_KILLED, signal_name],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert owner.returncode < 0, owner.stderr  # killed by its signal
    folder, data = (Path(word) for word in owner.stdout.split())
    wait_until(lambda: server_processes(data) == 0, 60, "the killed owner's server stopped")
    wait_until(lambda: not folder.exists(), 60, "the killed owner's cluster folder removed")


def test_a_cluster_stopped_by_its_owner_leaves_no_watchdog(postgres_server):
    cluster = PostgresCluster()
    try:
        cluster.start()
        watchdog = cluster._watchdog
        assert watchdog is not None and watchdog.poll() is None
    finally:
        cluster.stop()
    assert watchdog.poll() is not None and server_processes(cluster.data) == 0


USES_THE_SERVER = textwrap.dedent(
    """
    from tests.postgres_cluster import BOTH_BACKENDS

    @BOTH_BACKENDS
    def test_opens(catalogue):
        assert catalogue.db.get_tables()
    """
)


@pytest.mark.parametrize(
    ("required", "outcome"), [("", "1 passed, 1 skipped"), ("1", "1 passed, 1 error")]
)
def test_without_postgresql_its_tests_skip_with_a_reason_unless_required(
    tmp_path: Path, required: str, outcome: str
):
    (tmp_path / "test_uses_the_server.py").write_text(USES_THE_SERVER)
    (tmp_path / "conftest.py").write_text("from tests.conftest import *  # noqa: F403\n")
    environment = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "SHOOTWATCH_POSTGRES_BIN": str(tmp_path / "no-postgresql-here"),
        "SHOOTWATCH_REQUIRE_POSTGRES": required,
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True, text=True, env=environment, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert outcome in result.stdout, result.stdout + result.stderr
    reason = "PostgreSQL's initdb is not in"
    assert reason in result.stdout
