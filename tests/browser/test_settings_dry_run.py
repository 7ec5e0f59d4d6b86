"""Try a settings change on history in Chromium (issue 13.2), as a merchant does it: a draft
with a mistake is refused with the settings file's own message; the corrected draft becomes a
dry run the workers run, its page shows a progress bar and then what changes, the correction
list downloads, and applying it with correction bookings books a reversal and a new booking
per posted order, once, by the workers."""

from __future__ import annotations

import io

import openpyxl
from tests.e2e.conftest import paid_domestic_orders  # noqa: F401 (a fixture)
from tests.e2e.test_dry_run_cli import _setup

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture says so
    expect = None


def test_a_merchant_tries_and_applies_a_settings_draft(koppel, page, paid_domestic_orders):
    h = koppel.h
    numbers = _setup(h, paid_domestic_orders(3))
    page.goto(koppel.url)
    page.click("a.try-settings")
    expect(page.locator("h1")).to_contain_text("Try a settings change")
    draft = page.input_value("#draft")
    assert "revenue_account = \"8000\"" in draft
    assert "demo-ledger-token" not in draft and "enc:" not in draft  # never a credential

    # A slip is named the way the settings file names it.
    page.fill("#draft", draft.replace('rate = "21"', 'rate = "twenty-one"', 1))
    page.fill("input[name=from]", "2026-01-01")
    page.fill("input[name=to]", "2026-12-31")
    page.click("#compare")
    expect(page.locator("#problems")).to_contain_text("vat[0].rate: not a number")

    expect(page.locator("#dry-run-progress")).to_have_count(0)

    page.fill("#draft", draft.replace('revenue_account = "8000"', 'revenue_account = "8005"'))
    h.ledger.delete("/__sandbox/requests")
    page.click("#compare")
    # No worker runs yet: the job's page shows its progress bar at its start.
    expect(page.locator("#dry-run-progress progress")).to_be_visible()
    documents = h.runtime.store.scalar("SELECT COUNT(*) FROM documents")
    expect(page.locator("#dry-run-progress .import-count")).to_have_text(f"0 / {documents}")
    assert "/settings/dry-run/" in page.url
    expect(page.locator("#draft")).to_contain_text('revenue_account = "8005"')
    h.runtime.start_workers(2)  # embedded, as `koppel serve` and `koppel demo` run them
    # The page follows the job and shows the result when it is done.
    expect(page.locator("#summary")).to_contain_text(
        f"{len(numbers)} would be booked differently ({len(numbers)} posted")
    for number in numbers:
        row = page.locator(f"#doc-{number} tbody tr").first
        expect(row).to_contain_text("8000")
        expect(row).to_contain_text("8005")
    expect(page.locator("#totals-accounts")).to_contain_text("8005")
    assert h.ledger.get("/__sandbox/requests").json() == []  # nothing was sent

    with page.expect_download() as download:
        page.click("#list-xlsx")
    book = openpyxl.load_workbook(io.BytesIO(download.value.path().read_bytes()))
    lines = list(book["Changed lines"].iter_rows(values_only=True))[1:]
    assert {row[1] for row in lines} == set(numbers)

    before = {m["invoiceNumber"] for m in h.mutations()}
    page.fill("#apply-reason", "accountant: 21% revenue on 8005")
    page.check("#book-corrections")
    job_page = page.url
    page.click("#apply-draft")
    # The workers apply it; the job's page follows them and then says what was done.
    expect(page.locator("#applied")).to_contain_text("Settings version 2 recorded.")
    assert page.url == job_page  # back on the dry run's page (the form's answer redirects)
    expect(page.locator("#applied")).to_contain_text(f"Correction bookings queued: {len(numbers)}")
    expect(page.locator("#applied")).to_contain_text("accountant: 21% revenue on 8005")
    expect(page.locator("#apply-draft")).to_have_count(0)  # applied: no second form
    expected = before | {f"{n}-R2" for n in numbers} | {f"{n}-C2" for n in numbers}
    h.wait_until(lambda: {m["invoiceNumber"] for m in h.mutations()} == expected, timeout=60)
    page.reload()  # loading the page again applies nothing again
    expect(page.locator("#applied")).to_contain_text("Settings version 2 recorded.")
    assert len(h.mutations()) == len(expected)  # each once

    # The document's history says who asked for the correction and why.
    h.runtime.projector.catch_up()
    row = h.runtime.store.query("SELECT id FROM documents WHERE number = ?", [numbers[0]])[0]
    page.goto(f"{koppel.url}/documents/{row['id']}")
    expect(page.locator("[data-event='Correction.Requested']")).to_contain_text(
        "accountant: 21% revenue on 8005")
    expect(page.locator("[data-event='Correction.Posted']")).to_have_count(2)
