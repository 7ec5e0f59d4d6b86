"""The fake and the client against Billit's Swagger document (billit-api.md, last section)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from application.errors import NotFoundError, RejectedError
from workers.connectors.billit import _code, _errors

from .conftest import billit_settings, bundles, order_for


def _posted(fake, client, external_id: str = "conn-1:order:1") -> tuple[int, dict]:
    request, _ = order_for(bundles("order")[0], billit_settings(payment_status="never"),
                           external_id)
    order_id = client.create_order(request["body"], external_id)["id"]
    return order_id, request["body"]


def test_the_client_reads_both_error_envelopes():
    first = {"errors": [{"Code": "YourVATIsNotValid", "Description": "incorrect"}]}
    second = {"ErrorEnum": "YourVATIsNotValid", "ErrorParams": [], "ErrorMessage": "onjuist",
              "Append": None, "DefaultText": "incorrect"}
    assert _errors(first) == [{"Code": "YourVATIsNotValid", "Description": "incorrect"}]
    assert _errors(second) == [{"Code": "YourVATIsNotValid", "Description": "onjuist"}]
    assert _errors([second, {**second, "ErrorEnum": "OrderDateIsRequired"}])[1]["Code"] == \
        "OrderDateIsRequired"
    assert _code({"DefaultText": "only a text"}) == ""
    assert _errors({"unrelated": 1}) == [] and _errors("<html>") == []


@pytest.mark.parametrize("envelope", ["errors", "ErrorEnum"])
def test_a_refusal_in_either_envelope_gives_the_code_and_the_merchants_words(fake, client,
                                                                             envelope):
    fake.post("options", {"error_envelope": envelope})
    request, _ = order_for(bundles("order")[0], billit_settings(), "conn-1:order:2")
    body = dict(request["body"], Customer=dict(request["body"]["Customer"],
                                                VATNumber="NL000000000B00"))
    raw = fake.api("POST", "/v1/orders", json=_plain(body))
    assert ("ErrorEnum" in raw.json()) == (envelope == "ErrorEnum")
    with pytest.raises(RejectedError) as caught:
        client.create_order(body, "k-2")
    assert caught.value.code == "YourVATIsNotValid"
    assert "btw-nummer" in caught.value.message_nl and "VAT number" in caught.value.message
    assert caught.value.message.endswith("(Billit YourVATIsNotValid)")


def test_an_unknown_order_is_not_found_in_either_envelope(fake, client):
    fake.post("options", {"error_envelope": "ErrorEnum"})
    assert client.get_order(1) is None
    with pytest.raises(NotFoundError):
        client.mark_paid(1, "2026-03-14")


def test_a_payment_lowers_what_is_left_to_pay_and_pays_the_order_in_full(fake, client):
    order_id, body = _posted(fake, client)
    total = Decimal(str(client.get_order(order_id)["TotalIncl"]))
    part = fake.api("POST", f"/v1/orders/{order_id}/payments",
                    json={"Amount": 10, "Description": "iDEAL", "Date": "2026-03-15T10:00:00"})
    assert part.status_code == 200
    order = client.get_order(order_id)
    assert Decimal(str(order["ToPay"])) == total - 10 and order["Paid"] is False
    rest = float(total - 10)
    fake.api("POST", f"/v1/orders/{order_id}/payments", json={"Amount": rest,
                                                              "Date": "2026-03-16T00:00:00"})
    order = client.get_order(order_id)
    assert (order["Paid"], order["PaidDate"], order["ToPay"]) == (True, "2026-03-16T00:00:00",
                                                                  0)
    assert fake.api("POST", "/v1/orders/1/payments", json={"Amount": 1}).status_code == 404
    refused = fake.api("POST", f"/v1/orders/{order_id}/payments", json={"Amount": "ten"})
    assert refused.status_code == 400


def test_a_deleted_order_leaves_the_list_for_the_deleted_list(fake, client):
    order_id, body = _posted(fake, client)
    answer = fake.api("DELETE", f"/v1/orders/{order_id}")
    assert (answer.status_code, answer.json()) == (200, True)
    assert client.get_order(order_id) is None
    assert client.find_order(body["ExternalProviderID"]) is None
    deleted = fake.api("GET", "/v1/orders/deleted").json()["Items"]
    assert [o["OrderID"] for o in deleted] == [order_id]
    assert fake.api("DELETE", f"/v1/orders/{order_id}").status_code == 404


def test_party_type_is_customer_or_supplier(fake, client):
    request, _ = order_for(bundles("order")[0], billit_settings(), "conn-1:order:3")
    assert request["body"]["Customer"]["PartyType"] == "Customer"  # R7.3
    wrong = dict(request["body"], Customer=dict(request["body"]["Customer"],
                                                 PartyType="Company"))
    answer = fake.api("POST", "/v1/orders", json=_plain(wrong))
    assert answer.status_code == 400 and "PartyType" in answer.json()["errors"][0]["Description"]
    companies = client.account_information()["Companies"]
    assert {c["PartyType"] for c in companies} <= {"Customer", "Supplier"}


def _plain(value):
    """A body with Decimals as floats and dates as text, as a raw JSON call needs it."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return float(value)
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
