"""Builds the HTTP connectors behind the ports, for one connection's settings."""

from __future__ import annotations

from typing import Callable

import httpx

from workers.connectors.ccvshop import CCVShopClient
from workers.connectors.eboekhouden import EBoekhoudenClient

EBOEKHOUDEN_URL = "https://api.e-boekhouden.nl"

TransportFor = Callable[[str], "httpx.BaseTransport | None"]


def _no_transport(url: str) -> None:
    return None


class HttpConnectors:
    """``transport_for(base_url)`` lets tests put a sandbox fake in-process behind a URL."""

    def __init__(self, eboekhouden_url: str = EBOEKHOUDEN_URL,
                 transport_for: TransportFor = _no_transport, timeout: float = 15.0) -> None:
        self.eboekhouden_url = eboekhouden_url
        self.transport_for = transport_for
        self.timeout = timeout

    def shop(self, settings, secret):
        root = settings.shop.api_root
        return CCVShopClient(root, secret("shop.public_key"), secret("shop.secret"),
                             transport=self.transport_for(root), timeout=self.timeout)

    def eboekhouden(self, settings, secret):
        return EBoekhoudenClient(self.eboekhouden_url, secret("ledger.api_token"),
                                 transport=self.transport_for(self.eboekhouden_url),
                                 timeout=self.timeout)
