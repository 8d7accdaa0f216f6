"""The event log: one enum of kinds that every writer uses, and one typed reader (since an id)
that every consumer reads through."""

from __future__ import annotations

import ast
import io
import json
import subprocess
import sys
import time
import tokenize

import pytest

from core.cli import main
from core.store import queries
from core.store.events import (
    FILE_CHANGES,
    FILE_EVENTS,
    READ_LIMIT,
    Event,
    EventKind,
    EventReader,
    UndeclaredEventKind,
    insert_events,
    record_event,
)
from core.store.models import Event as EventRow
from core.store.models import Root
from tests.helpers import REPO
from tests.postgres_cluster import BOTH_BACKENDS

SOURCES = [*sorted((REPO / "core").rglob("*.py")), *sorted((REPO / "tui").rglob("*.py"))]
# Functions that write an event, with the position of their kind argument.
WRITERS = {"record_event": 0, "record": 0, "_event": 0, "_file_events": 0}
DECLARED = {kind.value for kind in EventKind}


def _called_name(call: ast.Call) -> str | None:
    func = call.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)


def _literal_kinds(node: ast.AST) -> list[str]:
    """Text in this expression that may be an event kind (strings, f-strings)."""
    found = []
    for inner in ast.walk(node):
        if isinstance(inner, ast.JoinedStr):
            found.append(ast.unparse(inner))
        elif isinstance(inner, ast.Constant) and isinstance(inner.value, str):
            found.append(inner.value)
    return found


def _names_a_kind(node: ast.AST) -> bool:
    name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")
    return name in ("kind", "kinds")


def kinds_as_text(source: str) -> tuple[list[str], set[str]]:
    """(where a kind is written, followed or compared as text instead of an EventKind member,
    or an EventKind member that does not exist; the members used)."""
    problems, members_used = [], set()
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", "?")
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "EventKind"
        ):
            members_used.add(node.attr)
            if node.attr not in EventKind.__members__:
                problems.append(f"{line}: EventKind.{node.attr} is not declared")
        if isinstance(node, ast.Call):
            position = WRITERS.get(_called_name(node) or "")
            if position is not None:
                kind = node.args[position] if len(node.args) > position else None
                kind = next((k.value for k in node.keywords if k.arg == "kind"), kind)
                if kind is not None and _literal_kinds(kind):
                    problems.append(f"{line}: kind written as text {_literal_kinds(kind)}")
            for keyword in node.keywords:
                if keyword.arg == "kinds" and _literal_kinds(keyword.value):
                    problems.append(f"{line}: kinds= given as text")
        sides = (node.left, *node.comparators) if isinstance(node, ast.Compare) else ()
        if any(_names_a_kind(side) for side in sides):
            texts = [text for side in sides for text in _literal_kinds(side)]
            if DECLARED.intersection(texts):
                problems.append(f"{line}: a kind compared as text {texts}")
    return problems, members_used


def test_every_kind_written_or_followed_in_the_code_is_an_enum_member():
    """No kind is written, filtered or compared as text: each is a member of EventKind, so a
    new kind cannot be written without being declared (and writing an undeclared one is
    refused at run time, below)."""
    problems, members_used = [], set()
    for path in SOURCES:
        found, used = kinds_as_text(path.read_text())
        problems += [f"{path.relative_to(REPO)}:{problem}" for problem in found]
        members_used |= used
    assert not problems, "\n".join(problems)
    assert len(members_used) > 20, "the scan finds too few members: it scans the wrong files"


def test_the_scan_catches_each_way_of_writing_a_kind_as_text():
    source = (
        "record_event('added', 'x')\n"
        "self.engine.record(f'root_{state}', None)\n"
        "self._event(kind='moved', path=p)\n"
        "reader = EventReader(db, kinds=('moved',))\n"
        "if event.kind == 'removed': pass\n"
        "if 'root_added' in kinds: pass\n"
        "x = EventKind.FILE_TELEPORTED\n"
        "record_event(EventKind.ADDED, 'x')\n"  # as it should be
        "if root.kind == 'library': pass\n"  # not an event kind
    )
    problems, _ = kinds_as_text(source)
    assert [problem.split(":")[0] for problem in problems] == ["1", "2", "3", "4", "5", "6", "7"]


def test_each_kind_says_what_it_means_and_who_writes_it():
    source = (REPO / "core" / "store" / "events.py").read_text()
    members = {kind.name for kind in EventKind}
    commented = set()
    in_enum = False
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NAME and token.string == "class":
            in_enum = token.line.startswith("class EventKind(")
        if in_enum and token.type == tokenize.COMMENT:
            name = token.line.split("=")[0].strip()
            if name in members:
                commented.add(name)
    assert members - commented == set()
    assert len(members) == len(DECLARED)  # no two names for one kind


@BOTH_BACKENDS
def test_writing_an_undeclared_kind_is_refused_and_nothing_is_written(catalogue):
    before = EventRow.select().count()
    with pytest.raises(UndeclaredEventKind, match="'file_teleported'"):
        record_event("file_teleported", "reconcile")
    now = time.time()
    rows = [
        (now, EventKind.ADDED, "reconcile", None, "a.JPG", None, None),
        (now, "file_teleported", "reconcile", None, "b.JPG", None, None),
    ]
    with pytest.raises(UndeclaredEventKind), catalogue.db.atomic():
        insert_events(catalogue.db, rows)
    assert EventRow.select().count() == before


def test_kinds_are_stored_as_their_text(catalogue):
    record_event(EventKind.ROOT_OFFLINE, "reconcile", payload={"reason": "unplugged"})
    stored = catalogue.db.execute_sql("SELECT kind, typeof(kind) FROM event").fetchall()
    assert stored == [("root_offline", "text")]


# --- the reader ---------------------------------------------------------------------------------


def _root(path: str = "/photos") -> Root:
    return Root.create(path=path, kind="library", added_at=time.time())


def test_reader_gives_typed_events_oldest_first_and_moves_past_them(catalogue):
    root = _root()
    record_event(EventKind.ADDED, "reconcile", root=root, path="2024/IMG_1.JPG")
    record_event(EventKind.MOVED, "reconcile", root=root, path="2024/b.JPG",
                 payload={"from": "2024/a.JPG"})  # fmt: skip
    reader = EventReader(queries.open_read_only(str(catalogue.path)))

    added, moved = reader.read()
    assert isinstance(added, Event) and added.kind is EventKind.ADDED
    assert (added.source, added.root_id, added.path, added.payload) == (
        "reconcile", root.id, "2024/IMG_1.JPG", None,
    )  # fmt: skip
    assert moved.kind is EventKind.MOVED and moved.payload == {"from": "2024/a.JPG"}
    assert added.id < moved.id and added.at <= moved.at
    assert reader.last_id == moved.id
    assert reader.read() == []

    record_event(EventKind.REMOVED, "reconcile", root=root, path="2024/b.JPG")
    assert [event.kind for event in reader.read()] == [EventKind.REMOVED]
    with pytest.raises(AttributeError):
        added.kind = EventKind.REMOVED  # type: ignore[misc]  # events are values


@BOTH_BACKENDS
@pytest.mark.parametrize("limit", [1, 3, 7, READ_LIMIT])
@pytest.mark.parametrize("follows", [(), FILE_CHANGES, (EventKind.RATED,)])
def test_reader_in_steps_of_any_size_misses_nothing_and_repeats_nothing(catalogue, limit, follows):
    kinds = [EventKind.ADDED, EventKind.RATED, EventKind.COMPONENT_STATE, EventKind.REMOVED]
    now = time.time()
    rows = [(now, kinds[n % 4], "test", None, f"f{n}", None, json.dumps({"n": n}))
            for n in range(23)]  # fmt: skip
    with catalogue.db.atomic():
        insert_events(catalogue.db, rows)
    reader = EventReader(catalogue.db, kinds=follows)
    seen: list[Event] = []
    while batch := reader.read(limit):
        assert len(batch) <= limit
        seen += batch
    expected = [n for n in range(23) if not follows or kinds[n % 4] in follows]
    assert [event.payload["n"] for event in seen] == expected
    assert [event.id for event in seen] == sorted({event.id for event in seen})


@BOTH_BACKENDS
def test_reader_kinds_may_be_given_as_text_but_must_be_declared(catalogue):
    assert EventReader(catalogue.db, kinds=["added", "moved"]).kinds == (
        EventKind.ADDED, EventKind.MOVED,
    )  # fmt: skip
    with pytest.raises(UndeclaredEventKind):
        EventReader(catalogue.db, kinds=["adddded"])


@BOTH_BACKENDS
def test_from_now_skips_what_the_log_holds(catalogue):
    record_event(EventKind.ADDED, "reconcile", path="old.JPG")
    reader = EventReader(catalogue.db, kinds=FILE_EVENTS).from_now()
    assert reader.read() == []
    record_event(EventKind.ADDED, "reconcile", path="new.JPG")
    assert [event.path for event in reader.read()] == ["new.JPG"]


@BOTH_BACKENDS
def test_newest_gives_the_latest_oldest_first_and_goes_on_after_them(catalogue):
    for n in range(10):
        record_event(EventKind.ADDED if n % 2 else EventKind.RATED, "test", path=f"{n}")
    reader = EventReader(catalogue.db)
    assert [event.path for event in reader.newest(4)] == ["6", "7", "8", "9"]
    assert reader.read() == []
    only_added = EventReader(catalogue.db, kinds=[EventKind.ADDED])
    assert [event.path for event in only_added.newest(2)] == ["7", "9"]
    record_event(EventKind.ADDED, "test", path="10")
    assert [event.path for event in only_added.read()] == ["10"]


@BOTH_BACKENDS
def test_newest_of_a_kind_never_written_starts_from_now(catalogue):
    for n in range(3):
        record_event(EventKind.ADDED, "test", path=f"{n}")
    reader = EventReader(catalogue.db, kinds=[EventKind.EXPORTED])
    assert reader.newest(50) == []
    assert reader.last_id == reader.newest_id() == 3
    assert reader.newest(0) == [] and reader.read() == []


@BOTH_BACKENDS
def test_since_a_time_reads_only_events_at_or_after_it(catalogue):
    rows = [(1000.0 + n, EventKind.ADDED, "test", None, f"{n}", None, None) for n in range(6)]
    with catalogue.db.atomic():
        insert_events(catalogue.db, rows)
    reader = EventReader(catalogue.db)
    assert [event.path for event in reader.read(limit=None, since=1003.0)] == ["3", "4", "5"]
    assert reader.read() == []


@BOTH_BACKENDS
def test_the_writer_reads_its_own_uncommitted_events(catalogue):
    reader = EventReader(catalogue.db).from_now()
    with catalogue.db.atomic():
        record_event(EventKind.ADDED, "reconcile", path="a.JPG")
        assert [event.path for event in reader.read()] == ["a.JPG"]


@BOTH_BACKENDS
def test_a_kind_or_payload_this_version_does_not_know_is_read_not_refused(catalogue):
    """A newer shootwatch on the same catalogue may write kinds this one does not declare."""
    catalogue.db.execute_sql(
        "INSERT INTO event (at, kind, source, payload) VALUES"
        " (1, 'card_verified', 'card', '{\"files\": 3}'), (2, 'added', 'x', 'not json'),"
        " (3, 'added', 'x', '[1, 2]')"
    )
    unknown, bad_json, a_list = EventReader(catalogue.db).read()
    assert isinstance(unknown.kind, EventKind) and unknown.kind == "card_verified"
    assert unknown.payload == {"files": 3}
    assert unknown.kind not in FILE_EVENTS
    assert bad_json.payload is None and a_list.payload is None
    with pytest.raises(UndeclaredEventKind):
        record_event(unknown.kind, "card")  # read, yes; written by this version, no


# --- its consumers -------------------------------------------------------------------------------


def _cli(catalogue, *argv: str) -> list[str]:
    return [sys.executable, "-m", "core.cli", "--db", str(catalogue.path), *argv]


def test_events_command_refuses_a_kind_that_does_not_exist_in_one_sentence(catalogue):
    result = subprocess.run(
        _cli(catalogue, "events", "--kind", "added", "--kind", "adddded"),
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "'adddded' is not a kind of event" in result.stderr
    assert "added, modified, moved" in result.stderr  # the kinds there are
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_events_command_prints_unknown_kinds_as_they_are(catalogue, capsys):
    catalogue.db.execute_sql(
        "INSERT INTO event (at, kind, source) VALUES (1, 'card_verified', 'card')"
    )
    assert main(["--db", str(catalogue.path), "events", "--json"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["kind"] == "card_verified"


@pytest.mark.parametrize("burst", [1, READ_LIMIT, READ_LIMIT + 1])
def test_events_follow_in_another_process_prints_each_new_event_once_in_order(catalogue, burst):
    root = _root()
    record_event(EventKind.ADDED, "reconcile", root=root, path="old.JPG")
    follower = subprocess.Popen(
        _cli(catalogue, "events", "--follow", "--json", "--limit", "1", "--kind", "added"),
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        first = json.loads(follower.stdout.readline())
        assert (first["kind"], first["path"], first["root"]) == ("added", "old.JPG", "/photos")
        now = time.time()
        with catalogue.db.atomic():
            insert_events(catalogue.db, [
                (now, EventKind.ADDED if n % 2 else EventKind.RATED, "reconcile", root.id,
                 f"{n}.JPG", None, None)
                for n in range(2 * burst)
            ])  # fmt: skip
        record_event(EventKind.ADDED, "reconcile", root=root, path="last.JPG")
        printed = []
        while not printed or printed[-1] != "last.JPG":
            printed.append(json.loads(follower.stdout.readline())["path"])
    finally:
        follower.terminate()
        follower.wait(timeout=10)
    assert printed == [f"{n}.JPG" for n in range(1, 2 * burst, 2)] + ["last.JPG"]
