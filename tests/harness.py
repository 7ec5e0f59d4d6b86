"""koppel wired to the sandbox fakes, for end-to-end tests.

The real composition root builds everything; only the transport differs: in-process tests put
the fakes behind their URLs with ``httpx.WSGITransport`` (the same wire formats, no sockets),
and the shop's webhooks are delivered to koppel's own Flask app the same way.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
import httpx

from application.processing import ClaimHeld
from application.settings import load_settings_text
from sandbox import ccvshop as sandbox_shop
from sandbox import billit as sandbox_billit
from sandbox import eboekhouden as sandbox_ledger
from web.app import create_app
from web.bootstrap import bootstrap
from web.config import Config
from web.demo import BILLIT_KEY, BILLIT_PARTY, demo_settings_text
from workers.dispatcher import Dispatcher
from workers.scheduler import Job, Scheduler

SHOP_URL = "http://shop.sandbox"
LEDGER_URL = "http://ledger.sandbox"
BILLIT_URL = "http://billit.sandbox"
BILLIT_CLIENT = ("demo-client", "demo-client-secret")
PUBLIC_URL = "http://koppel.test"
SHOP_KEYS = ("demo-public-key", "demo-shop-secret")
LEDGER_TOKEN = "demo-ledger-token"
# A second administration of the ledger fake (``Harness(administrations=...)``): the further
# ledger of the replay tests.
SECOND_ADMINISTRATION = "second-administration-token"
SECRET_KEY = "test-secret-key"  # the installation key of every harness
MERCHANT = ("merchant@example.test", "merchant-password-1")


def csrf_token(html: str) -> str:
    """The CSRF token a page's form carries (what a browser would send back)."""
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(client, email: str, password: str):
    """Signs a Flask test client in through the sign-in form; returns the answer."""
    token = csrf_token(client.get("/sign-in").get_data(as_text=True))
    return client.post("/sign-in", data={"email": email, "password": password,
                                         "csrf_token": token})


# The generator's orders are dated from March 2026 on: the tests' connections book them all
# (tests of the start date itself set their own).
BOOKS_FROM = datetime(2020, 1, 1, tzinfo=timezone.utc)


def test_settings(api_root: str = SHOP_URL, ledger: str = "eboekhouden", **replace: str):
    """The demo connection's settings, with some text replaced (``old=new``)."""
    text = demo_settings_text(api_root, ledger)
    for old, new in replace.items():
        text = text.replace(old, new)
    return load_settings_text(text)


class _LateWSGI(httpx.BaseTransport):
    """Delivers to an app that exists only after the fake that calls it was made."""

    def __init__(self, get_app) -> None:
        self.get_app = get_app

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.WSGITransport(app=self.get_app()).handle_request(request)


class Harness:
    def __init__(self, database_url: str, *, broker_url: str = "", prefix: str = "koppel",
                 claim_lease: float = 10.0, settings=None, servers=None,
                 http_timeout: float = 5.0, ledger: str = "eboekhouden",
                 settle_window: float = 0.5, shop_rate_limit: str = "",
                 ledger_rate_limit: str = "", config: dict | None = None,
                 administrations: tuple[str, ...] = ()) -> None:
        """``servers``: the (shop, ledger) fakes already running on ports, and a Billit fake
        as a third when a test needs one; by default all are made here and reached
        in-process. ``settle_window``: in-process a request cannot outlive its call; a test
        whose fake keeps a write longer (``late_commit``) sets a window that outlasts it. The
        fakes have no rate limit unless a test turns one on, so koppel's own
        (``shop_rate_limit``, ``ledger_rate_limit``) is off unless asked for too.
        ``config``: more of ``Config`` changed. ``administrations``: the access tokens of
        further e-Boekhouden administrations behind the same address (a second ledger)."""
        self.web = None
        self.billit_url = BILLIT_URL
        if servers is None:
            self.shop_url, self.ledger_url = SHOP_URL, LEDGER_URL
            shop_app = sandbox_shop.create_app(
                public_key=SHOP_KEYS[0], secret=SHOP_KEYS[1], api_root=SHOP_URL,
                webhook_client=httpx.Client(transport=_LateWSGI(lambda: self.web),
                                            base_url=PUBLIC_URL))
            ledger_app = (sandbox_ledger.Administrations([LEDGER_TOKEN, *administrations])
                          if administrations else sandbox_ledger.create_app(api_token=LEDGER_TOKEN))
            self.billit_app = sandbox_billit.create_app(
                api_key=BILLIT_KEY, client_id=BILLIT_CLIENT[0], client_secret=BILLIT_CLIENT[1],
                party_id=int(BILLIT_PARTY))
            transports = {SHOP_URL: httpx.WSGITransport(app=shop_app),
                          LEDGER_URL: httpx.WSGITransport(app=ledger_app),
                          BILLIT_URL: httpx.WSGITransport(app=self.billit_app)}
        else:
            self.shop_url, self.ledger_url = servers[0].url, servers[1].url
            transports = {}
            if len(servers) > 2:
                self.billit_url = servers[2].url
        self.config = Config(database_url=database_url, broker_url=broker_url,
                             secret_key=SECRET_KEY, public_url=PUBLIC_URL,
                             eboekhouden_url=self.ledger_url, queue_prefix=prefix,
                             billit_url=self.billit_url, billit_login_url=self.billit_url,
                             billit_client_id=BILLIT_CLIENT[0],
                             billit_client_secret=BILLIT_CLIENT[1],
                             claim_lease=claim_lease, worker_threads=4,
                             http_timeout=http_timeout, settle_window=settle_window,
                             shop_rate_limit=shop_rate_limit,
                             ledger_rate_limit=ledger_rate_limit).with_(**(config or {}))
        self.runtime = bootstrap(self.config, environ={}, transport_for=transports.get)
        self.web = create_app(self.runtime)
        self.client = self.web.test_client()  # anonymous, like the shop's webhooks
        self.ledger_system = ledger
        self.connection, _ = self.runtime.connections.save(
            settings or test_settings(self.shop_url, ledger), by="test", start_date=BOOKS_FROM)
        # The connection's merchant, signed in: what the dashboard's tests look through.
        # (A database restored from another harness's backup has them already.)
        if self.runtime.accounts.by_email(MERCHANT[0]) is None:
            self.runtime.accounts.add(MERCHANT[0], "merchant", MERCHANT[1], by="test",
                                      connections=[self.connection.id])
        self.merchant = self.web.test_client()
        assert sign_in(self.merchant, *MERCHANT).status_code == 302
        self.shop = httpx.Client(transport=transports.get(self.shop_url),
                                 base_url=self.shop_url, timeout=30)
        self.ledger = httpx.Client(transport=transports.get(self.ledger_url),
                                   base_url=self.ledger_url, timeout=30)
        self.billit = httpx.Client(transport=transports.get(self.billit_url),
                                   base_url=self.billit_url, timeout=30)

    # -- the shop ------------------------------------------------------------------------

    def register_webhooks(self) -> None:
        self.runtime.onboarding.register_webhooks(self.connection.id)

    def put_order(self, document: dict, notify: bool = False) -> dict:
        body = {"order": document["order"], "orderrows": document["orderrows"],
                "notify": notify}
        response = self.shop.post("/__sandbox/orders", content=sandbox_shop.dumps(body),
                                  headers={"content-type": "application/json"})
        response.raise_for_status()
        return response.json()

    def put_invoice(self, item: dict, notify: bool = False) -> dict:
        """A generator invoice item with its linked order; ``{"id", "number", "order_id"}``."""
        return sandbox_shop.seed_items(self.shop, [item], notify=notify)[0]

    def change_settings(self, **replace: str) -> None:
        self.connection, _ = self.runtime.connections.save(
            test_settings(self.shop_url, self.ledger_system, **replace), by="test")

    def webhook_path(self, event: str = "orders.created") -> str:
        return self.runtime.webhook_address(self.connection.id, event)[len(PUBLIC_URL):]

    def send_webhook(self, shop_id: int, event: str = "orders.created"):
        kind = "invoices" if event.startswith("invoices") else "orders"
        body = {"id": shop_id, "href": f"{self.shop_url}/api/rest/v1/{kind}/{shop_id}"}
        return self.client.post(self.webhook_path(event), json=body)

    # -- the ledger ----------------------------------------------------------------------

    def mutations(self, kind: int = 2) -> list[dict]:
        """What the ledger holds: sales (type 2) by default, payments are type 3."""
        return [m for m in self.ledger.get("/__sandbox/mutations").json()
                if int(m["type"]) == kind]

    def administration(self, token: str) -> httpx.Client:
        """The control API of a further administration (see ``administrations``)."""
        return httpx.Client(transport=self.ledger._transport, base_url=self.ledger_url,
                            timeout=30, headers={"X-Sandbox-Administration": token})

    def arm(self, **fault) -> None:
        self.ledger.post("/__sandbox/faults", json=fault).raise_for_status()

    def clear_faults(self) -> None:
        self.ledger.delete("/__sandbox/faults")

    # -- koppel ----------------------------------------------------------------------------

    def start_requeue(self, every: float = 2.0, stale_after: float = 10.0) -> None:
        """The scheduler's re-queue job, on a test's time scale: what production relies on
        when a message is lost (a worker killed mid-way, a time limit hit)."""
        dispatcher = Dispatcher(self.runtime.store, self.runtime.inbox, self.runtime.actors,
                                stale_after=timedelta(seconds=stale_after))
        scheduler = Scheduler([Job("requeue", timedelta(seconds=every), dispatcher.run_once)])
        self.runtime._spawn("test-requeue", scheduler.run_forever, self.runtime._stop, 0.5)

    def process(self, doc_id, **kwargs):
        """Process as a worker's retry does: a ``ClaimHeld`` (a live claim, the settle window
        after an unknown outcome) is waited out for as long as it asks."""
        for _ in range(5):
            try:
                return self.runtime.processing.process(doc_id, **kwargs)
            except ClaimHeld as held:
                time.sleep(held.retry_after)
        raise AssertionError(f"document {doc_id} stayed claimed")

    def cli_env(self) -> dict[str, str]:
        """The environment under which ``koppel`` commands open this koppel's store."""
        return {"KOPPEL_DATABASE_URL": self.config.database_url,
                "KOPPEL_SECRET_KEY": self.config.secret_key, "KOPPEL_BROKER_URL": "",
                "KOPPEL_EBOEKHOUDEN_URL": self.ledger_url}

    def rows(self) -> list[dict]:
        self.runtime.projector.catch_up()
        return self.runtime.store.query("SELECT * FROM documents ORDER BY number")

    def wait_until(self, predicate, timeout: float = 60.0, interval: float = 0.1):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(interval)
        raise AssertionError(f"not reached within {timeout}s: {predicate.__doc__ or predicate}")

    def settled(self, count: int, statuses=("posted", "failed", "waiting")) -> bool:
        rows = self.rows()
        return len(rows) >= count and all(r["status"] in statuses for r in rows)

    def close(self) -> None:
        self.shop.close()
        self.ledger.close()
        self.billit.close()
        self.runtime.stop()
