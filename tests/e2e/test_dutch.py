"""Every page in Dutch has no English left: the visible text of each page (what the merchant
reads, not codes, JSON details or the shop's own data) holds none of the English words koppel's
pages use. The catalog check (tests/browser/test_translations.py) finds texts without a
translation; this finds English that never went through the catalog at all."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from tests.documents import one_of_each
from tests.harness import csrf_token
from web.i18n import EVENTS

# Words of koppel's English pages that are not also Dutch words.
ENGLISH = {"the", "and", "with", "from", "not", "found", "failed", "booked", "posted",
           "settings", "save", "customer", "payment", "payments", "error", "errors", "report",
           "overview", "received", "waiting", "version", "versions", "ledger", "required",
           "missing", "invoice", "page", "nothing", "connection", "connections", "remove",
           "history", "keep", "erase", "rate", "rates", "account", "debtor", "method",
           "requested", "internal", "server", "bad", "request", "allowed", "checked", "created",
           "interrupted", "started", "looked", "changed", "again"}
ENGLISH |= {name.lower() for name in EVENTS}  # an event's own name (DebtorResolved) is English
SKIPPED = {"script", "style", "code", "pre", "title", "option"}  # codes, raw data, ledger names
SKIPPED_CLASSES = {"code", "customer"}


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.skipping: list[str] = []
        self.words: list[str] = []

    def handle_starttag(self, tag, attrs):
        classes = set((dict(attrs).get("class") or "").split())
        if self.skipping or tag in SKIPPED or classes & SKIPPED_CLASSES:
            if tag not in ("input", "br", "img", "meta", "link"):
                self.skipping.append(tag)
        elif tag == "input" and dict(attrs).get("placeholder"):
            self.words += re.findall(r"[A-Za-z]+", dict(attrs)["placeholder"])

    def handle_endtag(self, tag):
        if self.skipping and self.skipping[-1] == tag:
            self.skipping.pop()

    def handle_data(self, data):
        if not self.skipping:
            self.words += re.findall(r"[A-Za-z]+", data)


def english_in(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return sorted({w for w in parser.words if w.lower() in ENGLISH})


def pages(h) -> list[str]:
    """Every page a merchant reaches, with a booked, a failed and a waiting document."""
    def process(item):
        doc_id = h.runtime.processing.intake(h.connection.id, "order",
                                             h.put_order(item)["id"], "test")
        h.process(doc_id)
        return doc_id

    docs = one_of_each(process)
    h.rows()
    conn = h.connection.id
    return ["/", "/report", "/errors", "/open", "/payments",
            *(f"/documents/{d}" for d in docs.values()),
            f"/connections/{conn}", f"/connections/{conn}/settings", f"/connections/{conn}/remove",
            "/no-such-page", "/report?from=yesterday"]


def test_the_word_list_finds_english(harness):
    """The check can fail: the same pages in English are full of these words."""
    for path in pages(harness)[:3]:
        html = harness.merchant.get(path, headers={"Accept-Language": "en"}).get_data(as_text=True)
        assert english_in(html), path


def test_no_english_on_dutch_pages(harness):
    client = harness.merchant
    found = {}
    for path in pages(harness):
        response = client.get(path, headers={"Accept-Language": "nl"})
        assert response.status_code in (200, 400, 404), (path, response.status_code)
        words = english_in(response.get_data(as_text=True))
        if words:
            found[path] = words
    assert found == {}


def test_a_settings_problem_is_dutch_beside_its_field(harness):
    from application import configure

    form = configure.form_fields(harness.runtime.app.find_connection(
        harness.connection.id).settings)
    form.update({"vat[1].rate": "negen", "shop.home_country": "XX",
                 "ledger.payment_term_days": "veertien", "oss.DE.vat_code": "GEEN"})
    settings = f"/connections/{harness.connection.id}/settings"
    form["csrf_token"] = csrf_token(harness.merchant.get(settings).get_data(as_text=True))
    html = harness.merchant.post(settings, data=form,
                               headers={"Accept-Language": "nl"}).get_data(as_text=True)
    assert english_in(html) == []
    assert "geen getal" in html and "geen geheel getal" in html


@pytest.fixture
def harness(sqlite_url):
    from tests.harness import Harness
    h = Harness(sqlite_url)
    yield h
    h.close()
