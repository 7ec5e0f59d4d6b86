"""Builders for the rule tests: a shop document in the API's own shape, and settings.

Documents are written the way the CCV Shop API sends them (ccvshop-api.md §3) with only the
fields a test cares about overridden, so each test shows the numbers it is about.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path

import pytest

from application.settings import load_settings_text
from domain.money import format_amount, format_number

EXAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "spec" / "examples"
CASES = Path(__file__).resolve().parent / "cases"

SETTINGS_TOML = """
name = "Testwinkel"

[shop]
platform = "ccvshop"
api_root = "https://test.ccvshop.nl"
public_key = "env:CCV_PUBLIC"
secret = "env:CCV_SECRET"
home_country = "NL"
timezone = "Europe/Amsterdam"
process = "paid_orders"
number_prefix = ""

[ledger]
system = "eboekhouden"
document = "mutation"
api_token = "env:EBOEKHOUDEN_TOKEN"
debtors_account = "1300"
payment_term_days = 14

[rounding]
tolerance = "0.02"
account = "8090"

[[vat]]
rate = "21"
vat_code = "HOOG_VERK_21"
revenue_account = "8000"
shipping_account = "8010"
payment_costs_account = "8020"

[[vat]]
rate = "9"
vat_code = "LAAG_VERK_9"
revenue_account = "8001"

[[vat]]
rate = "0"
vat_code = "GEEN"
revenue_account = "8002"

[icp]
vat_code = "BI_EU_VERK"
revenue_account = "8100"

[international]
vat_code = "BU_EU_VERK"
revenue_account = "8200"

[oss.DE]
vat_code = "VAT_OSS"
vat_account = "1665"
revenue_account = "8300"

[payment_methods.ideal]
account = "1100"

[payment_methods.paypal]
account = "1110"
fixed_debtor = "PAYPAL"

[payment_methods.default]
account = "1100"

[payments]
enabled = true
without_open_item = false
"""


def make_settings(extra: str = "", replace: dict[str, str] | None = None):
    text = SETTINGS_TOML
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    return load_settings_text(text + extra)


@pytest.fixture
def settings():
    return make_settings()


def D(text: str) -> Decimal:
    return Decimal(text)


def customer(country: str = "NL", *, company: str = "Bakkerij De Vries", first: str = "Sanne",
             last: str = "de Vries", btw: str = "", delivery_country: str | None = None) -> dict:
    billing = {"first_name": first, "last_name": last, "full_name": f"{first} {last}".strip(),
               "company": company, "address_line_1": "Kerkstraat 12", "address_line_2": "",
               "street": "Kerkstraat", "housenumber": 12, "housenumber_suffix": "",
               "zipcode": "3511AB", "city": "Utrecht", "telephone": "0301234567",
               "mobile": "", "country": "Nederland", "country_code": country}
    delivery = {"full_name": "", "company": "", "address_line_1": "", "address_line_2": "",
                "street": "", "housenumber": None, "housenumber_suffix": "", "zipcode": "",
                "city": "", "telephone": "", "mobile": "", "country": "", "country_code": None}
    if delivery_country:
        delivery.update({"full_name": "Magazijn", "street": "Hauptstrasse", "housenumber": 5,
                         "zipcode": "10115", "city": "Berlin", "country": "Duitsland",
                         "country_code": delivery_country})
    return {"billingaddress": billing, "deliveryaddress": delivery,
            "email": "sanne@bakkerijdevries.nl", "customertype": "b2b", "btw": btw,
            "kvk": "12345678"}


def row(name: str, price, count=1, tax=21, *, undiscounted=None, number: str = "",
        sub_number: str = "") -> dict:
    """An order row; ``price`` is ``selling_price`` (after the row discount)."""
    price = Decimal(str(price))
    undiscounted = price if undiscounted is None else Decimal(str(undiscounted))
    return {"product_type": "product", "product_name": name,
            "product_number": number or name[:3].upper(), "sub_product_number": sub_number,
            "count": count, "price": undiscounted, "discount": undiscounted - price,
            "tax": tax, "selling_price": price, "original_price": price,
            "price_without_discount": undiscounted,
            "price_without_discount_with_attributes": undiscounted,
            "price_with_attributes": price, "total_price": price * count}


def order(rows: list[dict], *, total_price, total_tax, incl: bool = True, **fields) -> dict:
    """An order bundle (R1.1) with the rows given as a page object, as the API pages them."""
    head = {
        "id": 4101, "ordernumber": 1042, "ordernumber_full": "1042",
        "transaction_id": "tr_1", "create_date": "2026-03-14T09:31:07Z", "paid": True,
        "paymethod_id": 12, "paymethod": "Ideal", "paymethod_label": "iDEAL",
        "taxes_included": incl, "order_row_taxes_included": incl,
        "shipping_taxes_included": incl, "shipping_tax_percentage": 21,
        "is_intra_community_order": False, "total_shipping": 0, "total_discounts": 0,
        "total_price": Decimal(str(total_price)), "currency": "EUR",
        "total_tax": Decimal(str(total_tax)), "extra_payment_option_price": 0,
        "paymethod_costs": 0, "credit_point_discount": 0, "extra_costs": 0,
        "extra_costs_description": "", "customer": customer(),
    }
    head.update(fields)
    return {"order": head, "orderrows": {"start": 0, "size": len(rows), "next": None,
                                        "items": copy.deepcopy(rows)}}


def invoice(rows: list[dict], *, total_price, total_tax, incl: bool = True, linked=None,
            **fields) -> dict:
    """An invoice bundle (R1.2): invoice field names, no payment fields, optional order."""
    head = {
        "id": 98765432, "invoicenumber": 7, "invoicenumber_full": "F-2026-7",
        "ordernumber": 1042, "ordernumber_full": "1042",
        "create_date": "2026-03-14T09:33:12Z", "type": "credit",
        "taxes_included": incl, "invoice_row_taxes_included": incl,
        "shipping_taxes_included": incl, "shipping_tax_percentage": 21,
        "is_intra_community_order": False, "total_shipping": 0, "total_discounts": 0,
        "total_price": Decimal(str(total_price)), "total_tax": Decimal(str(total_tax)),
        "currency": "EUR", "extra_payment_option_price": 0, "paymethod_costs": 0,
        "credit_point_discount": 0, "extra_costs": 0, "extra_costs_description": "",
        "customer": customer(),
        "order": "https://test.ccvshop.nl/api/rest/v1/orders/4101" if linked else None,
    }
    head.update(fields)
    return {"invoice": head, "invoicerows": copy.deepcopy(rows), "order": linked}


def brief(lines) -> list[tuple]:
    """Lines as ``(kind, account, vat_code, rate, excl, vat, incl)`` strings, for exact asserts."""
    return [(line.kind, line.account, line.vat_code, format_number(line.vat_rate),
             format_amount(line.amount_excl), format_amount(line.vat_amount),
             format_amount(line.amount_incl)) for line in lines]


def failed(booking) -> list[str]:
    return [check.code for check in booking.failed_checks]


@pytest.fixture
def spec_examples():
    """The spec's worked examples live beside the repository (``../shared``, as in CI); a clone
    on its own has no spec to check against, and says so."""
    for path in (EXAMPLES, EXAMPLES.parent / "settings.md"):
        if not path.exists():
            pytest.skip(f"the spec's {path} is absent: clone next to shared/ to check it")
    return EXAMPLES
