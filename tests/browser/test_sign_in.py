"""Signing in, in Chromium: a merchant sees their own documents, is refused another merchant's
document as if it did not exist, and signs out."""

from __future__ import annotations

from tests.access.conftest import OTHER_SHOP, _orders
from tests import harness

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture says so: a skip, or a failure in CI
    expect = None


def test_a_merchant_sees_their_own_documents_only_and_signs_out(koppel, tab, screenshot):
    h = koppel.h
    other, _ = h.runtime.connections.save(harness.test_settings(h.shop_url, **OTHER_SHOP),
                                          by="test", start_date=harness.BOOKS_FROM)
    h.runtime.accounts.add("b@example.test", "merchant", "merchant-b-password", by="test",
                           connections=[other.id])
    order = _orders("failed", 3)[0]
    shop_id = h.put_order(order)["id"]
    mine, theirs = (h.runtime.processing.intake(conn, "order", shop_id, "test")
                    for conn in (h.connection.id, other.id))
    for doc_id in (mine, theirs):
        h.runtime.processing.process(doc_id)
    name = order["order"]["customer"]["billingaddress"]["full_name"]

    tab.goto(f"{koppel.url}/errors")
    expect(tab).to_have_url(f"{koppel.url}/sign-in?next=/errors")
    tab.fill("input[name=email]", harness.MERCHANT[0])
    tab.fill("input[name=password]", "wrong password")
    tab.click("#sign-in button[type=submit]")
    expect(tab.locator("#refused")).to_be_visible()
    tab.fill("input[name=email]", harness.MERCHANT[0])
    tab.fill("input[name=password]", harness.MERCHANT[1])
    tab.click("#sign-in button[type=submit]")
    expect(tab).to_have_url(f"{koppel.url}/errors")  # back where they wanted to go
    expect(tab.locator("#count-errors")).to_have_text("1")  # not the other shop's
    expect(tab.locator(f"a[href='/documents/{mine}']")).to_have_count(1)
    expect(tab.locator(f"a[href='/documents/{theirs}']")).to_have_count(0)
    screenshot(tab, "signed-in-errors")

    tab.goto(f"{koppel.url}/documents/{mine}")
    expect(tab.locator(".customer")).to_have_text(name)
    refused = tab.goto(f"{koppel.url}/documents/{theirs}")
    assert refused.status == 404
    assert name not in tab.content()

    tab.goto(f"{koppel.url}/")
    tab.click("#sign-out")
    expect(tab).to_have_url(f"{koppel.url}/sign-in")
    back = tab.goto(f"{koppel.url}/documents/{mine}")
    assert back.url.startswith(f"{koppel.url}/sign-in") and name not in tab.content()
