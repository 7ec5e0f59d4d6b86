"""The accountant's export as CSV and XLSX files (``projections.period_report`` computes it).

Text from the shop (a customer's name, a document number) is the shop's customers' input: a
name like ``=cmd|' /C calc'!A0`` must not become a live formula when the accountant opens the
file. Such text gets a leading apostrophe (the usual spreadsheet escape, in both formats) and in
XLSX is stored as a string cell. Amounts are written as numbers from ``Decimal``, never as text
that came from outside.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Callable, Iterable, Iterator

from openpyxl import Workbook

from projections.period_report import Amounts, PeriodReport

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def neutral(text: str) -> str:
    """Text a spreadsheet shows as it is, never evaluates (OWASP's CSV injection advice)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _amounts(amounts: Amounts) -> list[Decimal]:
    return [amounts.excl, amounts.vat, amounts.incl]


def sections(report: PeriodReport, _: Callable[[str], str]) -> Iterator[tuple[str, list, list]]:
    """(title, header, rows) of each table, in the order the files show them."""
    money = [_("Excl. VAT"), _("VAT"), _("Incl. VAT")]
    yield (_("Documents"),
           [_("Date"), _("Connection"), _("Kind"), _("Number"), _("Customer"),
            _("Delivery country"), _("Currency"), *money],
           [[d.booking_date, d.connection, d.kind, d.number, d.customer, d.country, d.currency,
             *_amounts(d.amounts)] for d in report.documents])
    for title, key, totals in ((_("Totals per VAT code"), _("VAT code"), report.by_vat_code),
                               (_("Totals per ledger account"), _("Ledger account"),
                                report.by_account),
                               (_("Totals per delivery country"), _("Delivery country"),
                                report.by_country)):
        rows = [[name, *_amounts(amounts)] for name, amounts in totals.items()]
        rows.append([_("Total"), *_amounts(report.total)])
        yield title, [key, *money], rows


def _cell_text(value) -> str:
    return format(value, ".2f") if isinstance(value, Decimal) else neutral(str(value))


def to_csv(report: PeriodReport, _: Callable[[str], str]) -> bytes:
    return write_csv([_("Report"), report.date_from.isoformat(), report.date_to.isoformat()],
                     sections(report, _))


def to_xlsx(report: PeriodReport, _: Callable[[str], str]) -> bytes:
    return write_xlsx(sections(report, _))


Sections = Iterable[tuple[str, list, list]]


def write_csv(first_row: list[str], tables: Sections) -> bytes:
    """One file, its tables one below the other; UTF-8 with a BOM so Excel reads the accents."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")  # Dutch Excel splits on semicolons
    writer.writerow([neutral(str(value)) for value in first_row])
    for title, header, rows in tables:
        writer.writerow([])
        writer.writerow([neutral(title)])
        writer.writerow(header)
        writer.writerows([_cell_text(value) for value in row] for row in rows)
    return out.getvalue().encode("utf-8-sig")


def write_xlsx(tables: Sections) -> bytes:
    """One sheet per table; amounts are numbers with two decimals."""
    book = Workbook()
    book.remove(book.active)
    for title, header, rows in tables:
        sheet = book.create_sheet(title[:31])  # Excel's limit on a sheet's name
        sheet.append(header)
        for row in rows:
            sheet.append([value if isinstance(value, Decimal) else neutral(str(value))
                          for value in row])
            for cell in sheet[sheet.max_row]:
                if isinstance(cell.value, str):
                    cell.data_type = "s"  # openpyxl would take "=..." for a formula
                else:
                    cell.number_format = "0.00"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
