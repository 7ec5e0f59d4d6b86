"""``CCVShopClient`` against the fake: signing, verification, paging, errors, faults."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from decimal import Decimal

import httpx
import pytest

from application.errors import (CredentialsError, NotFoundError, RejectedError,
                                SignatureError, TransientError)
from sandbox.ccvshop import dumps
from workers.connectors.ccvshop import CCVShopClient, parse_webhook

from .conftest import PUBLIC, ROOT, SECRET, a_row, seed_order


def arm(http: httpx.Client, **fault) -> None:
    assert http.post("/__sandbox/faults", json=fault).status_code == 201


# -- reading ---------------------------------------------------------------------------


def test_fetch_order_reads_every_page_of_rows_with_exact_amounts(control, client):
    rows = [a_row(price=f"{i}.10", count=i % 3 + 1, name=f"Artikel {i}") for i in range(1, 251)]
    seeded = seed_order(control, {"total_price": Decimal("35.45")}, rows)
    doc = client.fetch_order(seeded["id"])
    assert doc["order"]["id"] == seeded["id"]
    assert doc["order"]["total_price"] == Decimal("35.45")
    assert isinstance(doc["order"]["total_price"], Decimal)
    assert len(doc["orderrows"]) == 250  # three pages of 100
    assert [r["product_name"] for r in doc["orderrows"]][:2] == ["Artikel 1", "Artikel 2"]
    assert doc["orderrows"][-1]["price"] == Decimal("250.1")
    assert len({r["id"] for r in doc["orderrows"]}) == 250


def test_list_orders_pages_through_everything_in_id_order(control, client):
    ids = [seed_order(control, {"create_date": "2026-03-01T10:00:00Z"})["id"]
           for _ in range(130)]
    listed = [o["id"] for o in client.list_orders()]
    assert listed == ids


def test_list_orders_since_filters_on_create_date(control, client):
    seed_order(control, {"create_date": "2026-02-27T23:59:59Z"})
    kept = [seed_order(control, {"create_date": d})["id"]
            for d in ("2026-03-01T00:00:00Z", "2026-03-04T08:00:00Z")]
    listed = [o["id"] for o in client.list_orders(since=datetime(2026, 3, 1, 9, 0,
                                                                 tzinfo=timezone.utc))]
    assert listed == kept  # the date filter is coarse (a whole UTC day): never misses one


def test_list_orders_until_keeps_the_whole_last_day(control, client):
    kept = [seed_order(control, {"create_date": d})["id"]
            for d in ("2026-03-01T00:00:00Z", "2026-03-04T23:59:59Z")]
    seed_order(control, {"create_date": "2026-03-05T00:00:00Z"})
    listed = [o["id"] for o in client.list_orders(
        since=datetime(2026, 3, 1, tzinfo=timezone.utc),
        until=datetime(2026, 3, 4, 9, 0, tzinfo=timezone.utc))]
    assert listed == kept  # coarse (whole UTC days) on both ends: never narrower


def test_unfinished_checkouts_are_not_listed(control, client):
    seed_order(control, {"is_completed": False})
    done = seed_order(control, {})["id"]
    assert [o["id"] for o in client.list_orders()] == [done]


def test_fetch_invoice_includes_rows_and_the_linked_order(control, client):
    order = seed_order(control, {"paid": True, "paymethod": "Ideal"}, [a_row()])
    response = control.post("/__sandbox/invoices", content=dumps({
        "invoice": {"total_price": Decimal("12.10"), "invoicenumber_prefix": "INV"},
        "invoicerows": [a_row("12.10"), a_row("1.00")], "order_id": order["id"]}))
    assert response.status_code == 201
    invoice_id = response.json()["id"]
    assert response.json()["invoicenumber_full"].startswith("INV-")
    doc = client.fetch_invoice(invoice_id)
    assert doc["invoice"]["order"] == f"{ROOT}/api/rest/v1/orders/{order['id']}"
    assert doc["order"]["id"] == order["id"] and doc["order"]["paymethod"] == "Ideal"
    assert [r["invoice_id"] for r in doc["invoicerows"]] == [str(invoice_id)] * 2
    assert doc["invoice"]["ordernumber_full"] == order["ordernumber_full"]
    assert list(client.list_invoices())[0]["id"] == invoice_id


def test_fetch_invoice_without_order(control, client):
    invoice_id = control.post("/__sandbox/invoices", content=dumps(
        {"invoice": {"total_price": 5}, "invoicerows": []})).json()["id"]
    doc = client.fetch_invoice(invoice_id)
    assert doc["order"] is None and doc["invoicerows"] == []


def test_webhook_resource_lifecycle(client):
    hook = client.register_webhook("orders.updated.ispaid", "https://koppel.test/h/abc")
    assert hook["event"] == "orders.updated.ispaid" and hook["is_active"] is True
    assert len(hook["key"]) >= 32 and isinstance(hook["id"], int)
    assert [h["id"] for h in client.list_webhooks()] == [hook["id"]]
    client.delete_webhook(hook["id"])
    assert client.list_webhooks() == []
    with pytest.raises(NotFoundError):
        client.delete_webhook(hook["id"])


# -- errors ----------------------------------------------------------------------------


def test_missing_order_is_not_found(client):
    with pytest.raises(NotFoundError) as caught:
        client.fetch_order(12345)
    assert "12345" in caught.value.message and caught.value.code == "404.10"


def test_a_business_refusal_is_rejected_with_the_developermessage(client):
    with pytest.raises(RejectedError) as caught:
        client.register_webhook("orders.paid", "https://koppel.test/h")
    assert caught.value.code == "400.10"
    assert "event must be one of" in caught.value.message
    assert not isinstance(caught.value, (NotFoundError, CredentialsError))


def test_wrong_secret_is_a_credentials_error_that_never_shows_the_secret(transport):
    wrong = CCVShopClient(ROOT, PUBLIC, "a-wrong-secret-xyz", transport=transport)
    with pytest.raises(CredentialsError) as caught:
        wrong.fetch_order(1)
    assert "Invalid hash" in caught.value.message
    text = f"{caught.value} {caught.value.detail} {wrong!r} {caught.value.__cause__}"
    assert "a-wrong-secret-xyz" not in text and SECRET not in text


class Tamper(httpx.BaseTransport):
    """Changes a response body (or drops its hash) on the way back, as a proxy could."""

    def __init__(self, inner: httpx.BaseTransport, *, drop_hash=False) -> None:
        self.inner, self.drop_hash = inner, drop_hash

    def handle_request(self, request):
        response = self.inner.handle_request(request)
        response.read()
        headers = {k: v for k, v in response.headers.items()
                   if k.lower() != "content-length" and not (self.drop_hash and k == "x-hash")}
        body = response.content.replace(b"35.45", b"3.45")
        return httpx.Response(response.status_code, headers=headers, content=body)


@pytest.mark.parametrize("drop_hash", [False, True])
def test_a_tampered_or_unsigned_answer_is_not_trusted(control, transport, drop_hash):
    seeded = seed_order(control, {"total_price": Decimal("35.45")})
    shop = CCVShopClient(ROOT, PUBLIC, SECRET, transport=Tamper(transport, drop_hash=drop_hash))
    with pytest.raises(SignatureError):
        shop.fetch_order(seeded["id"])


def test_the_fakes_badly_signed_answer_is_not_trusted_and_then_clears(control, client):
    seeded = seed_order(control, {"total_price": Decimal("35.45")})
    arm(control, mode="bad_signature", count=1, path=f"/api/rest/v1/orders/{seeded['id']}/")
    with pytest.raises(SignatureError):
        client.fetch_order(seeded["id"])
    assert client.fetch_order(seeded["id"])["order"]["total_price"] == Decimal("35.45")


def test_an_unexpected_refusal_carries_the_shops_own_code_and_message(control, client):
    arm(control, mode="error", status=422, count=1, message="Order is locked by a migration")
    with pytest.raises(RejectedError) as caught:
        client.fetch_order(1)
    assert caught.value.code == "422.00"
    assert caught.value.detail["developermessage"] == "Order is locked by a migration"


def test_the_request_log_counts_what_was_asked_of_the_shop(control, client):
    seeded = seed_order(control, {})
    client.fetch_order(seeded["id"])
    with pytest.raises(NotFoundError):
        client.fetch_order(seeded["id"] + 1)
    log = control.get("/__sandbox/requests").json()
    assert [(r["method"], r["path"], r["status"]) for r in log] == [
        ("GET", f"/api/rest/v1/orders/{seeded['id']}/", 200),
        ("GET", f"/api/rest/v1/orders/{seeded['id']}/orderrows/", 200),
        ("GET", f"/api/rest/v1/orders/{seeded['id'] + 1}/", 404)]
    assert all(abs(r["at"] - time.time()) < 60 for r in log)
    assert control.delete("/__sandbox/requests").status_code == 204
    assert control.get("/__sandbox/requests").json() == []


def test_an_unknown_fault_mode_is_refused(control):
    answer = control.post("/__sandbox/faults", json={"mode": "explode"})
    assert answer.status_code == 400 and "bad_signature" in answer.json()["error"]


def test_fault_error_is_transient_and_writes_are_marked_unknown(control, client):
    arm(control, mode="error", status=503, count=1, path="/api/rest/v1/orders/.*")
    with pytest.raises(TransientError) as caught:
        list(client.list_orders())
    assert caught.value.outcome_unknown is False and caught.value.code == "503.00"
    assert list(client.list_orders()) == []  # the next call works: count was 1


def test_after_commit_fault_leaves_the_write_done_but_the_outcome_unknown(control, client):
    arm(control, mode="after_commit", status=500, method="POST", count=1,
        path="/api/rest/v1/webhooks/?")
    with pytest.raises(TransientError) as caught:
        client.register_webhook("orders.created", "https://koppel.test/h")
    assert caught.value.outcome_unknown is True
    assert [h["address"] for h in client.list_webhooks()] == ["https://koppel.test/h"]


def test_rate_limit_fault_maps_retry_after(control, client):
    arm(control, mode="rate_limit", seconds=7, count=1)
    with pytest.raises(TransientError) as caught:
        client.fetch_order(1)
    assert caught.value.retry_after == 7.0 and caught.value.code == "429.10"


def test_real_rate_limit_without_retry_after_backs_off_a_minute(control, client):
    control.put("/__sandbox/ratelimit", json={"get_per_minute": 2})
    list(client.list_orders())
    list(client.list_orders())
    with pytest.raises(TransientError) as caught:
        list(client.list_orders())
    assert caught.value.code == "429.10" and caught.value.retry_after == 60.0
    client.register_webhook("orders.created", "https://koppel.test/h")  # writes count apart


def test_rate_limit_with_retry_after_and_total_limit(control, client):
    assert control.put("/__sandbox/ratelimit", json={"total_per_minute": 1, "window_seconds": 1,
                                                     "retry_after": True}).status_code == 200
    list(client.list_orders())
    with pytest.raises(TransientError) as caught:
        list(client.list_invoices())
    assert caught.value.code == "429.11" and 1.0 <= caught.value.retry_after <= 2.0
    time.sleep(1.05)
    assert list(client.list_invoices()) == []  # the window has passed


def test_transport_failures_are_transient():
    def refuse(request):
        raise httpx.ConnectError("connection refused", request=request)

    shop = CCVShopClient(ROOT, PUBLIC, SECRET, transport=httpx.MockTransport(refuse))
    with pytest.raises(TransientError) as caught:
        shop.fetch_order(1)
    assert "ConnectError" in caught.value.message


# -- on a real port --------------------------------------------------------------------


def test_client_on_a_real_port(live):
    server, http = live
    rows = [a_row(f"{i}.99", name=f"Ürün {i}") for i in range(130)]
    seeded = seed_order(http, {"total_price": Decimal("1.5")}, rows)
    shop = CCVShopClient(server.url + "/", PUBLIC, SECRET)
    doc = shop.fetch_order(seeded["id"])
    assert len(doc["orderrows"]) == 130 and doc["orderrows"][5]["product_name"] == "Ürün 5"
    assert doc["order"]["href"] == f"{server.url}/api/rest/v1/orders/{seeded['id']}/"


def test_latency_and_timeout_on_a_real_port(live):
    server, http = live
    seeded = seed_order(http, {})
    arm(http, mode="latency", seconds=0.4, count=1)
    shop = CCVShopClient(server.url, PUBLIC, SECRET, timeout=5)
    began = time.monotonic()
    shop.fetch_order(seeded["id"])
    assert time.monotonic() - began >= 0.4
    arm(http, mode="latency", seconds=1.0, count=1)
    hasty = CCVShopClient(server.url, PUBLIC, SECRET, timeout=0.2)
    with pytest.raises(TransientError) as caught:
        hasty.fetch_order(seeded["id"])
    assert "in time" in caught.value.message


def test_dropped_connection_on_a_real_port(live):
    server, http = live
    seeded = seed_order(http, {})
    arm(http, mode="drop", count=1)
    shop = CCVShopClient(server.url, PUBLIC, SECRET)
    with pytest.raises(TransientError):
        shop.fetch_order(seeded["id"])
    assert shop.fetch_order(seeded["id"])["order"]["id"] == seeded["id"]


def test_nothing_listening_is_transient():
    shop = CCVShopClient("http://127.0.0.1:9", PUBLIC, SECRET, timeout=2)
    with pytest.raises(TransientError):
        shop.fetch_order(1)


# -- what the real shop does that the documents leave out -------------------------------


def test_a_webhook_registered_with_a_no_content_answer_is_read_back(control, client):
    # CCV's official SDK: a POST "sometimes gives a no-content, even on success".
    control.post("/__sandbox/faults", json={"mode": "no_content", "method": "POST",
                                            "path": "/api/rest/v1/webhooks/", "count": 1})
    hook = client.register_webhook("orders.created", "https://koppel.test/h/1")
    assert isinstance(hook["id"], int) and len(hook["key"]) >= 32
    assert [h["id"] for h in client.list_webhooks()] == [hook["id"]]
    assert control.get("/__sandbox/faults").json()[0]["fired"] == 1


def test_a_deleted_order_is_gone_and_announced(live, receiver):
    server, http = live
    shop = CCVShopClient(server.url, PUBLIC, SECRET)
    shop.register_webhook("orders.deleted", f"{receiver.url}/hooks/tok-1/orders.deleted")
    seeded = seed_order(http, {"total_price": 10}, [a_row()])
    assert http.delete(f"/__sandbox/orders/{seeded['id']}").json()["fired"] == \
        ["orders.deleted"]
    http.post("/__sandbox/deliveries/wait", json={"timeout": 10})
    [delivery] = receiver.received
    assert parse_webhook(delivery["body"]) == {"event_kind": "order", "id": seeded["id"]}
    with pytest.raises(NotFoundError):
        shop.fetch_order(seeded["id"])
    assert http.delete(f"/__sandbox/orders/{seeded['id']}").status_code == 404
    shop.close()
