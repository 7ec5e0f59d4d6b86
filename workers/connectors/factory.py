"""Builds the HTTP connectors behind the ports, for one connection's settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

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


class HttpConnectors:
    """``transport_for(base_url)`` lets tests put a sandbox fake in-process behind a URL."""

    def __init__(self, eboekhouden_url: str = EBOEKHOUDEN_URL,
                 transport_for: TransportFor = real_network, timeout: float = 15.0,
                 billit: BillitApp | None = None, limits: RateLimits | None = None) -> None:
        self.eboekhouden_url = eboekhouden_url
        self.transport_for = transport_for
        self.limits = limits
        self.timeout = timeout
        self.billit_app = billit or BillitApp()

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

    def _transport(self, url: str, settings, system: str) -> "httpx.BaseTransport | None":
        rate = getattr(self.limits, system, None)
        if rate is None:
            return self.transport_for(url)
        return LimitedTransport(self.transport_for(url), self.limits.limiter,
                                f"{system}:{settings.name}", rate,
                                getattr(self.limits, f"{system}_wait"))
