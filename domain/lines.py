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


def fallback_rate(src: SourceDocument, scope: str, home_country: str, on: date) -> Decimal:
    """The standard rate of the country whose VAT is charged: home, or the OSS country."""
    if scope in (ICP, INTERNATIONAL):
        return ZERO
    country = src.country if scope == OSS else home_country
    return standard_vat_rate(country, on) or ZERO


def shipping_line(src: SourceDocument, scope: str) -> list[Line]:
    """R4.2: only when there are shipping costs; its own rate and (when sent) its own flag."""
    if src.total_shipping == ZERO:
        return []
    rate = ZERO if scope in (ICP, INTERNATIONAL) else src.shipping_tax_percentage
    return [_line(SHIPPING, "Shipping costs", src.total_shipping, rate,
                  src.shipping_taxes_included, ("R4.2",))]


def payment_costs_line(src: SourceDocument, scope: str, home_country: str, on: date) -> list[Line]:
    """R4.3: payment costs carry no rate of their own. Orders: the standard rate of the
    country whose VAT is charged; invoices: the shipping rate (the manual)."""
    if src.payment_costs == ZERO:
        return []
    if scope in (ICP, INTERNATIONAL):
        rate = ZERO
    elif src.kind == "invoice":
        rate = src.shipping_tax_percentage
    else:
        rate = fallback_rate(src, scope, home_country, on)
    return [_line(PAYMENT_COSTS, "Payment costs", src.payment_costs, rate,
                  src.row_taxes_included, ("R4.3",))]


def surcharge_lines(src: SourceDocument, scope: str, products: list[Line], home_country: str,
                    on: date) -> list[Line]:
    """R4.4: extra costs and credit points, at the highest product rate."""
    if scope in (ICP, INTERNATIONAL):
        rate = ZERO
    elif products:
        rate = max(line.vat_rate for line in products)
    else:  # no product to take a rate from: the standard rate of the country charged
        rate = fallback_rate(src, scope, home_country, on)
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
    """R4.5: the part of ``total_discounts`` the rows do not already carry."""
    return cents(src.total_discounts) - sum((cents(row.row_discount) for row in src.rows), ZERO)


def discount_lines(src: SourceDocument, products: list[Line], fallback: Decimal) -> list[Line]:
    """R4.5: the order-level discount, one negative line per product rate, in proportion to
    the product amounts at that rate (same incl/excl flag as the rows)."""
    residual = order_discount(src)
    if abs(residual) <= Decimal("0.005"):
        return []
    leading = "amount_incl" if src.row_taxes_included else "amount_excl"
    weights: dict[Decimal, Decimal] = {}
    for line in products:
        weights[line.vat_rate] = weights.get(line.vat_rate, ZERO) + getattr(line, leading)
    if not weights:
        weights = {fallback: ZERO}
    shares = share_out(residual, weights)
    several = len(shares) > 1
    lines = []
    for rate in sorted(shares, reverse=True):
        description = f"Discount ({format_number(rate)}%)" if several else "Discount"
        lines.append(_line(DISCOUNT, description, -shares[rate], rate,
                           src.row_taxes_included, ("R4.5",)))
    return lines


def amount_lines(src: SourceDocument, scope: str, home_country: str, on: date) -> list[Line]:
    """Every line of R4.1-R4.5, amounts only (no VAT code or account yet)."""
    products = product_lines(src, scope)
    fallback = fallback_rate(src, scope, home_country, on)
    return (products + shipping_line(src, scope)
            + payment_costs_line(src, scope, home_country, on)
            + surcharge_lines(src, scope, products, home_country, on)
            + discount_lines(src, products, fallback))


def rounding_difference(total_incl: Decimal, lines: list[Line]) -> Decimal:
    """R4.6: what the lines miss of the document total."""
    return cents(total_incl) - sum((line.amount_incl for line in lines), ZERO)


def rounding_line(difference: Decimal, account: str | None) -> Line:
    """R4.6: one line of the difference, 0%, code GEEN, to ``rounding.account``."""
    return Line(kind=ROUNDING, description="Rounding difference", quantity=ONE, vat_rate=ZERO,
                amount_excl=difference, vat_amount=ZERO, amount_incl=difference,
                vat_code="GEEN", account=account or None, rules=("R4.6",))
