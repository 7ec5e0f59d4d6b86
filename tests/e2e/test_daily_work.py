"""The merchant's daily work through the dashboard (signed in, CSRF-protected forms): Process a
selection in Errors, search and open a document by its number, download the accountant's export,
report a problem to support by e-mail."""

from __future__ import annotations

import io
from decimal import Decimal

import openpyxl
import pytest

from tests.e2e.orders import post_orders
from tests.e2e.test_export import ledger_totals
from tests.e2e.test_process_again import _fix_vat_number, _in_errors
from tests.harness import BOOKS_FROM, PUBLIC_URL, Harness, csrf_token
from tests.harness import test_settings as settings_with
from tests.mailbox import smtp  # noqa: F401  (a fixture)
from web.mail import Mail

SUPPORT = "support-desk@example.test"


@pytest.fixture
def h(sqlite_url, smtp):  # noqa: F811
    controller, _ = smtp
    harness = Harness(sqlite_url, config={
        "mail": Mail(host="127.0.0.1", port=controller.port, security="none",
                     password="smtp-password-never-shown"),
        "support_email": SUPPORT})
    yield harness
    harness.close()


def _token(client, path: str = "/errors") -> str:
    return csrf_token(client.get(path).get_data(as_text=True))


def test_process_a_selection_from_errors(h):
    (fixed_shop, fixed), (_, unfixed) = _in_errors(h, 2)
    _fix_vat_number(h, fixed_shop, fixed)
    h.runtime.projector.catch_up()
    errors = h.merchant.get("/errors").get_data(as_text=True)
    assert f'value="{fixed}"' in errors and 'form="process-selection"' in errors

    refused = h.merchant.post("/documents/process", data={"doc": [str(fixed)]})
    assert refused.status_code == 400  # no CSRF token
    done = h.merchant.post("/documents/process", follow_redirects=True, data={
        "doc": [str(fixed), str(unfixed)], "reason": "VAT number corrected",
        "csrf_token": _token(h.merchant), "next": "/errors"})
    assert done.status_code == 200 and "Processed again: " in done.get_data(
        as_text=True)
    assert h.mutations() == []  # the workers post, not the request
    h.runtime.start_workers(2)
    h.wait_until(lambda: h.runtime.app.document(fixed).status == "posted"
                 and h.runtime.app.document(unfixed).status == "failed")
    last = [e for e in h.runtime.app.history(fixed) if type(e).__name__ == "ReprocessRequested"]
    assert [(e.by, e.reason) for e in last] == [("merchant@example.test",
                                                 "VAT number corrected")]


def test_the_document_page_process_button_fetches_from_the_shop_again(h):
    [(shop_id, doc_id)] = _in_errors(h, 1)
    _fix_vat_number(h, shop_id, doc_id)
    h.runtime.start_workers(2)
    answer = h.merchant.post(f"/documents/{doc_id}/reprocess", data={
        "reason": "fixed in the shop", "csrf_token": _token(h.merchant, f"/documents/{doc_id}")})
    assert answer.status_code == 303
    h.wait_until(lambda: h.runtime.app.document(doc_id).status == "posted")
    names = [type(e).__name__ for e in h.runtime.app.history(doc_id)]
    assert names.index("ReprocessRequested") < names.index("Refreshed") < names.index("Posted")


def test_search_and_a_document_by_its_number(h):
    items = post_orders(h, 3, seed=47)
    h.runtime.projector.catch_up()
    order = items[1]["order"]
    number, email = str(order["ordernumber_full"]), order["customer"]["email"]
    found = h.merchant.get(f"/search?q={email.upper()}").get_data(as_text=True)
    assert f">{number}</a>" in found
    assert str(items[0]["order"]["ordernumber_full"]) + "</a>" not in found
    opened = h.merchant.get(f"/orders/{number}")
    assert opened.status_code == 302 and "/documents/" in opened.headers["Location"]
    assert h.merchant.get("/orders/999999999").status_code == 404
    assert h.merchant.get(f"/invoices/{number}").status_code == 404  # an order, not an invoice

    # A second connection of the same merchant with the same order number: a page to choose.
    other, _ = h.runtime.connections.save(settings_with(
        h.shop_url, **{'name = "Demo shop"': 'name = "Second shop"'}), by="test",
        start_date=BOOKS_FROM)
    h.runtime.accounts.grant("merchant@example.test", other.id, by="test")
    [row] = h.runtime.store.query("SELECT shop_id FROM documents WHERE number = ?", [number])
    doc = h.runtime.processing.intake(other.id, "order", int(row["shop_id"]), "test")
    assert doc is not None
    h.runtime.projector.catch_up()
    choose = h.merchant.get(f"/orders/{number}")
    assert choose.status_code == 200
    page = choose.get_data(as_text=True)
    assert "Second shop" in page and "Demo shop" in page


def _period(h) -> str:
    """The period of every booking made (the generator's dates)."""
    [row] = h.runtime.store.query(
        "SELECT MIN(booking_date) AS first, MAX(booking_date) AS last FROM booked_documents")
    return f"from={row['first']}&to={row['last']}"


def test_the_export_downloads_hold_the_ledgers_totals(h):
    items = post_orders(h, 8, seed=53)
    h.runtime.projector.catch_up()
    ledger = ledger_totals(h, items)
    period = _period(h)
    answer = h.merchant.get(f"/export/report.xlsx?{period}")
    assert answer.status_code == 200
    assert "attachment" in answer.headers["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(answer.data))
    per_account = {row[0]: Decimal(str(row[3])) for row in
                   book["Totals per ledger account"].iter_rows(min_row=2, values_only=True)}
    assert per_account.pop("Total") == ledger["total"][""]
    assert per_account == dict(ledger["account"])
    dutch = h.merchant.get(f"/export/report.csv?{period}&lang=nl")
    assert "Totalen per btw-code" in dutch.data.decode("utf-8-sig")
    assert h.merchant.get("/export/report.csv?from=2026-02-01&to=2026-01-01").status_code == 400
    assert h.merchant.get("/export/report.csv?from=2000-01-01&to=2100-01-01").status_code == 400
    assert h.client.get(f"/export/report.csv?{period}").status_code == 302  # sign in first


def test_report_a_problem_mails_the_audit_and_the_note_to_support(h, smtp):  # noqa: F811
    _, box = smtp
    [(_, doc_id)] = _in_errors(h, 1)
    number = h.runtime.app.document(doc_id).number
    path = f"/documents/{doc_id}"
    answer = h.merchant.post(f"{path}/report-problem", follow_redirects=True, data={
        "note": "The customer says the VAT number <b>is</b> right", "csrf_token":
        _token(h.merchant, path)})
    assert "Sent to support" in answer.get_data(as_text=True)
    [mail] = box.to(SUPPORT)
    body = mail.get_content()
    assert number in mail["Subject"] and "ICP_VAT_NUMBER_INVALID" in body
    assert "The customer says the VAT number <b>is</b> right" in body
    assert f"{PUBLIC_URL}/documents/{doc_id}" in body and "merchant@example.test" in body
    for secret in ("smtp-password-never-shown", h.config.secret_key, "demo-ledger-token",
                   "demo-shop-secret"):
        assert secret not in body
