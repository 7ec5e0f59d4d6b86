"""The fake against e-Boekhouden's official OpenAPI document (eboekhouden-api.md, last section):
as strict as the real server and no stricter."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from sandbox.eboekhouden import create_app

from .conftest import API_TOKEN, BASE


@pytest.fixture
def api():
    app = create_app(api_token=API_TOKEN, seed=5)
    http = httpx.Client(base_url=BASE, transport=httpx.WSGITransport(app=app))
    token = http.post("/v1/session", json={"accessToken": API_TOKEN, "source": "t"}).json()
    http.headers["Authorization"] = token["token"]
    yield http
    http.close()


def ledger(api, code: str) -> int:
    return api.get("/v1/ledger", params={"code": code}).json()["items"][0]["id"]


def relation(api, **fields) -> int:
    response = api.post("/v1/relation", json={"name": "Jan", **fields})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def sale_body(api, number: str, relation_id: int, as_text: bool) -> dict:
    """One sale, its numbers as JSON numbers or as the numeric strings a client may send."""
    def n(value):
        return str(value) if as_text else value
    return {"type": n(2), "date": "2025-03-14", "ledgerId": n(ledger(api, "1300")),
            "relationId": n(relation_id), "invoiceNumber": number, "termOfPayment": n(14),
            "inExVat": "IN",
            "rows": [{"ledgerId": n(ledger(api, "8000")), "vatCode": "HOOG_VERK_21",
                      "amount": "121.00" if as_text else 121.00, "description": "Jas"},
                     {"ledgerId": n(ledger(api, "8001")), "vatCode": "LAAG_VERK_9",
                      "amount": "10.90" if as_text else 10.9, "description": "Boek"}]}


def invoice_body(api, number: str, relation_id: int, as_text: bool, templates) -> dict:
    def n(value):
        return str(value) if as_text else value
    return {"relationId": n(relation_id), "date": "2025-03-14", "termOfPayment": n(14),
            "templateId": n(templates[0]["id"]), "inExVat": "EX", "invoiceNumber": number,
            "items": [{"quantity": "2.5" if as_text else 2.5, "description": "Stof",
                       "pricePerUnit": "19.99" if as_text else 19.99,
                       "discountAmount": "1.99" if as_text else 1.99,
                       "vatCode": "HOOG_VERK_21", "ledgerId": n(ledger(api, "8000"))}],
            "mutation": {"ledgerId": n(ledger(api, "1300")), "description": "Factuur"}}


def _same(records: list[dict], *drop: str) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in drop} for r in records]


def test_numbers_sent_as_strings_make_the_same_booking_as_numbers(api):
    control = api.get  # the control API needs no session; httpx sends the header anyway
    rel = relation(api)
    for number, as_text in (("S1", False), ("S2", True)):
        response = api.post("/v1/mutation", json=sale_body(api, number, rel, as_text))
        assert response.status_code == 201, response.text
    first, second = control("/__sandbox/mutations").json()
    assert first["totalAmount"] == 131.9 and first["vatAmount"] == 21.9
    assert _same([first], "id", "invoiceNumber") == _same([second], "id", "invoiceNumber")

    templates = api.get("/v1/invoicetemplate").json()["items"]
    for number, as_text in (("F1", False), ("F2", True)):
        response = api.post("/v1/invoice", json=invoice_body(api, number, rel, as_text,
                                                             templates))
        assert response.status_code == 201, response.text
    one, two = control("/__sandbox/invoices").json()
    assert one["totalExcl"] == 45.0 and one["items"][0]["discountAmount"] == 1.99
    drop = ("id", "invoiceNumber", "urlPdfFile", "mutationId")
    assert _same([one], *drop) == _same([two], *drop)


@pytest.mark.parametrize("bad", ["12,10", " 12.10", "twelve", "", "1.2.3"])
def test_a_string_that_is_no_number_is_still_refused(api, bad):
    body = sale_body(api, "S1", relation(api), as_text=True)
    body["rows"][0]["amount"] = bad
    response = api.post("/v1/mutation", json=body)
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["propertyName"]) == ("ERR_002",
                                                                         "rows[0].amount")


def test_a_ledger_code_as_a_string_is_an_unknown_ledger_id(api):
    body = sale_body(api, "S1", relation(api), as_text=False)
    body["rows"][0]["ledgerId"] = "8000"  # the code, not the id: the server reads id 8000
    response = api.post("/v1/mutation", json=body)
    assert response.json()["code"] == "MUT_104"


@pytest.mark.parametrize("field, limit, code", [("note", 40_000, "REL_047"),
                                                ("companyRegistrationNumber", 50, "REL_050")])
def test_relation_limits_are_the_documented_ones(api, field, limit, code):
    fill = "1" if field == "companyRegistrationNumber" else "x"
    assert api.post("/v1/relation", json={"name": "A", field: fill * limit}).status_code == 201
    response = api.post("/v1/relation", json={"name": "B", field: fill * (limit + 1)})
    assert (response.status_code, response.json()["code"]) == (400, code)


def test_mutation_limits_are_the_documented_ones(api):
    rel = relation(api)
    fine = sale_body(api, "S1", rel, as_text=False) | {"description": "d" * 50,
                                                        "entryNumber": "e" * 50}
    assert api.post("/v1/mutation", json=fine).status_code == 201
    for field in ("description", "entryNumber"):
        body = sale_body(api, "S2", rel, as_text=False) | {field: "x" * 51}
        response = api.post("/v1/mutation", json=body).json()
        assert (response["code"], response["propertyName"]) == ("ERR_002", field)


def test_invoice_limits_are_the_documented_ones(api):
    rel = relation(api)
    templates = api.get("/v1/invoicetemplate").json()["items"]
    body = invoice_body(api, "F1", rel, False, templates)
    item = body["items"][0]
    body["items"] = [item] * 500
    body["text"] = "t" * 35_000
    body["mutation"]["description"] = "d" * 200
    assert api.post("/v1/invoice", json=body).status_code == 201
    for change, code in ((dict(items=[item] * 501, invoiceNumber="F2"), "FACT_025"),
                         (dict(text="t" * 35_001, invoiceNumber="F3"), "FACT_017"),
                         (dict(mutation={**body["mutation"], "description": "d" * 201},
                               invoiceNumber="F4"), "FACT_VERWERK_002")):
        response = api.post("/v1/invoice", json={**body, **change})
        assert (response.status_code, response.json()["code"]) == (400, code)


def test_creates_answer_201_and_patch_204_without_a_body(api):
    rel = relation(api, code="K1")
    response = api.patch(f"/v1/relation/{rel}", json={"city": "Utrecht", "termOfPayment": "30"})
    assert (response.status_code, response.content) == (204, b"")
    shown = api.get(f"/v1/relation/{rel}").json()
    assert (shown["city"], shown["termOfPayment"], shown["name"]) == ("Utrecht", 30, "Jan")
    center = api.post("/v1/costcenter", json={"description": "Winkel"})
    assert center.status_code == 201 and center.json()["active"] is True
    assert api.patch(f"/v1/costcenter/{center.json()['id']}",
                     json={"description": "Webwinkel"}).status_code == 204


def test_patching_a_relation_checks_what_it_is_given(api):
    first = relation(api, code="K1")
    second = relation(api, code="K2")
    assert api.patch(f"/v1/relation/{second}", json={"code": "k1"}).json()["code"] == "REL_049"
    assert api.patch(f"/v1/relation/{second}", json={"name": ""}).json()["code"] == "REL_002"
    assert api.patch(f"/v1/relation/{first}", json={"code": "K1"}).status_code == 204
    missing = api.patch("/v1/relation/1", json={"city": "X"})
    assert (missing.status_code, missing.json()["code"]) == (404, "REL_055")


def test_texts_the_client_left_out_are_empty_strings_not_null(api):
    shown = api.get(f"/v1/relation/{relation(api)}").json()
    for field in ("address", "city", "emailAddress", "note", "vatNumber", "iban",
                  "companyRegistrationNumber", "freeText1", "gender"):
        assert shown[field] == "", field
    assert shown["termOfPayment"] is None and shown["ledgerId"] is None


def test_ledger_balances_follow_the_bookings_and_sum_to_zero(api):
    rel = relation(api)
    api.post("/v1/mutation", json=sale_body(api, "S1", rel, as_text=False))
    payment = {"type": 3, "date": "2025-03-20", "ledgerId": ledger(api, "1100"),
               "relationId": rel, "invoiceNumber": "S1", "inExVat": "EX",
               "rows": [{"ledgerId": ledger(api, "1300"), "vatCode": "GEEN", "amount": 100,
                         "invoiceNumber": "S1", "relationId": rel}]}
    assert api.post("/v1/mutation", json=payment).status_code == 201

    page = api.get("/v1/ledger/balances", params={"limit": 2000}).json()
    balances = {item["code"]: Decimal(str(item["balance"])) for item in page["items"]}
    assert sum(balances.values()) == 0
    assert balances["1300"] == Decimal("31.90")          # 131.90 sold, 100 paid
    assert balances["1100"] == Decimal("100")
    assert balances["8000"] == Decimal("-100") and balances["8001"] == Decimal("-10")
    assert balances["1400"] == Decimal("-21") and balances["1410"] == Decimal("-0.90")
    one = api.get(f"/v1/ledger/{ledger(api, '1300')}/balance",
                  params={"from": "2025-03-01", "to": "2025-03-15"}).json()
    assert one == {"code": "1300", "type": "DEB", "balance": 131.9}


def test_balances_too_slow_without_a_period_is_ledg_020(api):
    api.post("/v1/mutation", json=sale_body(api, "S1", relation(api), as_text=False))
    assert api.post("/__sandbox/options", json={"balances_limit": 0}).status_code == 200
    response = api.get("/v1/ledger/balances")
    assert (response.status_code, response.json()["code"]) == (400, "LEDG_020")
    assert api.get("/v1/ledger/balances", params={"from": "2025-01-01"}).status_code == 200


def test_cost_centres_nest_and_are_checked(api):
    parent = api.post("/v1/costcenter", json={"description": "Inkoop"}).json()["id"]
    child = api.post("/v1/costcenter", json={"description": "Voorraad",
                                             "parentId": str(parent)}).json()["id"]
    shown = api.get(f"/v1/costcenter/{child}").json()
    assert (shown["parentId"], shown["fullPath"]) == (parent, "Inkoop>Voorraad")
    assert [c["id"] for c in api.get("/v1/costcenter",
                                     params={"parentId": parent}).json()["items"]] == [child]
    for body, code in (({"description": "voorraad", "parentId": parent}, "COST_005"),
                       ({"description": ""}, "COST_003"), ({"description": "x" * 51}, "COST_004"),
                       ({"description": "Los", "parentId": 1}, "COST_008")):
        assert api.post("/v1/costcenter", json=body).json()["code"] == code
    assert api.patch(f"/v1/costcenter/{child}", json={"parentId": None}).json()["code"] == \
        "COST_006"
    assert api.get("/v1/costcenter/1").json()["code"] == "COST_001"

    body = sale_body(api, "S1", relation(api), as_text=False)
    body["rows"][0]["costCenterId"] = 1
    assert api.post("/v1/mutation", json=body).json()["code"] == "MUT_117"
    body["rows"][0]["costCenterId"] = child
    assert api.post("/v1/mutation", json=body).status_code == 201


def test_negative_invoice_lines_are_accepted_unless_the_fake_is_told_to_refuse_them(api):
    rel = relation(api)
    templates = api.get("/v1/invoicetemplate").json()["items"]
    body = invoice_body(api, "F1", rel, False, templates)
    discount = {**body["items"][0], "description": "Korting", "quantity": 1,
                "pricePerUnit": -5, "discountAmount": None}
    body["items"].append(discount)
    assert api.post("/v1/invoice", json=body).status_code == 201

    api.post("/__sandbox/options", json={"min_item_total": 0})
    refused = api.post("/v1/invoice", json={**body, "invoiceNumber": "F2"})
    assert (refused.status_code, refused.json()["code"]) == (400, "FACT_ITEM_009")
    assert refused.json()["propertyName"] == "items[1].pricePerUnit"

    api.post("/__sandbox/options", json={"min_item_total": None, "min_invoice_total": 0})
    credit = {**body, "invoiceNumber": "F3",
              "items": [{**discount, "pricePerUnit": -50}]}
    assert api.post("/v1/invoice", json=credit).json()["code"] == "FACT_005"
    assert api.post("/v1/invoice", json={**body, "invoiceNumber": "F4"}).status_code == 201
    assert api.post("/__sandbox/options", json={"refuse_everything": 1}).status_code == 400
