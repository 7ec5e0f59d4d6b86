"""Mutations (R7.1, R8.2): code -> id resolution, validation mapped, MUT_019, open items."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from application.errors import DuplicateError, RejectedError

from .conftest import payment, sale


@pytest.fixture
def jan(fake):
    return fake.relation("Jan Jansen", emailAddress="jan@example.nl")


def test_sale_is_booked_with_ledger_ids_and_server_vat(fake, client, jan):
    created = client.create_mutation(sale("WS2025-00042", jan["id"]))

    [booked] = fake.get("mutations")
    assert booked["id"] == created["id"]
    ledgers = {l["code"]: l["id"] for l in fake.get("ledgers")}
    assert booked["ledgerId"] == ledgers["1300"] != 1300
    assert [r["ledgerId"] for r in booked["rows"]] == [ledgers["8000"], ledgers["8001"]]
    assert [r["ledgerCode"] for r in booked["rows"]] == ["8000", "8001"]
    assert booked["type"] == 2 and booked["inExVat"] == "EX"

    detail = client.find_mutation("WS2025-00042")
    assert detail["id"] == created["id"]
    assert detail["vat"] == [{"vatCode": "HOOG_VERK_21", "amount": Decimal("8.4")},
                             {"vatCode": "LAAG_VERK_9", "amount": Decimal("1.35")}]
    assert isinstance(detail["rows"][0]["amount"], Decimal)


def test_ledger_codes_are_fetched_once_per_client(fake, client, jan):
    client.create_mutation(sale("WS1", jan["id"]))
    client.create_mutation(sale("WS2", jan["id"]))
    client.create_mutation(payment("WS1", jan["id"], Decimal("64.75")))

    queries = sorted(r["query"] for r in fake.requests("GET", "/v1/ledger"))
    assert queries == sorted(f"code={c}&limit=10" for c in ("1300", "8000", "8001", "1100"))


def test_ledger_added_through_control_is_resolved(fake, client, jan):
    [added] = fake.post("ledgers", {"code": "8500", "description": "Omzet cadeaubonnen",
                                    "category": "VW"})
    rows = [{"ledgerId": "8500", "vatCode": "GEEN", "amount": Decimal("25"),
             "description": "Cadeaubon"}]
    client.create_mutation(sale("WS3", jan["id"], rows=rows))
    assert fake.get("mutations")[0]["rows"][0]["ledgerId"] == added["id"]


def test_unknown_ledger_code_is_rejected_before_anything_is_sent(fake, client, jan):
    rows = [{"ledgerId": "8999", "vatCode": "HOOG_VERK_21", "amount": Decimal("10"),
             "description": "x"}]
    with pytest.raises(RejectedError) as caught:
        client.create_mutation(sale("WS4", jan["id"], rows=rows))
    assert "8999" in caught.value.message
    assert fake.requests("POST", "/v1/mutation") == [] and fake.get("mutations") == []


def _row(ledger="8000", vat="HOOG_VERK_21", amount="10.00"):
    return {"ledgerId": ledger, "vatCode": vat, "amount": Decimal(amount), "description": "x"}


@pytest.mark.parametrize("overrides, code, words", [
    ({"rows": [_row(vat="VAT_OSS")]}, "MUT_109", "VAT code"),
    ({"rows": [_row(vat="HOOG_INK_21")]}, "MUT_111", "sales VAT code"),
    ({"ledgerId": "8000"}, "MUT_011", "debtors account"),
    ({"rows": [_row(ledger="1100")]}, "MUT_106", "revenue account"),
    ({"rows": [_row(), _row(amount="-5.00")], "type": 7, "termOfPayment": None},
     "MUT_118", "not in balance"),
    ({"rows": []}, "MUT_100", "Rows are missing"),
    ({"invoiceNumber": ""}, "MUT_002", "invoice number is missing"),
    ({"inExVat": "INCL"}, "MUT_017", "IN"),
])
def test_mutation_validation_is_mapped_to_merchant_messages(fake, client, jan, overrides,
                                                             code, words):
    with pytest.raises(RejectedError) as caught:
        client.create_mutation(sale("WS5", jan["id"], **overrides))
    error = caught.value
    assert error.code == code
    assert not isinstance(error, DuplicateError)
    assert words in error.message and f"e-Boekhouden {code}" in error.message
    assert error.detail["code"] == code and error.detail["status"] == 400
    assert fake.get("mutations") == []


def test_duplicate_sales_number_is_a_duplicate_error(fake, client, jan):
    client.create_mutation(sale("WS2025-00042", jan["id"]))
    with pytest.raises(DuplicateError) as caught:
        client.create_mutation(sale("ws2025-00042", jan["id"]))
    assert caught.value.code == "MUT_019"
    assert "ws2025-00042" in caught.value.message
    assert len(fake.get("mutations")) == 1


def test_find_mutation_ignores_payments_and_unknown_numbers(fake, client, jan):
    assert client.find_mutation("WS9") is None
    client.create_mutation(sale("WS9", jan["id"]))
    paid = client.create_mutation(payment("WS9", jan["id"], Decimal("64.75")))
    found = client.find_mutation("WS9")
    assert found["type"] == 2 and found["id"] != paid["id"]


def test_two_threads_same_number_book_exactly_once(served):
    """The race of I1 on a real threaded server: one booking, one MUT_019."""
    relation = served.relation()
    client = served.client()
    client.ledger_id("1300"), client.ledger_id("8000"), client.ledger_id("8001")
    for round_ in range(5):
        number = f"RACE-{round_}"
        barrier = threading.Barrier(2)
        outcomes: list = []

        def post():
            barrier.wait()
            try:
                outcomes.append(client.create_mutation(sale(number, relation["id"])))
            except DuplicateError as exc:
                outcomes.append(exc)

        threads = [threading.Thread(target=post) for _ in range(2)]
        [t.start() for t in threads]
        [t.join(10) for t in threads]
        assert sorted(type(o).__name__ for o in outcomes) == ["DuplicateError", "dict"]
    numbers = [m["invoiceNumber"] for m in served.get("mutations")]
    assert sorted(numbers) == [f"RACE-{i}" for i in range(5)]
    client.close()


def test_payment_reduces_the_open_item(fake, client, jan):
    client.create_mutation(sale("WS2025-00042", jan["id"]))

    item = client.find_outstanding("WS2025-00042")
    assert item["totalAmount"] == Decimal("64.75") == item["outstandingAmount"]
    assert item["paidAmount"] == 0 and item["relationId"] == jan["id"]
    assert isinstance(item["paidAmount"], Decimal)

    client.create_mutation(payment("WS2025-00042", jan["id"], Decimal("20.00")))
    item = client.find_outstanding("WS2025-00042")
    assert (item["paidAmount"], item["outstandingAmount"]) == (Decimal("20"), Decimal("44.75"))

    client.create_mutation(payment("WS2025-00042", jan["id"], Decimal("44.75")))
    assert client.find_outstanding("WS2025-00042") is None  # settled items leave the list
    assert [m["type"] for m in fake.get("mutations")] == [2, 3, 3]


def test_sale_including_vat_opens_the_gross_amount(client, jan):
    rows = [_row(amount="48.40"), _row(ledger="8001", vat="LAAG_VERK_9", amount="16.35")]
    client.create_mutation(sale("WS10", jan["id"], inExVat="IN", rows=rows))
    assert client.find_outstanding("WS10")["outstandingAmount"] == Decimal("64.75")
    assert client.find_mutation("WS10")["vat"] == [
        {"vatCode": "HOOG_VERK_21", "amount": Decimal("8.4")},
        {"vatCode": "LAAG_VERK_9", "amount": Decimal("1.35")}]


@pytest.mark.parametrize("mutate, code", [
    (lambda b: b.update(invoiceNumber="NOPE", rows=[dict(b["rows"][0], invoiceNumber="NOPE")]),
     "MUT_115"),
    (lambda b: b["rows"][0].update(invoiceNumber=""), "MUT_120"),
    (lambda b: b.update(ledgerId="1300"), "MUT_009"),  # a payment arrives on a FIN account
    (lambda b: b["rows"][0].update(vatCode="HOOG_VERK_21"), "MUT_109"),
])
def test_payment_validation(fake, client, jan, mutate, code):
    client.create_mutation(sale("WS11", jan["id"]))
    body = payment("WS11", jan["id"], Decimal("64.75"))
    mutate(body)
    with pytest.raises(RejectedError) as caught:
        client.create_mutation(body)
    assert caught.value.code == code
    assert len(fake.get("mutations")) == 1


def test_payment_of_another_relations_invoice_is_not_found(fake, client, jan):
    piet = fake.relation("Piet")
    client.create_mutation(sale("WS12", jan["id"]))
    with pytest.raises(RejectedError) as caught:
        client.create_mutation(payment("WS12", piet["id"], Decimal("64.75")))
    assert caught.value.code == "MUT_115" and "WS12" in caught.value.message
