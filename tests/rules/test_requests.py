"""R7: the ledger requests, with account codes in every ledgerId."""

from __future__ import annotations

from decimal import Decimal

from domain.billit import credited_candidates, credited_order_number, order_request
from domain.booking import build_booking
from domain.eboekhouden import sale_request

from .conftest import customer, invoice, make_settings, order, row

D = Decimal


def _booking(settings, **fields):
    bundle = order([row("Koffiemok wit", "10.89", 2, 21, number="MOK-01"),
                    row("Koffiebonen", "8.72", 1, 9, number="BON-500")],
                   total_price="35.45", total_tax="5.36", total_shipping="4.95", **fields)
    return build_booking(bundle, settings)


def test_r7_1_mutation(settings):
    request = sale_request(_booking(settings), settings, 68216339)
    assert (request["method"], request["path"]) == ("POST", "/v1/mutation")
    assert request["body"] == {
        "type": "2", "date": "2026-03-14", "ledgerId": "1300", "relationId": 68216339,
        "invoiceNumber": "1042", "termOfPayment": 14, "description": "1042 - ideal",
        "inExVat": "IN",
        "rows": [
            {"ledgerId": "8000", "vatCode": "HOOG_VERK_21", "amount": D("21.78"),
             "description": "Koffiemok wit"},
            {"ledgerId": "8001", "vatCode": "LAAG_VERK_9", "amount": D("8.72"),
             "description": "Koffiebonen"},
            {"ledgerId": "8010", "vatCode": "HOOG_VERK_21", "amount": D("4.95"),
             "description": "Shipping costs"}]}


def test_r7_1_excl_prices_are_sent_incl_so_the_ledger_total_is_the_shops_and_description_limit():
    prefix = "WEBSHOP-AMSTERDAM-CENTRUM-EN-OMSTREKEN-"   # 39 characters
    settings = make_settings(replace={'number_prefix = ""': f'number_prefix = "{prefix}"'})
    bundle = order([row("Pen", "3.33", 3, 21)], total_price="9.99", total_tax="2.10",
                   incl=False, paymethod="Cadeaubon", paymethod_label="")
    body = sale_request(build_booking(bundle, settings), settings, None)["body"]
    # 3 x 3.33 excl. = 9.99 + 2.10 VAT: sent as the 12.09 the customer pays (R7.1: IN always)
    assert body["inExVat"] == "IN" and body["rows"][0]["amount"] == D("12.09")
    assert body["invoiceNumber"] == prefix + "1042"
    # "<number> - <payment method>" is 53 characters: cut to e-Boekhouden's 50
    assert body["description"] == f"{prefix}1042 - defa"
    assert len(body["description"]) == 50


def test_r7_2_invoice_minimal():
    settings = make_settings(replace={'document = "mutation"': 'document = "invoice"'})
    request = sale_request(_booking(settings), settings, 5)
    body = request["body"]
    assert request["path"] == "/v1/invoice"
    assert body["templateId"] == "Invoice template" and body["relationId"] == 5
    assert "invoiceNumber" not in body and "mutation" not in body
    # 21.78 for 2 pieces -> 2 x 10.89; no product code unless posting to products
    assert body["items"][0] == {"quantity": D("2"), "description": "Koffiemok wit",
                                "pricePerUnit": D("10.89"), "vatCode": "HOOG_VERK_21",
                                "ledgerId": "8000"}
    assert body["items"][2]["quantity"] == 1 and body["items"][2]["pricePerUnit"] == D("4.95")


def test_r7_2_invoice_all_options():
    settings = make_settings(replace={
        'document = "mutation"': 'document = "invoice"\ninvoice_number = "shop"\n'
                                 'book_invoice = true\npost_to_products = true\n'
                                 'invoice_template = "Webshop"'})
    body = sale_request(_booking(settings), settings, 5)["body"]
    assert body["invoiceNumber"] == "1042" and body["templateId"] == "Webshop"
    assert body["mutation"]["ledgerId"] == "1300"
    assert body["items"][0]["code"] == "MOK-01" and "code" not in body["items"][2]


def test_r7_2_unit_price_that_does_not_divide_goes_as_one():
    settings = make_settings(replace={'document = "mutation"': 'document = "invoice"'})
    # 3 x 0.333 excl. = 1.00 (0.999 -> 1.00) + 0.21 VAT = 1.21, sent incl. (IN_EX_VAT):
    # 1.21 / 3 is no whole cent, so quantity 1 at 1.21, "3 x" in the description
    bundle = order([row("Clip", "0.333", 3, 21)], total_price="1.00", total_tax="0.21",
                   incl=False)
    item = sale_request(build_booking(bundle, settings), settings, 5)["body"]["items"][0]
    assert (item["quantity"], item["pricePerUnit"], item["description"]) == (
        D("1"), D("1.21"), "3 x Clip")


def test_r7_3_billit_invoice():
    settings = make_settings(replace={'system = "eboekhouden"': 'system = "billit"'},
                             extra='\n[billit]\nparty_id = "1"\npayment_status = "shop"\n')
    bundle = order([row("Koffiemok wit", "10.89", 2, 21, number="MOK-01")],
                   total_price="21.78", total_tax="3.78")
    bundle["order"]["customer"] = customer("NL", delivery_country="DE")
    booking = build_booking(bundle, settings)
    request = order_request(booking, settings, "ext-1")
    body = request["body"]
    assert (request["method"], request["path"]) == ("POST", "/v1/orders")
    assert request["headers"]["Idempotency-Key"] == "ext-1"
    assert body["OrderType"] == "Invoice" and body["OrderDirection"] == "Income"
    assert (body["OrderDate"], body["ExpiryDate"]) == ("2026-03-14", "2026-03-28")
    assert body["OrderTitle"] == body["PaymentReference"] == "1042"
    assert body["ExternalProviderID"] == "ext-1"
    assert body["Paid"] is True and body["PaidDate"] == "2026-03-14"
    assert "Currency" not in body
    party = body["Customer"]
    assert party["Name"] == "Bakkerij De Vries" and party["PartyType"] == "Customer"
    assert [a["AddressType"] for a in party["Addresses"]] == ["InvoiceAddress", "DeliveryAddress"]
    assert party["Addresses"][1]["CountryCode"] == "DE"
    assert body["OrderLines"] == [{"Quantity": D("2"), "Description": "Koffiemok wit",
                                   "UnitPriceIncl": D("10.89"), "InclLeading": True,
                                   "VATPercentage": D("21"), "Reference": "MOK-01"}]


def test_r7_3_billit_payment_status_and_no_oss_split():
    never = make_settings(replace={'system = "eboekhouden"': 'system = "billit"'},
                          extra='\n[billit]\nparty_id = "1"\npayment_status = "never"\n')
    bundle = order([row("Teekanne", "35.70", 1, 19)], total_price="35.70", total_tax="5.70")
    bundle["order"]["customer"] = customer("DE")
    booking = build_booking(bundle, never)
    assert booking.scope == "oss" and len(booking.lines) == 1      # Billit takes the 19%
    body = order_request(booking, never, "x")["body"]
    assert "Paid" not in body and body["OrderLines"][0]["VATPercentage"] == D("19")
    assert "Addresses" in body["Customer"] and len(body["Customer"]["Addresses"]) == 1


def test_r7_3_a_credit_note_names_the_credited_invoice_and_an_invoice_never_does():
    settings = make_settings(replace={'system = "eboekhouden"': 'system = "billit"'},
                             extra='\n[billit]\nparty_id = "1"\npayment_status = "never"\n')
    credit = invoice([row("Koffiemok wit", "10.89", -1, 21)], total_price="-10.89",
                     total_tax="-1.89")
    body = order_request(build_booking(credit, settings), settings, "x", "2026000017")["body"]
    assert body["OrderType"] == "CreditNote" and body["AboutInvoiceNumber"] == "2026000017"
    assert "AboutInvoiceNumber" not in order_request(build_booking(credit, settings), settings,
                                                     "x")["body"]
    sale = order([row("Koffiemok wit", "10.89", 1, 21)], total_price="10.89", total_tax="1.89")
    assert "AboutInvoiceNumber" not in order_request(build_booking(sale, settings), settings,
                                                     "x", "2026000017")["body"]


def test_r7_3_the_credited_invoice_is_the_orders_latest_debit_invoice_before_the_credit():
    assert credited_order_number("invoice", invoice([], total_price=0, total_tax=0)) == "1042"
    assert credited_order_number("order", order([], total_price=0, total_tax=0)) == ""
    invoices = [{"id": 10, "type": "debit"}, {"id": 12, "type": "credit"},
                {"id": 11, "total_price": D("5.00")}, {"id": 13, "type": "debit"},
                {"id": 9, "total_price": D("-2.00")}, {"id": "x"}]
    assert credited_candidates(invoices, 12) == [11, 10]
    assert credited_candidates(invoices, 10) == []
