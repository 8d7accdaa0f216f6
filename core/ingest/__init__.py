"""Inbox ingest: photos copied into an inbox root are filed into dated folders of the library,
each exactly once (``plan`` decides, ``move`` moves safely, ``run`` carries a pass out)."""
