"""The command-line benchmark: ``shootwatch`` commands as a user runs them, whole processes.

Run from the repository root (a standalone script, not a pytest test):

    python tests/bench/bench_cli.py [--sizes 10000[,100000]] [--runs R] [--keep]
    python tests/bench/bench_cli.py --first-only [--sizes 20000,100000,300000] [--first-runs R]
        [--baseline DIR]

For each library size it builds a tree of small files, adds it and scans it once (not timed),
then times, interleaved run by run so both sides share the machine's load: ``status`` and
``events --limit 50`` next to ``python3 -c pass`` (the interpreter's own start), and a ``scan``
of the unchanged tree next to ``find ROOT -printf '%s %T@ %p\\n'``. Each figure is the median
(p50) of the runs. For ``status`` and the unchanged ``scan`` it also counts the modules they
import, sums their import times (``python3 -X importtime``) next to the interpreter's own, and
names the heavy modules (Textual, Pillow, numpy, a worker pool...) they should not need.
``--baseline DIR`` times another checkout's commands in the same rounds, on the same library and
catalogue (before and after a change: ``git archive REV | tar -x -C DIR``); with
``--first-only``, its first scans of the same files in the same rounds. Targets are
reported as met or missed and never fail the run.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from contextlib import chdir
from pathlib import Path

from benchtools import print_verdicts, table_lines, work_tree

REPO = Path(__file__).resolve().parents[2]
FILES_PER_FOLDER = 100
FILE_BYTES = 2048
# Whole-process no-change scan, at most this many times find's listing (the targets).
NO_CHANGE_TARGETS = {10_000: 4.0, 100_000: 2.0}
# From this many files the catalogue knows, a scan surveys in worker processes from the start
# (core.scan.reconcile.WORKERS_FROM_START_FILES): below it, a scan of the unchanged tree loads
# no pool.
SCAN_WORKERS_FROM = 25_000
# The first scan, whole process, at most this many seconds; its peak memory at most this.
FIRST_SCAN_TARGETS = {100_000: 60.0, 300_000: 180.0}
PEAK_TARGET_MB = 200
# Modules a command that only reads the catalogue has no use for.
HEAVY_MODULES = ("textual", "PIL", "numpy", "imagehash", "rawpy", "tui.app", "core.media.pool",
                 "concurrent.futures.process", "core.engine.scheduler", "watchfiles")  # fmt: skip
IMPORT_RUNS = 5  # import times are the median of this many runs (one is at the load's mercy)
# The script's entry, then how many modules the command imported and which of HEAVY_MODULES
# (run with -X importtime, which adds each module's import time to stderr).
COUNT_MODULES = """
import sys
sys.argv = ["shootwatch", *{argv!r}]
from tui.launch import main
code = main()
heavy = [name for name in {heavy!r} if name in sys.modules]
print(f"modules {{len(sys.modules)}} heavy {{','.join(heavy) or '-'}}", file=sys.stderr)
sys.exit(code)
"""
# The floor under a one-process Python tool's no-change scan: the interpreter, sqlite3, a walk that
# stats every file, the catalogue's sizes and times for the root, the comparison, and one
# committed row of history; nothing of shootwatch (no settings, no checks of the root, no
# output). Timed in the same rounds, it says how much of a scan's time is Python's own.
PYTHON_FLOOR = """
import os, sqlite3, sys, time
library, catalogue = sys.argv[1:]
db = sqlite3.connect(catalogue, isolation_level=None)
db.execute("PRAGMA journal_mode=wal")
(root_id,) = db.execute("SELECT id FROM root WHERE path = ?", (library,)).fetchone()
known = {rel: (size, mtime) for rel, size, mtime in db.execute(
    "SELECT rel_path, size, mtime_ns FROM file WHERE root_id = ?", (root_id,))}
seen = changed = 0
pending = [""]
while pending:
    folder = pending.pop()
    fd = os.open(os.path.join(library, folder), os.O_RDONLY | os.O_DIRECTORY)
    try:
        for entry in os.scandir(fd):
            rel = folder + "/" + entry.name if folder else entry.name
            if entry.is_dir(follow_symlinks=False):
                pending.append(rel)
                continue
            status = os.stat(entry.name, dir_fd=fd, follow_symlinks=False)
            seen += 1
            changed += known.get(rel) != (status.st_size, status.st_mtime_ns)
    finally:
        os.close(fd)
now = time.time()
db.execute("BEGIN")
db.execute("INSERT INTO sync_run (kind, root_id, status, started_at, finished_at, duration,"
           " files_scanned, files_added, files_updated, files_moved, files_removed, files_hashed,"
           " files_unreadable, bytes_hashed) VALUES ('manual', ?, 'completed', ?, ?, 0, ?,"
           " 0, 0, 0, 0, 0, 0, 0)", (root_id, now, now, seen))
db.execute("COMMIT")
assert seen == len(known) and not changed, (seen, len(known), changed)
"""
# What the installed ``shootwatch`` script runs (pyproject.toml's console script).
# The interpreter every command runs with: a virtual environment's, as the README's install
# makes one (as_installed), or this one (--this-python).
PYTHON = [sys.executable]
SHOOTWATCH = "import sys; from tui.launch import main; sys.argv[0] = 'shootwatch'; sys.exit(main())"


def build_tree(root: Path, files: int) -> None:
    """``files`` small files in YYYY/YYYY-MM-DD folders of FILES_PER_FOLDER, named like a
    camera's. The content does not matter to a no-change scan: each file is distinct."""
    for number in range(files):
        folder_number = number // FILES_PER_FOLDER
        year = 2010 + folder_number // 300
        folder = root / str(year) / f"{year}-{1 + folder_number % 300 // 25:02d}-" \
            f"{1 + folder_number % 25:02d}"  # fmt: skip
        if number % FILES_PER_FOLDER == 0:
            folder.mkdir(parents=True, exist_ok=True)
        data = number.to_bytes(8, "little") * (FILE_BYTES // 8)
        (folder / f"DSC_{number:06d}.NEF").write_bytes(data)


def as_installed(base: Path) -> str:
    """The interpreter of a virtual environment in ``base`` that starts as the README's one
    does (``python3 -m venv .venv && .venv/bin/pip install .``): the standard library, the
    dependencies and nothing else at its start. This interpreter's own site-packages may run
    code at every start (``.pth`` files: an editable install's finder, a machine's certificate
    set-up) that a user's environment does not, and that would be counted as shootwatch's.
    The dependencies are this environment's, listed as folders (a ``.pth`` line that is a
    folder is only added to the path: nothing in it runs)."""
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    (site,) = (venv / "lib").glob("python3*/site-packages")
    folders = [path for path in sys.path if path.endswith("-packages") and Path(path).is_dir()]
    (site / "dependencies.pth").write_text("".join(f"{folder}\n" for folder in folders))
    return str(python)


def environment(base: Path, repo: Path = REPO) -> dict[str, str]:
    """The user's environment with the checkout ``repo`` first and user folders inside
    ``base``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(repo), env.get("PYTHONPATH")]))
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        env[name] = str(base / name.lower())
    env.pop("SHOOTWATCH_CONFIG", None)
    # An installed package has its bytecode compiled; a checkout gets it at the warm-up round.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["SHOOTWATCH_DB"] = str(base / "catalogue.db")
    return env


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    took = time.perf_counter() - started
    if result.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}): {result.stderr}")
    return took


def medians(
    commands: dict[str, list[str]], envs: dict[str, dict[str, str]], runs: int
) -> dict[str, float]:
    """The median seconds of each command (run in its environment in ``envs``), run in turn
    ``runs`` times after one warm-up round (the page cache and Python's bytecode cache warm
    for all alike)."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_number in range(runs + 1):
        for name, command in commands.items():
            took = timed(command, envs[name])
            if round_number:
                times[name].append(took)
    return {name: statistics.median(values) for name, values in times.items()}


def modules_imported(argv: list[str], env: dict[str, str]) -> tuple[int, str, float]:
    """How many modules ``shootwatch ARGV`` imports, which heavy ones, and the milliseconds
    their imports took (``-X importtime``'s own times, summed; the median of IMPORT_RUNS)."""
    script = COUNT_MODULES.format(heavy=HEAVY_MODULES, argv=argv)
    took = []
    for _ in range(IMPORT_RUNS):
        result = subprocess.run([PYTHON[0], "-X", "importtime", "-c", script], env=env,
                                capture_output=True, text=True)  # fmt: skip
        took.append(import_ms(result.stderr))
    line = [text for text in result.stderr.splitlines() if text.startswith("modules ")][-1]
    _, count, _, heavy = line.split()
    return int(count), heavy, statistics.median(took)


def import_ms(stderr: str) -> float:
    """The sum of the own ("self") import times ``-X importtime`` wrote to ``stderr``."""
    return sum(
        int(line.split("|")[0].split(":")[1]) for line in stderr.splitlines()
        if line.startswith("import time:") and line.split("|")[0].split(":")[1].strip().isdigit()
    ) / 1000  # fmt: skip


def bare_modules(env: dict[str, str]) -> tuple[int, float]:
    """The modules ``python3 -c`` itself has loaded, and their import milliseconds (the
    median of IMPORT_RUNS)."""
    script = "import sys; print(len(sys.modules))"
    took = []
    for _ in range(IMPORT_RUNS):
        result = subprocess.run([PYTHON[0], "-X", "importtime", "-c", script], env=env,
                                capture_output=True, text=True)  # fmt: skip
        took.append(import_ms(result.stderr))
    return int(result.stdout), statistics.median(took)


def ratio(value: float, reference: float) -> str:
    return f"{value / reference:.1f}x" if reference > 0 else "-"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def bench_size(files: int, runs: int, keep: bool, baseline: Path | None) -> tuple[list, list]:
    rows, targets = [], []
    # Run from the work folder, as a user runs shootwatch from anywhere: ``python -c`` puts
    # the current folder first on sys.path, so run from a checkout it would load that one.
    with work_tree("bench-cli-", keep=keep) as base, chdir(base):
        library = base / "library"
        build_tree(library, files)
        env = environment(base)
        shootwatch = [PYTHON[0], "-c", SHOOTWATCH]
        subprocess.run([*shootwatch, "add", str(library)], env=env, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        first = timed([*shootwatch, "scan"], env)
        # The largest of the processes run so far (add, the first scan and its workers).
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"{files:,} files: first scan {first:.2f} s, peak {peak_mb:.0f} MB")
        commands = {
            "python": [PYTHON[0], "-c", "pass"],
            "status": [*shootwatch, "status"],
            "events": [*shootwatch, "events", "--limit", "50"],
            "find": ["find", str(library), "-printf", r"%s %T@ %p\n"],
            "scan": [*shootwatch, "scan"],
            "floor": [PYTHON[0], "-c", PYTHON_FLOOR, str(library), env["SHOOTWATCH_DB"]],
        }
        envs = dict.fromkeys(commands, env)
        if baseline is not None:
            # The other checkout's commands, in the same rounds, on the same catalogue.
            for name in ("status", "events", "scan"):
                commands[f"baseline {name}"] = commands[name]
                envs[f"baseline {name}"] = environment(base, baseline)
        found = medians(commands, envs, runs)
        imported = {command: modules_imported([command], env) for command in ("status", "scan")}
        if baseline is not None:
            for command in ("status", "scan"):
                imported[f"baseline {command}"] = modules_imported(
                    [command], environment(base, baseline)
                )
        bare, bare_ms = bare_modules(env)
    first_target = FIRST_SCAN_TARGETS.get(files)
    rows.append(
        (f"first scan, {files:,} files (not photos)", f"{first:.2f} s", "-", "-",
         f"<= {first_target:.0f} s" if first_target else "-")
    )  # fmt: skip
    rows.append(
        (f"first scan peak memory, {files:,} files", f"{peak_mb:.0f} MB", "-", "-",
         f"<= {PEAK_TARGET_MB} MB" if first_target else "-")
    )  # fmt: skip
    if first_target is not None:
        targets.append((f"first scan of {files:,} files <= {first_target:.0f} s",
                        f"{first:.1f} s", first <= first_target))  # fmt: skip
        targets.append((f"first scan of {files:,} files: peak <= {PEAK_TARGET_MB} MB",
                        f"{peak_mb:.0f} MB", peak_mb <= PEAK_TARGET_MB))  # fmt: skip
    target = NO_CHANGE_TARGETS.get(files)
    scan_ratio = found["scan"] / found["find"]
    python = f"python -c pass {ms(found['python'])}"
    for who in ("", "baseline ") if baseline is not None else ("",):
        rows += [
            (f"{who}status, {files:,} files", ms(found[f"{who}status"]), python,
             ratio(found[f"{who}status"], found["python"]), "-"),
            (f"{who}events --limit 50, {files:,} files", ms(found[f"{who}events"]), python,
             ratio(found[f"{who}events"], found["python"]), "-"),
            (f"{who}scan no change, {files:,} files", ms(found[f"{who}scan"]),
             f"find -printf {ms(found['find'])}", ratio(found[f"{who}scan"], found["find"]),
             f"<= {target}x" if target else "-"),
            (f"{who}scan no change, against Python's floor", ms(found[f"{who}scan"]),
             f"floor {ms(found['floor'])} ({ratio(found['floor'], found['find'])} find)",
             ratio(found[f"{who}scan"], found["floor"]), "-"),
        ]  # fmt: skip
        for command in ("status", "scan"):
            count, heavy, took = imported[f"{who}{command}"]
            rows += [
                (f"{who}modules imported by {command} ({files:,} files)", str(count),
                 f"python -c pass {bare}", f"+{count - bare}", f"heavy: {heavy}"),
                (f"{who}import time of {command} (-X importtime)", f"{took:.0f} ms",
                 f"python -c pass {bare_ms:.0f} ms", f"+{took - bare_ms:.0f} ms", "-"),
            ]  # fmt: skip
    if target is not None:
        targets.append(
            (
                f"whole-process scan of an unchanged {files:,}-file library <= {target}x find",
                f"{scan_ratio:.1f}x: {ms(found['scan'])} vs {ms(found['find'])}",
                scan_ratio <= target,
            )
        )
    for command in ("status", "scan"):
        heavy = imported[command][1]
        if command == "scan" and files >= SCAN_WORKERS_FROM:
            continue  # its workers are the point there, and load their pool
        targets.append(
            (
                f"{command} imports none of {', '.join(HEAVY_MODULES)} ({files:,} files)",
                heavy,
                heavy == "-",
            )
        )
    return rows, targets


def first_scans(sizes: list[int], runs: int, keep: bool, baseline: Path | None = None) -> int:
    """``--first-only``: the first ``scan`` of camera-like files (bench_reconcile's library:
    real JPEGs with a camera's EXIF, 4-50 KB, in YYYY/YYYY-MM-DD folders of 100) at each size,
    whole process into a fresh catalogue, each run right after b3sum of the same files on as
    many cores as the scan's workers (the faster of its two ways is the reference); the peak
    memory of the scan process and its workers (wait4); and the seconds per 1,000 files at
    each size, which stay flat when the scan grows linearly. ``baseline``: another checkout's
    first scan of the same files, run after this one's in each round."""
    from bench_reconcile import ContentMaker, Layout, build_library
    from benchtools import b3sum_commands

    from core.config import default_workers

    workers = default_workers()
    rows, targets, per_file = [], [], {}
    for files in sizes:
        with work_tree("bench-cli-first-", keep=keep) as base:
            library = base / "library"
            library.mkdir()
            layout = Layout(files)
            total = build_library(library, layout, ContentMaker())
            listed = base / "files.list"
            listed.write_bytes(b"".join(bytes(library / rel) + b"\0" for rel in layout.rel_paths()))
            env = environment(base)
            checkouts = {"": env}
            if baseline is not None:
                checkouts["baseline "] = environment(base, baseline)
            b3sum = b3sum_commands(str(listed), workers)
            for command in b3sum.values():  # warm-up: the page cache holds the files for all
                timed(["sh", "-c", command], env)
            references: dict[str, list[float]] = {name: [] for name in b3sum}
            all_scans: dict[str, list[float]] = {who: [] for who in checkouts}
            all_peaks: dict[str, list[float]] = {who: [] for who in checkouts}
            for _ in range(runs):
                for name, command in b3sum.items():
                    references[name].append(timed(["sh", "-c", command], env))
                for who, checkout_env in checkouts.items():
                    for suffix in ("", "-wal", "-shm"):
                        Path(env["SHOOTWATCH_DB"] + suffix).unlink(missing_ok=True)
                    subprocess.run([PYTHON[0], "-c", SHOOTWATCH, "add", str(library)],
                                   env=checkout_env, check=True,
                                   stdout=subprocess.DEVNULL)  # fmt: skip
                    seconds, peak_mb = timed_with_peak(
                        [PYTHON[0], "-c", SHOOTWATCH, "scan"], checkout_env
                    )
                    print(f"{files:,} files: {who}first scan {seconds:.1f} s, "
                          f"peak {peak_mb:.0f} MB")  # fmt: skip
                    all_scans[who].append(seconds)
                    all_peaks[who].append(peak_mb)
        scans, peaks = all_scans[""], all_peaks[""]
        first, peak = statistics.median(scans), max(peaks)
        best = min(references, key=lambda name: statistics.median(references[name]))
        reference = statistics.median(references[best])
        per_file[files] = first / files * 1000
        target = FIRST_SCAN_TARGETS.get(files)
        rows += [
            (f"first scan, {files:,} camera-like files ({total / 1e9:.1f} GB): hash, describe, "
             "group", f"{first:.1f} s", f"{best} {reference:.2f} s", ratio(first, reference),
             f"<= {target:.0f} s" if target else "-"),
            (f"  per 1,000 files, {files:,}", f"{per_file[files]:.3f} s", "-", "-", "-"),
            (f"  peak memory (scan and its workers), {files:,}", f"{peak:.0f} MB", "-", "-",
             f"<= {PEAK_TARGET_MB} MB"),
        ]  # fmt: skip
        if baseline is not None:
            before = statistics.median(all_scans["baseline "])
            rows += [
                (f"  baseline first scan, {files:,}", f"{before:.1f} s", f"{best} "
                 f"{reference:.2f} s", ratio(before, reference), "-"),
                (f"  baseline peak memory, {files:,}", f"{max(all_peaks['baseline ']):.0f} MB",
                 "-", "-", "-"),
            ]  # fmt: skip
        if target is not None:
            targets.append((f"first scan of {files:,} camera-like files <= {target:.0f} s",
                            f"{first:.1f} s", first <= target))  # fmt: skip
        targets.append((f"first scan of {files:,} files: peak <= {PEAK_TARGET_MB} MB",
                        f"{peak:.0f} MB", peak <= PEAK_TARGET_MB))  # fmt: skip
    for smaller, larger in itertools.pairwise(sizes):
        growth = per_file[larger] / per_file[smaller]
        rows.append((f"  per-file time, {larger:,} against {smaller:,}", f"{growth:.2f}x", "-",
                     "-", "1.0x: linear"))  # fmt: skip
    print()
    print("\n".join(table_lines(rows)))
    notes = [
        "whole processes (the shootwatch script's entry); each scan into a fresh catalogue, "
        f"right after b3sum of the same files on {workers} cores (page cache warm for both); "
        "medians of the runs; previews are left to the engine, as the scan says",
        "peak memory: the largest of the scan process and its workers (wait4's ru_maxrss)",
    ]
    if baseline is not None:
        notes.append(f"baseline: the checkout {baseline}, its first scans in the same rounds")
    print_verdicts(notes, targets)
    return 0


def timed_with_peak(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Seconds and peak memory (MB: the largest of the process and the children it waited
    for) of a command run to its end."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)  # fmt: skip
    _, status, usage = os.wait4(process.pid, 0)
    took = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode})")
    return took, usage.ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000", help="library sizes, comma separated; "
                        "default 10000 (100000 is the issue's other target)")  # fmt: skip
    parser.add_argument(
        "--baseline", metavar="DIR", type=Path,
        help="another checkout (before a change) timed in the same rounds",
    )  # fmt: skip
    parser.add_argument("--runs", type=int, default=7, help="timed runs per command (median)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    parser.add_argument(
        "--first-only",
        action="store_true",
        help="only the first scan of "
        "camera-like files, next to b3sum, with peak memory and growth per file",
    )
    parser.add_argument(
        "--this-python", action="store_true",
        help="run every command with this interpreter and what its start loads, instead of a "
        "virtual environment as the README's install makes one",
    )  # fmt: skip
    parser.add_argument("--first-runs", type=int, default=1, help="first scans per size "
                        "(--first-only; median)")  # fmt: skip
    args = parser.parse_args()
    if args.this_python:
        return measure(args)
    with work_tree("bench-cli-python-", keep=False) as base:
        PYTHON[0] = as_installed(base)
        return measure(args)


def measure(args: argparse.Namespace) -> int:
    sizes = sorted(int(size) for size in args.sizes.split(","))  # peak memory only grows
    if args.first_only:
        return first_scans(sizes, args.first_runs, args.keep, args.baseline)
    print(f"bench_cli: {platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} cores, {args.runs} runs per command, median (p50); "
          f"{'this interpreter' if args.this_python else 'a virtual environment as installed'}"
          )  # fmt: skip
    rows, targets = [], []
    for files in sizes:
        size_rows, size_targets = bench_size(files, args.runs, args.keep, args.baseline)
        rows += size_rows
        targets += size_targets
    print()
    print("\n".join(table_lines(rows)))
    notes = [
        "whole processes (the shootwatch script's entry, tui.launch:main), each figure next "
        "to its reference timed in the same rounds; the files are small and not photos, so a "
        "first scan hashes and describes (sniffs) them but builds no previews (bench_media "
        "measures photos)",
        "peak memory: the largest process run so far, the first scan's workers included; "
        "Linux's ru_maxrss of the children",
        "import time: the own times -X importtime reports, summed (its bookkeeping makes "
        "them larger than without it); python -c pass's are the interpreter's start",
        "Python's floor: the same walk, stat of every file and comparison with the "
        "catalogue, and one row of history, with only os and sqlite3 (nothing of "
        "shootwatch), in one process: the least one Python process can take for a no-change "
        "scan (shootwatch's walk of a root of 5,000 files or more is shared with a forked copy "
        "of itself, and can take less)",
    ]
    if args.baseline is not None:
        notes.append(f"baseline: the checkout {args.baseline}, timed in the same rounds")
    print_verdicts(notes, targets)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
