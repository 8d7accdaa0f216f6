"""The sidecar benchmark: what reading existing XMP when photos are first seen, and writing
decisions back into sidecars, cost.

Run from the repository root (a standalone script, not a pytest test):

    python3 tests/bench/bench_sidecars.py [--photos N] [--keep]

It builds a library of N photos (default 300): the darktable 4.2 fixture's JPEGs, each copy
made distinct by bytes after its end marker, each with a copy of darktable's own sidecar,
scanned into a real catalogue with the media workers as the engine does. Then:

- **first seen**: the existing XMP of all N photos read into triage (``read_existing_marks``,
  run again after clearing ``xmp_read_at``), next to the reference of only parsing the same
  sidecars (``read_sidecar``) in the same run;
- **a decision**: ``Triage.rate`` with write-back off and on (p50 / p95 over N decisions), and
  undo with write-back on, next to the reference of one atomic write (``write_atomically``, with
  its fsyncs) of the same sidecar, the floor of any write-back.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.config import (
    MediaSettings,
    ScanSettings,
)
from core.darktable.sidecar import read_sidecar
from core.files import write_atomically
from core.media.photos import MediaSync
from core.scan.reconcile import reconcile_root
from core.store import open_catalogue, queries
from core.triage.decisions import Triage
from core.triage.sidecar_read import read_existing_marks

WEDDING = Path(__file__).parents[1] / "fixtures" / "darktable-4.2" / "photos" / "2024-06-01_wedding"


def build(home: Path, photos: int) -> tuple:
    library = home / "photos"
    library.mkdir(parents=True)
    sources = [p for p in sorted(WEDDING.glob("IMG_00*.JPG")) if Path(f"{p}.xmp").exists()]
    for index in range(photos):
        source = sources[index % len(sources)]
        name = f"IMG_{index:05d}.JPG"
        (library / name).write_bytes(source.read_bytes() + index.to_bytes(4, "big"))
        shutil.copy(f"{source}.xmp", library / f"{name}.xmp")
    catalogue = open_catalogue(home / "catalogue.db")
    root, _ = queries.add_root(str(library))
    reconcile_root(catalogue, root, ScanSettings(workers=1))
    MediaSync(catalogue.db, MediaSettings(preview_cache=home / "previews")).run_until_idle()
    return catalogue, library


def percentiles(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
    return f"p50 {statistics.median(values) * 1000:7.2f} ms   p95 {p95 * 1000:7.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=300)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-sidecars-"))
    try:
        catalogue, library = build(home, args.photos)
        db = catalogue.db
        ids = [row[0] for row in db.execute_sql("SELECT id FROM photo ORDER BY id")]
        rated = db.execute_sql("SELECT count(*) FROM photo WHERE rating > 0").fetchone()[0]
        print(f"{len(ids)} photos, {rated} with stars read from darktable's sidecars")

        db.execute_sql("UPDATE photo SET xmp_read_at = NULL, rating = 0, labels = 0,"
                       " decision = 'pending'")  # fmt: skip
        started = time.perf_counter()
        with db.atomic():
            read_existing_marks(db, ids, time.time())
        seeding = time.perf_counter() - started
        started = time.perf_counter()
        for sidecar in sorted(library.glob("*.xmp")):
            read_sidecar(sidecar)
        parsing = time.perf_counter() - started
        print(f"first seen: read into triage  {seeding / len(ids) * 1000:6.3f} ms a photo")
        print(f"  reference: parse its sidecar {parsing / len(ids) * 1000:6.3f} ms a photo")

        for write_back in (False, True):
            triage = Triage(db, write_sidecars=write_back)
            times = []
            for number, photo_id in enumerate(ids):
                started = time.perf_counter()
                triage.rate(photo_id, 1 + number % 5)
                times.append(time.perf_counter() - started)
            print(f"a rating, write-back {'on ' if write_back else 'off'}  {percentiles(times)}")
        times = []
        for _ in ids:
            started = time.perf_counter()
            triage.undo()
            times.append(time.perf_counter() - started)
        print(f"undo, write-back on          {percentiles(times)}")
        sidecar = sorted(library.glob("*.xmp"))[0]
        data = sidecar.read_bytes()
        times = []
        for _ in ids:
            started = time.perf_counter()
            write_atomically(sidecar, data)
            times.append(time.perf_counter() - started)
        print(f"  reference: one atomic write {percentiles(times)}")
        catalogue.close()
    finally:
        if args.keep:
            print(f"kept: {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
