"""Declaring a setting: ``setting()`` makes a settings dataclass field that carries its check,
help and example, and ``declared_in`` reads those declarations back as ``Setting`` values."""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any

from core.config.checks import Check, Table
from core.records import MISSING, field, fields, frozen_record, is_record

_DECLARED = "shootwatch.setting"  # where a field's metadata holds its declaration


@frozen_record
class _Declared:
    check: Check
    help: str
    example: Any
    default_doc: str | None
    key: str | None


def setting(
    default: Any = MISSING,
    *,
    factory: Callable[[], Any] | None = None,
    check: Check,
    help: str,
    example: Any = None,
    default_doc: str | None = None,
    key: str | None = None,
) -> Any:
    """A settings field that is a setting: its ``default`` (or a ``factory`` for one that
    depends on the machine, described in words by ``default_doc``), the ``check`` a value from
    the file or a flag goes through, and its ``help``. The reference shows ``example`` when
    given, and the default otherwise. ``key`` is its name in the file when that is not
    ``section.field``."""
    declared = _Declared(check, help, example, default_doc, key)
    if factory is not None:
        return field(default_factory=factory, metadata={_DECLARED: declared})
    return field(default=default, metadata={_DECLARED: declared})


@frozen_record
class Setting:
    """One declared setting, as the file names it and the settings hold it."""

    key: str  # in the file, dotted: "scan.workers"
    section: str | None  # the Settings field holding it ("scan"); None: Settings itself
    name: str  # its field there ("workers")
    type: str  # as annotated: "int"
    default: Callable[[], Any]
    check: Check
    help: str
    example: Any
    default_doc: str | None

    @property
    def is_table(self) -> bool:
        """A table of the photographer's own names ([keys], [stages.commands])."""
        return isinstance(self.check, Table)

    @property
    def allowed(self) -> str:
        return self.check.allowed

    def value_in(self, settings: Any) -> Any:
        """Its value in ``settings`` (a Settings)."""
        holder = settings if self.section is None else getattr(settings, self.section)
        return getattr(holder, self.name)


def section_types(root: type) -> dict[str, type]:
    """The fields of ``root`` that are sections (dataclasses of settings), with their classes."""
    hints = typing.get_type_hints(root)
    return {item.name: hints[item.name] for item in fields(root) if is_record(hints[item.name])}


def declared_in(root: type) -> tuple[Setting, ...]:
    """Every setting declared on ``root``'s own fields, then on its sections', in their order."""
    found = _declared_fields(root, None)
    for section, cls in section_types(root).items():
        found += _declared_fields(cls, section)
    return tuple(found)


def _declared_fields(cls: type, section: str | None) -> list[Setting]:
    found = []
    for item in fields(cls):
        declared = item.metadata.get(_DECLARED)
        if declared is None:
            continue  # a value that follows from the settings (scan.own_folders), not one
        if item.default_factory is not MISSING:
            default = item.default_factory
        else:
            default = lambda value=item.default: value  # noqa: E731
        key = declared.key or (item.name if section is None else f"{section}.{item.name}")
        found.append(
            Setting(
                key=key,
                section=section,
                name=item.name,
                type=str(item.type),
                default=default,
                check=declared.check,
                help=declared.help,
                example=declared.example,
                default_doc=declared.default_doc,
            )
        )
    return found
