"""Every page at a phone's width (390 px), in Dutch and English: nothing scrolls sideways and
the explanation of an error is on screen."""

from __future__ import annotations

import pytest

from tests.documents import one_of_each

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture says so: a skip, or a failure in CI
    expect = None

PHONE = 390


@pytest.fixture(params=["nl", "en"])
def phone(browser, request):
    context = browser.new_context(locale=request.param,
                                  viewport={"width": PHONE, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def _documents(koppel) -> dict:
    docs = one_of_each(koppel.process)
    koppel.h.rows()
    return docs


def test_no_page_scrolls_sideways_and_the_error_is_explained_on_screen(koppel, phone):
    docs = _documents(koppel)
    conn = koppel.h.connection.id
    paths = ["/", "/report", "/errors", "/open", "/payments",
             *(f"/documents/{d}" for d in docs.values()),
             f"/connections/{conn}/settings", f"/connections/{conn}/remove", "/no-such-page"]
    koppel.sign_in(phone)
    wide = {}
    for path in paths:
        phone.goto(koppel.url + path)
        assert "/sign-in" not in phone.url, path  # the page itself, not the way in
        width = phone.evaluate("document.scrollingElement.scrollWidth")
        if width > PHONE:
            wide[path] = width
    assert wide == {}

    phone.goto(koppel.url + "/errors")
    explanation = phone.locator("#rows td.message").first
    expect(explanation).to_be_visible()
    assert len(explanation.inner_text()) > 20
    box = explanation.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE
    assert box["y"] < 844 * 2  # within the first two screens of the list
