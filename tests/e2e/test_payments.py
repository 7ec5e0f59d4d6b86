"""R8: payments booked against the open item, at most once, under the same faults as a sale."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from application.errors import DuplicateError, TransientError
from application.processing import ClaimHeld
from domain.booking import Booking
from domain.payments import payment_request
from sandbox.generator import generate
from tests.harness import Harness

INVOICES_MODE = {'process = "paid_orders"': 'process = "invoices"'}
PAYMENTS_OFF = {"[payments]\nenabled = true": "[payments]\nenabled = false"}


@pytest.fixture
def h(sqlite_url):
    harness = Harness(sqlite_url)
    yield harness
    harness.close()


def _process(h: Harness, shop_id: int, kind: str = "order", **kwargs):
    doc_id = h.runtime.processing.intake(h.connection.id, kind, shop_id, "test")
    h.runtime.processing.process(doc_id, **kwargs)
    return h.runtime.app.document(doc_id)


def _outstanding(h: Harness, number: str):
    return h.runtime.connections.ledger(h.connection).find_outstanding(number)


def test_a_paid_order_gets_its_payment_booked_against_the_open_item(h, paid_domestic_orders):
    order = paid_domestic_orders(1)[0]
    document = _process(h, h.put_order(order)["id"])
    assert document.status == "posted" and document.payment_status == "posted"
    [sale], [payment] = h.mutations(2), h.mutations(3)
    assert payment["invoiceNumber"] == sale["invoiceNumber"] == document.number
    assert Decimal(str(payment["rows"][0]["amount"])) == Decimal(document.booking["total_incl"])
    assert payment["rows"][0]["vatCode"] == "GEEN"
    assert payment["ledgerCode"] in {"1100", "1110"}  # the payment method's account (R8.2)
    assert _outstanding(h, document.number) is None  # paid off


def test_an_unpaid_order_waits_and_its_payment_follows_the_ispaid_webhook(h):
    item = generate(30, 4, failing_share=0, unpaid_share=1.0, scopes={"domestic"})[0]
    assert item["expect"]["outcome"] == "open"
    h.register_webhooks()
    h.runtime.start_workers(2)
    shop_id = h.put_order(item, notify=True)["id"]
    h.wait_until(lambda: h.settled(1, ("waiting",)))
    assert h.mutations(2) == [] and h.mutations(3) == []

    h.shop.patch(f"/__sandbox/orders/{shop_id}", json={"paid": True}).raise_for_status()
    h.wait_until(lambda: h.rows()[0]["payment_status"] == "posted")
    assert len(h.mutations(2)) == 1 and len(h.mutations(3)) == 1


def test_an_invoice_is_booked_and_paid_in_invoices_mode(h):
    h.change_settings(**INVOICES_MODE)
    item = next(i for i in generate(40, 9, failing_share=0, unpaid_share=0,
                                    scopes={"invoice"}) if i["kind"] == "invoice")
    seeded = h.put_invoice(item)
    document = _process(h, seeded["id"], kind="invoice")
    assert document.kind == "invoice" and document.status == "posted"
    assert document.payment_status == "posted"  # invoices always (R8.1)
    assert [m["invoiceNumber"] for m in h.mutations(3)] == [document.number]


def test_order_webhooks_are_ignored_by_a_connection_that_books_invoices(h):
    h.change_settings(**INVOICES_MODE)
    response = h.send_webhook(1, "orders.created")
    assert response.status_code == 202 and "books invoices" in response.get_json()["ignored"]
    assert h.runtime.inbox.count_pending() == 0


def test_no_open_item_fails_the_payment_and_leaves_the_sale_posted(h, paid_domestic_orders):
    # An invoice of the invoicing module without its booking has no open item (R7.2).
    h.change_settings(**{'document = "mutation"': 'document = "invoice"'})
    document = _process(h, h.put_order(paid_domestic_orders(1)[0])["id"])
    assert document.status == "posted"
    assert document.payment_status == "failed"
    assert document.payment_failure["code"] == "PAYMENT_NO_OPEN_ITEM"
    assert "no open item" in document.payment_failure["message_en"]
    assert h.mutations(3) == []
    row = next(r for r in h.rows() if r["number"] == document.number)
    assert (row["status"], row["payment_status"], row["payment_code"]) == (
        "posted", "failed", "PAYMENT_NO_OPEN_ITEM")


def _posted_without_payment(h: Harness, order: dict):
    h.change_settings(**PAYMENTS_OFF)
    document = _process(h, h.put_order(order)["id"])
    assert document.status == "posted" and document.payment_status is None
    h.change_settings()  # payments on again: the next check books it
    return document


def test_an_amount_mismatch_fails_the_payment(h, paid_domestic_orders):
    document = _posted_without_payment(h, paid_domestic_orders(1)[0])
    relation = document.relation["id"]
    # Someone booked a part payment by hand: the open item is now smaller than the order.
    h.runtime.connections.ledger(h.connection).create_mutation({
        "type": "3", "date": document.booking["date"], "ledgerId": "1100",
        "relationId": relation, "invoiceNumber": document.number, "description": "by hand",
        "rows": [{"ledgerId": "1300", "vatCode": "GEEN", "amount": Decimal("1.00"),
                  "invoiceNumber": document.number, "relationId": relation}]})
    h.runtime.processing.process(document.id, recheck_payment=True)
    document = h.runtime.app.document(document.id)
    assert document.payment_failure["code"] == "PAYMENT_AMOUNT_MISMATCH"
    assert len(h.mutations(3)) == 1  # only the one by hand



def _pay_by_hand(h: Harness, document, amount: Decimal, description: str) -> None:
    relation = document.relation["id"]
    h.runtime.connections.ledger(h.connection).create_mutation({
        "type": "3", "date": document.booking["date"], "ledgerId": "1100",
        "relationId": relation, "invoiceNumber": document.number, "description": description,
        "rows": [{"ledgerId": "1300", "vatCode": "GEEN", "amount": amount,
                  "invoiceNumber": document.number, "relationId": relation}]})


def test_a_payment_booked_by_hand_is_not_taken_for_koppels_own(h, paid_domestic_orders):
    """No open item may mean koppel's payment is there already (a restored backup older than
    it, tests/e2e/test_backup_restore.py), so koppel looks; a payment someone booked by hand
    has another description and is not counted as koppel's: the payment fails, to be looked
    at, and nothing is booked."""
    document = _posted_without_payment(h, paid_domestic_orders(1)[0])
    _pay_by_hand(h, document, Decimal(document.booking["total_incl"]), "by hand")
    h.runtime.processing.process(document.id, recheck_payment=True)
    document = h.runtime.app.document(document.id)
    assert document.payment_failure["code"] == "PAYMENT_NO_OPEN_ITEM"
    [looked] = [e for e in h.runtime.app.history(document.id)
                if type(e).__name__ == "LookedUp" and e.subject == "payment"]
    assert looked.found is None
    assert len(h.mutations(3)) == 1  # only the one by hand


def test_koppels_own_payment_found_without_an_open_item_is_recorded(h, paid_domestic_orders):
    """The same with koppel's own description (what an attempt this event store does not
    know booked): found by lookup, not failed and not booked again."""
    document = _posted_without_payment(h, paid_domestic_orders(1)[0])
    connection = h.runtime.connections.get(h.connection.id)
    request = payment_request(document.kind, Booking.from_dict(document.booking),
                              connection.settings, document.relation["id"])
    h.runtime.connections.ledger(h.connection).create_mutation(request["body"])
    h.runtime.processing.process(document.id, recheck_payment=True)
    document = h.runtime.app.document(document.id)
    assert document.payment_status == "posted" and document.payment_failure is None
    assert h.runtime.app.history(document.id)[-1].found_by_lookup
    assert len(h.mutations(3)) == 1

def test_the_same_payment_on_two_workers_at_once_is_booked_once(h, paid_domestic_orders):
    document = _posted_without_payment(h, paid_domestic_orders(1)[0])
    h.arm(mode="latency", method="POST", path="/v1/mutation", seconds=0.5, count=4)
    results = []

    def work():
        try:
            results.append(h.runtime.processing.process(document.id).status)
        except ClaimHeld as error:
            results.append(error)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(h.mutations(3)) == 1
    assert h.runtime.app.document(document.id).payment_status == "posted"


def test_a_500_after_the_payment_committed_is_found_not_booked_again(h, paid_domestic_orders):
    # The sale's POST passes; the payment's POST commits and then answers 500.
    h.arm(mode="after_commit", method="POST", path="/v1/mutation", skip=1, count=1)
    h.runtime.start_workers(1)
    shop_id = h.put_order(paid_domestic_orders(1)[0])["id"]
    assert h.send_webhook(shop_id).status_code == 202
    h.wait_until(lambda: h.rows() and h.rows()[0]["payment_status"] == "posted")
    assert len(h.mutations(2)) == 1 and len(h.mutations(3)) == 1
    row = h.rows()[0]
    assert row["payment_attempts"] == 2 and row["payment_found_by_lookup"] == 1


def _posted_with_payment_left(h: Harness, order: dict, how: str):
    """A posted order whose payment's retry message died with its worker: interrupted (a
    503 on the payment's POST, and no retry follows), or started by a worker that is gone."""
    if how == "interrupted":
        h.arm(mode="error", method="POST", path="/v1/mutation", skip=1, count=1, status=503)
        doc_id = h.runtime.processing.intake(h.connection.id, "order",
                                             h.put_order(order)["id"], "test")
        with pytest.raises(TransientError):
            h.runtime.processing.process(doc_id)
    else:
        document = _posted_without_payment(h, order)
        doc_id = document.id
        booking = Booking.from_dict(document.booking)
        request = payment_request(document.kind, booking, h.runtime.connections.get(
            h.connection.id).settings, document.relation["id"])
        # The claim of a worker that died before it called the ledger, with a short lease.
        document.start_payment("gone:1:worker", request, 1.0, datetime.now(timezone.utc))
        h.runtime.app.save(document)
    assert h.runtime.app.document(doc_id).payment_status == how
    return doc_id


@pytest.mark.parametrize("how", ["interrupted", "posting"])
def test_the_requeue_job_brings_back_a_payment_whose_retry_died(h, paid_domestic_orders, how):
    """Issue 7, hole 3: not after the payment check's hours, within the re-queue's minute."""
    doc_id = _posted_with_payment_left(h, paid_domestic_orders(1)[0], how)
    h.runtime.start_workers(1)
    h.runtime.start_background(projector=True)  # the read model the re-queue job reads
    time.sleep(1.5)
    assert h.runtime.app.document(doc_id).payment_status == how  # no message: nobody moves
    h.start_requeue(every=0.5, stale_after=1.0)  # the scheduler's job, on a test's time scale
    h.wait_until(lambda: h.runtime.app.document(doc_id).payment_status == "posted", timeout=20)
    assert len(h.mutations(3)) == 1
    assert h.runtime.app.document(doc_id).payment_attempt == 2  # the second looked first


def test_the_payment_carries_a_reference_the_ledger_keeps_unique(h, paid_domestic_orders):
    """R8.2 with e-Boekhouden's own guard: a second POST of the same payment is refused."""
    document = _process(h, h.put_order(paid_domestic_orders(1)[0])["id"])
    request = next(e.request for e in h.runtime.app.history(document.id)
                   if type(e).__name__ == "PaymentStarted")
    assert request["body"]["checkPaymentReference"] is True
    assert request["body"]["paymentReference"] == f"betaling {document.number}"
    ledger = h.runtime.connections.ledger(h.connection)
    with pytest.raises(DuplicateError) as refused:
        ledger.create_mutation(request["body"])
    assert refused.value.code == "MUTA_008"
    assert len(h.mutations(3)) == 1


def test_muta_008_means_already_there_and_is_looked_up(h, paid_domestic_orders, monkeypatch):
    """The payment committed, its answer was lost, and the retry's lookup missed it (a list
    that lags): the retry's POST gets MUTA_008, which must end in PaymentPosted found by
    lookup, never in a second payment or a failed one."""
    h.arm(mode="after_commit", method="POST", path="/v1/mutation", skip=1, count=1)
    ledger = h.runtime.connections.ledger(h.connection)
    real_find, real_outstanding = ledger.find_payment, ledger.find_outstanding
    calls, first_seen = [], []

    def lagging_find(number):
        calls.append(number)
        return None if len(calls) == 1 else real_find(number)

    def lagging_outstanding(number):  # the retry still sees the open item of before
        first_seen.append(real_outstanding(number))
        return first_seen[0]

    monkeypatch.setattr(ledger, "find_payment", lagging_find)
    monkeypatch.setattr(ledger, "find_outstanding", lagging_outstanding)
    doc_id = h.runtime.processing.intake(h.connection.id, "order",
                                         h.put_order(paid_domestic_orders(1)[0])["id"], "test")
    with pytest.raises(TransientError):
        h.runtime.processing.process(doc_id)  # the payment's 500 after commit
    h.process(doc_id)  # after the settle window: lookup misses, MUTA_008, lookup finds
    document = h.runtime.app.document(doc_id)
    assert document.payment_status == "posted" and len(h.mutations(3)) == 1
    assert h.runtime.app.history(doc_id)[-1].found_by_lookup
    statuses = [r["status"] for r in h.ledger.get("/__sandbox/requests").json()
                if r["method"] == "POST" and r["path"] == "/v1/mutation"]
    assert statuses == [201, 500, 400]
