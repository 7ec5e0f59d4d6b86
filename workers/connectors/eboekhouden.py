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
from decimal import ROUND_HALF_UP, Decimal

import httpx

from application.errors import (CredentialsError, DuplicateError, NotFoundError, RejectedError,
                                TransientError)
from workers.connectors import exchange

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
# The ledger's own "already there" answers: a number, a relation code or a payment reference.
DUPLICATE_CODES = {"MUT_019", "FACT_101", "REL_049", "MUTA_008", "FACT_VERWERK_004"}
ACCESS_CODES = {"SECURITY_001", "SECURITY_002", "SECURITY_003", "SECURITY_004", "SECURITY_005",
                "SECURITY_006", "SECURITY_010", "SECURITY_011", "SECURITY_999"}

# The codes a merchant meets most, in a merchant's words (codes: eboekhouden-error-codes.tsv).
# Anything else falls back to the API's own title.
_ACCOUNT_MISSING = ("An account used in this booking does not exist in e-Boekhouden; add it "
                    "there or change the account in koppel's settings.")
_RELATION_MISSING = ("The debtor (relation) of this booking is missing or no longer exists in "
                     "e-Boekhouden.")
_CLOSED_PERIOD = ("The period of this document is closed in e-Boekhouden; reopen it or ask "
                  "your accountant.")
_VAT_UNKNOWN = ("e-Boekhouden does not accept a VAT code used in this booking; check the VAT "
                "codes in koppel's settings.")
MESSAGES = {
    "MUT_019": "Invoice number {number} is already booked in e-Boekhouden.",
    "FACT_101": "Invoice number {number} is already used by an invoice in e-Boekhouden.",
    "REL_049": "A relation with this code already exists in e-Boekhouden.",
    "MUT_007": _ACCOUNT_MISSING, "MUT_104": _ACCOUNT_MISSING, "FACT_ITEM_012": _ACCOUNT_MISSING,
    "LEDG_011": _ACCOUNT_MISSING, "MUT_901": _ACCOUNT_MISSING,
    "MUT_009": ("The booking's main account has the wrong category in e-Boekhouden; a payment "
                "must go to a bank or payment-provider account (category FIN)."),
    "MUT_011": ("The debtors account must have category Debiteuren (DEB) in e-Boekhouden; "
                "check the debtors account in koppel's settings."),
    "MUT_010": "The creditors account must have category Crediteuren (CRED) in e-Boekhouden.",
    "MUT_106": ("A line is booked on a bank, debtors or creditors account; choose a revenue "
                "account for it in koppel's settings."),
    "MUT_108": "A payment must be booked against the debtors account (category DEB).",
    "MUT_109": _VAT_UNKNOWN, "FACT_ITEM_014": _VAT_UNKNOWN,
    "MUT_111": ("A sale must use a sales VAT code (such as HOOG_VERK_21) or GEEN; check the "
                "VAT codes in koppel's settings."),
    "MUT_110": "A purchase must use a purchase VAT code (such as HOOG_INK_21) or GEEN.",
    "MUT_118": "The booking is not in balance: its debit and credit lines differ.",
    "MUT_005": _CLOSED_PERIOD, "SECURITY_007": _CLOSED_PERIOD, "FACT_VERWERK_001": _CLOSED_PERIOD,
    "MUT_012": _RELATION_MISSING, "MUT_013": _RELATION_MISSING, "MUT_112": _RELATION_MISSING,
    "MUT_113": _RELATION_MISSING, "FACT_001": _RELATION_MISSING, "FACT_002": _RELATION_MISSING,
    "FACT_003": "The debtor is inactive in e-Boekhouden; activate the relation first.",
    "MUT_115": ("e-Boekhouden has no open invoice {number} for this debtor, so the payment "
                "cannot be booked against it."),
    "MUT_120": "The payment does not say which invoice it pays.",
    "MUT_002": "The invoice number is missing.",
    "MUT_018": "The invoice number is too long for e-Boekhouden (at most 50 characters).",
    "FACT_007": "The invoice number is too long for e-Boekhouden (at most 50 characters).",
    "FACT_008": "The invoice number contains characters e-Boekhouden does not accept.",
    "FACT_009": ("e-Boekhouden invoice numbers must end with a digit; change the number prefix "
                 "or let e-Boekhouden number the invoices."),
    "FACT_018": ("The invoice template does not exist in e-Boekhouden; check the invoice "
                 "template in koppel's settings."),
    "REL_002": "The debtor has no name; e-Boekhouden needs one.",
    "REL_023": "The customer's e-mail address is not valid for e-Boekhouden.",
    "REL_005": "The relation code contains characters e-Boekhouden does not accept.",
    "REL_006": "The relation code is too long for e-Boekhouden (at most 15 characters).",
    "REL_008": "The KvK number must be numeric for e-Boekhouden.",
    "MUTA_008": "The payment reference is already used in e-Boekhouden.",
    "FACT_VERWERK_004": "The payment reference is already used in e-Boekhouden.",
    "MODULE_001": ("The free trial of e-Boekhouden's accounting module has reached its limit; "
                   "upgrade the e-Boekhouden subscription."),
    "MODULE_002": ("The free trial of e-Boekhouden's invoicing module has reached its limit; "
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
                code="LEDG_011", detail={"ledgerCode": code})
        with self._cache_lock:
            self._ledger_ids[code] = int(match[0]["id"])
        return int(match[0]["id"])

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
                f"invoice template in koppel's settings.", code="FACT_018",
                detail={"templateName": name})
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
        raise CredentialsError(TOKEN_REFUSED, code="SECURITY_010",
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
            raise TransientError("e-Boekhouden asks koppel to slow down; it will try again.",
                                 code="429", detail=body,
                                 retry_after=exchange.retry_after(response.headers.get("Retry-After")))
        if status >= 500:
            raise TransientError("e-Boekhouden had a problem; koppel will try again.",
                                 code=_code(body) or str(status), detail=body,
                                 outcome_unknown=method == "POST")
        code = _code(body)
        if status == 403 and code in ACCESS_CODES:
            raise CredentialsError(NO_ACCESS, code=code, detail=body)
        message = _merchant_message(code, body, sent)
        if code in DUPLICATE_CODES:
            raise DuplicateError(message, code=code, detail=body)
        if status == 404:
            raise NotFoundError(message, code=code or "404", detail=body)
        if code in ("MUT_007", "MUT_104", "FACT_ITEM_012"):
            self._forget_ledgers()
        raise RejectedError(message, code=code or str(status), detail=body)

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
            raise TransientError("e-Boekhouden asks koppel to slow down; it will try again.",
                                 code="429", detail=body,
                                 retry_after=exchange.retry_after(response.headers.get("Retry-After")))
        if status >= 500 or not 400 <= status < 500:
            raise TransientError("e-Boekhouden could not open a session; koppel will try "
                                 "again.", code=_code(body) or str(status), detail=body)
        code = _code(body)
        message = TOKEN_EXPIRED if code == "API_SESSION_004" else TOKEN_REFUSED
        raise CredentialsError(message, code=code or str(status), detail=body)

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


def _merchant_message(code: str, body, sent: dict | None) -> str:
    number = (sent or {}).get("invoiceNumber") or ""
    if not number and isinstance(sent, dict):  # payments name the invoice on their rows
        number = next((r.get("invoiceNumber") for r in sent.get("rows") or []
                       if isinstance(r, dict) and r.get("invoiceNumber")), "")
    if code in MESSAGES:
        text = MESSAGES[code].format(number=number or "?")
    else:
        title = body.get("title") if isinstance(body, dict) else None
        text = f"e-Boekhouden refused the request: {title or 'no reason given'}"
        extra = body.get("message") if isinstance(body, dict) else None
        if extra:
            text += f" {extra}"
    prop = body.get("propertyName") if isinstance(body, dict) else None
    suffix = f"e-Boekhouden {code}" if code else "e-Boekhouden"
    if prop:
        suffix += f" at {prop}"
    return f"{text} ({suffix})"


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

