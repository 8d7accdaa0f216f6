"""Bursts on real pixels: sequences made from real photos (shifted, cropped, blurred, brighter
or darker from frame to frame) and the demo's real burst, grouped by capture-time gap and
perceptual hash; the default hash distance measured; regroup writing only what changed."""

from __future__ import annotations

import itertools

import pytest

from core.demo import create_demo
from core.media.metadata import read_metadata
from core.store import open_catalogue
from core.triage.bursts import (
    DEFAULT_HASH_DISTANCE,
    BurstRules,
    Shot,
    burst_place,
    group_shots,
    hash_distance,
    regroup,
    regroup_all,
)
from tests.bursts_sequences import (
    D750,
    MIXED_BURSTS,
    R5,
    START,
    blurred,
    burst_frames,
    catalogue_shoot,
    copy_demo_night,
    cropped,
    exposed,
    measure_hashes,
    mixed_frames,
    phash,
    photo,
    real_sources,
    shifted,
)
from tests.postgres_cluster import BOTH_BACKENDS

pytestmark = BOTH_BACKENDS

BODY = "|".join(D750)


def shots(images, gaps, body=BODY, start=START, first_id=1) -> list[Shot]:
    """Shots of ``images`` with ``gaps`` (seconds) between consecutive ones."""
    walls = list(itertools.accumulate([start, *gaps]))
    return [Shot(first_id + i, wall, body, phash(image))
            for i, (image, wall) in enumerate(zip(images, walls, strict=True))]  # fmt: skip


def bursts(grouped: dict[int, int | None]) -> list[list[int]]:
    found: dict[int, list[int]] = {}
    for photo_id, burst in grouped.items():
        if burst is not None:
            found.setdefault(burst, []).append(photo_id)
    return sorted(found.values())


# --- the default distance, measured -----------------------------------------------------------


def test_the_default_hash_distance_keeps_burst_frames_and_parts_different_photos():
    """Every real photo at hand against every other, and each against itself shifted,
    cropped, turned, blurred and exposed as the next frame of a burst may be: the default lies
    between the two, and the figures are printed."""
    images = {path.name: photo(path.name) for path in real_sources()}
    hashes = {name: phash(image) for name, image in images.items()}
    different = [hash_distance(hashes[a], hashes[b]) for a, b in itertools.combinations(hashes, 2)]
    frame_changes = {
        "shift 2 %": lambda im: shifted(im, 0.02),
        "shift 5 %": lambda im: shifted(im, 0.05, 0.03),
        "turned 2 degrees": lambda im: im.rotate(2),
        "blur 1 px": lambda im: blurred(im, 1),
        "blur 6 px": lambda im: blurred(im, 6),
        "a stop brighter": lambda im: exposed(im, 1.6),
        "a stop darker": lambda im: exposed(im, 0.55),
    }
    same = {
        change: max(hash_distance(hashes[name], phash(make(image)))
                    for name, image in images.items())
        for change, make in frame_changes.items()
    }  # fmt: skip
    print(f"\n{len(images)} real photos, {len(different)} pairs of different photos: closest "
          f"{min(different)} bits, median {sorted(different)[len(different) // 2]}")  # fmt: skip
    for change, worst in same.items():
        print(f"  same photo, {change}: at most {worst} bits")
    zoomed = max(hash_distance(hashes[name], phash(cropped(image, 0.1)))
                 for name, image in images.items())  # fmt: skip
    print(f"  same photo, zoomed in 10 % (may split a burst): at most {zoomed} bits")
    assert max(same.values()) <= DEFAULT_HASH_DISTANCE < min(different)
    demo = [phash(photo(f"DSC_{n:04d}.JPG")) for n in range(101, 106)]
    assert max(hash_distance(a, b) for a, b in itertools.pairwise(demo)) <= DEFAULT_HASH_DISTANCE


# --- grouping: pure, on real hashes -----------------------------------------------------------


@pytest.mark.parametrize("size", [2, 3, 7])
@pytest.mark.parametrize(
    ("gap", "one_burst"),
    [(0.1, True), (1, True), (1.9, True), (2.0, True), (2.1, False), (30, False)],
)
def test_frames_of_one_subject_are_one_burst_within_the_gap(size, gap, one_burst):
    frames = burst_frames("IMG_0005.JPG", size)
    grouped = group_shots(shots(frames, [gap] * (size - 1)))
    if one_burst:
        assert bursts(grouped) == [list(range(1, size + 1))]
        assert set(grouped.values()) == {1}  # the id of its first photo
    else:
        assert bursts(grouped) == []
        assert set(grouped.values()) == {None}


@pytest.mark.parametrize("gap_seconds", [0.5, 2.0, 5.0])
@pytest.mark.parametrize("gap", [0.1, 1, 1.9, 2.1, 30])
def test_the_gap_is_a_setting(gap_seconds, gap):
    frames = burst_frames("DSCF1226.JPG", 4)
    grouped = group_shots(shots(frames, [gap] * 3), BurstRules(gap_seconds=gap_seconds))
    assert bursts(grouped) == ([[1, 2, 3, 4]] if gap <= gap_seconds else [])


@pytest.mark.parametrize("gap", [0.1, 0.5, 1, 1.9])
def test_a_busy_minute_of_different_subjects_is_no_burst(gap):
    names = [path.name for path in real_sources()][:12]
    grouped = group_shots(shots([photo(name) for name in names], [gap] * (len(names) - 1)))
    assert bursts(grouped) == []


def test_the_same_spot_visited_again_minutes_later_is_another_burst():
    first = burst_frames("IMG_0006.JPG", 3)
    again = burst_frames("IMG_0006.JPG", 4)[1:]
    gaps = [0.3, 0.3, 240.0, 0.4, 0.4]
    grouped = group_shots(shots(first + again, gaps))
    assert bursts(grouped) == [[1, 2, 3], [4, 5, 6]]
    assert grouped[4] == 4


def test_a_burst_ends_where_the_subject_changes_within_the_gap():
    frames = burst_frames("IMG_0002.JPG", 3) + burst_frames("DSCF1213.JPG", 3)
    grouped = group_shots(shots(frames, [0.2] * 5))
    assert bursts(grouped) == [[1, 2, 3], [4, 5, 6]]


def test_two_bodies_shooting_at_once_make_a_burst_each():
    """A wedding with two cameras: their frames interleave in time; each body's run of
    frames is its own burst, even of the same subject."""
    a = shots(burst_frames("IMG_0008.JPG", 4), [0.5] * 3, body=BODY, first_id=1)
    b = shots(burst_frames("IMG_0008.JPG", 4), [0.5] * 3, body="|".join(R5), start=START + 0.25,
              first_id=11)  # fmt: skip
    interleaved = sorted(a + b, key=lambda shot: shot.wall)
    assert bursts(group_shots(interleaved)) == [[1, 2, 3, 4], [11, 12, 13, 14]]


def test_a_photo_not_measured_yet_is_in_no_burst_and_breaks_the_chain():
    frames = burst_frames("IMG_0003.JPG", 5)
    measured = shots(frames, [0.3] * 4)
    measured[2] = Shot(3, measured[2].wall, BODY, None)
    grouped = group_shots(measured)
    assert grouped[3] is None
    assert bursts(grouped) == [[1, 2], [4, 5]]


def test_the_demo_burst_is_one_burst_and_its_next_shot_is_not_in_it():
    names = [f"DSC_{n:04d}.JPG" for n in range(101, 107)]
    gaps = [0.12] * 4 + [40.92]
    assert bursts(group_shots(shots([photo(name) for name in names], gaps))) == [[1, 2, 3, 4, 5]]


# --- in the catalogue ------------------------------------------------------------------------


def night_and_more(tmp_path, **kwargs):
    return catalogue_shoot(tmp_path, mixed_frames(), **kwargs)


EXPECTED = MIXED_BURSTS


def test_the_media_pipeline_groups_a_real_shoot_as_it_measures_it(tmp_path):
    """Scanned, described, previews built and looks measured as the engine does: the
    pipeline stores each batch's hashes and regroups around them."""
    shoot = night_and_more(tmp_path)
    assert shoot.groups() == EXPECTED
    assert shoot.burst_of("DSC_0103.JPG") == shoot.ids["DSC_0101.JPG"]
    with shoot.db.atomic():
        assert regroup_all(shoot.db) == []  # as regroup_all would have it
    shoot.catalogue.close()


@pytest.mark.parametrize(("gap_seconds", "expected"), [(0.1, []), (2.0, EXPECTED)])
def test_the_media_pipeline_groups_by_the_gap_setting(tmp_path, gap_seconds, expected):
    shoot = night_and_more(tmp_path, config=f"triage.burst_gap_seconds = {gap_seconds}\n")
    assert shoot.groups() == expected
    shoot.catalogue.close()


def test_regroup_all_groups_a_real_shoot_as_expected(tmp_path):
    shoot = night_and_more(tmp_path, measure=False)
    measure_hashes(shoot)  # from the files' pixels, as imagehash does
    with shoot.db.atomic():
        changed = regroup_all(shoot.db)
    assert shoot.groups() == EXPECTED
    assert len(changed) == 12
    assert shoot.burst_of("DSC_0103.JPG") == shoot.ids["DSC_0101.JPG"]
    assert shoot.burst_of("DSC_0106.JPG") is None
    with shoot.db.atomic():
        assert regroup_all(shoot.db) == []  # nothing changed: nothing written
    shoot.catalogue.close()


def test_regroup_around_photos_measured_one_by_one_ends_as_regroup_all(tmp_path):
    """As the media pipeline stores hashes in batches and calls regroup with each."""
    shoot = night_and_more(tmp_path, measure=False)
    names = sorted(shoot.ids, key=lambda name: shoot.ids[name])
    backwards = names[::-1]
    for batch in (backwards[i : i + 3] for i in range(0, len(backwards), 3)):
        measure_hashes(shoot, batch)
        with shoot.db.atomic():
            regroup(shoot.db, [shoot.ids[name] for name in batch])
    assert shoot.groups() == EXPECTED
    shoot.catalogue.close()


def test_regroup_writes_only_what_changed(tmp_path):
    shoot = night_and_more(tmp_path)
    with shoot.db.atomic():
        regroup_all(shoot.db)
    # A frame's time read anew (a clock fixed in EXIF) moves it out of its burst.
    middle = shoot.ids["A_2.JPG"]
    shoot.db.execute_sql("UPDATE photo SET capture_time = capture_time + 600 WHERE id = ?",
                         (middle,))  # fmt: skip
    with shoot.db.atomic():
        changed = regroup(shoot.db, [middle])
    assert changed == [middle]  # A_3 is 0.8 s after A_1: still in the burst
    assert shoot.burst_of("A_2.JPG") is None
    assert shoot.burst_of("A_3.JPG") == shoot.ids["A_0.JPG"]
    # The first frame's time moves: the burst is the second's now, and A_0 is on its own.
    first = shoot.ids["A_0.JPG"]
    shoot.db.execute_sql("UPDATE photo SET capture_time = capture_time - 600 WHERE id = ?",
                         (first,))  # fmt: skip
    with shoot.db.atomic():
        changed = regroup(shoot.db, [first])
    assert sorted(changed) == sorted(shoot.ids[name] for name in ("A_0.JPG", "A_1.JPG",
                                                                  "A_3.JPG"))  # fmt: skip
    assert shoot.burst_of("A_0.JPG") is None
    assert shoot.burst_of("A_3.JPG") == shoot.ids["A_1.JPG"]
    with shoot.db.atomic():
        assert regroup(shoot.db, [middle, first, shoot.ids["A_3.JPG"]]) == []
    shoot.catalogue.close()


def test_the_gap_setting_is_read_from_the_settings(tmp_path):
    shoot = night_and_more(tmp_path, config="triage.burst_gap_seconds = 0.1\n", measure=False)
    measure_hashes(shoot)
    with shoot.db.atomic():
        regroup_all(shoot.db, BurstRules.of(shoot.settings))
    assert shoot.groups() == []  # every frame was more than 0.1 s from the one before
    shoot.catalogue.close()


def test_a_photos_place_in_its_burst_and_its_sharpness_rank(tmp_path):
    shoot = night_and_more(tmp_path)
    with shoot.db.atomic():
        regroup_all(shoot.db)
    shoot.set_sharpness({"DSC_0101.JPG": 400, "DSC_0102.JPG": 900, "DSC_0103.JPG": 1200,
                         "DSC_0104.JPG": 300, "DSC_0105.JPG": 950})  # fmt: skip
    place = burst_place(shoot.db, shoot.ids["DSC_0103.JPG"])
    assert (place.position, place.size, place.rank) == (3, 5, 1)
    assert place.rank_words == "sharpest of 5"
    assert place.leader == shoot.ids["DSC_0103.JPG"]  # none approved: the sharpest
    place = burst_place(shoot.db, shoot.ids["DSC_0104.JPG"])
    assert (place.position, place.rank, place.rank_words) == (4, 5, "5th sharpest of 5")
    assert place.soft  # 300 of the sharpest 1200
    assert not burst_place(shoot.db, shoot.ids["DSC_0105.JPG"]).soft
    assert burst_place(shoot.db, shoot.ids["DSC_0106.JPG"]) is None
    shoot.db.execute_sql("UPDATE photo SET decision = 'approved' WHERE id = ?",
                         (shoot.ids["DSC_0104.JPG"],))  # fmt: skip
    assert burst_place(shoot.db, shoot.ids["DSC_0101.JPG"]).leader == shoot.ids["DSC_0104.JPG"]
    shoot.catalogue.close()


def test_the_first_is_the_leader_while_nothing_is_measured(tmp_path):
    shoot = night_and_more(tmp_path)
    with shoot.db.atomic():
        regroup_all(shoot.db)
    place = burst_place(shoot.db, shoot.ids["DSC_0102.JPG"])
    assert place.leader == shoot.ids["DSC_0101.JPG"]
    assert place.rank is None and place.rank_words == ""
    shoot.catalogue.close()


def test_demo_frames_keep_their_real_exif_times(tmp_path):
    """The demo's files as they are (EXIF written by exiftool): their sub-second times are
    read, so the five frames are 0.12 s apart in the catalogue."""
    folder = copy_demo_night(tmp_path)
    walls = [read_metadata(folder / f"DSC_{n:04d}.JPG").capture_time for n in range(101, 106)]
    assert [round(b - a, 2) for a, b in itertools.pairwise(walls)] == [0.12] * 4


@pytest.mark.parametrize("frames", [3, 80, 200])
@pytest.mark.parametrize("gap", [0.1, 1.9])
def test_regroup_of_one_photo_follows_a_long_burst_to_its_first_frame(catalogue, frames, gap):
    """A burst longer than the window regroup reads at first (60 s): 200 frames 1.9 s apart
    last over six minutes, and the last frame still names the first as its burst."""
    hashes = [phash(image) for image in burst_frames("IMG_0010.JPG", 8)]
    db = catalogue.db
    db.execute_sql(
        "INSERT INTO root (id, path, kind, state, added_at) VALUES (1, '/r', 'library',"
        " 'online', 0)"
    )
    with db.atomic():
        for i in range(frames):
            db.execute_sql(
                "INSERT INTO photo (id, blake3, capture_time, camera_make, camera_model, phash,"
                " decision, rating, labels, created_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0,"
                " 0, 0)",
                (100 + i, f"b{i}", START + gap * i, *D750, hashes[i % 2]),
            )
            db.execute_sql(
                "INSERT INTO file (root_id, rel_path, size, mtime_ns, last_seen,"
                " scan_generation, kind, photo_id, role) VALUES (1, ?, 1, 1, 0, 0, 'jpeg', ?,"
                " 'original')",
                (f"s/DSC_{i:04d}.JPG", 100 + i),
            )
    with db.atomic():
        changed = regroup(db, [100 + frames - 1])
    assert len(changed) == frames
    bursts_now = {row[0] for row in db.execute_sql("SELECT burst FROM photo")}
    assert bursts_now == {100}


def test_the_demo_opens_with_its_burst_grouped(tmp_path):
    """``shootwatch demo`` builds its catalogue as the engine would: the city-night burst
    (DSC_0101-0105, 0.12 s apart) is one burst, its next shot 41 s later is not in it, and no
    other photos of the demo (minutes apart) make one."""
    demo = create_demo(tmp_path / "demo")
    with open_catalogue(demo.catalogue) as catalogue:
        rows = catalogue.db.execute_sql(
            "SELECT f.rel_path, p.burst, p.id FROM photo p JOIN file f ON f.photo_id = p.id"
            " AND f.role = 'original' ORDER BY f.rel_path"
        ).fetchall()
        grouped = {rel.rsplit("/", 1)[-1]: burst for rel, burst, _ in rows if burst}
        first = next(pid for rel, _, pid in rows if rel.endswith("DSC_0101.JPG"))
        assert grouped == {f"DSC_{n:04d}.JPG": first for n in range(101, 106)}
        place = burst_place(catalogue.db, first)
        assert (place.position, place.size, place.rank is not None) == (1, 5, True)
