"""Reconciliation end to end (issue 13.1): orders booked through the sandbox, then a person
deletes one booking and edits another in the ledger's own screens and books one by hand under
koppel's numbering; the reconciliation finds exactly those three, each with its kind, and its
totals are the ledger's to the cent. (The 2,000-order figure: ``bench/reconcile.py``.)"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

import pytest

from application.reconciliation import Reconciliations
from domain.reconciliation import Change, Kind
from projections.reconciliation import BookedDocuments
from tests.e2e.orders import post_orders

ALL_TIME = (date(2000, 1, 1), date(2100, 1, 1))


def reconciler(harness) -> Reconciliations:
    return Reconciliations(harness.runtime.connections,
                           BookedDocuments(harness.runtime.store))


def make_differences(harness) -> dict[str, str]:
    """Delete one booking, edit another, add one by hand; their numbers by what was done."""
    mutations = sorted(harness.mutations(), key=lambda m: m["id"])
    deleted, edited = mutations[3], mutations[7]
    assert harness.ledger.delete(f"/__sandbox/mutations/{deleted['id']}").status_code == 200
    rows = [dict(row) for row in edited["rows"]]
    rows[0]["amount"] = str(Decimal(str(rows[0]["amount"])) + Decimal("10.00"))
    rows = [{k: r[k] for k in ("ledgerId", "vatCode", "amount", "description")} for r in rows]
    assert harness.ledger.patch(f"/__sandbox/mutations/{edited['id']}",
                                json={"rows": rows}).status_code == 200
    ledger = harness.runtime.connections.ledger(harness.connection)
    by_hand = dict(edited, invoiceNumber="990001", ledgerId="1300", type="2",
                   rows=[{"ledgerId": "8000", "vatCode": "HOOG_VERK_21",
                          "amount": Decimal("121.00"), "description": "by hand"}])
    by_hand = {k: by_hand[k] for k in ("type", "date", "ledgerId", "relationId",
                                       "invoiceNumber", "inExVat", "rows")}
    ledger.create_mutation(by_hand)
    return {"deleted": deleted["invoiceNumber"], "edited": edited["invoiceNumber"],
            "added": "990001"}


@pytest.fixture
def booked(harness):
    items = post_orders(harness, 24)
    harness.runtime.projector.catch_up()
    return items


@pytest.fixture
def on_sqlite(sqlite_url):
    """One store is enough where the store is not what is tested (CI time)."""
    from tests.harness import Harness

    h = Harness(sqlite_url)
    post_orders(h, 24)
    h.runtime.projector.catch_up()
    yield h
    h.close()


def test_a_reconciled_period_without_changes_has_no_differences(on_sqlite):
    harness = on_sqlite
    report = reconciler(harness).run(harness.connection.id, *ALL_TIME)
    result = report.result
    assert result.differences == [] and result.matched == 24
    assert result.shop.count == result.koppel.count == result.ledger.count == 24
    ledger_by_code = defaultdict(Decimal)
    ledger_by_account = defaultdict(Decimal)
    for mutation in harness.mutations():
        for row in mutation["rows"]:
            ledger_by_code[row["vatCode"]] += Decimal(str(row["amount"]))
            ledger_by_account[row["ledgerCode"]] += Decimal(str(row["amount"]))
    assert dict(result.ledger.by_vat_code) == dict(ledger_by_code) == dict(
        result.koppel.by_vat_code)
    assert dict(result.ledger.by_account) == dict(ledger_by_account)
    assert result.shop.total == result.koppel.total == result.ledger.total
    assert len(result.koppel.by_country) >= 3  # the OSS basis: NL, an ICP and an OSS country


def test_deleted_edited_and_added_in_the_ledger_are_found_with_their_kinds(harness, booked):
    done = make_differences(harness)
    report = reconciler(harness).run(harness.connection.id, *ALL_TIME)
    found = [(d.kind, d.key, d.changes) for d in report.result.differences]
    assert found == [(Kind.MISSING_IN_LEDGER, done["deleted"], ()),
                     (Kind.DIFFERENT_IN_LEDGER, done["edited"], (Change.AMOUNTS,)),
                     (Kind.NOT_FROM_KOPPEL, done["added"], ())]
    edited = report.result.of_kind(Kind.DIFFERENT_IN_LEDGER)[0]
    assert edited.ledger_total - edited.koppel_total == Decimal("10.00")
    assert report.result.matched == 22 and report.differs


def test_a_shop_order_koppel_did_not_book_and_a_moved_date(on_sqlite, paid_domestic_orders):
    harness = on_sqlite
    [extra] = paid_domestic_orders(1, seed=99)
    extra["order"]["ordernumber"], extra["order"]["ordernumber_full"] = 880001, "880001"
    harness.put_order(extra)  # no webhook, no sweep yet: koppel never heard of it
    moved = sorted(harness.mutations(), key=lambda m: m["id"])[5]
    assert harness.ledger.patch(f"/__sandbox/mutations/{moved['id']}",
                                json={"date": "2099-12-31"}).status_code == 200
    day = date.fromisoformat(moved["date"][:10])
    report = reconciler(harness).run(harness.connection.id, ALL_TIME[0], date(2099, 12, 30))
    found = [(d.kind, d.number, d.changes, d.status) for d in report.result.differences]
    assert (Kind.NOT_BOOKED, "880001", (), "") in found
    assert (Kind.DIFFERENT_IN_LEDGER, moved["invoiceNumber"], (Change.DATE,), "") in found
    assert len(found) == 2, found
    assert day.year < 2099
    # Seen from the period it was moved into: edited too, not someone else's booking.
    into = reconciler(harness).run(harness.connection.id, date(2099, 12, 1),
                                   date(2099, 12, 31)).result
    assert [(d.kind, d.number, d.changes) for d in into.differences] == [
        (Kind.DIFFERENT_IN_LEDGER, moved["invoiceNumber"], (Change.DATE,))]
    assert into.koppel.count == 0 and into.ledger.count == 1


def test_the_command_prints_the_differences_and_writes_the_files(sqlite_url, fakes_on_ports,
                                                                 tmp_path):
    import csv
    import io

    import openpyxl
    from click.testing import CliRunner

    from tests.harness import Harness
    from web.cli import main

    h = Harness(sqlite_url, servers=fakes_on_ports)
    try:
        post_orders(h, 10)
        done = make_differences(h)
        env = h.cli_env()
        out, book = tmp_path / "r.csv", tmp_path / "r.xlsx"
        result = CliRunner().invoke(main, [
            "reconcile", "--connection", "Demo shop", "--from", "2000-01-01", "--to",
            "2099-12-31", "--csv", str(out), "--xlsx", str(book)], env=env)
    finally:
        h.close()
    assert result.exit_code == 0, result.output
    assert "3 difference(s):" in result.output and "8 bookings match" in result.output
    assert "ledger bookings read (done)" in result.output  # the progress
    lines = {line.split()[0]: line for line in result.output.splitlines()
             if line.startswith("  ") and line.split()[0] in done.values()}
    assert "missing in the ledger (deleted)" in lines[done["deleted"]]
    assert "different in the ledger (edited) [amounts]" in lines[done["edited"]]
    assert "not from koppel" in lines[done["added"]]
    rows = list(csv.reader(io.StringIO(out.read_bytes().decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:2] == ["Reconciliation", "Demo shop"]
    numbers = [row[1] for row in rows[rows.index(["Differences"]) + 2:][:3]]
    assert numbers == [done["deleted"], done["edited"], done["added"]]
    sheets = openpyxl.load_workbook(book).sheetnames
    assert sheets[:2] == ["Differences", "Counts"] and "Totals per delivery country" in sheets


def test_billit_orders_are_matched_by_koppels_external_id(postgres_url):
    """Billit numbers orders itself; koppel finds its own by the ExternalProviderID it gave
    each (R7.3). An order deleted in Billit (``DELETE /v1/orders/{id}``, its API can) is
    missing; an order a person made in Billit without koppel's id is theirs, no difference."""
    from tests.harness import BILLIT_KEY, Harness

    h = Harness(postgres_url, ledger="billit")
    try:
        post_orders(h, 6)
        h.runtime.projector.catch_up()
        service = reconciler(h)
        clean = service.run(h.connection.id, *ALL_TIME).result
        assert clean.differences == [] and clean.matched == 6 and clean.ledger.count == 6
        assert clean.ledger.by_vat_code == clean.koppel.by_vat_code
        assert clean.ledger.total == clean.koppel.total == clean.shop.total

        orders = h.billit.get("/__sandbox/orders").json()
        gone = orders[1]
        deleted = h.billit.delete(f"/v1/orders/{gone['OrderID']}", headers={"ApiKey": BILLIT_KEY})
        assert deleted.status_code == 200
        by_hand = {k: gone["Received"]["body"][k] for k in (
            "OrderType", "OrderDirection", "OrderDate", "ExpiryDate", "Customer", "OrderLines")}
        assert h.billit.post("/v1/orders", json=by_hand,
                             headers={"ApiKey": BILLIT_KEY}).status_code == 200
        result = service.run(h.connection.id, *ALL_TIME).result
        assert [(d.kind, d.key) for d in result.differences] == [
            (Kind.MISSING_IN_LEDGER, gone["ExternalProviderID"])]
        assert result.matched == 5
    finally:
        h.close()


def test_invoices_the_ledger_numbered_are_matched_by_its_number(sqlite_url):
    """R7.2 without a mutation: the ledger's invoices of the period (``GET /v1/invoice`` with
    ``date[range]``) are matched by the number e-Boekhouden gave each, which koppel kept."""
    from tests.harness import Harness, test_settings

    h = Harness(sqlite_url, settings=test_settings(
        **{'document = "mutation"': 'document = "invoice"'}))
    try:
        post_orders(h, 5)
        h.runtime.projector.catch_up()
        invoices = h.ledger.get("/__sandbox/invoices").json()
        assert len(invoices) == 5 and not h.mutations()
        result = reconciler(h).run(h.connection.id, *ALL_TIME).result
        assert result.differences == [] and result.matched == 5
        assert result.ledger.total == result.koppel.total == result.shop.total
        assert {i["invoiceNumber"] for i in invoices} >= {"F00001"}
    finally:
        h.close()
