"""Regenerate the README's screenshots: one SVG per pane, from the demo library, at 160x48,
with the clock pinned so the pictures change only when the app does.

    python3 screenshots/make_screenshots.py

Run it after changing what a pane shows, and commit the SVGs with the change.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.tui.demo_app import PANE_KEYS, SIZE, demo_app, settle  # noqa: E402


async def shoot() -> None:
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, app)
        for pane, keys in PANE_KEYS.items():
            await pilot.press(*keys)
            await settle(pilot, app)
            path = app.save_screenshot(filename=f"{pane}.svg", path=str(HERE))
            print(f"wrote {Path(path).relative_to(HERE.parent)}")


if __name__ == "__main__":
    asyncio.run(shoot())
