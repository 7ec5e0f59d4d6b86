"""A worker process's threads per connection (workers/fairness.py, issue 12): the bookkeeping
of turns and of the messages sent again for later.

The in-flight count, the refusals and the waits are checked on ``Fairness`` itself; the
deferral of a message on a real (in-process) Dramatiq broker and worker, with a stand-in for
``Processing`` at the one edge this is about: the turn it enters around its ledger work.
"""

from __future__ import annotations

import threading
import time
import uuid
from uuid import UUID

import dramatiq
import pytest

from application.errors import SlowDown, Throttled, TransientError
from application.processing import Outcome
from workers.actors import Actors
from workers.broker import MAX_RETRIES, make_broker
from workers.fairness import (ALONE_SECONDS, EARLY, SHORTEST_WAIT, Deferred, Fairness,
                              default_cap)

A, B = uuid.uuid4(), uuid.uuid4()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_default_keeps_one_thread_for_the_other_connections():
    assert [default_cap(threads) for threads in (1, 2, 4, 8)] == [1, 1, 3, 7]


def test_the_only_connection_of_an_installation_may_have_every_thread():
    clock, connections, asked = Clock(), [1], []

    def alone() -> bool:
        asked.append(clock.now)
        return connections[0] <= 1

    fairness = Fairness(default_cap(4), clock=clock, alone=alone)
    fairness.threads = 4
    with fairness.turn(A), fairness.turn(A), fairness.turn(A), fairness.turn(A):
        assert fairness.busy(A) == 4  # nobody else to keep a thread free for
        with pytest.raises(Deferred):
            with fairness.turn(A):
                pytest.fail("a fifth turn ran on four threads")
    assert len(asked) == 1  # asked once, then kept for a while
    connections[0] = 2  # a second connection is added
    clock.now += ALONE_SECONDS
    with fairness.turn(A), fairness.turn(A), fairness.turn(A):
        with pytest.raises(Deferred):
            with fairness.turn(A):
                pytest.fail("a fourth turn ran although another connection may wait")
    assert len(asked) == 2


def test_a_cap_the_operator_set_holds_for_a_lone_connection_too():
    fairness = Fairness(2, alone=lambda: True)  # ``threads`` stays None: the operator's cap
    with fairness.turn(A), fairness.turn(A):
        with pytest.raises(Deferred):
            with fairness.turn(A):
                pytest.fail("a third turn ran past the operator's cap")


def test_a_connection_at_its_cap_is_refused_and_the_others_are_not():
    fairness = Fairness(2)
    with fairness.turn(A), fairness.turn(A):
        assert fairness.busy(A) == 2
        with pytest.raises(Deferred) as refused:
            with fairness.turn(A):
                pytest.fail("a third turn for A ran")
        assert refused.value.connection_id == A and refused.value.reason == "busy"
        assert fairness.busy(A) == 2  # a refusal takes nothing
        with fairness.turn(B):  # another connection still has its threads
            assert fairness.busy(B) == 1
    assert fairness.busy(A) == fairness.busy(B) == 0
    with fairness.turn(A):  # free again
        assert fairness.busy(A) == 1


def test_a_turn_is_given_back_however_the_work_ends():
    fairness = Fairness(1)
    for error in (TransientError("ledger down"), ValueError("a bug"), KeyboardInterrupt()):
        with pytest.raises(type(error)):
            with fairness.turn(A):
                raise error
        assert fairness.busy(A) == 0
    with fairness.turn(A):
        pass


def test_refused_messages_queue_up_behind_each_other_as_fast_as_turns_end():
    """Each refusal is due a turn's length / cap after the one before (a little earlier:
    EARLY): deferred messages come back about as fast as the connection's threads get free,
    not all at the same moment."""
    clock = Clock()
    fairness = Fairness(2, clock=clock)
    with fairness.turn(A):  # one turn of 4 s: the connection's turns take 4 s here
        clock.now += 4.0
    holding = [fairness.turn(A), fairness.turn(A)]
    for turn in holding:
        turn.__enter__()
    waits = []
    for _ in range(3):
        with pytest.raises(Deferred) as refused:
            with fairness.turn(A):
                pass
        waits.append(refused.value.wait)
    assert waits == pytest.approx([2.0 * EARLY, 4.0 * EARLY, 6.0 * EARLY])
    for turn in holding:
        turn.__exit__(None, None, None)


def test_before_any_turn_ended_the_guess_is_the_running_turns_age():
    clock = Clock()
    fairness = Fairness(1, clock=clock)
    with fairness.turn(A):
        with pytest.raises(Deferred) as refused:  # at once: come back as soon as can be
            with fairness.turn(A):
                pass
        assert refused.value.wait == SHORTEST_WAIT
        clock.now += 3.0
        with pytest.raises(Deferred) as refused:
            with fairness.turn(A):
                pass
        assert refused.value.wait == pytest.approx(3.0 * EARLY)  # as long as that one


@pytest.mark.parametrize("error", [SlowDown("429", retry_after=7.0),
                                   Throttled("koppel's own limit", retry_after=7.0)])
def test_a_ledger_that_asks_to_slow_down_holds_back_its_connection_only(error):
    clock = Clock()
    fairness = Fairness(3, clock=clock)
    with pytest.raises(type(error)):
        with fairness.turn(A):
            raise error
    assert fairness.busy(A) == 0
    with pytest.raises(Deferred) as refused:  # a thread free, but the ledger said wait
        with fairness.turn(A):
            pass
    assert refused.value.reason == "slowed" and refused.value.wait >= 7.0
    with fairness.turn(B):
        pass
    clock.now += 7.0
    with fairness.turn(A):  # the wait is over
        pass


def test_a_429_without_retry_after_holds_back_for_a_while_still():
    clock = Clock()
    fairness = Fairness(1, clock=clock)
    with pytest.raises(SlowDown):
        with fairness.turn(A):
            raise SlowDown("429")
    with pytest.raises(Deferred):
        with fairness.turn(A):
            pass


def test_a_document_refused_before_is_refused_again_without_being_loaded():
    fairness = Fairness(1)
    assert fairness.refusal_for("doc-1") is None  # unknown: processing finds the connection
    fairness.remember("doc-1", A)
    assert fairness.refusal_for("doc-1") is None  # A is free
    with fairness.turn(A):
        refused = fairness.refusal_for("doc-1")
        assert refused is not None and refused.connection_id == A


# -- on a broker --------------------------------------------------------------------------------

class OneConnection:
    """Processing at the edge this test is about: each document belongs to ``connection`` and
    its work is the turn it enters (what ``Processing.process`` does around its ledger
    calls)."""

    claim_lease = 1.0

    def __init__(self, connection: UUID) -> None:
        self.connection = connection
        self.booked: list[str] = []
        self.refused = threading.Event()

    def process(self, doc_id: UUID, *, recheck_payment: bool = False, turn) -> Outcome:
        try:
            with turn(self.connection):
                self.booked.append(str(doc_id))
        except Deferred:
            self.refused.set()
            raise
        return Outcome("posted", "1001", self.connection)


class Seen(dramatiq.Middleware):
    """What the broker was given and what the worker took up, as Dramatiq sees it."""

    def __init__(self) -> None:
        self.sent: list[tuple[tuple, dict, int | None]] = []
        self.taken: list[dict] = []

    def before_enqueue(self, broker, message, delay):
        self.sent.append((tuple(message.args), dict(message.options), delay))

    def before_process_message(self, broker, message):
        self.taken.append(dict(message.options))


@pytest.fixture
def broker():
    broker = make_broker("")
    yield broker
    broker.close()


def test_a_deferred_message_is_sent_again_with_its_retries_and_booked_once(broker):
    seen = Seen()
    broker.add_middleware(seen)
    processing = OneConnection(A)
    fairness = Fairness(1)
    actors = Actors(broker, processing, inbox=None, markers=None,
                    prefix=f"t{uuid.uuid4().hex[:8]}", fairness=fairness)
    deferrals = []
    actors.on_deferred = lambda connection_id, reason: deferrals.append((connection_id, reason))
    doc = str(uuid.uuid4())
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        with fairness.turn(A):  # another thread of this process works for A meanwhile
            # A message that failed twice before (a ledger outage, say).
            actors.process.send_with_options(args=(doc, True), retries=2)
            assert processing.refused.wait(10)
            deadline = time.monotonic() + 10
            while len(seen.sent) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert processing.booked == []
        deadline = time.monotonic() + 10
        while not processing.booked and time.monotonic() < deadline:
            time.sleep(0.02)
        broker.join(actors.process.queue_name)
        worker.join()
    finally:
        worker.stop()
    assert deferrals == [(A, "busy")]
    # Sent again as it was, for later, before the first one was done: its retries go with
    # it and the deferral adds none (it was no failure).
    (_, first, _), (args, again, delay) = seen.sent[:2]
    assert args == (doc, True) and delay is not None and delay > 0
    assert again["retries"] == 2 and again["deferred"] is True
    assert [options.get("retries") for options in seen.taken] == [2, 2]
    assert processing.booked == [doc]  # booked once, nothing lost
    assert fairness.busy(A) == 0
    assert broker.dead_letters == []
    assert MAX_RETRIES > 2


def test_messages_waiting_long_do_not_hold_back_a_short_wait_in_process(broker):
    """The in-process broker's delay queue is consumed with a delay queue's prefetch: more
    messages waiting a minute (a paused connection's) than a queue's prefetch (2 per thread)
    leave room for a message sent again for a moment later."""
    ran = threading.Event()
    actor = dramatiq.actor(lambda what: ran.set() if what == "soon" else None, broker=broker,
                           actor_name=f"t{uuid.uuid4().hex[:8]}")
    for _ in range(8):
        actor.send_with_options(args=("later",), delay=60_000)
    actor.send_with_options(args=("soon",), delay=50)
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        assert ran.wait(10), "the short wait waited for the long ones"
    finally:
        worker.stop()
