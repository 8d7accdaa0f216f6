"""People deciding on one catalogue: each decision names its person, undo and redo take back a
person's own decisions only (in every order of two people's decisions), what the photo shows
then, and the conflicts between people until one is settled."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.config import MediaSettings
from core.media.photos import MediaSync
from core.store.models import Decision, FileRecord, Photo
from core.triage.bursts import regroup_all
from core.triage.decisions import Triage
from core.triage.people import (
    BLIND,
    EVERYONE,
    SeenDecisions,
    conflicts,
    decisions_by_photo,
    photo_decisions,
    seen_decision,
)
from core.triage.queue import Queue
from tests.bursts_sequences import catalogue_shoot, mixed_frames
from tests.helpers import REPO, command_settings, run_command, scan
from tests.people_cull import plan, standing_after
from tests.postgres_cluster import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS

SAMPLES = Path(__file__).parents[1] / "fixtures" / "camera"
SHOTS = {
    "p.jpg": "kodak_dc240_1999.jpg",
    "q.jpg": "nikon_coolpix_p6000_gps_DSCN0010.jpg",
    "r.jpg": "sony_slt-a58_small.jpg",
}
PEOPLE = {"A": "ann@studio", "B": "bob@laptop", "C": "cat@nas"}


@pytest.fixture
def photos(catalogue, tmp_path) -> dict[str, int]:
    library = tmp_path / "library"
    library.mkdir()
    for name, sample in SHOTS.items():
        shutil.copy(SAMPLES / sample, library / name)
    _catalogued(catalogue, library, tmp_path)
    return {name[0]: FileRecord.get(FileRecord.rel_path == name).photo_id for name in SHOTS}


def _catalogued(catalogue, library: Path, tmp_path: Path) -> None:
    """``library`` scanned, and its files grouped into photos, as the engine does."""
    scan(catalogue, library, workers=1)
    media = MediaSync(catalogue.db, MediaSettings(preview_cache=tmp_path / "previews"))
    media.follow_file_events()
    media.run_until_idle()


def _standing(db, photo_id: int) -> dict[str, str]:
    """Each person's standing decision on the photo, by their letter (pending included)."""
    found = next((p for p in decisions_by_photo(db) if p.photo_id == photo_id), None)
    letters = {name: letter for letter, name in PEOPLE.items()}
    return {} if found is None else {letters[d.person]: d.decision for d in found.decisions}


# Two people on one photo, in every order that matters: each step is (who, what) and what
# the photo shows after it, with each person's standing decision. Undo and redo take back
# only the person's own decisions; the photo shows the newest standing decision of anyone,
# and with none, what it had before.
SEQUENCES = {
    "A, B, A undoes under B's newer": [
        ("A", "approved", "approved", {"A": "approved"}),
        ("B", "rejected", "rejected", {"A": "approved", "B": "rejected"}),
        ("A", "undo", "rejected", {"B": "rejected"}),  # B's newer decision stays
        ("B", "undo", "pending", {}),  # A's was taken back: what p had before both
        ("A", "redo", "approved", {"A": "approved"}),
        ("B", "redo", "rejected", {"A": "approved", "B": "rejected"}),
    ],
    "A, B, B undoes": [
        ("A", "approved", "approved", {"A": "approved"}),
        ("B", "rejected", "rejected", {"A": "approved", "B": "rejected"}),
        ("B", "undo", "approved", {"A": "approved"}),  # A's stands again
        ("A", "undo", "pending", {}),
        ("B", "redo", "rejected", {"B": "rejected"}),
        ("A", "redo", "rejected", {"A": "approved", "B": "rejected"}),  # B's is newer
    ],
    "A, B agree, A undoes": [
        ("A", "approved", "approved", {"A": "approved"}),
        ("B", "approved", "approved", {"A": "approved", "B": "approved"}),
        ("A", "undo", "approved", {"B": "approved"}),
        ("B", "undo", "pending", {}),
    ],
    "A twice, B, A undoes both": [
        ("A", "approved", "approved", {"A": "approved"}),
        ("A", "rejected", "rejected", {"A": "rejected"}),
        ("B", "approved", "approved", {"A": "rejected", "B": "approved"}),
        ("A", "undo", "approved", {"A": "approved", "B": "approved"}),
        ("A", "undo", "approved", {"B": "approved"}),
        ("B", "undo", "pending", {}),
        ("A", "redo", "approved", {"A": "approved"}),  # the oldest undone first
    ],
    "A, A undoes, B, A redoes under B's": [
        ("A", "approved", "approved", {"A": "approved"}),
        ("A", "undo", "pending", {}),
        ("B", "rejected", "rejected", {"B": "rejected"}),  # does not end A's redo
        ("A", "redo", "rejected", {"A": "approved", "B": "rejected"}),
        ("B", "undo", "approved", {"A": "approved"}),
    ],
}


@pytest.mark.parametrize("steps", SEQUENCES.values(), ids=SEQUENCES.keys())
def test_undo_and_redo_are_each_persons_own(catalogue, photos, steps):
    p = photos["p"]
    people = {letter: Triage(catalogue.db, person=name) for letter, name in PEOPLE.items()}
    for number, (who, what, shows, standing) in enumerate(steps):
        triage = people[who]
        if what == "undo":
            change = triage.undo()
        elif what == "redo":
            change = triage.redo()
        else:
            change = triage.decide(p, what)
        assert change is not None and change.photo_id == p, (number, who, what)
        assert Photo.get_by_id(p).decision == shows, (number, who, what)
        assert _standing(catalogue.db, p) == standing, (number, who, what)
    # C never decided: nothing of A's or B's is C's to take back or make again.
    assert people["C"].undo() is None and people["C"].redo() is None
    assert Photo.get_by_id(p).decision == shows
    rows = Decision.select().where(Decision.source.in_(("undo", "redo", "key")))
    assert {row.person for row in rows} <= {PEOPLE["A"], PEOPLE["B"]}


def _as_seen(db, view: str, me: str, kind: str) -> tuple[set[int], dict[str, int]]:
    """What the queue of ``kind`` (pending, approved, rejected) holds and counts in ``view``
    of ``me``'s screen."""
    seen = SeenDecisions(db, me)
    seen.show(view)
    queue = Queue(db, kind, seen=seen)
    counts = queue.counts()
    return set(queue.photo_ids), {
        "pending": counts.pending, "approved": counts.approved, "rejected": counts.rejected
    }  # fmt: skip


@pytest.mark.parametrize("steps", SEQUENCES.values(), ids=SEQUENCES.keys())
def test_each_view_shows_its_persons_standing_decisions_everywhere(catalogue, photos, steps):
    """After every step of two people's decisions, undos and redos: in each person's view
    (and blind, for each of them) the photo's decision, the decision filters and the
    counters are that person's standing decision, "pending" without one; in everyone's view
    the photo's own."""
    p = photos["p"]
    db = catalogue.db
    people = {letter: Triage(db, person=name) for letter, name in PEOPLE.items()}
    others = len(photos) - 1  # q and r: nobody decided them
    for number, (who, what, shows, standing) in enumerate(steps):
        triage = people[who]
        if what in ("undo", "redo"):
            getattr(triage, what)()
        else:
            triage.decide(p, what)
        views = [(EVERYONE, "A", shows)]
        for letter in PEOPLE:
            mine = standing.get(letter, "pending")
            views += [(PEOPLE[letter], "A", mine), (BLIND, letter, mine)]
        for view, me, expected in views:
            seen = SeenDecisions(db, PEOPLE[me])
            seen.show(view)
            assert seen.decision(p, shows) == expected, (number, view, me)
            everything = Queue(db, "all", seen=seen)
            at, walked = -1, []  # ] from before the first photo to the last
            while (at := everything.next_pending(at, 1)) is not None:
                walked.append(everything.photo_ids[at])
            assert (p in walked) == (expected == "pending") and len(walked) >= others
            for kind in ("pending", "approved", "rejected"):
                chosen, counts = _as_seen(db, view, PEOPLE[me], kind)
                assert (p in chosen) == (expected == kind), (number, view, me, kind)
                assert counts == {
                    "pending": others + (expected == "pending"),
                    "approved": int(expected == "approved"),
                    "rejected": int(expected == "rejected"),
                }, (number, view, me)


def test_a_collapsed_burst_is_led_by_the_views_pick(catalogue, photos):
    """Bursts collapsed to their pick: the approved frame, else the sharpest not rejected, by
    the decisions of the view shown; blind, Bob's approval picks nothing on Ann's screen."""
    p, q, r = photos["p"], photos["q"], photos["r"]
    db = catalogue.db
    for photo_id, sharpness in ((p, 2.0), (q, 1.0), (r, 3.0)):
        db.execute_sql(
            "UPDATE photo SET burst = ?, sharpness = ? WHERE id = ?", (p, sharpness, photo_id)
        )
    ann, bob = (Triage(db, person=PEOPLE[letter]) for letter in "AB")
    bob.decide(q, "approved")

    def pick(view: str) -> list[int]:
        seen = SeenDecisions(db, PEOPLE["A"])
        seen.show(view)
        return Queue(db, "all", collapsed=True, seen=seen).photo_ids

    assert pick(EVERYONE) == pick(PEOPLE["B"]) == [q]
    assert pick(BLIND) == pick(PEOPLE["A"]) == [r]  # the sharpest: Ann decided nothing
    ann.decide(r, "rejected")
    assert pick(BLIND) == [p] and pick(PEOPLE["B"]) == pick(EVERYONE) == [q]
    ann.decide(q, "rejected")
    bob.decide(p, "rejected")
    assert pick(BLIND) == [p] and pick(PEOPLE["B"]) == [q]


# Three real bursts people disagree on (the demo's D: DSC_0101-0105; the Canon's A_0-3 and
# C_0-2), their frames' sharpness, and each view's pick: everyone's (each photo's newest
# decision), Ann's and Bob's (blind: the one whose screen it is).
PICK_SHARPNESS = {
    "DSC_0101.JPG": 400.0, "DSC_0102.JPG": 900.0, "DSC_0103.JPG": 1200.0,
    "DSC_0104.JPG": 300.0, "DSC_0105.JPG": 950.0,
    "A_0.JPG": 500.0, "A_1.JPG": 600.0, "A_2.JPG": 700.0,
    "C_0.JPG": 200.0, "C_1.JPG": 250.0, "C_2.JPG": 900.0,
}  # fmt: skip
PICK_DECISIONS = [  # (who, frame, decision), in this order
    ("B", "DSC_0102.JPG", "approved"), ("A", "DSC_0101.JPG", "approved"),  # both approved
    ("A", "A_2.JPG", "rejected"),  # the sharpest, rejected by Ann only
    ("A", "C_2.JPG", "rejected"), ("B", "C_1.JPG", "rejected"),  # each rejects another
]  # fmt: skip
PICK_STARS = {"DSC_0101.JPG": 3, "A_1.JPG": 4, "C_2.JPG": 5, "B_3.JPG": 3}
PICKS = {  # the view: the pick of D, A and C
    "everyone": ("DSC_0102.JPG", "A_1.JPG", "C_0.JPG"),
    "A": ("DSC_0101.JPG", "A_1.JPG", "C_1.JPG"),
    "B": ("DSC_0102.JPG", "A_2.JPG", "C_2.JPG"),
}


@pytest.fixture
def disputed_bursts(tmp_path, catalogue_location):
    shoot = catalogue_shoot(tmp_path, mixed_frames(), catalogue=catalogue_location)
    with shoot.db.atomic():
        regroup_all(shoot.db)
    shoot.set_sharpness(PICK_SHARPNESS)
    people = {letter: Triage(shoot.db, person=name) for letter, name in PEOPLE.items()}
    for name, stars in PICK_STARS.items():
        people["C"].rate(shoot.ids[name], stars)
    for who, name, decision in PICK_DECISIONS:
        people[who].decide(shoot.ids[name], decision)
    yield shoot
    shoot.catalogue.close()


@pytest.mark.parametrize(
    ("view", "me", "whose"),
    [(EVERYONE, "A", "everyone"), (PEOPLE["A"], "B", "A"), (PEOPLE["B"], "A", "B"),
     (BLIND, "A", "A"), (BLIND, "B", "B")],
)  # fmt: skip
@pytest.mark.parametrize("words", ["leaders", "leaders pending", "leaders approved",
                                   "leaders stars>=3", "all leaders camera:canon"])  # fmt: skip
def test_the_leaders_filter_picks_by_the_views_decisions(disputed_bursts, view, me, whose, words):
    """The ``leaders`` filter, alone and with other words: each burst's pick by the view's
    decisions (the approved frame, else the sharpest not rejected, else the first), the
    decision and the counters by them too; everyone's view by each photo's own."""
    shoot = disputed_bursts
    by_id = {photo_id: name for name, photo_id in shoot.ids.items()}
    seen = SeenDecisions(shoot.db, PEOPLE[me])
    seen.show(view)
    queue = Queue(shoot.db, words, seen=seen)
    d, a, c = PICKS[whose]
    leaders = [d, "DSC_0106.JPG", a, *(f"B_{i}.JPG" for i in range(5)), c]  # in shot order
    # each person decided a frame once: everyone's view shows each one's
    decided = {name: what for who, name, what in PICK_DECISIONS if whose in (who, "everyone")}
    chosen = {
        "leaders": leaders,
        "leaders pending": [n for n in leaders if decided.get(n, "pending") == "pending"],
        "leaders approved": [n for n in leaders if decided.get(n) == "approved"],
        "leaders stars>=3": [n for n in leaders if PICK_STARS.get(n, 0) >= 3],
        "all leaders camera:canon": [n for n in leaders if n[:2] in ("A_", "C_")],
    }[words]
    assert [by_id[pid] for pid in queue.photo_ids] == chosen
    counted = [n for n in leaders if words != "leaders stars>=3" or PICK_STARS.get(n, 0) >= 3]
    if words == "all leaders camera:canon":
        counted = chosen
    counts = queue.counts()
    assert (counts.approved, counts.rejected, counts.total) == (
        sum(decided.get(n) == "approved" for n in counted),
        sum(decided.get(n) == "rejected" for n in counted),
        len(counted),
    )


def test_an_undo_under_someone_elses_newer_decision_says_whose_it_is(catalogue, photos):
    p, q = photos["p"], photos["q"]
    ann, bob = Triage(catalogue.db, person="ann@studio"), Triage(catalogue.db, person="bob@laptop")
    ann.decide(p, "approved")
    ann.rate(q, 3)
    bob.rate(q, 5)
    bob.decide(p, "rejected")  # the newest of all, but not Ann's
    kept = ann.undo()  # Ann's newest: the 3 stars on q, under Bob's 5
    assert (kept.photo_id, kept.kept_by, kept.before, kept.after) == (q, "bob@laptop", 5, 5)
    assert Photo.get_by_id(q).rating == 5
    assert ann.undo().photo_id == p and Photo.get_by_id(p).decision == "rejected"
    assert ann.undo() is None  # Bob's are never Ann's to take back
    assert (Photo.get_by_id(p).decision, Photo.get_by_id(q).rating) == ("rejected", 5)
    assert bob.undo().photo_id == p and Photo.get_by_id(p).decision == "pending"
    assert bob.undo().photo_id == q and Photo.get_by_id(q).rating == 0
    # Every row names its person; undo rows name who undid.
    named = {(row.source, row.person) for row in Decision.select()}
    assert named == {
        ("key", "ann@studio"), ("key", "bob@laptop"),
        ("undo", "ann@studio"), ("undo", "bob@laptop"),
    }  # fmt: skip


def test_conflicts_are_listed_until_a_resolution_settles_them(catalogue, photos):
    p, q, r = photos["p"], photos["q"], photos["r"]
    ann, bob, cat = (Triage(catalogue.db, person=name) for name in PEOPLE.values())
    ann.decide(p, "approved")
    bob.decide(p, "rejected")
    cat.decide(q, "approved")
    bob.decide(q, "approved")  # agreement is no conflict
    ann.decide(r, "pending")
    bob.decide(r, "rejected")  # pending is no decision to disagree with
    assert [photo.photo_id for photo in conflicts(catalogue.db)] == [p]
    (conflict,) = conflicts(catalogue.db)
    assert (conflict.of("ann@studio"), conflict.of("bob@laptop")) == ("approved", "rejected")
    assert conflict.path is not None and conflict.path.endswith("p.jpg")

    settled = cat.resolve([p], "approved")
    assert settled.source == "resolve" and settled.person == "cat@nas"
    assert conflicts(catalogue.db) == [] and Photo.get_by_id(p).decision == "approved"
    (merged,) = [photo for photo in decisions_by_photo(catalogue.db) if photo.photo_id == p]
    assert merged.resolved_by == "cat@nas" and merged.of("bob@laptop") == "rejected"

    bob.decide(p, "rejected")  # Bob disagrees with the resolution: a conflict again
    assert [photo.photo_id for photo in conflicts(catalogue.db)] == [p]
    bob.undo()
    assert conflicts(catalogue.db) == []
    cat.undo()  # the resolution taken back: the old conflict is back
    assert [photo.photo_id for photo in conflicts(catalogue.db)] == [p]
    assert Photo.get_by_id(p).decision == "rejected"  # Bob's, the newest standing


def _commands(tmp_path: Path, location) -> tuple[Path, dict[str, Path]]:
    """A library of the three photos, added and scanned by the command line into the
    catalogue at ``location``: the settings file, and each photo's path by its letter."""
    library = tmp_path / "shoot"
    library.mkdir()
    for name, sample in SHOTS.items():
        shutil.copy(SAMPLES / sample, library / name)
    config = command_settings(tmp_path)
    for step in (("add", str(library)), ("scan",)):
        done = run_command(config, "--db", str(location), *step)
        assert done.returncode == 0, done.stderr
    return config, {name[0]: library / name for name in SHOTS}


def test_decisions_lists_who_decided_what_and_the_conflicts_as_processes(
    tmp_path, catalogue_location
):
    config, shot = _commands(tmp_path, catalogue_location)

    def run(*args: str) -> subprocess.CompletedProcess:
        done = run_command(config, "--db", str(catalogue_location), *args)
        assert "Traceback" not in done.stderr, (args, done.stderr)
        return done

    for person, what, letter in (
        ("ann@studio", "--approve", "p"), ("bob@laptop", "--reject", "p"),
        ("bob@laptop", "--approve", "q"), ("ann@studio", "--approve", "q"),
    ):  # fmt: skip
        done = run("decide", str(shot[letter]), what, "--as", person)
        assert done.returncode == 0 and f"by {person}" in done.stdout, done.stderr

    logged = json.loads(run("decisions", "--json").stdout)
    assert [(row["person"], row["path"], row["after"]) for row in logged] == [
        ("ann@studio", str(shot["p"]), "approved"), ("bob@laptop", str(shot["p"]), "rejected"),
        ("bob@laptop", str(shot["q"]), "approved"), ("ann@studio", str(shot["q"]), "approved"),
    ]  # fmt: skip
    assert {(row["action"], row["source"], row["taken_back"]) for row in logged} == {
        ("decision", "cli", False)
    }
    ann = json.loads(run("decisions", "--by", "ann@studio", "--json").stdout)
    assert [row["id"] for row in ann] == [logged[0]["id"], logged[3]["id"]]
    (conflict,) = json.loads(run("decisions", "--conflicts", "--json").stdout)
    assert conflict["path"] == str(shot["p"])
    assert [(each["person"], each["decision"]) for each in conflict["decisions"]] == [
        ("ann@studio", "approved"), ("bob@laptop", "rejected"),
    ]  # fmt: skip
    text = run("decisions", "--conflicts").stdout
    assert f"{shot['p']}: approved by ann@studio, rejected by bob@laptop" in text, text
    table = run("decisions").stdout.splitlines()
    assert table[0].split() == ["WHEN", "WHO", "PHOTO", "WHAT", "HOW"]
    assert "bob@laptop" in table[2] and "decision approved -> rejected" in table[2], table

    # Ann's undos take back her decisions only, newest first; Bob's stay.
    undone = run("undo", "--as", "ann@studio")
    assert undone.returncode == 0 and str(shot["q"].name) in undone.stdout, undone.stdout
    again = run("undo", "--as", "ann@studio")  # her approval of p, under Bob's reject
    assert again.returncode == 0, again.stdout
    assert "taken back by ann@studio; the photo keeps bob@laptop's newer rejected" in again.stdout
    assert run("undo", "--as", "ann@studio").stdout == "nothing to undo\n"
    assert json.loads(run("decisions", "--conflicts", "--json").stdout) == []
    run("redo", "--as", "ann@studio")  # her approval of p again: the conflict again
    assert len(json.loads(run("decisions", "--conflicts", "--json").stdout)) == 1
    settled = run("decide", str(shot["p"]), "--reject", "--resolve", "--as", "cat@nas")
    assert settled.returncode == 0 and "(resolve) by cat@nas" in settled.stdout, settled.stdout
    assert json.loads(run("decisions", "--conflicts", "--json").stdout) == []
    assert "no conflicts" in run("decisions", "--conflicts").stdout
    logged = json.loads(run("decisions", "--json").stdout)
    assert [row["taken_back"] for row in logged if row["source"] == "cli"] == [
        False, False, False, True
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("decisions", "--by", "nobody"), "nobody called 'nobody' has decided anything"),
        (("decisions", "--limit", "0"), "--limit 0 shows nothing"),
        (("decisions", "--conflicts", "--by", "x"), "nobody called 'x'"),
        (("decide", "PHOTO", "--approve", "--as", ""), "triage.name = '' is not allowed"),
        (("undo", "--as", " ann"), "triage.name = ' ann' is not allowed"),
        (("decide", "PHOTO", "--stars", "3", "--resolve"), "--resolve settles with a decision"),
    ],
)
def test_bad_people_input_is_one_sentence_and_exit_2(tmp_path, catalogue_location, args, said):
    config, shot = _commands(tmp_path, catalogue_location)
    args = tuple(str(shot["p"]) if arg == "PHOTO" else arg for arg in args)
    done = run_command(config, "--db", str(catalogue_location), *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert said in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stdout == ""


CITY = REPO / "core" / "demo" / "photos" / "2024-11-16_city-night"  # six real frames


@pytest.mark.parametrize(("count", "pause"), [(21, 0.0), (60, 0.0), (60, 0.002), (40, 0.02)])
def test_three_people_deciding_on_one_shoot_at_once_lose_nothing(
    tmp_path, catalogue, catalogue_location, photos, count, pause
):
    """Three processes, one person each, decide on the same photos at the same moment: every
    decision is in the log with its author, each person's undos took back their own, every
    photo shows the newest decision standing, blind each sees their own only, and the
    conflicts are the ones their decisions make."""
    shoot = tmp_path / "library" / "city"
    shutil.copytree(CITY, shoot, ignore=shutil.ignore_patterns("*.xmp", "darktable_exported"))
    _catalogued(catalogue, tmp_path / "library", tmp_path)
    photo_ids = [photo.id for photo in Photo.select(Photo.id).order_by(Photo.id)]
    assert len(photo_ids) == 9
    go = tmp_path / "go"
    os.mkfifo(go)
    # The test's end of the pipe is open before the people start (read and write: opening
    # does not wait for a reader), so each opens it at once; closing it lets them all go.
    let_go = os.open(go, os.O_RDWR)
    seeds = {name: seed for seed, name in enumerate(PEOPLE.values(), start=11)}
    culls = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.people_cull", str(catalogue_location), name,
             str(seed), str(count), str(pause), str(go)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for name, seed in seeds.items()
    ]  # fmt: skip
    try:
        deadline = time.monotonic() + 120  # each opens the catalogue, then says it is ready
        while not all(Path(f"{go}.{name}").exists() for name in seeds):
            assert time.monotonic() < deadline, "the people were never ready"
            assert all(cull.poll() is None for cull in culls), "a person gave up"
            time.sleep(0.01)
        os.close(let_go)  # all at once
        let_go = None
        finished = [cull.communicate(timeout=300) for cull in culls]
    finally:
        if let_go is not None:
            os.close(let_go)
        for cull in culls:
            if cull.poll() is None:
                cull.kill()
                cull.wait()
    for cull, (_, err) in zip(culls, finished, strict=True):
        assert cull.returncode == 0 and err == "", err

    plans = {name: plan(seed, count, photo_ids) for name, seed in seeds.items()}
    rows = list(Decision.select().order_by(Decision.id))
    for name, steps in plans.items():
        made = [(row.photo_id, json.loads(row.after)) for row in rows
                if row.person == name and row.source == "cli"]  # fmt: skip
        assert made == [step for step in steps if step is not None], name  # none lost
        assert sum(row.undone for row in rows if row.person == name) == steps.count(None)
    standing = {name: standing_after(steps) for name, steps in plans.items()}
    merged = {photo.photo_id: photo for photo in decisions_by_photo(catalogue.db)}
    for photo_id in photo_ids:
        mine = {name: each[photo_id] for name, each in standing.items() if photo_id in each}
        found = merged.get(photo_id)
        assert {d.person: d.decision for d in (found.decisions if found else ())} == mine
        for name in PEOPLE.values():  # blind, each sees their own decision, nobody else's
            seen = seen_decision(photo_decisions(catalogue.db, photo_id), BLIND, name, "?")
            assert seen == mine.get(name, "pending"), (photo_id, name)
    for name, theirs in standing.items():  # the screen's view: every filter, one query each
        for kind in ("pending", "approved", "rejected"):
            chosen, counts = _as_seen(catalogue.db, BLIND, name, kind)
            wanted = {pid for pid in photo_ids if theirs.get(pid, "pending") == kind}
            assert chosen == wanted and counts[kind] == len(wanted), (name, kind)
    for photo_id in photo_ids:
        standing_rows = [r for r in rows if r.photo_id == photo_id and r.source == "cli"
                         and not r.undone]  # fmt: skip
        shows = json.loads(standing_rows[-1].after) if standing_rows else "pending"
        assert Photo.get_by_id(photo_id).decision == shows, photo_id

    expected = sorted(
        photo_id for photo_id in photo_ids
        if len({each[photo_id] for each in standing.values() if photo_id in each}) > 1
    )  # fmt: skip
    config = command_settings(tmp_path)
    listed = run_command(config, "--db", str(catalogue_location), "decisions", "--conflicts",
                         "--json")  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert sorted(photo["photo"] for photo in json.loads(listed.stdout)) == expected
    logged = run_command(config, "--db", str(catalogue_location), "decisions", "--json")
    assert len(json.loads(logged.stdout)) == len(rows)


def test_a_schema_15_catalogue_is_upgraded_its_decisions_by_someone_unknown(
    tmp_path, catalogue, catalogue_location, photos
):
    """A catalogue as shootwatch left it before people (schema 15: no person on a decision),
    with decisions in it, opened by ``decisions`` as a process: upgraded, its old decisions
    shown as someone unknown's, and nobody's undo takes them back."""
    from core.store import dialect, open_catalogue
    from core.store.migrations import LATEST

    p, q = photos["p"], photos["q"]
    Triage(catalogue.db, person="ann@studio").decide(p, "approved")
    Triage(catalogue.db, person="ann@studio").rate(q, 4)
    for sql in ('DROP INDEX "decision_person"', 'ALTER TABLE "decision" DROP COLUMN "person"'):
        catalogue.db.execute_sql(sql)
    dialect.set_schema_version(catalogue.db, 15)
    catalogue.close()

    config = command_settings(tmp_path)
    listed = run_command(config, "--db", str(catalogue_location), "decisions", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [(row["person"], row["after"]) for row in json.loads(listed.stdout)] == [
        (None, "approved"), (None, 4),
    ]  # fmt: skip
    table = run_command(config, "--db", str(catalogue_location), "decisions").stdout
    assert [line.split()[2] for line in table.splitlines()[1:]] == ["unknown", "unknown"]

    with open_catalogue(catalogue_location) as upgraded:
        assert dialect.schema_version(upgraded.db) == LATEST == 16
        indexes = {index.name for index in upgraded.db.get_indexes("decision")}
        assert "decision_person" in indexes
        assert Triage(upgraded.db, person="ann@studio").undo() is None  # not known to be hers
        assert Photo.get_by_id(p).decision == "approved"
        Triage(upgraded.db, person="bob@laptop").decide(p, "rejected")
        (merged,) = [each for each in decisions_by_photo(upgraded.db) if each.photo_id == p]
        assert [(d.person, d.decision) for d in merged.decisions] == [
            ("unknown", "approved"), ("bob@laptop", "rejected"),
        ]  # fmt: skip
        assert [photo.photo_id for photo in conflicts(upgraded.db)] == [p]
        unknown = SeenDecisions(upgraded.db, "bob@laptop")
        unknown.show("unknown")  # the view of someone before people were recorded
        assert unknown.decision(p, "rejected") == "approved"
        assert Triage(upgraded.db, person="bob@laptop").undo().photo_id == p
        assert Photo.get_by_id(p).decision == "approved"  # the unknown person's stands
