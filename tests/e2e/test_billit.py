"""Billit as the ledger (R7.3): invoices, credit notes, paid status, products, OAuth tokens
that rotate, and the same exactly-once protocol as e-Boekhouden (I1)."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import pytest

from application.errors import TransientError
from application.processing import WaitingForReconnect
from sandbox.generator import generate
from tests.harness import Harness

OAUTH = {'api_key = "demo-billit-key"\n': ""}  # no API key: the connect flow's tokens
INVOICES_MODE = {'process = "paid_orders"': 'process = "invoices"'}


@pytest.fixture
def billit(sqlite_url):
    h = Harness(sqlite_url, ledger="billit")
    yield h
    h.close()


def _orders(h: Harness) -> list[dict]:
    return h.billit.get("/__sandbox/orders").json()


def _post(h: Harness, item: dict, kind: str = "order"):
    if kind == "order":
        shop_id = h.put_order(item)["id"]
    else:
        shop_id = h.put_invoice(item)["id"]
    doc_id = h.runtime.processing.intake(h.connection.id, kind, shop_id, "test")
    h.runtime.processing.process(doc_id)
    return h.runtime.app.document(doc_id)


def test_a_paid_order_becomes_a_paid_billit_invoice(billit, paid_domestic_orders):
    document = _post(billit, paid_domestic_orders(1)[0])
    assert document.status == "posted" and document.relation["action"] == "in_document"
    [order] = _orders(billit)
    assert order["OrderType"] == "Invoice" and order["OrderDirection"] == "Income"
    assert order["ExternalProviderID"] == str(document.id)
    assert order["Paid"] is True  # payment_status "shop" and the order is paid
    assert Decimal(str(order["TotalIncl"])) == Decimal(document.booking["total_incl"])
    assert order["Received"]["idempotency_key"] == str(document.id)
    assert document.payment_status is None  # Billit's paid flag travels in the order (R8.1)


@pytest.mark.parametrize("status, paid", [("never", False), ("always", True)])
def test_the_paid_flag_follows_the_setting(billit, paid_domestic_orders, status, paid):
    billit.change_settings(**{'payment_status = "shop"': f'payment_status = "{status}"'})
    _post(billit, paid_domestic_orders(1)[0])
    assert _orders(billit)[0]["Paid"] is paid


def test_a_credit_invoice_becomes_a_credit_note_with_positive_amounts(billit):
    billit.change_settings(**INVOICES_MODE)
    item = next(i for i in generate(60, 12, failing_share=0, unpaid_share=0, scopes={"credit"})
                if i["kind"] == "invoice")
    document = _post(billit, item, kind="invoice")
    assert document.status == "posted", document.failure
    assert Decimal(document.booking["total_incl"]) < 0
    [order] = _orders(billit)
    assert order["OrderType"] == "CreditNote"
    assert Decimal(str(order["TotalIncl"])) == -Decimal(document.booking["total_incl"])
    assert all(Decimal(str(line["UnitPriceIncl"])) >= 0 for line in order["OrderLines"])


def test_products_are_created_once_and_referenced_when_switched_on(billit,
                                                                   paid_domestic_orders):
    billit.change_settings(**{"post_to_products = false": "post_to_products = true"})
    first = paid_domestic_orders(1, seed=31)[0]
    _post(billit, first)
    _post(billit, first | {"order": {**first["order"], "ordernumber": 9001,
                                     "ordernumber_full": "9001"}})  # the same products
    products = billit.billit.get("/__sandbox/products").json()
    codes = {line["product_number"] for line in first["orderrows"]}
    assert {p["Reference"] for p in products} == codes  # once each, not once per order
    for order in _orders(billit):
        assert all(line.get("ProductID") for line in order["OrderLines"]
                   if line.get("Reference") in codes)


def test_products_stay_out_when_switched_off(billit, paid_domestic_orders):
    _post(billit, paid_domestic_orders(1)[0])
    assert billit.billit.get("/__sandbox/products").json() == []
    assert not any("ProductID" in line for line in _orders(billit)[0]["OrderLines"])


def test_a_500_after_billit_committed_is_resolved_by_lookup(billit, paid_domestic_orders):
    billit.billit.post("/__sandbox/faults", json={"mode": "after_commit", "method": "POST",
                                                  "path": "/v1/orders", "count": 1})
    billit.runtime.start_workers(1)
    shop_id = billit.put_order(paid_domestic_orders(1)[0])["id"]
    assert billit.send_webhook(shop_id).status_code == 202
    billit.wait_until(lambda: billit.settled(1, ("posted",)))
    assert len(_orders(billit)) == 1
    row = billit.rows()[0]
    assert row["attempts"] == 2 and row["found_by_lookup"] == 1


def test_a_reused_idempotency_key_409_is_resolved_by_lookup(billit, paid_domestic_orders,
                                                           monkeypatch):
    """Billit committed, the answer was lost, and the first lookup did not see the order yet
    (a lagging list): the retry's POST with the same key gets 409, which must end in Posted
    found by lookup, never in a second order or in Errors."""
    billit.billit.post("/__sandbox/faults", json={"mode": "after_commit", "method": "POST",
                                                  "path": "/v1/orders", "count": 1})
    client = billit.runtime.connections.ledger(billit.connection)
    real_find, calls = client.find_order, []

    def lagging_find(external_id):
        calls.append(external_id)
        return None if len(calls) == 1 else real_find(external_id)

    monkeypatch.setattr(client, "find_order", lagging_find)
    shop_id = billit.put_order(paid_domestic_orders(1)[0])["id"]
    doc_id = billit.runtime.processing.intake(billit.connection.id, "order", shop_id, "test")
    with pytest.raises(TransientError) as lost:
        billit.runtime.processing.process(doc_id)  # the 500 after commit
    assert lost.value.outcome_unknown  # so the retry must look before it posts
    billit.process(doc_id)  # after the settle window: lookup misses, 409, lookup finds
    document = billit.runtime.app.document(doc_id)
    assert document.status == "posted" and len(_orders(billit)) == 1
    assert billit.runtime.app.history(doc_id)[-1].found_by_lookup
    statuses = [r["status"] for r in billit.billit.get("/__sandbox/requests").json()
                if r["method"] == "POST" and r["path"] == "/v1/orders"]
    assert statuses == [500, 409]


def _connect(h: Harness) -> None:
    """The merchant's click on 'Connect Billit', Billit's consent page, and the way back."""
    start = h.merchant.get(f"/connections/{h.connection.id}/billit/connect")
    assert start.status_code == 302
    consent = h.billit.get(start.headers["Location"].replace("http://billit.sandbox", ""))
    assert consent.status_code in (302, 303)
    back = urlparse(consent.headers["Location"])
    assert back.path.endswith("/billit/callback")
    done = h.merchant.get(f"{back.path}?{back.query}")
    assert done.status_code == 200, done.get_data(as_text=True)
    assert "Billit is connected" in done.get_data(as_text=True)
    assert parse_qs(back.query)["code"]


def test_oauth_tokens_rotate_during_a_run_and_are_kept_sealed(billit, paid_domestic_orders):
    billit.change_settings(**OAUTH)
    _connect(billit)
    orders = paid_domestic_orders(4, seed=41)
    _post(billit, orders[0])
    billit.billit.post("/__sandbox/tokens/expire")  # the access token runs out mid-run
    for order in orders[1:]:
        _post(billit, order)
    assert len(_orders(billit)) == 4
    issued = [e for e in billit.runtime.app.history(billit.connection.id)
              if type(e).__name__ == "LedgerTokensIssued"]
    assert len(issued) >= 2  # the connect flow's tokens, then the refreshed ones
    assert all(e.sealed_tokens.startswith("enc:") for e in issued)
    tokens = billit.billit.get("/__sandbox/tokens").json()
    assert tokens["refresh_used"] >= 1  # the old refresh token is spent, the new one kept


def test_a_refused_refresh_turns_the_connection_red_and_documents_wait(billit,
                                                                      paid_domestic_orders):
    billit.change_settings(**OAUTH)
    _connect(billit)
    billit.billit.post("/__sandbox/refresh/revoke")
    billit.billit.post("/__sandbox/tokens/expire")
    shop_id = billit.put_order(paid_domestic_orders(1)[0])["id"]
    document_id = billit.runtime.processing.intake(billit.connection.id, "order", shop_id, "t")
    with pytest.raises(WaitingForReconnect, match="reconnect Billit"):
        billit.runtime.processing.process(document_id)
    assert billit.runtime.app.document(document_id).status != "failed"  # it waits
    billit.rows()  # bring the read model up to date
    [connection] = billit.runtime.store.query("SELECT * FROM connections")
    assert "Billit" in connection["credentials_problem"]
    assert "Reconnect needed" in billit.merchant.get("/").get_data(as_text=True)

    _connect(billit)  # the merchant reconnects
    billit.runtime.processing.process(document_id)
    assert billit.runtime.app.document(document_id).status == "posted"
    billit.rows()
    [connection] = billit.runtime.store.query("SELECT * FROM connections")
    assert connection["credentials_problem"] is None


def test_a_forged_connect_callback_is_refused(billit):
    billit.change_settings(**OAUTH)
    response = billit.merchant.get(
        f"/connections/{billit.connection.id}/billit/callback?code=x&state=forged")
    assert response.status_code == 400


def test_a_billit_refusal_lands_in_errors_in_the_merchants_words(billit,
                                                                 paid_domestic_orders):
    billit.billit.post("/__sandbox/faults", json={"mode": "error", "method": "POST",
                                                  "path": "/v1/orders", "status": 400,
                                                  "count": 1})
    document = _post(billit, paid_domestic_orders(1)[0])
    assert document.status == "failed"
    assert (document.failure["stage"], document.failure["rule"]) == ("ledger", "R7.3")
    assert document.failure["code"] and "Billit" in document.failure["message_en"]
    assert _orders(billit) == []
    billit.rows()  # bring the read model up to date
    page = billit.merchant.get("/errors").get_data(as_text=True)
    assert document.number in page and document.failure["code"] in page
