"""The shootwatch app: the status line of the engine's components, five panes switched with a
key, the footer of keys that apply now, help, and the command palette.

The app reads the catalogue through core's queries and writes only decisions (core.triage);
the engine, hosted in a worker thread or attached to in another process, does the rest.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable, Iterable

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import ContentSwitcher

from core.catalogue_location import is_server
from core.config import Settings
from core.engine.component import ComponentState
from core.store import Catalogue, queries
from core.store.events import NEW_FILES, EventKind, EventReader, NewEvents
from core.store.models import Root
from tui import keymap
from tui.engine_link import EngineLink
from tui.graphics import Graphics
from tui.help import HelpScreen
from tui.panes.events import SEED_EVENTS, EventsPane
from tui.panes.history import HistoryPane
from tui.panes.progress import ProgressPane
from tui.panes.stages import StagesPane
from tui.panes.triage import TriagePane
from tui.server_reach import ServerReach
from tui.widgets.key_footer import KeyFooter
from tui.widgets.status_bar import PaneBar, StatusBar

PANES = ("triage", "events", "history", "stages", "progress")
PANE_TITLES = {
    "triage": "Triage",
    "events": "Live events",
    "history": "Sync history",
    "stages": "Stage queue",
    "progress": "Edit progress",
}
EVENT_POLL_SECONDS = 0.1  # events reach the panes in batches, ten times a second at most
# On a server, the app is told of new events (NOTIFY) instead of polling; one wait for it lasts
# this long, so that the listening thread sees the app close.
EVENT_WAIT_SECONDS = 0.5
# Events taken in one poll: a scan's burst of 20,000 took 120 ms to fold into the events pane,
# a stall of the whole app; 2,000 a poll still passes 20,000 a second.
DELIVER_LIMIT = 2_000
STATES_SECONDS = 1.0
# New files become photos once described and grouped: the triage queue looks for them every
# few seconds while files arrive, and once more a while after the last ones.
NEW_PHOTO_SECONDS = 3.0
NEW_PHOTO_LAST_LOOK = 15.0
DARKTABLE_SOURCES = ("darktable",)
# The engine starts once the first photo is on screen, or this long after the app opened.
ENGINE_AT_LATEST_SECONDS = 2.0


class ShootwatchApp(App):
    TITLE = "shootwatch"
    CSS_PATH = "app.tcss"
    BINDINGS = [
        *keymap.bindings("app", {}),
        Binding("escape", "dismiss_overlay", show=False),
    ]
    ENABLE_COMMAND_PALETTE = True

    def __init__(
        self,
        settings: Settings,
        catalogue: Catalogue,
        engine: str = "auto",
        graphics: Graphics | None = None,
        renderer: str = "halfblock",
        clock: Callable[[], float] = time.time,
        renderer_note: str | None = None,
    ) -> None:
        # ansi_color: the terminal's own 16 colours stay as they are. Textual would otherwise
        # convert every style on screen to RGB on each frame, and a photo has thousands.
        super().__init__(ansi_color=True)
        self.settings = settings
        self.catalogue = catalogue
        self.link = EngineLink(settings, engine, catalogue.db)
        # On a server: whether it is there; while it is not, the app reads nothing and
        # refuses decisions (tui.server_reach).
        self.reach = ServerReach(catalogue.db, is_server(settings.catalogue), self._server_changed)
        self._last_states: dict[str, ComponentState] = {}
        self.renderer = renderer
        self.clock = clock
        self._graphics = graphics
        self._renderer_note = renderer_note  # more pixels are possible: how (said once)
        self._events = queries.open_read_only(str(settings.catalogue))
        self._event_reader = EventReader(self._events).from_now()
        self._new_events = NewEvents(settings.catalogue, EVENT_POLL_SECONDS)
        self._roots = {root.id: root.path for root in Root.select()}
        self._files_arrived_at: float | None = None  # the last file event (monotonic)
        self._photos_looked_at = 0.0
        self._engine_started = False  # once the first photo is on screen (_start_engine)
        if settings.tui.keys:
            self.set_keymap({name: ",".join(keys) for name, keys in settings.tui.keys.items()})

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield PaneBar(PANES, PANE_TITLES, id="panes")
        with ContentSwitcher(initial="triage", id="switcher"):
            yield TriagePane(self.catalogue.db, self.settings, self._graphics, id="triage")
            yield EventsPane(self._roots, id="events")
            yield HistoryPane(self.link.rescan, id="history")
            yield StagesPane(self.catalogue.db, id="stages")
            yield ProgressPane(str(self.settings.darktable.library), clock=self.clock,
                               id="progress")  # fmt: skip
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(TriagePane).focus()
        self.query_one(EventsPane).add_events(self._event_reader.newest(SEED_EVENTS))
        # The engine starts once the first photo is on screen: started with the app, its
        # workers, watches and first looks took the cores the first photo was drawn with.
        self.set_timer(ENGINE_AT_LATEST_SECONDS, self._start_engine)
        if self._new_events.told:
            self.run_worker(self._listen_for_events, thread=True, name="events",
                            exit_on_error=False)  # fmt: skip
        else:
            self.set_interval(EVENT_POLL_SECONDS, self._poll_events)
        self.set_interval(STATES_SECONDS, self._show_states)
        self.set_interval(NEW_PHOTO_SECONDS, self._look_for_new_photos)
        self._show_states()
        if self._renderer_note:
            self.notify(self._renderer_note, title="tmux holds photos back", timeout=20)
        # Python's full garbage collection walks every object the process holds: with the
        # start-up's (modules, styles, the queue) it took 50-75 ms, the app's longest stall while
        # 20,000 files arrived. Frozen, they are left out of it (about 10 ms).
        gc.freeze()

    def on_triage_pane_first_photo_shown(self) -> None:
        self._start_engine()

    def _start_engine(self) -> None:
        if not self._engine_started:
            self._engine_started = True
            self.run_worker(self._host_engine, thread=True, name="engine", exit_on_error=False)

    def _host_engine(self) -> None:
        from textual.worker import get_current_worker

        worker = get_current_worker()
        self.link.run_until(lambda: worker.is_cancelled)

    def _listen_for_events(self) -> None:
        """On a server: each time new events are announced, they are delivered (on the app's
        thread), in batches as they come."""
        from textual.worker import get_current_worker

        worker = get_current_worker()
        # Only a loss is news, not a try to listen again that failed while the server was
        # still away: the app may have found the server back in between, and would say
        # "dropped" a second time for one outage.
        was_lost: str | None = None
        try:
            while not worker.is_cancelled:
                told = self._new_events.wait(EVENT_WAIT_SECONDS)
                if worker.is_cancelled:
                    break
                lost = self._new_events.lost  # the server dropped the listening connection
                newly_lost, was_lost = lost is not None and was_lost is None, lost
                with contextlib.suppress(RuntimeError):  # the app has closed meanwhile
                    if newly_lost and not self.reach.away:
                        self.call_from_thread(self.reach.went_away, lost)
                    elif told:
                        self.call_from_thread(self._poll_events)
        finally:
            self._new_events.close()

    def on_unmount(self) -> None:
        gc.unfreeze()  # what the app kept can be collected again once it has gone
        self.link.stop()
        self._events.close()

    # --- what the engine reports -------------------------------------------------------------

    def _poll_events(self) -> None:
        with contextlib.suppress(NoMatches):  # the app is closing
            self.reach.read(self._deliver_events)

    def _deliver_events(self) -> None:
        events = self._event_reader.read(DELIVER_LIMIT)
        if not events:
            return
        self.query_one(EventsPane).add_events(events)
        kinds = {event.kind for event in events}
        if kinds.intersection(NEW_FILES):
            self._files_arrived_at = time.monotonic()
        sources = {event.source for event in events}
        if EventKind.ROOT_ADDED in kinds:
            self._roots.update({root.id: root.path for root in Root.select()})
        # The other panes read the catalogue when shown; the one on screen follows along.
        if self.pane == "history" and sources - {"darktable", "triage"}:
            self.query_one(HistoryPane).refresh_runs()
        if self.pane == "progress" and (
            sources & set(DARKTABLE_SOURCES) or EventKind.DARKTABLE_LIBRARY_SYNCED in kinds
        ):
            self.query_one(ProgressPane).refresh_progress()
        if self.pane == "stages" and "stage" in sources:
            self.query_one(StagesPane).refresh_jobs()

    def _look_for_new_photos(self) -> None:
        """Every few seconds while files arrive, and once more a while after the last ones:
        new files become photos only once they are described and grouped."""
        arrived = self._files_arrived_at
        if arrived is None:
            return
        now = time.monotonic()
        last_look = now - arrived >= NEW_PHOTO_LAST_LOOK
        if not last_look and arrived <= self._photos_looked_at:
            return  # nothing new since the last look: wait for the last one
        self._photos_looked_at = now
        if last_look:
            self._files_arrived_at = None
        joined = 0

        def add() -> None:
            nonlocal joined
            joined = self.query_one(TriagePane).add_new_photos()

        with contextlib.suppress(NoMatches):
            self.reach.read(add)
            if joined:
                self.notify(f"{joined:,} new photo{'s' if joined != 1 else ''} joined the queue")

    def _show_states(self) -> None:
        with contextlib.suppress(NoMatches):  # the app is closing
            if self.reach.away:
                self.reach.try_again()  # says it is back when it is (_server_changed)
            if self.reach.away:  # the components as last seen, the server's absence first
                self.query_one(StatusBar).show(self._last_states, self.link.describe(),
                                               self.reach.status())  # fmt: skip
                return
            self.reach.read(self._show_read_states)

    def _show_read_states(self) -> None:
        states = self._last_states = self.link.states()
        self.query_one(StatusBar).show(states, self.link.describe())
        self.query_one(TriagePane).engine_states(states)

    def _server_changed(self, away: bool) -> None:
        """The catalogue's server went away, or is back: said in a notification and on the
        status line; once back, what the panes show is read again."""
        with contextlib.suppress(NoMatches):  # the app is closing
            if away:
                self.notify(self.reach.dropped(), title="Catalogue server", severity="error",
                            timeout=10)  # fmt: skip
                self.query_one(StatusBar).show(self._last_states, self.link.describe(),
                                               self.reach.status())  # fmt: skip
                return
            self.notify(self.reach.back(), title="Catalogue server", timeout=6)
            self.reach.read(self.query_one(TriagePane).catalogue_back)
            self._poll_events()  # what the engine did meanwhile, and since
            self.reach.read(self._show_read_states)

    # --- panes -------------------------------------------------------------------------------

    @property
    def pane(self) -> str:
        return self.query_one(ContentSwitcher).current or "triage"

    def action_show_pane(self, name: str) -> None:
        self.query_one(ContentSwitcher).current = name
        self.query_one(PaneBar).show(name)
        pane = self.query_one(f"#{name}")
        target = pane.focus_target() if hasattr(pane, "focus_target") else pane
        target.focus()
        if name == "history":
            pane.refresh_runs()
        elif name == "stages":
            pane.refresh_jobs()
        elif name == "progress":
            pane.refresh_progress()

    def action_cycle_pane(self, step: int) -> None:
        self.action_show_pane(PANES[(PANES.index(self.pane) + step) % len(PANES)])

    def action_help(self) -> None:
        self.push_screen(HelpScreen(keymap.resolved(self.settings.tui.keys)))

    def action_dismiss_overlay(self) -> None:
        triage = self.query_one(TriagePane)
        if triage.has_class("-info"):
            triage.action_info()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for action in keymap.resolved(self.settings.tui.keys):
            if action.name == "palette":
                continue
            keys = ", ".join(keymap.display(key) for key in action.keys)
            scope = keymap.SCOPES[action.scope]
            yield SystemCommand(
                f"{action.description}",
                f"{scope} · {keys}",
                lambda action=action: self._run_from_palette(action),
            )

    async def _run_from_palette(self, action: keymap.Action) -> None:
        if action.scope == "app":
            await self.run_action(action.action)
            return
        pane = keymap.pane_of(action.scope)
        self.action_show_pane(pane)
        target = self.query_one(f"#{pane}")
        if action.scope == "grid":  # the triage pane's contact sheet, opened for it
            target = target.show_grid(True)
        await self.run_action(action.action, target)
