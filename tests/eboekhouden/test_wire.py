"""The wire format itself: the fake's strictness and the client's JSON."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest

from sandbox.eboekhouden import create_app
from workers.connectors.eboekhouden import _dumps
from workers.connectors.exchange import retry_after as _retry_after

from .conftest import API_TOKEN, BASE


@pytest.fixture
def api():
    app = create_app(api_token=API_TOKEN, seed=3)
    http = httpx.Client(base_url=BASE, transport=httpx.WSGITransport(app=app))
    token = http.post("/v1/session", json={"accessToken": API_TOKEN, "source": "t"}).json()
    http.headers["Authorization"] = token["token"]
    yield http
    http.close()


def test_money_goes_out_with_two_decimals_and_quantities_with_up_to_four():
    text = _dumps({"amount": Decimal("40"), "rows": [{"amount": Decimal("8.405")}],
                   "quantity": Decimal("1.2500"), "n": 3, "s": "é"})
    assert text == '{"amount":40.00,"rows":[{"amount":8.41}],"quantity":1.25,"n":3,"s":"é"}'
    assert json.loads(text, parse_float=Decimal)["amount"] == Decimal("40.00")


def test_retry_after_reads_seconds_and_dates():
    assert _retry_after("12") == 12.0
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert _retry_after("soon") is None


def test_error_body_has_the_real_shape(api):
    response = api.post("/v1/relation", json={"type": "P"})
    body = response.json()
    assert response.status_code == 400
    assert {"type", "title", "status", "code"} <= set(body)
    assert (body["type"], body["status"], body["code"]) == ("validation", 400, "REL_002")
    assert set(body) <= {"type", "title", "status", "code", "message", "propertyName",
                         "errors", "traceId", "securityType"}


def test_fake_refuses_a_ledger_code_where_an_id_belongs(api):
    relation = api.post("/v1/relation", json={"name": "Jan"}).json()
    ledger_1300 = api.get("/v1/ledger", params={"code": "1300"}).json()["items"][0]["id"]
    body = {"type": "2", "date": "2025-03-14", "ledgerId": ledger_1300,
            "relationId": relation["id"], "invoiceNumber": "X1", "inExVat": "EX",
            "rows": [{"ledgerId": "8000", "vatCode": "HOOG_VERK_21", "amount": 10}]}
    response = api.post("/v1/mutation", json=body)
    assert response.status_code == 400
    assert response.json()["propertyName"] == "rows[0].ledgerId"


def test_ledger_ids_are_opaque_and_the_chart_is_seeded(api):
    items = api.get("/v1/ledger", params={"limit": 2000}).json()["items"]
    by_code = {i["code"]: i for i in items}
    for code in ("1100", "1110", "1300", "1600", "1665", "8000", "8001", "8002", "8010", "8020",
                 "8090", "8100", "8200", "8300", "8400"):
        assert by_code[code]["id"] > 1_000_000
    assert by_code["1300"]["category"] == "DEB" and by_code["1100"]["category"] == "FIN"
    assert by_code["1665"]["category"] == "BAL" and by_code["8000"]["category"] == "VW"


def test_paging_limits_and_count(api):
    for i in range(5):
        api.post("/v1/relation", json={"name": f"R{i}", "code": f"R{i}"})
    page = api.get("/v1/relation", params={"limit": 2, "offset": 4}).json()
    assert page == {"items": [page["items"][0]], "count": 1}
    assert api.get("/v1/relation", params={"limit": 0}).json()["code"] == "PAGE_001"
    assert api.get("/v1/relation", params={"limit": 2001}).json()["code"] == "PAGE_001"
    assert api.get("/v1/relation", params={"offset": -1}).json()["code"] == "PAGE_002"
    assert len(api.get("/v1/relation", params={"code[like]": "R?"}).json()["items"]) == 5
    assert len(api.get("/v1/relation", params={"code[not_eq]": "r1"}).json()["items"]) == 4


def test_outstanding_needs_cred_deb(api):
    response = api.get("/v1/mutation/invoice/outstanding")
    assert response.status_code == 400 and response.json()["code"] == "MUTA_006"
    assert api.get("/v1/mutation/invoice/outstanding",
                   params={"credDeb": "X"}).json()["code"] == "MUTA_007"


def test_unknown_mutation_is_404_mut_300(api):
    response = api.get("/v1/mutation/12345")
    assert response.status_code == 404 and response.json()["code"] == "MUT_300"


def test_reset_restores_the_seeded_ids_and_forgets_the_data():
    app = create_app(api_token=API_TOKEN, seed=3)
    control = httpx.Client(base_url=BASE, transport=httpx.WSGITransport(app=app))
    before = control.get("/__sandbox/ledgers").json()
    control.post("/__sandbox/relations", json={"name": "Jan"})
    control.post("/__sandbox/ledgers", json={"code": "9999", "description": "x",
                                             "category": "VW"})
    control.post("/__sandbox/faults", json={"mode": "error"})
    control.post("/__sandbox/reset")
    assert control.get("/__sandbox/ledgers").json() == before
    assert control.get("/__sandbox/relations").json() == []
    assert control.get("/__sandbox/faults").json() == []
    other_seed = httpx.Client(base_url=BASE, transport=httpx.WSGITransport(
        app=create_app(api_token=API_TOKEN, seed=4)))
    assert other_seed.get("/__sandbox/ledgers").json() != before
