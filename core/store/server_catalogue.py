"""What a catalogue on a PostgreSQL server is to every connection: where its schema version is
kept, the options of a connection that reads much, and the store's SQL as psycopg takes it. In
a module that loads nothing (neither peewee nor the driver), so a scan that finds nothing
changed reaches the server with psycopg alone (core.cli.quick_catalogue) as the store reaches
it with peewee (core.store.dialect); core.store.sqlite_file is the same for a SQLite file."""

from __future__ import annotations

from typing import Any, Protocol

SCHEMA_TABLE = "shootwatch_schema"  # the schema version's one row
# No JIT: a read of a library's files is estimated costly enough for the server to compile it
# first (jit_above_cost), which took 100-250 ms, longer than the read itself, for every scan.
NO_JIT = "-c jit=off"


class Sql(Protocol):
    def execute_sql(self, sql: str, params: Any = ...) -> Any: ...


def schema_version(db: Sql) -> int:
    """The catalogue's schema version; 0 for an empty database (or another program's).
    ``db`` takes psycopg's ``%s`` placeholders."""
    exists = db.execute_sql("SELECT to_regclass(%s)", (SCHEMA_TABLE,)).fetchone()[0]
    if exists is None:
        return 0
    row = db.execute_sql(f'SELECT version FROM "{SCHEMA_TABLE}"').fetchone()
    return row[0] if row else 0


def postgres_placeholders(sql: str, has_params: bool = True) -> str:
    """``sql`` written for SQLite (``?`` placeholders) as psycopg takes it (``%s``, and every
    literal ``%`` doubled). SQL that peewee wrote for PostgreSQL (``%s`` already) is left as
    it is: it never holds a ``?``."""
    if "?" not in sql:
        return sql.replace("%", "%%") if "%" in sql and not has_params else sql
    out: list[str] = []
    quote = ""
    for char in sql:
        if char == "%":
            out.append("%%")
        elif quote:
            out.append(char)
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
            out.append(char)
        else:
            out.append("%s" if char == "?" else char)
    return "".join(out)
