"""The delivery check's judgement (tui.delivery), on tmux's answers as a test gives them: a
picture is sent again when some client showing the app was handed fewer bytes than it, and
every picture goes again to a client that attached since."""

from __future__ import annotations

import time

import pytest

from tui.delivery import SETTLE_SECONDS, DeliveryCheck


class Tmux:
    """Answers as tmux would: bytes handed to each client so far."""

    def __init__(self, **written: int) -> None:
        self.written = dict(written)

    def __call__(self) -> dict[str, int]:
        return dict(self.written)


@pytest.fixture
def resent() -> list[str]:
    return []


def check_with(tmux: Tmux, resent: list[str], *views: str) -> DeliveryCheck:
    check = DeliveryCheck(ask=tmux)
    for view in views:
        check._views[id(view)] = lambda view=view: resent.append(view)
    return check


def later(seconds: float = SETTLE_SECONDS + 0.01) -> float:
    return time.monotonic() + seconds


@pytest.mark.parametrize("handed, lost", [(5_000, False), (4_999, True), (0, True)])
def test_a_picture_is_judged_by_the_bytes_tmux_handed_on(resent, handed, lost):
    tmux = Tmux(a=100)
    check = check_with(tmux, resent, "photo")
    check.check()  # the baseline
    check.sent(5_000, lambda: resent.append("photo"))
    tmux.written["a"] += handed
    check.check(later())
    assert resent == (["photo"] if lost else [])
    check.check(later())  # judged once
    assert resent == (["photo"] if lost else [])


def test_every_client_showing_the_app_must_have_it(resent):
    tmux = Tmux(laptop=0, desk=0)
    check = check_with(tmux, resent, "photo")
    check.check()
    check.sent(1_000, lambda: resent.append("photo"))
    tmux.written.update(laptop=50_000, desk=10)  # the desk's redraw was waiting
    check.check(later())
    assert resent == ["photo"]


def test_a_picture_is_given_time_to_reach_tmux(resent):
    tmux = Tmux(a=0)
    check = check_with(tmux, resent, "photo")
    check.check()
    check.sent(1_000, lambda: resent.append("photo"))
    check.check(later(0))  # just written: tmux may not have read it yet
    assert resent == []
    tmux.written["a"] += 1_000
    check.check(later())
    assert resent == []


def test_pictures_sent_together_are_counted_together(resent):
    tmux = Tmux(a=0)
    check = check_with(tmux, resent, "photo", "twin")
    check.check()
    check.sent(1_000, lambda: resent.append("photo"))
    check.sent(1_000, lambda: resent.append("twin"))
    tmux.written["a"] += 1_500  # one of them did not go
    check.check(later())
    assert resent == ["photo", "twin"]


@pytest.mark.parametrize("how", ["another terminal", "the same name, counting anew"])
def test_a_client_that_attaches_gets_every_picture(resent, how):
    tmux = Tmux(a=90_000)
    check = check_with(tmux, resent, "left", "right")
    check.check()
    if how == "another terminal":
        tmux.written = {"b": 10}
    else:
        tmux.written = {"a": 10}
    check.check(later())
    assert sorted(resent) == ["left", "right"]


def test_nothing_is_judged_before_tmux_first_answers(resent):
    tmux = Tmux(a=0)
    check = check_with(tmux, resent, "photo")
    check.sent(1_000, lambda: resent.append("photo"))  # before any answer
    check.check(later())
    assert resent == []


def test_no_answer_from_tmux_judges_nothing(resent):
    check = check_with(lambda: None, resent, "photo")
    check.sent(1_000, lambda: resent.append("photo"))
    check.check(later())
    assert resent == [] and check._pending
