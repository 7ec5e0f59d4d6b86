"""R4.7/R4.8: which VAT code and ledger account each line goes to."""

from __future__ import annotations

from decimal import Decimal

from .classify import DOMESTIC, ICP, INTERNATIONAL, OSS
from .lines import OSS_VAT, PAYMENT_COSTS, SHIPPING, Line
from .money import ZERO, format_number
from .settings import Settings, VatEntry


def _domestic_account(entry: VatEntry, kind: str) -> str:
    if kind == SHIPPING:
        return entry.shipping_account or entry.revenue_account           # R4.2
    if kind == PAYMENT_COSTS:
        return entry.payment_costs_account or entry.revenue_account      # R4.3
    return entry.revenue_account


def _split_oss(line: Line, country: str, vat_account: str, revenue_account: str,
               revenue_code: str) -> list[Line]:
    """R4.7: the net amount to the country's revenue account and the foreign VAT to its VAT
    account, both at 0%: e-Boekhouden has no OSS VAT code, so it must not compute VAT."""
    net = line.with_rule("R4.7", vat_rate=ZERO, vat_amount=ZERO, amount_incl=line.amount_excl,
                         vat_code=revenue_code, account=revenue_account)
    if line.vat_amount == ZERO:
        return [net]
    rate = format_number(line.vat_rate)
    vat = Line(kind=OSS_VAT, description=f"VAT {country} {rate}%: {line.description}"[:200],
               quantity=Decimal(1),
               vat_rate=ZERO, amount_excl=line.vat_amount, vat_amount=ZERO,
               amount_incl=line.vat_amount, vat_code="GEEN", account=vat_account,
               rules=("R4.7",))
    return [net, vat]


def map_lines(lines: list[Line], scope: str, country: str, settings: Settings) -> list[Line]:
    """Fill in VAT code and account (R4.8); a line without a mapping keeps ``None`` for both,
    which fails VAT_CODE_MISSING (R5.3) without stopping the other lines."""
    mapped: list[Line] = []
    for line in lines:
        if scope in (ICP, INTERNATIONAL):
            entry = settings.icp if scope == ICP else settings.international
            if entry is None:
                mapped.append(line.with_rule("R4.8"))
            else:
                mapped.append(line.with_rule("R4.8", vat_code=entry.vat_code,
                                             account=entry.revenue_account))
        elif scope == OSS:
            oss = settings.oss[country]
            if settings.is_billit:
                # Billit takes the VAT percentage itself: no split, the rate stays.
                mapped.append(line.with_rule("R4.8", vat_code=oss.vat_code,
                                             account=oss.revenue_account))
            else:
                mapped.extend(_split_oss(line, country, oss.vat_account, oss.revenue_account,
                                         oss.oss_revenue_vat_code))
        else:
            assert scope == DOMESTIC, scope
            entry = settings.vat_entry(line.vat_rate)
            if entry is None:
                mapped.append(line.with_rule("R4.8"))
            else:
                mapped.append(line.with_rule("R4.8", vat_code=entry.vat_code,
                                             account=_domestic_account(entry, line.kind)))
    return mapped
