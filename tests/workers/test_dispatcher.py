"""A send that never reached the broker must not leave the document's intake marker claiming
a queued intake: webhooks, the sweep and the dispatcher would all wait for it to run out
(``queued_for``, minutes) before anyone fetches the document (issue 7, the short chaos run's
orders lost around the broker cut; I2)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from dramatiq.brokers.stub import StubBroker

from workers.actors import Actors
from workers.dispatcher import Dispatcher
from workers.inbox import Inbox
from workers.intake_markers import IntakeMarkers

CONNECTION = "c0ffee00-0000-0000-0000-000000000001"


class Broker(StubBroker):
    """The edge this test is about: a broker that can be unreachable."""

    down = False

    def enqueue(self, message, *, delay=None):
        if self.down:
            raise ConnectionError("the broker is unreachable")
        return super().enqueue(message, delay=delay)


def test_an_intake_the_broker_refused_is_sent_again_on_the_dispatchers_next_look(store):
    broker = Broker()
    inbox = Inbox(store)
    actors = Actors(broker, None, inbox, IntakeMarkers(store), prefix="t")
    dispatcher = Dispatcher(store, inbox, actors, stale_after=timedelta(seconds=10))
    inbox.add(CONNECTION, "order", 410000001, "orders.created",
              datetime(2026, 1, 1, tzinfo=timezone.utc).isoformat())

    broker.down = True
    with pytest.raises(ConnectionError):
        dispatcher.resend_inbox()
    broker.down = False
    assert dispatcher.resend_inbox() == 1
    assert broker.queues["t.intake"].qsize() == 1
    assert dispatcher.resend_inbox() == 0  # and once: the queued one covers it now
