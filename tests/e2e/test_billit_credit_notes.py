"""R7.3: a credit note about an invoice koppel booked in Billit names that invoice
(``AboutInvoiceNumber``, by the number Billit gave it), and only then: Billit refuses a number
it does not know (TheAboutInvoiceNumberCouldNotBeFound, tests/billit)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sandbox.ccvshop import dumps, seed_items
from sandbox.generator import generate
from tests.harness import Harness

INVOICES_MODE = {'process = "paid_orders"': 'process = "invoices"'}


@pytest.fixture
def billit(sqlite_url):
    h = Harness(sqlite_url, ledger="billit")
    h.change_settings(**INVOICES_MODE)
    yield h
    h.close()


def _item(scope: str, seed: int) -> dict:
    return next(i for i in generate(40, seed, failing_share=0, unpaid_share=0, scopes={scope})
                if i["kind"] == "invoice" and i["expect"]["outcome"] == "posted")


def _process(h: Harness, shop_id: int):
    doc_id = h.runtime.processing.intake(h.connection.id, "invoice", shop_id, "test")
    h.runtime.processing.process(doc_id)
    return h.runtime.app.document(doc_id)


def _credit_of(h: Harness, debit: dict, debit_item: dict, seed: int, number: int) -> int:
    """A credit invoice of the same order as ``debit`` (same order link and order number)."""
    credit = _item("credit", seed)
    order = debit_item["order"]
    invoice = {**credit["invoice"], "invoicenumber": number, "invoicenumber_full": f"C{number}",
               "ordernumber": order["ordernumber"], "ordernumber_full": order["ordernumber_full"]}
    response = h.shop.post("/__sandbox/invoices", content=dumps(
        {"invoice": invoice, "invoicerows": credit["invoicerows"],
         "order_id": debit["order_id"], "notify": False}),
        headers={"content-type": "application/json"})
    response.raise_for_status()
    return response.json()["id"]


def _orders(h: Harness) -> list[dict]:
    return h.billit.get("/__sandbox/orders").json()


def test_a_credit_note_names_the_invoice_koppel_booked(billit):
    debit_item = _item("invoice", 5)
    [debit] = seed_items(billit.shop, [debit_item], notify=False)
    original = _process(billit, debit["id"])
    assert original.status == "posted", original.failure
    [booked] = _orders(billit)

    credit = _process(billit, _credit_of(billit, debit, debit_item, seed=6, number=8801))
    assert credit.status == "posted", credit.failure
    note = next(o for o in _orders(billit) if o["OrderType"] == "CreditNote")
    assert note["AboutInvoiceNumber"] == booked["OrderNumber"]
    assert note["Received"]["body"]["AboutInvoiceNumber"] == booked["OrderNumber"]
    assert Decimal(str(note["TotalIncl"])) == -Decimal(credit.booking["total_incl"])


def test_a_credit_note_about_an_invoice_koppel_did_not_book_stands_alone(billit):
    debit_item = _item("invoice", 7)
    [debit] = seed_items(billit.shop, [debit_item], notify=False)  # never processed
    credit = _process(billit, _credit_of(billit, debit, debit_item, seed=8, number=8802))
    assert credit.status == "posted", credit.failure
    [note] = _orders(billit)
    assert note["OrderType"] == "CreditNote" and note["AboutInvoiceNumber"] is None


def test_a_credit_note_about_an_invoice_deleted_in_billit_stands_alone(billit):
    debit_item = _item("invoice", 9)
    [debit] = seed_items(billit.shop, [debit_item], notify=False)
    assert _process(billit, debit["id"]).status == "posted"
    [booked] = _orders(billit)
    # The merchant deleted the invoice in Billit after koppel booked it.
    deleted = billit.billit.delete(f"/v1/orders/{booked['OrderID']}",
                                   headers={"ApiKey": "demo-billit-key"})
    assert deleted.status_code == 200, deleted.text
    credit = _process(billit, _credit_of(billit, debit, debit_item, seed=10, number=8803))
    # Billit no longer shows the invoice: koppel cannot name it, and sends the note alone.
    assert credit.status == "posted", credit.failure
    assert [o["AboutInvoiceNumber"] for o in _orders(billit)] == [None]


@pytest.mark.parametrize("threads", [1, 4])
def test_a_billit_copy_names_the_replayed_invoice_on_its_credit_note(sqlite_url, threads):
    """R7.3 in a further ledger: the connection books into e-Boekhouden, a copy goes to
    Billit; the replayed credit note names the invoice by the number Billit gave *that
    replay's* booking of it. The replay sends a chunk's documents at once (``threads``), so the
    credit note may come before its invoice is in Billit: the invoice is booked first."""
    from datetime import datetime, timezone

    from domain.ledger_target import Purpose
    from tests.harness import test_settings

    h = Harness(sqlite_url)  # e-Boekhouden
    try:
        h.change_settings(**INVOICES_MODE)
        debit_item = _item("invoice", 5)
        [debit] = seed_items(h.shop, [debit_item], notify=False)
        original = _process(h, debit["id"])
        credit = _process(h, _credit_of(h, debit, debit_item, seed=6, number=8801))
        assert (original.status, credit.status) == ("posted", "posted"), credit.failure
        replays = h.runtime.replays
        target = replays.add(h.connection.id, "Billit",
                             test_settings(h.shop_url, "billit", **INVOICES_MODE),
                             datetime(2020, 1, 1, tzinfo=timezone.utc), Purpose.COPY,
                             by="test")
        assert replays.run(target.id, threads=threads).state == "finished"
        orders = _orders(h)
        assert sorted(o["ExternalProviderID"] for o in orders) == sorted(
            str(replays.find_posting(target.id, i).id) for i in (original.id, credit.id))
        [invoice] = [o for o in orders if o["OrderType"] != "CreditNote"]
        [note] = [o for o in orders if o["OrderType"] == "CreditNote"]
        assert invoice["OrderNumber"] and note["AboutInvoiceNumber"] == invoice["OrderNumber"]
        assert note["Received"]["body"]["AboutInvoiceNumber"] == invoice["OrderNumber"]
        assert replays.find_posting(target.id, original.id).reference["id"] == invoice["OrderID"]
    finally:
        h.close()


def test_a_credit_note_followed_into_billit_first_books_its_invoice_there(sqlite_url):
    """``follow`` of the credit note before its invoice reached the copy (a worker's order):
    the invoice is booked into Billit first, once, and named; following it later adds
    nothing."""
    from datetime import datetime, timezone

    from domain.ledger_target import Purpose
    from tests.harness import test_settings

    h = Harness(sqlite_url)
    try:
        h.change_settings(**INVOICES_MODE)
        debit_item = _item("invoice", 11)
        [debit] = seed_items(h.shop, [debit_item], notify=False)
        replays = h.runtime.replays
        target = replays.add(h.connection.id, "Billit",
                             test_settings(h.shop_url, "billit", **INVOICES_MODE),
                             datetime(2020, 1, 1, tzinfo=timezone.utc), Purpose.COPY,
                             by="test")  # nothing to replay yet: it follows
        original = _process(h, debit["id"])
        credit = _process(h, _credit_of(h, debit, debit_item, seed=12, number=8804))
        assert (original.status, credit.status) == ("posted", "posted"), credit.failure
        assert replays.follow(credit.id) == [(target.id, "posted")]
        assert replays.follow(original.id) == [(target.id, "posted")]
        orders = _orders(h)
        assert len(orders) == 2
        [invoice] = [o for o in orders if o["OrderType"] != "CreditNote"]
        [note] = [o for o in orders if o["OrderType"] == "CreditNote"]
        assert note["AboutInvoiceNumber"] == invoice["OrderNumber"]
        assert invoice["OrderID"] < note["OrderID"]  # booked before its credit note
    finally:
        h.close()
