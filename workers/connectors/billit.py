"""The Billit connector: orders (invoices, credit notes), payments and products over HTTP.

Wire format: ``/work/shared/reference/billit-api.md``. What this module adds to plain HTTP:

- authentication by ``ApiKey`` or OAuth2. OAuth tokens live in a ``TokenStore`` (the lead keeps
  them on the event store); Billit's refresh tokens are single-use, so a refresh saves the new
  pair *before* the new access token is used, and only one thread spends a given refresh
  token (a lock per refresh token). A refresh refused because another process already spent
  the token is recovered from the store; a refresh refused for good is a ``CredentialsError``;
- ``ProductID`` fields holding a product *code* (R7.3 with posting to products on) resolved to
  Billit product ids, creating the product when it is missing;
- every failure translated into ``application.errors`` with a message a merchant understands;
- money as ``Decimal`` both ways (JSON numbers out, ``parse_float=Decimal`` in).

The API key, client secret and tokens never reach a log line, an exception, ``detail`` or
``repr``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import weakref
from copy import deepcopy
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol
from urllib.parse import urlencode, urlsplit

import httpx

from application.errors import (CredentialsError, DuplicateError, NotFoundError, RejectedError,
                                SlowDown, TransientError)
from workers.connectors import exchange
from workers.connectors.reads import read_each

log = logging.getLogger(__name__)

CENT = Decimal("0.01")
REFRESH_MARGIN = 120.0   # seconds: refresh this long before Billit would refuse the token
RACE_PAUSE = 0.5         # seconds: how long a refused refresh waits for another's save
AUTH_CODES = {"InvalidAccessToken", "AccessTokenExpired", "AccessTokenRevoked",
              "ApiKeyNotValid"}
DUPLICATE_CODES = {"Idempotent token already exists"}

RECONNECT = "Billit refused koppel's access; reconnect Billit in the dashboard"
KEY_REFUSED = ("Billit refused the API key; check it (or create a new one) in Billit under "
               "Settings > Integrations and update koppel's settings")
NO_PARTY = ("Billit refused access to company {party}; check the PartyID in koppel's settings "
            "or reconnect Billit with a user of that company")
CONNECT_REFUSED = ("Billit did not accept the connection (the code is used, expired or for "
                   "another address); connect Billit again from the dashboard")
# The same in Dutch: what a merchant connecting Billit reads first.
RECONNECT_NL = "Billit weigert de toegang van koppel; koppel Billit opnieuw in het dashboard"
KEY_REFUSED_NL = ("Billit weigert deze API-sleutel; controleer hem (of maak een nieuwe aan) "
                  "in Billit onder Instellingen > Integraties en pas de instellingen van "
                  "koppel aan")
NO_PARTY_NL = ("Billit weigert de toegang tot bedrijf {party}; controleer het PartyID in de "
               "instellingen van koppel of koppel Billit opnieuw met een gebruiker van dat "
               "bedrijf")
CONNECT_REFUSED_NL = ("Billit heeft de koppeling niet aanvaard (de code is gebruikt, verlopen "
                      "of voor een ander adres); koppel Billit opnieuw vanuit het dashboard")

# The codes a merchant meets, in a merchant's words: (Dutch, English). The one place these
# live; anything else falls back to the API's own description (Billit writes those in the
# user's language, so they are shown as they come).
_CORRECT_VAT = ("corrigeer het in de winkel en verwerk het document opnieuw",
                "correct it in the shop and reprocess the document")
MESSAGES: dict[str, tuple[str, str]] = {
    "CustomerIsRequired": ("Het document heeft geen klant; Billit heeft er een nodig.",
                           "The order has no customer; Billit needs one."),
    "CompanyNameOrContactNameIsRequired": (
        "De klant heeft geen bedrijfsnaam en geen contactnaam; Billit heeft een van beide "
        "nodig.",
        "The customer has neither a company name nor a contact name; Billit needs one of "
        "them."),
    "Only1OfEachAddressTypeAllowed": ("De klant heeft twee adressen van dezelfde soort.",
                                      "The customer has two addresses of the same kind."),
    "YourVATIsNotValid": (f"Billit vindt het btw-nummer van de klant onjuist; {_CORRECT_VAT[0]}.",
                          f"Billit thinks the customer's VAT number is incorrect; "
                          f"{_CORRECT_VAT[1]}."),
    "_0_IsNoValidBEVAT": (f"Het Belgische btw-nummer van de klant is ongeldig; "
                          f"{_CORRECT_VAT[0]}.",
                          f"The customer's Belgian VAT number is not valid; {_CORRECT_VAT[1]}."),
    "InvalidVAtPercentageForTaxCountry_0_": (
        "Billit accepteert een btw-percentage van dit document niet voor het land van de klant.",
        "Billit does not accept a VAT percentage of this document for the customer's country."),
    "DescriptionIsMandatoryForOrderLinesWithTotals": (
        "Een documentregel heeft bedragen maar geen omschrijving.",
        "An order line has amounts but no description."),
    "ThereMustBeAtLeastOneOrderLine": ("Het document heeft geen regels.",
                                       "The document has no lines."),
    "OrderDateIsRequired": ("Het document heeft geen datum.", "The document has no date."),
    "ExpiryDateIsRequired": ("Het document heeft geen vervaldatum.",
                             "The document has no due date."),
    "InvalidDeliveryDate": ("De leverdatum is ongeldig.", "The delivery date is not valid."),
    "TheOrderTypeCode_0_IsInvalid": ("Billit kent de documentsoort niet.",
                                     "The document type is not one Billit knows."),
    "TheOrderDirectionCode_0_IsInvalid": ("Billit kent de richting van het document niet.",
                                          "The order direction is not one Billit knows."),
    "Idempotent token already exists": (
        "Billit heeft dit document al ontvangen (dezelfde idempotency key); koppel zoekt het op.",
        "Billit already received this document (same idempotency key); koppel will look it "
        "up."),
    # R7.3: the credit note names the invoice it credits, by the number Billit gave it.
    "TheAboutInvoiceNumberCouldNotBeFound": (
        "Billit kent de factuur {about} niet waarop deze creditnota betrekking heeft; boek "
        "eerst die factuur in Billit (of verwerk haar opnieuw in koppel) en verwerk dan de "
        "creditnota opnieuw.",
        "Billit does not know invoice {about}, which this credit note is about; book that "
        "invoice in Billit first (or reprocess it in koppel), then reprocess the credit note."),
}


class TokenStore(Protocol):
    """Where a connection's OAuth tokens live (the lead keeps them on the event store).

    ``load()`` gives ``{"access_token", "refresh_token", "expires_at"}`` (``expires_at`` in
    seconds since the epoch) or None before the first connect; ``save(tokens)`` must persist
    before it returns: Billit spends the old refresh token the moment it answers.
    """

    def load(self) -> dict | None: ...

    def save(self, tokens: dict) -> None: ...


class MemoryTokenStore:
    """A ``TokenStore`` in memory, for tests and one-process tools."""

    def __init__(self, tokens: dict | None = None) -> None:
        self._tokens = dict(tokens) if tokens else None
        self._lock = threading.Lock()

    def load(self) -> dict | None:
        with self._lock:
            return dict(self._tokens) if self._tokens else None

    def save(self, tokens: dict) -> None:
        with self._lock:
            self._tokens = dict(tokens)

    def __repr__(self) -> str:
        return "MemoryTokenStore(<tokens hidden>)"




# One lock per refresh token, shared by every client in this process: two clients (or two
# threads) holding the same stored tokens must not both spend the same single-use token.
_refresh_locks: "weakref.WeakValueDictionary[str, threading.Lock]" = weakref.WeakValueDictionary()
_refresh_locks_guard = threading.Lock()
_product_locks: dict[tuple[str, str], threading.Lock] = {}


def _lock_for(refresh_token: str) -> threading.Lock:
    key = hashlib.sha256(refresh_token.encode()).hexdigest()
    with _refresh_locks_guard:
        lock = _refresh_locks.get(key)
        if lock is None:
            lock = threading.Lock()
            _refresh_locks[key] = lock
        return lock


def _product_lock(base_url: str, party_id: str) -> threading.Lock:
    with _refresh_locks_guard:
        return _product_locks.setdefault((base_url, party_id), threading.Lock())


class BillitClient:
    """Billit's REST API v1 for one company (``party_id``)."""

    def __init__(self, base_url: str, *, api_key: str | None = None,
                 tokens: TokenStore | None = None, party_id: str,
                 transport: httpx.BaseTransport | None = None, timeout: float = 15.0,
                 client_id: str | None = None, client_secret: str | None = None,
                 login_url: str | None = None) -> None:
        if (api_key is None) == (tokens is None):
            raise ValueError("give either api_key or tokens (OAuth), not both or neither")
        if tokens is not None and not (client_id and client_secret):
            raise ValueError("OAuth needs client_id and client_secret to refresh tokens")
        self.base_url = base_url.rstrip("/")
        self.party_id = str(party_id)
        self.login_url = (login_url or _login_url(self.base_url)).rstrip("/")
        self._api_key = exchange.Secret(api_key) if api_key is not None else None
        self._tokens = tokens
        self._client_id = client_id
        self._client_secret = exchange.Secret(client_secret) if client_secret else None
        self._http = httpx.Client(base_url=self.base_url, transport=transport, timeout=timeout,
                                  headers={"Accept": "application/json"})
        self._product_ids: dict[str, int] = {}
        self._cache_lock = threading.Lock()

    def __repr__(self) -> str:
        mode = "api_key" if self._api_key else "oauth"
        return f"BillitClient(base_url={self.base_url!r}, party_id={self.party_id!r}, {mode})"

    def __enter__(self) -> "BillitClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- connecting (OAuth2 authorization code) ---------------------------------------------

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        """Where to send the merchant to let koppel in; Billit comes back to ``redirect_uri``
        with ``?code=...&state=...`` (or ``?error=access_denied``)."""
        query = urlencode({"client_id": self._client_id or "", "redirect_uri": redirect_uri,
                           "state": state})
        return f"{self.login_url}/Account/Logon?{query}"

    def exchange_code(self, code: str, redirect_uri: str) -> dict:
        """The tokens for an authorization code (saved in the store, and returned)."""
        tokens = self._token_request({"grant_type": "authorization_code", "code": code,
                                      "redirect_uri": redirect_uri})
        if tokens is None:
            raise CredentialsError(CONNECT_REFUSED, message_nl=CONNECT_REFUSED_NL,
                                   code="InvalidGrant")
        if self._tokens is not None:
            self._tokens.save(tokens)
        return tokens

    # -- orders -----------------------------------------------------------------------------

    def create_order(self, body: dict, idempotency_key: str) -> dict:
        """R7.3: ``POST /v1/orders``; returns ``{"id": <OrderID>}``. A reused idempotency key
        raises ``DuplicateError``: the order exists, find it with ``find_order``."""
        if not idempotency_key:
            raise ValueError("an idempotency key is required: it is what makes a retry safe")
        sent = _with_times(body)
        answer = self._request("POST", "/v1/orders", body=sent,
                               headers={"Idempotency-Key": idempotency_key})
        return {"id": _order_id(answer)}

    def get_order(self, order_id: int) -> dict | None:
        """The full order, or None when Billit does not show it (unknown or foreign id)."""
        try:
            order = self._request("GET", f"/v1/orders/{int(order_id)}", missing_ok=True)
        except NotFoundError:
            return None
        return _with_id(order) if isinstance(order, dict) else None

    def find_order(self, external_id: str) -> dict | None:
        """I1: the order whose ``ExternalProviderID`` is ``external_id`` (full, with ``id``),
        or None. With several (a duplicate made outside koppel) the oldest wins."""
        if not external_id:
            return None
        items = self._items("/v1/orders", {
            "$filter": f"ExternalProviderID eq {_odata_text(external_id)}",
            "$orderby": "OrderID asc"})
        exact = sorted((i for i in items if i.get("ExternalProviderID") == external_id),
                       key=lambda i: int(i.get("OrderID") or 0))
        if len(exact) > 1:
            log.warning("Billit holds %d orders with one ExternalProviderID", len(exact))
        if not exact:
            return None
        return self.get_order(exact[0]["OrderID"]) or _with_id(exact[0])

    def income_between(self, first, last) -> list[dict]:
        """Every income order (invoice or credit note) dated ``first``..``last`` (both
        included), in full: list items carry no lines, so each is read again."""
        items = self._items("/v1/orders", {
            "$filter": (f"OrderDirection eq 'Income' and OrderDate ge DateTime'{first}' "
                        f"and OrderDate le DateTime'{last}'"),
            "$orderby": "OrderID asc"})
        full = read_each(self.get_order, [i["OrderID"] for i in items if i.get("OrderID")])
        return [order for order in full if order is not None]

    def mark_paid(self, order_id: int, paid_date: date | datetime | str, *,
                  payment_method: str | None = None) -> None:
        """R8: ``PATCH /v1/orders/{id}`` with ``Paid`` and ``PaidDate`` (with a time, as Billit
        requires); setting it twice is harmless."""
        body: dict = {"Paid": True, "PaidDate": _datetime_text(paid_date)}
        if payment_method:
            body["PaymentMethod"] = payment_method
        self._request("PATCH", f"/v1/orders/{int(order_id)}", body=body)

    def account_information(self) -> dict:
        """``{Email, Companies: [...]}``: lets the connect flow pick the PartyID."""
        return self._request("GET", "/v1/account/accountInformation") or {}

    # -- products ---------------------------------------------------------------------------

    def find_product(self, reference: str) -> dict | None:
        """The product with exactly this reference (with ``id``), or None. Filtering products
        on ``Reference`` is undocumented: when Billit refuses the filter, a full-text search
        (checked here) does the job."""
        try:
            items = self._items("/v1/products",
                                {"$filter": f"Reference eq {_odata_text(reference)}"})
        except RejectedError as exc:
            if exc.code != "GenericError":
                raise
            items = self._items("/v1/products", {"fullTextSearch": reference})
        exact = [i for i in items if str(i.get("Reference") or "") == reference]
        exact.sort(key=lambda i: int(i.get("ProductID") or 0))
        return _with_id(exact[0], "ProductID") if exact else None

    def create_product(self, fields: dict) -> dict:
        """``POST /v1/products`` with one product; returns ``{"id": <ProductID>}``."""
        answer = self._request("POST", "/v1/products", body=fields)
        if isinstance(answer, dict) and isinstance(answer.get("Items"), list):
            answer = answer["Items"]
        if isinstance(answer, list) and answer:  # the {"Items": [...]} form answers a list
            answer = answer[0]
        if isinstance(answer, dict):
            answer = answer.get("ProductID")
        return {"id": _order_id(answer)}

    def product_id(self, reference: str, line: dict | None = None) -> int:
        """The product id for a product code, creating the product from ``line`` when Billit
        has none. Cached per client (hits only); one creation at a time per company."""
        with self._cache_lock:
            if reference in self._product_ids:
                return self._product_ids[reference]
        with _product_lock(self.base_url, self.party_id):
            found = self.find_product(reference)
            product_id = (found["id"] if found
                          else self.create_product(_product_fields(reference, line or {}))["id"])
        with self._cache_lock:
            self._product_ids[reference] = product_id
        return product_id

    def resolve_products(self, body: dict) -> dict:
        """A copy of an order body with every product code in ``ProductID`` replaced by the
        Billit product id (R7.3, posting to products on)."""
        resolved = deepcopy(body)
        for line in resolved.get("OrderLines") or []:
            code = line.get("ProductID")
            if isinstance(code, str) and code:
                line["ProductID"] = self.product_id(code, line)
        return resolved

    # -- HTTP -------------------------------------------------------------------------------

    def _items(self, path: str, params: dict) -> list[dict]:
        """Every item of a list, following ``NextPageLink`` until it is empty."""
        page = self._request("GET", path, params={**params, "$top": 120})
        items: list[dict] = []
        seen = 0
        while True:
            batch = (page.get("Items") if isinstance(page, dict) else page) or []
            items.extend(i for i in batch if isinstance(i, dict))
            next_link = page.get("NextPageLink") if isinstance(page, dict) else None
            seen += 1
            if not next_link or not batch or seen > 1000:
                return items
            page = self._request("GET", _relative(next_link, self.base_url))

    def _request(self, method: str, path: str, *, params: dict | None = None,
                 body: dict | None = None, headers: dict | None = None,
                 missing_ok: bool = False):
        content = _dumps(body) if body is not None else None
        extra = dict(headers or {})
        if content is not None:
            extra["Content-Type"] = "application/json"
        stale: str | None = None
        for attempt in (1, 2):
            auth, stale = self._auth_headers(force_after=stale)
            response = self._send(method, path, params=params, content=content,
                                  headers={**extra, **auth, "PartyID": self.party_id})
            if response.status_code != 401:
                return self._answer(method, response, sent=body, missing_ok=missing_ok)
            code = _code(exchange.parse_body(response))
            if code and code not in AUTH_CODES:
                # 401 for a foreign order or PartyID, not for the credentials (DOCS/401.md)
                return self._answer(method, response, sent=body, missing_ok=missing_ok)
            if self._api_key is not None:
                break  # a refused key stays refused; no repeat
            # The token was refused before anything was done: refresh and repeat once, which
            # is safe even for a POST.
            log.info("Billit refused the access token (%s, attempt %d); refreshing", code,
                     attempt)
        body_seen = self._scrub(exchange.parse_body(response))
        en, nl = (KEY_REFUSED, KEY_REFUSED_NL) if self._api_key is not None else \
            (RECONNECT, RECONNECT_NL)
        raise CredentialsError(en, message_nl=nl, code=_code(body_seen) or "401",
                               detail=body_seen)

    def _auth_headers(self, force_after: str | None = None) -> tuple[dict, str | None]:
        """The auth header, and the access token it used (so a 401 can force a refresh)."""
        if self._api_key is not None:
            return {"ApiKey": self._api_key.value}, None
        tokens = self._tokens.load()
        if not tokens or not tokens.get("refresh_token"):
            raise CredentialsError(RECONNECT, message_nl=RECONNECT_NL, code="NotConnected")
        access = tokens.get("access_token")
        fresh = float(tokens.get("expires_at") or 0) - REFRESH_MARGIN > time.time()
        if not access or not fresh or access == force_after:
            tokens = self._refresh(tokens)
            access = tokens["access_token"]
        return {"Authorization": f"Bearer {access}"}, access

    def _refresh(self, seen: dict) -> dict:
        """New tokens for the ones ``seen`` (stale or refused); exactly one thread spends a
        given refresh token, the others then read what it saved."""
        spent = seen["refresh_token"]
        with _lock_for(spent):
            current = self._tokens.load() or {}
            if current.get("refresh_token") and current["refresh_token"] != spent:
                return current  # another thread or process refreshed while we waited
            tokens = self._token_request({"grant_type": "refresh_token",
                                          "refresh_token": spent})
            if tokens is None:
                return self._refused_refresh(spent)
            # Save before use: the old refresh token is spent now, and the new one is the only
            # way back in. If saving fails the new tokens are never used.
            self._tokens.save(tokens)
            log.info("Billit access token refreshed")
            return tokens

    def _refused_refresh(self, spent: str) -> dict:
        # Another process may have spent the same refresh token a moment ago (the lock only
        # covers this process): its tokens are then in the store, or soon will be.
        for pause in (0.0, RACE_PAUSE):
            time.sleep(pause)
            current = self._tokens.load() or {}
            if current.get("refresh_token") and current["refresh_token"] != spent:
                return current
        raise CredentialsError(RECONNECT, message_nl=RECONNECT_NL, code="InvalidGrant")

    def _token_request(self, fields: dict) -> dict | None:
        """``POST /OAuth2/token`` (JSON, no auth header); the tokens, or None when refused."""
        if not (self._client_id and self._client_secret):
            raise CredentialsError(RECONNECT, message_nl=RECONNECT_NL, code="NoClient")
        payload = {**fields, "client_id": self._client_id,
                   "client_secret": self._client_secret.value}
        response = self._send("POST", "/OAuth2/token", write=False, content=json.dumps(payload),
                              headers={"Content-Type": "application/json"})
        status = response.status_code
        if 200 <= status < 300:
            answer = exchange.parse_body(response)
            if not isinstance(answer, dict) or not answer.get("access_token"):
                raise TransientError("Billit answered the token request without a token; "
                                     "koppel will try again.", code="NoToken")
            expires_in = float(answer.get("expires_in") or 3600)
            return {"access_token": str(answer["access_token"]),
                    "refresh_token": str(answer.get("refresh_token") or fields.get(
                        "refresh_token") or ""),
                    "expires_at": time.time() + expires_in,
                    "token_type": str(answer.get("token_type") or "Bearer")}
        body = self._scrub(exchange.parse_body(response), extra=list(fields.values()))
        if status == 429 or status >= 500:
            raise TransientError("Billit could not renew koppel's access right now; koppel "
                                 "will try again.", code=_code(body) or str(status), detail=body,
                                 retry_after=exchange.retry_after(response.headers.get("Retry-After")))
        log.warning("Billit refused a token request (%s)", status)
        return None

    def _send(self, method: str, path: str, *, write: bool | None = None,
              **kwargs) -> httpx.Response:
        return exchange.send(self._http, "Billit", method, path, write=write, **kwargs)

    def _answer(self, method: str, response: httpx.Response, *, sent: dict | None,
                missing_ok: bool):
        status = response.status_code
        if 200 <= status < 300:
            return exchange.parse_body(response)
        body = self._scrub(exchange.parse_body(response))
        code = _code(body)
        if status == 429:
            raise SlowDown("Billit asks koppel to slow down; it will try again.",
                                 code=code or "429", detail=body,
                                 retry_after=exchange.retry_after(response.headers.get("Retry-After")))
        if status >= 500:
            raise TransientError("Billit had a problem; koppel will try again.",
                                 code=code or str(status), detail=body,
                                 outcome_unknown=method == "POST")
        nl, en = _merchant_message(body, sent)
        if status == 409 or code in DUPLICATE_CODES:
            raise DuplicateError(en, message_nl=nl, code=code or "409", detail=body)
        if status == 404 or (status == 401 and missing_ok):
            # The swagger answers 404 for an unknown order, the docs 401: both are "not there".
            raise NotFoundError(en, message_nl=nl, code=code or str(status), detail=body)
        if status == 401:  # a 401 that is not about the token: the PartyID is not ours
            raise CredentialsError(NO_PARTY.format(party=self.party_id),
                                   message_nl=NO_PARTY_NL.format(party=self.party_id),
                                   code=code or "401", detail=body)
        raise RejectedError(en, message_nl=nl, code=code or str(status), detail=body)

    def _scrub(self, value, extra: list | None = None):
        """The remote body with any trace of a key, secret or token removed."""
        secrets_ = [s.value for s in (self._api_key, self._client_secret) if s]
        if self._tokens is not None:
            stored = self._tokens.load() or {}
            secrets_ += [stored.get("access_token"), stored.get("refresh_token")]
        secrets_ += [str(v) for v in extra or []]
        secrets_ = [s for s in secrets_ if s and len(s) >= 6]
        return _scrub(value, secrets_)


# -- helpers --------------------------------------------------------------------------------

def _scrub(value, secrets_: list[str]):
    if isinstance(value, str):
        for secret in secrets_:
            value = value.replace(secret, "***")
        return value
    if isinstance(value, dict):
        return {k: _scrub(v, secrets_) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, secrets_) for v in value]
    return value


def _login_url(base_url: str) -> str:
    """my.billit.be for api.billit.be (and the sandbox's); a local fake serves both."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if host.startswith("api.") and host.endswith("billit.be"):
        return f"{parts.scheme}://my.{host[4:]}"
    return base_url


def _relative(link: str, base_url: str) -> str:
    """A ``NextPageLink`` as a path on our base URL (it may name another host behind a
    proxy)."""
    parts = urlsplit(link)
    path = parts.path
    base_path = urlsplit(base_url).path.rstrip("/")
    if base_path and path.startswith(base_path):
        path = path[len(base_path):]
    return f"{path}?{parts.query}" if parts.query else path


def _odata_text(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _code(body) -> str:
    """The first error's code, in either of Billit's envelopes."""
    errors = _errors(body)
    return errors[0]["Code"] if errors else ""


def _errors(body) -> list[dict]:
    """Billit's errors as ``[{"Code", "Description"}]``, from either envelope the swagger
    defines: ``{"errors": [{"Code", "Description"}]}`` (also ``Errors`` or a bare list), or
    its ``Error`` object ``{"ErrorEnum", "ErrorMessage", "DefaultText", ...}`` (alone or in a
    list)."""
    if isinstance(body, dict):
        body = body.get("errors", body.get("Errors", [body]))
    if not isinstance(body, list):
        return []
    out = []
    for error in body:
        if not isinstance(error, dict):
            continue
        code = error.get("Code", error.get("ErrorEnum"))
        text = error.get("Description") or error.get("ErrorMessage") or error.get("DefaultText")
        if code or text:
            out.append({"Code": str(code or ""), "Description": text})
    return out


def _merchant_message(body, sent: dict | None) -> tuple[str, str]:
    """(Dutch, English): the table's words for each error, else Billit's own description."""
    sent = sent or {}
    errors = _errors(body)
    if not errors:
        text = body if isinstance(body, str) and body.strip() else "no reason given"
        return (f"Billit weigerde het verzoek: {str(text)[:300]}",
                f"Billit refused the request: {str(text)[:300]}")
    nl_parts, en_parts = [], []
    for error in errors:
        code = error["Code"]
        fallback = error["Description"] or code or "no reason given"
        nl, en = MESSAGES.get(code) or (fallback, fallback)
        nl, en = (text.format(about=sent.get("AboutInvoiceNumber") or "?") for text in (nl, en))
        nl_parts.append(f"{nl} (Billit {code})" if code else nl)
        en_parts.append(f"{en} (Billit {code})" if code else en)
    number = sent.get("OrderTitle") or sent.get("OrderNumber")
    if number:
        return (f"Billit weigerde document {number}: " + " ".join(nl_parts),
                f"Billit refused document {number}: " + " ".join(en_parts))
    return ("Billit weigerde het verzoek: " + " ".join(nl_parts),
            "Billit refused the request: " + " ".join(en_parts))


def _order_id(answer) -> int:
    """Billit answers a create with a bare integer (sometimes quoted by proxies)."""
    if isinstance(answer, bool):
        raise TransientError("Billit's answer had no id; koppel will check.", code="NoId",
                             outcome_unknown=True)
    try:
        return int(str(answer).strip().strip('"'))
    except (TypeError, ValueError):
        raise TransientError("Billit's answer had no id; koppel will check.", code="NoId",
                             detail=str(answer)[:200], outcome_unknown=True) from None


def _with_id(item: dict, key: str = "OrderID") -> dict:
    return {**item, "id": int(item[key])} if item.get(key) is not None else dict(item)


def _datetime_text(value) -> str:
    """A date with a time (``2026-03-14T00:00:00``): Billit refuses a date-only PaidDate."""
    if isinstance(value, datetime):
        return value.replace(microsecond=0, tzinfo=None).isoformat()
    if isinstance(value, date):
        return f"{value.isoformat()}T00:00:00"
    text = str(value)
    return text if "T" in text else f"{text}T00:00:00"


def _with_times(body: dict) -> dict:
    """The order body with ``PaidDate`` carrying a time (the domain sends the date)."""
    if body.get("PaidDate") and isinstance(body["PaidDate"], (str, date)):
        return {**body, "PaidDate": _datetime_text(body["PaidDate"])}
    return body


def _product_fields(reference: str, line: dict) -> dict:
    """A new product from the order line that names it (the shop's price incl. VAT)."""
    fields: dict = {"Reference": reference,
                    "Description": str(line.get("Description") or reference)[:512]}
    rate = line.get("VATPercentage")
    if rate is not None:
        fields["VAT"] = Decimal(str(rate))
    price_incl = line.get("UnitPriceIncl")
    if price_incl is not None and rate is not None:
        fields["AmountIncl"] = Decimal(str(price_incl))
        fields["AmountExcl"] = (fields["AmountIncl"] / (1 + fields["VAT"] / 100)).quantize(
            CENT, ROUND_HALF_UP)
    elif line.get("UnitPriceExcl") is not None:
        fields["AmountExcl"] = Decimal(str(line["UnitPriceExcl"]))
    if line.get("Unit"):
        fields["Unit"] = line["Unit"]
    return fields


def _dumps(value) -> str:
    """JSON with Decimals as plain numbers (never strings, never an exponent)."""
    return _encode(value)


def _encode(value) -> str:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a number Billit accepts")
        return format(value, "f")
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        return _encode(Decimal(repr(value)))
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{_encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    if isinstance(value, datetime):
        return json.dumps(value.replace(microsecond=0, tzinfo=None).isoformat())
    if isinstance(value, date):
        return json.dumps(value.isoformat())
    raise TypeError(f"cannot send {type(value).__name__} to Billit")
