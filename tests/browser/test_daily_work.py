"""The daily work in Chromium, as a merchant does it: an order in Errors is fixed in the sandbox
shop and processed again from the Errors list, found by search, exported (the file's totals are
the ledger's), and the digest e-mail's link opens its page; the pages work at 390 px wide."""

from __future__ import annotations

import io
from decimal import Decimal

import openpyxl
import pytest

from sandbox.generator import generate
from tests.browser.conftest import Koppel
from tests.e2e.orders import post_orders
from tests.e2e.test_export import ledger_totals
from tests.e2e.test_process_again import _fix_vat_number, _in_errors
from tests.harness import Harness
from tests.mailbox import smtp  # noqa: F401  (a fixture)
from web.mail import Mail

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture says so: a skip, or a failure in CI
    expect = None


@pytest.fixture
def koppel(sqlite_url, smtp):  # noqa: F811
    controller, _ = smtp
    h = Harness(sqlite_url, config={
        "mail": Mail(host="127.0.0.1", port=controller.port, security="none")})
    k = Koppel(h)
    yield k
    k.server.stop()
    h.close()


def test_fix_process_search_export_and_the_mail(koppel, page, smtp, screenshot):  # noqa: F811
    _, box = smtp
    h = koppel.h
    items = post_orders(h, 4, seed=59, number_from=7001)
    [(shop_id, doc_id)] = _in_errors(h, 1)
    number = h.runtime.app.document(doc_id).number
    h.runtime.start_workers(2)

    # The digest names the error, with a link that opens its page.
    h.runtime.projector.catch_up()
    assert h.runtime.notifier.send_digests() == 1
    [mail] = box.to("merchant@example.test")
    link = next(line.strip() for line in mail.get_content().splitlines()
                if line.strip().endswith(f"/documents/{doc_id}"))
    page.goto(link.replace(h.config.public_url, koppel.url))
    expect(page.locator("h1")).to_contain_text(number)

    # Fixed in the shop, then ticked on Errors and processed again.
    _fix_vat_number(h, shop_id, doc_id)
    page.goto(f"{koppel.url}/errors")
    page.check(f"input[name=doc][value='{doc_id}']")
    page.fill("#selection-reason", "VAT number corrected in the shop")
    screenshot(page, "errors-selection")
    page.click("#process-ticked")
    expect(page.locator(".flash").first).to_contain_text(number)
    h.wait_until(lambda: h.runtime.app.document(doc_id).status in ("posted", "failed"), 30)
    assert h.runtime.app.document(doc_id).status == "posted", h.runtime.app.document(doc_id).failure
    page.goto(f"{koppel.url}/report")
    expect(page.locator(f"a[href='/documents/{doc_id}']")).to_have_count(1)

    # Search by the customer's e-mail address.
    email = items[2]["order"]["customer"]["email"]
    page.goto(f"{koppel.url}/search")
    page.fill("#q", email)
    page.press("#q", "Enter")
    expect(page.locator("#results a")).to_have_text(str(items[2]["order"]["ordernumber_full"]))

    # The export's totals are the ledger's.
    page.goto(f"{koppel.url}/export")
    h.runtime.projector.catch_up()
    [period] = h.runtime.store.query(
        "SELECT MIN(booking_date) AS first, MAX(booking_date) AS last FROM booked_documents")
    page.fill("input[name=from]", period["first"])
    page.fill("input[name=to]", period["last"])
    with page.expect_download() as download:
        page.click("#export-xlsx")
    book = openpyxl.load_workbook(io.BytesIO(open(download.value.path(), "rb").read()))
    per_code = {row[0]: Decimal(str(row[3])) for row in
                book["Totals per VAT code"].iter_rows(min_row=2, values_only=True)}
    ordered = {str(i["order"]["ordernumber_full"]): i for i in items}
    fixed = h.runtime.app.document(doc_id)
    ordered[number] = {"order": {"ordernumber_full": number},
                       "expect": {"country": fixed.booking["country"]}}
    ledger = ledger_totals(h, list(ordered.values()))
    assert per_code.pop("Total") == ledger["total"][""]
    assert per_code == dict(ledger["vat_code"])


@pytest.mark.parametrize("path", ["/search?q=example", "/export", "/account/notifications"])
def test_the_pages_fit_a_phone(koppel, browser, path, screenshot):
    post_orders(koppel.h, 3, seed=61)  # search finds them all (example.* addresses)
    context = browser.new_context(locale="nl-NL", viewport={"width": 390, "height": 844})
    tab = context.new_page()
    try:
        koppel.sign_in(tab)
        tab.goto(f"{koppel.url}{path}")
        width = tab.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width} px wide"
        if path.startswith("/search"):
            assert tab.locator("#results a").count() == 3
        assert "Search" not in tab.locator("main").inner_text()  # Dutch, not English
        screenshot(tab, "phone" + path.replace("/", "-").split("?")[0])
    finally:
        context.close()


def test_ticks_survive_a_live_redraw_of_the_errors_list(koppel, page):
    """A merchant ticks documents on Errors while orders keep arriving: the list redraws itself
    (live.js) and the ticks must stay, else "Process selected" runs fewer than they chose."""
    h = koppel.h
    [(_, first)] = _in_errors(h, 1)
    h.runtime.projector.catch_up()
    page.goto(f"{koppel.url}/errors")
    page.check(f"input[name=doc][value='{first}']")
    # One more order lands in Errors: the rows part is fetched again and swapped in.
    later = [i for i in generate(400, 31, failing_share=1.0, unpaid_share=0)
             if i["expect"]["check"] == "ICP_VAT_NUMBER_INVALID" and i["kind"] == "order"][0]
    doc_id = h.runtime.processing.intake(h.connection.id, "order", h.put_order(later)["id"], "test")
    h.runtime.processing.process(doc_id)
    h.runtime.projector.catch_up()
    expect(page.locator("#rows input[name=doc]")).to_have_count(2, timeout=15_000)
    expect(page.locator(f"input[name=doc][value='{first}']")).to_be_checked()
    expect(page.locator(f"input[name=doc][value='{doc_id}']")).not_to_be_checked()
