"""The triage queue's filters combined (stars, camera body, edited in darktable, burst leaders,
soft, with the decision and folder ones), bursts collapsed to one entry and sorted by
sharpness, next and previous pending, and a jump to a time: on a real shoot of two bodies."""

from __future__ import annotations

import time

import pytest

from core.store.models import DarktableImage
from core.triage.bursts import regroup_all
from core.triage.decisions import Triage
from core.triage.queue import (
    FILTER_HELP,
    FilterError,
    MomentError,
    Queue,
    parse_filter,
    parse_moment,
)
from tests.bursts_sequences import START, catalogue_shoot, mixed_frames

SHARPNESS = {
    # the demo burst: DSC_0103 the sharpest; 0101 and 0104 under half of it (soft)
    "DSC_0101.JPG": 400.0, "DSC_0102.JPG": 900.0, "DSC_0103.JPG": 1200.0,
    "DSC_0104.JPG": 300.0, "DSC_0105.JPG": 950.0, "DSC_0106.JPG": 800.0,
    # the Canon's burst: A_2 the sharpest; A_3 unmeasured
    "A_0.JPG": 500.0, "A_1.JPG": 600.0, "A_2.JPG": 700.0,
    # on their own: B_0 under the floor (core.media.looks.SOFT_BELOW), soft wherever it is
    "B_0.JPG": 60.0, "B_1.JPG": 1000.0, "B_2.JPG": 1000.0, "B_3.JPG": 1000.0, "B_4.JPG": 1000.0,
    "C_0.JPG": 200.0, "C_1.JPG": 250.0, "C_2.JPG": 900.0,
}  # fmt: skip


@pytest.fixture(scope="module")
def shoot(tmp_path_factory, shared_catalogue_location):
    built = catalogue_shoot(
        tmp_path_factory.mktemp("queue"), mixed_frames(), catalogue=shared_catalogue_location
    )
    with built.db.atomic():
        regroup_all(built.db)
    built.set_sharpness(SHARPNESS)
    triage = Triage(built.db, "cli", session="test")
    for name, stars in {"DSC_0102.JPG": 3, "DSC_0105.JPG": 4, "A_1.JPG": 5, "B_3.JPG": 3}.items():
        triage.rate(built.ids[name], stars)
    triage.decide(built.ids["DSC_0105.JPG"], "approved")
    triage.decide(built.ids["B_1.JPG"], "rejected")
    # darktable has edits of two photos (and a version of a third without one)
    for n, (name, altered) in enumerate(
        [("DSC_0102.JPG", 1), ("A_0.JPG", 1), ("B_0.JPG", 0)], start=1
    ):
        DarktableImage.create(darktable_id=n, film_roll_folder=str(built.folder), filename=name,
                              altered=altered, signature="", seen_at=time.time())  # fmt: skip
    yield built
    built.catalogue.close()


def names(shoot, queue: Queue) -> list[str]:
    by_id = {photo_id: name for name, photo_id in shoot.ids.items()}
    return [by_id[photo_id] for photo_id in queue.photo_ids]


def shown(shoot, text: str, **kwargs) -> list[str]:
    return names(shoot, Queue(shoot.db, text, **kwargs))


def test_each_new_filter_alone(shoot):
    assert shown(shoot, "stars>=3") == ["DSC_0102.JPG", "DSC_0105.JPG", "A_1.JPG", "B_3.JPG"]
    assert shown(shoot, "stars=5") == ["A_1.JPG"]
    assert shown(shoot, "stars<=0") == [n for n in shown(shoot, "unrated")]
    assert shown(shoot, 'camera:"Canon EOS R5"') == [
        "A_0.JPG",
        "A_1.JPG",
        "A_2.JPG",
        "A_3.JPG",
        "C_0.JPG",
        "C_1.JPG",
        "C_2.JPG",
    ]
    assert shown(shoot, "camera:canon") == shown(shoot, 'camera:"Canon EOS R5"')  # the make
    assert shown(shoot, 'camera:"nikon corporation nikon d750"') == shown(
        shoot, 'camera:"NIKON D750"'
    )
    assert len(shown(shoot, 'camera:"NIKON D750"')) == 11
    assert shown(shoot, "camera:Leica") == []
    assert shown(shoot, "edited") == ["DSC_0102.JPG", "A_0.JPG"]
    # The picks: DSC_0105 approved (not the sharpest, 0103), A_2 the sharpest, C_2; and
    # every photo on its own.
    assert shown(shoot, "leaders") == [
        "DSC_0105.JPG",
        "DSC_0106.JPG",
        "A_2.JPG",
        "B_0.JPG",
        "B_1.JPG",
        "B_2.JPG",
        "B_3.JPG",
        "B_4.JPG",
        "C_2.JPG",
    ]
    # Soft: under half its burst's sharpest (0101: 400 of 1200, 0104: 300, C_0: 200 of 900,
    # C_1), or under the floor (B_0, on its own: 60); never a photo on its own above it.
    assert shown(shoot, "soft") == ["DSC_0101.JPG", "DSC_0104.JPG", "B_0.JPG", "C_0.JPG",
                                    "C_1.JPG"]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('pending stars>=3 camera:"NIKON D750"', ["DSC_0102.JPG", "B_3.JPG"]),
        ("approved stars>=3", ["DSC_0105.JPG"]),
        ("rejected leaders", ["B_1.JPG"]),
        ("pending leaders camera:canon", ["A_2.JPG", "C_2.JPG"]),
        ("soft pending label:red", []),
        ("edited stars>=3", ["DSC_0102.JPG"]),
        ("soft camera:canon", ["C_0.JPG", "C_1.JPG"]),
        ("all stars>=1 leaders", ["DSC_0105.JPG", "B_3.JPG"]),
    ],
)
def test_filters_combine(shoot, text, expected):
    assert shown(shoot, text) == expected


def test_a_folder_combines_too(shoot):
    folder = str(shoot.folder)
    assert shown(shoot, f'folder:"{folder}" stars>=4') == ["DSC_0105.JPG", "A_1.JPG"]
    assert shown(shoot, f"folder:{folder}/elsewhere stars>=4") == []


def test_the_counters_count_the_filter_without_its_decision(shoot):
    counts = Queue(shoot.db, 'pending stars>=3 camera:"NIKON D750"').counts()
    assert (counts.pending, counts.approved, counts.rejected) == (2, 1, 0)
    assert Queue(shoot.db, "stars>=3").counts() == counts.__class__(3, 1, 0)
    assert Queue(shoot.db, "pending").counts().total == len(shoot.ids)


@pytest.mark.parametrize(
    "text",
    ["stars>=6", "stars", "stars>3", "camera:", "label:orange", "pending approved",
     'camera:"NIKON D750', "folder:a folder:b", "sharp", "leaders bogus", "", "   "],
)  # fmt: skip
def test_a_filter_that_means_nothing_is_one_sentence_listing_what_is_valid(text):
    with pytest.raises(FilterError) as raised:
        parse_filter(text)
    message = str(raised.value)
    assert "\n" not in message and "Traceback" not in message
    if text.strip() and text not in ("pending approved", "folder:a folder:b"):
        assert message.endswith(FILTER_HELP)
    for word in ("stars>=N", "camera:BODY", "edited", "leaders", "soft"):
        assert word in FILTER_HELP


def test_collapsed_bursts_show_their_pick_in_its_place(shoot):
    assert shown(shoot, "all", collapsed=True) == [
        "DSC_0105.JPG", "DSC_0106.JPG", "A_2.JPG", "B_0.JPG", "B_1.JPG", "B_2.JPG", "B_3.JPG",
        "B_4.JPG", "C_2.JPG",
    ]  # fmt: skip
    # Pending: the demo burst's pick is approved, so its sharpest pending frame stands for it.
    assert shown(shoot, "pending", collapsed=True)[:2] == ["DSC_0103.JPG", "DSC_0106.JPG"]
    # A filter that keeps part of a burst: the best of that part.
    assert shown(shoot, "stars>=3", collapsed=True) == ["DSC_0105.JPG", "A_1.JPG", "B_3.JPG"]


def test_sort_by_sharpness_inside_each_burst(shoot):
    assert shown(shoot, "all sort:sharpness") == [
        "DSC_0103.JPG", "DSC_0105.JPG", "DSC_0102.JPG", "DSC_0101.JPG", "DSC_0104.JPG",
        "DSC_0106.JPG",
        "A_2.JPG", "A_1.JPG", "A_0.JPG", "A_3.JPG",  # A_3 not measured: last of its burst
        "B_0.JPG", "B_1.JPG", "B_2.JPG", "B_3.JPG", "B_4.JPG",  # on their own: shot order
        "C_2.JPG", "C_1.JPG", "C_0.JPG",
    ]  # fmt: skip


@pytest.mark.parametrize("collapsed", [False, True])
@pytest.mark.parametrize("text", ["all", "stars>=0", "all sort:sharpness", "leaders"])
def test_next_and_previous_pending_skip_decided_photos_in_any_filter(shoot, text, collapsed):
    queue = Queue(shoot.db, text, collapsed=collapsed)
    pending = [i for i, pid in enumerate(queue.photo_ids)
               if shoot.db.execute_sql("SELECT decision FROM photo WHERE id = ?",
                                       (pid,)).fetchone()[0] == "pending"]  # fmt: skip
    for index in range(len(queue.photo_ids)):
        after = [i for i in pending if i > index]
        before = [i for i in pending if i < index]
        assert queue.next_pending(index, 1) == (after[0] if after else None)
        assert queue.next_pending(index, -1) == (before[-1] if before else None)


def test_next_pending_follows_decisions_made_since_the_queue_was_loaded(shoot):
    queue = Queue(shoot.db, 'camera:"Canon EOS R5"')
    assert queue.next_pending(0, 1) == 1
    triage = Triage(shoot.db, "cli", session="test")
    triage.decide(queue.photo_ids[1], "rejected")
    try:
        assert queue.next_pending(0, 1) == 2
    finally:
        triage.undo()


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("21:46", "DSC_0101.JPG"),  # before the first: the first
        ("21:46:31", "DSC_0101.JPG"),
        ("21:47:12", "DSC_0106.JPG"),
        ("21:47:31.5", "A_1.JPG"),  # A_0 at 31.0, A_1 at 31.4, A_2 at 31.8
        ("2024-11-16 21:50", "C_0.JPG"),  # nearest: C_0 at 21:50:31
        ("2024-11-16T21:48:40", "B_4.JPG"),
        ("23:00", "C_2.JPG"),  # after the last: the last
    ],
)
def test_jump_to_a_time_lands_on_the_nearest_photo(shoot, typed, expected):
    queue = Queue(shoot.db, "all")
    moment = parse_moment(typed, queue.wall_of(queue.photo_ids[0]))
    assert names(shoot, queue)[queue.index_at(moment)] == expected


@pytest.mark.parametrize("typed", ["", "noon", "25:00", "21:61", "2024-13-01 10:00", "9"])
def test_a_time_that_cannot_be_read_says_what_can(typed):
    with pytest.raises(MomentError, match="is not a time: type a time such as 21:46"):
        parse_moment(typed, START)


def test_a_time_without_a_date_needs_a_photo_with_one():
    with pytest.raises(MomentError, match="no date"):
        parse_moment("21:46", None)
    assert parse_moment("2024-11-16 21:46", None) == START - 31
