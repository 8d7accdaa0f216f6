"""Property: after any sequence of creates, edits, deletes and moves, a reconcile makes the
catalogue equal the tree, and a file moved without being edited keeps its record."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.store import open_catalogue
from tests.helpers import catalogued, on_disk, record_ids, scan

FOLDERS = ("", "2024", "2024/2024-01-01", "2024/2024-01-02", "card/DCIM/100CANON")
NAMES = ("IMG_0001.CR2", "IMG_0001.JPG", "IMG_0001.CR2.xmp", "DSC_0002.NEF", "a b.jpg")

operations = st.lists(
    st.one_of(
        st.tuples(st.just("create"), st.integers(0, len(FOLDERS) - 1), st.integers(0, 4)),
        st.tuples(st.just("modify"), st.integers(0, 1000)),
        st.tuples(st.just("delete"), st.integers(0, 1000)),
        st.tuples(
            st.just("move"),
            st.integers(0, 1000),
            st.integers(0, len(FOLDERS) - 1),
            st.integers(0, 4),
        ),
        st.tuples(
            st.just("move_folder"),
            st.integers(0, len(FOLDERS) - 1),
            st.text("xyz", min_size=1, max_size=3),
        ),
        st.tuples(st.just("scan")),
    ),
    max_size=30,
)


class Tree:
    """The tree on disk plus what the test knows: which file is which, and what was edited."""

    def __init__(self, top: Path) -> None:
        self.top = top
        self.identity: dict[str, int] = {}  # rel_path -> identity (stable across moves)
        self.edited: set[int] = set()  # identities edited since the last scan
        self.serial = 0
        self.clock = 1_700_000_000 * 10**9

    def _write(self, rel: str) -> None:
        self.serial += 1
        path = self.top / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"content {self.serial} ".encode() * (self.serial % 7 + 1))
        # Distinct mtimes: two writes within one timestamp tick are the same to any scanner
        # that compares size + mtime, so the test steps the clock as real time would.
        self.clock += 10**9
        os.utime(path, ns=(self.clock, self.clock))

    def _pick(self, index: int) -> str | None:
        paths = sorted(self.identity)
        return paths[index % len(paths)] if paths else None

    def apply(self, operation: tuple) -> None:
        kind = operation[0]
        if kind == "create":
            rel = os.path.join(FOLDERS[operation[1]], NAMES[operation[2]])
            if rel in self.identity or (self.top / rel).is_dir():
                return
            self._write(rel)
            self.identity[rel] = self.serial
            self.edited.add(self.serial)
        elif kind == "modify" and (rel := self._pick(operation[1])):
            self._write(rel)
            self.edited.add(self.identity[rel])
        elif kind == "delete" and (rel := self._pick(operation[1])):
            (self.top / rel).unlink()
            del self.identity[rel]
        elif kind == "move" and (rel := self._pick(operation[1])):
            target = os.path.join(FOLDERS[operation[2]], NAMES[operation[3]])
            if target in self.identity or (self.top / target).is_dir():
                return
            (self.top / target).parent.mkdir(parents=True, exist_ok=True)
            (self.top / rel).rename(self.top / target)
            self.identity[target] = self.identity.pop(rel)
        elif kind == "swap" and (first := self._pick(operation[1])):
            second = self._pick(operation[2])
            if first == second:
                return
            parked = self.top / ".parked"  # hidden, so a scan never sees it
            (self.top / first).rename(parked)
            (self.top / second).rename(self.top / first)
            parked.rename(self.top / second)
            self.identity[first], self.identity[second] = (
                self.identity[second],
                self.identity[first],
            )
        elif kind == "move_folder" and FOLDERS[operation[1]]:
            folder = FOLDERS[operation[1]]
            target = folder + "-" + operation[2]
            if not (self.top / folder).is_dir() or (self.top / target).exists():
                return
            (self.top / folder).rename(self.top / target)
            self.identity = {
                (target + rel[len(folder) :] if rel.startswith(folder + "/") else rel): ident
                for rel, ident in self.identity.items()
            }


@settings(
    # SHOOTWATCH_PROPERTY_EXAMPLES=2000 for a longer soak.
    max_examples=int(os.environ.get("SHOOTWATCH_PROPERTY_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=operations, workers=st.sampled_from([1, 2]))
def test_catalogue_equals_tree_after_any_changes(steps, workers):
    with tempfile.TemporaryDirectory() as temp:
        top = Path(temp) / "library"
        top.mkdir()
        tree = Tree(top)
        with open_catalogue(Path(temp) / "catalogue.db") as catalogue:
            records_by_identity: dict[int, int] = {}
            for step in [*steps, ("scan",)]:
                if step[0] != "scan":
                    tree.apply(step)
                    continue
                report = scan(catalogue, top, workers=workers, accept_empty=True)
                assert report.status == "completed", report.error
                assert catalogued(top) == on_disk(top)
                ids = record_ids(top)
                for rel, identity in tree.identity.items():
                    if identity in records_by_identity and identity not in tree.edited:
                        # Moved or untouched since the last scan, never edited: same record.
                        assert ids[rel] == records_by_identity[identity], rel
                records_by_identity = {tree.identity[rel]: ids[rel] for rel in tree.identity}
                tree.edited.clear()
