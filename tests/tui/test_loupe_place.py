"""The loupe's geometry: zoom levels, pans, clamping at the edges, and the region of the
full-size picture a pane shows, with half-blocks and with a graphics terminal's pixels."""

from __future__ import annotations

import pytest

from tui.loupe import HALF_BLOCK, LoupePlace, start_place

NIKON = (4288, 2848)  # a 12 MP frame
SONY = (6000, 4000)  # 24 MP
PORTRAIT = (4000, 6000)


def test_zoom_steps_up_to_200_and_out_to_fit():
    place = LoupePlace()
    seen = []
    for _ in range(5):
        place = place.zoomed_in()
        seen.append(place.zoom)
    assert seen == [0.5, 1.0, 2.0, 2.0, 2.0]
    assert place.zoomed_out().zoom is None
    assert place.zoomed_out().zoomed_out().zoom is None
    assert [LoupePlace(z).percent for z in (None, 0.5, 1.0, 2.0)] == ["fit", "50 %", "100 %",
                                                                     "200 %"]  # fmt: skip


def test_fit_shows_the_whole_picture_and_does_not_pan():
    place = LoupePlace(None, 0.2, 0.9)
    assert place.crop_box(SONY, (80, 22)) == (0, 0, 6000, 4000)
    assert place.panned(1, 1, SONY, (80, 22)) == place


@pytest.mark.parametrize(
    ("cells", "cell_pixels", "zoom", "size"),
    [
        ((80, 22), HALF_BLOCK, 1.0, (80, 44)),
        ((160, 46), HALF_BLOCK, 1.0, (160, 92)),
        ((160, 46), HALF_BLOCK, 0.5, (320, 184)),
        ((160, 46), HALF_BLOCK, 2.0, (80, 46)),
        ((160, 46), (10, 20), 1.0, (1600, 920)),  # a graphics terminal's own pixels
        ((240, 68), (9, 18), 2.0, (1080, 612)),
    ],
)
def test_crop_box_is_the_views_worth_of_picture_pixels(cells, cell_pixels, zoom, size):
    box = LoupePlace(zoom, 0.5, 0.5).crop_box(SONY, cells, cell_pixels)
    assert (box[2] - box[0], box[3] - box[1]) == size
    # centred on the middle of the picture, to the pixel
    assert abs((box[0] + box[2]) / 2 - 3000) <= 1 and abs((box[1] + box[3]) / 2 - 2000) <= 1
    shown = LoupePlace(zoom).shown_size(box)
    assert shown == (cells[0] * cell_pixels[0], cells[1] * cell_pixels[1])


@pytest.mark.parametrize("image", [NIKON, SONY, PORTRAIT])
@pytest.mark.parametrize(("x", "y"), [(0.0, 0.0), (1.0, 1.0), (0.0, 1.0), (0.999, 0.001)])
def test_crop_box_stays_inside_the_picture_at_every_corner(image, x, y):
    for zoom in (0.5, 1.0, 2.0):
        box = LoupePlace(zoom, x, y).crop_box(image, (160, 46))
        assert 0 <= box[0] < box[2] <= image[0] and 0 <= box[1] < box[3] <= image[1]
        # at a corner the view touches the picture's edges there
        assert box[0] == 0 if x < 0.5 else box[2] == image[0]
        assert box[1] == 0 if y < 0.5 else box[3] == image[1]


def test_a_view_larger_than_the_picture_shows_all_of_it():
    small = (120, 80)
    place = LoupePlace(1.0, 0.9, 0.1)
    assert place.crop_box(small, (160, 46)) == (0, 0, 120, 80)
    assert place.clamped(small, (160, 46)) == LoupePlace(1.0, 0.5, 0.5)


def test_a_small_step_is_a_tenth_of_the_view_and_a_big_one_half():
    cells = (160, 46)  # 160 x 92 picture pixels at 100 %
    place = LoupePlace(1.0, 0.5, 0.5)
    right = place.panned(1, 0, SONY, cells)
    assert right.x * 6000 == pytest.approx(3000 + 16)
    down = place.panned(0, 1, SONY, cells)
    assert down.y * 4000 == pytest.approx(2000 + 9.2)
    big = place.panned(-1, -1, SONY, cells, big=True)
    assert big.x * 6000 == pytest.approx(3000 - 80) and big.y * 4000 == pytest.approx(2000 - 46)
    # the step follows the zoom: at 200 % the view, and its step, are half as wide
    assert (LoupePlace(2.0).panned(1, 0, SONY, cells).x - 0.5) * 6000 == pytest.approx(8)


def test_panning_stops_at_the_edge():
    cells = (160, 46)
    place = LoupePlace(1.0, 0.5, 0.5)
    for _ in range(200):
        place = place.panned(1, -1, SONY, cells, big=True)
    assert place.crop_box(SONY, cells) == (6000 - 160, 0, 6000, 92)
    back = place.panned(-1, 0, SONY, cells)  # one step back moves at once, none is lost
    assert back.crop_box(SONY, cells)[0] == 6000 - 160 - 16


def test_the_place_is_kept_in_fractions_across_frames_of_other_sizes():
    place = LoupePlace(1.0, 0.25, 0.75, "AF point")
    a = place.crop_box(SONY, (160, 46))
    b = place.crop_box(NIKON, (160, 46))
    assert (a[0] + a[2]) / 2 == pytest.approx(0.25 * 6000, abs=1)
    assert (b[0] + b[2]) / 2 == pytest.approx(0.25 * 4288, abs=1)
    assert (b[1] + b[3]) / 2 == pytest.approx(0.75 * 2848, abs=1)


@pytest.mark.parametrize(
    ("af", "sharp", "expected"),
    [
        ((0.3, 0.4), (0.7, 0.6), (0.3, 0.4, "AF point")),
        ((None, None), (0.7, 0.6), (0.7, 0.6, "sharpest region")),
        ((0.3, None), (0.7, 0.6), (0.7, 0.6, "sharpest region")),  # half an AF point: none
        ((None, None), (None, None), (0.5, 0.5, "centre")),
        ((1.5, 0.2), (None, None), (0.5, 0.5, "centre")),  # out of the picture: not trusted
    ],
)
def test_start_place_prefers_the_af_point_then_the_sharpest_region(af, sharp, expected):
    place = start_place(af, sharp)
    assert (place.x, place.y, place.start) == expected
    assert place.zoom == 1.0


def test_describe_says_zoom_place_and_why():
    assert LoupePlace().describe() == "loupe off"
    text = LoupePlace(1.0, 0.62, 0.4, "AF point").describe()
    assert text == "100 % at 62%, 40% · from the AF point"
    assert LoupePlace(0.5).describe() == "50 % at 50%, 50% · centre"
