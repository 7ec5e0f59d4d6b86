"""A shop answer koppel does not expect never makes a document invisible (issue 7, hole 5).

The sandbox shop answers an unexpected 4xx, a 5xx or a badly signed answer as a fault: the
document shows in Errors or Open with the reason in both languages, the audit shows it, a
rebuild gives the same rows (I4), and once the fault is gone it is posted exactly once.
"""

from __future__ import annotations

from markupsafe import escape

import pytest

from projections import queries
from tests.harness import Harness
from web.audit import document_history


@pytest.fixture
def harness(database_url):
    h = Harness(database_url)
    yield h
    h.close()


def _fault(h: Harness, shop_id: int, **fault) -> None:
    h.shop.post("/__sandbox/faults", json={"path": f"/api/rest/v1/orders/{shop_id}/",
                                           **fault}).raise_for_status()


def _row(h: Harness, shop_id: int) -> dict | None:
    return next((r for r in h.rows() if r["shop_id"] == shop_id), None)


def _order_fetches(h: Harness, shop_id: int) -> list[dict]:
    return [r for r in h.shop.get("/__sandbox/requests").json()
            if r["path"] == f"/api/rest/v1/orders/{shop_id}/"]


def _rebuild_gives_the_same_rows(h: Harness) -> None:
    before = h.rows()
    h.runtime.projector.rebuild()
    assert h.rows() == before


def test_a_refusal_lands_in_errors_with_the_shops_words_and_reprocessing_fetches_again(
        harness, paid_domestic_orders):
    h = harness
    shop_id = h.put_order(paid_domestic_orders(1)[0])["id"]
    _fault(h, shop_id, mode="error", status=422, message="Order is locked by a migration")
    h.runtime.start_workers(2)
    assert h.send_webhook(shop_id).status_code == 202

    row = h.wait_until(lambda: (r := _row(h, shop_id)) and r["status"] == "failed" and r)
    assert (row["failure_code"], row["failure_rule"], row["failure_stage"]) == (
        "SHOP_REFUSED", "R1", "shop")
    assert "422.00: Order is locked by a migration" in row["failure_message_en"]
    assert "weigert bestelling" in row["failure_message_nl"]
    assert "Order is locked by a migration" in row["failure_message_nl"]
    errors = queries.documents_page(h.runtime.store, "errors").rows
    assert [r["shop_id"] for r in errors] == [shop_id]
    for lang, words in (("en", "The shop refuses"), ("nl", "De winkel weigert")):
        page = h.merchant.get(f"/errors?lang={lang}").get_data(as_text=True)
        assert words in page and "Order is locked by a migration" in page
    history = document_history(h.runtime.app, h.runtime.app.document_of(
        h.connection.id, "order", shop_id).id)
    assert [e["event"] for e in history["events"]] == ["IntakeFailed"]
    assert history["events"][0]["fields"]["detail"]["developermessage"] == \
        "Order is locked by a migration"
    h.wait_until(lambda: h.runtime.inbox.count_pending() == 0)  # answered, not retried:
    assert len(_order_fetches(h, shop_id)) == 1  # asking again would not change the answer
    _rebuild_gives_the_same_rows(h)

    h.shop.delete("/__sandbox/faults").raise_for_status()
    doc_id = h.runtime.app.document_of(h.connection.id, "order", shop_id).id
    h.runtime.processing.request_reprocess(doc_id, by="support", reason="the shop fixed it")
    h.runtime.actors.process.send(str(doc_id))
    h.wait_until(lambda: h.settled(1, ("posted",)) and _row(h, shop_id)["payment_status"]
                 == "posted")
    assert len(h.mutations()) == 1
    assert _row(h, shop_id)["failure_code"] is None
    _rebuild_gives_the_same_rows(h)


@pytest.mark.parametrize("fault, code, reason_en", [
    ({"mode": "error", "status": 503, "message": "Maintenance"}, "SHOP_UNAVAILABLE",
     "503.00: Maintenance"),
    ({"mode": "bad_signature"}, "SHOP_SIGNATURE", "not signed with this shop's API key"),
])
def test_a_passing_shop_fault_waits_in_open_with_its_reason_then_posts_once(
        harness, paid_domestic_orders, fault, code, reason_en):
    h = harness
    order = paid_domestic_orders(1)[0]
    shop_id = h.put_order(order)["id"]
    _fault(h, shop_id, **fault)
    h.runtime.start_workers(2)
    for _ in range(3):  # the shop repeats its webhook: still one document, one reason
        assert h.send_webhook(shop_id).status_code == 202

    row = h.wait_until(lambda: (r := _row(h, shop_id)) and r["status"] == "waiting" and r)
    assert (row["waiting_for"], row["failure_code"]) == ("shop", code)
    assert reason_en in row["failure_message_en"] and row["failure_message_nl"]
    assert [r["shop_id"] for r in queries.documents_page(h.runtime.store, "open").rows] == [
        shop_id]
    for lang, words in (("en", "The shop"), ("nl", "De webwinkel")):
        page = h.merchant.get(f"/open?lang={lang}").get_data(as_text=True)
        assert words in page and str(escape(row[f"failure_message_{lang}"])) in page
    h.wait_until(lambda: len(_order_fetches(h, shop_id)) >= 3, timeout=30)  # retried
    _rebuild_gives_the_same_rows(h)

    h.shop.delete("/__sandbox/faults").raise_for_status()
    h.wait_until(lambda: h.settled(1, ("posted",)) and _row(h, shop_id)["payment_status"]
                 == "posted", timeout=60)
    assert len(h.mutations()) == 1 and len(h.mutations(3)) == 1
    doc_id = h.runtime.app.document_of(h.connection.id, "order", shop_id).id
    events = [e["event"] for e in document_history(h.runtime.app, doc_id)["events"]]
    assert events[:2] == ["IntakeFailed", "Refreshed"] and events.count("Posted") == 1
    assert events.count("IntakeFailed") + events.count("FetchFailed") == 1  # not per retry
    row = _row(h, shop_id)
    assert row["number"] == order["order"].get("ordernumber_full", row["number"])
    assert (row["waiting_for"], row["failure_code"]) == (None, None)
    _rebuild_gives_the_same_rows(h)
