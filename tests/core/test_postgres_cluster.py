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

from tests.helpers import REPO
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
