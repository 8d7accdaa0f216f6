"""The bursts benchmark: grouping a shoot into bursts, and the triage queue over it.

Run from the repository root (a standalone script, not a pytest test):

    python3 tests/bench/bench_bursts.py [--photos N] [--batch B] [--keep]

It makes a catalogue of N photos (default 5,000) with SQL, as a shoot of two bodies looks once
the media pipeline has measured it: runs of 1 to 8 frames (0.1-1.5 s apart) with the
perceptual hashes of real photos shifted, blurred and brightened frame to frame (computed from
the demo's pixels with imagehash), runs 3-60 s apart. Then it measures, next to a reference
from the same run (reading the same rows, with the same query, and nothing else):

- ``regroup_all``: every photo grouped and written, photos/s;
- ``regroup`` as the media pipeline calls it, batch by batch of B photos (default 32), in shot
  order, from a catalogue with no bursts yet: photos/s;
- the triage queue of all photos, as is, collapsed to burst picks and sorted by sharpness.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.store import open_catalogue
from core.store.photos import shots_of_bodies
from core.triage.bursts import regroup, regroup_all
from core.triage.queue import Queue
from tests.bench.benchtools import print_verdicts, table_lines, work_tree
from tests.bursts_sequences import burst_frames, phash, real_sources

BODIES = (("NIKON CORPORATION", "NIKON D750"), ("Canon", "Canon EOS R5"))


def real_runs() -> list[list[str]]:
    """Hashes of runs of frames made from each real photo: what a burst of it hashes to."""
    return [[phash(frame) for frame in burst_frames(path.name, 8)] for path in real_sources()]


def build(db, photos: int, runs: list[list[str]], seed: int = 7) -> None:
    rng = random.Random(seed)
    now = time.time()
    db.execute_sql(
        "INSERT INTO root (path, kind, state, added_at) VALUES ('/bench', 'library', 'online', ?)",
        (now,),
    )
    wall = 1_731_793_591.0
    photo_rows, file_rows = [], []
    while len(photo_rows) < photos:
        size = rng.choice([1, 1, 1, 2, 3, 5, 8])
        hashes = rng.choice(runs)
        make, model = rng.choice(BODIES)
        for i in range(min(size, photos - len(photo_rows))):
            photo_id = len(photo_rows) + 1
            photo_rows.append((photo_id, f"b{photo_id:08d}", wall, make, model, hashes[i],
                               rng.uniform(50, 3000), now))  # fmt: skip
            file_rows.append((photo_id, f"shoot/IMG_{photo_id:05d}.JPG", now, photo_id))
            wall += rng.uniform(0.1, 1.5)
        wall += rng.uniform(3, 60)
    with db.atomic():
        db.cursor().executemany(
            "INSERT INTO photo (id, blake3, capture_time, camera_make, camera_model, phash,"
            " sharpness, decision, rating, labels, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, 0, ?)",
            photo_rows,
        )
        db.cursor().executemany(
            "INSERT INTO file (id, root_id, rel_path, size, mtime_ns, last_seen, scan_generation,"
            " kind, photo_id, role) VALUES (?, 1, ?, 1, 1, ?, 0, 'jpeg', ?, 'original')",
            file_rows,
        )


def timed(work, rounds: int = 3) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    runs = real_runs()
    with work_tree("bench-bursts-", keep=args.keep) as base:
        catalogue = open_catalogue(base / "catalogue.db")
        db = catalogue.db
        build(db, args.photos, runs)
        reading = timed(lambda: shots_of_bodies(db, None, None, None))

        def group_all() -> None:
            db.execute_sql("UPDATE photo SET burst = NULL")
            with db.atomic():
                regroup_all(db)

        whole = timed(group_all)
        bursts = db.execute_sql("SELECT count(DISTINCT burst) FROM photo").fetchone()[0]
        in_bursts = db.execute_sql("SELECT count(burst) FROM photo").fetchone()[0]
        order = [row[0] for row in shots_of_bodies(db, None, None, None)]

        def group_in_batches() -> None:
            db.execute_sql("UPDATE photo SET burst = NULL")
            for start in range(0, len(order), args.batch):
                with db.atomic():
                    regroup(db, order[start : start + args.batch])

        batched = timed(group_in_batches, rounds=1)
        plain = timed(lambda: Queue(db, "all"))
        collapsed = timed(lambda: Queue(db, "all", collapsed=True))
        sorted_ = timed(lambda: Queue(db, "all sort:sharpness"))
        leaders = timed(lambda: Queue(db, "leaders"))
        catalogue.close()
    n = args.photos
    rows = [
        ("regroup_all", f"{whole:.3f} s, {n / whole:,.0f} photos/s",
         f"reading the rows {reading:.3f} s", f"{whole / reading:.1f}", ""),
        (f"regroup, batches of {args.batch}", f"{batched:.3f} s, {n / batched:,.0f} photos/s",
         f"reading the rows {reading:.3f} s", f"{batched / reading:.1f}", "≥ 200 photos/s"),
        ("queue, all", f"{plain * 1000:.0f} ms", "", "", ""),
        ("queue, collapsed", f"{collapsed * 1000:.0f} ms", f"all {plain * 1000:.0f} ms",
         f"{collapsed / plain:.1f}", ""),
        ("queue, sort:sharpness", f"{sorted_ * 1000:.0f} ms", f"all {plain * 1000:.0f} ms",
         f"{sorted_ / plain:.1f}", ""),
        ("queue, leaders", f"{leaders * 1000:.0f} ms", f"all {plain * 1000:.0f} ms",
         f"{leaders / plain:.1f}", ""),
    ]  # fmt: skip
    print(f"{n:,} photos, {bursts - 1:,} bursts holding {in_bursts:,} of them")
    print("\n".join(table_lines(rows)))
    print_verdicts(
        ["grouping alone; the hashes and focus scores are measured with the previews "
         "(core.media.looks, tests/bench/bench_cull_looks.py)"],
        [("grouping ≥ 200 photos/s in the media pipeline's batches", f"{n / batched:,.0f}/s",
          n / batched >= 200)],
    )  # fmt: skip


if __name__ == "__main__":
    main()
