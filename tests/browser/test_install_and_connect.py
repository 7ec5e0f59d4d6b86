"""Install and connect in Chromium (issue 10), in English and Dutch, at phone and desktop
width: the merchant presses Install in the sandbox App Store, makes their koppel account,
lands back in their shop (signed in to koppel), opens koppel, sees the shop's dot green and the ledger waiting, pastes a wrong token (the ledger's
refusal in plain words), then the right one; then imports a period of history with the
progress bar on the page."""

from __future__ import annotations

import pytest

from domain.app_install import LEDGER_NOT_CONNECTED
from sandbox.generator import generate
from sandbox.serve import serve
from tests.browser.conftest import TIMEOUT_MS
from tests.e2e.conftest import fakes_on_ports  # noqa: F401 (a fixture)
from tests.harness import LEDGER_TOKEN, Harness
from web.demo import free_port

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture says so: a skip, or a failure in CI
    expect = None

APP_SECRET = "browser-app-secret"
TEXTS = {
    "en": {"paused": "Paused", "refused": "e-Boekhouden refused the API token",
           "accepted": "The ledger accepted it", "works": "works",
           "what": "What would it book?", "import": "Import", "done": "done"},
    "nl": {"paused": "Gepauzeerd", "refused": "e-Boekhouden weigert dit API-token",
           "accepted": "De boekhouding heeft het geaccepteerd", "works": "werkt",
           "what": "Wat zou er geboekt worden?", "import": "Importeren", "done": "klaar"},
}


@pytest.fixture
def store(sqlite_url, fakes_on_ports):
    """koppel on a port of its own, its public address that port (the App Store signs the
    addresses registered for the app), and the sandbox shop on a port the browser reaches."""
    port = free_port()
    h = Harness(sqlite_url, servers=fakes_on_ports,
                config={"ccv_app_secret": APP_SECRET, "public_url": f"http://127.0.0.1:{port}"})
    h.runtime.start_background(projector=True)
    server = serve(h.web, port=port)
    h.runtime.start_workers(2)
    yield h, server.url
    server.stop()
    h.close()


def _tab(browser, lang: str, width: int):
    context = browser.new_context(locale="nl-NL" if lang == "nl" else "en-US",
                                  viewport={"width": width, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    return context, tab, errors


def _fits(tab, width: int) -> None:
    scroll = tab.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page is {scroll} px wide on a {width} px screen"


@pytest.mark.parametrize("lang, width", [("en", 1280), ("nl", 390)])
def test_install_from_the_app_store_connect_the_ledger_and_import_history(
        browser, store, lang, width, screenshot):
    expect.set_options(timeout=TIMEOUT_MS)
    (h, url), text = store, TEXTS[lang]
    history = [d for d in generate(12, 71, failing_share=0, unpaid_share=0,
                                   scopes={"domestic"}) if d["kind"] == "order"]
    for order in history:  # the shop's past, before koppel was installed
        h.put_order(order)
    context, tab, errors = _tab(browser, lang, width)
    try:
        urls = {"handshake_url": f"{url}/ccv/handshake", "install_url": f"{url}/ccv/install",
                "app_secret": APP_SECRET}
        pressed = h.shop.post("/__sandbox/appstore/install", json=urls).json()
        assert pressed["handshake_status"] == 200
        tab.goto(pressed["redirect"])  # where the App Store sends the merchant's browser
        # koppel asks for the account that will own the shop's connection
        tab.fill("#ccv-account input[name=email]", f"{lang}-shop@example.test")
        tab.fill("#ccv-account input[name=password]", "a-long-password-1")
        _fits(tab, width)
        tab.click("#ccv-account button")
        # signed in, on the new connection's page; the link goes back to the shop
        expect(tab.locator("#installed")).to_be_visible()
        tab.click("#back-to-shop")
        expect(tab.locator("#app-state")).to_have_text("koppel is installed")
        assert tab.url.startswith(h.shop_url)  # back in their shop
        connection = h.runtime.app.connection_named("127.0.0.1")
        assert connection.paused == LEDGER_NOT_CONNECTED

        tab.goto(f"{url}/connections/{connection.id}?lang={lang}")
        expect(tab.locator("#paused")).to_contain_text(text["paused"])
        expect(tab.locator("#dot-shop .dot-ok")).to_have_count(1)
        expect(tab.locator("#dot-ledger .dot-ok")).to_have_count(0)
        _fits(tab, width)
        screenshot(tab, f"connection-before-{lang}-{width}")

        tab.fill("#api_token", "not-the-token")
        tab.click("form.stack button")
        expect(tab.locator("#token-outcome")).to_contain_text(text["refused"])
        expect(tab.locator("#dot-ledger .dot-bad")).to_have_count(1)
        tab.fill("#api_token", LEDGER_TOKEN)
        tab.click("form.stack button")
        expect(tab.locator("#token-outcome")).to_contain_text(text["accepted"])
        expect(tab.locator("#dot-ledger .dot-ok")).to_have_count(1)
        expect(tab.locator("#dot-ledger")).to_contain_text(text["works"])
        expect(tab.locator("#paused")).to_have_count(0)

        tab.fill("#from", "2026-03-01")
        tab.fill("#to", "2026-12-31")
        tab.click(f"text={text['what']}")
        expect(tab.locator("#dry-run")).to_contain_text(f"{len(history)}")
        assert h.mutations() == []  # the dry run sends nothing
        _fits(tab, width)
        tab.click(f"#dry-run button:has-text('{text['import']}')")
        expect(tab.locator(".import-state")).to_have_text(text["done"])
        expect(tab.locator(".import progress")).to_have_attribute("value", str(len(history)))
        screenshot(tab, f"connection-imported-{lang}-{width}")
        h.wait_until(lambda: len(h.mutations()) == len(history), timeout=60)
        _fits(tab, width)
    finally:
        context.close()
    assert not errors, f"script errors in the page: {errors}"
