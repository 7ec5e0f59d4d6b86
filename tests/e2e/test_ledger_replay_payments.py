"""R8.1-R8.2 in a further ledger: the replay (and ``follow``) books each sale's payment into the
target after the sale, with the target's settings and the claim protocol of the connection's
own payments (application/pay_once.py). Counted in the second administration's own records:
each payment once, and no open item left."""

from __future__ import annotations

from collections import Counter
from uuid import UUID

import pytest

from application.errors import TransientError
from domain.ledger_target import Purpose
from tests.e2e.test_ledger_replay import SINCE, book, sales, second_settings
from tests.harness import Harness

# A fault on the payment's POST alone: the sale takes the same path (R8.2's reference).
PAYMENT = {"method": "POST", "path": "/v1/mutation", "body": "betaling "}



def payments(client) -> Counter:
    return Counter(m["invoiceNumber"] for m in client.get("/__sandbox/mutations").json()
                   if int(m["type"]) == 3)


def open_items(h: Harness, tid: UUID, numbers) -> dict:
    """The target's open items of these sales, as the target's own ledger port reads them."""
    replays = h.runtime.replays
    ledger = replays.ledger(replays.context(replays.get(tid)))
    return {n: item for n in numbers if (item := ledger.find_outstanding(n)) is not None}


def names(h: Harness, posting_id: UUID) -> list[str]:
    return [type(e).__name__ for e in h.runtime.app.history(posting_id)]


def test_a_copy_books_each_paid_orders_payment_once(two, paid_domestic_orders):
    h = two
    orders = paid_domestic_orders(8)
    ids = book(h, orders[:6])
    assert len(payments(h.ledger)) == 6
    replays = h.runtime.replays
    target = replays.add(h.connection.id, "Accountant", second_settings(h), SINCE,
                         Purpose.COPY, by="test")
    assert open_items(h, target.id, sales(h.ledger)) == {}  # nothing there yet: no sale
    assert replays.run(target.id).state == "finished"
    assert payments(h.second) == sales(h.second) == sales(h.ledger)
    assert set(payments(h.second).values()) == {1}
    assert open_items(h, target.id, sales(h.second)) == {}  # every invoice paid off there
    for doc_id in ids:
        posting = replays.find_posting(target.id, doc_id)
        assert (posting.status, posting.payment_status) == ("posted", "posted")
        assert names(h, posting.id)[-2:] == ["PaymentStarted", "PaymentPosted"]
    # on the target's own relation of that sale, not the old ledger's
    paid_by = {m["invoiceNumber"]: str(m["relationId"])
               for m in h.second.get("/__sandbox/mutations").json() if int(m["type"]) == 3}
    for doc_id in ids:
        posting = replays.find_posting(target.id, doc_id)
        assert paid_by[posting.number] == str(posting.relation["id"])

    # asked again: listed anew, no payment twice (nor a lookup: each is posted)
    again = replays.add(h.connection.id, "Accountant", second_settings(h), SINCE,
                        Purpose.COPY, by="test")
    assert again.runs == 2 and replays.run(again.id).state == "finished"
    assert set(payments(h.second).values()) == {1} and len(payments(h.second)) == 6

    # a document booked later follows, with its payment; following again books nothing
    for doc_id in book(h, orders[6:8]):
        assert replays.follow(doc_id) == [(target.id, "posted")]
        assert replays.follow(doc_id) == [(target.id, "posted")]
    assert payments(h.second) == sales(h.ledger) and set(payments(h.second).values()) == {1}
    assert open_items(h, target.id, sales(h.second)) == {}


def test_a_500_after_the_target_committed_the_payment_books_it_once(two, paid_domestic_orders):
    h = two
    book(h, paid_domestic_orders(5))
    # the second administration commits two payments, then answers 500: outcome unknown
    h.second.post("/__sandbox/faults", json={**PAYMENT, "mode": "after_commit", "count": 2}
                  ).raise_for_status()
    replays = h.runtime.replays
    target = replays.add(h.connection.id, "Accountant", second_settings(h), SINCE,
                         Purpose.COPY, by="test")
    assert replays.run(target.id).state == "finished"
    assert payments(h.second) == sales(h.ledger) and set(payments(h.second).values()) == {1}
    postings = [replays.find_posting(target.id, UUID(i)) for i in target.document_ids]
    hit = [p for p in postings if "PaymentInterrupted" in names(h, p.id)]
    assert len(hit) == 2  # each interrupted, then found by its lookup, never sent again
    for posting in hit:
        history = h.runtime.app.history(posting.id)
        assert names(h, posting.id)[-3:] == ["PaymentStarted", "PaymentLookedUp",
                                             "PaymentPosted"]
        assert names(h, posting.id).count("PaymentStarted") == 2
        stop = next(e for e in history if type(e).__name__ == "PaymentInterrupted")
        retry = [e for e in history if type(e).__name__ == "PaymentStarted"][1]
        assert stop.outcome_unknown and retry.timestamp >= stop.settle_until
        assert history[-1].found_by_lookup and history[-2].found is not None
    assert all(p.payment_status == "posted" for p in postings)
    assert open_items(h, target.id, sales(h.second)) == {}


def test_a_payment_the_target_refused_is_tried_again_when_the_replay_is_asked_again(
        two, paid_domestic_orders):
    h = two
    [doc_id] = book(h, paid_domestic_orders(1))
    h.second.post("/__sandbox/faults", json={**PAYMENT, "mode": "error", "status": 400,
                                             "count": 1}).raise_for_status()
    replays = h.runtime.replays
    target = replays.add(h.connection.id, "Accountant", second_settings(h), SINCE,
                         Purpose.COPY, by="test")
    replays.run(target.id)
    posting = replays.find_posting(target.id, doc_id)
    assert (posting.status, posting.payment_status) == ("posted", "failed")
    assert payments(h.second) == Counter()
    assert replays.follow(doc_id) == [(target.id, "posted")]  # following does not retry it
    assert payments(h.second) == Counter()
    replays.add(h.connection.id, "Accountant", second_settings(h), SINCE, Purpose.COPY,
                by="test")  # asked again
    replays.run(target.id)
    assert replays.find_posting(target.id, doc_id).payment_status == "posted"
    assert payments(h.second) == sales(h.second) and set(payments(h.second).values()) == {1}


def test_a_switch_pays_in_the_new_ledger_what_failed_to_pay_in_the_old(two,
                                                                        paid_domestic_orders):
    """Before the switch the old ledger refused a payment; after the hand-over the connection
    no longer pays that sale (it is in the old ledger), so the replay paid it in the new."""
    h = two
    orders = paid_domestic_orders(3)
    book(h, orders[:2])
    h.arm(**PAYMENT, mode="error", status=400, count=1)
    [refused] = book(h, orders[2:])
    document = h.runtime.app.document(refused)
    assert document.payment_status == "failed"
    assert document.number not in payments(h.ledger) and len(payments(h.ledger)) == 2

    replays = h.runtime.replays
    target = replays.add(h.connection.id, "Second", second_settings(h), SINCE, Purpose.SWITCH,
                         by="test")
    assert replays.run(target.id).state == "finished"
    assert replays.hand_over(target.id, by="test") == []
    assert sales(h.second) == sales(h.ledger) and set(sales(h.second).values()) == {1}
    assert payments(h.second) == sales(h.second)  # the refused one's too, once
    assert open_items(h, target.id, sales(h.second)) == {}
    # the connection's payment check leaves it be: it is paid where its sale now counts
    h.runtime.processing.process(refused, recheck_payment=True)
    assert payments(h.second) == sales(h.second) and len(payments(h.ledger)) == 2


def test_a_payment_that_fails_transiently_stops_the_replay_and_the_next_run_pays_it(
        two, paid_domestic_orders, monkeypatch):
    """The replay tries a document a few times; still failing, the run stops with the error
    and the next run goes on from that chunk, paying it (the interruption is recorded)."""
    import application.replay as replay

    monkeypatch.setattr(replay, "TRIES", 1)
    h = two
    [doc_id] = book(h, paid_domestic_orders(1))
    h.second.post("/__sandbox/faults", json={**PAYMENT, "mode": "error", "status": 503,
                                             "count": 1}).raise_for_status()
    replays = h.runtime.replays
    target = replays.add(h.connection.id, "Accountant", second_settings(h), SINCE,
                         Purpose.COPY, by="test")
    with pytest.raises(TransientError):
        replays.run(target.id)
    posting = replays.find_posting(target.id, doc_id)
    assert (posting.status, posting.payment_status) == ("posted", "interrupted")
    assert payments(h.second) == Counter()
    monkeypatch.setattr(replay, "TRIES", 4)  # the next run waits out the settle window
    assert replays.run(target.id).state == "finished"
    assert names(h, posting.id)[-3:] == ["PaymentStarted", "PaymentLookedUp", "PaymentPosted"]
    assert payments(h.second) == sales(h.second) and set(payments(h.second).values()) == {1}


def test_the_audit_shows_the_payment_into_the_further_ledger(two, paid_domestic_orders):
    from web.audit import document_history

    h = two
    [doc_id] = book(h, paid_domestic_orders(1))
    replays = h.runtime.replays
    target = replays.add(h.connection.id, "Accountant", second_settings(h), SINCE,
                         Purpose.COPY, by="test")
    replays.run(target.id)
    [ledger] = document_history(h.runtime.app, doc_id)["further_ledgers"]
    assert [e["event"] for e in ledger["events"]][-2:] == ["PaymentStarted", "PaymentPosted"]
    assert replays.progress(target.id).paid == 1
    # the read model goes past the target's payment events (its rows are the connection's
    # own ledger's), live and rebuilt alike (I4)
    shown = [(r["number"], r["status"], r["payment_status"]) for r in h.rows()]
    assert shown == [(h.runtime.app.document(doc_id).number, "posted", "posted")]
    h.runtime.projector.rebuild()
    assert [(r["number"], r["status"], r["payment_status"]) for r in h.rows()] == shown

