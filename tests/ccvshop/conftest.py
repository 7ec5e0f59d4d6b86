"""Fixtures for the CCV Shop fake, its client and the demo generator.

The fake is driven only through its HTTP APIs (signed API and ``/__sandbox/`` control), both
in-process (``httpx.WSGITransport``) and on a real local port (``sandbox.serve``).
"""

from __future__ import annotations

import threading

import httpx
import pytest
from flask import Flask, request

from sandbox.ccvshop import create_app, dumps
from sandbox.serve import serve
from workers.connectors.ccvshop import CCVShopClient

PUBLIC = "pub-6f1d"
SECRET = "s3cret-never-shown"
ROOT = "http://shop.test"


@pytest.fixture
def app():
    return create_app(public_key=PUBLIC, secret=SECRET, api_root=ROOT, seed=3)


@pytest.fixture
def transport(app):
    return httpx.WSGITransport(app=app)


@pytest.fixture
def control(transport):
    with httpx.Client(transport=transport, base_url=ROOT) as http:
        yield http


@pytest.fixture
def client(transport):
    shop = CCVShopClient(ROOT, PUBLIC, SECRET, transport=transport)
    yield shop
    shop.close()


@pytest.fixture
def live():
    """The fake on a real port; ``api_root=None`` makes its hrefs name that port."""
    server = serve(create_app(public_key=PUBLIC, secret=SECRET, api_root=None, seed=5))
    with httpx.Client(base_url=server.url, timeout=10) as http:
        yield server, http
    server.stop()


class Receiver:
    """A tiny webhook receiver on a real port that keeps every delivery."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self._lock = threading.Lock()
        app = Flask("receiver")

        @app.post("/hooks/<path:name>")
        def hook(name):
            with self._lock:
                self.received.append({"path": request.path, "url": request.url,
                                      "body": request.get_data(),
                                      "x_hash": request.headers.get("x-hash", "")})
            return "ok"

        self.server = serve(app)
        self.url = self.server.url


@pytest.fixture
def receiver():
    rec = Receiver()
    yield rec
    rec.server.stop()


def seed_order(http: httpx.Client, order: dict, rows: list[dict] | None = None, **extra) -> dict:
    response = http.post("/__sandbox/orders",
                         content=dumps({"order": order, "orderrows": rows or [], **extra}))
    assert response.status_code == 201, response.text
    return response.json()


def a_row(price="10.00", tax=21, count=1, name="Koffiemok") -> dict:
    from decimal import Decimal
    return {"product_name": name, "product_number": "MOK", "count": count,
            "price": Decimal(price), "discount": 0, "selling_price": Decimal(price),
            "tax": tax, "total_price": Decimal(price) * count}
