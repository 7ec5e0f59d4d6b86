"""R4.1-R4.6: the lines of a booking, before and after the ledger mapping of R4.7/R4.8.

Amounts are computed here; which VAT code and account a line goes to is ``accounts``'s job.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from .amounts import share_out, split, take_out
from .classify import ICP, INTERNATIONAL, OSS
from .money import ZERO, cents, format_amount, format_number
from .source import SourceDocument
from .vat import standard_vat_rate

PRODUCT, SHIPPING, PAYMENT_COSTS, SURCHARGE = "product", "shipping", "payment_costs", "surcharge"
DISCOUNT, ROUNDING, OSS_VAT = "discount", "rounding", "oss_vat"
ONE = Decimal(1)


@dataclass(frozen=True)
class Line:
    kind: str
    description: str
    quantity: Decimal
    vat_rate: Decimal
    amount_excl: Decimal
    vat_amount: Decimal
    amount_incl: Decimal
    vat_code: str | None = None      # None: no mapping (R4.8 -> VAT_CODE_MISSING)
    account: str | None = None
    code: str = ""                   # product code (R4.1)
    row_discount: Decimal = ZERO     # shown, not booked separately (R4.1)
    rules: tuple[str, ...] = ()      # the rules that made this line (I3: explainable)

    def with_rule(self, *rules: str, **changes) -> "Line":
        return replace(self, rules=self.rules + rules, **changes)

    def to_dict(self) -> dict:
        return {
            "kind": self.kind, "description": self.description, "code": self.code,
            "quantity": format_number(self.quantity), "vat_rate": format_number(self.vat_rate),
            "vat_code": self.vat_code, "account": self.account,
            "amount_excl": format_amount(self.amount_excl),
            "vat_amount": format_amount(self.vat_amount),
            "amount_incl": format_amount(self.amount_incl),
            "row_discount": format_amount(self.row_discount), "rules": list(self.rules),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Line":
        number = {key: Decimal(data[key]) for key in (
            "quantity", "vat_rate", "amount_excl", "vat_amount", "amount_incl", "row_discount")}
        return cls(kind=data["kind"], description=data["description"], code=data["code"],
                   vat_code=data["vat_code"], account=data["account"],
                   rules=tuple(data["rules"]), **number)


def _line(kind: str, description: str, amount: Decimal, rate: Decimal, incl: bool,
          rules: tuple[str, ...], quantity: Decimal = ONE, code: str = "") -> Line:
    excl, vat, incl_amount = split(amount, rate, incl)
    return Line(kind=kind, description=description, quantity=quantity, vat_rate=rate,
                amount_excl=excl, vat_amount=vat, amount_incl=incl_amount, code=code,
                rules=rules + ("R0.3",))


def product_lines(src: SourceDocument, scope: str) -> list[Line]:
    """R4.1: one line per row; line totals from unit price x count, rounded once (R0.3)."""
    zero_rated = scope in (ICP, INTERNATIONAL)
    lines = []
    for row in src.rows:
        gross = row.price * row.count
        discount = cents(row.row_discount)
        if zero_rated and src.row_taxes_included:
            net = take_out(gross, row.tax)  # the row's own tax comes out, 0% is charged
            line = Line(kind=PRODUCT, description=row.description, quantity=row.count,
                        vat_rate=ZERO, amount_excl=net, vat_amount=ZERO, amount_incl=net,
                        code=row.code, row_discount=discount, rules=("R4.1", "R0.3"))
        else:
            rate = ZERO if zero_rated else row.tax
            line = _line(PRODUCT, row.description, gross, rate, src.row_taxes_included,
                         ("R4.1",), quantity=row.count, code=row.code)
            line = replace(line, row_discount=discount)
        lines.append(line)
    return lines


def costs_rate(src: SourceDocument, scope: str, country: str, home_country: str,
               on: date) -> Decimal:
    """R4.3: the rate of costs that carry none of their own. Orders: the standard rate in force
    on the booking date of the country whose VAT is charged (home, or the OSS country);
    invoices: the shipping rate (the manual). R4.4 and R4.5 take it too when a document has no
    product line to take a rate from."""
    if scope in (ICP, INTERNATIONAL):
        return ZERO
    if src.kind == "invoice":
        return src.shipping_tax_percentage
    return standard_vat_rate(country if scope == OSS else home_country, on) or ZERO


def shipping_line(src: SourceDocument, scope: str) -> list[Line]:
    """R4.2: only when there are shipping costs; its own rate and (when sent) its own flag."""
    if src.total_shipping == ZERO:
        return []
    rate = ZERO if scope in (ICP, INTERNATIONAL) else src.shipping_tax_percentage
    return [_line(SHIPPING, "Shipping costs", src.total_shipping, rate,
                  src.shipping_taxes_included, ("R4.2",))]


def payment_costs_line(src: SourceDocument, rate: Decimal) -> list[Line]:
    """R4.3: payment costs at the rate of ``costs_rate``."""
    if src.payment_costs == ZERO:
        return []
    return [_line(PAYMENT_COSTS, "Payment costs", src.payment_costs, rate,
                  src.row_taxes_included, ("R4.3",))]


def surcharge_lines(src: SourceDocument, scope: str, products: list[Line],
                    fallback: Decimal) -> list[Line]:
    """R4.4: extra costs and credit points, at the highest product rate; without product
    lines at the rate of R4.3 (``fallback``)."""
    if scope in (ICP, INTERNATIONAL):
        rate = ZERO
    elif products:
        rate = max(line.vat_rate for line in products)
    else:
        rate = fallback
    lines = []
    if src.extra_costs != ZERO:
        lines.append(_line(SURCHARGE, src.extra_costs_description or "Surcharge",
                           src.extra_costs, rate, src.row_taxes_included, ("R4.4",)))
    if src.credit_point_discount != ZERO:
        # The shop reports the credit points as a positive discount: booked as a reduction.
        lines.append(_line(SURCHARGE, "Credit points", -src.credit_point_discount, rate,
                           src.row_taxes_included, ("R4.4",)))
    return lines


def order_discount(src: SourceDocument) -> Decimal:
    """R4.5: the part of ``total_discounts`` the rows do not already carry (in cents)."""
    return cents(src.total_discounts) - sum((cents(row.row_discount) for row in src.rows), ZERO)


def document_sign(src: SourceDocument) -> int:
    """R4.5: a credit invoice (R1.2: an invoice with negative amounts) mirrors every
    comparison, so "greater" means greater in magnitude with the document's sign."""
    return -1 if src.kind == "invoice" and src.total_price < ZERO else 1


def _discount_split(amount: Decimal, src: SourceDocument, products: list[Line],
                    fallback: Decimal) -> list[Line]:
    """R4.5: ``amount`` as negative lines, one per product rate, in proportion to the product
    amounts at that rate (same incl/excl flag as the rows); without product lines one line at
    the rate of R4.3 (``fallback``)."""
    leading = "amount_incl" if src.row_taxes_included else "amount_excl"
    weights: dict[Decimal, Decimal] = {}
    for line in products:
        weights[line.vat_rate] = weights.get(line.vat_rate, ZERO) + getattr(line, leading)
    if not weights:
        weights = {fallback: ZERO}
    shares = share_out(amount, weights)
    several = len(shares) > 1
    lines = []
    for rate in sorted(shares, reverse=True):
        description = f"Discount ({format_number(rate)}%)" if several else "Discount"
        lines.append(_line(DISCOUNT, description, -shares[rate], rate,
                           src.row_taxes_included, ("R4.5",)))
    return lines


def _balances(total_incl: Decimal, lines: list[Line], tolerance: Decimal) -> bool:
    """R4.6 can balance these lines: what they miss of the total is within the tolerance."""
    return abs(rounding_difference(total_incl, lines)) <= tolerance


def discount_lines(src: SourceDocument, products: list[Line], others: list[Line],
                   total_incl: Decimal, tolerance: Decimal,
                   fallback: Decimal) -> tuple[list[Line], bool]:
    """R4.5: the order-level discount, and whether the shop's total held the coupon only.

    The residual (``total_discounts`` less the row discounts) is booked when it has the
    document's sign; a residual of the other sign is never booked (nothing is added to a
    customer's bill that the shop did not charge). The API does not say whether
    ``total_discounts`` includes the row discounts, so when the residual leaves the document
    out of balance beyond the tolerance and the whole ``total_discounts`` balances it, the
    whole is booked instead. Neither balancing: the residual stands and R5.1 decides."""
    sign = document_sign(src)
    residual = order_discount(src)
    booked = _discount_split(residual, src, products, fallback) if sign * residual > ZERO else []
    if _balances(total_incl, products + others + booked, tolerance):
        return booked, False
    whole = cents(src.total_discounts)
    if sign * whole > ZERO and whole != residual:
        instead = _discount_split(whole, src, products, fallback)
        if _balances(total_incl, products + others + instead, tolerance):
            return instead, True
    return booked, False


def amount_lines(src: SourceDocument, scope: str, country: str, home_country: str, on: date,
                 total_incl: Decimal, tolerance: Decimal) -> tuple[list[Line], bool]:
    """Every line of R4.1-R4.5, amounts only (no VAT code or account yet), and whether the
    order discount was read as coupon-only (R4.5)."""
    products = product_lines(src, scope)
    fallback = costs_rate(src, scope, country, home_country, on)
    others = (shipping_line(src, scope) + payment_costs_line(src, fallback)
              + surcharge_lines(src, scope, products, fallback))
    discounts, coupon_only = discount_lines(src, products, others, total_incl, tolerance,
                                            fallback)
    return products + others + discounts, coupon_only


def rounding_difference(total_incl: Decimal, lines: list[Line]) -> Decimal:
    """R4.6: what the lines miss of the document total."""
    return cents(total_incl) - sum((line.amount_incl for line in lines), ZERO)


def rounding_line(difference: Decimal, account: str | None) -> Line:
    """R4.6: one line of the difference, 0%, code GEEN, to ``rounding.account``."""
    return Line(kind=ROUNDING, description="Rounding difference", quantity=ONE, vat_rate=ZERO,
                amount_excl=difference, vat_amount=ZERO, amount_incl=difference,
                vat_code="GEEN", account=account or None, rules=("R4.6",))
