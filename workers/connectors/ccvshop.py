"""The CCV Shop REST API behind the ``Shop`` port (``application.ports``).

Every request is signed (``x-public``/``x-date``/``x-hash``: hex HMAC-SHA512 of
``public|METHOD|uri-with-query|body|x-date`` keyed with the API secret) and every successful
response's own ``x-hash`` is checked the same way, as CCV's official SDK does; a response that
does not verify is not trusted (``SignatureError``). Failures become the errors of
``application.errors`` so the workers can decide what to do. The secret never appears in a
message, an exception or a log line.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import datetime, timezone
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Iterator
from urllib.parse import urlencode

import httpx

from application.errors import (CredentialsError, NotFoundError, RejectedError,
                                SignatureError, TransientError)

API = "/api/rest/v1"
PAGE_SIZE = 100
# The real API sends no Retry-After (reference notes section 4): wait about a minute.
RATE_LIMIT_WAIT = 60.0
_LINK_ID = re.compile(r"/(orders|invoices)/(\d+)/?(?:[?#].*)?$")


def _hmac(key: str, *parts: str | bytes) -> str:
    raw = b"|".join(p if isinstance(p, bytes) else p.encode("utf-8") for p in parts)
    return hmac.new(key.encode("utf-8"), raw, hashlib.sha512).hexdigest()


def verify_webhook(address: str, body: bytes, x_hash: str, key: str) -> bool:
    """True when ``x_hash`` is the hex HMAC-SHA512 of ``"<address>|<raw body>"`` keyed with
    the webhook's ``key``. The scheme is inferred (reference notes section 2), not confirmed:
    callers should still re-fetch the document over the signed API."""
    if not x_hash or not key:
        return False
    return hmac.compare_digest(_hmac(key, address, body), x_hash.strip().lower())


# koppel stores a shop's document id as a 64-bit integer (BIGINT); a larger one is no CCV id.
MAX_DOCUMENT_ID = 2**63 - 1


def _no_constant(name: str):
    """Python's JSON reader takes NaN and Infinity; JSON has neither."""
    raise ValueError(f"{name} is not a JSON value")


def parse_webhook(body: bytes) -> dict:
    """``{"event_kind": "order"|"invoice", "id": int}`` from a delivery body.

    The kind comes from the ``href`` (``.../orders/{id}`` or ``.../invoices/{id}``), else from
    the number fields only one kind carries. Raises ``ValueError`` saying what is wrong.
    """
    try:
        data = json.loads(body, parse_float=Decimal, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"webhook body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("webhook body is not a JSON object")
    raw_id = data.get("id")
    if isinstance(raw_id, bool) or raw_id is None or raw_id == "":
        raise ValueError("webhook body has no id")
    try:
        doc_id = int(raw_id)
    except (TypeError, ValueError):
        raise ValueError(f"webhook body id is not a whole number: {raw_id!r}") from None
    if isinstance(raw_id, Decimal) and raw_id != doc_id:
        raise ValueError(f"webhook body id is not a whole number: {raw_id}")
    if doc_id > MAX_DOCUMENT_ID:  # zero and below: the endpoint names the document it got
        raise ValueError(f"webhook body id is out of range: {str(raw_id)[:30]}")
    kind = None
    match = _LINK_ID.search(str(data.get("href") or ""))
    if match:
        kind = "order" if match.group(1) == "orders" else "invoice"
        if int(match.group(2)) != doc_id:
            raise ValueError(f"webhook body id {doc_id} differs from its href {data['href']}")
    elif "invoicenumber_full" in data or "invoice_number" in data:
        kind = "invoice"
    elif "order_number" in data or "ordernumber_full" in data:
        kind = "order"
    if kind is None:
        raise ValueError("webhook body names neither an order nor an invoice")
    return {"event_kind": kind, "id": doc_id}


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = parsedate_to_datetime(value)
                return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
            except (TypeError, ValueError):
                pass
    return RATE_LIMIT_WAIT


class CCVShopClient:
    """A signed, verifying client for one shop's API credentials."""

    def __init__(self, api_root: str, public_key: str, secret: str, *,
                 transport: httpx.BaseTransport | None = None, timeout: float = 10.0) -> None:
        self._root = api_root.rstrip("/")
        self._public = public_key
        self._secret = secret
        self._http = httpx.Client(transport=transport, timeout=timeout,
                                  headers={"accept": "application/json"})

    def __repr__(self) -> str:  # never show the secret
        return f"CCVShopClient({self._root!r}, public_key={self._public!r})"

    def close(self) -> None:
        self._http.close()

    # -- the Shop port -----------------------------------------------------------------

    def fetch_order(self, order_id: int) -> dict:
        order = self._request("GET", f"/orders/{int(order_id)}/")
        rows = list(self._pages(f"/orders/{int(order_id)}/orderrows/"))
        return {"order": order, "orderrows": rows}

    def fetch_invoice(self, invoice_id: int) -> dict:
        invoice = self._request("GET", f"/invoices/{int(invoice_id)}/")
        rows = list(self._pages(f"/invoices/{int(invoice_id)}/invoicerows/"))
        order = None
        link = invoice.get("order")
        if isinstance(link, dict):  # tolerate the {href} spelling other resources use
            link = link.get("href")
        if link:
            match = _LINK_ID.search(str(link))
            if not match or match.group(1) != "orders":
                raise RejectedError(f"CCV Shop invoice {invoice_id} links to an order address "
                                    f"koppel cannot read: {link}", detail=invoice)
            try:
                # Fetched from our own api_root: a link never makes us talk to another host.
                order = self._request("GET", f"/orders/{match.group(2)}/")
            except NotFoundError:
                order = None  # the order was deleted; the invoice stands on its own
        return {"invoice": invoice, "invoicerows": rows, "order": order}

    def list_orders(self, *, since: datetime | None = None,
                    until: datetime | None = None) -> Iterator[dict]:
        return self._pages("/orders/", self._since(since, until))

    def list_invoices(self, *, since: datetime | None = None,
                      until: datetime | None = None) -> Iterator[dict]:
        return self._pages("/invoices/", self._since(since, until))

    def invoices_of_order(self, order_number: str) -> list[dict]:
        return list(self._pages("/invoices/", {"ordernumber_full": order_number}))

    def register_webhook(self, event: str, address: str) -> dict:
        hook = self._request("POST", "/webhooks/",
                             {"event": event, "address": address, "is_active": True})
        if not hook:
            # CCV's official SDK: a POST "sometimes gives a no-content, even on success". The
            # webhook is then there; read it back so the caller still learns its id and key.
            hook = next((h for h in self.list_webhooks()
                         if h.get("event") == event and h.get("address") == address), {})
        return hook

    def mark_app_installed(self) -> dict:
        """App Store installs: ``GET /apps`` holds exactly the one app these keys belong to;
        marking it installed is mandatory (ccvshop-api.md, section 1b)."""
        apps = list(self._pages("/apps/"))
        if len(apps) != 1:
            raise RejectedError(f"CCV Shop listed {len(apps)} apps for koppel's keys, not 1",
                                code="APPS")
        return self._request("PATCH", f"/apps/{int(apps[0]['id'])}/", {"is_installed": True})

    def list_webhooks(self) -> list[dict]:
        return list(self._pages("/webhooks/"))

    def delete_webhook(self, webhook_id: int) -> None:
        self._request("DELETE", f"/webhooks/{int(webhook_id)}/")

    # -- plumbing ----------------------------------------------------------------------

    @staticmethod
    def _since(since: datetime | None, until: datetime | None = None) -> dict:
        # Ascending ids keep paging stable while new orders arrive (they land on the last
        # page). The date filter is sent as a UTC date: coarser than asked, so the sweep sees
        # a superset and never misses a document [the real API's accepted format is unknown].
        # ``until`` likewise, as a whole UTC day (a date means the day through its end).
        params: dict = {"orderby": "id"}
        for name, moment in (("min_create_date", since), ("max_create_date", until)):
            if moment is not None:
                moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
                params[name] = moment.astimezone(timezone.utc).date().isoformat()
        return params

    def _pages(self, path: str, params: dict | None = None) -> Iterator[dict]:
        """Every item of a collection: ``start`` moves by the items received, so a server
        that caps ``size`` below what we asked for still loses nothing."""
        start = 0
        while True:
            page = self._request("GET", path, params={**(params or {}), "start": start,
                                                      "size": PAGE_SIZE})
            items = page.get("items") or []
            yield from items
            if not page.get("next") or not items:
                return
            start += len(items)

    def _request(self, method: str, path: str, body: dict | None = None, *,
                 params: dict | None = None) -> dict:
        url = f"{self._root}{API}{path}"
        if params:
            url = f"{url}?{urlencode(params)}"
        content = json.dumps(body, separators=(",", ":")).encode("utf-8") if body else b""
        request = self._http.build_request(method, url, content=content or None)
        uri = request.url.raw_path.decode("ascii")  # exactly what goes on the wire
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        request.headers["x-public"] = self._public
        request.headers["x-date"] = stamp
        request.headers["x-hash"] = _hmac(self._secret, self._public, method, uri, content, stamp)
        if content:
            request.headers["content-type"] = "application/json"
        where = f"{method} {API}{path}"
        try:
            response = self._http.send(request)
        except httpx.TimeoutException as exc:
            raise TransientError(f"CCV Shop did not answer {where} in time",
                                 outcome_unknown=method != "GET", detail=str(exc)) from None
        except httpx.HTTPError as exc:
            raise TransientError(f"Could not reach CCV Shop for {where}: {type(exc).__name__}",
                                 outcome_unknown=method != "GET", detail=str(exc)) from None
        if response.status_code >= 400:
            raise self._error(response, where, method)
        self._verify(response, method, uri)
        if not response.content:
            return {}
        try:
            return json.loads(response.content, parse_float=Decimal)
        except ValueError as exc:
            raise TransientError(f"CCV Shop sent an unreadable answer to {where}: {exc}") from None

    def _verify(self, response: httpx.Response, method: str, uri: str) -> None:
        given = response.headers.get("x-hash", "")
        stamp = response.headers.get("x-date", "")
        expected = _hmac(self._secret, self._public, method, uri, response.content, stamp)
        if not (given and stamp and hmac.compare_digest(expected, given.strip().lower())):
            raise SignatureError(f"CCV Shop's answer to {method} {uri} is not signed with this "
                                 "shop's API secret; it was not trusted")

    @staticmethod
    def _error(response: httpx.Response, where: str, method: str) -> Exception:
        status = response.status_code
        try:
            body = json.loads(response.content, parse_float=Decimal)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = {"body": response.text[:500]}
        code = str(body.get("code") or status)
        said = body.get("developermessage") or body.get("body") or response.reason_phrase
        text = f"CCV Shop answered {status} ({code}) to {where}: {said}"
        if status == 429:
            return TransientError(f"CCV Shop rate limit reached for {where} ({code}); "
                                  "trying again later", code=code, detail=body,
                                  retry_after=_retry_after(response))
        if status >= 500:
            return TransientError(text, code=code, detail=body, outcome_unknown=method != "GET")
        if status in (401, 403):
            return CredentialsError(f"CCV Shop refused koppel's API key: {said}. Check the "
                                    "public key and secret (and this server's clock)",
                                    code=code, detail=body,
                                    message_nl=f"CCV Shop weigerde de API-sleutel van koppel: "
                                    f"{said}. Controleer de publieke en de geheime sleutel (en "
                                    "de klok van deze server)")
        if status == 404:
            return NotFoundError(text, code=code, detail=body)
        return RejectedError(text, code=code, detail=body)
