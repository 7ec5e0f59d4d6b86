"""The dashboard in the merchant's language: English or Dutch (flask-babel).

The language comes from ``?lang=nl|en`` (remembered in a cookie), else the browser's
``Accept-Language``, else English. Dates, times and amounts are shown the way that language
writes them, in the shop's time zone.

The Dutch texts live in ``translations/nl/LC_MESSAGES/messages.po``; the compiled ``.mo`` next
to it is what runs. After editing the ``.po``: ``python -m web.i18n`` compiles it again (a test
fails while the two differ, or while a text of the templates has no Dutch translation).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from flask import Flask, request
from flask_babel import (Babel, format_currency, format_date, format_datetime, get_locale,
                         gettext)
from flask_babel import lazy_gettext as _l

LANGUAGES = ("en", "nl")
DEFAULT = "en"
COOKIE = "lang"
TIMEZONE = "Europe/Amsterdam"  # CCV Shop merchants are in the Netherlands and Belgium
TRANSLATIONS = Path(__file__).parent / "translations"
CATALOG = TRANSLATIONS / "nl" / "LC_MESSAGES" / "messages.po"


def N_(text: str) -> str:
    """Marks a text for translation where it is made (translated where it is shown)."""
    return text


# Texts other modules hand to the templates, shown with the ``translated`` filter.
KNOWN_MESSAGES = (
    N_("Billit was not connected: access was not granted."),
    N_("Billit is connected; waiting documents are sent now."),
    N_("ledger not connected yet"),  # why a connection is paused (domain/app_install.py)
    N_("uninstalled in the CCV App Store"),
    N_("A password has at least 10 characters."),  # web/appstore.py's account form
    N_("That e-mail has a koppel account: give its password."),
    N_("This shop's connection was removed from koppel, so it cannot be installed again. "
       "Ask koppel's support for help."),  # application/app_store.py
)

STATUSES = {
    "received": _l("Received"), "waiting": _l("Waiting"), "checked": _l("Checked"),
    "debtor_resolved": _l("Customer determined"), "posting": _l("Posting"),
    "posted": _l("Posted"), "failed": _l("Failed"), "interrupted": _l("Interrupted"),
    "before_start": _l("Before the start date"),
}
KINDS = {"order": _l("Order"), "invoice": _l("Invoice"), "credit": _l("Credit note")}
SCOPES = {"domestic": _l("Domestic"), "icp": _l("EU business (ICP)"),
          "international": _l("Outside the EU"), "oss": _l("EU consumer (OSS)")}
WAITING_FOR = {"payment": _l("Payment"), "shop": _l("The shop")}
ROLES = {"merchant": _l("Merchant"), "accountant": _l("Accountant"), "support": _l("Support"),
         "admin": _l("Administrator")}
PAYMENT_METHODS = {  # CCV Shop's payment method codes (lower case), as merchants know them
    "ideal": "iDEAL", "paypal": "PayPal", "banktransfer": _l("Bank transfer"),
    "creditcard": _l("Credit card"), "mistercash": "Bancontact", "afterpay": "AfterPay",
}
EVENTS = {
    "Received": _l("Received from the shop"),
    "IntakeFailed": _l("Not given by the shop"),
    "FetchFailed": _l("Not given by the shop"),
    "Refreshed": _l("Changed in the shop"),
    "Checked": _l("Checked against the rules"),
    "DebtorResolved": _l("Customer found in the ledger"),  # see DEBTOR_ACTIONS
    "PostingStarted": _l("Posting started"),
    "PostingInterrupted": _l("Posting interrupted"),
    "LookedUp": _l("Looked up in the ledger"),
    "Posted": _l("Posted in the ledger"),
    "Failed": _l("Failed"),
    "ReprocessRequested": _l("Processed again on request"),
    "PaymentStarted": _l("Payment posting started"),
    "PaymentInterrupted": _l("Payment posting interrupted"),
    "PaymentPosted": _l("Payment posted"),
    "PaymentFailed": _l("Payment failed"),
    "Correction.Requested": _l("Correction requested after a settings change"),
    "Correction.Started": _l("Correction posting started"),
    "Correction.Interrupted": _l("Correction posting interrupted"),
    "Correction.LookedUp": _l("Correction looked up in the ledger"),
    "Correction.Posted": _l("Correction posted in the ledger"),
    "Correction.Failed": _l("Correction failed"),
}

# R6: an existing relation matched by e-mail (R6.2), a new one (R6.3), or the payment method's
# fixed debtor (R6.1). koppel never changes an existing relation.
DEBTOR_ACTIONS = {"matched": _l("Customer found in the ledger"),
                  "created": _l("Customer created in the ledger"),
                  "fixed": _l("Booked on the payment method's fixed customer")}


def event_label(event: dict) -> str:
    """An event of a document's history in the merchant's words."""
    if event["event"] == "DebtorResolved":
        action = (event["fields"].get("relation") or {}).get("action")
        if action in DEBTOR_ACTIONS:
            return str(DEBTOR_ACTIONS[action])
    return label(event["event"], EVENTS)


def select_locale() -> str:
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        return asked
    remembered = request.cookies.get(COOKIE)
    if remembered in LANGUAGES:
        return remembered
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT


def language() -> str:
    return str(get_locale() or DEFAULT)


def _remember(response):
    asked = request.args.get("lang")
    if asked in LANGUAGES and request.cookies.get(COOKIE) != asked:
        response.set_cookie(COOKIE, asked, max_age=365 * 24 * 3600, samesite="Lax",
                            httponly=True)
    return response


# -- what the templates use ----------------------------------------------------------------

def label(value, labels: dict) -> str:
    """The merchant's word for a code; an unknown code is shown as it is."""
    if value is None or value == "":
        return ""
    return str(labels.get(value, value))


def payment_method(value) -> str:
    return str(PAYMENT_METHODS.get(value.lower(), value)) if value else ""


def problem(text) -> str:
    """A refused connection's problem without its technical prefix (``ledger: ...``)."""
    where, _, message = str(text or "").partition(": ")
    return message if where in ("ledger", "shop") and message else str(text or "")


def said(nl: str | None, en: str) -> str:
    """A message that has both languages, in the page's (Dutch when there is Dutch)."""
    return nl if nl and language() == "nl" else en


def in_language(row: dict, field: str) -> str:
    """``row[field + "_nl"]`` or ``_en``, whichever is the page's language (else the other)."""
    mine, other = ("nl", "en") if language() == "nl" else ("en", "nl")
    return row.get(f"{field}_{mine}") or row.get(f"{field}_{other}") or ""


def money(amount, currency: str | None) -> str:
    if amount in (None, ""):
        return ""
    try:
        return format_currency(Decimal(str(amount)), currency or "EUR")
    except (InvalidOperation, ValueError, KeyError):
        return f"{amount} {currency or ''}".strip()


def day(value) -> str:
    if not value:
        return ""
    try:
        return format_date(date.fromisoformat(str(value)[:10]), "medium")
    except ValueError:
        return str(value)


def moment(value) -> str:
    if not value:
        return ""
    try:
        return format_datetime(datetime.fromisoformat(str(value)), "medium")
    except ValueError:
        return str(value)


def reference(value) -> str:
    """A ledger reference (stored as JSON) as the merchant looks it up: its values."""
    if not value:
        return ""
    found = value
    if isinstance(value, str):
        try:
            found = json.loads(value)
        except ValueError:
            return value
    if isinstance(found, dict):
        return ", ".join(str(v) for v in found.values() if v not in (None, ""))
    return str(found)


def translated(message) -> str:
    """A text another module made (one of ``KNOWN_MESSAGES``) in the page's language; as plain
    text, so the template escapes it (``_()`` in a template would mark it safe)."""
    return str(gettext(message)) if message in KNOWN_MESSAGES else str(message or "")


def pretty(value) -> str:
    """Plain text (escaped by the template like any other text), not ``tojson``'s markup."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=select_locale, default_locale=DEFAULT,
          default_timezone=TIMEZONE, default_translation_directories=str(TRANSLATIONS))
    app.after_request(_remember)
    app.jinja_env.filters.update(money=money, day=day, moment=moment, reference=reference,
                                 pretty=pretty, translated=translated,
                                 payment_method=payment_method, problem=problem)

    @app.context_processor
    def languages():
        return {"lang": language(), "languages": LANGUAGES, "label": label,
                "in_language": in_language, "STATUSES": STATUSES, "KINDS": KINDS,
                "SCOPES": SCOPES, "WAITING_FOR": WAITING_FOR, "EVENTS": EVENTS,
                "ROLES": ROLES, "event_label": event_label}


def compile_catalog(po: Path = CATALOG) -> bytes:
    """The ``.mo`` bytes for a ``.po`` file."""
    from io import BytesIO

    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as handle:
        catalog = read_po(handle, locale=po.parent.parent.name)
    out = BytesIO()
    write_mo(out, catalog)
    return out.getvalue()


if __name__ == "__main__":
    CATALOG.with_suffix(".mo").write_bytes(compile_catalog())
    print(f"compiled {CATALOG.with_suffix('.mo')}")
