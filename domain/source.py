"""R1: the shop's own JSON (an order or an invoice bundle) -> one typed source document.

Everything the rules read goes through here, so the manual's names that do not exist in the
real API (R1.3) are translated in exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

from .customer import Address, Customer
from .money import NotANumber, to_decimal
from .vat import normalise_rate


class DocumentError(ValueError):
    """The bundle is not a shop document the rules can read (names the field)."""


@dataclass(frozen=True)
class SourceRow:
    """One order row or invoice row (R4.1), fields already picked for the document kind."""
    description: str
    code: str
    count: Decimal
    price: Decimal                 # orders: selling_price; invoices: price_with_attributes
    tax: Decimal                   # normalised (R0.2)
    row_discount: Decimal          # per row, price_without_discount(...) - price, times count


@dataclass(frozen=True)
class SourceDocument:
    kind: str                      # "order" | "invoice"
    shop_id: str
    number: str                    # R2.1
    created: datetime              # UTC
    currency: str
    taxes_included: bool
    row_taxes_included: bool
    shipping_taxes_included: bool  # R4.2: the precise flag, else the row flag
    shipping_tax_percentage: Decimal
    is_icp: bool
    total_price: Decimal
    total_tax: Decimal
    total_discounts: Decimal
    total_shipping: Decimal
    payment_costs: Decimal         # paymethod_costs + extra_payment_option_price (R4.3)
    extra_costs: Decimal
    extra_costs_description: str
    credit_point_discount: Decimal
    total_price_inc_tax: Decimal | None   # invoices only: a cross-check (R2.3)
    total_price_exc_tax: Decimal | None
    paymethod: str
    paymethod_label: str
    paid: bool | None
    transaction_id: str
    customer: Customer
    country: str                   # R1.4
    rows: tuple[SourceRow, ...]


def _text(value: object) -> str:
    if value is None:
        return ""
    return str(value).strip()


def _number(record: dict, key: str, where: str, default: Decimal | None = Decimal(0)) -> Decimal:
    try:
        return to_decimal(record.get(key), default)
    except NotANumber as exc:
        raise DocumentError(f"{where}.{key}: not a number ({exc})") from None


def _items(rows: object, where: str) -> list[dict]:
    """Rows arrive as the page object (``{"items": [...]}``) or as the list of items."""
    if rows is None:
        return []
    if isinstance(rows, dict):
        rows = rows.get("items", [])
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise DocumentError(f"{where}: expected a list of rows or a page with 'items'")
    return rows


def _address(data: object) -> Address:
    if not isinstance(data, dict):
        return Address()
    return Address(
        name=_text(data.get("full_name")),
        company=_text(data.get("company")),
        street=_text(data.get("street")),
        housenumber=_text(data.get("housenumber")),
        housenumber_suffix=_text(data.get("housenumber_suffix")),
        address_line_1=_text(data.get("address_line_1")),
        address_line_2=_text(data.get("address_line_2")),
        zipcode=_text(data.get("zipcode")),
        city=_text(data.get("city")),
        country=_text(data.get("country")),
        country_code=_text(data.get("country_code")).upper(),
    )


def read_customer(data: object) -> Customer:
    """R1.3: btw, email and kvk sit on ``customer``; an all-empty delivery address means
    "same as billing"."""
    data = data if isinstance(data, dict) else {}
    raw_billing = data.get("billingaddress") if isinstance(data.get("billingaddress"), dict) else {}
    billing = _address(raw_billing)
    delivery = _address(data.get("deliveryaddress"))
    if delivery.is_empty:
        delivery = billing
    return Customer(
        company=billing.company,
        first_name=_text(raw_billing.get("first_name")),
        last_name=_text(raw_billing.get("last_name")),
        email=_text(data.get("email")),
        phone=_text(raw_billing.get("telephone")) or _text(raw_billing.get("mobile")),
        btw=_text(data.get("btw")).replace(" ", ""),
        kvk=_text(data.get("kvk")),
        billing=billing,
        delivery=delivery,
    )


def _created(value: object, where: str) -> datetime:
    text = _text(value)
    if not text:
        raise DocumentError(f"{where}.create_date: missing")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise DocumentError(f"{where}.create_date: not a date-time ({text!r})") from None
    if moment.tzinfo is None:  # the API writes UTC (R0.4)
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _row(raw: dict, kind: str, where: str) -> SourceRow:
    # R4.1: the unit price field differs per kind; the manual's invoice discount subtracts a
    # field from itself, so the invoice pair below is the evident intent.
    if kind == "order":
        price_key, undiscounted_key = "selling_price", "price_without_discount"
    else:
        price_key, undiscounted_key = "price_with_attributes", "price_without_discount_with_attributes"
    price = _number(raw, price_key, where)
    count = _number(raw, "count", where, Decimal(1))
    undiscounted = _number(raw, undiscounted_key, where, price)
    code = _text(raw.get("sub_product_number")) or _text(raw.get("product_number"))
    return SourceRow(
        description=_text(raw.get("product_name")),
        code=code,
        count=count,
        price=price,
        tax=normalise_rate(_number(raw, "tax", where)),
        row_discount=(undiscounted - price) * count,
    )


def _flag(record: dict, key: str, default: bool | None) -> bool | None:
    value = record.get(key)
    return default if value is None else bool(value)


def read_source(bundle: object) -> SourceDocument:
    """R1.1/R1.2: ``{"order", "orderrows"}`` or ``{"invoice", "invoicerows", "order"}``."""
    if not isinstance(bundle, dict):
        raise DocumentError("the document must be a JSON object with 'order' or 'invoice'")
    if isinstance(bundle.get("invoice"), dict):
        kind, head = "invoice", bundle["invoice"]
        rows = _items(bundle.get("invoicerows"), "invoicerows")
        linked = bundle.get("order") if isinstance(bundle.get("order"), dict) else {}
        number = _text(head.get("invoicenumber_full")) or _text(head.get("invoicenumber"))
        row_flag_key = "invoice_row_taxes_included"
        payer = linked  # R1.2: invoices carry no payment method, paid or transaction id
    elif isinstance(bundle.get("order"), dict):
        kind, head = "order", bundle["order"]
        rows = _items(bundle.get("orderrows"), "orderrows")
        number = _text(head.get("ordernumber_full")) or _text(head.get("ordernumber"))
        row_flag_key = "order_row_taxes_included"
        payer = head
    else:
        raise DocumentError("the document has neither 'order' nor 'invoice' (an object)")

    where = kind
    number = number or _text(head.get("id"))
    if not number:
        raise DocumentError(f"{where}: no number (ordernumber_full / invoicenumber_full) and no id")
    taxes_included = bool(head.get("taxes_included", True))
    row_flag = _flag(head, row_flag_key, taxes_included)
    customer = read_customer(head.get("customer"))
    country = customer.delivery.country_code or customer.billing.country_code  # R1.4
    paid = payer.get("paid") if payer else None
    transaction_id = _text(payer.get("transaction_id")) if payer else ""
    if kind == "invoice" and not transaction_id:
        transaction_id = number  # R8.1: invoices fall back to the invoice number

    return SourceDocument(
        kind=kind,
        shop_id=_text(head.get("id")),
        number=number,
        created=_created(head.get("create_date"), where),
        currency=_text(head.get("currency")).upper() or "EUR",
        taxes_included=taxes_included,
        row_taxes_included=bool(row_flag),
        shipping_taxes_included=bool(_flag(head, "shipping_taxes_included", row_flag)),
        shipping_tax_percentage=normalise_rate(_number(head, "shipping_tax_percentage", where)),
        is_icp=bool(head.get("is_intra_community_order")),
        total_price=_number(head, "total_price", where, None),
        total_tax=_number(head, "total_tax", where),
        total_discounts=_number(head, "total_discounts", where),
        total_shipping=_number(head, "total_shipping", where),
        payment_costs=_number(head, "paymethod_costs", where)
        + _number(head, "extra_payment_option_price", where),
        extra_costs=_number(head, "extra_costs", where),
        extra_costs_description=_text(head.get("extra_costs_description")),
        credit_point_discount=_number(head, "credit_point_discount", where),
        total_price_inc_tax=_number(head, "total_price_inc_tax", where, None)
        if head.get("total_price_inc_tax") is not None else None,
        total_price_exc_tax=_number(head, "total_price_exc_tax", where, None)
        if head.get("total_price_exc_tax") is not None else None,
        paymethod=_text(payer.get("paymethod")) if payer else "",
        paymethod_label=_text(payer.get("paymethod_label")) if payer else "",
        paid=None if paid is None else bool(paid),
        transaction_id=transaction_id,
        customer=customer,
        country=country,
        rows=tuple(_row(raw, kind, f"{kind}rows[{i}]") for i, raw in enumerate(rows)),
    )
