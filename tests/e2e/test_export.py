"""The accountant's export: its totals per VAT code, ledger account and delivery country are
what the sandbox ledger holds, to the cent, and no text from the shop becomes a formula."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date
from decimal import Decimal

import openpyxl
import pytest

from projections.period_report import period_report
from tests.e2e.orders import FORMULA_NAME, post_orders
from web.export_files import neutral, to_csv, to_xlsx


def _same(_):
    return _


def ledger_totals(harness, items: list[dict]) -> dict[str, dict[str, Decimal]]:
    """The sales the ledger holds, incl. VAT, per VAT code, per ledger account, per delivery
    country (from the shop's order) and in all; and its VAT per code."""
    country_of = {str(i["order"]["ordernumber_full"]): i["expect"]["country"] for i in items}
    totals = {name: defaultdict(Decimal) for name in ("vat_code", "account", "country", "vat")}
    for mutation in harness.mutations():
        for row in mutation["rows"]:
            amount = Decimal(str(row["amount"]))
            totals["vat_code"][row["vatCode"]] += amount
            totals["account"][row["ledgerCode"]] += amount
        totals["country"][country_of[mutation["invoiceNumber"]]] += Decimal(
            str(mutation["totalAmount"]))
        for vat in mutation["vat"]:
            totals["vat"][vat["vatCode"]] += Decimal(str(vat["amount"]))
    totals["total"] = {"": sum(totals["country"].values(), Decimal(0))}
    return totals


@pytest.fixture
def posted(harness):
    items = post_orders(harness, 14)
    harness.runtime.projector.catch_up()
    return items, period_report(harness.runtime.store, date(2000, 1, 1), date(2100, 1, 1))


def test_the_report_totals_are_the_ledgers_to_the_cent(harness, posted):
    items, report = posted
    ledger = ledger_totals(harness, items)
    assert len(report.documents) == len(items)
    assert len(ledger["country"]) >= 3  # NL, a BE/ICP and an OSS country at least
    assert {k: v.incl for k, v in report.by_vat_code.items()} == dict(ledger["vat_code"])
    assert {k: v.incl for k, v in report.by_account.items()} == dict(ledger["account"])
    assert {k: v.incl for k, v in report.by_country.items()} == dict(ledger["country"])
    assert report.total.incl == ledger["total"][""]
    ledger_vat = {code: amount for code, amount in ledger["vat"].items() if amount}
    assert {k: v.vat for k, v in report.by_vat_code.items() if v.vat} == ledger_vat
    for amounts in (*report.by_vat_code.values(), report.total):
        assert amounts.excl + amounts.vat == amounts.incl


def test_a_period_holds_only_its_booking_dates(harness, posted):
    _, report = posted
    day = report.documents[len(report.documents) // 2].booking_date
    one_day = period_report(harness.runtime.store, date.fromisoformat(day),
                            date.fromisoformat(day))
    assert one_day.documents and {d.booking_date for d in one_day.documents} == {day}
    assert one_day.total.incl == sum((d.amounts.incl for d in report.documents
                                      if d.booking_date == day), Decimal(0))
    assert period_report(harness.runtime.store, date(2000, 1, 1), date(2100, 1, 1),
                         scope=[]).documents == []


def test_the_files_hold_the_ledgers_totals_and_no_live_formula(harness, posted):
    items, report = posted
    ledger = ledger_totals(harness, items)

    book = openpyxl.load_workbook(io.BytesIO(to_xlsx(report, _same)))
    per_code = {row[0]: Decimal(str(row[3])) for row in
                book["Totals per VAT code"].iter_rows(min_row=2, values_only=True)}
    assert per_code.pop("Total") == ledger["total"][""]
    assert per_code == dict(ledger["vat_code"])
    customers = [row[4] for row in book["Documents"].iter_rows(min_row=2, values_only=True)]
    assert "'" + FORMULA_NAME in customers
    assert all(cell.data_type != "f" for sheet in book for row in sheet.iter_rows()
               for cell in row)

    text = to_csv(report, _same).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    start = rows.index(["Totals per delivery country"])
    countries = {}
    for row in rows[start + 2:]:
        if not row:
            break
        countries[row[0]] = Decimal(row[3])
    assert countries.pop("Total") == ledger["total"][""]
    assert countries == dict(ledger["country"])
    assert not any(cell.startswith(("=", "+", "@")) for row in rows for cell in row)


@pytest.mark.parametrize("text, shown", [
    ("=SUM(A1:A2)", "'=SUM(A1:A2)"), ("+31 6", "'+31 6"), ("-1+2", "'-1+2"),
    ("@cmd", "'@cmd"), ("\t=1", "'\t=1"), ("<script>alert(1)</script>", "<script>alert(1)</script>"),
    ("Jansen BV", "Jansen BV"),
])
def test_text_that_a_spreadsheet_would_evaluate_is_escaped(text, shown):
    assert neutral(text) == shown


def test_a_rebuild_gives_the_same_report(harness, posted):
    """I4: the lines and customers come from the events alone."""
    _, before = posted
    store = harness.runtime.store
    tables = ("SELECT * FROM booked_documents ORDER BY id",
              "SELECT * FROM booked_lines ORDER BY document_id, position")
    rows = [store.query(sql) for sql in tables]
    harness.runtime.projector.rebuild()
    assert [store.query(sql) for sql in tables] == rows
    after = period_report(store, date(2000, 1, 1), date(2100, 1, 1))
    assert after.documents == before.documents and after.by_account == before.by_account


@pytest.mark.parametrize("path, asked, said", [
    ("/export/report.csv", "from=2026-13-01&to=2026-12-31", "like 2026-03-14"),
    ("/export/report.csv", "from=2026-03-01&to=2026-02-01", "longer than three years"),
    ("/export/report.csv", "from=2020-01-01&to=2026-01-01", "longer than three years"),
    ("/connections/{conn}/reconcile", "from=2025-01-01&to=2026-03-01", "longer than a year"),
    ("/connections/{conn}/reconcile", "from=soon&to=2026-03-01", "like 2026-03-14"),
])
def test_a_period_that_cannot_be_read_is_refused_saying_why(harness, path, asked, said):
    """Export and reconciliation read their period alike (web/periods.py), each with its own
    longest period; nothing is read from the ledger for a refused one."""
    answer = harness.merchant.get(f"{path.format(conn=harness.connection.id)}?{asked}")
    assert answer.status_code == 400
    assert said in answer.get_data(as_text=True)
    assert harness.ledger.get("/__sandbox/requests").json() == []
