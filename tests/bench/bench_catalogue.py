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

- **people**: three people deciding on one shoot at once, each a process of its own making
  500 decisions (``Triage.decide`` as the app and ``decide`` make them, a few ms apart): each
  decision's latency (p50 / p95), and the decisions lost (made, not in the log under the
  person's name): on a library of real camera JPEGs (distinct copies of the fixtures);
- **burst**: 2,000 new files written into 20 new folders of a new root under ``shootwatch run``
  on the library's catalogue, its N files watched too (default settings: a file is recorded
  once it has not changed for the settle time, 2 s): from each file's close to its ``added``
  event, and the files never recorded (none may be);
- **events**: a reader in another process (``shootwatch events --follow --json``) told of
  events recorded a tenth of a second apart: from the event's time to the line read, through
  LISTEN/NOTIFY on PostgreSQL, next to SQLite's poll.

Targets: the no-change reconcile on PostgreSQL within 1.5x SQLite's; events p95 <= 100 ms
through NOTIFY; no decision lost. Reported, not asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
from contextlib import chdir
from pathlib import Path

from bench_cli import SHOOTWATCH, build_tree, environment, medians, ms, ratio
from benchtools import print_verdicts, table_lines, work_tree

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.postgres_cluster import PostgresCluster, why_unavailable  # noqa: E402

NO_CHANGE_TARGET = 1.5  # PostgreSQL's no-change reconcile, at most this many times SQLite's
EVENTS_TARGET = 0.100  # seconds, p95, from an event's time to a reader in another process
DATABASE = "bench_catalogue"
PEOPLE = ("ana", "ben", "cai")
PHOTOS = 300  # in the shoot the three people cull
SOURCES = ("nikon_d90.jpg", "canon_eos1000d_orient6.jpg", "panasonic_dmc-lx3_gps.jpg",
           "fujifilm_finepix_f40fd.jpg")  # fmt: skip
EVENTS = 60
BURST_FILES = 2000
EVENT_PACE = 0.1
# One person: opens the catalogue, says it is ready, waits for the go (a file), makes its
# decisions a few ms apart, and prints each one's seconds (JSON).
PERSON = """
import json, random, sys, time
from pathlib import Path
from core.store import open_catalogue
from core.store.models import Photo
from core.triage.decisions import Triage
location, name, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
with open_catalogue(location) as catalogue:
    ids = [photo.id for photo in Photo.select(Photo.id)]
    triage = Triage(catalogue.db, "bench", person=name)
    rnd = random.Random(name)
    Path(f"{go}.{name}").touch()
    while not go.exists():
        time.sleep(0.001)
    took = []
    for _ in range(count):
        photo, decision = rnd.choice(ids), rnd.choice(("approved", "rejected"))
        started = time.perf_counter()
        triage.decide(photo, decision)
        took.append(time.perf_counter() - started)
        time.sleep(rnd.uniform(0, 0.01))
print(json.dumps(took))
"""


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


def shoot_of_jpegs(folder: Path, photos: int) -> None:
    """``photos`` distinct copies of real camera JPEGs in one shoot folder."""
    from tests.helpers import REPO_CAMERA, camera_sample, distinct_copy

    found = [path for name in SOURCES if (path := camera_sample(name))]
    # Without the shared fixtures beside the checkout: the repository's own camera JPEGs.
    found = found or sorted(p for p in REPO_CAMERA.glob("*.jpg") if not p.name.startswith("bad_"))
    sources = [path.read_bytes() for path in found]
    folder.mkdir(parents=True)
    for n in range(photos):
        (folder / f"DSC_{n:05d}.JPG").write_bytes(distinct_copy(sources[n % len(sources)], n))


def people_deciding(location: str, env: dict[str, str], base: Path, count: int) -> dict:
    """Three people, a process each, ``count`` decisions each, at once: every decision's
    seconds, and how many of each person's are not in the log."""
    go = base / f"go-{abs(hash(location))}"
    people = [
        subprocess.Popen([sys.executable, "-c", PERSON, location, name, str(count), str(go)],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name in PEOPLE
    ]  # fmt: skip
    deadline = time.monotonic() + 120
    while not all(Path(f"{go}.{name}").exists() for name in PEOPLE):
        if time.monotonic() > deadline or any(p.poll() is not None for p in people):
            raise SystemExit(f"a person never got ready: {[p.communicate() for p in people]}")
        time.sleep(0.01)
    go.touch()
    took: list[float] = []
    for person in people:
        out, err = person.communicate(timeout=600)
        if person.returncode != 0:
            raise SystemExit(f"a person's process failed: {err[-2000:]}")
        took += json.loads(out)
    from tests.postgres_cluster import connect_directly

    connection = connect_directly(location)
    try:
        marks = "%s" if location.startswith("postgresql://") else "?"
        logged = {
            name: connection.execute(
                f"SELECT count(*) FROM decision WHERE person = {marks} AND source <> 'undo'",
                (name,),
            ).fetchone()[0]
            for name in PEOPLE
        }
    finally:
        connection.close()
    lost = sum(max(0, count - logged[name]) for name in PEOPLE)
    return {"took": took, "lost": lost, "logged": sum(logged.values())}


def event_latencies(location: str, env: dict[str, str], shootwatch: list[str]) -> list[float]:
    """Seconds from each event's time to the line a follower in another process printed."""
    from core.store import open_catalogue
    from core.store.events import EventKind, record_event

    follower = subprocess.Popen([*shootwatch, "events", "--follow", "--json", "--limit", "1"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)  # fmt: skip
    seen: dict[str, float] = {}

    def read() -> None:
        for line in follower.stdout:
            event = json.loads(line)
            if (event.get("path") or "").startswith("bench-event/"):
                seen[event["path"]] = time.time() - event["at"]

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        time.sleep(3)  # the follower started and read what was there
        with open_catalogue(location):
            for n in range(EVENTS):
                record_event(EventKind.ADDED, "bench", path=f"bench-event/{n}")
                time.sleep(EVENT_PACE)
            deadline = time.monotonic() + 10
            while len(seen) < EVENTS and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        follower.terminate()
        follower.wait(timeout=30)
    if len(seen) < EVENTS:
        raise SystemExit(f"the follower saw {len(seen)} of {EVENTS} events")
    return list(seen.values())


def burst_latencies(
    shootwatch: list[str], env: dict[str, str], base: Path, files: int
) -> tuple[list[float], int]:
    """``files`` new files in new folders of 100 under a running engine: seconds from each
    file's close to its ``added`` event, and how many were never recorded."""
    from tests.postgres_cluster import connect_directly

    root = base / "burst"
    root.mkdir(parents=True)
    subprocess.run([*shootwatch, "add", str(root)], env=env, check=True, capture_output=True)
    engine = subprocess.Popen([*shootwatch, "run"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    location = env["SHOOTWATCH_DB"]
    marks = "%s" if location.startswith("postgresql://") else "?"
    closed: dict[str, float] = {}
    seen: dict[str, float] = {}
    try:
        deadline = time.monotonic() + 120
        while (
            "engine running"
            not in subprocess.run(
                [*shootwatch, "status"], env=env, capture_output=True, text=True
            ).stdout
        ):
            if time.monotonic() > deadline or engine.poll() is not None:
                raise SystemExit("the engine never started for the burst")
            time.sleep(0.2)
        time.sleep(3)  # its first look at the root is over
        for n in range(files):
            folder = root / f"2025-06-{1 + n // 100:02d}"
            folder.mkdir(exist_ok=True)
            path = folder / f"DSC_{n:05d}.NEF"
            path.write_bytes(n.to_bytes(8, "little") * 256)
            closed[str(path.relative_to(root))] = time.time()
        connection = connect_directly(location)
        try:
            (root_id,) = connection.execute(
                f"SELECT id FROM root WHERE path = {marks}", (str(root),)
            ).fetchone()
            deadline = time.monotonic() + 60
            while len(seen) < files and time.monotonic() < deadline:
                for path, at in connection.execute(
                    f"SELECT path, at FROM event WHERE kind = 'added' AND root_id = {marks}",
                    (root_id,),
                ).fetchall():
                    seen.setdefault(path, at)
                time.sleep(0.2)
        finally:
            connection.close()
    finally:
        engine.terminate()
        try:
            engine.wait(timeout=60)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(engine.pid, signal.SIGKILL)  # a worker left behind
    took = [seen[path] - closed[path] for path in closed if path in seen]
    return took, files - len(took)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def p50_p95(values: list[float]) -> str:
    """Milliseconds to a tenth: a decision on SQLite takes less than one."""
    p50, p95 = statistics.median(values) * 1000, percentile(values, 0.95) * 1000
    return f"{p50:.1f} ms / {p95:.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--decisions", type=int, default=500, help="per person")
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
            culled, followed, bursts = {}, {}, {}
            for name, env in envs.items():
                shoot_env = dict(env)
                if name == "sqlite":
                    shoot_env["SHOOTWATCH_DB"] = str(base / "shoot.db")
                else:
                    shoot_env["SHOOTWATCH_DB"] = cluster.create_database(f"{DATABASE}_shoot")
                shoot_of_jpegs(base / f"shoot-{name}", PHOTOS)
                first_index(shootwatch, base / f"shoot-{name}", shoot_env)
                location = shoot_env["SHOOTWATCH_DB"]
                culled[name] = people_deciding(location, shoot_env, base, args.decisions)
                # Under the engine of the library's catalogue: its 100,000 files watched too.
                bursts[name] = burst_latencies(shootwatch, env, base / f"burst-{name}", BURST_FILES)
                followed[name] = event_latencies(location, shoot_env, shootwatch)
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
    for name, label in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL")):
        seen = culled[name]
        rows.append((f"3 people x {args.decisions} decisions at once: {label} (p50 / p95)",
                     p50_p95(seen["took"]), f"{seen['logged']:,} logged, {seen['lost']} lost",
                     "-", "0 lost"))  # fmt: skip
        targets.append((f"no decision lost, 3 people at once on {label}",
                        f"{seen['lost']} lost", seen["lost"] == 0))  # fmt: skip
    for name, label in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL")):
        took, missed = bursts[name]
        rows.append((f"{BURST_FILES:,}-file burst into new folders under the engine: {label}",
                     p50_p95(took) if took else "-", f"{missed} missed (settle time 2 s)", "-",
                     "0 missed"))  # fmt: skip
        targets.append((f"no file of the burst missed on {label}", f"{missed} missed",
                        missed == 0))  # fmt: skip
    events_ratio = percentile(followed["postgresql"], 0.95) / percentile(followed["sqlite"], 0.95)
    rows.append(("events to a reader in another process: PostgreSQL, NOTIFY (p50 / p95)",
                 p50_p95(followed["postgresql"]),
                 f"SQLite's poll {p50_p95(followed['sqlite'])}",
                 f"{events_ratio:.2f}x",
                 f"p95 <= {ms(EVENTS_TARGET)}"))  # fmt: skip
    events_p95 = percentile(followed["postgresql"], 0.95)
    targets.append((f"events p95 <= {ms(EVENTS_TARGET)} through NOTIFY", ms(events_p95),
                     events_p95 <= EVENTS_TARGET))  # fmt: skip
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
