"""I1 against a ledger that goes on working after koppel gave up (issue 7, hole 1).

The fakes run on real ports with the ``late_commit`` fault: koppel's HTTP timeout (1 s) ends
its call, the ledger commits the write at ``commit_after`` (before or after its own answer at
2.5 s) and the retry comes 0.3 s after the timeout, as Dramatiq's backoff sends it. Counted
in the fake's own records: exactly one booking, whichever lands first.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from application.errors import TransientError
from application.processing import ClaimHeld
from sandbox import billit as sandbox_billit
from sandbox import ccvshop as sandbox_shop
from sandbox import eboekhouden as sandbox_ledger
from sandbox.generator import generate
from sandbox.serve import serve
from tests.harness import LEDGER_TOKEN, SHOP_KEYS, Harness
from web.audit import document_history, history_text
from web.demo import BILLIT_KEY, BILLIT_PARTY

TIMEOUT = 1.0  # koppel's HTTP timeout
ANSWER_AFTER = 2.5  # the ledger's answer, long after koppel stopped listening
SETTLE = 4.0  # longer than any request lives in these fakes (the production default: 300 s)
COMMITS = [2.0, 3.0]  # the write lands before the ledger's answer, or after it

LEDGER_NUMBERS_INVOICES = {'document = "mutation"': 'document = "invoice"'}  # and "ledger"
INVOICES_MODE = {'process = "paid_orders"': 'process = "invoices"'}


@pytest.fixture
def servers():
    running = [serve(sandbox_shop.create_app(public_key=SHOP_KEYS[0], secret=SHOP_KEYS[1],
                                             api_root=None)),
               serve(sandbox_ledger.create_app(api_token=LEDGER_TOKEN)),
               serve(sandbox_billit.create_app(api_key=BILLIT_KEY, party_id=int(BILLIT_PARTY)))]
    yield running
    for server in running:
        server.stop()


@pytest.fixture
def make(sqlite_url, servers):
    made = []

    def harness(ledger: str = "eboekhouden", **settings) -> Harness:
        h = Harness(sqlite_url, servers=servers, ledger=ledger, http_timeout=TIMEOUT,
                    settle_window=SETTLE, claim_lease=10.0)
        if settings:
            h.change_settings(**settings)
        made.append(h)
        return h

    yield harness
    for h in made:
        h.close()


def _late(h: Harness, path: str, commit_after: float, skip: int = 0, billit: bool = False):
    control = h.billit if billit else h.ledger
    control.post("/__sandbox/faults", json={
        "mode": "late_commit", "method": "POST", "path": path, "count": 1, "skip": skip,
        "answer_after": ANSWER_AFTER, "commit_after": commit_after}).raise_for_status()


def _race(h: Harness, doc_id) -> list[float]:
    """The first attempt times out; the retries come as a worker's would: 0.3 s after a
    transient error, after the wait a ClaimHeld asks for. Returns the waits asked for."""
    with pytest.raises(TransientError) as first:
        h.runtime.processing.process(doc_id)
    assert first.value.outcome_unknown
    waits = []
    for _ in range(6):
        time.sleep(0.3)
        try:
            outcome = h.runtime.processing.process(doc_id)
        except ClaimHeld as held:
            waits.append(held.retry_after)
            time.sleep(held.retry_after)
        else:
            if outcome.status == "posted":
                break
    time.sleep(max(0.0, ANSWER_AFTER + 0.5 - sum(waits)))  # every late write has landed
    return waits


def _intake(h: Harness, shop_id: int, kind: str = "order"):
    return h.runtime.processing.intake(h.connection.id, kind, shop_id, "test")


def _settled_before_looking(h: Harness, doc_id, interrupted: str, started: str) -> None:
    """The audit (I3) shows the interruption with its settle window's end, then the lookup,
    and no new attempt started inside the window."""
    history = h.runtime.app.history(doc_id)
    names = [type(e).__name__ for e in history]
    stop = next(e for e in history if type(e).__name__ == interrupted)
    assert stop.outcome_unknown and stop.settle_until is not None
    retry = [e for e in history if type(e).__name__ == started][1]
    assert retry.timestamp >= stop.settle_until
    assert "LookedUp" in names[names.index(interrupted):]
    text = history_text(document_history(h.runtime.app, doc_id))
    assert f" {interrupted}\n" in text and "settle_until" in text and " LookedUp\n" in text


@pytest.mark.parametrize("commit_after", COMMITS)
def test_an_eboekhouden_sale_written_late_is_booked_once(make, paid_domestic_orders,
                                                         commit_after):
    h = make()
    _late(h, "/v1/mutation", commit_after)
    doc_id = _intake(h, h.put_order(paid_domestic_orders(1)[0])["id"])
    waits = _race(h, doc_id)
    document = h.runtime.app.document(doc_id)
    assert document.status == "posted" and waits and waits[0] > SETTLE - 1.5
    assert Counter(m["invoiceNumber"] for m in h.mutations(2)) == {document.number: 1}
    _settled_before_looking(h, doc_id, "PostingInterrupted", "PostingStarted")


@pytest.mark.parametrize("commit_after", COMMITS)
def test_an_invoice_the_ledger_numbers_written_late_is_one_invoice(make, paid_domestic_orders,
                                                                   commit_after):
    """R7.2 with ``invoice_number = "ledger"``: no number of ours the ledger could refuse."""
    h = make(**LEDGER_NUMBERS_INVOICES)
    _late(h, "/v1/invoice", commit_after)
    doc_id = _intake(h, h.put_order(paid_domestic_orders(1)[0])["id"])
    _race(h, doc_id)
    document = h.runtime.app.document(doc_id)
    assert document.status == "posted"
    invoices = h.ledger.get("/__sandbox/invoices").json()
    assert [i["reference"] for i in invoices] == [document.number]
    assert document.ledger_reference["invoiceNumber"] == invoices[0]["invoiceNumber"]
    _settled_before_looking(h, doc_id, "PostingInterrupted", "PostingStarted")


@pytest.mark.parametrize("commit_after", COMMITS)
def test_an_eboekhouden_payment_written_late_is_booked_once(make, commit_after):
    h = make(**INVOICES_MODE)
    item = next(i for i in generate(40, 9, failing_share=0, unpaid_share=0,
                                    scopes={"invoice"}) if i["kind"] == "invoice")
    _late(h, "/v1/mutation", commit_after, skip=1)  # the sale passes, its payment is late
    doc_id = _intake(h, h.put_invoice(item)["id"], kind="invoice")
    _race(h, doc_id)
    document = h.runtime.app.document(doc_id)
    assert (document.status, document.payment_status) == ("posted", "posted")
    assert [m["invoiceNumber"] for m in h.mutations(3)] == [document.number]
    _settled_before_looking(h, doc_id, "PaymentInterrupted", "PaymentStarted")


@pytest.mark.parametrize("commit_after", COMMITS)
def test_a_billit_order_written_late_is_one_order(make, paid_domestic_orders, commit_after):
    h = make("billit")
    _late(h, "/v1/orders", commit_after, billit=True)
    doc_id = _intake(h, h.put_order(paid_domestic_orders(1)[0])["id"])
    _race(h, doc_id)
    document = h.runtime.app.document(doc_id)
    assert document.status == "posted"
    orders = h.billit.get("/__sandbox/orders").json()
    assert [o["ExternalProviderID"] for o in orders] == [str(doc_id)]
    # Every attempt that reached Billit carried the same key: the document's id.
    assert {o["Received"]["idempotency_key"] for o in orders} == {str(doc_id)}
    _settled_before_looking(h, doc_id, "PostingInterrupted", "PostingStarted")


def test_workers_bring_a_payment_back_after_the_settle_window(make, paid_domestic_orders):
    """No test code retries here: Dramatiq's Retry, with the window's rest as its delay."""
    h = make()
    _late(h, "/v1/mutation", 3.0, skip=1)
    h.runtime.start_workers(2)
    shop_id = h.put_order(paid_domestic_orders(1)[0])["id"]
    assert h.send_webhook(shop_id).status_code == 202
    h.wait_until(lambda: h.rows() and h.rows()[0]["payment_status"] == "posted", timeout=30)
    time.sleep(ANSWER_AFTER)
    doc_id = h.runtime.app.document_of(h.connection.id, "order", shop_id).id
    assert len(h.mutations(2)) == 1 and len(h.mutations(3)) == 1
    assert h.runtime.app.document(doc_id).payment_attempt == 2
    _settled_before_looking(h, doc_id, "PaymentInterrupted", "PaymentStarted")


def test_a_claim_outlives_the_settle_window(sqlite_url, paid_domestic_orders):
    """A worker that dies mid-call leaves its write as uncertain as a timeout does: its claim
    is only taken over once that write can no longer land, however short the lease is set."""
    h = Harness(sqlite_url, claim_lease=1.0, settle_window=SETTLE)
    try:
        doc_id = _intake(h, h.put_order(paid_domestic_orders(1)[0])["id"])
        h.runtime.processing.process(doc_id)
        claims = [e for e in h.runtime.app.history(doc_id)
                  if type(e).__name__ in ("PostingStarted", "PaymentStarted")]
        assert [c.lease_seconds for c in claims] == [SETTLE, SETTLE]
    finally:
        h.close()
