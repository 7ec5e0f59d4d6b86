"""Builds the HTTP connectors behind the ports, for one connection's settings.

Every connector to the same host shares one keep-alive connection pool of this process
(``SharedPools``): a TCP (and TLS) handshake per call cost a production worker 40% of its CPU,
and hundreds of connections booking into e-Boekhouden all talk to the same host. A connector
built for a new settings version reuses the pool; the pools are closed when the process stops.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

import httpx

from workers.connectors.billit import BillitClient
from workers.connectors.ccvshop import CCVShopClient
from workers.connectors.eboekhouden import EBoekhoudenClient
from workers.connectors.rate_limit import CallLimiter, LimitedTransport, Rate

EBOEKHOUDEN_URL = "https://api.e-boekhouden.nl"


@dataclass(frozen=True)
class BillitApp:
    """koppel's registration at Billit: where its API is and koppel's OAuth client."""

    url: str = "https://api.billit.be"
    login_url: str = "https://my.billit.be"
    client_id: str = ""
    client_secret: str = ""

TransportFor = Callable[[str], "httpx.BaseTransport | None"]


@dataclass(frozen=True)
class RateLimits:
    """Each connection's calls to its shop and to its ledger, shared by every process."""

    limiter: CallLimiter
    shop: Rate | None = None
    ledger: Rate | None = None
    # How long a call may wait for its turn before its message is retried later instead. An
    # intake waits little: a worker thread held for one busy shop keeps the other
    # connections' messages waiting too. A ledger call waits longer: giving up mid-posting
    # gives the claim back, and the next attempt costs a lookup more.
    shop_wait: float = 2.0
    ledger_wait: float = 20.0


def real_network(url: str) -> None:
    """No transport of its own: httpx goes over the network to ``url``."""
    return None


# Per host: more than a process's worker threads (each holds at most one connection at a time),
# so no thread waits for a free connection and idle ones stay open for the next message.
POOL_LIMITS = httpx.Limits(max_connections=64, max_keepalive_connections=32, keepalive_expiry=30)


class _Borrowed(httpx.BaseTransport):
    """A shared pool as one client's transport: closing the client leaves the pool open
    (other connectors use it; ``SharedPools.close`` ends it)."""

    def __init__(self, pool: httpx.HTTPTransport) -> None:
        self.pool = pool

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.pool.handle_request(request)

    def close(self) -> None:
        pass


class SharedPools:
    """One ``httpx.HTTPTransport`` (a thread-safe keep-alive pool) per scheme, host and port."""

    def __init__(self, limits: httpx.Limits = POOL_LIMITS) -> None:
        self.limits = limits
        self._pools: dict[str, httpx.HTTPTransport] = {}
        self._lock = threading.Lock()
        self.closed = False

    def for_url(self, url: str) -> httpx.BaseTransport:
        parts = urlsplit(url)
        key = f"{parts.scheme}://{parts.netloc}".lower()
        with self._lock:
            if self.closed:
                raise RuntimeError("the HTTP pools of this process are closed")
            pool = self._pools.get(key)
            if pool is None:
                pool = self._pools[key] = httpx.HTTPTransport(limits=self.limits)
        return _Borrowed(pool)

    def __len__(self) -> int:
        return len(self._pools)

    def close(self) -> None:
        with self._lock:
            pools, self._pools, self.closed = list(self._pools.values()), {}, True
        for pool in pools:
            pool.close()


class HttpConnectors:
    """``transport_for(base_url)`` lets tests put a sandbox fake in-process behind a URL."""

    def __init__(self, eboekhouden_url: str = EBOEKHOUDEN_URL,
                 transport_for: TransportFor = real_network, timeout: float = 15.0,
                 billit: BillitApp | None = None, limits: RateLimits | None = None,
                 measure: Callable[[httpx.BaseTransport, str], httpx.BaseTransport] | None = None,
                 ) -> None:
        self.eboekhouden_url = eboekhouden_url
        self.transport_for = transport_for
        self.measure = measure  # the metrics' timing around every exchange (web/metrics.py)
        self.limits = limits
        self.timeout = timeout
        self.billit_app = billit or BillitApp()
        self.pools = SharedPools()

    def shop(self, settings, secret):
        root = settings.shop.api_root
        return CCVShopClient(root, secret("shop.public_key"), secret("shop.secret"),
                             transport=self._transport(root, settings, "shop"),
                             timeout=self.timeout)

    def eboekhouden(self, settings, secret):
        return EBoekhoudenClient(self.eboekhouden_url, secret("ledger.api_token"),
                                 transport=self._transport(self.eboekhouden_url, settings,
                                                           "ledger"),
                                 timeout=self.timeout)

    def billit(self, settings, secret, tokens):
        """An API key when the merchant gave one, else the OAuth tokens of the connect flow."""
        app = self.billit_app
        api_key = secret("ledger.api_key") if settings.ledger.api_key else None
        return BillitClient(app.url, api_key=api_key, tokens=None if api_key else tokens,
                            party_id=str(settings.billit.party_id) if settings.billit else "",
                            transport=self._transport(app.url, settings, "ledger"),
                            timeout=self.timeout,
                            client_id=app.client_id or None,
                            client_secret=app.client_secret or None,
                            login_url=app.login_url)

    def _transport(self, url: str, settings, system: str) -> httpx.BaseTransport:
        # A test's or the benchmark's own transport for the URL, else the host's shared pool.
        inner = self.transport_for(url) or self.pools.for_url(url)
        if self.measure is not None:  # around the pool, so measuring keeps the keep-alive
            inner = self.measure(inner, url)
        rate = getattr(self.limits, system, None)
        if rate is None:
            return inner
        return LimitedTransport(inner, self.limits.limiter, f"{system}:{settings.name}", rate,
                                getattr(self.limits, f"{system}_wait"))

    def close(self) -> None:
        """The process stops: close the keep-alive connections."""
        self.pools.close()
