"""Frozen records: frozen dataclasses that cost next to nothing to define.

``@dataclass(frozen=True)`` compiles six functions for each class it makes (``__init__``,
``__repr__``, ``__eq__``, ``__hash__``, ``__setattr__``, ``__delattr__``), 0.5–0.8 ms a class,
and importing ``dataclasses`` loads ``inspect`` (``ast``, ``dis``, ``tokenize``): 7 ms more.
A command's start defines some thirty such classes (the settings, their checks, the scan's
report), which was a quarter of a no-change ``shootwatch scan``. ``frozen_record`` makes the
same class with those six written once, here, for every class: the same arguments, defaults,
equality, hash, repr and refusal to be changed. It is still a dataclass to whoever asks
(``dataclasses.fields``, ``replace``, ``asdict``, ``is_dataclass``): the first such question
loads ``dataclasses`` and builds the class's fields then. Code on a command's start path uses
this module's ``field``, ``fields`` and ``replace``, which load nothing.

Building an instance costs a few microseconds more than a dataclass's, which only matters for
classes made in a loop: those stay plain dataclasses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T", bound=type)


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()  # no default given


class RecordField:
    """One field of a record: its name and annotation, default or factory, and metadata."""

    __slots__ = ("default", "default_factory", "metadata", "name", "type")

    def __init__(
        self,
        default: Any = MISSING,
        default_factory: Callable[[], Any] | Any = MISSING,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.name = ""
        self.type: Any = None
        self.default = default
        self.default_factory = default_factory
        self.metadata = metadata or {}


def field(
    *,
    default: Any = MISSING,
    default_factory: Callable[[], Any] | Any = MISSING,
    metadata: dict[str, Any] | None = None,
) -> Any:
    """A record's field with a default, a factory or metadata (as ``dataclasses.field``)."""
    return RecordField(default, default_factory, metadata)


def frozen_record(cls: T) -> T:
    """``cls`` as a frozen record: its annotated fields, its methods shared."""
    declared: list[RecordField] = []
    # Not inspect.get_annotations: loading inspect is what this module avoids.
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():  # noqa: RUF063
        value = cls.__dict__.get(name, MISSING)
        if type(value).__module__ == "dataclasses":
            raise TypeError(f"{cls.__name__}.{name}: a record's field is core.records.field()")
        item = value if isinstance(value, RecordField) else RecordField(default=value)
        item.name, item.type = name, annotation
        if _required(item) and any(not _required(earlier) for earlier in declared):
            raise TypeError(f"non-default argument {name!r} follows default argument")
        if item.default is MISSING:
            if name in cls.__dict__:
                delattr(cls, name)  # as a dataclass: a field with no default is no attribute
        else:
            setattr(cls, name, item.default)
        declared.append(item)
    cls._record_fields = tuple(declared)
    cls._record_names = tuple(item.name for item in declared)
    cls.__match_args__ = cls._record_names
    cls.__init__ = _init
    cls.__repr__ = _repr
    cls.__eq__ = _eq
    cls.__hash__ = _hash
    cls.__setattr__ = _refuse_change
    cls.__delattr__ = _refuse_removal
    cls.__dataclass_fields__ = _AsDataclass("__dataclass_fields__")
    cls.__dataclass_params__ = _AsDataclass("__dataclass_params__")
    return cls


def _required(item: RecordField) -> bool:
    return item.default is MISSING and item.default_factory is MISSING


def is_record(value: Any) -> bool:
    """Whether ``value`` is a record class or a record."""
    return hasattr(value, "_record_fields")


def fields(record: Any) -> tuple[RecordField, ...]:
    """The fields of a record class or a record, in their order."""
    return record._record_fields


def replace(record: T, **changes: Any) -> T:
    """A copy of ``record`` with ``changes`` (as ``dataclasses.replace``)."""
    values = {name: getattr(record, name) for name in record._record_names}
    for name in changes:
        if name not in values:
            raise TypeError(f"{type(record).__name__} has no field {name!r}")
    values.update(changes)
    return type(record)(**values)


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    spec = self._record_fields
    if len(args) > len(spec):
        raise TypeError(
            f"{type(self).__name__}() takes {len(spec)} arguments but {len(args)} were given"
        )
    setter = object.__setattr__
    for index, item in enumerate(spec):
        name = item.name
        if index < len(args):
            if name in kwargs:
                raise TypeError(f"{type(self).__name__}() got multiple values for {name!r}")
            value = args[index]
        elif name in kwargs:
            value = kwargs.pop(name)
        elif item.default is not MISSING:
            value = item.default
        elif item.default_factory is not MISSING:
            value = item.default_factory()
        else:
            raise TypeError(f"{type(self).__name__}() missing required argument: {name!r}")
        setter(self, name, value)
    if kwargs:
        raise TypeError(
            f"{type(self).__name__}() got an unexpected argument {next(iter(kwargs))!r}"
        )


def _values(record: Any) -> tuple[Any, ...]:
    return tuple(getattr(record, name) for name in record._record_names)


def _repr(self: Any) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._record_names)
    return f"{type(self).__qualname__}({shown})"


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) == _values(other)


def _hash(self: Any) -> int:
    return hash(_values(self))


def _refuse_change(self: Any, name: str, value: Any) -> None:
    from dataclasses import FrozenInstanceError  # only when something tries

    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _refuse_removal(self: Any, name: str) -> None:
    from dataclasses import FrozenInstanceError

    raise FrozenInstanceError(f"cannot delete field {name!r}")


class _AsDataclass:
    """What makes a record a dataclass to ``dataclasses``: asked for the first time, it builds
    the fields as ``dataclasses`` would for the same class, and puts them on the class."""

    def __init__(self, attribute: str) -> None:
        self.attribute = attribute

    def __get__(self, instance: Any, owner: type) -> Any:
        import dataclasses

        namespace: dict[str, Any] = {"__annotations__": {}, "__doc__": owner.__name__}
        for item in owner._record_fields:
            namespace["__annotations__"][item.name] = item.type
            namespace[item.name] = dataclasses.field(
                default=dataclasses.MISSING if item.default is MISSING else item.default,
                default_factory=dataclasses.MISSING
                if item.default_factory is MISSING
                else item.default_factory,
                metadata=item.metadata,
            )
        namespace["__module__"] = owner.__module__
        made = dataclasses.dataclass(frozen=True, init=False, repr=False, eq=False)(
            type(owner.__name__, (), namespace)
        )
        for attribute in ("__dataclass_fields__", "__dataclass_params__"):
            type.__setattr__(owner, attribute, made.__dict__[attribute])
        return owner.__dict__[self.attribute]
