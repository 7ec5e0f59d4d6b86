"""The reconciliation page in Chromium (issue 13.1): the merchant opens it from the overview,
picks the period, sees the one booking someone deleted in the ledger with its kind (in English
and in Dutch), and downloads the same as Excel."""

from __future__ import annotations

import io

import openpyxl

from tests.e2e.orders import post_orders

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture says so: a skip, or a failure in CI
    expect = None


def test_the_merchant_reconciles_a_period(koppel, page, screenshot):
    h = koppel.h
    post_orders(h, 6, seed=61)
    h.runtime.projector.catch_up()
    [period] = h.runtime.store.query(
        "SELECT MIN(booking_date) AS first, MAX(booking_date) AS last FROM booked_documents")
    gone = sorted(h.mutations(), key=lambda m: m["id"])[2]
    assert h.ledger.delete(f"/__sandbox/mutations/{gone['id']}").status_code == 200

    page.goto(f"{koppel.url}/")
    page.click(".reconcile-link")
    expect(page.locator("h1")).to_contain_text("Reconciliation of Demo shop")
    page.fill("input[name=from]", period["first"])
    page.fill("input[name=to]", period["last"])
    page.click("#reconcile-run")
    expect(page.locator("#reconcile-summary")).to_contain_text("Differences found: 1.")
    row = page.locator("#differences tr.difference")
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-kind", "missing")
    expect(row).to_contain_text(gone["invoiceNumber"])
    expect(row).to_contain_text("missing in the ledger (deleted)")
    expect(page.locator("#reconcile-summary")).to_contain_text("5 bookings match.")
    screenshot(page, "reconciliation")

    with page.expect_download() as download:
        page.click("#reconcile-xlsx")
    book = openpyxl.load_workbook(io.BytesIO(open(download.value.path(), "rb").read()))
    differences = list(book["Differences"].iter_rows(min_row=2, values_only=True))
    assert [(r[0], r[1]) for r in differences] == [
        ("Booked by koppel, missing in the ledger (deleted)", gone["invoiceNumber"])]

    page.goto(page.url + "&lang=nl")
    expect(page.locator("h1")).to_contain_text("Afstemming van Demo shop")
    expect(page.locator("#differences")).to_contain_text("ontbreekt in de boekhouding")
