"""The Dutch catalog is complete and compiled; the language is chosen as promised. (No
browser needed: these run everywhere.)"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

import web
from tests.harness import Harness
from web.i18n import CATALOG, compile_catalog

METHODS = [("templates/**.html", "jinja2"), ("*.py", "python")]
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "N_": None}


def _catalog():
    with CATALOG.open("rb") as handle:
        return read_po(handle, locale="nl")


def test_every_text_of_the_pages_has_a_dutch_translation():
    found = {message for _, _, message, _, _ in
             extract_from_dir(Path(web.__file__).parent, METHODS, keywords=KEYWORDS)}
    assert len(found) > 50
    catalog = _catalog()
    untranslated = sorted(m for m in found if not (catalog.get(m) and catalog.get(m).string))
    assert not untranslated, f"add these to {CATALOG}: {untranslated}"


def test_the_compiled_catalog_is_the_current_one():
    compiled = CATALOG.with_suffix(".mo")
    assert compiled.is_file(), "run: python -m web.i18n"
    shipped = {m.id: m.string for m in read_mo(BytesIO(compiled.read_bytes())) if m.id}
    current = {m.id: m.string for m in read_mo(BytesIO(compile_catalog())) if m.id}
    assert shipped == current, "messages.po changed since messages.mo was made: python -m web.i18n"


def test_the_language_comes_from_the_query_then_the_cookie_then_the_browser(sqlite_url):
    h = Harness(sqlite_url)
    try:
        client = h.merchant
        assert "<h1>Report</h1>" in client.get("/report").get_data(as_text=True)
        dutch = client.get("/report", headers={"Accept-Language": "nl-NL,nl;q=0.9,en;q=0.5"})
        assert "<h1>Geboekt</h1>" in dutch.get_data(as_text=True)
        asked = client.get("/errors?lang=nl")
        assert "<h1>Fouten</h1>" in asked.get_data(as_text=True)
        assert "lang=nl" in asked.headers["Set-Cookie"]
        assert "<h1>Nog te boeken</h1>" in client.get("/open").get_data(as_text=True)  # cookie
        english = client.get("/open?lang=en", headers={"Accept-Language": "nl"})
        assert '<html lang="en">' in english.get_data(as_text=True)
        assert "<h1>Open</h1>" in client.get("/open?lang=xx").get_data(as_text=True)
    finally:
        h.close()


def test_the_debtor_step_says_how_the_customer_was_found_in_the_merchants_words(sqlite_url):
    """R6: matched by e-mail (R6.2), created (R6.3) or the payment method's fixed debtor
    (R6.1); koppel never changes an existing relation, so no label may say it did."""
    from flask_babel import force_locale

    from web.i18n import event_label

    h = Harness(sqlite_url)
    try:
        with h.web.test_request_context(), force_locale("nl"):
            said = {action: event_label({"event": "DebtorResolved",
                                         "fields": {"relation": {"action": action}}})
                    for action in ("matched", "created", "fixed")}
    finally:
        h.close()
    assert said == {"matched": "Debiteur gevonden in de boekhouding",
                    "created": "Debiteur aangemaakt in de boekhouding",
                    "fixed": "Geboekt op de vaste debiteur van de betaalmethode"}
