"""Switching ledgers by replay, and a second ledger in parallel (issue 13 part 3): every
document the connection booked since a date goes into the new ledger exactly once, with the
same rules and the new ledger's settings, while the old ledger's postings stay as they are."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone

import pytest

from application.replay import HandOverBlocked
from domain.ledger_target import Purpose
from tests.harness import Harness, test_settings

SECOND = "second-administration-token"
SINCE = datetime(2020, 1, 1, tzinfo=timezone.utc)


def second_settings(h: Harness, **replace: str):
    """The demo settings for the second administration: its own token, and shipping booked
    on the revenue account (so the new ledger's settings are seen to be used)."""
    return test_settings(h.shop_url, **{'api_token = "demo-ledger-token"':
                                        f'api_token = "{SECOND}"',
                                        'shipping_account = "8010"': 'shipping_account = "8000"',
                                        **replace})


def sales(client) -> Counter:
    return Counter(m["invoiceNumber"] for m in client.get("/__sandbox/mutations").json()
                   if int(m["type"]) == 2)


def book(h: Harness, orders: list[dict]) -> list:
    ids = []
    for order in orders:
        doc_id = h.runtime.processing.intake(h.connection.id, "order",
                                             h.put_order(order)["id"], "test")
        assert h.process(doc_id).status == "posted"
        ids.append(doc_id)
    return ids


@pytest.fixture
def two(database_url):
    h = Harness(database_url, administrations=(SECOND,))
    h.second = h.administration(SECOND)
    yield h
    h.second.close()
    h.close()


def test_a_copy_into_a_second_administration_gets_each_booking_once(two, paid_domestic_orders):
    h = two
    orders = paid_domestic_orders(12)
    ids = book(h, orders[:10])
    first = sales(h.ledger)
    assert len(first) == 10 and set(first.values()) == {1}

    replays = h.runtime.replays
    target = replays.add(h.connection.id, "Accountant", second_settings(h), SINCE,
                         Purpose.COPY, by="merchant@example.test")
    assert target.total == 10 and target.state == "running"
    seen = []
    done = replays.run(target.id, on_progress=lambda t: seen.append(t.position))
    assert (done.state, done.position, seen) == ("finished", 10, [10])
    assert sales(h.second) == first  # the same documents, once each
    assert sales(h.ledger) == first  # the old ledger untouched

    # the new ledger's settings and its own relations, kept per (target, document)
    shipped = 0
    for doc_id in ids:
        document = h.runtime.app.document(doc_id)
        posting = replays.find_posting(target.id, doc_id)
        assert posting.status == "posted" and posting.number == document.number
        old, new = json.dumps(document.booking), json.dumps(posting.booking)
        shipped += '"8010"' in old
        assert '"8010"' not in new
    assert shipped > 0
    # a document booked later follows into the copy (the workers call follow after Posted)
    later = book(h, orders[10:12])
    for doc_id in later:
        assert [status for _, status in replays.follow(doc_id)] == ["posted"]
        assert [status for _, status in replays.follow(doc_id)] == ["posted"]  # again: nothing
    assert len(sales(h.second)) == 12 and set(sales(h.second).values()) == {1}

    # asked again: listed anew, nothing booked twice
    again = replays.add(h.connection.id, "Accountant", second_settings(h), SINCE,
                        Purpose.COPY, by="merchant@example.test")
    assert again.id == target.id and again.runs == 2 and again.total == 12
    assert replays.run(again.id).state == "finished"
    assert sales(h.second) == sales(h.ledger) and set(sales(h.second).values()) == {1}
    progress = replays.progress(target.id)
    assert (progress.posted, progress.failed, progress.total) == (12, 0, 12)
