"""The Configuration page in Chromium, in Dutch and English, at phone and desktop width: VAT
codes and accounts chosen from the drop-downs the sandbox ledger fills, saved as a new version
shown with its diff, a document then booked with them; a wrong value gets the file import's
message beside its field; removing asks what happens to the history."""

from __future__ import annotations

import pytest

from sandbox.generator import generate
from tests.harness import MERCHANT

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture says so: a skip, or a failure in CI
    expect = None

WIDTHS = {"phone": 390, "desktop": 1360}
SAVED = {"nl": "Opgeslagen.", "en": "Saved."}
NOT_A_NUMBER = {"nl": "geen getal", "en": "not a number"}


@pytest.fixture(params=[(lang, width) for lang in ("nl", "en") for width in WIDTHS])
def tab(browser, request):
    lang, width = request.param
    context = browser.new_context(locale=lang, viewport={"width": WIDTHS[width], "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.lang = lang
    yield page
    context.close()
    assert not errors, f"script errors in the page: {errors}"


def _order(scope: str) -> dict:
    return next(i for i in generate(80, 5, failing_share=0, unpaid_share=0, scopes={scope})
                if i["kind"] == "order" and i["expect"]["outcome"] == "posted"
                and i["expect"]["scope"] == scope)


def test_vat_codes_from_the_drop_downs_are_saved_and_booked(koppel, tab):
    settings = f"{koppel.url}/connections/{koppel.h.connection.id}/settings?lang={tab.lang}"
    koppel.sign_in(tab)
    tab.goto(settings)
    icp_code = tab.locator("select[name='icp.vat_code']")
    options = icp_code.locator("option").all_inner_texts()
    assert {"BI_EU_VERK", "BI_EU_VERK_D", "HOOG_VERK_21", "GEEN"} <= set(options)
    revenue = tab.locator("select[name='icp.revenue_account']")
    assert "8100 Omzet intracommunautair (ICP)" in revenue.locator("option").all_inner_texts()
    icp_code.select_option("BI_EU_VERK_D")
    revenue.select_option("8200")
    tab.locator("#save").click()
    expect(tab.locator("#saved")).to_contain_text(SAVED[tab.lang])
    newest = tab.locator("#version-2")
    expect(newest).to_contain_text(MERCHANT[0])  # who saved it
    expect(newest.locator("table.diff")).to_contain_text("icp.vat_code")
    expect(newest.locator("table.diff")).to_contain_text("BI_EU_VERK_D")
    assert tab.evaluate("document.scrollingElement.scrollWidth") <= tab.viewport_size["width"]

    doc_id = koppel.process(_order("icp"))
    assert koppel.h.runtime.app.document(doc_id).status == "posted"
    rows = [(r["ledgerCode"], r["vatCode"]) for m in koppel.h.mutations() for r in m["rows"]]
    assert ("8200", "BI_EU_VERK_D") in rows and not any(c == "BI_EU_VERK" for _, c in rows)


def test_a_wrong_value_gets_the_file_imports_message_beside_its_field(koppel, tab):
    koppel.sign_in(tab)
    tab.goto(f"{koppel.url}/connections/{koppel.h.connection.id}/settings?lang={tab.lang}")
    tab.fill("input[name='vat[1].rate']", "negen")
    tab.locator("#save").click()
    field = tab.locator(".field.invalid", has=tab.locator("input[name='vat[1].rate']"))
    expect(field.locator("p.problem")).to_have_text(NOT_A_NUMBER[tab.lang])
    assert tab.locator("input[name='vat[1].rate']").input_value() == "negen"  # kept as typed
    assert koppel.h.runtime.connections.get(koppel.h.connection.id).version == 1
    box = field.locator("p.problem").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= tab.viewport_size["width"]


def test_an_accountant_reads_the_settings_and_cannot_change_them(koppel, tab):
    accounts, email = koppel.h.runtime.accounts, "accountant@example.test"
    if accounts.by_email(email) is None:
        accounts.add(email, "accountant", "a-long-test-password", by="test",
                     connections=[koppel.h.connection.id])
    koppel.sign_in(tab, email, "a-long-test-password")
    tab.goto(f"{koppel.url}/connections/{koppel.h.connection.id}/settings?lang={tab.lang}")
    expect(tab.locator("#read-only")).to_be_visible()
    expect(tab.locator("select[name='icp.vat_code']")).to_be_disabled()
    expect(tab.locator("input[name='vat[1].rate']")).to_be_disabled()
    assert tab.locator("#save, #pause, #resume, #remove-link").count() == 0
    assert tab.evaluate("document.scrollingElement.scrollWidth") <= tab.viewport_size["width"]
