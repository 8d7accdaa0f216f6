"""Regenerate the screenshots of the README and docs/app.md: one SVG per pane, and the culling
views on the demo's burst (survey, compare, the loupe, the contact sheet), from the demo library,
at 160x48, with the clock pinned so the pictures change only when the app does.

    python3 screenshots/make_screenshots.py

Run it after changing what a pane shows, and commit the SVGs with the change.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.tui.burst_helpers import tiles_drawn  # noqa: E402
from tests.tui.demo_app import PANE_KEYS, SIZE, demo_app, settle  # noqa: E402
from tui.panes.triage import TriagePane  # noqa: E402

# The culling views, on the demo's burst (a lens hunting for focus over five frames): the photo
# to stand on, the keys that open the view, the keys that close it.
CULLING = {
    "survey": ("DSC_0101.JPG", ("v",), ("escape",)),
    "compare": ("DSC_0102.JPG", ("c",), ("escape",)),
    "loupe": ("DSC_0102.JPG", ("z",), ("z",)),
    "grid": ("DSC_0102.JPG", ("t",), ("t",)),
}


async def shoot() -> None:
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        for pane, keys in PANE_KEYS.items():
            await pilot.press(*keys)
            await settle(pilot, app)
            path = app.save_screenshot(filename=f"{pane}.svg", path=str(HERE))
            print(f"wrote {Path(path).relative_to(HERE.parent)}")
        await pilot.press("T")
        pane = app.query_one(TriagePane)
        for view, (name, keys, back) in CULLING.items():
            photo = app.catalogue.db.execute_sql(
                "SELECT photo_id FROM file WHERE role = 'original' AND rel_path LIKE ?",
                (f"%/{name}",),
            ).fetchone()[0]
            pane.load_queue("all", photo)
            await settle(pilot, app)
            await pilot.press(*keys)
            if view in ("survey", "compare"):
                await tiles_drawn(pilot)
            else:
                await pilot.pause(3)  # the loupe's full-size pixels, the grid's thumbnails
                app.clear_notifications()
                await pilot.pause()
            path = app.save_screenshot(filename=f"{view}.svg", path=str(HERE))
            print(f"wrote {Path(path).relative_to(HERE.parent)}")
            await pilot.press(*back)


if __name__ == "__main__":
    asyncio.run(shoot())
