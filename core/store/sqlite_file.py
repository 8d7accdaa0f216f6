"""What a catalogue file is to every connection: the schema version this code reads and
writes, and the SQLite settings each connection takes. In a module that loads nothing, so a
scan that finds nothing changed opens the file with the standard library alone
(core.cli.unchanged_scan) as the store opens it with peewee (core.store.database). Each step of
core.store.migrations raises the version by one."""

SCHEMA_VERSION = 16
BUSY_TIMEOUT_MS = 5000
PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "normal",  # durable at each checkpoint; WAL keeps it consistent on a crash
    "foreign_keys": 1,
    "busy_timeout": BUSY_TIMEOUT_MS,
    "cache_size": -32_000,  # 32 MB
}
