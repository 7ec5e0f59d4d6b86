"""Pause and resume from the Settings page: while paused, the shop's webhooks are taken in
(inbox, intake) and nothing reaches the ledger; resumed, every document is booked exactly once
(I1) and none is lost (I2)."""

from __future__ import annotations

from domain.document import Status
from tests.harness import MERCHANT, csrf_token


def _booked(h, count: int) -> bool:
    rows = h.rows()
    return len(rows) == count and all(r["status"] == Status.POSTED for r in rows)


def _post(h, action: str, **data: str):
    """The Settings page's pause or resume form, sent by the signed-in merchant."""
    page = h.merchant.get(f"/connections/{h.connection.id}/settings").get_data(as_text=True)
    return h.merchant.post(f"/connections/{h.connection.id}/{action}",
                           data={**data, "csrf_token": csrf_token(page)})


def test_a_paused_connection_takes_documents_in_and_books_them_once_resumed(
        harness, paid_domestic_orders):
    h = harness
    h.runtime.start_workers(threads=2)
    settings = f"/connections/{h.connection.id}/settings"
    assert _post(h, "pause", reason="stocktaking").status_code == 303
    assert 'id="paused"' in h.merchant.get(settings).get_data(as_text=True)

    orders = paid_domestic_orders(4)
    for order in orders:
        assert h.send_webhook(h.put_order(order)["id"]).status_code == 202
    h.wait_until(lambda: len(h.rows()) == 4 and all(
        r["status"] == Status.RECEIVED for r in h.rows()))  # taken in, waiting
    assert h.mutations() == []
    paused_by = [e for e in h.runtime.app.history(h.connection.id)
                 if type(e).__name__ == "Paused"]
    assert [(e.by, e.reason) for e in paused_by] == [(MERCHANT[0], "stocktaking")]

    assert _post(h, "resume").status_code == 303
    assert 'id="paused"' not in h.merchant.get(settings).get_data(as_text=True)
    h.wait_until(lambda: _booked(h, 4), timeout=60)
    numbers = sorted(m["invoiceNumber"] for m in h.mutations())
    assert numbers == sorted(str(o["order"]["ordernumber_full"]) for o in orders)  # once each


def test_pausing_twice_records_one_pause(harness):
    for _ in range(2):
        assert _post(harness, "pause").status_code == 303
    names = [type(e).__name__ for e in harness.runtime.app.history(harness.connection.id)]
    assert names.count("Paused") == 1


def test_whoever_resumes_sends_the_waiting_documents_on_at_once(harness, paid_domestic_orders):
    """The App Store's uninstall and install, a ledger connected after an install and the
    Settings page all resume through ``runtime.pausing``: the documents that waited are sent to
    the workers then, not at their next retry (a paused document's is a minute away)."""
    h = harness
    sent: list[str] = []
    send = h.runtime.pausing.send
    h.runtime.pausing.send = lambda doc_id: (sent.append(doc_id), send(doc_id))
    h.runtime.start_workers(threads=2)
    assert h.runtime.pausing.pause(h.connection.id, by="CCV App Store", reason="uninstalled")
    for order in paid_domestic_orders(2, seed=71):
        assert h.send_webhook(h.put_order(order)["id"]).status_code == 202
    h.wait_until(lambda: len(h.rows()) == 2 and all(
        r["status"] == Status.RECEIVED for r in h.rows()))
    assert sent == [] and h.mutations() == []

    assert h.runtime.pausing.resume(h.connection.id, by="CCV App Store")
    assert sorted(sent) == sorted(str(r["id"]) for r in h.rows())
    h.wait_until(lambda: _booked(h, 2), timeout=30)  # sooner than the workers' retry
    assert len(h.mutations()) == 2
    assert not h.runtime.pausing.resume(h.connection.id, by="CCV App Store")  # not paused


def test_a_new_reason_replaces_the_pause_without_sending_anything_on(harness,
                                                                     paid_domestic_orders):
    """The App Store's uninstall of a connection that waits for its ledger: it stays paused,
    for the new reason, and what waits is not sent to the workers for nothing."""
    h = harness
    sent: list[str] = []
    h.runtime.pausing.send = sent.append
    conn_id = h.connection.id
    assert h.runtime.pausing.pause(conn_id, by="CCV App Store", reason="ledger not connected yet")
    h.runtime.processing.intake(conn_id, "order",
                                h.put_order(paid_domestic_orders(1, seed=73)[0])["id"], "webhook")
    assert not h.runtime.pausing.pause(conn_id, by="m", reason="uninstalled in the CCV App Store")
    assert h.runtime.pausing.pause(conn_id, by="CCV App Store",
                                   reason="uninstalled in the CCV App Store", replace=True)
    assert h.runtime.connections.get(conn_id).paused == "uninstalled in the CCV App Store"
    assert not h.runtime.pausing.pause(conn_id, by="CCV App Store",
                                       reason="uninstalled in the CCV App Store", replace=True)
    names = [type(e).__name__ for e in h.runtime.app.history(conn_id)]
    assert names[-3:] == ["Paused", "Resumed", "Paused"] and sent == []
    assert h.runtime.pausing.resume(conn_id, by="m") and len(sent) == 1  # now it goes on
