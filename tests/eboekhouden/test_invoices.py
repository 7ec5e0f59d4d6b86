"""Invoices (R7.2): template by name, ledger codes in items and in the booking, FACT_101."""

from __future__ import annotations

from decimal import Decimal

import pytest

from application.errors import DuplicateError, RejectedError

from .conftest import API_TOKEN


def invoice(relation_id: int, **overrides) -> dict:
    body = {
        "relationId": relation_id, "date": "2025-03-14", "termOfPayment": 14,
        "templateId": "Invoice template", "inExVat": "EX", "invoiceNumber": "WS2025-00042",
        "items": [
            {"quantity": Decimal("2"), "description": "T-shirt", "pricePerUnit": Decimal("20"),
             "vatCode": "HOOG_VERK_21", "ledgerId": "8000"},
            {"quantity": Decimal("1"), "description": "Boek", "pricePerUnit": Decimal("15.00"),
             "vatCode": "LAAG_VERK_9", "ledgerId": "8001"},
        ],
        "mutation": {"ledgerId": "1300", "description": "Order 100042"},
    }
    body.update(overrides)
    return body


def test_invoice_is_created_with_template_and_ledger_ids_and_booked(fake, client):
    relation = fake.relation()
    created = client.create_invoice(invoice(relation["id"]))

    assert created["invoiceNumber"] == "WS2025-00042" and created["inExVat"] == "EX"
    [stored] = fake.get("invoices")
    template = next(t for t in fake.control.get("/v1/invoicetemplate", headers={
        "Authorization": _session(fake)}).json()["items"] if t["name"] == "Invoice template")
    assert stored["templateId"] == template["id"]
    assert [i["ledgerCode"] for i in stored["items"]] == ["8000", "8001"]
    assert stored["totalExcl"] == 55.0 and stored["vatAmount"] == 9.75
    assert stored["totalAmount"] == 64.75

    [booking] = fake.get("mutations")  # the nested mutation booked it on the debtors account
    assert booking["ledgerCode"] == "1300" and booking["invoiceNumber"] == "WS2025-00042"
    assert client.find_outstanding("WS2025-00042")["outstandingAmount"] == Decimal("64.75")
    assert client.find_invoice("WS2025-00042")["id"] == created["id"]
    assert client.find_invoice("WS2025-00043") is None


def _session(fake) -> str:
    return fake.control.post("/v1/session", json={"accessToken": API_TOKEN,
                                                  "source": "test"}).json()["token"]


def test_template_list_is_fetched_once(fake, client):
    relation = fake.relation()
    client.create_invoice(invoice(relation["id"], invoiceNumber="A1"))
    client.create_invoice(invoice(relation["id"], invoiceNumber="A2"))
    assert len(fake.requests("GET", "/v1/invoicetemplate")) == 1
    assert len(fake.requests("GET", "/v1/ledger")) == 3


def test_duplicate_invoice_number_is_a_duplicate_error(fake, client):
    relation = fake.relation()
    client.create_invoice(invoice(relation["id"]))
    with pytest.raises(DuplicateError) as caught:
        client.create_invoice(invoice(relation["id"], mutation=None))
    assert caught.value.code == "FACT_101" and "WS2025-00042" in caught.value.message
    assert len(fake.get("invoices")) == 1


def test_unknown_template_is_rejected_before_posting(fake, client):
    relation = fake.relation()
    with pytest.raises(RejectedError) as caught:
        client.create_invoice(invoice(relation["id"], templateId="Does not exist"))
    assert caught.value.code == "FACT_018" and "Does not exist" in caught.value.message
    assert fake.requests("POST", "/v1/invoice") == []


def test_ledger_numbers_the_invoice_when_no_number_is_sent(fake, client):
    relation = fake.relation()
    body = invoice(relation["id"], mutation=None)
    del body["invoiceNumber"]
    created = client.create_invoice(body)
    assert created["invoiceNumber"][-1].isdigit()
    assert fake.get("mutations") == []  # no mutation object: a concept, no open item
    assert client.find_outstanding(created["invoiceNumber"]) is None


@pytest.mark.parametrize("overrides, code", [
    ({"invoiceNumber": "WS-ABC"}, "FACT_009"),
    ({"items": []}, "FACT_019"),
    ({"relationId": 999}, "FACT_002"),
    ({"mutation": {"ledgerId": "8000"}}, "MUT_011"),
])
def test_invoice_validation(fake, client, overrides, code):
    relation = fake.relation()
    body = invoice(relation["id"])
    body.update(overrides)
    with pytest.raises(RejectedError) as caught:
        client.create_invoice(body)
    assert caught.value.code == code
    assert fake.get("invoices") == [] and fake.get("mutations") == []


def test_booked_invoice_number_then_mutation_is_mut_019(fake, client):
    relation = fake.relation()
    client.create_invoice(invoice(relation["id"]))
    body = {"type": 2, "date": "2025-03-14", "ledgerId": "1300", "relationId": relation["id"],
            "invoiceNumber": "WS2025-00042", "inExVat": "EX",
            "rows": [{"ledgerId": "8000", "vatCode": "HOOG_VERK_21", "amount": Decimal(1)}]}
    with pytest.raises(DuplicateError):
        client.create_mutation(body)


def test_a_refused_negative_line_says_what_to_do_in_dutch_and_english(fake, client):
    fake.post("options", {"min_item_total": 0})
    relation = fake.relation()
    body = invoice(relation["id"])
    body["items"].append({"quantity": Decimal("1"), "description": "Korting WELKOM10",
                          "pricePerUnit": Decimal("-5.50"), "vatCode": "HOOG_VERK_21",
                          "ledgerId": "8400"})
    with pytest.raises(RejectedError) as caught:
        client.create_invoice(body)
    error = caught.value
    assert error.code == "FACT_ITEM_009"
    assert error.message_nl.startswith("e-Boekhouden weigert een factuurregel met een negatief")
    assert error.message.startswith("e-Boekhouden refuses an invoice line with a negative")
    assert error.message.endswith("(e-Boekhouden FACT_ITEM_009 at items[2].pricePerUnit)")
    assert error.message_nl.endswith("(e-Boekhouden FACT_ITEM_009 bij items[2].pricePerUnit)")


def test_a_code_without_words_of_its_own_shows_the_title_in_both_languages(fake, client):
    relation = fake.relation()
    with pytest.raises(RejectedError) as caught:
        client.create_invoice(invoice(relation["id"], text="t" * 35_001))
    assert caught.value.code == "FACT_017"  # in the table: Dutch of its own
    assert "factuurtekst" in caught.value.message_nl
    fake.post("options", {"min_item_total": None})
    with pytest.raises(RejectedError) as caught:
        client.create_invoice(invoice(relation["id"], inExVat="XX"))
    assert caught.value.code == "FACT_010"
    assert caught.value.message_nl.startswith("e-Boekhouden weigerde het verzoek: Invoice VAT")
    assert caught.value.message.startswith("e-Boekhouden refused the request: Invoice VAT")
