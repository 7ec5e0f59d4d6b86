"""The per-document intake marker and the shared call limiter, on both databases."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from application.errors import Throttled
from workers.connectors.rate_limit import CallLimiter, Rate
from workers.intake_markers import Intake, IntakeMarkers

ORDER = Intake("c0ffee00-0000-0000-0000-000000000001", "order", 410000001)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def markers(store, clock):
    return IntakeMarkers(store, queued_for=300, running_for=120, clock=clock)


def test_a_queued_intake_covers_every_later_webhook(markers):
    assert markers.request(ORDER) is True
    assert [markers.request(ORDER) for _ in range(50)] == [False] * 50
    token = markers.start(ORDER)
    assert token and markers.finish(ORDER, token) is False  # nothing came meanwhile
    assert markers.request(ORDER) is True  # done: the next webhook fetches again


def test_a_webhook_during_a_fetch_asks_for_exactly_one_more(markers):
    markers.request(ORDER)
    token = markers.start(ORDER)
    assert [markers.request(ORDER) for _ in range(20)] == [False] * 20
    assert markers.start(ORDER) is None  # a duplicate message: the running one covers it
    assert markers.finish(ORDER, token) is True  # one more fetch, queued now
    assert markers.request(ORDER) is False
    again = markers.start(ORDER)
    assert again and markers.finish(ORDER, again) is False


def test_a_lost_message_or_worker_expires_and_is_taken_over(markers, clock):
    markers.request(ORDER)
    lost = markers.start(ORDER)  # its worker is killed: it never finishes
    clock.now += 60
    assert markers.request(ORDER) is False and markers.expired() == []
    clock.now += 61
    assert markers.expired() == [ORDER]
    assert markers.request(ORDER) is True  # taken over: this caller sends
    assert markers.finish(ORDER, lost) is False  # the dead worker's token counts no more
    assert markers.start(ORDER) is not None


def test_a_retried_message_stays_the_queued_intake(markers, clock):
    markers.request(ORDER)
    token = markers.start(ORDER)
    markers.request(ORDER)  # again
    markers.retry_later(ORDER, token)
    assert markers.request(ORDER) is False
    retry = markers.start(ORDER)
    assert retry and markers.finish(ORDER, retry) is False  # the retry fetched afresh


def test_concurrent_webhooks_send_one_intake(markers):
    with ThreadPoolExecutor(8) as pool:
        sent = list(pool.map(lambda _: markers.request(ORDER), range(200)))
    assert sent.count(True) == 1


def test_rate_parses_calls_per_seconds():
    assert Rate.parse("120/60") == Rate(120, 60.0) and Rate.parse(" 8 / 2.5s ") == Rate(8, 2.5)
    assert Rate.parse("") is None
    for bad in ("120", "0/60", "10/0", "many/60"):
        with pytest.raises(ValueError):
            Rate.parse(bad)


def test_the_limiter_counts_per_key_across_threads_and_throttles_past_its_wait(store):
    limiter = CallLimiter(store, margin=0.0)
    rate = Rate(5, 2.0)
    with ThreadPoolExecutor(8) as pool:
        waits = list(pool.map(lambda _: limiter.take("shop:busy", rate), range(20)))
    assert waits.count(0.0) == 5 and all(0 < w <= 2.0 for w in waits if w)
    assert limiter.take("shop:quiet", rate) == 0.0  # another connection is not held up
    with pytest.raises(Throttled) as caught:
        limiter.wait_for_turn("shop:busy", rate, max_wait=0.1)
    assert 0 < caught.value.retry_after <= 2.0
    due = limiter.take("shop:busy", rate)
    started = time.monotonic()
    limiter.wait_for_turn("shop:busy", rate, max_wait=5.0)  # waits for the window instead
    assert due - 0.1 < time.monotonic() - started < due + 2.0
