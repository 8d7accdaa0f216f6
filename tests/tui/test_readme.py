"""The README and docs/ say what the code does: every action is in the README's keymap (a new
one without a line there fails here), the configuration reference in docs/settings.md is the text
the settings' declarations make (``python3 -m core.config --update docs/settings.md``), and every
link between the README and docs/ leads to a file that is there."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import reference_markdown
from core.config.reference import REFERENCE_END, REFERENCE_START
from tui.keymap import ACTIONS, display

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
SETTINGS_PAGE = (REPO / "docs" / "settings.md").read_text()
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def section(title: str) -> str:
    start = README.index(title)
    end = README.find("\n## ", start + len(title))
    return README[start : end if end != -1 else None]


def test_every_action_is_in_the_keymap_table():
    keymap = section("### Keymap")
    for action in ACTIONS:
        name = action.name
        if re.fullmatch(r"stars_[1-4]", name):
            assert "`stars_0` … `stars_5`" in keymap
            continue
        assert f"`{name}`" in keymap, f"{name} is not in the README's keymap"
        first = display(action.keys[0])
        shown = {"right": "→", "left": "←", "down": "↓", "up": "↑", "␣": "space",
                 "⌫": "backspace", "^z": "ctrl+z", "^y": "ctrl+y", "^p": "ctrl+p",
                 "⇧tab": "shift+tab", "f1": "F1", "f5": "F5"}.get(first, first)  # fmt: skip
        assert f"`{shown}`" in keymap or shown in keymap, f"{name}: key {shown} not documented"


def configuration_reference() -> str:
    start = SETTINGS_PAGE.index(REFERENCE_START) + len(REFERENCE_START)
    return SETTINGS_PAGE[start : SETTINGS_PAGE.index(REFERENCE_END)].removeprefix("\n")


def test_the_configuration_reference_is_the_one_the_declarations_make():
    assert configuration_reference() == reference_markdown(), (
        "docs/settings.md's configuration reference is out of date: "
        "python3 -m core.config --update docs/settings.md"
    )


def test_the_reference_script_prints_the_reference_and_updates_a_page(tmp_path):
    printed = subprocess.run(
        [sys.executable, "-m", "core.config", "--markdown"],
        cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert printed == configuration_reference()
    stale = tmp_path / "settings.md"
    stale.write_text(f"# x\n\n{REFERENCE_START}\n```toml\nold = 1\n```\n{REFERENCE_END}\n\nafter\n")
    subprocess.run(
        [sys.executable, "-m", "core.config", "--update", str(stale)],
        cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), check=True,
    )  # fmt: skip
    assert stale.read_text() == (f"# x\n\n{REFERENCE_START}\n{printed}{REFERENCE_END}\n\nafter\n")


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.M | re.S)  # no code blocks
    return {anchor(title) for title in re.findall(r"^#+ (.+)$", text, flags=re.M)}


def relative_links(page: Path) -> list[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.M | re.S)
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    return [link for link in links if not re.match(r"[a-z]+:", link)]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_link_leads_to_a_file_and_heading_that_are_there(page):
    for link in relative_links(page):
        target, _, fragment = link.partition("#")
        path = (page.parent / target).resolve() if target else page
        assert path.exists(), f"{page.name}: {link} leads to no file"
        if fragment and path.suffix == ".md":
            assert fragment in anchors(path), f"{page.name}: {link} leads to no heading"


def test_the_readme_links_every_page_of_docs():
    linked = {(REPO / link.partition("#")[0]).resolve() for link in relative_links(PAGES[0])}
    for page in PAGES[1:]:
        assert page in linked, f"the README's 'Where to read more' leaves out docs/{page.name}"


@pytest.mark.parametrize(
    "content", [None, "# shootwatch\n\nno markers here\n", f"# x\n\n{REFERENCE_START}\nno end\n"],
    ids=["no file", "no markers", "no end marker"],
)  # fmt: skip
def test_updating_a_page_without_the_markers_says_so_in_one_sentence(tmp_path, content):
    page = tmp_path / "README.md"
    if content is not None:
        page.write_text(content)
    done = subprocess.run(
        [sys.executable, "-m", "core.config", "--update", str(page)],
        cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert str(page) in done.stderr and "docs/settings.md" in done.stderr
    assert (page.read_text() if content is not None else None) == content


def test_ci_runs_the_readme_test_command_as_written():
    after = README[README.index("Install and run the tests:") :]
    command = re.search(r"```sh\n(.+?)\n```", after).group(1)
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert any(line == command or line.startswith(command + " ||") for line in ci), (
        f".ci/run does not run the README's test command as written: {command}"
    )
