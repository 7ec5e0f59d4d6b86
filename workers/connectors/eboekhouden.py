"""The e-Boekhouden REST connector: the ``EBoekhouden`` port over HTTP.

Wire format: ``/work/shared/reference/eboekhouden-api.md``. What this module adds to plain HTTP:

- a session opened lazily with the API token, shared by every thread, renewed once on a 401
  (the request is then repeated: a 401 means the server did nothing);
- ledger codes -> ledger ids, and template names -> template ids, cached per client, so the
  domain builds bookings with account *codes* and never needs the ledger;
- every failure translated into ``application.errors`` with a message a merchant understands;
- money as ``Decimal`` both ways (parsed with ``parse_float=Decimal``, sent with two decimals).

The API token and session token never reach a log line, an exception, ``detail`` or ``repr``.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from datetime import date, datetime
from typing import Iterator
from decimal import ROUND_HALF_UP, Decimal

import httpx

from application.errors import (CredentialsError, DuplicateError, NotFoundError, RejectedError,
                                SlowDown, TransientError)
from workers.connectors import exchange
from workers.connectors.reads import read_each

log = logging.getLogger(__name__)

SOURCE_PATTERN = re.compile(r"^[\w_ ]{1,10}$")
CENT = Decimal("0.01")
QUANTITY = Decimal("0.0001")  # invoice quantities take up to 4 decimals
RENEW_MARGIN = 60.0  # seconds: renew a session this long before the server would drop it
MONEY_FIELDS = ("totalAmount", "paidAmount", "outstandingAmount", "totalExcl", "vatAmount",
                "amount")

TOKEN_EXPIRED = ("Your e-Boekhouden API token has expired; create a new one under Beheer > "
                 "Inrichting > Koppelingen and reconnect")
TOKEN_REFUSED = ("e-Boekhouden refused the API token; check it (or create a new one) under "
                 "Beheer > Inrichting > Koppelingen and reconnect")
NO_ACCESS = ("e-Boekhouden refused access to the administration; log in to e-Boekhouden to "
             "check the account, then reconnect")
# The same in Dutch: a merchant connecting e-Boekhouden reads these first.
TOKEN_EXPIRED_NL = ("Uw API-token van e-Boekhouden is verlopen; maak een nieuw aan onder "
                    "Beheer > Inrichting > Koppelingen en koppel opnieuw")
TOKEN_REFUSED_NL = ("e-Boekhouden weigert dit API-token; controleer het (of maak een nieuw "
                    "aan) onder Beheer > Inrichting > Koppelingen en koppel opnieuw")
NO_ACCESS_NL = ("e-Boekhouden weigert de toegang tot de administratie; log in bij "
                "e-Boekhouden om het account te controleren en koppel dan opnieuw")
# The ledger's own "already there" answers: a number, a relation code or a payment reference.
DUPLICATE_CODES = {"MUT_019", "FACT_101", "REL_049", "MUTA_008", "FACT_VERWERK_004"}
ACCESS_CODES = {"SECURITY_001", "SECURITY_002", "SECURITY_003", "SECURITY_004", "SECURITY_005",
                "SECURITY_006", "SECURITY_010", "SECURITY_011", "SECURITY_999"}

# The codes a merchant meets, in a merchant's words: (Dutch, English). The one place these
# live (codes: eboekhouden-error-codes.tsv and the official OpenAPI document); anything else
# falls back to the API's own title.
_ACCOUNT_MISSING = (
    "Een grootboekrekening van deze boeking bestaat niet in e-Boekhouden; maak haar daar aan "
    "of kies een andere rekening in de instellingen van koppel.",
    "An account used in this booking does not exist in e-Boekhouden; add it there or change "
    "the account in koppel's settings.")
_RELATION_MISSING = (
    "De debiteur (relatie) van deze boeking ontbreekt of bestaat niet meer in e-Boekhouden.",
    "The debtor (relation) of this booking is missing or no longer exists in e-Boekhouden.")
_CLOSED_PERIOD = (
    "De periode van dit document is afgesloten in e-Boekhouden; heropen haar of vraag het uw "
    "boekhouder.",
    "The period of this document is closed in e-Boekhouden; reopen it or ask your accountant.")
_VAT_UNKNOWN = (
    "e-Boekhouden accepteert een btw-code van deze boeking niet; controleer de btw-codes in "
    "de instellingen van koppel.",
    "e-Boekhouden does not accept a VAT code used in this booking; check the VAT codes in "
    "koppel's settings.")
_NUMBER_TOO_LONG = (
    "Het factuurnummer is te lang voor e-Boekhouden (hoogstens 50 tekens).",
    "The invoice number is too long for e-Boekhouden (at most 50 characters).")
_REFERENCE_TAKEN = ("Het betalingskenmerk is al gebruikt in e-Boekhouden.",
                    "The payment reference is already used in e-Boekhouden.")
# R7.2: whether the invoicing module takes negative lines (a discount) or a negative total
# (a credit invoice) is not documented; when it refuses, the way out is the merchant's.
_NEGATIVE_LINE = (
    "e-Boekhouden weigert een factuurregel met een negatief bedrag (een korting). Boek deze "
    "documenten als mutatie in plaats van als factuur (ledger.document = \"mutation\") of "
    "laat de winkel de korting in de prijzen van de regels verwerken, en verwerk het document "
    "opnieuw.",
    "e-Boekhouden refuses an invoice line with a negative amount (a discount). Book these "
    "documents as mutations (ledger.document = \"mutation\") or have the shop take the "
    "discount into the line prices, then reprocess the document.")
_NEGATIVE_TOTAL = (
    "e-Boekhouden weigert een factuur met een negatief totaal (een creditfactuur). Boek deze "
    "documenten als mutatie in plaats van als factuur (ledger.document = \"mutation\") en "
    "verwerk het document opnieuw, of boek de creditfactuur met de hand in e-Boekhouden.",
    "e-Boekhouden refuses an invoice with a negative total (a credit invoice). Book these "
    "documents as mutations (ledger.document = \"mutation\") and reprocess the document, or "
    "book the credit invoice by hand in e-Boekhouden.")
MESSAGES: dict[str, tuple[str, str]] = {
    "MUT_019": ("Factuurnummer {number} is al geboekt in e-Boekhouden.",
                "Invoice number {number} is already booked in e-Boekhouden."),
    "FACT_101": ("Factuurnummer {number} is al gebruikt voor een factuur in e-Boekhouden.",
                 "Invoice number {number} is already used by an invoice in e-Boekhouden."),
    "REL_049": ("Er bestaat al een relatie met deze code in e-Boekhouden.",
                "A relation with this code already exists in e-Boekhouden."),
    "MUT_007": _ACCOUNT_MISSING, "MUT_104": _ACCOUNT_MISSING, "FACT_ITEM_012": _ACCOUNT_MISSING,
    "LEDG_011": _ACCOUNT_MISSING, "MUT_901": _ACCOUNT_MISSING,
    "MUT_009": ("De hoofdrekening van de boeking heeft de verkeerde categorie in e-Boekhouden; "
                "een betaling moet naar een bank- of betaalproviderrekening (categorie FIN).",
                "The booking's main account has the wrong category in e-Boekhouden; a payment "
                "must go to a bank or payment-provider account (category FIN)."),
    "MUT_011": ("De debiteurenrekening moet in e-Boekhouden de categorie Debiteuren (DEB) "
                "hebben; controleer de debiteurenrekening in de instellingen van koppel.",
                "The debtors account must have category Debiteuren (DEB) in e-Boekhouden; "
                "check the debtors account in koppel's settings."),
    "MUT_010": ("De crediteurenrekening moet in e-Boekhouden de categorie Crediteuren (CRED) "
                "hebben.",
                "The creditors account must have category Crediteuren (CRED) in e-Boekhouden."),
    "MUT_106": ("Een regel wordt geboekt op een bank-, debiteuren- of crediteurenrekening; kies "
                "er een omzetrekening voor in de instellingen van koppel.",
                "A line is booked on a bank, debtors or creditors account; choose a revenue "
                "account for it in koppel's settings."),
    "MUT_108": ("Een betaling moet tegen de debiteurenrekening (categorie DEB) worden geboekt.",
                "A payment must be booked against the debtors account (category DEB)."),
    "MUT_109": _VAT_UNKNOWN, "FACT_ITEM_014": _VAT_UNKNOWN,
    "MUT_111": ("Een verkoop moet een verkoop-btw-code (zoals HOOG_VERK_21) of GEEN gebruiken; "
                "controleer de btw-codes in de instellingen van koppel.",
                "A sale must use a sales VAT code (such as HOOG_VERK_21) or GEEN; check the "
                "VAT codes in koppel's settings."),
    "MUT_110": ("Een inkoop moet een inkoop-btw-code (zoals HOOG_INK_21) of GEEN gebruiken.",
                "A purchase must use a purchase VAT code (such as HOOG_INK_21) or GEEN."),
    "MUT_117": ("Een kostenplaats van deze boeking bestaat niet in e-Boekhouden.",
                "A cost centre used in this booking does not exist in e-Boekhouden."),
    "MUT_118": ("De boeking is niet in balans: de debet- en creditregels verschillen.",
                "The booking is not in balance: its debit and credit lines differ."),
    "MUT_005": _CLOSED_PERIOD, "SECURITY_007": _CLOSED_PERIOD, "FACT_VERWERK_001": _CLOSED_PERIOD,
    "MUT_012": _RELATION_MISSING, "MUT_013": _RELATION_MISSING, "MUT_112": _RELATION_MISSING,
    "MUT_113": _RELATION_MISSING, "FACT_001": _RELATION_MISSING, "FACT_002": _RELATION_MISSING,
    "FACT_003": ("De debiteur is inactief in e-Boekhouden; activeer eerst de relatie.",
                 "The debtor is inactive in e-Boekhouden; activate the relation first."),
    "MUT_115": ("e-Boekhouden heeft geen openstaande factuur {number} voor deze debiteur, dus "
                "de betaling kan er niet tegen worden geboekt.",
                "e-Boekhouden has no open invoice {number} for this debtor, so the payment "
                "cannot be booked against it."),
    "MUT_120": ("De betaling zegt niet welke factuur zij betaalt.",
                "The payment does not say which invoice it pays."),
    "MUT_002": ("Het factuurnummer ontbreekt.", "The invoice number is missing."),
    "MUT_018": _NUMBER_TOO_LONG, "FACT_007": _NUMBER_TOO_LONG,
    "FACT_008": ("Het factuurnummer bevat tekens die e-Boekhouden niet accepteert.",
                 "The invoice number contains characters e-Boekhouden does not accept."),
    "FACT_009": ("Factuurnummers in e-Boekhouden moeten op een cijfer eindigen; wijzig het "
                 "nummervoorvoegsel of laat e-Boekhouden de facturen nummeren.",
                 "e-Boekhouden invoice numbers must end with a digit; change the number prefix "
                 "or let e-Boekhouden number the invoices."),
    "FACT_018": ("Het factuursjabloon bestaat niet in e-Boekhouden; controleer het "
                 "factuursjabloon in de instellingen van koppel.",
                 "The invoice template does not exist in e-Boekhouden; check the invoice "
                 "template in koppel's settings."),
    "FACT_ITEM_009": _NEGATIVE_LINE,
    "FACT_005": _NEGATIVE_TOTAL,
    "FACT_ITEM_008": ("Een factuurregel is te hoog voor e-Boekhouden.",
                      "An invoice line is too high for e-Boekhouden."),
    "FACT_004": ("Het factuurtotaal is te hoog voor e-Boekhouden.",
                 "The invoice total is too high for e-Boekhouden."),
    "FACT_025": ("De factuur heeft meer dan 500 regels, het maximum van e-Boekhouden; boek dit "
                 "soort documenten als mutatie (ledger.document = \"mutation\").",
                 "The invoice has more than 500 lines, e-Boekhouden's maximum; book this "
                 "document as a mutation (ledger.document = \"mutation\")."),
    "FACT_017": ("De factuurtekst is te lang voor e-Boekhouden (hoogstens 35.000 tekens).",
                 "The invoice text is too long for e-Boekhouden (at most 35,000 characters)."),
    "REL_002": ("De debiteur heeft geen naam; e-Boekhouden heeft er een nodig.",
                "The debtor has no name; e-Boekhouden needs one."),
    "REL_023": ("Het e-mailadres van de klant is niet geldig voor e-Boekhouden.",
                "The customer's e-mail address is not valid for e-Boekhouden."),
    "REL_005": ("De relatiecode bevat tekens die e-Boekhouden niet accepteert.",
                "The relation code contains characters e-Boekhouden does not accept."),
    "REL_006": ("De relatiecode is te lang voor e-Boekhouden (hoogstens 15 tekens).",
                "The relation code is too long for e-Boekhouden (at most 15 characters)."),
    "REL_008": ("Het KvK-nummer moet voor e-Boekhouden uit cijfers bestaan.",
                "The KvK number must be numeric for e-Boekhouden."),
    "REL_050": ("Het KvK-nummer is te lang voor e-Boekhouden (hoogstens 50 tekens).",
                "The KvK number is too long for e-Boekhouden (at most 50 characters)."),
    "MUTA_008": _REFERENCE_TAKEN, "FACT_VERWERK_004": _REFERENCE_TAKEN,
    "MODULE_001": ("De proefperiode van de boekhoudmodule van e-Boekhouden heeft haar limiet "
                   "bereikt; upgrade het abonnement bij e-Boekhouden.",
                   "The free trial of e-Boekhouden's accounting module has reached its limit; "
                   "upgrade the e-Boekhouden subscription."),
    "MODULE_002": ("De proefperiode van de factuurmodule van e-Boekhouden heeft haar limiet "
                   "bereikt; upgrade het abonnement bij e-Boekhouden.",
                   "The free trial of e-Boekhouden's invoicing module has reached its limit; "
                   "upgrade the e-Boekhouden subscription."),
}


class EBoekhoudenClient:
    """The ``EBoekhouden`` port (``application.ports``) over e-Boekhouden's REST API v1."""

    def __init__(self, base_url: str, api_token: str, *,
                 transport: httpx.BaseTransport | None = None, timeout: float = 15.0,
                 source: str = "koppel", page_size: int = 2000) -> None:
        if not SOURCE_PATTERN.fullmatch(source):
            # e-Boekhouden refuses such a source with API_SESSION_002; fail at start-up instead
            raise ValueError("source must be 1-10 letters, digits, underscores or spaces")
        if not 1 <= page_size <= 2000:
            raise ValueError("page_size must be between 1 and 2000 (PAGE_001)")
        self.base_url = base_url.rstrip("/")
        self._api_token = exchange.Secret(api_token)
        self._source = source
        self._page_size = page_size
        self._http = httpx.Client(base_url=self.base_url, transport=transport, timeout=timeout,
                                  headers={"Accept": "application/json"})
        self._session: exchange.Secret | None = None
        self._session_deadline = 0.0
        self._session_lock = threading.Lock()
        self._cache_lock = threading.Lock()
        self._ledger_ids: dict[str, int] = {}
        self._template_ids: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"EBoekhoudenClient(base_url={self.base_url!r})"

    def __enter__(self) -> "EBoekhoudenClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """End the session (best effort: it expires on its own anyway) and the HTTP pool."""
        with self._session_lock:
            session, self._session = self._session, None
        if session is not None:
            try:
                self._http.delete("/v1/session", headers={"Authorization": session.value})
            except httpx.HTTPError:
                pass
        self._http.close()

    # -- the port: relations ---------------------------------------------------------------

    def find_relation_by_email(self, email: str) -> dict | None:
        """R6.2. e-Boekhouden compares e-mail addresses case-insensitively (SQL collation);
        list items only hold ``id``, ``type`` and ``code``."""
        if not email or not email.strip():
            return None  # "email=" would match every relation without an address
        items = self._items("/v1/relation", {"email": email.strip(), "limit": 10})
        return _relation_ref(items[0]) if items else None

    def find_relation_by_code(self, code: str) -> dict | None:
        """R6.1. Prefers the exact spelling when the server also matched other casings."""
        if not code:
            return None
        items = self._items("/v1/relation", {"code": code, "limit": 10})
        exact = [i for i in items if i.get("code") == code]
        chosen = exact or [i for i in items if str(i.get("code", "")).casefold() == code.casefold()]
        return _relation_ref(chosen[0]) if chosen else None

    def relation_codes(self, prefix: str) -> set[str]:
        """R6.4: every code starting with ``prefix`` (``code[like]=prefix%``), all pages."""
        codes = set()
        for item in self._all("/v1/relation", {"code[like]": f"{prefix}%"}):
            code = str(item.get("code") or "")
            if code.casefold().startswith(prefix.casefold()):  # never trust a filter blindly
                codes.add(code)
        return codes

    def create_relation(self, relation: dict) -> dict:
        """R6.3; returns ``{"id", "code"}``. ``REL_049`` raises ``DuplicateError``."""
        created = self._post("/v1/relation", relation)
        return {"id": created["id"], "code": created.get("code") or relation.get("code")}

    def get_relation(self, relation_id: int) -> dict | None:
        """The full relation (name, e-mail, address ...), or None."""
        return self._get_or_none(f"/v1/relation/{int(relation_id)}")

    # -- the port: mutations ---------------------------------------------------------------

    def find_mutation(self, invoice_number: str) -> dict | None:
        """I1: the sales (type 2) mutation with this invoice number, with its rows, or None."""
        return self._find_of_type(invoice_number, 2)

    def find_payment(self, invoice_number: str) -> dict | None:
        """I1 for payments (R8.2): the type-3 mutation booked against this invoice, or None."""
        return self._find_of_type(invoice_number, 3)

    def _find_of_type(self, invoice_number: str, kind: int) -> dict | None:
        items = self._items("/v1/mutation", {"invoiceNumber": invoice_number, "type": kind,
                                           "limit": 10})
        for item in items:
            if (str(item.get("type")) == str(kind)
                    and str(item.get("invoiceNumber", "")).casefold() == invoice_number.casefold()):
                return self.get_mutation(item["id"]) or item
        return None

    def create_mutation(self, body: dict) -> dict:
        """R7.1 / R8.2: ``POST /v1/mutation`` with ledger codes resolved; returns ``{"id"}``."""
        body = self._resolve(body)
        if body.get("type") is not None:
            body["type"] = str(body["type"])  # the spec's own clients send the string "2"
        return self._post("/v1/mutation", body)

    def get_mutation(self, mutation_id: int) -> dict | None:
        return self._get_or_none(f"/v1/mutation/{int(mutation_id)}")

    # -- reconciliation: the ledger's own sales of a period --------------------------------

    def sales_between(self, first, last) -> Iterator[dict]:
        """Every sales (type 2) mutation dated ``first``..``last`` (both included), in full:
        the list has no rows, so each is read again (``GET /v1/mutation/{id}``). Each row
        gets its ``ledgerCode`` beside the id, as koppel's bookings name accounts by code."""
        codes = self.ledger_codes()
        listed = list(self._all("/v1/mutation", {"type": 2,
                                                 "date[range]": f"{first},{last}"}))
        for detail in read_each(self.get_mutation, [item["id"] for item in listed]):
            if detail is not None:  # gone between the list and the read: not there
                yield _with_codes(detail, codes)

    def invoices_between(self, first, last) -> Iterator[dict]:
        """Every invoice dated ``first``..``last`` (R7.2 without booking it as a mutation),
        in full (``GET /v1/invoice/{id}`` for its items), ledger codes beside the ids."""
        codes = self.ledger_codes()
        listed = list(self._all("/v1/invoice", {"date[range]": f"{first},{last}"}))
        for detail in read_each(lambda i: self._get_or_none(f"/v1/invoice/{int(i)}"),
                                [item["id"] for item in listed]):
            if detail is not None:
                yield _with_codes(detail, codes, "items")

    def invoice_numbered(self, invoice_number: str) -> dict | None:
        """The invoice with this number on any date, in full with ledger codes (or None)."""
        found = self.find_invoice(invoice_number)
        detail = self._get_or_none(f"/v1/invoice/{int(found['id'])}") if found else None
        return _with_codes(detail, self.ledger_codes(), "items") if detail else None

    def sale_numbered(self, invoice_number: str) -> dict | None:
        """The sales mutation with this number on any date, with ledger codes (or None)."""
        found = self.find_mutation(invoice_number)
        return _with_codes(found, self.ledger_codes()) if found else None

    def ledger_codes(self) -> dict[int, str]:
        """Every ledger account's code by its id (``GET /v1/ledger``, all pages)."""
        return {int(i["id"]): str(i.get("code", "")) for i in self._all("/v1/ledger", {})}

    # -- invoices and open items -----------------------------------------------------------

    def create_invoice(self, body: dict) -> dict:
        """R7.2: ``POST /v1/invoice``; returns ``{"id", "invoiceNumber", "inExVat"}``."""
        return self._post("/v1/invoice", self._resolve(body))

    def find_invoice(self, invoice_number: str) -> dict | None:
        items = self._items("/v1/invoice", {"invoiceNumber": invoice_number, "limit": 10})
        for item in items:
            if str(item.get("invoiceNumber", "")).casefold() == invoice_number.casefold():
                return _money_fields(item)
        return None

    def find_invoice_by_reference(self, reference: str, relation_id: int) -> dict | None:
        """An invoice the ledger numbered itself, found by the ``reference`` koppel gave it;
        the list can only be filtered by relation, so the match is made here."""
        for item in self._all("/v1/invoice", {"relationId": relation_id}):
            if str(item.get("reference") or "").casefold() == reference.casefold():
                return _money_fields(item)
        return None

    def find_outstanding(self, invoice_number: str) -> dict | None:
        """R8.2: the open debtor item of this invoice (amounts as Decimal), or None when e-
        Boekhouden lists none (never booked, or fully paid)."""
        items = self._items("/v1/mutation/invoice/outstanding",
                          {"credDeb": "D", "invoiceNumber": invoice_number, "limit": 10})
        for item in items:
            if str(item.get("invoiceNumber", "")).casefold() == invoice_number.casefold():
                return _money_fields(item)
        return None

    # -- ledger codes and template names ---------------------------------------------------

    def ledger_id(self, code: str) -> int:
        """The id of the ledger account with this code (``GET /v1/ledger?code=``), cached.
        Only hits are cached: an account the merchant adds later is found on the next try."""
        with self._cache_lock:
            if code in self._ledger_ids:
                return self._ledger_ids[code]
        items = self._items("/v1/ledger", {"code": code, "limit": 10})
        match = ([i for i in items if i.get("code") == code]
                 or [i for i in items if str(i.get("code", "")).casefold() == code.casefold()])
        if not match:
            raise RejectedError(
                f"Ledger account {code} does not exist in e-Boekhouden; add it under Beheer > "
                f"Inrichting > Grootboekrekeningen or change the account in koppel's settings.",
                message_nl=f"Grootboekrekening {code} bestaat niet in e-Boekhouden; maak haar "
                f"aan onder Beheer > Inrichting > Grootboekrekeningen of kies een andere "
                f"rekening in de instellingen van koppel.",
                code="LEDG_011", detail={"ledgerCode": code})
        with self._cache_lock:
            self._ledger_ids[code] = int(match[0]["id"])
        return int(match[0]["id"])

    def ledger_accounts(self) -> list[dict]:
        """Every ledger account (``GET /v1/ledger``, all pages) as ``{code, description,
        category}``, for the merchant to choose from on the Configuration page."""
        return [{"code": str(item.get("code", "")), "description": item.get("description") or "",
                 "category": item.get("category") or ""}
                for item in self._all("/v1/ledger", {})]

    def invoice_templates(self) -> list[str]:
        """The names of the active invoice templates (``GET /v1/invoicetemplate``), for the
        Configuration page."""
        return sorted({str(t.get("name", "")).strip() for t in self._all("/v1/invoicetemplate", {})
                       if t.get("active", True) and str(t.get("name", "")).strip()})

    def template_id(self, name: str) -> int:
        """The id of the invoice template with this name (``GET /v1/invoicetemplate``), cached;
        an active template wins over an inactive one of the same name."""
        with self._cache_lock:
            if name in self._template_ids:
                return self._template_ids[name]
        templates = [t for t in self._all("/v1/invoicetemplate", {})
                     if str(t.get("name", "")).strip().casefold() == name.strip().casefold()]
        templates.sort(key=lambda t: not t.get("active", True))
        if not templates:
            raise RejectedError(
                f"The invoice template {name!r} does not exist in e-Boekhouden; check the "
                f"invoice template in koppel's settings.",
                message_nl=f"Het factuursjabloon {name!r} bestaat niet in e-Boekhouden; "
                f"controleer het factuursjabloon in de instellingen van koppel.",
                code="FACT_018", detail={"templateName": name})
        with self._cache_lock:
            self._template_ids[name] = int(templates[0]["id"])
        return int(templates[0]["id"])

    def _resolve(self, body: dict) -> dict:
        """A copy of ``body`` with every ``ledgerId`` code replaced by its id (header, rows,
        items, the nested ``mutation``) and a template name replaced by its id."""
        def walk(value):
            if isinstance(value, dict):
                out = {}
                for key, item in value.items():
                    if key == "ledgerId" and isinstance(item, str):
                        out[key] = self.ledger_id(item)
                    else:
                        out[key] = walk(item)
                return out
            if isinstance(value, list):
                return [walk(item) for item in value]
            return value

        resolved = walk(body)
        if isinstance(resolved.get("templateId"), str):
            resolved["templateId"] = self.template_id(resolved["templateId"])
        return resolved

    def _forget_ledgers(self) -> None:
        # An "unknown ledger" answer may mean a cached id went stale (the chart was rebuilt).
        with self._cache_lock:
            self._ledger_ids.clear()

    # -- HTTP -------------------------------------------------------------------------------

    def _items(self, path: str, params: dict) -> list[dict]:
        """The ``items`` of one list page (``{"items", "count"}``)."""
        page = self._request("GET", path, params=params)
        return (page.get("items") if isinstance(page, dict) else None) or []

    def _post(self, path: str, body: dict) -> dict:
        return self._request("POST", path, body=body)

    def _get_or_none(self, path: str) -> dict | None:
        try:
            return self._request("GET", path)
        except NotFoundError:
            return None

    def _all(self, path: str, params: dict):
        """Every item of a list, page by page; a short page is the last one."""
        offset = 0
        while True:
            items = self._items(path, {**params, "limit": self._page_size, "offset": offset})
            yield from items
            if len(items) < self._page_size:
                return
            offset += len(items)

    def _request(self, method: str, path: str, *, params: dict | None = None,
                 body: dict | None = None):
        content = _dumps(body) if body is not None else None
        headers = {"Content-Type": "application/json"} if content is not None else {}
        for attempt in (1, 2):
            session = self._current_session()
            response = self._send(method, path, params=params, content=content,
                                  headers={**headers, "Authorization": session.value})
            if response.status_code != 401:
                return self._answer(method, path, response, body)
            # The session ended (expired, revoked): the server did nothing, so a new session
            # and one repeat are safe even for a POST.
            self._discard_session(session)
            log.info("e-Boekhouden session refused (attempt %d); renewing", attempt)
        raise CredentialsError(TOKEN_REFUSED, message_nl=TOKEN_REFUSED_NL, code="SECURITY_010",
                               detail=self._scrub(exchange.parse_body(response)))

    def _send(self, method: str, path: str, *, write: bool | None = None,
              **kwargs) -> httpx.Response:
        return exchange.send(self._http, "e-Boekhouden", method, path, write=write, **kwargs)

    def _answer(self, method: str, path: str, response: httpx.Response, sent: dict | None):
        status = response.status_code
        if 200 <= status < 300:
            return exchange.parse_body(response)
        body = self._scrub(exchange.parse_body(response))
        if status == 429:
            raise SlowDown("e-Boekhouden asks koppel to slow down; it will try again.",
                                 code="429", detail=body,
                                 retry_after=exchange.retry_after(response.headers.get("Retry-After")))
        if status >= 500:
            raise TransientError("e-Boekhouden had a problem; koppel will try again.",
                                 code=_code(body) or str(status), detail=body,
                                 outcome_unknown=method == "POST")
        code = _code(body)
        if status == 403 and code in ACCESS_CODES:
            raise CredentialsError(NO_ACCESS, message_nl=NO_ACCESS_NL, code=code, detail=body)
        nl, en = _merchant_message(code, body, sent)
        if code in DUPLICATE_CODES:
            raise DuplicateError(en, message_nl=nl, code=code, detail=body)
        if status == 404:
            raise NotFoundError(en, message_nl=nl, code=code or "404", detail=body)
        if code in ("MUT_007", "MUT_104", "FACT_ITEM_012"):
            self._forget_ledgers()
        raise RejectedError(en, message_nl=nl, code=code or str(status), detail=body)

    # -- the session ------------------------------------------------------------------------

    def _current_session(self) -> exchange.Secret:
        with self._session_lock:  # one thread opens it; the others wait and share it
            if self._session is None or time.monotonic() >= self._session_deadline:
                self._session = self._open_session()
            return self._session

    def _discard_session(self, stale: exchange.Secret) -> None:
        with self._session_lock:
            if self._session is stale:  # another thread may already have renewed it
                self._session = None

    def _open_session(self) -> exchange.Secret:
        payload = {"accessToken": self._api_token.value, "source": self._source}
        response = self._send("POST", "/v1/session", write=False, content=_dumps(payload),
                              headers={"Content-Type": "application/json"})
        status = response.status_code
        body = self._scrub(exchange.parse_body(response))
        if 200 <= status < 300 and isinstance(body, dict) and body.get("token"):
            # self._scrub hid the session token in ``body``; read it from the raw answer
            answer = exchange.parse_body(response)
            expires_in = float(answer.get("expiresIn") or 3600)
            self._session_deadline = time.monotonic() + max(expires_in - RENEW_MARGIN,
                                                            expires_in / 2)
            log.info("e-Boekhouden session opened")
            return exchange.Secret(str(answer["token"]))
        if status == 429:
            raise SlowDown("e-Boekhouden asks koppel to slow down; it will try again.",
                                 code="429", detail=body,
                                 retry_after=exchange.retry_after(response.headers.get("Retry-After")))
        if status >= 500 or not 400 <= status < 500:
            raise TransientError("e-Boekhouden could not open a session; koppel will try "
                                 "again.", code=_code(body) or str(status), detail=body)
        code = _code(body)
        en, nl = (TOKEN_EXPIRED, TOKEN_EXPIRED_NL) if code == "API_SESSION_004" else \
            (TOKEN_REFUSED, TOKEN_REFUSED_NL)
        raise CredentialsError(en, message_nl=nl, code=code or str(status), detail=body)

    def _scrub(self, value):
        """The remote body with any trace of the API or session token removed."""
        secrets = [s.value for s in (self._api_token, self._session) if s and s.value]
        if isinstance(value, str):
            for secret in secrets:
                value = value.replace(secret, "***")
            return value
        if isinstance(value, dict):
            return {k: self._scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._scrub(v) for v in value]
        return value


# -- helpers --------------------------------------------------------------------------------

def _relation_ref(item: dict) -> dict:
    return {"id": item["id"], "code": item.get("code"), "type": item.get("type")}


def _code(body) -> str:
    return str(body.get("code") or "") if isinstance(body, dict) else ""


def _merchant_message(code: str, body, sent: dict | None) -> tuple[str, str]:
    """(Dutch, English): the table's words, else the API's own title (English only)."""
    number = (sent or {}).get("invoiceNumber") or ""
    if not number and isinstance(sent, dict):  # payments name the invoice on their rows
        number = next((r.get("invoiceNumber") for r in sent.get("rows") or []
                       if isinstance(r, dict) and r.get("invoiceNumber")), "")
    if code in MESSAGES:
        nl, en = (text.format(number=number or "?") for text in MESSAGES[code])
    else:
        title = body.get("title") if isinstance(body, dict) else None
        reason = title or "no reason given"
        extra = body.get("message") if isinstance(body, dict) else None
        if extra:
            reason += f" {extra}"
        nl = f"e-Boekhouden weigerde het verzoek: {reason}"
        en = f"e-Boekhouden refused the request: {reason}"
    prop = body.get("propertyName") if isinstance(body, dict) else None
    suffix = f"e-Boekhouden {code}" if code else "e-Boekhouden"
    return (f"{nl} ({suffix}{f' bij {prop}' if prop else ''})",
            f"{en} ({suffix}{f' at {prop}' if prop else ''})")


def _money_fields(item: dict) -> dict:
    """Amounts as Decimal even when the server wrote ``0`` (an int) instead of ``0.0``."""
    return {k: (Decimal(v) if k in MONEY_FIELDS and isinstance(v, int)
                and not isinstance(v, bool) else v) for k, v in item.items()}


def _dumps(value) -> str:
    """JSON with Decimals as numbers: money with exactly two decimals, quantities up to four."""
    return _encode(value, None)


def _encode(value, key: str | None) -> str:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{key}: {value} is not a number e-Boekhouden accepts")
        if key == "quantity":
            text = format(value.quantize(QUANTITY, ROUND_HALF_UP).normalize(), "f")
            return text
        return format(value.quantize(CENT, ROUND_HALF_UP), "f")
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{_encode(v, str(k))}"
                              for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_encode(v, key) for v in value) + "]"
    if isinstance(value, (date, datetime)):
        return json.dumps(value.isoformat()[:10] if not isinstance(value, datetime)
                          else value.date().isoformat())
    if isinstance(value, float):
        return _encode(Decimal(repr(value)), key)
    return json.dumps(value, ensure_ascii=False)


def _with_codes(booked: dict, codes: dict[int, str], lines: str = "rows") -> dict:
    """A mutation's ``rows`` or an invoice's ``items`` with each ledger's code beside its id."""
    rows = [dict(row, ledgerCode=codes.get(int(row["ledgerId"]), str(row["ledgerId"])))
            if row.get("ledgerId") is not None else dict(row)
            for row in booked.get(lines) or []]
    return {**booked, lines: rows}
