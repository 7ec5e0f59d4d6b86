"""A faithful local fake of the CCV Shop REST API (orders, invoices, webhooks).

The wire format follows ``shared/reference/ccvshop-api.md``. Where those notes mark a fact as
unknown, this fake picks one documented guess and says so in a comment marked [G]:

- request and response signing (``x-public``/``x-date``/``x-hash``, HMAC-SHA512) as in the
  official SDK; a refused signature answers 401 with codes ``401.10``-``401.13`` [G: the real
  code for a bad hash is unknown];
- collections ``{href, start, size, first, previous, next, items}``; default ``size`` 25, at
  most 100 [G]; ``size`` in the answer is the page size, not the item count [G];
- rate limits answer 429 with ``429.10`` (per method and resource) or ``429.11`` (total); they
  are off until ``PUT /__sandbox/ratelimit`` turns them on, and send no ``Retry-After`` unless
  asked, as the real API sends none;
- ``x-date`` is read as CCV's PHP parser reads it: ``Z``, ``+00:00`` or ``+0000``, and fields
  without zero padding (``2026-11-30T4:8:56Z``), as the clients in use send it;
- ``DELETE /__sandbox/orders/{id}`` deletes an order as the merchant would, with its
  ``orders.deleted`` webhook; the fault ``no_content`` answers a POST 204 without a body, as
  the official SDK says the real API sometimes does;
- fault injection through ``/__sandbox/faults`` (``sandbox.faults``), plus the mode
  ``bad_signature``: the answer is sent with an ``x-hash`` this shop's secret did not make;
- ``GET /__sandbox/requests``: every API request answered (method, path, status, Unix time),
  so a test can count what its client asked of the shop;
- webhook deliveries: a flat summary body (real captures), header ``x-hash`` = hex
  HMAC-SHA512 of ``"<address>|<raw body>"`` keyed with the webhook's ``key`` [I]; one attempt,
  no retries [G].

Nothing here imports koppel's own packages: a fake that shared code with the client it tests
would prove nothing. Tests drive the fake through ``/__sandbox/`` (no signature needed).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import queue
import random
import re
import threading
import time
from collections import deque
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import quote, urlencode

import httpx
from flask import Flask, Response, request

from sandbox.control import add_request_log
from sandbox.appstore import add_app_store
from sandbox.faults import Faults

API = "/api/rest/v1"
EVENTS = {
    "orders.created", "orders.updated.ispaid", "orders.updated.status",
    "orders.updated.trackandtrace", "orders.deleted", "invoices.updated.status",
    "products.created", "products.updated", "products.deleted",
}
MAX_SKEW = timedelta(minutes=5)
DEFAULT_PAGE_SIZE = 25  # [G] the real default is unknown
MAX_PAGE_SIZE = 100  # [G] the real maximum is unknown

# The real codes we know (SDK ExceptionFactory); the others are [G].
_CODES = {400: "400.10", 401: "401.10", 403: "403.10", 404: "404.20", 405: "405.10",
          409: "409.10", 429: "429.10", 500: "500.00", 501: "501.10", 502: "502.00",
          503: "503.00", 504: "504.00"}
_ORDER_LINKS = ("orderrows", "ordernotes", "ordermessages", "ordernotifications",
                "orderaffiliatenetworks", "orderlabels", "invoices")


# -- wire helpers ------------------------------------------------------------------------


def _json_default(value):
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a JSON number: {value}")
        # JSON has one number type. A whole amount is written without decimals (the real API
        # writes 590, not 590.0). Otherwise the float is only the carrier of the text: amounts
        # have far fewer than 15 significant digits, so repr() writes exactly this decimal
        # (35.45 -> "35.45") and a reader using parse_float=Decimal gets it back unchanged.
        if value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(obj) -> str:
    """JSON text as CCV Shop writes it: amounts as plain numbers, unicode unescaped."""
    return json.dumps(obj, default=_json_default, ensure_ascii=False)


def loads(data: bytes | str):
    """Parse JSON keeping amounts exact (R0.1)."""
    return json.loads(data, parse_float=Decimal)


def sign(secret: str, *parts: str | bytes) -> str:
    """Lower-case hex HMAC-SHA512 of the parts joined with ``|`` (CCV's scheme)."""
    raw = b"|".join(p if isinstance(p, bytes) else p.encode("utf-8") for p in parts)
    return hmac.new(secret.encode("utf-8"), raw, hashlib.sha512).hexdigest()


def utc_now_text() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# What CCV's PHP date parser reads, as clients send it (ccvshop-api.md, last section): ``Z``,
# ``+00:00`` or ``+0000``, and fields without zero padding (``2026-11-30T4:8:56Z``).
_INSTANT = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{1,2})(?::(\d{1,2})"
                      r"(?:\.(\d{1,6})\d*)?)?\s*(Z|[+-]\d{2}:?\d{2})?)?", re.IGNORECASE)


def parse_instant(text: str) -> datetime:
    """A CCV date or date-time; naive values are UTC (the API speaks UTC)."""
    match = _INSTANT.fullmatch(text.strip())
    if not match:
        raise ValueError(f"not a date or date-time: {text!r}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    tz = timezone.utc
    if zone and zone.upper() != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    return datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                    int(second or 0), int((fraction or "0").ljust(6, "0")), tzinfo=tz)


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


def error_body(status: int, message: str, code: str | None = None) -> Response:
    """CCV's own error body: ``{code, status, developermessage}``."""
    body = {"code": code or _CODES.get(status, f"{status}.00"), "status": status,
            "developermessage": message}
    return Response(dumps(body), status=status, mimetype="application/json")


# -- state -------------------------------------------------------------------------------


class _RateLimiter:
    """Sliding-window request counts per (method, resource) and in total."""

    def __init__(self) -> None:
        self.configure({})

    def configure(self, spec: dict) -> None:
        self.get_per_window = spec.get("get_per_minute")
        self.write_per_window = spec.get("write_per_minute")
        self.total_per_window = spec.get("total_per_minute")
        self.window = float(spec.get("window_seconds", 60))
        self.retry_after = bool(spec.get("retry_after", False))
        self._hits: dict[object, deque] = {}

    def as_dict(self) -> dict:
        return {"get_per_minute": self.get_per_window, "write_per_minute": self.write_per_window,
                "total_per_minute": self.total_per_window, "window_seconds": self.window,
                "retry_after": self.retry_after}

    def _full(self, key, limit: int | None, now: float) -> float | None:
        """Seconds until ``key`` has room again, or None when it has room now."""
        if limit is None:
            return None
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= limit:
            return hits[0] + self.window - now
        return None

    def check(self, method: str, resource: str) -> tuple[str, float] | None:
        """Count this request, or return ``(code, wait)`` when a limit is reached."""
        now = time.monotonic()
        per_method = self.get_per_window if method == "GET" else self.write_per_window
        wait = self._full((method, resource), per_method, now)
        if wait is not None:
            return "429.10", wait
        wait = self._full("total", self.total_per_window, now)
        if wait is not None:
            return "429.11", wait
        for key, limit in (((method, resource), per_method), ("total", self.total_per_window)):
            if limit is not None:
                self._hits[key].append(now)
        return None


class _Shop:
    """Everything the fake holds. One lock guards it: the fake runs on a threaded server."""

    def __init__(self, seed: int) -> None:
        self.lock = threading.RLock()
        self.seed = seed
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.random = random.Random(self.seed)
            self.orders: dict[int, dict] = {}
            self.orderrows: dict[int, list[dict]] = {}
            self.invoices: dict[int, dict] = {}
            self.invoicerows: dict[int, list[dict]] = {}
            self.webhooks: dict[int, dict] = {}
            self.deliveries: list[dict] = []
            self.drop_rate = 0.0
            self.requests: list[dict] = []
            self.ids = {"order": 410000000, "orderrow": 700000000, "invoice": 980000000,
                        "invoicerow": 990000000, "webhook": 5000}
            self.limiter = _RateLimiter()
            # The highest order and invoice number, kept so that adding a document does not
            # read all of them; None after a change or deletion, which can lower it.
            self.top_numbers: dict[str, int | None] = {"ordernumber": None,
                                                       "invoicenumber": None}

    def next_number(self, field: str, docs: dict[int, dict]) -> int:
        """One above the highest ``field`` in ``docs`` (1001 in an empty shop)."""
        if not docs:
            return 1001
        top = self.top_numbers[field]
        if top is None:
            top = self.top_numbers[field] = max(d.get(field) or 0 for d in docs.values())
        return top + 1

    def note_number(self, field: str, number) -> None:
        if self.top_numbers[field] is not None:
            self.top_numbers[field] = max(self.top_numbers[field], number or 0)

    def forget_top(self, field: str) -> None:
        self.top_numbers[field] = None

    def next_id(self, kind: str) -> int:
        with self.lock:
            self.ids[kind] += 1
            return self.ids[kind]


# -- webhook delivery --------------------------------------------------------------------


class _Deliverer:
    """A queue and one background thread that POSTs webhook bodies to their addresses."""

    def __init__(self, shop: _Shop, client: httpx.Client | None) -> None:
        self._shop = shop
        self._client = client
        self._queue: queue.Queue = queue.Queue()
        self._pending = 0
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None
        self.generation = 0  # a reset abandons the deliveries still queued

    def enqueue(self, webhook: dict, event: str, body: dict) -> None:
        with self._idle:
            self._pending += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ccvshop-webhooks",
                                                daemon=True)
                self._thread.start()
        self._queue.put((self.generation, dict(webhook), event, dumps(body).encode("utf-8"),
                         body.get("id")))

    def wait(self, timeout: float) -> int:
        """Block until nothing is queued or in flight; the number still pending."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._idle.wait(left)
            return self._pending

    def _run(self) -> None:
        client = self._client or httpx.Client(timeout=10.0)
        while True:
            generation, webhook, event, raw, object_id = self._queue.get()
            try:
                if generation == self.generation:
                    self._deliver(client, webhook, event, raw, object_id)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _deliver(self, client: httpx.Client, webhook: dict, event: str, raw: bytes,
                 object_id) -> None:
        address = webhook["address"]
        record = {"event": event, "address": address, "webhook_id": webhook["id"],
                  "id": object_id, "attempted_at": utc_now_text(), "status": None,
                  "error": None}
        with self._shop.lock:
            dropped = self._shop.random.random() < self._shop.drop_rate
        if dropped:
            record["status"] = "dropped"
        else:
            headers = {"content-type": "application/json",
                       "x-hash": sign(webhook["key"], address, raw)}
            try:
                record["status"] = client.post(address, content=raw, headers=headers).status_code
            except Exception as exc:  # any failure of the receiver is just a failed delivery
                record["status"] = "error"
                record["error"] = f"{type(exc).__name__}: {exc}"
        with self._shop.lock:
            record["seq"] = len(self._shop.deliveries) + 1
            self._shop.deliveries.append(record)


# -- the app -----------------------------------------------------------------------------


def create_app(*, public_key: str, secret: str, api_root: str | None = "http://127.0.0.1",
               seed: int = 1, webhook_client: httpx.Client | None = None) -> Flask:
    """The fake. ``api_root`` is the root its ``href``s name; ``None`` or ``""`` takes the
    root of each request (handy on a port chosen at start-up)."""
    app = Flask(__name__)
    shop = _Shop(seed)
    deliverer = _Deliverer(shop, webhook_client)
    faults = Faults(error_body, seed=seed, own_modes=frozenset({"bad_signature"}))
    fixed_root = (api_root or "").rstrip("/")

    def root() -> str:
        return fixed_root or request.url_root.rstrip("/")

    # Registration order matters: before-hooks run in order (our signature check comes before
    # the faults), after-hooks in reverse (our response signature covers what faults wrote).
    app.before_request(lambda: _check_request(public_key, secret, shop))
    app.after_request(lambda response: _log_request(shop, response))
    app.after_request(lambda response: _sign_response(public_key, secret, response, faults))
    faults.init_app(app)

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_body(exc.status, exc.message, exc.code)

    @app.errorhandler(404)
    def _not_found(_exc):
        return error_body(404, f"Invalid resource name: {request.path}", "404.20")

    @app.errorhandler(405)
    def _not_allowed(_exc):
        return error_body(405, f"Method {request.method} not allowed on {request.path}")

    _add_api_routes(app, shop, deliverer, root)
    _add_control_routes(app, shop, deliverer, faults, root)
    add_request_log(app, shop)
    clients = [webhook_client] if webhook_client else []

    def app_client() -> httpx.Client:  # made on first use: most tests never install an app
        if not clients:
            clients.append(httpx.Client(timeout=10.0))
        return clients[0]

    add_app_store(app, api=API, public_key=public_key, secret=secret, root=root,
                  client_of=app_client)
    return app


def _request_uri() -> str:
    """The path and query exactly as the client sent (and signed) them."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if raw:
        return raw
    path = quote(request.environ.get("SCRIPT_NAME", "") + request.environ.get("PATH_INFO", ""),
                 safe="/:@!$&'()*+,;=-._~%")
    query = request.environ.get("QUERY_STRING", "")
    return f"{path}?{query}" if query else path


def _check_request(public_key: str, secret: str, shop: _Shop):
    if not request.path.startswith(API):
        return None
    public = request.headers.get("x-public", "")
    stamp = request.headers.get("x-date", "")
    given = request.headers.get("x-hash", "")
    if not (public and stamp and given):
        return error_body(401, "Missing one of the headers x-public, x-date, x-hash", "401.13")
    if not hmac.compare_digest(public, public_key):
        return error_body(401, "Unknown public key", "401.12")
    try:
        moment = parse_instant(stamp)
    except ValueError:
        return error_body(401, f"x-date is not an ISO 8601 date: {stamp!r}", "401.11")
    if abs(datetime.now(timezone.utc) - moment) > MAX_SKEW:
        return error_body(401, "x-date differs more than 5 minutes from the server time",
                          "401.11")
    expected = sign(secret, public, request.method, _request_uri(), request.get_data(), stamp)
    if not hmac.compare_digest(expected, given.strip().lower()):
        return error_body(401, "Invalid hash: x-hash does not match the request", "401.10")
    resource = request.url_rule.rule if request.url_rule else request.path
    with shop.lock:
        limited = shop.limiter.check(request.method, resource)
        retry_after = shop.limiter.retry_after
    if limited:
        code, wait = limited
        text = ("Each method in each resource has a limit of requests per minute"
                if code == "429.10" else "The API has a total limit of requests per minute")
        response = error_body(429, text, code)
        if retry_after:
            response.headers["Retry-After"] = str(max(1, round(wait + 0.5)))
        return response
    return None


def _sign_response(public_key: str, secret: str, response: Response,
                   faults: Faults) -> Response:
    # A streamed body (the "drop" fault) cannot be hashed: it is never delivered whole anyway.
    if not request.path.startswith(API) or response.is_streamed:
        return response
    if faults.take(request.method, request.path, {"bad_signature"}):
        secret = "not-" + secret  # what a man in the middle, or a misconfigured proxy, sends
    stamp = utc_now_text()
    response.headers["x-date"] = stamp
    response.headers["x-hash"] = sign(secret, public_key, request.method, _request_uri(),
                                      response.get_data(), stamp)
    return response


def _log_request(shop: _Shop, response: Response) -> Response:
    if request.path.startswith(API):
        with shop.lock:
            shop.requests.append({"method": request.method, "path": request.path,
                                  "status": response.status_code, "at": time.time()})
    return response


def _json(obj, status: int = 200) -> Response:
    return Response(dumps(obj), status=status, mimetype="application/json")


def _body() -> dict:
    data = request.get_data()
    try:
        body = loads(data) if data else {}
    except ValueError as exc:
        raise ApiError(400, f"The body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "The body must be a JSON object")
    return body


# -- rendering ---------------------------------------------------------------------------


def _render_order(order: dict, root: str) -> dict:
    out = copy.deepcopy(order)
    href = f"{root}{API}/orders/{order['id']}"
    out["href"] = f"{href}/"
    for name in _ORDER_LINKS:
        out[name] = {"href": f"{href}/{name}/"}
    return out


def _render_orderrow(row: dict, root: str) -> dict:
    out = copy.deepcopy(row)
    out["href"] = f"{root}{API}/orderrows/{row['id']}/"
    out["parent"] = {"href": f"{root}{API}/orders/{row['order_id']}"}
    return out


def _render_invoice(invoice: dict, root: str) -> dict:
    out = copy.deepcopy(invoice)
    href = f"{root}{API}/invoices/{invoice['id']}"
    out["href"] = f"{href}/"
    out["invoicerows"] = {"href": f"{href}/invoicerows/"}
    out["invoicenotifications"] = {"href": f"{href}/invoicenotifications/"}
    # A plain URL string, not an {href} object (the schema says so).
    order_id = invoice.get("_order_id")
    out["order"] = f"{root}{API}/orders/{order_id}" if order_id else None
    out.pop("_order_id", None)
    return out


def _render_invoicerow(row: dict, root: str) -> dict:
    out = copy.deepcopy(row)
    out["href"] = f"{root}{API}/invoicerows/{row['id']}/"
    out["invoice_id"] = str(row["invoice_id"])  # the schema types it as a string
    out["parent"] = {"href": f"{root}{API}/invoices/{row['invoice_id']}"}
    return out


def _page(items: list[dict], root: str, render=None) -> Response:
    """One page of a collection, with ``first``/``previous``/``next`` links; ``render(item,
    root)`` shapes only the page's items (a shop of thousands renders one page, not all)."""
    try:
        start = int(request.args.get("start", 0))
        size = int(request.args.get("size", DEFAULT_PAGE_SIZE))
    except ValueError as exc:
        raise ApiError(400, "start and size must be whole numbers") from exc
    if start < 0 or size < 1:
        raise ApiError(400, "start must be >= 0 and size >= 1")
    size = min(size, MAX_PAGE_SIZE)
    others = [(k, v) for k, v in request.args.items(multi=True) if k not in ("start", "size")]
    base = f"{root}{request.path}"

    def link(at: int) -> str:
        return f"{base}?{urlencode(others + [('start', at), ('size', size)])}"

    query = request.query_string.decode()
    return _json({
        "href": f"{base}?{query}" if query else base,
        "start": start,
        "size": size,
        "first": link(0),
        "previous": link(max(0, start - size)) if start > 0 else None,
        "next": link(start + size) if start + size < len(items) else None,
        "items": [render(i, root) for i in items[start:start + size]] if render
                 else items[start:start + size],
    })


def _bool_arg(name: str) -> bool | None:
    value = request.args.get(name)
    if value is None:
        return None
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise ApiError(400, f"{name} must be true or false, not {value!r}")


def _date_filters(docs: list[dict]) -> list[dict]:
    for name, keep in (("min_create_date", lambda d, at: d >= at),
                       ("max_create_date", lambda d, at: d <= at)):
        value = request.args.get(name)
        if value is None:
            continue
        try:
            at = parse_instant(value)
        except ValueError as exc:
            raise ApiError(400, f"{name} is not a date: {value!r}") from exc
        if name == "max_create_date" and len(value.strip()) == 10:
            at += timedelta(days=1) - timedelta(microseconds=1)  # a date means the whole day
        docs = [d for d in docs if keep(parse_instant(d["create_date"]), at)]
    return docs


def _equal_filters(docs: list[dict], names: dict[str, type]) -> list[dict]:
    for name, kind in names.items():
        value = request.args.get(name)
        if value is None:
            continue
        if kind is int:
            try:
                wanted = int(value)
            except ValueError as exc:
                raise ApiError(400, f"{name} must be a whole number") from exc
            docs = [d for d in docs if d.get(name) is not None and int(d[name]) == wanted]
        else:
            docs = [d for d in docs if str(d.get(name)) == value]
    return docs


def _ordered(docs: list[dict], allowed: set[str]) -> list[dict]:
    orderby = request.args.get("orderby", "id")
    field, desc = (orderby[:-5], True) if orderby.endswith("_desc") else (orderby, False)
    if field not in allowed:
        raise ApiError(400, f"orderby must be one of {sorted(allowed)} (optionally _desc)")
    if field == "create_date":
        key = lambda d: (parse_instant(d["create_date"]), d["id"])  # noqa: E731
    else:
        key = lambda d: (d.get(field) is None, d.get(field) or 0, d["id"])  # noqa: E731
    return sorted(docs, key=key, reverse=desc)


# -- the API -----------------------------------------------------------------------------


def _add_api_routes(app: Flask, shop: _Shop, deliverer: _Deliverer, root) -> None:
    opts = {"strict_slashes": False}

    @app.get(f"{API}/orders/", **opts)
    def list_orders():
        with shop.lock:
            docs = list(shop.orders.values())
        completed = _bool_arg("is_completed")
        completed = True if completed is None else completed  # unfinished checkouts hidden
        docs = [d for d in docs if bool(d.get("is_completed", True)) == completed]
        paid = _bool_arg("is_paid")
        if paid is not None:
            docs = [d for d in docs if bool(d.get("paid")) == paid]
        docs = _equal_filters(docs, {"ordernumber": int, "status": int, "paymethod_id": int,
                                     "ordernumber_full": str, "transaction_id": str})
        docs = _ordered(_date_filters(docs), {"id", "create_date", "ordernumber", "status"})
        return _page(docs, root(), _render_order)

    @app.get(f"{API}/orders/<int:order_id>/", **opts)
    def get_order(order_id: int):
        with shop.lock:
            order = shop.orders.get(order_id)
        if order is None:
            raise ApiError(404, f"Order {order_id} not found", "404.10")
        return _json(_render_order(order, root()))

    @app.get(f"{API}/orders/<int:order_id>/orderrows/", **opts)
    def list_orderrows(order_id: int):
        with shop.lock:
            if order_id not in shop.orders:
                raise ApiError(404, f"Order {order_id} not found", "404.10")
            rows = list(shop.orderrows.get(order_id, []))
        return _page([_render_orderrow(r, root()) for r in rows], root())

    @app.get(f"{API}/orderrows/<int:row_id>/", **opts)
    def get_orderrow(row_id: int):
        with shop.lock:
            row = next((r for rows in shop.orderrows.values() for r in rows
                        if r["id"] == row_id), None)
        if row is None:
            raise ApiError(404, f"Order row {row_id} not found", "404.10")
        return _json(_render_orderrow(row, root()))

    @app.get(f"{API}/invoices/", **opts)
    def list_invoices():
        with shop.lock:
            docs = list(shop.invoices.values())
        docs = _equal_filters(docs, {"invoicenumber": int, "ordernumber": int, "status": str,
                                     "invoicenumber_full": str, "ordernumber_full": str})
        docs = _ordered(_date_filters(docs), {"id", "create_date", "invoicenumber"})
        return _page(docs, root(), _render_invoice)

    @app.get(f"{API}/invoices/<int:invoice_id>/", **opts)
    def get_invoice(invoice_id: int):
        with shop.lock:
            invoice = shop.invoices.get(invoice_id)
        if invoice is None:
            raise ApiError(404, f"Invoice {invoice_id} not found", "404.10")
        return _json(_render_invoice(invoice, root()))

    @app.get(f"{API}/invoices/<int:invoice_id>/invoicerows/", **opts)
    def list_invoicerows(invoice_id: int):
        with shop.lock:
            if invoice_id not in shop.invoices:
                raise ApiError(404, f"Invoice {invoice_id} not found", "404.10")
            rows = list(shop.invoicerows.get(invoice_id, []))
        return _page([_render_invoicerow(r, root()) for r in rows], root())

    @app.get(f"{API}/invoicerows/<int:row_id>/", **opts)
    def get_invoicerow(row_id: int):
        with shop.lock:
            row = next((r for rows in shop.invoicerows.values() for r in rows
                        if r["id"] == row_id), None)
        if row is None:
            raise ApiError(404, f"Invoice row {row_id} not found", "404.10")
        return _json(_render_invoicerow(row, root()))

    def render_webhook(hook: dict) -> dict:
        return {**hook, "href": f"{root()}{API}/webhooks/{hook['id']}/"}

    @app.get(f"{API}/webhooks/", **opts)
    def list_webhooks():
        with shop.lock:
            hooks = [render_webhook(h) for h in shop.webhooks.values()]
        return _page(hooks, root())

    @app.post(f"{API}/webhooks/", **opts)
    def create_webhook():
        body = _body()
        event, address = body.get("event"), body.get("address")
        if event not in EVENTS:
            raise ApiError(400, f"event must be one of {sorted(EVENTS)}, not {event!r}")
        if not isinstance(address, str) or not address.startswith(("http://", "https://")):
            raise ApiError(400, "address must be an http(s) URL")
        with shop.lock:
            hook = {"id": shop.next_id("webhook"), "createdate": utc_now_text(),
                    "event": event, "address": address,
                    "key": "%064x" % shop.random.getrandbits(256),
                    "is_active": bool(body.get("is_active", True)), "parent": None}
            shop.webhooks[hook["id"]] = hook
            return _json(render_webhook(hook), 201)

    @app.get(f"{API}/webhooks/<int:hook_id>/", **opts)
    def get_webhook(hook_id: int):
        with shop.lock:
            hook = shop.webhooks.get(hook_id)
            if hook is None:
                raise ApiError(404, f"Webhook {hook_id} not found", "404.10")
            return _json(render_webhook(hook))

    @app.patch(f"{API}/webhooks/<int:hook_id>/", **opts)
    def patch_webhook(hook_id: int):
        body = _body()
        unknown = set(body) - {"address", "is_active"}
        if unknown:
            raise ApiError(400, f"Only address and is_active can be changed, not {sorted(unknown)}")
        with shop.lock:
            hook = shop.webhooks.get(hook_id)
            if hook is None:
                raise ApiError(404, f"Webhook {hook_id} not found", "404.10")
            hook.update(body)
            return _json(render_webhook(hook))

    @app.delete(f"{API}/webhooks/<int:hook_id>/", **opts)
    def delete_webhook(hook_id: int):
        with shop.lock:
            if shop.webhooks.pop(hook_id, None) is None:
                raise ApiError(404, f"Webhook {hook_id} not found", "404.10")
        return Response(status=204)


# -- control API (no signature) ----------------------------------------------------------


def _order_summary(order: dict, root: str) -> dict:
    """The flat body of an order webhook, as in the real captures."""
    billing = (order.get("customer") or {}).get("billingaddress") or {}
    return {
        "triggered_at": utc_now_text(),
        "href": f"{root}{API}/orders/{order['id']}",  # no trailing slash, as captured
        "id": order["id"],
        "order_number": order.get("ordernumber"),
        "ordernumber_prefix": order.get("ordernumber_prefix"),
        "ordernumber_full": order.get("ordernumber_full"),
        "total_price": order.get("total_price"),
        "customer_email": (order.get("customer") or {}).get("email", ""),
        "customer_mobile": billing.get("mobile", ""),
    }


def _invoice_summary(invoice: dict, root: str) -> dict:
    """[G] No capture exists: the order summary's shape with the invoice's fields."""
    return {
        "triggered_at": utc_now_text(),
        "href": f"{root}{API}/invoices/{invoice['id']}",
        "id": invoice["id"],
        "invoice_number": invoice.get("invoicenumber"),
        "invoicenumber_prefix": invoice.get("invoicenumber_prefix"),
        "invoicenumber_full": invoice.get("invoicenumber_full"),
        "order_number": invoice.get("ordernumber"),
        "ordernumber_full": invoice.get("ordernumber_full"),
        "total_price": invoice.get("total_price"),
        "status": invoice.get("status"),
        "customer_email": (invoice.get("customer") or {}).get("email", ""),
    }


def _rows_of(value) -> list[dict]:
    """Rows given as a list or as a collection page (``{"items": [...]}``)."""
    if value is None:
        return []
    if isinstance(value, dict):
        value = value.get("items", [])
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise ApiError(400, "rows must be a list of objects (or a page with items)")
    return value


def _add_control_routes(app: Flask, shop: _Shop, deliverer: _Deliverer, faults: Faults,
                        root) -> None:

    def fire(event: str, body: dict) -> None:
        with shop.lock:
            hooks = [h for h in shop.webhooks.values() if h["event"] == event and h["is_active"]]
        for hook in hooks:
            deliverer.enqueue(hook, event, body)

    @app.post("/__sandbox/orders")
    def seed_order():
        body = _body()
        order = body.get("order")
        if not isinstance(order, dict):
            raise ApiError(400, 'expected {"order": {...}, "orderrows": [...]}')
        rows = _rows_of(body.get("orderrows"))
        order = copy.deepcopy(order)
        with shop.lock:
            order["id"] = shop.next_id("order")
            if order.get("ordernumber") is None:
                order["ordernumber"] = shop.next_number("ordernumber", shop.orders)
            if not order.get("ordernumber_full"):
                prefix = order.get("ordernumber_prefix")
                order["ordernumber_full"] = (f"{prefix}-{order['ordernumber']}" if prefix
                                             else str(order["ordernumber"]))
            order.setdefault("ordernumber_prefix", None)
            order.setdefault("create_date", utc_now_text())
            order.setdefault("paid", False)
            order.setdefault("status", 1)
            order.setdefault("is_completed", True)
            stored_rows = []
            for row in rows:
                row = copy.deepcopy(row)
                row["id"] = shop.next_id("orderrow")
                row["order_id"] = order["id"]
                stored_rows.append(row)
            shop.orders[order["id"]] = order
            shop.note_number("ordernumber", order.get("ordernumber"))
            shop.orderrows[order["id"]] = stored_rows
            summary = _order_summary(order, root())
        if body.get("notify", True):
            fire("orders.created", summary)
        return _json({"id": order["id"], "ordernumber_full": order["ordernumber_full"]}, 201)

    @app.patch("/__sandbox/orders/<int:order_id>")
    def change_order(order_id: int):
        body = _body()
        notify = body.pop("notify", True)
        rows = body.pop("orderrows", None)
        with shop.lock:
            order = shop.orders.get(order_id)
            if order is None:
                raise ApiError(404, f"Order {order_id} not found", "404.10")
            before = dict(order)
            body.pop("id", None)
            order.update(body)
            shop.forget_top("ordernumber")
            if rows is not None:
                new_rows = []
                for row in _rows_of(rows):
                    row = copy.deepcopy(row)
                    row["id"] = shop.next_id("orderrow")
                    row["order_id"] = order_id
                    new_rows.append(row)
                shop.orderrows[order_id] = new_rows
            summary = _order_summary(order, root())
        fired = []
        if notify and "paid" in body and bool(body["paid"]) != bool(before.get("paid")):
            fire("orders.updated.ispaid", {**summary, "paid": bool(order["paid"])})
            fired.append("orders.updated.ispaid")
        if notify and "status" in body and body["status"] != before.get("status"):
            fire("orders.updated.status", {**summary, "previous_status": before.get("status"),
                                           "status": order["status"]})
            fired.append("orders.updated.status")
        return _json({"id": order_id, "fired": fired})

    @app.delete("/__sandbox/orders/<int:order_id>")
    def delete_order(order_id: int):
        """The merchant deleted the order in the shop: it is gone from the API and
        ``orders.deleted`` goes to whoever subscribed (its body: the order's summary [G])."""
        notify = request.args.get("notify", "true") != "false"
        with shop.lock:
            order = shop.orders.pop(order_id, None)
            shop.forget_top("ordernumber")
            if order is None:
                raise ApiError(404, f"Order {order_id} not found", "404.10")
            shop.orderrows.pop(order_id, None)
            summary = _order_summary(order, root())
        if notify:
            fire("orders.deleted", summary)
        return _json({"id": order_id, "fired": ["orders.deleted"] if notify else []})

    @app.post("/__sandbox/invoices")
    def seed_invoice():
        body = _body()
        invoice = body.get("invoice")
        if not isinstance(invoice, dict):
            raise ApiError(400, 'expected {"invoice": {...}, "invoicerows": [...], '
                                '"order_id": <optional>}')
        rows = _rows_of(body.get("invoicerows"))
        invoice = copy.deepcopy(invoice)
        invoice.pop("order", None)  # the link is the fake's to make, from order_id
        with shop.lock:
            order_id = body.get("order_id")
            if order_id is not None:
                order = shop.orders.get(int(order_id))
                if order is None:
                    raise ApiError(404, f"Order {order_id} not found", "404.10")
                invoice["_order_id"] = order["id"]
                for name in ("ordernumber_prefix", "ordernumber", "ordernumber_full"):
                    invoice.setdefault(name, order.get(name))
            invoice["id"] = shop.next_id("invoice")
            if invoice.get("invoicenumber") is None:
                invoice["invoicenumber"] = shop.next_number("invoicenumber", shop.invoices)
            if not invoice.get("invoicenumber_full"):
                prefix = invoice.get("invoicenumber_prefix")
                invoice["invoicenumber_full"] = (f"{prefix}-{invoice['invoicenumber']}"
                                                 if prefix else str(invoice["invoicenumber"]))
            invoice.setdefault("invoicenumber_prefix", None)
            invoice.setdefault("create_date", utc_now_text())
            invoice.setdefault("status", "1")
            stored_rows = []
            for row in rows:
                row = copy.deepcopy(row)
                row["id"] = shop.next_id("invoicerow")
                row["invoice_id"] = invoice["id"]
                stored_rows.append(row)
            shop.invoices[invoice["id"]] = invoice
            shop.note_number("invoicenumber", invoice.get("invoicenumber"))
            shop.invoicerows[invoice["id"]] = stored_rows
            summary = _invoice_summary(invoice, root())
        # There is no invoices.created event in the real API: only a status change notifies.
        if body.get("notify", False):
            fire("invoices.updated.status", {**summary, "previous_status": None})
        return _json({"id": invoice["id"], "invoicenumber_full": invoice["invoicenumber_full"]},
                     201)

    @app.patch("/__sandbox/invoices/<int:invoice_id>")
    def change_invoice(invoice_id: int):
        body = _body()
        notify = body.pop("notify", True)
        body.pop("id", None)
        with shop.lock:
            invoice = shop.invoices.get(invoice_id)
            if invoice is None:
                raise ApiError(404, f"Invoice {invoice_id} not found", "404.10")
            previous = invoice.get("status")
            invoice.update(body)
            shop.forget_top("invoicenumber")
            summary = _invoice_summary(invoice, root())
        fired = []
        if notify and "status" in body and body["status"] != previous:
            fire("invoices.updated.status", {**summary, "previous_status": previous})
            fired.append("invoices.updated.status")
        return _json({"id": invoice_id, "fired": fired})

    @app.get("/__sandbox/deliveries")
    def list_deliveries():
        event = request.args.get("event")
        with shop.lock:
            records = [dict(r) for r in shop.deliveries if event in (None, r["event"])]
        return _json(records)

    @app.post("/__sandbox/deliveries/wait")
    def wait_deliveries():
        timeout = float(_body().get("timeout", 10))
        pending = deliverer.wait(min(timeout, 120.0))
        return _json({"pending": pending, "idle": pending == 0}, 200 if pending == 0 else 504)

    @app.put("/__sandbox/webhooks/drop")
    def set_drop_rate():
        rate = _body().get("rate")
        try:
            rate = Decimal(str(rate))
        except ArithmeticError as exc:
            raise ApiError(400, "rate must be a number from 0 to 1") from exc
        if not 0 <= rate <= 1:
            raise ApiError(400, "rate must be a number from 0 to 1")
        with shop.lock:
            shop.drop_rate = float(rate)  # compared with random.random(): a probability
        return _json({"rate": rate})

    @app.get("/__sandbox/ratelimit")
    def get_rate_limit():
        with shop.lock:
            return _json(shop.limiter.as_dict())

    @app.put("/__sandbox/ratelimit")
    def set_rate_limit():
        spec = _body()
        unknown = set(spec) - {"get_per_minute", "write_per_minute", "total_per_minute",
                               "window_seconds", "retry_after"}
        if unknown:
            raise ApiError(400, f"unknown rate-limit settings {sorted(unknown)}")
        with shop.lock:
            shop.limiter.configure(spec)
            return _json(shop.limiter.as_dict())

    @app.post("/__sandbox/reset")
    def reset():
        deliverer.generation += 1
        shop.reset()
        faults.clear()
        return _json({"reset": True})


def seed_items(control: httpx.Client, items: list[dict], *, notify: bool = True) -> list[dict]:
    """Put generator items into a running fake through its control API (``control`` is an
    ``httpx.Client`` whose ``base_url`` is the fake's root). An invoice item seeds its linked
    order first (without a webhook: the invoice is the document), then the invoice, which
    notifies ``invoices.updated.status`` when ``notify``. Returns, per item, ``{"kind", "id",
    "number", "order_id"}`` with the ids the fake assigned."""
    seeded = []
    for item in items:
        rows = {"orderrows": item.get("orderrows", [])}
        if item["kind"] == "order":
            answer = _control(control, "/__sandbox/orders",
                              {"order": item["order"], **rows, "notify": notify})
            seeded.append({"kind": "order", "id": answer["id"],
                           "number": answer["ordernumber_full"], "order_id": answer["id"]})
            continue
        order = _control(control, "/__sandbox/orders",
                         {"order": item["order"], **rows, "notify": False})
        answer = _control(control, "/__sandbox/invoices",
                          {"invoice": item["invoice"], "invoicerows": item["invoicerows"],
                           "order_id": order["id"], "notify": notify})
        seeded.append({"kind": "invoice", "id": answer["id"],
                       "number": answer["invoicenumber_full"], "order_id": order["id"]})
    return seeded


def _control(control: httpx.Client, path: str, body: dict) -> dict:
    response = control.post(path, content=dumps(body).encode("utf-8"),
                            headers={"content-type": "application/json"})
    response.raise_for_status()
    return response.json()
