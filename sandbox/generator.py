"""Realistic CCV Shop documents for the demo, the end-to-end tests and the benchmarks.

``generate(count, seed)`` returns items of the shape::

    {"kind": "order", "order": <GET /orders/{id}>, "orderrows": [<row>, ...],
     "expect": {"outcome": "posted"|"failed"|"open", "check": <code>|None,
                "scope": "domestic"|"icp"|"international"|"oss", "country": "NL"},
     "features": ["shipping", "coupon", "coupon_only", ...]}

and for ``kind == "invoice"`` also ``"invoice"`` and ``"invoicerows"`` (``order``/``orderrows``
are then the linked order, a paid domestic order that passes every check; ``expect`` is about
the invoice). Amounts are what a reader with ``parse_float=Decimal`` gets from the wire: whole
numbers as ``int``, others as ``Decimal`` (``35.7``, not ``35.70``). Send them with
``sandbox.ccvshop.dumps`` (``to_json``), never with a plain ``json.dumps``.

Every expectation holds BY CONSTRUCTION for the demo settings: home NL; VAT rates 21, 9 and 0
mapped; ``[icp]``, ``[international]``, ``[oss.DE]`` and ``[oss.FR]`` configured; process
``paid_orders``; EUR only. Each failing document breaks exactly one check and nothing else;
every total is computed the way the rules of ``mapping.md`` read it back (R0.3, R4), with
``Decimal`` and ``ROUND_HALF_UP`` to cents, so a passing document never needs a rounding line.
``total_discounts`` holds the row discounts and the coupon, or (feature ``coupon_only``) the
coupon only: the real API does not say which, and the rules read both (R4.5).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

from sandbox.ccvshop import dumps as to_json  # noqa: F401  (re-exported for callers)

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
ROOT = "https://demo.ccvshop.nl/api/rest/v1"

# Scenario names accepted by ``scopes``: the passing kinds of document.
SCENARIOS = ("domestic", "be", "icp", "international", "oss", "invoice", "credit")
_WEIGHTS = {"domestic": 34, "be": 10, "icp": 12, "international": 9, "oss": 15, "invoice": 12,
            "credit": 8}
# Each deliberate failure and the scenario it is built on.
FAILURES = {
    "ICP_VAT_NUMBER_INVALID": "icp",
    "VAT_CODE_MISSING": "domestic",
    "INTERNATIONAL_WITH_VAT": "international",
    "CURRENCY_NOT_ENABLED": "domestic",
    "CUSTOMER_NAME_MISSING": "domestic",
}
ORDER_SCENARIOS = ("domestic", "be", "icp", "international", "oss")
COUPON_ONLY_MINIMUM = Decimal("0.05")

# -- reference data ----------------------------------------------------------------------

# (name, product number, price incl. 21/9/0% in NL, NL rate)
PRODUCTS = [
    ("Koffiemok wit", "MOK-01", "12.10", 21),
    ("Espressomachine Duo", "ESP-9", "399.00", 21),
    ("Melkopschuimer", "MLK-2", "34.95", 21),
    ("Fietsbel Ø 55 mm", "BEL-55", "7.49", 21),
    ("Theeglas met hengsel", "GLS-3", "3.99", 21),
    ("Koffiebonen 500 g", "BON-500", "8.72", 9),
    ("Thee Earl Grey 100 g", "THE-EG", "4.95", 9),
    ("Kookboek Smaak van Zuid", "BK-77", "24.99", 9),
    ("Stroopwafels crème brûlée", "SW-CB", "3.29", 9),
    ("Statiegeld krat", "DEP-KR", "3.90", 0),
    ("Statiegeld fles", "DEP-FL", "0.15", 0),
]
PAYMETHODS = [  # (paymethod_id, paymethod, paymethod_label, costs or None)
    (12, "Ideal", "iDEAL", None),
    (14, "PayPal", "PayPal", "0.35"),
    (3, "BankTransfer", "Vooraf overmaken", None),
    (21, "CreditCard", "Creditcard", "0.50"),
    (25, "MisterCash", "Bancontact", None),
    (30, "AfterPay", "Achteraf betalen", "1.95"),
]
COUNTRY_NAMES = {"NL": "Nederland", "BE": "België", "DE": "Duitsland", "FR": "Frankrijk",
                 "US": "Verenigde Staten", "CH": "Zwitserland", "NO": "Noorwegen",
                 "GB": "Verenigd Koninkrijk", "JP": "Japan"}
OSS_RATES = {"DE": 19, "FR": 20}
PEOPLE = {
    "NL": [("Sanne", "de Vries"), ("Zoë", "van Dijk"), ("Daan", "Jansen"), ("Anaïs", "Bakker"),
           ("Jürgen", "Smit"), ("伟", "李"), ("Søren", "Østergaard"), ("Renée", "Mulder")],
    "BE": [("Lotte", "Peeters"), ("Élodie", "Dubois"), ("Wout", "Van Damme"),
           ("Maëlle", "Claes")],
    "DE": [("Jonas", "Becker"), ("Jürgen", "Müller"), ("Lena", "Schröder"), ("Björn", "Weiß")],
    "FR": [("Anaïs", "Lefèvre"), ("Théo", "Moreau"), ("Chloé", "Girard"), ("Zoé", "Françoise")],
    "US": [("Emily", "Johnson"), ("Noah", "García")],
    "CH": [("Luca", "Brunner"), ("Léa", "Meier")],
    "NO": [("Ingrid", "Søberg"), ("Håkon", "Dahl")],
    "GB": [("Oliver", "Smith"), ("Siobhán", "O'Neill")],
    "JP": [("Haruto", "Sato"), ("結衣", "鈴木")],
}
COMPANIES = {
    "NL": ["Bakkerij De Vries", "Café Zoë", "李记 Aziatische Toko", "Fietsenmakerij Ünal",
           "Brouwerij 't Kölsch"],
    "BE": ["Brasserie Clé d'Or BV", "Chocolaterie Ø Gent", "Koffiebranderij Peeters"],
    "DE": ["Müller & Söhne GmbH", "Kaffeehaus Grün GmbH"],
    "FR": ["Épicerie Lefèvre SARL", "Café Zéphyr SAS"],
    "US": ["Brooklyn Beans LLC"], "CH": ["Kaffee Zürich AG"], "NO": ["Bønner AS"],
    "GB": ["Tea & Toast Ltd"], "JP": ["株式会社コーヒー"],
}
STREETS = {"NL": ("Kerkstraat", "3511AB", "Utrecht"), "BE": ("Rue de la Loi", "1000", "Brussel"),
           "DE": ("Hauptstraße", "10115", "Berlin"), "FR": ("Rue de Rivoli", "75001", "Paris"),
           "US": ("Main Street", "10001", "New York"), "CH": ("Bahnhofstrasse", "8001", "Zürich"),
           "NO": ("Karl Johans gate", "0154", "Oslo"), "GB": ("High Street", "SW1A 1AA", "London"),
           "JP": ("Ginza", "104-0061", "Tōkyō")}


# -- money -------------------------------------------------------------------------------


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def wire(value: Decimal | int) -> Decimal | int:
    """As a ``parse_float=Decimal`` reader gets it back: 590 -> 590, 35.70 -> Decimal('35.7')."""
    value = Decimal(value)
    if value == value.to_integral_value():
        return int(value)
    return value.normalize()


@dataclass
class _Line:
    """One booking line as the rules will read it back; ``amount`` incl. VAT when the
    document's prices include VAT, else excl. VAT."""
    kind: str
    rate: Decimal
    amount: Decimal

    def vat(self, incl: bool) -> Decimal:
        if incl:  # R0.3: the incl. amount is leading
            return self.amount - cents(self.amount / (1 + self.rate / HUNDRED))
        return cents(self.amount * self.rate / HUNDRED)


def _split_discount(residual: Decimal, products: list[_Line]) -> list[_Line]:
    """R4.5: the order discount per VAT rate, in proportion, rounding to the largest rate."""
    basis: dict[Decimal, Decimal] = {}
    for line in products:
        basis[line.rate] = basis.get(line.rate, Decimal(0)) + line.amount
    total = sum(basis.values())
    shares = {rate: cents(residual * amount / total) for rate, amount in basis.items()}
    largest = max(basis, key=lambda rate: (basis[rate], rate))
    shares[largest] += residual - sum(shares.values())
    return [_Line("discount", rate, -share) for rate, share in shares.items() if share]


# -- VAT numbers -------------------------------------------------------------------------


def _digits(rng: random.Random, n: int, first_nonzero: bool = True) -> list[int]:
    out = [rng.randrange(10) for _ in range(n)]
    if first_nonzero and out[0] == 0:
        out[0] = rng.randrange(1, 10)
    return out


def nl_vat(rng: random.Random) -> str:
    """NL + 9 digits (eleven test, weights 9..2 and -1) + B + 2 digits."""
    while True:
        digits = _digits(rng, 8)
        check = sum(d * w for d, w in zip(digits, range(9, 1, -1))) % 11
        if check < 10:
            return f"NL{''.join(map(str, digits))}{check}B{rng.randint(1, 99):02d}"


def be_vat(rng: random.Random, *, valid: bool = True) -> str:
    """BE + 0 + 7 digits + 97 - (first 8 digits mod 97)."""
    base = int("0" + "".join(map(str, _digits(rng, 7))))
    check = 97 - base % 97
    if not valid:
        check = check % 97 + 1  # any other value in 1..97 fails the mod-97 test
    return f"BE{base:08d}{check:02d}"


def de_vat(rng: random.Random, *, valid: bool = True) -> str:
    """DE + 8 digits + ISO 7064 MOD 11,10 check digit."""
    digits = _digits(rng, 8)
    product = 10
    for digit in digits:
        total = (digit + product) % 10 or 10
        product = (2 * total) % 11
    check = (11 - product) % 10
    if not valid:
        check = (check + 1) % 10
    return f"DE{''.join(map(str, digits))}{check}"


def fr_vat(rng: random.Random) -> str:
    """FR + key + SIREN, the SIREN Luhn-valid, key = (12 + 3 * (SIREN mod 97)) mod 97."""
    digits = _digits(rng, 8)
    total = 0
    for i, digit in enumerate(reversed(digits)):  # Luhn: double every second from the right
        doubled = digit * 2 if i % 2 == 0 else digit
        total += doubled - 9 if doubled > 9 else doubled
    siren = int("".join(map(str, digits)) + str((10 - total % 10) % 10))
    return f"FR{(12 + 3 * (siren % 97)) % 97:02d}{siren:09d}"


VALID_VAT = {"NL": nl_vat, "BE": be_vat, "DE": de_vat, "FR": fr_vat}


# -- documents ---------------------------------------------------------------------------


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.clock = datetime(2026, 3, 2, 7, 30, tzinfo=timezone.utc)
        self.order_id = 600000000
        self.row_id = 610000000
        self.invoice_id = 620000000
        self.number = 1000

    def _next_date(self) -> str:
        self.clock += timedelta(minutes=self.rng.randint(3, 240), seconds=self.rng.randint(0, 59))
        return self.clock.strftime("%Y-%m-%dT%H:%M:%SZ")

    # -- customer ----------------------------------------------------------------------

    def customer(self, country: str, *, company: bool, vat: str = "", nameless: bool = False,
                 delivery_country: str | None = None) -> dict:
        rng = self.rng
        first, last = rng.choice(PEOPLE[country])
        firm = rng.choice(COMPANIES[country]) if company else ""
        if nameless:
            first = last = firm = ""
        street, zipcode, city = STREETS[country]
        number = rng.randint(1, 250)
        suffix = rng.choice(["", "", "", "A", "bis", "2"])
        email_name = "".join(c for c in (last or "klant").lower() if c.isascii() and c.isalnum())
        billing = {
            "gender": None, "initials": "", "first_name": first, "last_name": last,
            "full_name": f"{first} {last}".strip() if first or last else "",
            "company": firm,
            "address_line_1": f"{street} {number} {suffix}".strip(), "address_line_2": "",
            "street": street, "housenumber": number, "housenumber_suffix": suffix,
            "zipcode": zipcode, "city": city, "province": "",
            "telephone": f"0{rng.randint(100000000, 999999999)}", "fax": "",
            "mobile": rng.choice(["", f"06{rng.randint(10000000, 99999999)}"]), "comment": "",
            "country": COUNTRY_NAMES[country], "country_code": country,
        }
        delivery = {"gender": None, "initials": "", "full_name": "", "company": "",
                    "address_line_1": "", "address_line_2": "", "street": "",
                    "housenumber": None, "housenumber_suffix": "", "zipcode": "", "city": "",
                    "province": "", "telephone": "", "mobile": "", "comment": "",
                    "country": "", "country_code": None}
        if delivery_country:
            d_street, d_zip, d_city = STREETS[delivery_country]
            delivery.update({"full_name": billing["full_name"], "company": firm,
                             "address_line_1": f"{d_street} {number}", "street": d_street,
                             "housenumber": number, "zipcode": d_zip, "city": d_city,
                             "country": COUNTRY_NAMES[delivery_country],
                             "country_code": delivery_country})
        return {
            "billingaddress": billing, "deliveryaddress": delivery,
            "email": f"{email_name or 'klant'}{rng.randint(1, 9999)}@example.{country.lower()}",
            "customertype": "b2b" if company else "b2c",
            "btw": vat, "kvk": str(rng.randint(10000000, 99999999)) if firm and country == "NL"
            else "",
            "iban": "", "bic": "", "bank": "", "bankaccount": "", "bankname": "", "tenname": "",
            "reference": "", "reservationnumber": "", "costcentre": "", "website": "",
            "branch": "",
        }

    # -- rows --------------------------------------------------------------------------

    def rows(self, *, incl: bool, rate_of, count: int, row_discounts: bool,
             allowed_rates: tuple[int, ...] = (21, 9, 0)) -> list[dict]:
        """Rows as ``{"name", "code", "count", "price", "discount", "tax"}`` in the document's
        terms (incl. or excl. VAT). ``rate_of(nl_rate)`` gives the row's ``tax``."""
        rng = self.rng
        catalogue = [p for p in PRODUCTS if p[3] in allowed_rates]
        picked = rng.sample(catalogue, k=min(count, len(catalogue)))
        out = []
        for name, code, price_nl, nl_rate in picked:
            tax = rate_of(nl_rate)
            net = Decimal(price_nl) / (1 + Decimal(nl_rate) / HUNDRED)
            price = cents(net * (1 + Decimal(tax) / HUNDRED)) if incl else cents(net)
            discount = Decimal(0)
            if row_discounts and rng.random() < 0.5 and price >= 1:
                discount = cents(price * Decimal(rng.choice([5, 10, 15, 25])) / HUNDRED)
            out.append({"name": name, "code": code, "count": rng.choice([1, 1, 1, 2, 3, 6]),
                        "price": price, "discount": discount, "tax": tax})
        return out

    def _row_common(self, row: dict, count: int) -> dict:
        selling = row["price"] - row["discount"]
        self.row_id += 1
        return {
            "id": self.row_id, "product_type": "product",
            "product_name": row["name"], "product_name_google": row["name"].replace(" ", "-"),
            "product_number": row["code"], "sub_product_number": "", "sub_sku_number": "",
            "sub_ean_number": "", "product_id": 845000000 + sum(map(ord, row["code"])),
            "product_href": f"{ROOT}/products/{845000000 + sum(map(ord, row['code']))}",
            "count": count, "price": wire(row["price"]), "product_purchase_price": 0,
            "discount": wire(row["discount"]), "custom_price": False, "tax": wire(row["tax"]),
            "unit": "stuk", "weight": wire(Decimal("0.4")), "memo": "", "package_id": 1664901,
            "package_name": "Kartonnen doos", "stock_location": "", "supplier": "",
            "user_discount": 0, "original_price": wire(selling), "selling_price": wire(selling),
            "price_without_discount": wire(row["price"]),
            "price_without_discount_with_attributes": wire(row["price"]),
            "total_price": wire(selling * count), "total_extra_option_price": 0,
            "price_with_attributes": wire(selling),
            "total_price_with_attributes": wire(selling * count),
            "attributes": [], "uploads": [],
        }

    def orderrow(self, row: dict, order_id: int) -> dict:
        out = self._row_common(row, row["count"])
        out["href"] = f"{ROOT}/orderrows/{out['id']}/"
        out["order_id"] = order_id
        out["parent"] = {"href": f"{ROOT}/orders/{order_id}"}
        return out

    def invoicerow(self, row: dict, invoice_id: int, count: int) -> dict:
        out = self._row_common(row, count)
        out["href"] = f"{ROOT}/invoicerows/{out['id']}/"
        out["invoice_id"] = str(invoice_id)
        out["orderrow"] = {"href": f"{ROOT}/orderrows/{out['id'] - 1}/"}
        out["parent"] = {"href": f"{ROOT}/invoices/{invoice_id}"}
        return out

    # -- totals ------------------------------------------------------------------------

    @staticmethod
    def lines(rows: list[dict], *, zero_rated: bool, sign: int = 1, shipping: Decimal,
              shipping_rate: Decimal, costs: Decimal, costs_rate: Decimal,
              extra: Decimal, credit_points: Decimal, coupon: Decimal) -> list[_Line]:
        """The booking lines R4 will build from the document, in the document's terms."""
        products = [
            _Line("product", Decimal(0) if zero_rated else Decimal(r["tax"]),
                  sign * (r["price"] - r["discount"]) * r["count"])
            for r in rows]
        top = max((line.rate for line in products), default=Decimal(0))
        out = list(products)
        if shipping:
            out.append(_Line("shipping", Decimal(0) if zero_rated else shipping_rate, shipping))
        if costs:
            out.append(_Line("payment_costs", Decimal(0) if zero_rated else costs_rate, costs))
        if extra:
            out.append(_Line("surcharge", top, extra))
        if credit_points:
            out.append(_Line("surcharge", top, -credit_points))
        if coupon:
            out.extend(_split_discount(coupon, products))
        return out


def _paymethod(rng: random.Random, *, costs: bool) -> tuple[int, str, str, Decimal]:
    pid, method, label, price = rng.choice(PAYMETHODS)
    return pid, method, label, Decimal(price) if (costs and price) else Decimal(0)


def _order(b: _Builder, scenario: str, failure: str | None, paid: bool) -> dict:
    """One order item of ``scenario``, broken by ``failure`` when given."""
    rng = b.rng
    features: list[str] = []
    zero_rated = scenario in ("icp", "international")
    country = {"domestic": "NL", "be": "BE", "icp": rng.choice(["BE", "DE", "FR"]),
               "international": rng.choice(["US", "CH", "NO", "GB", "JP"]),
               "oss": rng.choice(["DE", "FR"])}[scenario]
    if failure == "INTERNATIONAL_WITH_VAT":
        zero_rated = False
    company = scenario == "icp" or rng.random() < 0.3
    # ICP and export shops usually quote B2B prices excl. VAT; a zero-rated document with
    # prices incl. VAT would make R4.1 take the row's tax out of the price.
    incl = rng.random() < (0.2 if zero_rated else 0.7)
    if zero_rated:
        if incl:
            rate_of = lambda nl: 0  # noqa: E731
        else:
            rate_of = lambda nl: nl  # noqa: E731  (nominal rate shown, none charged)
    elif scenario == "oss":
        rate_of = lambda nl: OSS_RATES[country]  # noqa: E731
    else:
        rate_of = lambda nl: nl  # noqa: E731
    allowed = (21,) if scenario == "oss" or failure == "INTERNATIONAL_WITH_VAT" else (21, 9, 0)
    rows = b.rows(incl=incl, rate_of=rate_of, count=rng.randint(1, 4), allowed_rates=allowed,
                  row_discounts=rng.random() < 0.3)
    if failure == "VAT_CODE_MISSING":
        rows[0]["tax"] = 6  # no [[vat]] entry maps 6%
        features.append("rate_6")

    # Delivery: sometimes the billing address is elsewhere and the delivery address is filled.
    billing_country, delivery_country = country, None
    if scenario in ("oss", "international") and rng.random() < 0.3:
        billing_country, delivery_country = "NL", country
    vat = ""
    if scenario == "icp":
        if failure == "ICP_VAT_NUMBER_INVALID":
            if rng.random() < 0.25:
                vat, features = "", features + ["vat_missing"]
            else:
                maker = rng.choice([be_vat, de_vat])
                vat, country = maker(rng, valid=False), "BE" if maker is be_vat else "DE"
                billing_country = country
                features.append("vat_invalid")
        else:
            vat = VALID_VAT[country](rng)
    elif company and country in VALID_VAT:
        vat = VALID_VAT[country](rng)  # a company abroad shows its number, VAT still charged
    customer = b.customer(billing_country, company=company, vat=vat,
                          nameless=failure == "CUSTOMER_NAME_MISSING",
                          delivery_country=delivery_country)

    shipping_rate = Decimal(OSS_RATES[country] if scenario == "oss" else 21)
    shipping = Decimal(0)
    if rng.random() < 0.8:
        shipping = Decimal(rng.choice(["4.95", "6.95", "12.50", "0.99"]))
        if not incl:
            shipping = cents(shipping / (1 + shipping_rate / HUNDRED))
    pid, method, label, costs = _paymethod(rng, costs=rng.random() < 0.4)
    if paid is False:
        pid, method, label = 3, "BankTransfer", "Vooraf overmaken"
    extra = Decimal(rng.choice(["2.50", "-1.00", "5.00"])) if rng.random() < 0.12 else Decimal(0)
    credit_points = Decimal(rng.choice(["1.00", "2.50"])) if rng.random() < 0.08 else Decimal(0)
    gross = sum((r["price"] - r["discount"]) * r["count"] for r in rows)
    coupon = Decimal(0)
    if rng.random() < 0.18 and gross > 5:
        coupon = cents(gross * Decimal(rng.choice([5, 10, 15])) / HUNDRED)
    costs_rate = Decimal(OSS_RATES[country] if scenario == "oss" else 21)
    lines = _Builder.lines(rows, zero_rated=zero_rated, shipping=shipping,
                           shipping_rate=shipping_rate, costs=costs, costs_rate=costs_rate,
                           extra=extra, credit_points=credit_points, coupon=coupon)
    total_price = sum(line.amount for line in lines)
    total_tax = sum(line.vat(incl) for line in lines)
    row_discounts = sum(r["discount"] * r["count"] for r in rows)

    b.order_id += 1
    b.number += 1
    order_id = b.order_id
    # The API does not say whether total_discounts includes the row discounts (R4.5): orders
    # with an even number that have both a coupon and row discounts report the coupon only.
    # Both at least 0.05, so only one reading balances within the rounding tolerance.
    coupon_only = (b.number % 2 == 0 and coupon >= COUPON_ONLY_MINIMUM
                   and row_discounts >= COUPON_ONLY_MINIMUM)
    total_discounts = coupon if coupon_only else row_discounts + coupon
    status = rng.choice([1, 2, 5, 6, 7]) if paid else 4
    order = {
        "href": f"{ROOT}/orders/{order_id}/", "id": order_id,
        "ordernumber_prefix": None, "ordernumber": b.number, "ordernumber_full": str(b.number),
        "invoicenumber": b.number if paid else None,
        "transaction_id": f"tr_{rng.getrandbits(40):010x}" if method != "BankTransfer" else None,
        "create_date": b._next_date(), "deliver_method": "shipping" if shipping else "pickup",
        "deliver_date": None, "take_out_window": {"start": None, "end": None},
        "is_platform_sale": False, "orderedinlng": "nl", "status": status, "is_completed": True,
        "paid": paid, "safety_deposit_returned": False,
        "paymethod_id": pid, "paymethod": method, "paymethod_label": label,
        "taxes_included": incl, "order_row_taxes_included": incl,
        "shipping_taxes_included": incl, "shipping_tax_percentage": wire(shipping_rate),
        "is_intra_community_order": scenario == "icp",
        "total_orderrow_price": wire(gross), "total_shipping": wire(shipping),
        "total_discounts": wire(total_discounts), "total_price": wire(total_price),
        "currency": "USD" if failure == "CURRENCY_NOT_ENABLED" else "EUR",
        "total_tax": wire(total_tax), "total_weight": wire(Decimal("0.4") * len(rows)),
        "extra_payment_option": "", "extra_payment_option_price": 0,
        "extra_payment_option_no_sentprice": False, "extra_payment_option_pay_on_pickup": False,
        "extra_price": wire(costs - credit_points), "paymethod_costs": wire(costs),
        "credit_point_discount": wire(credit_points), "extra_costs": wire(extra),
        "extra_costs_description": "Toeslag kleine bestelling" if extra > 0
        else ("Korting vaste klant" if extra else ""),
        "track_and_trace_code": "", "track_and_trace_carrier": None,
        "track_and_trace_deeplink": "", "reservationnumber": "", "delivery_option": None,
        "user": {"id": None, "discount_percentage": 0, "href": None},
        "discountcoupon": {"code": f"WELKOM{rng.randint(10, 99)}" if coupon else "",
                           "discount": wire(coupon), "type": "price" if coupon else "",
                           "enddate": None, "onetimeuse": False, "minimumprice": 0,
                           "givesfreeshipping": False},
        "customer": customer, "pickup_address": None,
        "orderrows": {"href": f"{ROOT}/orders/{order_id}/orderrows/"},
        "invoices": {"href": f"{ROOT}/orders/{order_id}/invoices/"},
    }
    features += _features(lines, rows, incl, customer, coupon, row_discounts)
    if coupon_only:
        features.append("coupon_only")
    scope = scenario if scenario in ("icp", "international", "oss") else "domestic"
    if failure == "INTERNATIONAL_WITH_VAT":
        scope = "domestic"  # R3.2 needs total_tax 0: this one falls through to R3.4
    return {
        "kind": "order", "order": order,
        "orderrows": [b.orderrow(r, order_id) for r in rows],
        "expect": {"outcome": "failed" if failure else ("posted" if paid else "open"),
                   "check": failure, "scope": scope, "country": country},
        "features": sorted(set(features)),
        "_rows": rows, "_lines": lines,
    }


def _features(lines, rows, incl, customer, coupon, row_discounts) -> list[str]:
    out = ["taxes_included" if incl else "taxes_excluded"]
    out += sorted({line.kind for line in lines if line.kind != "discount"})
    out += [f"rate_{wire(line.rate)}" for line in lines if line.kind == "product"]
    if coupon:
        out.append("coupon")
    if row_discounts:
        out.append("row_discount")
    if any(line.amount < 0 for line in lines if line.kind == "surcharge"):
        out.append("negative_surcharge")
    out.append("company" if customer["billingaddress"]["company"] else "consumer")
    text = _names(customer)
    if any(not c.isascii() for c in text):
        out.append("unicode_name")
    if customer["deliveryaddress"]["country_code"]:
        out.append("delivery_address")
    return out


def _names(customer: dict) -> str:
    billing = customer["billingaddress"]
    return f"{billing['first_name']} {billing['last_name']} {billing['company']}"


def _invoice(b: _Builder, credit: bool) -> dict:
    """A debit invoice of a paid domestic order, or a credit invoice for part of it."""
    rng = b.rng
    item = _order(b, "domestic", None, True)
    order, rows = item["order"], item["_rows"]
    incl = order["taxes_included"]
    b.invoice_id += 1
    invoice_id = b.invoice_id
    if credit:
        # [G] A credit invoice returns some rows: negative counts, positive unit prices.
        returned = rng.sample(rows, k=rng.randint(1, len(rows)))
        inv_rows = [{**r, "count": r["count"]} for r in returned]
        sign = -1
        shipping = -Decimal(order["total_shipping"]) if rng.random() < 0.3 else Decimal(0)
        costs = extra = credit_points = coupon = Decimal(0)
    else:
        inv_rows, sign = rows, 1
        shipping = Decimal(order["total_shipping"])
        costs = Decimal(order["paymethod_costs"])
        extra = Decimal(order["extra_costs"])
        credit_points = Decimal(order["credit_point_discount"])
        coupon = Decimal(order["discountcoupon"]["discount"])
    lines = _Builder.lines(inv_rows, zero_rated=False, sign=sign, shipping=shipping,
                           shipping_rate=Decimal(21), costs=costs, costs_rate=Decimal(21),
                           extra=extra, credit_points=credit_points, coupon=coupon)
    total = sum(line.amount for line in lines)
    tax = sum(line.vat(incl) for line in lines)
    row_discounts = sign * sum(r["discount"] * r["count"] for r in inv_rows)
    inc_tax, exc_tax = (total, total - tax) if incl else (total + tax, total)
    coupon_only = coupon and "coupon_only" in item["features"]  # as the order reported it
    total_discounts = coupon if coupon_only else row_discounts + coupon
    invoice = {
        "href": f"{ROOT}/invoices/{invoice_id}/", "id": invoice_id,
        "invoicenumber_prefix": "INV", "invoicenumber": b.number,
        "invoicenumber_full": f"INV-{b.number}",
        "ordernumber_prefix": None, "ordernumber": order["ordernumber"],
        "ordernumber_full": order["ordernumber_full"], "create_date": b._next_date(),
        "status": "3" if credit else "1", "status_name": "Terugbetaald" if credit else "Betaald",
        "type": "credit" if credit else "debit", "payment_link_sent": None,
        "taxes_included": incl, "invoice_row_taxes_included": incl,
        "is_intra_community_order": False, "shipping_taxes_included": incl,
        "shipping_tax_percentage": 21, "total_shipping": wire(shipping),
        "total_discounts": wire(total_discounts), "total_price_inc_tax": wire(inc_tax),
        "total_price_exc_tax": wire(exc_tax), "total_price": wire(total), "total_tax": wire(tax),
        "currency": "EUR", "extra_payment_option": "", "extra_payment_option_price": 0,
        "paymethod_costs": wire(costs), "credit_point_discount": wire(credit_points),
        "extra_costs": wire(extra), "extra_costs_description": order["extra_costs_description"]
        if extra else "",
        "external_reference": None,
        "deeplink": f"https://demo.ccvshop.nl/Invoice.php?InvoiceId={invoice_id}",
        "user": {"id": None, "discount_percentage": 0, "href": None},
        "customer": order["customer"], "discountcoupon": order["discountcoupon"],
        "order": f"{ROOT}/orders/{order['id']}",
        "invoicerows": {"href": f"{ROOT}/invoices/{invoice_id}/invoicerows/"},
        "invoicenotifications": {"href": f"{ROOT}/invoices/{invoice_id}/invoicenotifications/"},
    }
    features = _features(lines, inv_rows, incl, order["customer"], coupon, row_discounts)
    if credit:
        features.append("credit")
    if coupon_only:
        features.append("coupon_only")
    return {
        "kind": "invoice", "invoice": invoice,
        "invoicerows": [b.invoicerow(r, invoice_id, sign * r["count"]) for r in inv_rows],
        "order": order, "orderrows": item["orderrows"],
        "expect": {"outcome": "posted", "check": None, "scope": "domestic", "country": "NL"},
        "features": sorted(set(features)),
        "_lines": lines,
    }


def generate(count: int, seed: int, *, failing_share: float = 0.1, unpaid_share: float = 0.05,
             scopes: set[str] | frozenset[str] | None = None) -> list[dict]:
    """``count`` documents, the same for the same arguments. ``scopes`` limits the kinds of
    document to some of ``SCENARIOS`` (``{"domestic"}``: domestic NL orders only); failures
    and unpaid orders are only drawn from the scenarios allowed."""
    chosen = sorted(set(SCENARIOS) if scopes is None else set(scopes))
    unknown = set(chosen) - set(SCENARIOS)
    if unknown or not chosen:
        raise ValueError(f"scopes must be a non-empty subset of {SCENARIOS}, not {unknown}")
    if not (0 <= failing_share <= 1 and 0 <= unpaid_share <= 1
            and failing_share + unpaid_share <= 1):
        raise ValueError("failing_share and unpaid_share must be in 0..1 and sum to at most 1")
    failures = sorted(code for code, base in FAILURES.items() if base in chosen)
    order_scopes = [s for s in chosen if s in ORDER_SCENARIOS]
    weights = [_WEIGHTS[s] for s in chosen]
    b = _Builder(seed)
    items = []
    for _ in range(count):
        roll = b.rng.random()
        if roll < failing_share and failures:
            code = b.rng.choice(failures)
            item = _order(b, FAILURES[code], code, True)
        elif roll < failing_share + unpaid_share and order_scopes:
            item = _order(b, b.rng.choice(order_scopes), None, False)
        else:
            scenario = b.rng.choices(chosen, weights=weights)[0]
            if scenario in ("invoice", "credit"):
                item = _invoice(b, credit=scenario == "credit")
            else:
                item = _order(b, scenario, None, True)
        item.pop("_rows", None)
        item.pop("_lines", None)
        items.append(item)
    return items
