"""A reconciliation as the page's tables and as CSV/XLSX files (the writers of
``web.export_files``, so shop text never becomes a live formula there either)."""

from __future__ import annotations

from decimal import Decimal
from typing import Callable, Iterator

from application.reconciliation import Report
from domain.reconciliation import Change, Kind
from web.export_files import write_csv, write_xlsx

Text = Callable[[str], str]


def kind_text(kind: Kind, _: Text) -> str:
    return {Kind.NOT_BOOKED: _("In the shop, not booked by koppel"),
            Kind.MISSING_IN_LEDGER: _("Booked by koppel, missing in the ledger (deleted)"),
            Kind.DIFFERENT_IN_LEDGER: _("Booked by koppel, different in the ledger (edited)"),
            Kind.NOT_FROM_KOPPEL: _("In the ledger under koppel's numbering, not from koppel"),
            }[kind]


def changes_text(changes: tuple[Change, ...], _: Text) -> str:
    names = {Change.AMOUNTS: _("amounts"), Change.ACCOUNTS: _("ledger accounts"),
             Change.VAT_CODES: _("VAT codes"), Change.DATE: _("date")}
    return ", ".join(names[c] for c in changes)


def _amount(value: Decimal | None):
    return "" if value is None else value


def _compare(title: str, key: str, koppel: dict, ledger: dict, _: Text) -> tuple:
    header = [key, _("koppel"), _("Ledger"), _("Difference")]
    rows = [[name, koppel.get(name, Decimal("0.00")), ledger.get(name, Decimal("0.00")),
             ledger.get(name, Decimal("0.00")) - koppel.get(name, Decimal("0.00"))]
            for name in sorted(set(koppel) | set(ledger))]
    return title, header, rows


def sections(report: Report, _: Text) -> Iterator[tuple[str, list, list]]:
    """(title, header, rows) of each table, in the order the page and the files show them."""
    result = report.result
    yield (_("Differences"),
           [_("Kind"), _("Number"), _("In the ledger as"), _("Shop"), _("koppel"), _("Ledger"),
            _("What differs"), _("Status in koppel")],
           [[kind_text(d.kind, _), d.number, d.key, _amount(d.shop_total),
             _amount(d.koppel_total), _amount(d.ledger_total), changes_text(d.changes, _),
             d.status] for d in result.differences])
    yield (_("Counts"), [_("Side"), _("Documents"), _("Incl. VAT")],
           [[_("Shop"), result.shop.count, result.shop.total],
            [_("koppel"), result.koppel.count, result.koppel.total],
            [_("Ledger"), result.ledger.count, result.ledger.total]])
    yield _compare(_("Totals per VAT code"), _("VAT code"), result.koppel.by_vat_code,
                   result.ledger.by_vat_code, _)
    yield _compare(_("Totals per ledger account"), _("Ledger account"),
                   result.koppel.by_account, result.ledger.by_account, _)
    countries = sorted(set(result.shop.by_country) | set(result.koppel.by_country)
                       | set(result.ledger.by_country))
    zero = Decimal("0.00")
    yield (_("Totals per delivery country"),
           [_("Delivery country"), _("Shop"), _("koppel"), _("Ledger")],
           [[country or "?", result.shop.by_country.get(country, zero),
             result.koppel.by_country.get(country, zero),
             result.ledger.by_country.get(country, zero)] for country in countries])


def _first_row(report: Report, _: Text) -> list[str]:
    return [_("Reconciliation"), report.connection, report.first.isoformat(),
            report.last.isoformat()]


def to_csv(report: Report, _: Text) -> bytes:
    return write_csv(_first_row(report, _), sections(report, _))


def to_xlsx(report: Report, _: Text) -> bytes:
    return write_xlsx(sections(report, _))
