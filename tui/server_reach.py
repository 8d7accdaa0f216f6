"""Whether the app reaches its catalogue's PostgreSQL server: the connection dropped (a read of
the app's failed as the server went, or the server stopped telling of new events), asked again
once a second, back; and the sentences the app says about it. On a SQLite file the app always
reaches its catalogue.

While the server is away the app reads nothing from it (the panes keep what they show) and a
decision is refused on screen before anything is tried: nothing is kept to be written later
behind the photographer's back.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from peewee import Database

from core.store.dialect import first_line, reach_server, server_unreachable


class ServerReach:
    """One per app. ``changed(away)`` is called on the app's thread when the server goes away
    and when it is back."""

    def __init__(self, db: Database, on_server: bool, changed: Callable[[bool], None]) -> None:
        self.db = db
        self.on_server = on_server
        self.changed = changed
        self.away_since: float | None = None  # time.time() when it went; None while there
        self.reason = ""

    @property
    def away(self) -> bool:
        return self.away_since is not None

    def read(self, work: Callable[[], object]) -> bool:
        """Run ``work`` (the app's reads of the catalogue) unless the server is away; False
        when it is, or went away during it. Any other error is ``work``'s own."""
        if self.away:
            return False
        try:
            work()
        except Exception as error:
            if not self.went_away(error):
                raise
            return False
        return True

    def went_away(self, error: BaseException | str) -> bool:
        """Take note that the server went away, when ``error`` says so (a string: the reason);
        False when it is another error."""
        if not self.on_server:
            return False
        if isinstance(error, BaseException) and not server_unreachable(error):
            return False
        if not self.away:
            self.away_since = time.time()
            self.reason = error if isinstance(error, str) else first_line(error)
            self.changed(True)
        return True

    def try_again(self) -> bool:
        """While away: ask the server; True once it answers (and it is said back)."""
        if not self.away:
            return True
        try:
            reach_server(self.db)
        except Exception as error:
            if not server_unreachable(error):
                raise
            self.reason = first_line(error)
            return False
        self.away_since = None
        self.changed(False)
        return True

    # --- what the app says -------------------------------------------------------------------

    def since(self) -> str:
        return time.strftime("%H:%M:%S", time.localtime(self.away_since or time.time()))

    def status(self) -> str:
        """The status line while away."""
        return (
            f"the catalogue's server cannot be reached since {self.since()} ({self.reason}): "
            "decisions are refused until it is back; trying again"
        )

    def dropped(self) -> str:
        return (
            f"The connection to the catalogue's server dropped ({self.reason}). Decisions are "
            "refused until it is back; the app connects again by itself."
        )

    def back(self) -> str:
        return "The catalogue's server is back: decisions are saved again."

    def refusal(self) -> str:
        """A decision key pressed while away."""
        return (
            f"Not saved: the catalogue's server cannot be reached since {self.since()} "
            f"({self.reason}), so nothing was changed; press the key again once it is back."
        )
