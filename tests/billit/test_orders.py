"""Orders (R7.3) built from real bookings: invoices, credit notes, idempotency, unknown
outcomes (I1), payments, validation errors and rate limits."""

from __future__ import annotations

from decimal import Decimal

import pytest

from application.errors import DuplicateError, RejectedError, SlowDown, TransientError

from .conftest import billit_settings, bundles, order_for


def _post(client, request: dict) -> dict:
    return client.create_order(request["body"], request["headers"]["Idempotency-Key"])


def test_invoice_from_a_real_booking_is_created_with_billits_totals(fake, client):
    settings = billit_settings()
    request, booking = order_for(bundles("order")[0], settings, "conn-1:order:1001")
    created = _post(client, request)

    assert isinstance(created["id"], int)
    [stored] = fake.get("orders")
    assert stored["OrderID"] == created["id"] and stored["OrderType"] == "Invoice"
    assert stored["ExternalProviderID"] == "conn-1:order:1001"
    assert stored["Received"]["idempotency_key"] == "conn-1:order:1001"
    assert len(stored["OrderLines"]) == len(booking.lines)
    # InclLeading: Billit's own gross total equals the shop's to the cent
    assert Decimal(str(stored["TotalIncl"])) == booking.total_incl
    assert stored["Paid"] is True and stored["PaidDate"] == f"{booking.date}T00:00:00"
    assert stored["OrderDate"] == f"{booking.date}T00:00:00"

    found = client.find_order("conn-1:order:1001")
    assert found["id"] == created["id"] and found["TotalIncl"] == booking.total_incl
    assert isinstance(found["TotalIncl"], Decimal)  # parsed with parse_float=Decimal
    assert client.find_order("conn-1:order:9999") is None


def test_credit_note_is_sent_with_positive_amounts(fake, client):
    settings = billit_settings()
    request, booking = order_for(bundles("credit")[0], settings, "conn-1:invoice:77")
    assert booking.total_incl < 0
    _post(client, request)

    [stored] = fake.get("orders")
    assert stored["OrderType"] == "CreditNote"
    sent = stored["Received"]["body"]["OrderLines"]
    assert sent and all(l["Quantity"] > 0 and l["UnitPriceIncl"] > 0 for l in sent)
    assert all(l["TotalIncl"] > 0 for l in stored["OrderLines"])
    assert Decimal(str(stored["TotalIncl"])) == -booking.total_incl


def test_negative_invoice_is_refused_by_the_fake(fake, client):
    """Billit wants positive amounts with OrderType CreditNote; the fake keeps us honest."""
    request, _ = order_for(bundles("credit")[0], billit_settings(), "x")
    body = dict(request["body"], OrderType="Invoice")
    body["OrderLines"] = [dict(l, UnitPriceIncl=-l["UnitPriceIncl"]) for l in body["OrderLines"]]
    with pytest.raises(RejectedError) as caught:
        client.create_order(body, "neg-1")
    assert caught.value.code == "GenericError" and "negative" in caught.value.message
    assert fake.get("orders") == []


def test_reused_idempotency_key_is_a_duplicate(fake, client):
    request, _ = order_for(bundles("order")[0], billit_settings(), "conn-1:order:5")
    _post(client, request)
    with pytest.raises(DuplicateError) as caught:
        _post(client, request)
    assert caught.value.code == "Idempotent token already exists"
    assert caught.value.detail == {"errors": [{"Code": "Idempotent token already exists"}]}
    # a different body under the same key is refused too
    with pytest.raises(DuplicateError):
        client.create_order(dict(request["body"], OrderTitle="other"), "conn-1:order:5")
    assert len(fake.get("orders")) == 1
    assert [r["status"] for r in fake.requests("POST", "/v1/orders")] == [200, 409, 409]


def test_refused_order_leaves_its_idempotency_key_free(fake, client):
    request, _ = order_for(bundles("order")[0], billit_settings(), "conn-1:order:6")
    broken = dict(request["body"])
    del broken["ExpiryDate"]
    with pytest.raises(RejectedError) as caught:
        client.create_order(broken, "conn-1:order:6")
    assert caught.value.code == "ExpiryDateIsRequired"
    assert "due date" in caught.value.message
    assert _post(client, request)["id"]  # the same key works once the body is right


def test_commit_then_500_is_an_unknown_outcome_that_find_order_resolves(fake, client):
    request, _ = order_for(bundles("order")[0], billit_settings(), "conn-1:order:7")
    fake.fault(mode="after_commit", method="POST", path="/v1/orders", count=1)
    with pytest.raises(TransientError) as caught:
        _post(client, request)
    assert caught.value.outcome_unknown is True

    found = client.find_order("conn-1:order:7")  # I1: look before retrying
    assert found is not None and found["OrderID"] == fake.get("orders")[0]["OrderID"]
    with pytest.raises(DuplicateError):  # and a blind retry could not double it anyway
        _post(client, request)
    assert len(fake.get("orders")) == 1


def test_500_before_commit_leaves_nothing_to_find(fake, client):
    request, _ = order_for(bundles("order")[0], billit_settings(), "conn-1:order:8")
    fake.fault(mode="error", method="POST", path="/v1/orders", count=1)
    with pytest.raises(TransientError) as caught:
        _post(client, request)
    assert caught.value.outcome_unknown is True and caught.value.code == "GenericError"
    assert client.find_order("conn-1:order:8") is None
    assert _post(client, request)["id"]


def test_dropped_connection_is_an_unknown_outcome(fake, client):
    request, _ = order_for(bundles("order")[0], billit_settings(), "conn-1:order:9")
    fake.fault(mode="drop", method="POST", path="/v1/orders", count=1)
    with pytest.raises(TransientError) as caught:
        _post(client, request)
    assert caught.value.outcome_unknown is True and caught.value.code == "NO_ANSWER"


def test_500_on_a_read_is_transient_with_a_known_outcome(fake, client):
    fake.fault(mode="error", method="GET", path="/v1/orders", count=1)
    with pytest.raises(TransientError) as caught:
        client.find_order("anything")
    assert caught.value.outcome_unknown is False


def test_429_carries_retry_after(fake, client):
    request, _ = order_for(bundles("order")[0], billit_settings(), "conn-1:order:10")
    fake.fault(mode="rate_limit", method="POST", path="/v1/orders", count=1, seconds=7)
    with pytest.raises(SlowDown) as caught:  # the whole connection waits (fairness)
        _post(client, request)
    assert caught.value.retry_after == 7.0 and caught.value.outcome_unknown is False
    assert fake.get("orders") == []


def test_mark_paid_sets_paid_with_a_time(fake, client):
    settings = billit_settings(payment_status="never")
    request, booking = order_for(bundles("order")[0], settings, "conn-1:order:11")
    assert "Paid" not in request["body"]
    order_id = _post(client, request)["id"]
    assert client.get_order(order_id)["OrderStatus"] == "ToSend"

    client.mark_paid(order_id, booking.date)
    order = client.get_order(order_id)
    assert order["Paid"] is True and order["PaidDate"] == f"{booking.date}T00:00:00"
    assert order["OrderStatus"] == "Paid" and order["ToPay"] == 0
    client.mark_paid(order_id, booking.date)  # twice is harmless
    assert [r["status"] for r in fake.requests("PATCH", f"/v1/orders/{order_id}")] == [200, 200]


def test_patch_refuses_a_date_without_time_and_unpatchable_fields(fake, client):
    request, _ = order_for(bundles("order")[0], billit_settings(), "conn-1:order:12")
    order_id = _post(client, request)["id"]
    answer = fake.api("PATCH", f"/v1/orders/{order_id}",
                      json={"Paid": True, "PaidDate": "2026-03-14", "OrderDate": "2026-01-01"})
    assert answer.status_code == 400
    descriptions = [e["Description"] for e in answer.json()["errors"]]
    assert any("OrderDate" in d for d in descriptions)
    assert any("time" in d for d in descriptions)


@pytest.mark.parametrize("status", [404, 401])
def test_unknown_order_id_is_none_whether_billit_answers_404_or_401(fake, client, status):
    # The swagger documents 404 for an unknown order, the docs 401: both mean "not there".
    if status == 401:
        fake.post("options", {"unknown_order_status": 401})
    assert client.get_order(1) is None
    assert fake.requests("GET", "/v1/orders/1")[0]["status"] == status
    assert fake.api("GET", "/v1/orders/1").json()["errors"][0]["Code"] == (
        "NotAuthorizedForOrder" if status == 401 else "GenericError")


def test_validation_errors_are_rejected_with_billits_code_and_merchant_words(fake, client):
    request, _ = order_for(bundles("order")[0], billit_settings(), "conn-1:order:13")
    body = dict(request["body"])
    body["Customer"] = {k: v for k, v in body["Customer"].items()
                        if k not in ("Name", "ContactFirstName", "ContactLastName")}
    body["OrderLines"] = [dict(body["OrderLines"][0], VATPercentage=Decimal("0.21"))]
    with pytest.raises(RejectedError) as caught:
        client.create_order(body, "k-13")
    codes = [e["Code"] for e in caught.value.detail["errors"]]
    assert codes == ["CompanyNameOrContactNameIsRequired",
                     "InvalidVAtPercentageForTaxCountry_0_"]
    assert caught.value.code == "CompanyNameOrContactNameIsRequired"
    assert "contact name" in caught.value.message and "VAT percentage" in caught.value.message
    assert caught.value.message.startswith(f"Billit refused document {body['OrderTitle']}")


def test_invalid_vat_number_is_refused(client):
    request, _ = order_for(bundles("order")[0], billit_settings(), "conn-1:order:14")
    body = dict(request["body"], Customer=dict(request["body"]["Customer"],
                                                VATNumber="BE0123456789"))
    with pytest.raises(RejectedError) as caught:
        client.create_order(body, "k-14")
    assert caught.value.code == "_0_IsNoValidBEVAT"


def test_credit_note_about_an_unknown_invoice_is_refused_with_its_own_code(fake, client):
    request, _ = order_for(bundles("credit")[0], billit_settings(), "conn-1:invoice:15")
    body = dict(request["body"], AboutInvoiceNumber="NOPE-1")
    with pytest.raises(RejectedError) as caught:
        client.create_order(body, "k-15")
    assert caught.value.code == "TheAboutInvoiceNumberCouldNotBeFound"
    [error] = caught.value.detail["errors"]
    assert "factuurnummer" in error["Description"]  # Billit's words come in Dutch
    assert "NOPE-1" in caught.value.message and "NOPE-1" in caught.value.message_nl
    assert "creditnota" in caught.value.message_nl and "credit note" in caught.value.message
    assert [o for o in fake.get("orders")] == []
