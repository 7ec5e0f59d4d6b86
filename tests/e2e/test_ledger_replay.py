"""Switching ledgers by replay, and a second ledger in parallel (issue 13 part 3): every
document the connection booked since a date goes into the new ledger exactly once, with the
same rules and the new ledger's settings, while the old ledger's postings stay as they are."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone
from uuid import UUID

import pytest

from application.errors import TransientError
from application.processing import ConnectionPaused
from application.replay import CHUNK, HandOverBlocked
from domain.ledger_target import Purpose
from sandbox.generator import generate
from tests.harness import SECOND_ADMINISTRATION, Harness, test_settings

SECOND = SECOND_ADMINISTRATION
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
    assert (done.state, done.position, seen) == ("finished", 10, [10])  # one chunk
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


def billit_settings(h: Harness):
    return test_settings(h.shop_url, "billit")


def test_following_costs_nothing_for_a_connection_without_further_ledgers(
        two, paid_domestic_orders, monkeypatch):
    """The workers follow every posted document; a connection with no further ledger is
    answered from its cached context, without loading the document from the log."""
    h = two
    [doc_id] = book(h, paid_domestic_orders(1))
    loads = []
    real = h.runtime.app.document
    monkeypatch.setattr(h.runtime.app, "document", lambda i: loads.append(i) or real(i))
    assert h.runtime.replays.follow(doc_id, h.connection.id) == []
    assert loads == []
    target = h.runtime.replays.add(h.connection.id, "Accountant", second_settings(h), SINCE,
                                   Purpose.COPY, by="test")
    assert h.runtime.replays.follow(doc_id, h.connection.id) == [(target.id, "posted")]
    assert loads and sales(h.second) == sales(h.ledger)


def test_a_copy_into_billit_gets_each_booking_once(two, paid_domestic_orders):
    h = two
    ids = book(h, paid_domestic_orders(8))
    replays = h.runtime.replays
    target = replays.add(h.connection.id, "Billit", billit_settings(h), SINCE, Purpose.COPY,
                         by="test")
    assert replays.run(target.id).state == "finished"
    orders = h.billit.get("/__sandbox/orders").json()
    external = Counter(o["ExternalProviderID"] for o in orders)
    # one Billit order per document, under the posting's own id (one per target)
    assert sorted(external) == sorted(str(replays.find_posting(target.id, i).id) for i in ids)
    assert set(external.values()) == {1}
    assert len(sales(h.ledger)) == 8  # e-Boekhouden keeps its own, untouched
    assert replays.progress(target.id).posted == 8


def test_a_500_after_the_new_ledger_committed_books_nothing_twice(two, paid_domestic_orders):
    h = two
    book(h, paid_domestic_orders(10))
    # the second administration commits these sales, then answers 500: the outcome unknown
    # (the sales alone: their payments take the same path, see test_ledger_replay_payments)
    h.second.post("/__sandbox/faults", json={"mode": "after_commit", "method": "POST",
                                             "path": "/v1/mutation", "body": '^\\{"type":"2"',
                                             "count": 3, "skip": 2}).raise_for_status()
    replays = h.runtime.replays
    target = replays.add(h.connection.id, "Accountant", second_settings(h), SINCE,
                         Purpose.COPY, by="test")
    assert replays.run(target.id).state == "finished"
    assert sales(h.second) == sales(h.ledger) and set(sales(h.second).values()) == {1}
    found = [p for p in (replays.find_posting(target.id, UUID(i)) for i in target.document_ids)
             if any(type(e).__name__ == "PostingInterrupted"
                    for e in h.runtime.app.history(p.id))]
    assert len(found) == 3  # each interrupted, then found by its lookup, never sent again
    for posting in found:
        history = h.runtime.app.history(posting.id)
        names = [type(e).__name__ for e in history]
        sale = names.index("Posted")  # its payment follows (test_ledger_replay_payments)
        assert names[sale - 2:sale + 1] == ["PostingStarted", "LookedUp", "Posted"]
        assert names.count("PostingStarted") == 2
        assert history[sale].found_by_lookup


def test_a_paused_replay_stops_and_goes_on_where_it_stopped(two, paid_domestic_orders):
    h = two
    book(h, paid_domestic_orders(25))
    replays = h.runtime.replays
    target = replays.add(h.connection.id, "Accountant", second_settings(h), SINCE,
                         Purpose.COPY, by="test")

    def pause_from_elsewhere(progress) -> None:
        if progress.position == CHUNK:
            replays.pause(target.id, by="the page")  # as another process would

    paused = replays.run(target.id, pause_from_elsewhere)
    assert (paused.state, paused.position) == ("paused", CHUNK)
    assert len(sales(h.second)) == CHUNK
    assert replays.run(target.id).position == CHUNK  # paused: replays nothing
    resumed = replays.add(h.connection.id, "Accountant", second_settings(h), SINCE,
                          Purpose.COPY, by="test")  # asked again: goes on
    assert resumed.state == "running"
    done = replays.run(target.id)
    assert (done.state, done.position) == ("finished", 25)
    assert sales(h.second) == sales(h.ledger) and set(sales(h.second).values()) == {1}


def test_only_documents_since_the_date_are_replayed(two, paid_domestic_orders):
    h = two
    orders = paid_domestic_orders(10)
    ids = book(h, orders)
    created = sorted(o["order"]["create_date"] for o in orders)
    since = datetime.fromisoformat(created[5]).replace(tzinfo=timezone.utc)
    replays = h.runtime.replays
    target = replays.add(h.connection.id, "Accountant", second_settings(h), since,
                         Purpose.COPY, by="test")
    replays.run(target.id)
    wanted = {h.runtime.app.document(i).number for i, o in zip(ids, orders)
              if datetime.fromisoformat(o["order"]["create_date"]).replace(
                  tzinfo=timezone.utc) >= since}
    assert 0 < len(wanted) < 10
    assert set(sales(h.second)) == wanted and set(sales(h.second).values()) == {1}


def _unpaid(taken: list[dict]) -> dict:
    """An unpaid order whose number none of ``taken`` has (generators number alike)."""
    numbers = {o["order"]["ordernumber_full"] for o in taken}
    return next(item for item in generate(60, 4, failing_share=0, unpaid_share=1.0,
                                          scopes={"domestic"})
                if item["kind"] == "order" and item["expect"]["outcome"] == "open"
                and item["order"]["ordernumber_full"] not in numbers)


def _intake(h: Harness, shop_id: int):
    return h.runtime.processing.intake(h.connection.id, "order", shop_id, "test")


def test_a_switch_replays_then_the_connection_books_into_the_new_ledger(two,
                                                                        paid_domestic_orders):
    h = two
    orders = paid_domestic_orders(8)
    old_ids = book(h, orders[:6])
    unpaid_shop_id = h.put_order(_unpaid(orders))["id"]
    unpaid = _intake(h, unpaid_shop_id)
    assert h.process(unpaid).status == "waiting"  # checked with the old ledger's settings
    old_sales, old_payments = sales(h.ledger), len(h.mutations(3))
    assert len(old_sales) == 6 and old_payments == 6

    replays = h.runtime.replays
    target = replays.add(h.connection.id, "Second", second_settings(h), SINCE, Purpose.SWITCH,
                         by="merchant@example.test")
    assert replays.run(target.id).state == "finished"
    assert sales(h.second) == old_sales
    reopened = replays.hand_over(target.id, by="merchant@example.test")
    assert reopened == [unpaid]
    connection = h.runtime.connections.get(h.connection.id)
    assert connection.paused is None and connection.ledger_since == connection.version
    assert connection.settings.ledger.api_token.startswith("enc:")
    assert replays.get(target.id).state == "switched"

    # the unpaid order is paid now: it is booked into the new ledger, by the connection itself
    h.shop.patch(f"/__sandbox/orders/{unpaid_shop_id}", json={"paid": True}).raise_for_status()
    _intake(h, unpaid_shop_id)
    assert h.process(unpaid).status == "posted", h.runtime.app.document(unpaid).failure
    assert replays.follow(unpaid) == [(target.id, "skipped")]  # not a second time
    # and so is a new order
    [new] = book(h, orders[6:7])
    assert replays.follow(new) == [(target.id, "skipped")]

    numbers = {h.runtime.app.document(i).number for i in (unpaid, new)}
    assert sales(h.ledger) == old_sales and len(h.mutations(3)) == old_payments  # old: as it was
    assert set(sales(h.second)) == set(old_sales) | numbers
    assert set(sales(h.second).values()) == {1}
    # the old ledger's postings stay in the documents' history
    for doc_id in old_ids:
        document = h.runtime.app.document(doc_id)
        assert document.status == "posted" and document.settings_version < connection.version
        assert "Posted" in [type(e).__name__ for e in h.runtime.app.history(doc_id)]
    # the new ledger's payments are of its own sales, each once: the replay paid the replayed
    # ones on the new ledger's relations (R8), the connection the two it booked there itself;
    # its payment check never sends the new ledger a payment made for the old one
    def payments() -> Counter:
        return Counter(m["invoiceNumber"] for m in h.second.get("/__sandbox/mutations").json()
                       if int(m["type"]) == 3)

    assert payments() == sales(h.second)
    h.runtime.processing.process(old_ids[0], recheck_payment=True)
    assert payments() == sales(h.second) and set(payments().values()) == {1}


def test_a_switch_waits_for_a_document_on_its_way_into_the_old_ledger(two,
                                                                      paid_domestic_orders):
    h = two
    orders = paid_domestic_orders(4)
    book(h, orders[:3])
    replays = h.runtime.replays
    target = replays.add(h.connection.id, "Second", second_settings(h), SINCE, Purpose.SWITCH,
                         by="test")
    replays.run(target.id)
    h.arm(mode="after_commit", method="POST", path="/v1/mutation", count=1)
    doc_id = _intake(h, h.put_order(orders[3])["id"])
    with pytest.raises(TransientError):
        h.runtime.processing.process(doc_id)  # the old ledger has it; koppel does not know
    with pytest.raises(HandOverBlocked) as blocked:
        replays.hand_over(target.id, by="test")
    assert blocked.value.numbers == [h.runtime.app.document(doc_id).number]
    assert h.runtime.connections.get(h.connection.id).paused is None  # not left paused
    assert replays.get(target.id).state == "finished"

    assert h.process(doc_id).status == "posted"  # found in the old ledger by its lookup
    replays.follow(doc_id)  # the copy follows until the switch
    assert replays.hand_over(target.id, by="test") == []
    assert len(sales(h.ledger)) == 4 and sales(h.second) == sales(h.ledger)
    assert set(sales(h.second).values()) == {1}


def test_a_switch_to_billit(two, paid_domestic_orders):
    h = two
    orders = paid_domestic_orders(6)
    ids = book(h, orders[:5])
    replays = h.runtime.replays
    target = replays.add(h.connection.id, "Billit", billit_settings(h), SINCE, Purpose.SWITCH,
                         by="test")
    assert replays.run(target.id).state == "finished"
    replays.hand_over(target.id, by="test")
    [new] = book(h, orders[5:])
    billit = Counter(o["ExternalProviderID"] for o in h.billit.get("/__sandbox/orders").json())
    expected = [str(replays.find_posting(target.id, i).id) for i in ids] + [str(new)]
    assert sorted(billit) == sorted(expected) and set(billit.values()) == {1}
    assert len(sales(h.ledger)) == 5  # e-Boekhouden: the five from before the switch


def test_an_order_changed_in_the_shop_after_booking_is_replayed_as_it_was_booked(
        two, paid_domestic_orders):
    h = two
    [order] = paid_domestic_orders(1)
    shop_id = h.put_order(order)["id"]
    doc_id = _intake(h, shop_id)
    assert h.process(doc_id).status == "posted"
    booked = h.runtime.app.document(doc_id).booking
    h.shop.patch(f"/__sandbox/orders/{shop_id}", json={"total_price": 1.0, "customer": {
        **order["order"]["customer"], "email": "someone.else@example.test"}}
    ).raise_for_status()
    _intake(h, shop_id)  # the shop's change is recorded, not booked (R5.7)
    document = h.runtime.app.document(doc_id)
    assert document.changed_after_posting
    replays = h.runtime.replays
    target = replays.add(h.connection.id, "Accountant", second_settings(h), SINCE,
                         Purpose.COPY, by="test")
    replays.run(target.id)
    posting = replays.find_posting(target.id, doc_id)
    assert posting.status == "posted"
    assert posting.booking["customer"] == booked["customer"]  # as it was booked
    assert document.source != replays._booked_source(document)  # the shop changed it
    assert booked["customer"]["email"] != "someone.else@example.test"
    assert posting.booking["total_incl"] == booked["total_incl"]


def test_the_audit_shows_each_ledgers_posting(two, paid_domestic_orders):
    from web.audit import document_history, history_text

    h = two
    [doc_id] = book(h, paid_domestic_orders(1))
    replays = h.runtime.replays
    target = replays.add(h.connection.id, "Accountant", second_settings(h), SINCE,
                         Purpose.COPY, by="test")
    replays.run(target.id)
    history = document_history(h.runtime.app, doc_id)
    [ledger] = history["further_ledgers"]
    assert ledger["ledger"] == "Accountant"
    assert [e["event"] for e in ledger["events"]] == ["Checked", "DebtorResolved",
                                                      "PostingStarted", "Posted",
                                                      "PaymentStarted", "PaymentPosted"]
    text = history_text(history)
    assert "== into Accountant (copy)" in text and SECOND not in text  # no secret shown


def test_a_paused_connection_books_into_no_ledger(two, paid_domestic_orders):
    h = two
    book(h, paid_domestic_orders(3))
    h.runtime.connections.changed(h.connection.id, lambda c: c.pause(by="test", reason="why"))
    replays = h.runtime.replays
    target = replays.add(h.connection.id, "Second", second_settings(h), SINCE,
                         Purpose.SWITCH, by="test")
    with pytest.raises(ConnectionPaused):
        replays.run(target.id)
    assert sales(h.second) == Counter()
    with pytest.raises(TransientError):
        replays.hand_over(target.id, by="test")  # nor is it switched while paused
    h.runtime.connections.changed(h.connection.id, lambda c: c.resume(by="test"))
    assert replays.run(target.id).state == "finished"
    assert sales(h.second) == sales(h.ledger) and set(sales(h.second).values()) == {1}


def test_the_page_adds_a_copy_and_refuses_what_it_cannot_do(two, paid_domestic_orders):
    from tests.harness import csrf_token

    h = two
    book(h, paid_domestic_orders(2))
    page = f"/connections/{h.connection.id}/ledgers"

    def post(path: str = "", **data):
        token = csrf_token(h.merchant.get(page).get_data(as_text=True))
        return h.merchant.post(page + path, data={"csrf_token": token, **data})

    form = {"name": "Accountant", "purpose": "copy", "system": "eboekhouden",
            "credential": SECOND, "from": "2020-01-01"}
    assert post(**form).status_code == 303
    target = h.runtime.replays.named(h.connection.id, "Accountant")
    assert target.purpose == "copy" and target.total == 2
    stored = json.dumps(target.settings)
    assert SECOND not in stored and '"enc:' in stored  # the credential is sealed
    assert h.runtime.replays.run(target.id).state == "finished"  # (the workers' part)
    assert sales(h.second) == sales(h.ledger)
    text = h.merchant.get(page).get_data(as_text=True)
    assert "Accountant" in text and "2 / 2" in text and SECOND not in text

    again = post(**{**form, "purpose": "switch"})
    assert again.status_code == 422 and "exists already, as a copy" in again.get_data(
        as_text=True)
    refused = post(f"/{target.id}/switch")
    assert refused.status_code == 409  # a copy never switches
    assert h.runtime.connections.get(h.connection.id).paused is None
