"""A real browser on koppel's dashboard: Debian's Chromium driven by Playwright.

koppel runs wired to the in-process sandbox fakes (``tests.harness``) with its projector in the
background, and its Flask app is served on a real local port. Without Chromium (or Playwright)
the tests are skipped with the reason, unless KOPPEL_REQUIRE_SERVICES=1 (CI), where that fails.
Install on Debian: ``apt-get install -y chromium`` (``playwright install`` is not needed).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from sandbox.serve import serve
from tests.harness import MERCHANT, Harness

CHROMIUM = os.environ.get("KOPPEL_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 20_000


def _missing(what: str, reason: str):
    message = f"{what} is not available ({reason})"
    if os.environ.get("KOPPEL_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message}; KOPPEL_REQUIRE_SERVICES=1 makes this a failure", pytrace=False)
    pytest.skip(f"{message}: apt-get install -y chromium and pip install playwright to run it")


@pytest.fixture(scope="session")
def browser():
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        _missing("Chromium", f"no {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        _missing("Playwright", str(error))
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
    except Exception as error:
        playwright.stop()
        _missing("Chromium", str(error).strip().splitlines()[0])
    yield browser
    browser.close()
    playwright.stop()


class Koppel:
    """koppel with its dashboard on ``url``; ``h`` is the harness (shop, ledger, runtime)."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        h.runtime.start_background(projector=True)
        self.server = serve(h.web, keep_alive=False)
        self.url = self.server.url

    def sign_in(self, tab, email: str = MERCHANT[0], password: str = MERCHANT[1]) -> None:
        """Signs the tab in through the sign-in form, as a person would."""
        tab.goto(f"{self.url}/sign-in")
        tab.fill("input[name=email]", email)
        tab.fill("input[name=password]", password)
        tab.click("#sign-in button[type=submit]")
        tab.wait_for_selector("#sign-out")

    def process(self, document: dict):
        """Put one order into the sandbox shop and run it through koppel, as a webhook
        would; returns its document id."""
        shop_id = self.h.put_order(document)["id"]
        doc_id = self.h.runtime.processing.intake(self.h.connection.id, "order", shop_id,
                                                  "webhook:orders.created")
        self.h.runtime.processing.process(doc_id)
        return doc_id


@pytest.fixture
def koppel(sqlite_url):
    h = Harness(sqlite_url)
    k = Koppel(h)
    yield k
    k.server.stop()
    h.close()


@pytest.fixture
def csp_violations() -> list[str]:
    """What Chromium reported on the console as blocked by koppel's Content-Security-Policy;
    the ``tab`` fixture fails the test unless a test emptied it."""
    return []


@pytest.fixture
def tab(browser, request, csp_violations):
    """An English-speaking browser tab on a desktop, signed in as nobody (a test may ask for
    another language and width: ``@pytest.mark.parametrize("tab", [("nl", 390)],
    indirect=True)``); fails the test on any script error in the page and on anything the
    Content-Security-Policy blocked (a page that needs what the policy forbids)."""
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    lang, width = getattr(request, "param", ("en", 1360))
    context = browser.new_context(locale="nl-NL" if lang == "nl" else "en-US",
                                  viewport={"width": width, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.on("console", lambda message: csp_violations.append(message.text)
           if "Content Security Policy" in message.text else None)
    yield tab
    context.close()
    assert not errors, f"script errors in the page: {errors}"
    assert not csp_violations, f"blocked by the Content-Security-Policy: {csp_violations}"


@pytest.fixture
def page(koppel, tab):
    """A tab signed in as the merchant who owns koppel's connection."""
    koppel.sign_in(tab)
    return tab


@pytest.fixture
def screenshot(tmp_path):
    """Saves a full-page PNG (to $KOPPEL_SCREENSHOTS if set, else the test's tmp dir)."""
    folder = Path(os.environ.get("KOPPEL_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)

    def take(tab, name: str) -> Path:
        path = folder / f"{name}.png"
        tab.screenshot(path=str(path), full_page=True)
        return path
    return take
