"""R7.2: what the real e-Boekhouden may refuse in invoice mode, and what the merchant then sees.

Whether the invoicing module takes negative lines (a discount) or a negative total (a credit
invoice) is not documented (FACT_ITEM_009, FACT_005); the fake is told to refuse them here."""

from __future__ import annotations

import pytest

from domain.booking import Booking
from sandbox.generator import generate
from tests.harness import Harness

INVOICE_DOCUMENT = {'document = "mutation"': 'document = "invoice"'}


@pytest.fixture
def h(sqlite_url):
    harness = Harness(sqlite_url)
    harness.change_settings(**INVOICE_DOCUMENT)
    yield harness
    harness.close()


def _process(h: Harness, item: dict):
    if item["kind"] == "order":
        shop_id, kind = h.put_order(item)["id"], "order"
    else:
        shop_id, kind = h.put_invoice(item)["id"], "invoice"
    doc_id = h.runtime.processing.intake(h.connection.id, kind, shop_id, "test")
    h.runtime.processing.process(doc_id)
    return h.runtime.app.document(doc_id)


def _discounted_order(seed: int) -> dict:
    """A domestic order with a coupon: its booking carries negative discount lines (R4.5)."""
    for item in generate(60, seed, failing_share=0, unpaid_share=0, scopes={"domestic"}):
        if item["kind"] == "order" and "coupon" in item["features"] and \
                item["expect"]["outcome"] == "posted":
            return item
    raise AssertionError("the generator made no order with a coupon")


def test_a_refused_discount_line_lands_in_errors_saying_what_to_do(h):
    item = _discounted_order(seed=21)
    h.ledger.post("/__sandbox/options", json={"min_item_total": 0}).raise_for_status()
    document = _process(h, item)
    booking = Booking.from_dict(document.booking)
    assert any(line.amount_incl < 0 for line in booking.lines)

    assert document.status == "failed"
    failure = document.failure
    assert (failure["code"], failure["rule"], failure["stage"]) == ("FACT_ITEM_009", "R7.2",
                                                                    "ledger")
    assert "korting" in failure["message_nl"] and 'ledger.document = "mutation"' in \
        failure["message_nl"]
    assert "discount" in failure["message_en"] and 'ledger.document = "mutation"' in \
        failure["message_en"]
    assert failure["message_nl"] != failure["message_en"]
    assert h.ledger.get("/__sandbox/invoices").json() == []
    [row] = [r for r in h.rows() if r["number"] == document.number]
    assert row["failure_code"] == "FACT_ITEM_009" and row["failure_message_nl"] == \
        failure["message_nl"]


def test_the_same_discount_posts_when_the_ledger_takes_negative_lines(h):
    document = _process(h, _discounted_order(seed=21))
    assert document.status == "posted"
    [invoice] = h.ledger.get("/__sandbox/invoices").json()
    assert any(item["lineTotal"] < 0 for item in invoice["items"])


def test_a_refused_credit_invoice_lands_in_errors_saying_what_to_do(h):
    h.change_settings(**INVOICE_DOCUMENT, **{'process = "paid_orders"': 'process = "invoices"'})
    h.ledger.post("/__sandbox/options", json={"min_invoice_total": 0}).raise_for_status()
    credit = next(i for i in generate(30, 4, failing_share=0, unpaid_share=0,
                                      scopes={"credit"}) if i["expect"]["outcome"] == "posted")
    document = _process(h, credit)
    assert document.status == "failed" and document.failure["code"] == "FACT_005"
    assert "creditfactuur" in document.failure["message_nl"]
    assert "credit invoice" in document.failure["message_en"]
