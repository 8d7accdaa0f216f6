"""The card ingest benchmark: a card image (ext4 with a label, loop-mounted read-only, as a
reader mounts a card) of N camera files, copied by ``shootwatch ingest --from CARD`` as the user
runs it (a whole process) into ``ingest.destination`` and ``ingest.backup`` on two file systems
(two tmpfs, or with ``--destinations disk`` an ext4 and an xfs image on the disk), each copy
read back and verified, next to ``cp -r`` of the card to one destination and to both (each
followed by ``sync -f`` of its destinations: the copies on the drive, as shootwatch's are), in
the same run. Every round starts from a cold card: unmounted, its image dropped from the page
cache, mounted again. ``--card-mbps`` reads the card at a card reader's speed (the block
layer's read throttle on its loop device, for every process timed alike): a UHS-I card reads at
about 90 MB/s, UHS-II 250 MB/s, CFexpress 1,500 MB/s.

Run as root from the repository root (a standalone script, not a pytest test):

    python3 tests/bench/bench_card.py [--files N] [--file-mb M] [--rounds R] [--keep]
        [--card-mbps MB] [--destinations tmpfs|disk] [--zeros]

The files are bench_ingest's: a real JPEG head whose EXIF gives one of ten days, random bytes,
then real data (no sparse files: every reference reads and writes every byte). With ``--zeros``
the data after the head is zeros, written on the card (so read through the card) but dug out of
the image file on the disk, so a 20 GB card takes little room; the copies still write every
byte (``cp --sparse=never``). Targets: the
verified copy into two destinations at ≥ 0.8 of the throughput of ``cp`` into one; the
process's peak memory ≤ 200 MB.
"""

from __future__ import annotations

import argparse
import contextlib
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
DIG_EVERY_BYTES = 1 << 30  # with --zeros: the card image's zeros dug out of the disk this often
FILES_PER_FOLDER = 999  # DCF: 100CANON holds up to 9999 names; cameras roll folders earlier


class CardImage:
    """The card: an image file made once, mounted read-only for each round from a cold cache."""

    def __init__(self, base: Path, files: int, file_size: int, zeros: bool = False) -> None:
        self.image = base / "card.img"
        self.path = base / "media" / "EOS_BENCH"
        self.path.mkdir(parents=True)
        size = files * file_size * 1.1 + (96 << 20)
        with open(self.image, "wb") as image:
            image.truncate(int(size))
        run(["mkfs.ext4", "-q", "-F", "-L", "EOS_BENCH", "-m", "0", str(self.image)])
        run(["mount", "-o", "loop", str(self.image), str(self.path)])
        maker = CameraFiles(file_size)
        body = bytes(file_size) if zeros else maker.body()
        written = 0
        for n in range(files):
            folder = self.path / "DCIM" / f"{100 + n // FILES_PER_FOLDER}CANON"
            folder.mkdir(parents=True, exist_ok=True)
            maker.write_file(folder / f"IMG_{n % 10000:04d}.CR3", n, body)
            written += file_size
            if zeros and written >= DIG_EVERY_BYTES:  # the disk never holds the card's zeros
                run(["sync", "-f", str(self.path)])
                run(["fallocate", "--dig-holes", str(self.image)])
                written = 0
        (self.path / "lost+found").rmdir()
        run(["umount", str(self.path)])
        if zeros:  # the card's blocks of zeros stay the card's; the disk keeps none of them
            run(["fallocate", "--dig-holes", str(self.image)])
        self.bytes = sum(files * [file_size])
        self.mounted = False
        self.device = ""  # the loop device it is mounted on, "MAJOR:MINOR"

    def insert_cold(self) -> None:
        """Mounted read-only, nothing of it in the page cache (the image's pages dropped)."""
        self.eject()
        run(["sync"])
        with open(self.image, "rb") as image:
            os.posix_fadvise(image.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        run(["mount", "-o", "loop,ro", str(self.image), str(self.path)])
        self.mounted = True
        source = subprocess.run(["findmnt", "-no", "SOURCE", str(self.path)], check=True,
                                capture_output=True, text=True).stdout.strip()  # fmt: skip
        self.device = subprocess.run(["lsblk", "-dno", "MAJ:MIN", source], check=True,
                                     capture_output=True, text=True).stdout.strip()  # fmt: skip

    def eject(self) -> None:
        if self.mounted:
            run(["umount", str(self.path)])
            self.mounted = False


class CardReader:
    """The card read at a card reader's speed: every process timed runs in a block-I/O control
    group whose reads of the card's loop device are throttled (cgroup v1 blkio, else v2 io)."""

    def __init__(self, megabytes_per_second: float) -> None:
        self.rate = int(megabytes_per_second * 1e6)
        self.group: Path | None = None
        if not self.rate:
            return
        for parent, limit_file in (("/sys/fs/cgroup/blkio", "blkio.throttle.read_bps_device"),
                                   ("/sys/fs/cgroup", "io.max")):  # fmt: skip
            if (Path(parent) / limit_file).exists() or Path(parent, "cgroup.procs").exists():
                group = Path(parent) / f"shootwatch-bench-card-{os.getpid()}"
                group.mkdir(exist_ok=True)
                if (group / limit_file).exists():
                    self.group, self.limit_file = group, limit_file
                    return
                group.rmdir()
        raise SystemExit("bench_card: --card-mbps needs a block-I/O control group (blkio or io)")

    def limit(self, device: str) -> None:
        """The throttle on the card's loop device, mounted again for this round."""
        if self.group is None:
            return
        value = (f"{device} {self.rate}" if self.limit_file.startswith("blkio")
                 else f"{device} rbps={self.rate}")  # fmt: skip
        (self.group / self.limit_file).write_text(value + "\n")

    def command(self, command: list[str]) -> list[str]:
        """``command`` run inside the group."""
        if self.group is None:
            return command
        join = f'echo $$ > {self.group / "cgroup.procs"} && exec "$@"'
        return ["sh", "-c", join, "sh", *command]

    def close(self) -> None:
        if self.group is not None:
            with contextlib.suppress(OSError):
                self.group.rmdir()


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


def mount_destination(folder: Path, kind: str, size_bytes: int, base: Path) -> None:
    """A destination file system at ``folder``: a tmpfs, or an ext4 / xfs image on the disk
    (a sparse image file, loop-mounted)."""
    megabytes = int(size_bytes * 1.15 / 1e6) + 512
    if kind == "tmpfs":
        run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "none", str(folder)])
        return
    image = base / f"{folder.name}-{kind}.img"
    with open(image, "wb") as handle:
        handle.truncate(megabytes * 1_000_000)
    run([f"mkfs.{kind}", "-q", *(["-F"] if kind == "ext4" else ["-f"]), str(image)])
    run(["mount", "-o", "loop", str(image), str(folder)])


def copied_by_cp(reader: CardReader, source: Path, *destinations: Path) -> float:
    """Seconds for ``cp -r`` of the card into each destination in turn, then ``sync -f`` of
    each (the copies on the drive, as shootwatch's are when it says so)."""
    started = time.perf_counter()
    for destination in destinations:
        timed_process(reader.command(["cp", "-r", "--sparse=never", str(source),
                                      str(destination)]))  # fmt: skip
    for destination in destinations:
        timed_process(["sync", "-f", str(destination)])
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=500, help="files on the card (default 500)")
    parser.add_argument("--file-mb", type=float, default=8.0, help="each file's size in MB")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument(
        "--card-mbps",
        type=float,
        default=0,
        help="read the card at this many MB/s (default: as fast as it reads)",
    )
    parser.add_argument(
        "--destinations",
        choices=("tmpfs", "disk"),
        default="tmpfs",
        help="two tmpfs (default), or an ext4 and an xfs image on the disk",
    )
    parser.add_argument(
        "--zeros",
        action="store_true",
        help="zeros after each file's head (a large card in little room)",
    )
    args = parser.parse_args()  # fmt: skip
    if os.geteuid() != 0:
        print("bench_card: needs root (it mounts a card image and two file systems); skipped")
        return 0
    file_size = int(args.file_mb * 1e6)
    kinds = ("tmpfs", "tmpfs") if args.destinations == "tmpfs" else ("ext4", "xfs")
    if args.destinations == "disk" and not shutil.which("mkfs.xfs"):
        kinds = ("ext4", "ext4")
    mounted: list[Path] = []
    reader = CardReader(args.card_mbps)
    with work_tree("shootwatch-bench-card-", keep=args.keep) as base:
        try:
            card = CardImage(base, args.files, file_size, zeros=args.zeros)
            destinations = []
            for name, kind in zip(("dest", "backup"), kinds, strict=True):
                folder = base / name
                folder.mkdir()
                mount_destination(folder, kind, card.bytes, base)
                mounted.append(folder)
                destinations.append(folder)
            dest, backup = destinations
            figures: dict[str, list[float]] = {"cp one": [], "cp two": [], "shootwatch": []}
            peaks: list[int] = []
            source = card.path / "DCIM"
            for round_number in range(args.rounds):
                card.insert_cold()
                reader.limit(card.device)
                figures["cp one"].append(copied_by_cp(reader, source, dest))
                empty(dest)
                card.insert_cold()
                reader.limit(card.device)
                figures["cp two"].append(copied_by_cp(reader, source, dest, backup))
                empty(dest, backup)
                user = base / f"user-{round_number}"
                env = environment(user)
                env.pop("SHOOTWATCH_DB", None)
                write_settings(env, f"catalogue = {json.dumps(str(user / 'catalogue.db'))}\n\n"
                               f"[ingest]\ndestination = {json.dumps(str(dest / 'Originals'))}\n"
                               f"backup = {json.dumps(str(backup / 'Originals'))}\n")  # fmt: skip
                card.insert_cold()
                reader.limit(card.device)
                seconds, peak, out = timed_process(reader.command(
                    [sys.executable, "-c", SHOOTWATCH, "ingest", "--from", str(card.path),
                     "--json"]), env)  # fmt: skip
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
            reader.close()
    medians = {name: statistics.median(values) for name, values in figures.items()}
    rate = {name: card.bytes / seconds for name, seconds in medians.items()}
    ratio_one = rate["shootwatch"] / rate["cp one"]
    ratio_two = rate["shootwatch"] / rate["cp two"]
    megabytes = card.bytes / 1e6
    speed = f"read at {args.card_mbps:,.0f} MB/s" if args.card_mbps else "read as fast as it reads"
    print(f"\na card of {args.files:,} files, {megabytes:,.0f} MB, {speed}, cold for every run, "
          f"into {' and '.join(kinds)}; medians of {args.rounds} rounds\n")  # fmt: skip
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
    notes = ["each cp is followed by sync -f of its destinations (timed): its copies on the "
             "drive, as shootwatch's are"]  # fmt: skip
    if args.destinations == "tmpfs":
        notes.append("the destinations are two tmpfs: what is read back comes from memory; on "
                     "two drives the read-back reads the drives")  # fmt: skip
    else:
        notes.append("both destination images are on the same disk: each copy's writes and "
                     "read-back share one drive, where a backup would have its own")  # fmt: skip
    print_verdicts(
        notes,
        [(f"verified two-destination ingest >= {TARGET_RATIO}x cp into one", f"{ratio_one:.2f}",
          ratio_one >= TARGET_RATIO),
         (f"peak memory <= {TARGET_PEAK_MB} MB", f"{max(peaks) / 1e6:,.0f} MB",
          max(peaks) <= TARGET_PEAK_MB * 1e6)],
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
