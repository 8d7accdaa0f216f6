"""The card ingest benchmark: a card image (ext4 with a label, loop-mounted read-only, as a
reader mounts a card) of N camera files, copied by ``shootwatch ingest --from CARD`` as the user
runs it (a whole process) into ``ingest.destination`` and ``ingest.backup`` on two file systems
(two tmpfs), each copy read back and verified, next to ``cp -r`` of the card to one destination
and to both, in the same run. Every round starts from a cold card: unmounted, its image dropped
from the page cache, mounted again.

Run as root from the repository root (a standalone script, not a pytest test):

    python3 tests/bench/bench_card.py [--files N] [--file-mb M] [--rounds R] [--keep]

The files are bench_ingest's: a real JPEG head whose EXIF gives one of ten days, random bytes,
then real data (no sparse files: every reference reads and writes every byte). Targets: the
verified copy into two destinations at ≥ 0.8 of the throughput of ``cp`` into one; the
process's peak memory ≤ 200 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_cli import SHOOTWATCH, environment
from bench_ingest import Card as CameraFiles
from benchtools import print_verdicts, table_lines, work_tree, write_settings

TARGET_RATIO = 0.8
TARGET_PEAK_MB = 200
FILES_PER_FOLDER = 999  # DCF: 100CANON holds up to 9999 names; cameras roll folders earlier


class CardImage:
    """The card: an image file made once, mounted read-only for each round from a cold cache."""

    def __init__(self, base: Path, files: int, file_size: int) -> None:
        self.image = base / "card.img"
        self.path = base / "media" / "EOS_BENCH"
        self.path.mkdir(parents=True)
        size = files * file_size * 1.1 + (96 << 20)
        with open(self.image, "wb") as image:
            image.truncate(int(size))
        run(["mkfs.ext4", "-q", "-F", "-L", "EOS_BENCH", "-m", "0", str(self.image)])
        run(["mount", "-o", "loop", str(self.image), str(self.path)])
        maker = CameraFiles(file_size)
        body = maker.body()
        for n in range(files):
            folder = self.path / "DCIM" / f"{100 + n // FILES_PER_FOLDER}CANON"
            folder.mkdir(parents=True, exist_ok=True)
            maker.write_file(folder / f"IMG_{n % 10000:04d}.CR3", n, body)
        (self.path / "lost+found").rmdir()
        run(["umount", str(self.path)])
        self.bytes = sum(files * [file_size])
        self.mounted = False

    def insert_cold(self) -> None:
        """Mounted read-only, nothing of it in the page cache (the image's pages dropped)."""
        self.eject()
        run(["sync"])
        with open(self.image, "rb") as image:
            os.posix_fadvise(image.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        run(["mount", "-o", "loop,ro", str(self.image), str(self.path)])
        self.mounted = True

    def eject(self) -> None:
        if self.mounted:
            run(["umount", str(self.path)])
            self.mounted = False


def run(command: list[str]) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=600)


def timed_process(command: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Seconds, peak resident memory (bytes) and output of a whole process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = process.communicate()
    took = time.perf_counter() - started
    # The largest of the children reaped so far: the shootwatch processes (cp stays small).
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    if process.returncode != 0:
        raise SystemExit(
            f"{' '.join(command)} failed ({process.returncode}): {err.decode()[-2000:]}"
        )
    return took, peak, out.decode()


def empty(*folders: Path) -> None:
    for folder in folders:
        for child in folder.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=500, help="files on the card (default 500)")
    parser.add_argument("--file-mb", type=float, default=8.0, help="each file's size in MB")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench_card: needs root (it mounts a card image and two tmpfs); skipped")
        return 0
    file_size = int(args.file_mb * 1e6)
    mounted: list[Path] = []
    with work_tree("shootwatch-bench-card-", keep=args.keep) as base:
        try:
            card = CardImage(base, args.files, file_size)
            destinations = []
            for name in ("dest", "backup"):
                folder = base / name
                folder.mkdir()
                tmpfs_mb = int(card.bytes * 1.3 / 1e6) + 64
                run(["mount", "-t", "tmpfs", "-o", f"size={tmpfs_mb}m", "none", str(folder)])
                mounted.append(folder)
                destinations.append(folder)
            dest, backup = destinations
            figures: dict[str, list[float]] = {"cp one": [], "cp two": [], "shootwatch": []}
            peaks: list[int] = []
            source = card.path / "DCIM"
            for round_number in range(args.rounds):
                card.insert_cold()
                figures["cp one"].append(timed_process(["cp", "-r", str(source), str(dest)])[0])
                empty(dest)
                card.insert_cold()
                started = time.perf_counter()
                timed_process(["cp", "-r", str(source), str(dest)])
                timed_process(["cp", "-r", str(source), str(backup)])
                figures["cp two"].append(time.perf_counter() - started)
                empty(dest, backup)
                user = base / f"user-{round_number}"
                env = environment(user)
                env.pop("SHOOTWATCH_DB", None)
                write_settings(env, f"catalogue = {json.dumps(str(user / 'catalogue.db'))}\n\n"
                               f"[ingest]\ndestination = {json.dumps(str(dest / 'Originals'))}\n"
                               f"backup = {json.dumps(str(backup / 'Originals'))}\n")  # fmt: skip
                card.insert_cold()
                seconds, peak, out = timed_process(
                    [sys.executable, "-c", SHOOTWATCH, "ingest", "--from", str(card.path),
                     "--json"], env)  # fmt: skip
                report = json.loads(out)
                if report["copied"] != args.files or not report["safe_to_format"]:
                    raise SystemExit(f"the ingest copied {report['copied']} of {args.files}")
                figures["shootwatch"].append(seconds)
                peaks.append(peak)
                empty(dest, backup)
            card.eject()
        finally:
            for folder in mounted:
                subprocess.run(["umount", "-l", str(folder)], capture_output=True)
            subprocess.run(["umount", "-l", str(base / "media" / "EOS_BENCH")], capture_output=True)
    medians = {name: statistics.median(values) for name, values in figures.items()}
    rate = {name: card.bytes / seconds for name, seconds in medians.items()}
    ratio_one = rate["shootwatch"] / rate["cp one"]
    ratio_two = rate["shootwatch"] / rate["cp two"]
    megabytes = card.bytes / 1e6
    print(f"\na card of {args.files:,} files, {megabytes:,.0f} MB, cold for every run; medians of "
          f"{args.rounds} rounds\n")  # fmt: skip
    rows = [
        ("verified copy into two destinations", f"{rate['shootwatch'] / 1e6:,.0f} MB/s "
         f"({medians['shootwatch']:.2f} s)", f"cp -r into one {rate['cp one'] / 1e6:,.0f} MB/s "
         f"({medians['cp one']:.2f} s)", f"{ratio_one:.2f}", f">= {TARGET_RATIO}"),
        ("the same, against cp into both", "", f"cp -r into two {rate['cp two'] / 1e6:,.0f} MB/s "
         f"({medians['cp two']:.2f} s)", f"{ratio_two:.2f}", ""),
        ("peak memory of the process", f"{max(peaks) / 1e6:,.0f} MB", "", "",
         f"<= {TARGET_PEAK_MB} MB"),
    ]  # fmt: skip
    print("\n".join(table_lines(rows)))
    print_verdicts(
        ["the destinations are two tmpfs: what is read back comes from memory; on two drives "
         "the read-back reads the drives"],
        [(f"verified two-destination ingest >= {TARGET_RATIO}x cp into one", f"{ratio_one:.2f}",
          ratio_one >= TARGET_RATIO),
         (f"peak memory <= {TARGET_PEAK_MB} MB", f"{max(peaks) / 1e6:,.0f} MB",
          max(peaks) <= TARGET_PEAK_MB * 1e6)],
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
