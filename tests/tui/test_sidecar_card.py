"""Sidecar write-back in the real app: the stars darktable's sidecars hold are on the card, a
reject goes into the sidecar, and a sidecar left alone (changed elsewhere since it was read)
is said on the photo's card and in its information overlay, not only in a toast."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.darktable.sidecar import read_sidecar
from tests.tui.conftest import Library, build_library
from tui.app import ShootwatchApp
from tui.panes.triage import TriagePane

pytestmark = pytest.mark.anyio
SIZE = (160, 40)


@pytest.fixture
def writing_library(tmp_path: Path) -> Iterator[Library]:
    built = build_library(tmp_path, "[triage]\nwrite_sidecars = true\n")
    yield built
    built.catalogue.close()


async def test_the_card_shows_darktables_stars_and_says_when_a_sidecar_is_left_alone(
    writing_library: Library,
):
    library = writing_library
    async with ShootwatchApp(library.settings, library.catalogue, engine="off").run_test(
        size=SIZE
    ) as pilot:
        pane = pilot.app.query_one(TriagePane)
        assert pane.card.path.endswith("IMG_0001.JPG")
        await pilot.press("right")  # IMG_0002: 4 stars and red, in darktable's sidecar
        assert pane.card.path.endswith("IMG_0002.JPG")
        assert "★★★★☆" in str(pane.query_one("#facts").render())
        sidecar = Path(pane.card.path + ".xmp")
        await pilot.press("x", "left")  # rejected: -1 in the sidecar
        assert read_sidecar(sidecar).rating == -1
        assert "sidecar" not in str(pane.query_one("#facts").render())
        # darktable rewrites the sidecar before the catalogue has seen it: left alone, said so
        sidecar.write_bytes(sidecar.read_bytes().replace(b'xmp:Rating="-1"', b'xmp:Rating="2"'))
        await pilot.press("7")  # yellow too
        await pilot.pause()
        assert library.decision("IMG_0002.JPG") == ("rejected", 4, 1 | 2)
        assert read_sidecar(sidecar).rating == 2
        pilot.app.clear_notifications()
        assert "sidecar not written" in str(pane.query_one("#facts").render())
        await pilot.press("i")
        info = " ".join(str(pane.query_one("#info-text").render()).split())
        assert "changed since shootwatch last read it" in info
