"""The catalogue benchmark: the same library on SQLite and on a local PostgreSQL server, each
measured as a user runs shootwatch (whole processes), next to ``find`` in the same run.

Run from the repository root (a standalone script, not a pytest test):

    python3 tests/bench/bench_catalogue.py [--files N] [--runs R] [--keep]

It starts a private PostgreSQL cluster (tests/postgres_cluster.py: ``initdb`` as the postgres
user, a unix socket only, the server's default settings: fsync on, as a studio's server runs;
the SQLite catalogue has its own defaults too), builds a tree of N
small files in dated folders (bench_cli's), and measures on each back end:

- **first index**: ``shootwatch add`` then ``shootwatch scan`` of the new tree, whole process
  (walk, hash, describe, group, write every record), next to ``find -printf`` of the tree;
- **no-change reconcile**: ``shootwatch scan`` of the unchanged tree, the median of R runs
  interleaved with ``find -printf`` and the other back end's scan, so all share the load.

Target: the no-change reconcile on PostgreSQL within 1.5x SQLite's. Reported, not asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from contextlib import chdir
from pathlib import Path

from bench_cli import SHOOTWATCH, build_tree, environment, medians, ms, ratio
from benchtools import print_verdicts, table_lines, work_tree

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.postgres_cluster import PostgresCluster, why_unavailable  # noqa: E402

NO_CHANGE_TARGET = 1.5  # PostgreSQL's no-change reconcile, at most this many times SQLite's
DATABASE = "bench_catalogue"


def first_index(shootwatch: list[str], library: Path, env: dict[str, str]) -> float:
    """``add`` (not timed) then the first ``scan``: its seconds."""
    subprocess.run([*shootwatch, "add", str(library)], env=env, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    started = time.perf_counter()
    result = subprocess.run([*shootwatch, "scan"], env=env, capture_output=True, text=True)
    took = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"the first scan failed ({result.returncode}): {result.stderr[-2000:]}")
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    unavailable = why_unavailable()
    if unavailable is not None:
        print(f"no PostgreSQL server can be started here: {unavailable}; nothing measured")
        return 1
    print(
        f"bench_catalogue: CPython {platform.python_version()}, {os.cpu_count()} cores, "
        f"{args.files:,} files, {args.runs} runs per command, median (p50)"
    )
    rows, targets, notes = [], [], []
    cluster = PostgresCluster(durable=True)
    try:
        cluster.start()
        url = cluster.create_database(DATABASE)
        with work_tree("bench-catalogue-", keep=args.keep) as base, chdir(base):
            library = base / "library"
            build_tree(library, args.files)
            shootwatch = [sys.executable, "-c", SHOOTWATCH]
            envs = {"sqlite": environment(base / "sqlite"), "postgresql": environment(base / "pg")}
            envs["postgresql"]["SHOOTWATCH_DB"] = url
            find = ["find", str(library), "-printf", r"%s %T@ %p\n"]
            first = {name: first_index(shootwatch, library, env) for name, env in envs.items()}
            found = medians(
                {"find": find, "sqlite": [*shootwatch, "scan"],
                 "postgresql": [*shootwatch, "scan"]},
                {"find": envs["sqlite"], **envs},
                args.runs,
            )  # fmt: skip
    finally:
        cluster.stop()
    for name, label in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL")):
        rows.append((f"first index, {args.files:,} files: {label}", f"{first[name]:.2f} s",
                     f"find -printf {ms(found['find'])}", ratio(first[name], found["find"]),
                     "-"))  # fmt: skip
    for name, label in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL")):
        rows.append((f"no-change reconcile, {args.files:,} files: {label}", ms(found[name]),
                     f"find -printf {ms(found['find'])}", ratio(found[name], found["find"]),
                     "-"))  # fmt: skip
    server_ratio = found["postgresql"] / found["sqlite"]
    rows.append(("no-change reconcile: PostgreSQL against SQLite", ms(found["postgresql"]),
                 f"SQLite {ms(found['sqlite'])}", f"{server_ratio:.2f}x",
                 f"<= {NO_CHANGE_TARGET}x"))  # fmt: skip
    targets.append((f"PostgreSQL no-change reconcile <= {NO_CHANGE_TARGET}x SQLite's",
                    f"{server_ratio:.2f}x", server_ratio <= NO_CHANGE_TARGET))  # fmt: skip
    notes.append("whole processes (the shootwatch script's entry); the server is local, "
                 "through its unix socket, with its default settings (fsync on)")  # fmt: skip
    notes.append("first index: the files are small and not photos: hashed and described "
                 "(sniffed), no previews")  # fmt: skip
    print()
    print("\n".join(table_lines(rows)))
    print_verdicts(notes, targets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
