"""Commands around the engine: ``run`` (the headless service), ``events`` (the event log, live
with --follow), ``rescan`` (ask the running engine, or scan here when none runs)."""

from __future__ import annotations

import datetime
import json
import logging
import os
import signal
import time
from typing import TextIO

from core.cli import output
from core.cli.invocation import EXIT_ERROR, EXIT_OK, Invocation, UsageError
from core.config import Settings
from core.store import queries
from core.store.events import (
    Event,
    EventKind,
    EventReader,
    NewEvents,
    UndeclaredEventKind,
    declared,
)
from core.store.models import Root

FOLLOW_POLL_SECONDS = 0.5  # events --follow on a SQLite catalogue: how often it looks
FOLLOW_WAIT_SECONDS = 1.0  # on a server: how long one wait for NOTIFY lasts (no read after it)


def run_engine(settings: Settings, err: TextIO) -> int:
    from core.engine import EngineRunning  # only this command runs the engine here

    logging.basicConfig(
        level=logging.INFO, stream=err, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("watchfiles").setLevel(logging.WARNING)
    try:
        engine = _start_engine(settings)
    except EngineRunning as error:
        err.write(f"shootwatch: {output.shown(error)}; nothing to do\n")
        return EXIT_ERROR

    signalled = []

    def on_signal(signum: int, _frame: object) -> None:
        logging.getLogger("shootwatch").info("%s: stopping", signal.Signals(signum).name)
        signalled.append(signum)
        engine.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not engine.wait(0.5):
        pass
    if signalled:
        return EXIT_OK
    # It stopped itself: another engine took the catalogue while its server was away.
    engine.stop()
    err.write("shootwatch: another engine took this catalogue while its server was away\n")
    return EXIT_ERROR


def _start_engine(settings: Settings):
    """A started engine. On a server, one whose start the server cut short (it restarted
    then) is started again, after a wait that doubles each time, until the server is back: the
    server's errors are raised only when it was not reached at all (for the first lock)."""
    from peewee import DatabaseError

    from core.catalogue_location import is_server
    from core.engine import Engine
    from core.engine.server_watch import FIRST_RETRY_SECONDS, LONGEST_RETRY_SECONDS
    from core.store import CatalogueError

    wait = FIRST_RETRY_SECONDS
    reached = False  # whether the server was reached once: then it is waited for
    while True:
        engine = Engine(settings)
        try:
            engine.start()
            return engine
        except (CatalogueError, DatabaseError) as error:
            reached = reached or engine.lock_taken
            if not is_server(settings.catalogue) or not reached:
                raise
            engine.stop()
            logging.getLogger("shootwatch.engine").warning(
                "the catalogue's server went away while the engine started (%s): "
                "starting again in %.1f s",
                str(error).strip().splitlines()[0],
                wait,
            )
            time.sleep(wait)
            wait = min(wait * 2, LONGEST_RETRY_SECONDS)


def parse_since(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text[:-1].isdigit() and text[-1] in units:
        return time.time() - int(text[:-1]) * units[text[-1]]
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--since {text!r} is not a time: use 2024-06-01, 2024-06-01T18:00 or 10m, 2h, 3d"
        ) from None
    return moment.timestamp()  # naive times are local, as a person means them


def _event_dict(event: Event, root_paths: dict[int, str]) -> dict:
    when = datetime.datetime.fromtimestamp(event.at).astimezone()
    return {
        "id": event.id,
        "at": event.at,
        "time": when.isoformat(timespec="seconds"),
        "kind": event.kind,
        "source": event.source,
        "root": root_paths.get(event.root_id),
        "path": event.path,
        "photo": event.photo_id,
        "payload": event.payload,
    }


def _event_line(event: dict) -> str:
    details = ""
    if event["payload"]:
        details = "  " + output.shown(", ".join(f"{k}={v}" for k, v in event["payload"].items()))
    return f"{event['time']}  {event['kind']:<14} {output.shown(event['path'] or '-')}{details}"


def _kinds_asked(kinds: list[str] | None) -> tuple[EventKind, ...]:
    try:
        return tuple(declared(kind) for kind in kinds or ())
    except UndeclaredEventKind as error:
        raise UsageError(
            f"--kind {error.kind!r} is not a kind of event; the kinds are {', '.join(EventKind)}"
        ) from None


def events(run: Invocation) -> int:
    args, out = run.args, run.out
    since = parse_since(args.since) if args.since else None
    kinds = _kinds_asked(args.kind)
    connection = queries.open_read_only(str(run.catalogue.location))
    root_paths = {root.id: root.path for root in Root.select()}
    reader = EventReader(connection, kinds=kinds)
    if since is None:
        shown = reader.newest(args.limit)
    else:
        shown = reader.read(limit=None, since=since)
        if not shown:
            reader.from_now()
    new_events = NewEvents(run.catalogue.location, FOLLOW_POLL_SECONDS)
    try:
        while True:
            for event in shown:
                line = _event_dict(event, root_paths)
                out.write((json.dumps(line) if args.json else _event_line(line)) + "\n")
            out.flush()
            if not args.follow:
                return EXIT_OK
            # On a server, only when told (the timeout lets Ctrl-C through, and reads nothing).
            shown = reader.read() if new_events.wait(FOLLOW_WAIT_SECONDS) else []
            if any(event.root_id not in root_paths for event in shown):
                root_paths = {root.id: root.path for root in Root.select()}
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        new_events.close()
        connection.close()


def rescan(run: Invocation) -> int:
    from core.cli import scanning
    from core.engine.control import ask
    from core.engine.lock import running_engine_holder

    args, out, err = run.args, run.out, run.err
    reply = ask(run.settings.catalogue, {"command": "rescan", "path": args.path})
    if reply is not None:
        if not reply.get("ok"):
            raise UsageError(reply.get("error", "the engine refused"))
        roots = output.shown(", ".join(reply["roots"])) or "no roots"
        out.write(f"the running engine will rescan: {roots}\n")
        return EXIT_OK
    holder = running_engine_holder(run.settings.catalogue)
    if holder is not None:  # one on another machine, or one starting: never a second writer
        raise UsageError(
            f"an engine runs on this catalogue ({holder.said}) but cannot be asked from here: "
            "run 'shootwatch rescan' where it runs, or wait until it has started"
        )
    # No engine runs: scan here.
    if args.path is not None:
        root = queries.root_for_path(os.path.realpath(os.path.expanduser(args.path)))
        if root is None:
            raise UsageError(f"{args.path} is not inside a root; add it first: shootwatch add PATH")
        roots = [root]
    else:
        roots = list(Root.select().order_by(Root.path))
    err.write("no engine is running: scanning here\n")
    return scanning.scan_here(run, roots)
