"""A private PostgreSQL server for the tests: a cluster made by ``initdb`` in a temporary folder,
run as the ``postgres`` user (the server refuses to run as root), listening only on a unix socket
in that folder, started and stopped with ``pg_ctl``, and removed at the end.

Debian's server binaries are in /usr/lib/postgresql/<version>/bin (package ``postgresql``);
``SHOOTWATCH_POSTGRES_BIN`` names another folder. Without them the PostgreSQL tests skip,
unless ``SHOOTWATCH_REQUIRE_POSTGRES=1`` (CI) makes them fail.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

import pytest

VERSION = 15
SERVER_USER = "postgres"  # the OS user the server runs as when the tests run as root
PORT = 5432  # names the socket file only: the server listens on no TCP port
START_SECONDS = 60


def server_binaries() -> Path:
    return Path(os.environ.get("SHOOTWATCH_POSTGRES_BIN", f"/usr/lib/postgresql/{VERSION}/bin"))


def why_unavailable() -> str | None:
    """Why no private server can be started here (None when one can)."""
    binaries = server_binaries()
    for program in ("initdb", "pg_ctl", "postgres"):
        if not os.access(binaries / program, os.X_OK):
            return f"PostgreSQL's {program} is not in {binaries} (Debian package postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"no '{SERVER_USER}' user to run PostgreSQL as (it refuses to run as root)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "the psycopg driver is not installed (pip install 'shootwatch[postgres]')"
    return None


def required() -> bool:
    return os.environ.get("SHOOTWATCH_REQUIRE_POSTGRES") == "1"


# Run beside each cluster: it waits on a pipe the cluster's owner holds, and when that ends
# with the cluster's folder still there (the owner was killed: pytest-timeout, kill -9, a
# crash, so no fixture's teardown ran), stops the server at once and removes the folder. A
# cluster stopped by ``stop()`` has no folder left, and the watchdog just ends.
WATCHDOG = """
import os, shutil, subprocess, sys
read_end, folder, data, *pg_ctl = sys.argv[1:]
while os.read(int(read_end), 64):
    pass
if os.path.isdir(folder):
    subprocess.run([*pg_ctl, "--pgdata", data, "--mode", "immediate", "--wait", "stop"],
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shutil.rmtree(folder, ignore_errors=True)
"""


def server_processes(data: Path) -> int:
    """How many processes of the server whose data folder is ``data`` run on this machine:
    PostgreSQL's processes work in their data folder (a server left running after its folder
    was removed still names it, "(deleted)"). Counted per cluster: other clusters on the
    machine (another test run, a benchmark) are not this one's."""
    binary = str((server_binaries() / "postgres").resolve())
    count = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "exe") == binary and os.readlink(entry / "cwd").startswith(
                str(data)
            ):
                count += 1
        except OSError:
            continue
    return count


class PostgresCluster:
    """One private cluster: ``start()``, ``create_database(name)`` for a URL, ``stop()``."""

    def __init__(self, durable: bool = False) -> None:
        """``durable``: the server's own defaults (fsync and all: a studio's server, for the
        benchmark); else durability off, for the tests' speed."""
        self.durable = durable
        # Not under pytest's tmp_path: its folders are root's alone, and the server runs as
        # another user. A short path, too: a unix socket's path has at most 107 bytes.
        self.folder = Path(tempfile.mkdtemp(prefix="shootwatch-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self.superuser = SERVER_USER
        self.as_other_user = os.geteuid() == 0
        if self.as_other_user:
            account = pwd.getpwnam(SERVER_USER)
            os.chown(self.folder, account.pw_uid, account.pw_gid)
        else:
            self.superuser = pwd.getpwuid(os.geteuid()).pw_name
        # Its socket is reached by any local user: tests drop root's permission bypass
        # (setpriv) around whole commands; the data folder itself stays the server's alone.
        os.chmod(self.folder, 0o711)
        self.started = False
        self._watchdog: subprocess.Popen | None = None
        self._owner_end = -1  # the pipe's end this process holds while the cluster lives

    def _pg_ctl(self) -> list[str]:
        command = [str(server_binaries() / "pg_ctl")]
        return ["runuser", "-u", SERVER_USER, "--", *command] if self.as_other_user else command

    def _start_watchdog(self) -> None:
        read_end, self._owner_end = os.pipe()
        try:
            self._watchdog = subprocess.Popen(
                [sys.executable, "-c", WATCHDOG, str(read_end), str(self.folder),
                 str(self.data), *self._pg_ctl()],
                pass_fds=(read_end,), cwd="/", start_new_session=True,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        finally:
            os.close(read_end)

    def _run(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(server_binaries() / program), *args]
        if self.as_other_user:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        result = subprocess.run(
            command, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False
        )
        if result.returncode != 0:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise RuntimeError(
                f"{program} failed ({result.returncode}): {result.stderr or result.stdout}{log}"
            )
        return result

    def start(self) -> None:
        self._run(
            "initdb", "--pgdata", str(self.data), "--username", self.superuser,
            "--auth", "trust", "--encoding", "UTF8", "--locale", "C", "--no-sync",
        )  # fmt: skip
        self.started = True  # from here on, stop() has something to stop
        self._start_watchdog()
        self.start_server()

    def start_server(self) -> None:
        """Start the server of the cluster made (again, after ``stop_server``)."""
        options = f"-c listen_addresses='' -c unix_socket_directories='{self.folder}' -p {PORT}"
        if not self.durable:
            options += " -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
        self._run(
            "pg_ctl", "--pgdata", str(self.data), "--log", str(self.log), "--options", options,
            "--wait", "--timeout", str(START_SECONDS), "start",
        )  # fmt: skip

    def stop_server(self, mode: str = "fast") -> None:
        """Stop the server and keep its data (``start_server`` starts it again): every
        session ends, as in a restart of a real server. ``mode``: pg_ctl's (fast, immediate)."""
        self._run("pg_ctl", "--pgdata", str(self.data), "--mode", mode, "--wait", "stop")

    def is_running(self) -> bool:
        command = [str(server_binaries() / "pg_ctl"), "--pgdata", str(self.data), "status"]
        if self.as_other_user:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        status = subprocess.run(command, capture_output=True, stdin=subprocess.DEVNULL, check=False)
        return status.returncode == 0

    def restart(self, mode: str = "fast") -> None:
        self.stop_server(mode)
        self.start_server()

    def url(self, database: str) -> str:
        """A libpq URL of ``database`` on this server, through its socket."""
        return f"postgresql://{self.superuser}@{quote(str(self.folder), safe='')}:{PORT}/{database}"

    def execute(self, sql: str, database: str = "postgres") -> None:
        """Run ``sql`` outside a transaction (CREATE DATABASE cannot run in one)."""
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as connection:
            connection.execute(sql)

    def create_database(self, name: str, options: str = "") -> str:
        """A new database; ``options`` of CREATE DATABASE (its language's sort order...)."""
        self.execute(f'CREATE DATABASE "{name}" {options}')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        try:
            if self.started:
                self._run(
                    "pg_ctl", "--pgdata", str(self.data), "--mode", "immediate", "--wait", "stop"
                )
        finally:
            self.started = False
            shutil.rmtree(self.folder, ignore_errors=True)
            if self._owner_end >= 0:  # the folder is gone: the watchdog ends, nothing to do
                os.close(self._owner_end)
                self._owner_end = -1
            if self._watchdog is not None:
                self._watchdog.wait(timeout=60)
                self._watchdog = None


# A test (or a module's ``pytestmark``) with this mark that uses the catalogue fixtures runs
# once per back end: a SQLite file, then a database on the private server (tests/conftest.py's
# pytest_generate_tests). A test of the module that opens no catalogue runs once.
BACKENDS = ("sqlite", "postgresql")
BOTH_BACKENDS = pytest.mark.both_backends


def connect_directly(location: Path | str) -> object:
    """A DB-API connection of the test's own to a catalogue (a file's path or a server's URL),
    in autocommit, as another process would have: it sees only what was committed."""
    if isinstance(location, str) and location.startswith("postgresql://"):
        import psycopg

        return psycopg.connect(location, autocommit=True)
    return sqlite3.connect(location, isolation_level=None, check_same_thread=False)


def catalogue_rows(catalogue: Path | str, query: str, params: tuple = ()) -> list[tuple] | None:
    """The rows of ``query`` (``?`` placeholders) read from the catalogue, a file's path or a
    server's URL, on a connection of the test's own; None while the catalogue is not made."""
    if isinstance(catalogue, str) and catalogue.startswith("postgresql://"):
        import psycopg

        try:
            with contextlib.closing(psycopg.connect(catalogue, autocommit=True)) as db:
                return db.execute(query.replace("?", "%s"), params).fetchall()
        except psycopg.errors.UndefinedTable:  # not made yet
            return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{catalogue}?mode=ro", uri=True)) as db:
            return db.execute(query, params).fetchall()
    except sqlite3.Error:  # not made yet
        return None
