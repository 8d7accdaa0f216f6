"""What a scan's surveys read of the catalogue: each survey's known files, read for many
surveys at once (core.store.queries.known_files_of_surveys), on both back ends; on a server,
in a number of queries that does not grow with the number of folders."""

from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from core.config import ScanSettings
from core.scan.ignore import IgnoreRules
from core.scan.reconcile import plan_surveys, reconcile_root
from core.scan.survey import SurveyTask, survey, surveys
from core.store import queries
from core.store.models import FileRecord, Root
from core.store.queries import SurveyScope, known_files_of_surveys
from tests.helpers import write
from tests.postgres_cluster import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS

# Names that break a prefix written as LIKE ('%', '_', '\\'), that sort between a folder's
# files and its sub-folders' ('a b' and 'a-b' before 'a/', 'a0' and 'a_b' after), unicode in
# its composed and decomposed forms, spaces.
TRICKY_FOLDERS = ("a", "a b", "a-b", "a_b", "a%b", "a\\b", "a0", "ab", "á", "a\u0301", "Ä x")
TREES = {
    "empty root": [],
    "files at the top only": ["one.jpg", "two.NEF"],
    "nested folders": [
        f"2024/2024-05-0{d}/sub{s}/IMG_{d}{s}.CR2" for d in range(1, 4) for s in range(3)
    ]
    + ["2024/top.jpg", "loose.jpg"],
    "many folders": [
        f"{y}/{y}-{m:02d}/DSC_{m:04d}.NEF" for y in (2021, 2022) for m in range(1, 61)
    ],
    "tricky names": [
        f"{folder}/{inner}/{name}"
        for folder in TRICKY_FOLDERS
        for inner in ("x", "x y", "x_y")
        for name in ("p.jpg", "p%.jpg", "p_1.jpg", "p\\q.jpg", "ü.jpg")
    ]
    + [f"{folder}.jpg" for folder in TRICKY_FOLDERS],
    "siblings sharing a prefix": [
        f"{name}/f.jpg" for name in ("a", "a b", "a_b", "a.b", "a0", "aa")
    ]
    + [f"a/{name}/g.jpg" for name in ("b", "b c", "b_c")],
}


def _write_tree(library: Path, paths: list[str]) -> None:
    library.mkdir(parents=True, exist_ok=True)
    for number, rel_path in enumerate(paths):
        write(library / rel_path, f"{rel_path} {number}")


def _settings(workers: int = 1) -> ScanSettings:
    return ScanSettings(ignore=(), workers=workers, hash_retries=3, own_folders=())


def _indexed(catalogue, library: Path, paths: list[str]) -> Root:
    _write_tree(library, paths)
    root = Root.create(path=str(library), kind="library", added_at=time.time())
    reconcile_root(catalogue, root, _settings())
    return root


def _scopes_of(root: Root, library: Path) -> list[list[SurveyScope]]:
    """The ways a scan splits the root: plans for 1, 2 and 8 workers (folders surveyed alone
    with their sub-folders claimed, sub-trees whole), and the whole root as one survey."""
    splits = []
    for target in (1, 32, 128):
        plan = plan_surveys(str(library), IgnoreRules(), target)
        splits.append([SurveyScope(root.id, *survey) for survey in plan])
    splits.append([SurveyScope(root.id, "", True)])
    return splits


def _under(rel_path: str, folder: str) -> bool:
    return folder == "" or rel_path.startswith(folder + "/")


def _expected(records: list[tuple], scope: SurveyScope) -> tuple[dict, set]:
    """What a survey of ``scope`` covers, by the meaning of a folder (its paths, by prefix,
    compared in Python), from every record of the root."""
    children = [f"{scope.rel_dir}/{c}" if scope.rel_dir else c for c in scope.claimed_children]
    known, unhashed = {}, set()
    for rel_path, record_id, size, mtime_ns, digest in records:
        if not _under(rel_path, scope.rel_dir):
            continue
        if not scope.recursive and any(_under(rel_path, child) for child in children):
            continue
        known[rel_path] = (rel_path, record_id, size, mtime_ns)
        if digest is None:
            unhashed.add(rel_path)
    return known, unhashed


@pytest.mark.parametrize("tree", list(TREES))
def test_each_survey_reads_the_records_of_its_part_of_the_root_whatever_the_names(
    catalogue, tmp_path, tree
):
    """Read for many surveys at once, each gets what its folder holds by the meaning of a
    folder: no record of a sibling sharing its name's start, of another root (here one whose
    path starts as this one's does, holding the same names), or of a claimed sub-folder."""
    paths = TREES[tree]
    library = tmp_path / "library"
    root = _indexed(catalogue, library, paths)
    other = _indexed(catalogue, tmp_path / "library b", [*paths, "a/only-there.jpg"])
    # Records the disk no longer has (a folder gone, a file gone), and one not hashed yet.
    for gone in ("gone/g.jpg", "a/gone.jpg", "a b/gone/x.jpg"):
        FileRecord.create(
            root=root, rel_path=gone, size=1, mtime_ns=1, kind="jpeg", blake3="b3", last_seen=1.0
        )
    FileRecord.update(blake3=None).where(
        (FileRecord.root == root) & (FileRecord.rel_path == (paths or ["gone/g.jpg"])[-1])
    ).execute()
    records = list(
        FileRecord.select(FileRecord.rel_path, FileRecord.id, FileRecord.size,
                          FileRecord.mtime_ns, FileRecord.blake3)
        .where(FileRecord.root == root).tuples()
    )  # fmt: skip
    assert FileRecord.select().where(FileRecord.root == other).count() == len(paths) + 1
    reader = queries.open_read_only(str(catalogue.location))
    try:
        for scopes in _scopes_of(root, library):
            read = list(known_files_of_surveys(reader, scopes))
            assert read == [_expected(records, scope) for scope in scopes], scopes
            # One survey at a time reads the same.
            assert read == [queries.load_known_files(reader, *scope) for scope in scopes]
        # Read in part (a scan handing its surveys over to workers), then again whole.
        scopes = _scopes_of(root, library)[1]
        partly = known_files_of_surveys(reader, scopes)
        assert next(partly) == _expected(records, scopes[0])
        partly.close()
        assert list(known_files_of_surveys(reader, scopes[1:])) == [
            _expected(records, scope) for scope in scopes[1:]
        ]
    finally:
        reader.close()


@pytest.mark.parametrize("tree", ["nested folders", "tricky names", "siblings sharing a prefix"])
def test_surveys_read_together_find_what_changed_as_surveys_read_alone(catalogue, tmp_path, tree):
    """The surveys of a scan, reading the catalogue for all of them at once, report the same
    files new, changed and gone as each reading its own part: and those the disk shows."""
    paths = TREES[tree]
    library = tmp_path / "library"
    root = _indexed(catalogue, library, paths)
    os.remove(library / paths[0])
    changed = library / paths[-1]
    changed.write_bytes(b"longer than it was before")
    new_one = f"{os.path.dirname(paths[len(paths) // 2])}/new one.jpg"
    write(library / new_one, "new")
    plan = plan_surveys(str(library), IgnoreRules(), 32)
    tasks = [
        SurveyTask(
            str(catalogue.location),
            root.id,
            str(library),
            rel_dir,
            recursive,
            claimed,
            ignore=(),
            excluded_paths=(),
            hash_retries=3,
        )
        for rel_dir, recursive, claimed in plan
    ]

    def found(results) -> tuple[set, set]:
        results = list(results)
        return (
            {seen.rel_path for result in results for seen in result.changed},
            {known.rel_path for result in results for known in result.missing},
        )

    together = found(surveys(tasks))
    assert together == found(survey(task) for task in tasks)
    assert together == ({paths[-1], new_one}, {paths[0]})


def _server_statements(log: Path, start: int, backend_pid: int) -> list[str]:
    """The statements the server logged from the session of ``backend_pid`` after ``start``."""
    with log.open(errors="replace") as text:
        text.seek(start)
        lines = text.read().splitlines()
    marker = f"[{backend_pid}]"
    return [
        line for line in lines if marker in line and ("statement:" in line or "execute" in line)
    ]


@pytest.mark.parametrize("catalogue_backend", ["postgresql"])
def test_on_a_server_the_surveys_of_a_scan_read_in_as_many_queries_whatever_the_folders(
    catalogue, tmp_path, postgres_server
):
    """Each query to a server is a round trip: the surveys of a root read its records in a
    number of statements (counted by the server, which logs each) that does not grow with
    the root's folders (the cost of a no-change scan there, one per folder, before)."""
    database = urlsplit(str(catalogue.location)).path.lstrip("/")
    postgres_server.execute(f"ALTER DATABASE \"{database}\" SET log_statement = 'all'")
    counts = {}
    for folders in (3, 40, 160):
        library = tmp_path / f"library-{folders}"
        paths = [f"{2020 + n // 30}/{2020 + n // 30}-{n % 30:02d}/IMG_{n}.jpg"
                 for n in range(folders)]  # fmt: skip
        root = _indexed(catalogue, library, paths)
        plan = plan_surveys(str(library), IgnoreRules(), 32)
        assert len(plan) > folders  # a survey for each folder
        scopes = [SurveyScope(root.id, *survey) for survey in plan]
        reader = queries.open_read_only(str(catalogue.location))
        try:
            pid = reader.execute("SELECT pg_backend_pid()").fetchone()[0]
            start = postgres_server.log.stat().st_size
            read = list(known_files_of_surveys(reader, scopes))
            statements = _server_statements(postgres_server.log, start, pid)
        finally:
            reader.close()
        assert sum(len(known) for known, _unhashed in read) == folders
        counts[folders] = len(statements)
    assert counts[3] == counts[40] == counts[160], counts
    # BEGIN, DECLARE, a FETCH of rows and the empty one, CLOSE, COMMIT; and the root folder's
    # own files (the one range with no upper bound).
    assert counts[160] <= 7, counts


@pytest.mark.parametrize("catalogue_backend", ["postgresql"])
def test_on_a_server_the_surveys_read_without_compiling_their_query_first(catalogue):
    """A survey's read of a whole library is estimated costly enough for the server to compile
    it (JIT) before it runs, which took longer than the read: its connection turns JIT off."""
    reader = queries.open_read_only(str(catalogue.location))
    try:
        assert reader.execute("SHOW jit").fetchone()[0] == "off"
    finally:
        reader.close()


@pytest.mark.parametrize("catalogue_backend", ["postgresql"])
def test_surveys_read_on_a_new_connection_when_the_server_ended_theirs(
    catalogue, tmp_path, postgres_server
):
    """A server restarted between two scans ends the connection a worker kept: the next
    survey's read is made on a new one, as any other read of theirs is."""
    library = tmp_path / "library"
    root = _indexed(catalogue, library, TREES["nested folders"])
    scopes = [
        SurveyScope(root.id, *survey) for survey in plan_surveys(str(library), IgnoreRules(), 32)
    ]
    reader = queries.open_read_only(str(catalogue.location))
    try:
        before = list(known_files_of_surveys(reader, scopes))
        pid = reader.execute("SELECT pg_backend_pid()").fetchone()[0]
        postgres_server.execute(f"SELECT pg_terminate_backend({pid:d})")
        assert list(known_files_of_surveys(reader, scopes)) == before
        assert sum(len(known) for known, _unhashed in before) == len(TREES["nested folders"])
    finally:
        reader.close()
