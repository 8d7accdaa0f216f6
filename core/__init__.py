"""shootwatch's engine: catalogue, scanning, darktable, media, triage, stages, ingest.

Nothing here imports textual: the same engine runs under the TUI and headless.
"""

from core import database_drivers

database_drivers.install()  # before any module imports peewee
