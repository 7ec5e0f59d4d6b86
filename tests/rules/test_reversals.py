"""The reversal of each kind of posted ledger request (issue 13.2 correction bookings): R7.1 a
mutation with its amounts negated, R7.2 a credit invoice, R7.3 a Billit credit note naming the
invoice. Built from the posted request alone, under the correction's own number."""

from __future__ import annotations

from decimal import Decimal

from domain.billit import order_rebooking, order_request, order_reversal
from domain.booking import build_booking
from domain.correction import correction_number, part_external_id
from domain.eboekhouden import invoice_reversal, mutation_reversal, sale_request

from .conftest import invoice, make_settings, order, row

D = Decimal
BILLIT = {'system = "eboekhouden"': 'system = "billit"'}
PAID = '\n[billit]\nparty_id = "1"\npayment_status = "always"\n'


def _bundle():
    return order([row("Koffiemok wit", "10.89", 2, 21, number="MOK-01"),
                  row("Koffiebonen", "8.72", 1, 9, number="BON-500")],
                 total_price="35.45", total_tax="5.36", total_shipping="4.95")


def test_the_correction_numbers_end_in_a_digit_and_differ_per_part_and_version():
    assert correction_number("1042", "reversal", 3) == "1042-R3"
    assert correction_number("1042", "rebooking", 3) == "1042-C3"
    assert part_external_id("x", "reversal") != part_external_id("x", "rebooking")
    assert part_external_id("x", "reversal") == part_external_id("x", "reversal")


def test_r7_1_reversal_negates_every_row():
    settings = make_settings()
    posted = sale_request(build_booking(_bundle(), settings), settings, 7)
    reversal = mutation_reversal(posted, "1042-R3")
    body = reversal["body"]
    assert reversal["path"] == "/v1/mutation" and body["invoiceNumber"] == "1042-R3"
    assert [r["amount"] for r in body["rows"]] == [-r["amount"] for r in posted["body"]["rows"]]
    assert [r["ledgerId"] for r in body["rows"]] == [r["ledgerId"] for r in posted["body"]["rows"]]
    assert posted["body"]["invoiceNumber"] == "1042"  # the posted request is left as it was


def test_r7_2_reversal_is_a_credit_invoice_with_negative_quantities():
    settings = make_settings(replace={
        'document = "mutation"': 'document = "invoice"\ninvoice_number = "shop"\n'
                                 'book_invoice = true'})
    posted = sale_request(build_booking(_bundle(), settings), settings, 5)
    body = invoice_reversal(posted, "1042-R3")["body"]
    assert body["invoiceNumber"] == body["reference"] == "1042-R3"
    assert body["mutation"]["paymentReference"] == "1042-R3"
    assert body["mutation"]["checkPaymentReference"] is True
    for sent, reversed_ in zip(posted["body"]["items"], body["items"]):
        assert reversed_["quantity"] == -sent["quantity"] < 0
        assert (reversed_["pricePerUnit"], reversed_["vatCode"], reversed_["ledgerId"]) == (
            sent["pricePerUnit"], sent["vatCode"], sent["ledgerId"])
    assert posted["body"]["items"][0]["quantity"] == D("2")  # not changed in place


def test_r7_2_reversal_when_the_ledger_numbers_is_found_by_its_reference():
    settings = make_settings(replace={'document = "mutation"': 'document = "invoice"'})
    posted = sale_request(build_booking(_bundle(), settings), settings, 5)
    body = invoice_reversal(posted, "1042-R3")["body"]
    assert "invoiceNumber" not in body and body["reference"] == "1042-R3"


def test_r7_3_reversal_of_an_invoice_is_a_credit_note_naming_it_unpaid():
    settings = make_settings(replace=BILLIT, extra=PAID)
    posted = order_request(build_booking(_bundle(), settings), settings, "doc-1")
    assert posted["body"]["Paid"] is True
    reversal = order_reversal(posted, "1042-R3", "part-r", "2026000017")
    body = reversal["body"]
    assert body["OrderType"] == "CreditNote" and body["AboutInvoiceNumber"] == "2026000017"
    assert body["OrderTitle"] == body["PaymentReference"] == "1042-R3"
    assert body["ExternalProviderID"] == reversal["headers"]["Idempotency-Key"] == "part-r"
    assert "Paid" not in body and "PaidDate" not in body
    assert body["OrderLines"] == posted["body"]["OrderLines"]  # positive, as sent (R7.3)
    assert all(line["UnitPriceIncl"] > 0 for line in body["OrderLines"])


def test_r7_3_reversal_of_a_credit_note_is_an_invoice_naming_nothing():
    settings = make_settings(replace=BILLIT, extra=PAID)
    credit = invoice([row("Koffiemok wit", "10.89", -1, 21)], total_price="-10.89",
                     total_tax="-1.89")
    posted = order_request(build_booking(credit, settings), settings, "doc-2", "2026000017")
    body = order_reversal(posted, "C1-R3", "part-r", "CN2026000002")["body"]
    assert body["OrderType"] == "Invoice" and "AboutInvoiceNumber" not in body


def test_r7_3_a_new_booking_is_an_open_item():
    settings = make_settings(replace=BILLIT, extra=PAID)
    request = order_request(build_booking(_bundle(), settings), settings, "part-c")
    rebooking = order_rebooking(request)
    assert "Paid" not in rebooking["body"] and rebooking["headers"] == request["headers"]
    assert request["body"]["Paid"] is True  # not changed in place
