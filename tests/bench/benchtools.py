"""What the benchmarks share: the temporary folder each one builds its library in, the table
and verdicts they print, the settings file and timed whole processes, and the references."""

from __future__ import annotations

import os
import shlex
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def work_tree(prefix: str, parent: str | None = None, keep: bool = False) -> Iterator[Path]:
    """A fresh folder (in ``parent``, or the system's temporary folder), removed afterwards
    unless ``keep``."""
    if parent is not None:
        os.makedirs(parent, exist_ok=True)
    # Resolved, as the CLI stores roots (TMPDIR may be a symlink).
    base = Path(tempfile.mkdtemp(prefix=prefix, dir=parent)).resolve()
    try:
        yield base
    finally:
        if keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


def print_verdicts(notes: list[str], targets: list[tuple[str, str, bool | None]]) -> None:
    """The notes under a benchmark's table, then one line per target: met, MISSED or not
    measured, with the figure it was judged on."""
    for note in notes:
        print(f"note: {note}")
    print()
    for line, shown, met in targets:
        verdict = {True: "met", False: "MISSED", None: "not measured"}[met]
        print(f"target: {line}: {verdict} ({shown})")


def table_lines(rows: list[tuple[str, ...]]) -> list[str]:
    """A benchmark's figures as an aligned table under its header row."""
    header = ("measure", "shootwatch", "reference", "ratio", "target")
    rows = [header, *rows]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = [
        " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return lines


def reference_decode(path: Path, rounds: int = 3) -> float:
    """Median seconds for Pillow to decode ``path`` in full: the references' yardstick."""
    from PIL import Image

    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        with Image.open(path) as image:
            image.load()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def reference_cp(path: Path, rounds: int = 3) -> float:
    """Median seconds for ``cp`` to copy ``path`` beside itself."""
    times = []
    for n in range(rounds):
        copy = f"{path}.copy{n}"
        started = time.perf_counter()
        subprocess.run(["cp", str(path), copy], check=True)
        times.append(time.perf_counter() - started)
        os.unlink(copy)
    return statistics.median(times)


def write_settings(env: dict[str, str], text: str) -> Path:
    """``text`` as the user's settings file, where shootwatch looks for it by default in the
    environment ``env`` ($XDG_CONFIG_HOME/shootwatch/config.toml)."""
    path = Path(env["XDG_CONFIG_HOME"]) / "shootwatch" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def run_timed(
    command: list[str], env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)
) -> tuple[float, subprocess.CompletedProcess]:
    """Run ``command`` to its end: its seconds and what it wrote; a return code not in ``ok``
    stops the benchmark with what it said (a failing command is no figure)."""
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    took = time.perf_counter() - started
    if result.returncode not in ok:
        raise SystemExit(
            f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()[-2000:]}"
        )
    return took, result


def b3sum_commands(files: str, threads: int) -> dict[str, str]:
    """Shell commands hashing the NUL-separated paths in the file ``files`` with b3sum on
    ``threads`` cores, two ways: b3sum's own threads (``--num-threads``, which speed up large
    files) and that many b3sum processes side by side (which speed up many small files)."""
    listed = shlex.quote(files)
    return {
        f"b3sum --num-threads {threads}": (
            f"xargs -0 -n 2000 b3sum --num-threads {threads} < {listed} > /dev/null"
        ),
        f"{threads} b3sum processes": (
            f"xargs -0 -n 500 -P {threads} b3sum --num-threads 1 < {listed} > /dev/null"
        ),
    }
