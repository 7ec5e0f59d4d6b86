"""An e-Boekhouden token past its end date: the connection turns red, documents wait (they do
not fail), and go on by themselves once the credentials work again."""

from __future__ import annotations

import pytest

from application.processing import WaitingForReconnect


def _connection_row(h):
    h.rows()
    [row] = h.runtime.store.query("SELECT * FROM connections")
    return row


def test_an_expired_token_makes_documents_wait_until_it_works_again(harness,
                                                                    paid_domestic_orders):
    harness.ledger.post("/__sandbox/token/expire").raise_for_status()
    harness.ledger.post("/__sandbox/sessions/expire").raise_for_status()
    shop_id = harness.put_order(paid_domestic_orders(1)[0])["id"]
    doc_id = harness.runtime.processing.intake(harness.connection.id, "order", shop_id, "test")
    with pytest.raises(WaitingForReconnect, match="expired"):
        harness.runtime.processing.process(doc_id)
    document = harness.runtime.app.document(doc_id)
    assert document.status == "checked"  # waiting, not in Errors
    problem = _connection_row(harness)["credentials_problem"]
    assert problem.startswith("ledger: ") and "e-Boekhouden API token has expired" in problem
    page = harness.merchant.get("/").get_data(as_text=True)
    assert "Reconnect needed" in page and "Documents wait" in page
    dutch = harness.merchant.get("/?lang=nl").get_data(as_text=True)
    assert "Uw API-token van e-Boekhouden is verlopen" in dutch
    assert "has expired" not in dutch
    assert harness.merchant.get("/errors").get_data(as_text=True).count("href=\"/documents/") == 0

    harness.ledger.post("/__sandbox/token/renew").raise_for_status()  # end date extended
    harness.runtime.processing.process(doc_id)
    assert harness.runtime.app.document(doc_id).status == "posted"
    assert _connection_row(harness)["credentials_problem"] is None
    assert len(harness.mutations()) == 1


def test_a_new_token_in_the_settings_reconnects(harness, paid_domestic_orders):
    harness.ledger.post("/__sandbox/token/expire").raise_for_status()
    harness.ledger.post("/__sandbox/sessions/expire").raise_for_status()
    shop_id = harness.put_order(paid_domestic_orders(1)[0])["id"]
    doc_id = harness.runtime.processing.intake(harness.connection.id, "order", shop_id, "test")
    with pytest.raises(WaitingForReconnect):
        harness.runtime.processing.process(doc_id)

    # The merchant makes a new token in e-Boekhouden and enters it in koppel.
    harness.ledger.post("/__sandbox/token/renew", json={"api_token": "brand-new-token"})
    harness.change_settings(**{"demo-ledger-token": "brand-new-token"})
    assert _connection_row(harness)["credentials_problem"] is None
    harness.runtime.processing.process(doc_id)
    assert harness.runtime.app.document(doc_id).status == "posted"
