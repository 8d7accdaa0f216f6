"""A frozen record behaves as the frozen dataclass it replaces: the same arguments, defaults,
equality, hash, repr, refusals, ``replace``/``asdict``/``fields`` and pickling; and the classes
every command defines at start are records, not dataclasses compiled at each start."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import subprocess
import sys
from dataclasses import dataclass, field

import pytest

from core import records
from core.records import frozen_record
from tests.helpers import REPO


@frozen_record
class Record:
    """A shoot."""

    name: str
    photos: int = 0
    tags: tuple[str, ...] = records.field(default_factory=tuple)
    note: str = records.field(default="", metadata={"help": "free text"})


@dataclass(frozen=True)
class Dataclass:
    """The same shoot, as a dataclass."""

    name: str
    photos: int = 0
    tags: tuple[str, ...] = field(default_factory=tuple)
    note: str = field(default="", metadata={"help": "free text"})


CALLS = [
    (("Rome",), {}),
    (("Rome", 3), {}),
    (("Rome",), {"note": "day 1", "photos": 2}),
    ((), {"name": "Oslo", "tags": ("snow",)}),
    (("Rome", 3, ("a", "b"), "n"), {}),
]
WRONG_CALLS = [
    ((), {}),  # name missing
    (("Rome",), {"name": "Oslo"}),  # name twice
    (("Rome",), {"colour": "red"}),  # no such field
    (("Rome", 1, (), "", "extra"), {}),  # one argument too many
]


@pytest.mark.parametrize(("args", "kwargs"), CALLS)
def test_a_record_is_made_compared_hashed_and_shown_as_the_dataclass(args, kwargs):
    record, reference = Record(*args, **kwargs), Dataclass(*args, **kwargs)
    assert dataclasses.asdict(record) == dataclasses.asdict(reference)
    assert repr(record).replace("Record(", "Dataclass(") == repr(reference)
    assert record == Record(*args, **kwargs) and hash(record) == hash(Record(*args, **kwargs))
    assert hash(record) == hash(reference)
    assert record != reference  # another class, as two dataclasses are
    assert record != Record("Elsewhere", 99)


@pytest.mark.parametrize(("args", "kwargs"), WRONG_CALLS)
def test_a_record_refuses_the_arguments_the_dataclass_refuses(args, kwargs):
    with pytest.raises(TypeError):
        Dataclass(*args, **kwargs)
    with pytest.raises(TypeError):
        Record(*args, **kwargs)


def test_a_record_cannot_be_changed_and_is_still_a_dataclass():
    record = Record("Rome", 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.photos = 4
    with pytest.raises(dataclasses.FrozenInstanceError):
        del record.name
    assert record.photos == 3
    assert dataclasses.is_dataclass(record)
    assert [item.name for item in dataclasses.fields(Record)] == [
        item.name for item in dataclasses.fields(Dataclass)
    ]
    assert dataclasses.fields(Record)[3].metadata["help"] == "free text"
    changed = dataclasses.replace(record, photos=5)
    assert changed == Record("Rome", 5) and record.photos == 3
    assert Record("Rome").tags == () and Record("Rome").note == ""


def test_a_record_survives_pickling_and_copies():
    record = Record("Rome", 3, ("a",), "n")
    assert pickle.loads(pickle.dumps(record)) == record
    assert copy.copy(record) == record and copy.deepcopy(record) == record


def run_python(program: str) -> subprocess.CompletedProcess[str]:
    """``program`` run by a fresh interpreter: what a command's start loads, and nothing else."""
    return subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, cwd=REPO, timeout=60
    )


# Modules that define the classes of a no-change scan's start (the settings, their checks and
# declarations, the scan's report and the mount table): each dataclass they define is a record.
START_MODULES = ("core.config.checks", "core.config.declaration", "core.config.settings",
                 "core.config.loading", "core.scan.mounts", "core.scan.report",
                 "core.cli.invocation", "core.cli.unchanged_scan")  # fmt: skip


def test_the_classes_a_command_defines_at_start_are_records():
    program = (
        "import dataclasses, importlib, sys\n"
        "from core.records import _init\n"
        f"for name in {START_MODULES!r}:\n"
        "    module = importlib.import_module(name)\n"
        "    for value in vars(module).values():\n"
        "        if (isinstance(value, type) and value.__module__ == name\n"
        "                and dataclasses.is_dataclass(value) and value.__init__ is not _init):\n"
        "            print(name, value.__name__)\n"
    )
    result = run_python(program)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "", (
        f"compiled at every start, make them frozen records:\n{result.stdout}"
    )


def test_the_records_own_fields_and_replace_agree_with_dataclasses():
    record = Record("Rome", 3, ("a",), "n")
    assert [(item.name, item.type) for item in records.fields(Record)] == [
        (item.name, item.type) for item in dataclasses.fields(Dataclass)
    ]
    assert records.replace(record, photos=4) == dataclasses.replace(record, photos=4)
    assert records.replace(record) == record
    with pytest.raises(TypeError):
        records.replace(record, colour="red")
    assert records.is_record(Record) and records.is_record(record)
    assert not records.is_record(Dataclass) and not records.is_record(3)


def test_a_record_is_declared_as_a_dataclass_would_be_or_refused():
    with pytest.raises(TypeError, match="follows default"):

        @frozen_record
        class Backwards:
            first: int = 0
            second: int

    with pytest.raises(TypeError, match=r"core\.records\.field"):

        @frozen_record
        class Borrowed:
            tags: tuple[str, ...] = field(default_factory=tuple)


def test_a_record_loads_dataclasses_only_when_asked_as_one():
    program = (
        "import sys\n"
        "from core import records\n"
        "@records.frozen_record\n"
        "class Shoot:\n"
        "    name: str\n"
        "    photos: int = records.field(default=0, metadata={'help': 'how many'})\n"
        "shoot = records.replace(Shoot('Rome'), photos=2)\n"
        "assert shoot == Shoot('Rome', 2) and hash(shoot) == hash(Shoot('Rome', 2))\n"
        "assert 'dataclasses' not in sys.modules and 'inspect' not in sys.modules\n"
        "import dataclasses\n"
        "assert dataclasses.is_dataclass(shoot)\n"
        "assert dataclasses.fields(Shoot)[1].metadata['help'] == 'how many'\n"
        "assert dataclasses.asdict(shoot) == {'name': 'Rome', 'photos': 2}\n"
        "print('ok')\n"
    )
    result = run_python(program)
    assert result.stdout == "ok\n", result.stderr
