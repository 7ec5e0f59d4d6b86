"""The backbone end to end: a paid CCV Shop order becomes one e-Boekhouden mutation (I1, I3)."""

from __future__ import annotations

import threading
from collections import defaultdict
from decimal import Decimal
from uuid import UUID

from application.processing import ClaimHeld
from domain.booking import Booking


def test_one_order_delivered_three_times_is_posted_once(harness, paid_domestic_orders):
    order = paid_domestic_orders(1)[0]
    shop_id = harness.put_order(order)["id"]
    harness.runtime.start_workers(2)
    for _ in range(3):
        assert harness.send_webhook(shop_id).status_code == 202
    harness.wait_until(lambda: harness.settled(1, ("posted",)))
    mutations = harness.mutations()
    number = order["order"].get("ordernumber_full") or harness.rows()[0]["number"]
    assert [m["invoiceNumber"] for m in mutations] == [harness.rows()[0]["number"]]
    assert number
    row = harness.rows()[0]
    assert row["status"] == "posted" and row["attempts"] == 1 and not row["found_by_lookup"]

    # The mutation holds exactly the booking's lines, per account and VAT code (R7.1).
    document = harness.runtime.app.document(UUID(row["id"]))
    booking = Booking.from_dict(document.booking)
    expected = defaultdict(Decimal)
    for line in booking.lines:
        expected[(line.account, line.vat_code)] += line.amount_incl
    booked = defaultdict(Decimal)
    for r in mutations[0]["rows"]:
        booked[(r["ledgerCode"], r["vatCode"])] += Decimal(str(r["amount"]))
    assert dict(booked) == dict(expected)
    assert sum(expected.values()) == booking.total_incl
    assert Decimal(str(mutations[0]["totalAmount"])) == booking.total_incl  # not a cent off


def test_the_same_document_on_two_workers_at_once_reaches_the_ledger_once(harness,
                                                                          paid_domestic_orders):
    order = paid_domestic_orders(1)[0]
    shop_id = harness.put_order(order)["id"]
    doc_id = harness.runtime.processing.intake(harness.connection.id, "order", shop_id, "test")
    # Slow the ledger down so both workers are inside the posting step together.
    harness.arm(mode="latency", method="POST", path="/v1/mutation", seconds=0.5, count=5)
    outcomes, errors = [], []

    def work():
        try:
            outcomes.append(harness.runtime.processing.process(doc_id).status)
        except ClaimHeld as error:
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(harness.mutations()) == 1
    assert "posted" in outcomes
    assert len(outcomes) + len(errors) == 2
    assert harness.runtime.app.document(doc_id).status == "posted"


def test_a_500_after_the_ledger_committed_is_resolved_by_lookup_not_a_second_post(
        harness, paid_domestic_orders):
    order = paid_domestic_orders(1)[0]
    shop_id = harness.put_order(order)["id"]
    harness.arm(mode="after_commit", method="POST", path="/v1/mutation", count=1)
    harness.runtime.start_workers(1)
    assert harness.send_webhook(shop_id).status_code == 202
    harness.wait_until(lambda: harness.settled(1, ("posted",)))
    assert len(harness.mutations()) == 1
    row = harness.rows()[0]
    assert row["attempts"] == 2 and row["found_by_lookup"] == 1
    events = [type(e).__name__ for e in harness.runtime.app.history(UUID(row["id"]))]
    assert events.count("PostingStarted") == 2 and "PostingInterrupted" in events
