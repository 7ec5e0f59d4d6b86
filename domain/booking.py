"""The entry point: a shop document + a connection's settings -> the booking to post.

The same function serves the workers and ``koppel preview``: there is no second
implementation of the rules. It never raises for a business problem: a failed check is part of
the booking (with as many lines as could be made); only an unreadable bundle raises
``DocumentError``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

from . import checks as rules_checks
from .accounts import map_lines
from .checks import Check
from .classify import non_eu_with_vat, payment_method, scope as classify_scope
from .customer import Customer
from .lines import Line, amount_lines, rounding_difference, rounding_line
from .money import ZERO, cents, format_amount
from .settings import Settings
from .source import DocumentError, SourceDocument, read_source

__all__ = ["Booking", "DocumentError", "Explanation", "build_booking"]


@dataclass(frozen=True)
class Explanation:
    """How a rule read the document where the text allows two readings (I3), in the
    merchant's words: shown in the preview, the audit and on the document's page."""
    rule: str
    message_nl: str
    message_en: str

    @classmethod
    def from_dict(cls, data: dict) -> "Explanation":
        return cls(**data)


@dataclass(frozen=True)
class Booking:
    kind: str                       # "order" | "invoice"
    number: str                     # R2.1: the shop's number
    sales_number: str               # R2.1: prefix + number, sent to the ledger
    date: date                      # R0.4
    currency: str
    scope: str                      # "domestic" | "icp" | "international" | "oss"
    country: str                    # R1.4
    payment_method: str             # R3.6
    total_incl: Decimal             # R2.3
    total_excl: Decimal
    total_vat: Decimal
    taxes_included: bool
    paid: bool | None
    transaction_id: str
    customer: Customer
    lines: tuple[Line, ...]
    checks: tuple[Check, ...]
    shop_id: str = ""
    notes: tuple[str, ...] = ()     # observations that are not checks (e.g. R2.3 cross-check)
    explanations: tuple[Explanation, ...] = ()   # readings a rule chose (e.g. R4.5 coupon-only)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failed_checks(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if not check.ok)

    def to_dict(self) -> dict:
        """JSON-serialisable (amounts and dates as strings); ``from_dict`` reverses it."""
        return {
            "kind": self.kind, "number": self.number, "sales_number": self.sales_number,
            "date": self.date.isoformat(), "currency": self.currency, "scope": self.scope,
            "country": self.country, "payment_method": self.payment_method,
            "total_incl": format_amount(self.total_incl),
            "total_excl": format_amount(self.total_excl),
            "total_vat": format_amount(self.total_vat),
            "taxes_included": self.taxes_included, "paid": self.paid,
            "transaction_id": self.transaction_id, "customer": self.customer.to_dict(),
            "lines": [line.to_dict() for line in self.lines],
            "checks": [check.to_dict() for check in self.checks],
            "shop_id": self.shop_id, "notes": list(self.notes),
            "explanations": [asdict(explanation) for explanation in self.explanations],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Booking":
        return cls(
            kind=data["kind"], number=data["number"], sales_number=data["sales_number"],
            date=date.fromisoformat(data["date"]), currency=data["currency"],
            scope=data["scope"], country=data["country"],
            payment_method=data["payment_method"],
            total_incl=Decimal(data["total_incl"]), total_excl=Decimal(data["total_excl"]),
            total_vat=Decimal(data["total_vat"]), taxes_included=data["taxes_included"],
            paid=data["paid"], transaction_id=data["transaction_id"],
            customer=Customer.from_dict(data["customer"]),
            lines=tuple(Line.from_dict(line) for line in data["lines"]),
            checks=tuple(Check.from_dict(check) for check in data["checks"]),
            shop_id=data.get("shop_id", ""), notes=tuple(data.get("notes", ())),
            explanations=tuple(Explanation.from_dict(explanation)
                               for explanation in data.get("explanations", ())),
        )


def totals(src: SourceDocument) -> tuple[Decimal, Decimal, Decimal]:
    """R2.3: ``taxes_included`` decides what ``total_price`` is."""
    if src.taxes_included:
        incl, excl = src.total_price, src.total_price - src.total_tax
    else:
        incl, excl = src.total_price + src.total_tax, src.total_price
    return cents(incl), cents(excl), cents(src.total_tax)


def booking_date(src: SourceDocument, timezone: str) -> date:
    """R0.4: the UTC moment as a date in the shop's time zone."""
    return src.created.astimezone(ZoneInfo(timezone)).date()


def _cross_check(src: SourceDocument, total_incl: Decimal, total_excl: Decimal) -> list[str]:
    """R2.3: an invoice's own incl/excl totals are a cross-check, not a second truth."""
    notes = []
    for name, theirs, ours in (("total_price_inc_tax", src.total_price_inc_tax, total_incl),
                               ("total_price_exc_tax", src.total_price_exc_tax, total_excl)):
        if theirs is not None and cents(theirs) != ours:
            notes.append(f"R2.3: invoice {name} {format_amount(theirs)} differs from "
                         f"{format_amount(ours)} computed from total_price and total_tax")
    return notes


def coupon_only(src: SourceDocument) -> Explanation:
    """R4.5: the shop's discount total held the coupon only, and the whole of it was booked."""
    whole = format_amount(src.total_discounts)
    rows = format_amount(sum((cents(row.row_discount) for row in src.rows), ZERO))
    heel, regels = whole.replace(".", ","), rows.replace(".", ",")  # Dutch decimal comma
    return Explanation(
        "R4.5",
        f"Het kortingstotaal van de winkel ({heel}) bevat alleen de kortingscode; de kortingen "
        f"op de regels ({regels}) zitten al in hun prijzen. De hele {heel} is als orderkorting "
        "geboekt: alleen zo tellen de regels op tot het totaal van het document.",
        f"The shop's discount total ({whole}) holds the coupon only; the discounts on the rows "
        f"({rows}) are already in their prices. The whole {whole} is booked as the order "
        "discount: only then do the lines add up to the document total.")


def build_booking(bundle: dict, settings: Settings) -> Booking:
    src = read_source(bundle)
    home = settings.shop.home_country
    # R1.4: delivery country, else billing country (read_source), else the home country.
    country = src.country or home
    on = booking_date(src, settings.shop.timezone)
    total_incl, total_excl, total_vat = totals(src)
    scope = classify_scope(is_icp=src.is_icp, total_tax=src.total_tax, country=country,
                           home_country=home, oss_countries=settings.oss)

    tolerance = settings.rounding.tolerance
    amounts, whole_discount = amount_lines(src, scope, country, home, on, total_incl, tolerance)
    lines = map_lines(amounts, scope, country, settings)
    missing = [line.vat_rate for line in lines if line.vat_code is None]
    difference = rounding_difference(total_incl, lines)
    if difference != ZERO and abs(difference) <= tolerance:
        lines.append(rounding_line(difference, settings.rounding.account))

    checks = (
        rules_checks.total_check(difference, tolerance),
        rules_checks.icp_vat_number_check(scope, src.customer.btw),
        rules_checks.vat_code_check(scope, missing),
        rules_checks.international_with_vat_check(
            non_eu_with_vat(country=country, total_tax=src.total_tax), country),
        rules_checks.currency_check(src.currency, settings.other_currencies_enabled()),
        rules_checks.customer_name_check(src.customer),
    )
    return Booking(
        kind=src.kind, number=src.number,
        sales_number=settings.shop.number_prefix + src.number,
        date=on, currency=src.currency, scope=scope, country=country,
        payment_method=payment_method(src.paymethod, src.paymethod_label,
                                      settings.payment_methods),
        total_incl=total_incl, total_excl=total_excl, total_vat=total_vat,
        taxes_included=src.taxes_included, paid=src.paid, transaction_id=src.transaction_id,
        customer=src.customer, lines=tuple(lines), checks=checks, shop_id=src.shop_id,
        notes=tuple(_cross_check(src, total_incl, total_excl)),
        explanations=(coupon_only(src),) if whole_discount else (),
    )
