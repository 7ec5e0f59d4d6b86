"""The fake's wire format (billit-api.md) and what the client puts on the wire."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest

from application.errors import CredentialsError

from .conftest import billit_settings, bundles, order_for


def _order_body(external_id: str, **overrides) -> dict:
    request, _ = order_for(bundles("order")[0], billit_settings(), external_id)
    return {**request["body"], **overrides}


def _raw_create(fake, body: dict, key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    content = json.dumps(body, default=lambda d: float(d) if isinstance(d, Decimal) else str(d))
    return fake.api("POST", "/v1/orders", content=content,
                    headers={**headers, "Content-Type": "application/json"})


def test_create_answers_a_bare_integer(fake):
    answer = _raw_create(fake, _order_body("w-1"), key="w-1")
    assert answer.status_code == 200
    assert answer.text.strip().isdigit() and answer.json() == fake.get("orders")[0]["OrderID"]


def test_both_idempotency_header_spellings_are_honoured(fake):
    assert _raw_create(fake, _order_body("w-2"), key="k").status_code == 200
    again = fake.api("POST", "/v1/orders", json={}, headers={"Idempotent-Key": "k"})
    assert again.status_code == 409
    assert again.json() == {"errors": [{"Code": "Idempotent token already exists"}]}


def test_list_envelope_paging_and_filter(fake):
    for n in range(5):
        assert _raw_create(fake, _order_body(f"w-{n}")).status_code == 200
    page = fake.api("GET", "/v1/orders", params={"$top": 2}).json()
    assert set(page) == {"Items", "NextPageLink"} and len(page["Items"]) == 2
    assert "OrderLines" not in page["Items"][0] and "Reference" not in page["Items"][0]
    assert "%24skip=2" in page["NextPageLink"] or "$skip=2" in page["NextPageLink"]
    last = fake.api("GET", "/v1/orders", params={"$top": 2, "$skip": 4}).json()
    assert len(last["Items"]) == 1 and last["NextPageLink"] is None

    found = fake.api("GET", "/v1/orders",
                     params={"$filter": "ExternalProviderID eq 'w-3' and Paid eq true"}).json()
    assert [i["ExternalProviderID"] for i in found["Items"]] == ["w-3"]


def test_filter_on_an_unknown_property_is_billits_generic_error(fake):
    answer = fake.api("GET", "/v1/orders", params={"$filter": "VATNumber eq 'x'"})
    assert answer.status_code == 400
    [error] = answer.json()["errors"]
    assert error["Code"] == "GenericError"
    assert "Could not find a property named 'VATNumber'" in error["Description"]


def test_client_pages_through_next_page_links(fake, client):
    for n in range(3):
        _raw_create(fake, _order_body("same-id", OrderTitle=f"T{n}"))
    found = client.find_order("same-id")  # three matches (made outside koppel): oldest wins
    assert found["id"] == min(o["OrderID"] for o in fake.get("orders"))


def test_external_id_with_a_quote_is_escaped(fake, client):
    _raw_create(fake, _order_body("o'brien-1"))
    assert client.find_order("o'brien-1")["ExternalProviderID"] == "o'brien-1"


def test_decimals_go_out_as_json_numbers_and_dates_with_time(fake):
    sent = []

    class Spy(httpx.BaseTransport):
        def handle_request(self, request):
            if request.url.path == "/v1/orders" and request.method == "POST":
                sent.append(request.content)
            return fake.transport.handle_request(request)

    request, _ = order_for(bundles("order")[0], billit_settings(), "w-9")
    with fake.client(transport=Spy()) as client:
        client.create_order(request["body"], "w-9")
    wire = json.loads(sent[0])  # floats here: the JSON held numbers, not strings
    line = wire["OrderLines"][0]
    assert isinstance(line["UnitPriceIncl"], (int, float))
    assert isinstance(line["Quantity"], (int, float)) and line["InclLeading"] is True
    assert wire["PaidDate"].endswith("T00:00:00")
    assert b'"UnitPriceIncl":"' not in sent[0]


def test_requests_log_never_holds_secrets(fake):
    client = fake.connect()
    client.account_information()
    log = json.dumps(fake.get("requests"))
    assert "Authorization" not in log and "ApiKey" not in log
    assert "client-secret" not in log and "access_token" not in log


def test_reset_clears_data_and_keeps_connections_unless_asked(fake):
    client = fake.connect()
    _raw_create(fake, _order_body("r-1"), key="r-1")
    fake.post("reset")
    assert fake.get("orders") == [] and fake.get("requests") == []
    assert _raw_create(fake, _order_body("r-1"), key="r-1").status_code == 200  # key freed
    assert client.account_information()["Companies"]  # still connected

    fake.post("reset", {"tokens": True})
    with pytest.raises(CredentialsError):
        client.account_information()
