"""The culling benchmarks, one after another: how photos look (hash + focus score from previews),
bursts, the loupe, compare and survey, the contact sheet and the bytes a photo change costs in
each renderer. Each is a script of its own (run one alone for its options); this runs them all,
at full size or, with ``--small``, at the size CI runs them so that they cannot rot.

    python3 tests/bench/bench_cull.py [--small] [--only NAME ...]

Every figure is printed next to a reference measured the same way in the same run; nothing here
asserts on time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
# name -> (script, options for CI's small run); the full run uses each script's defaults
PARTS = {
    "looks": ("bench_cull_looks.py", ["--photos", "300", "--repeat", "1"]),
    "bursts": ("bench_bursts.py", ["--photos", "2000"]),
    "loupe": ("bench_cull_loupe.py", ["--photos", "12", "--cold", "2"]),
    "compare": ("bench_cull_compare.py", ["--bursts", "2", "--rounds", "2"]),
    "grid": ("bench_cull_grid.py", ["--photos", "200", "--presses", "6"]),
    "bytes": ("bench_cull_bytes.py", ["--photos", "6", "--changes", "3"]),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="CI's sizes: minutes, not hours")
    parser.add_argument("--only", nargs="+", choices=sorted(PARTS), help="these parts only")
    args = parser.parse_args()
    failed = []
    for name in args.only or PARTS:
        script, small = PARTS[name]
        command = [sys.executable, str(HERE / script), *(small if args.small else [])]
        print(f"\n=== {name}: {' '.join(command[1:])}", flush=True)
        started = time.monotonic()
        path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        if subprocess.run(command, env={**os.environ, "PYTHONPATH": path}).returncode != 0:
            failed.append(name)
        print(f"=== {name}: {time.monotonic() - started:.0f} s", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
