"""A merchant adds a copy of their ledger for the accountant and switches ledgers, in a real
browser (issue 13.3): the replay runs in the workers, the page follows its progress."""

from __future__ import annotations

from collections import Counter

import pytest

from sandbox.generator import generate
from tests.browser.conftest import Koppel
from tests.harness import Harness

SECOND = "second-administration-token"


@pytest.fixture
def koppel2(sqlite_url):
    h = Harness(sqlite_url, administrations=(SECOND,))
    k = Koppel(h)
    yield k
    k.server.stop()
    h.close()


def _paid_orders(count: int) -> list[dict]:
    docs = [d for d in generate(count * 3, 7, failing_share=0.0, unpaid_share=0.0,
                                scopes={"domestic"})
            if d["kind"] == "order" and d["expect"]["outcome"] == "posted"]
    return docs[:count]


def _sales(client) -> Counter:
    return Counter(m["invoiceNumber"] for m in client.get("/__sandbox/mutations").json()
                   if int(m["type"]) == 2)


def _add(tab, name: str, purpose: str) -> None:
    tab.fill("#name", name)
    tab.select_option("#purpose", purpose)
    tab.select_option("#system", "eboekhouden")
    tab.fill("#credential", SECOND)
    tab.fill("#from", "2020-01-01")
    tab.click("#add-ledger button[type=submit]")


def test_a_copy_then_a_switch_from_the_connections_page(koppel2, tab, screenshot):
    from playwright.sync_api import expect

    k, h = koppel2, koppel2.h
    orders = _paid_orders(7)
    for order in orders[:6]:
        k.process(order)
    h.runtime.start_workers(2)
    second = h.administration(SECOND)
    k.sign_in(tab)
    tab.goto(f"{k.url}/connections/{h.connection.id}")
    tab.click("#further-ledgers")
    expect(tab.locator("#no-targets")).to_be_visible()

    _add(tab, "Accountant", "switch")
    box = tab.locator(".ledger-target")
    expect(box.locator(".import-state")).to_have_text("replayed")  # the page follows it
    expect(box.locator(".import-count")).to_have_text("6 / 6")
    assert _sales(second) == _sales(h.ledger) and len(_sales(second)) == 6
    screenshot(tab, "further-ledgers-replayed")

    tab.click("button[id^=switch-]")
    expect(box.locator(".import-state")).to_have_text("the connection books here now")
    k.process(orders[6])  # a new order: into the new ledger only
    assert len(_sales(h.ledger)) == 6 and len(_sales(second)) == 7
    assert set(_sales(second).values()) == {1}
    second.close()


def test_the_page_speaks_dutch(koppel2, browser):
    context = browser.new_context(locale="nl-NL")
    tab = context.new_page()
    try:
        koppel2.sign_in(tab)
        tab.goto(f"{koppel2.url}/connections/{koppel2.h.connection.id}/ledgers")
        assert "Andere boekhoudingen" in tab.content()
        assert "Een boekhouding toevoegen" in tab.content()
    finally:
        context.close()
