"""Frozen records: dataclasses that cost next to nothing to define.

``@dataclass(frozen=True)`` compiles six functions for each class it makes (``__init__``,
``__repr__``, ``__eq__``, ``__hash__``, ``__setattr__``, ``__delattr__``): 0.5–0.8 ms a class,
paid at every start of every process that imports it. A command's start defines some thirty
such classes (the settings, their checks, the scan's report), which was a fifth of a no-change
``shootwatch scan``. ``frozen_record`` makes the same dataclass (``dataclasses.fields``,
``replace`` and ``asdict`` work on it) with those six written once, here, for every class: the
same arguments, defaults, equality, hash, repr and refusal to be changed. Building an instance
costs a few microseconds more, which only matters for classes made in a loop: those stay plain
dataclasses.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T", bound=type)

_MISSING = dataclasses.MISSING


def frozen_record(cls: T) -> T:
    """``cls`` as a frozen dataclass, its methods shared rather than compiled for it."""
    if not cls.__doc__:
        # Else dataclasses writes one from inspect.signature, which costs what this saves.
        cls.__doc__ = cls.__name__
    cls = dataclasses.dataclass(init=False, repr=False, eq=False)(cls)
    fields = dataclasses.fields(cls)
    cls._record_init = tuple(  # (name, default, factory) in the order of the arguments
        (item.name, item.default, item.default_factory) for item in fields if item.init
    )
    cls._record_compared = tuple(item.name for item in fields if item.compare)
    cls._record_shown = tuple(item.name for item in fields if item.repr)
    cls.__init__ = _init
    cls.__repr__ = _repr
    cls.__eq__ = _eq
    cls.__hash__ = _hash
    cls.__setattr__ = _refuse_change
    cls.__delattr__ = _refuse_removal
    return cls


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    spec = self._record_init
    if len(args) > len(spec):
        raise TypeError(
            f"{type(self).__name__}() takes {len(spec)} arguments but {len(args)} were given"
        )
    setter = object.__setattr__
    for index, (name, default, factory) in enumerate(spec):
        if index < len(args):
            if name in kwargs:
                raise TypeError(f"{type(self).__name__}() got multiple values for {name!r}")
            value = args[index]
        elif name in kwargs:
            value = kwargs.pop(name)
        elif default is not _MISSING:
            value = default
        elif factory is not _MISSING:
            value = factory()
        else:
            raise TypeError(f"{type(self).__name__}() missing required argument: {name!r}")
        setter(self, name, value)
    if kwargs:
        raise TypeError(
            f"{type(self).__name__}() got an unexpected argument {next(iter(kwargs))!r}"
        )


def _values(record: Any) -> tuple[Any, ...]:
    return tuple(getattr(record, name) for name in record._record_compared)


def _repr(self: Any) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._record_shown)
    return f"{type(self).__qualname__}({shown})"


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _values(self) == _values(other)


def _hash(self: Any) -> int:
    return hash(_values(self))


def _refuse_change(self: Any, name: str, value: Any) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")


def _refuse_removal(self: Any, name: str) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
