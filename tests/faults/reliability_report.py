"""Runs the fault tests and writes their figures into the Reliability table of docs/reliability.md.

    python3 tests/faults/reliability_report.py [--seed N] [--kills N] [--check] [--tests ...]
                                               [--figures FILE]

Each scenario of ``tests/faults`` and the live darktable session at ten times the poller's
cadence appends what it did and found (kills survived, files, decisions, missed, duplicated,
left open, crashes) to a report file; this script runs them with that file set, then replaces
the table between the reliability markers of docs/reliability.md with those figures, so the page
shows the last run, not numbers typed by hand. ``--check`` only says whether the page's table is
the one a run just produced (exit 1 if not). The darktable session needs darktable, xvfb-run and
xauth: without them the run fails rather than leave its row out (``--tests tests/faults``
leaves it out on purpose). ``--figures FILE`` writes the table from a report file a run of
the same tests already made (``SHOOTWATCH_FAULT_REPORT=FILE python3 -m pytest ...``) instead
of running them again.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "reliability.md"
START = "<!-- reliability:start -->"
END = "<!-- reliability:end -->"
DARKTABLE_LIVE = (
    "tests/integration/test_darktable_live.py"
    "::test_shootwatch_follows_a_live_darktable_session[10x-cadence]"
)
DEFAULT_TESTS = ["tests/faults", DARKTABLE_LIVE]
# The table's order, by the file that measured each row (rows of one file keep their run order).
ORDER = (
    "test_crashes.py",
    "test_renames.py",
    "test_unplugged.py",
    "test_card.py",
    "test_root_lifecycle.py",
    "test_load.py",
    "test_decide_under_load.py",
    "test_bad_input.py",
    "test_fuzz.py",
    "test_hostile_config.py",
    "test_darktable_live.py",
)


def run_faults(seed: int, kills: int, tests: list[str]) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="shootwatch-reliability-") as folder:
        report = Path(folder) / "figures.jsonl"
        env = dict(os.environ, SHOOTWATCH_FAULT_REPORT=str(report),
                   SHOOTWATCH_FAULT_SEED=str(seed), SHOOTWATCH_FAULT_KILLS=str(kills),
                   SHOOTWATCH_REQUIRE_DARKTABLE="1")  # fmt: skip
        env.setdefault("SHOOTWATCH_FUZZ_SECONDS", "60")  # as CI runs it
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
            cwd=REPO,
            env=env,
        )
        if done.returncode != 0:
            raise SystemExit("the fault tests failed: docs/reliability.md keeps its last table")
        lines = report.read_text().splitlines() if report.exists() else []
    return [json.loads(line) for line in lines]


def in_order(figures: list[dict]) -> list[dict]:
    def rank(row: dict) -> int:
        name = Path(row.get("test", "")).name
        return ORDER.index(name) if name in ORDER else len(ORDER)

    return sorted(figures, key=rank)


def table(figures: list[dict]) -> str:
    header = ("| scenario | kills survived | files | decisions | missed | duplicated | left open "
              "| crashes | notes |\n|---|---|---|---|---|---|---|---|---|\n")  # fmt: skip
    body = "".join(
        f"| {f['scenario']} | {f['kills']} | {f['files']:,} | {f['decisions']:,} | "
        f"{f['missed']} | {f['duplicated']} | {f['stuck']} | {f['crashes']} | "
        f"{'; '.join(f['notes'])} |\n"
        for f in in_order(figures)
    )
    seeds = sorted({f["seed"] for f in figures})
    return (
        header
        + body
        + f"\nSeed {', '.join(map(str, seeds))}; written by "
        + ("`python3 tests/faults/reliability_report.py`.\n")
    )


def replace_table(text: str, new: str) -> str:
    start, end = text.index(START) + len(START), text.index(END)
    return text[:start] + "\n" + new + text[end:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--figures", type=Path, metavar="FILE", help="a run's report file")
    parser.add_argument(
        "--tests",
        nargs="+",
        default=DEFAULT_TESTS,
        metavar="PATH",
        help=f"pytest paths or node ids (default: {' '.join(DEFAULT_TESTS)})",
    )
    args = parser.parse_args()
    if args.figures is not None:
        figures = [json.loads(line) for line in args.figures.read_text().splitlines() if line]
    else:
        figures = run_faults(args.seed, args.kills, args.tests)
    new = table(figures)
    text = PAGE.read_text()
    updated = replace_table(text, new)
    if args.check:
        print("docs/reliability.md is up to date" if updated == text else "its table differs")
        return 0 if updated == text else 1
    PAGE.write_text(updated)
    print(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
