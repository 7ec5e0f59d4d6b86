"""R7.3: the Billit order (invoice or credit note) for a booking.

Billit computes VAT from ``VATPercentage`` itself, so lines carry the incl. amount as leading
(the shop's gross total then survives Billit's own rounding). A negative document is a
``CreditNote`` with positive amounts, as Billit requires. A credit note about an invoice koppel
booked names it (``AboutInvoiceNumber``, by the number Billit gave it).
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from .booking import Booking
from .customer import Address
from .ledger_lines import quantity_and_price
from .settings import Settings

ORDERS_PATH = "/v1/orders"


def _address(kind: str, name: str, address: Address) -> dict:
    street = address.street or address.address_line_1
    fields = {"AddressType": kind, "Name": name, "Street": street,
              "StreetNumber": address.housenumber if address.street else "",
              "Box": address.housenumber_suffix if address.street else "",
              "Zipcode": address.zipcode, "City": address.city,
              "CountryCode": address.country_code}
    return {key: value for key, value in fields.items() if value}


def customer_party(booking: Booking) -> dict:
    customer = booking.customer
    party = {"Name": customer.name, "ContactFirstName": customer.first_name,
             "ContactLastName": customer.last_name, "Email": customer.email,
             "Phone": customer.phone, "VATNumber": customer.btw}
    party = {key: value for key, value in party.items() if value}
    party["PartyType"] = "Customer"
    addresses = [_address("InvoiceAddress", customer.name, customer.billing)]
    if customer.delivery != customer.billing:
        addresses.append(_address("DeliveryAddress",
                                  customer.delivery.name or customer.name, customer.delivery))
    party["Addresses"] = addresses
    return party


def _paid(booking: Booking, settings: Settings) -> bool:
    status = settings.billit.payment_status if settings.billit else "shop"
    if status == "always":
        return True
    if status == "never":
        return False
    return bool(booking.paid)  # "shop": the order's paid flag at processing time


def credited_order_number(kind: str, source: dict) -> str:
    """R7.3: the order a credit invoice belongs to (its ``ordernumber_full``); the invoice it
    credits is a debit invoice of that same order. Empty for anything but an invoice."""
    head = source.get("invoice") if kind == "invoice" else None
    if not isinstance(head, dict):
        return ""
    return str(head.get("ordernumber_full") or head.get("ordernumber") or "").strip()


def credited_candidates(invoices: list[dict], credit_shop_id: int) -> list[int]:
    """R7.3: the shop ids of the order's debit invoices made before the credit invoice, the
    latest first: the credit invoice is about the last invoice before it."""
    debit = []
    for invoice in invoices:
        try:
            shop_id = int(invoice.get("id"))
        except (TypeError, ValueError):
            continue
        kind = str(invoice.get("type") or "").lower()
        total = invoice.get("total_price")
        is_debit = kind == "debit" or (not kind and total is not None
                                           and Decimal(str(total)) > 0)
        if is_debit and shop_id < int(credit_shop_id):  # the shop numbers ids in order
            debit.append(shop_id)
    return sorted(debit, reverse=True)


def order_request(booking: Booking, settings: Settings, external_id: str,
                  about_invoice_number: str | None = None) -> dict:
    """R7.3; ``about_invoice_number``: Billit's number of the invoice a credit note credits,
    when koppel booked that invoice (sent only on a credit note)."""
    credit = booking.total_incl < 0
    sign = -1 if credit else 1
    order_lines = []
    for line in booking.lines:
        shown = replace(line, quantity=abs(line.quantity)) if credit else line
        quantity, price, description = quantity_and_price(shown, line.amount_incl * sign)
        order_line = {"Quantity": quantity, "Description": description[:512],
                      "UnitPriceIncl": price, "InclLeading": True,
                      "VATPercentage": line.vat_rate}
        if line.code:
            order_line["Reference"] = line.code
            if settings.ledger.post_to_products:
                order_line["ProductID"] = line.code  # the connector resolves code -> id
        order_lines.append(order_line)
    body: dict = {
        "OrderType": "CreditNote" if credit else "Invoice",
        "OrderDirection": "Income",
        "OrderDate": booking.date.isoformat(),
        "ExpiryDate": (booking.date + timedelta(days=settings.ledger.payment_term_days)).isoformat(),
        "OrderTitle": booking.number,
        "PaymentReference": booking.number,
        "ExternalProviderID": external_id,
        "Customer": customer_party(booking),
        "OrderLines": order_lines,
    }
    if credit and about_invoice_number:
        body["AboutInvoiceNumber"] = about_invoice_number
    if _paid(booking, settings):
        body["Paid"] = True
        body["PaidDate"] = booking.date.isoformat()
    if settings.other_currencies_enabled():
        body["Currency"] = booking.currency
    return {"method": "POST", "path": ORDERS_PATH,
            "headers": {"Idempotency-Key": external_id}, "body": body}


def _open_item(body: dict) -> dict:
    """A correction's part is never marked paid: the payment stays with the posted order, and
    the reversal and the new booking are two open items that settle each other."""
    return {key: value for key, value in body.items() if key not in ("Paid", "PaidDate")}


def order_reversal(posted: dict, number: str, external_id: str,
                   about_invoice_number: str | None) -> dict:
    """R7.3 reversed: the posted order's lines as they were sent (amounts positive, as Billit
    requires), as a ``CreditNote`` naming the posted invoice (``AboutInvoiceNumber``: the number
    Billit gave it); the reversal of a credit note is an ``Invoice``. ``number`` is its
    ``OrderTitle`` and ``PaymentReference`` (where R7.3 puts the shop number; Billit numbers the
    order itself), ``external_id`` its ``ExternalProviderID`` and ``Idempotency-Key``."""
    body = _open_item(deepcopy(posted["body"]))
    reverses_invoice = body["OrderType"] != "CreditNote"
    body["OrderType"] = "CreditNote" if reverses_invoice else "Invoice"
    body["OrderTitle"] = body["PaymentReference"] = number
    body["ExternalProviderID"] = external_id
    body.pop("AboutInvoiceNumber", None)
    if reverses_invoice and about_invoice_number:
        body["AboutInvoiceNumber"] = about_invoice_number
    return {"method": "POST", "path": ORDERS_PATH,
            "headers": {"Idempotency-Key": external_id}, "body": body}


def order_rebooking(request: dict) -> dict:
    """R7.3 for a correction's new booking: the order as the settings make it, an open item
    (see ``_open_item``)."""
    return {**request, "body": _open_item(request["body"])}
