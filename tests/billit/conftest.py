"""Fixtures for the Billit fake and client: in-process (WSGITransport) and on a real port."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from application.settings import load_settings_text
from domain.billit import order_request
from domain.booking import build_booking
from sandbox.billit import create_app
from sandbox.generator import generate
from sandbox.serve import serve
from tests.sandbox_control import SandboxControl
from workers.connectors.billit import BillitClient, MemoryTokenStore

API_KEY = "billit-key-5e1d7c93a2"
CLIENT_ID = "koppel-client"
CLIENT_SECRET = "client-secret-8b4f2e61"
PARTY_ID = 123456
BASE = "http://billit.test"
REDIRECT = "https://koppel.example/connect/billit/callback"
DEMO_SETTINGS = Path(__file__).resolve().parents[2] / "web" / "demo_settings.toml"


class Fake(SandboxControl):
    """One fake Billit company plus helpers to drive it through its control API."""

    def __init__(self, base_url: str, transport: httpx.BaseTransport | None) -> None:
        super().__init__(base_url, transport)

    def client(self, **kwargs) -> BillitClient:
        kwargs.setdefault("transport", self.transport)
        kwargs.setdefault("party_id", str(PARTY_ID))
        if "tokens" not in kwargs:
            kwargs.setdefault("api_key", API_KEY)
        else:
            kwargs.setdefault("client_id", CLIENT_ID)
            kwargs.setdefault("client_secret", CLIENT_SECRET)
        return BillitClient(self.base_url, **kwargs)

    def connect(self, store: MemoryTokenStore | None = None, **kwargs) -> BillitClient:
        """The OAuth connect flow as a merchant goes through it: authorize, come back with a
        code, exchange it. The fake auto-approves."""
        store = store if store is not None else MemoryTokenStore()
        client = self.client(tokens=store, **kwargs)
        code = self.authorize(client)["code"]
        client.exchange_code(code, REDIRECT)
        return client

    def authorize(self, client: BillitClient, state: str = "st-1") -> dict:
        url = client.authorize_url(REDIRECT, state)
        answer = self.control.get(url)
        assert answer.status_code == 302
        location = answer.headers["Location"]
        assert location.startswith(REDIRECT)
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}

    def api(self, method: str, path: str, **kwargs) -> httpx.Response:
        """A raw call with the API key, for wire-format assertions."""
        headers = {"ApiKey": API_KEY, "PartyID": str(PARTY_ID), **kwargs.pop("headers", {})}
        return self.control.request(method, path, headers=headers, **kwargs)


def _app():
    return create_app(api_key=API_KEY, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                      party_id=PARTY_ID, seed=7)


@pytest.fixture
def fake():
    f = Fake(BASE, httpx.WSGITransport(app=_app()))
    yield f
    f.control.close()


@pytest.fixture
def client(fake):
    c = fake.client()
    yield c
    c.close()


@pytest.fixture
def served():
    """The fake on a real local port, served by werkzeug's threaded server."""
    server = serve(_app())
    f = Fake(server.url, None)
    yield f
    f.control.close()
    server.stop()


# -- real bookings: generator bundle -> build_booking -> order_request (R7.3) ---------------

def billit_settings(*, products: bool = False, payment_status: str = "shop"):
    text = DEMO_SETTINGS.read_text(encoding="utf-8").replace("{api_root}", "https://shop.test")
    text = text.replace('system = "eboekhouden"', 'system = "billit"')
    if products:
        text = text.replace("post_to_products = false", "post_to_products = true")
    text += (f'\n[billit]\nparty_id = "{PARTY_ID}"\npayment_status = "{payment_status}"\n')
    return load_settings_text(text)


def bundles(kind: str, count: int = 1, seed: int = 11) -> list[dict]:
    """Postable generator documents: ``order`` (domestic orders), ``credit`` (credit
    invoices)."""
    scope = {"order": {"domestic"}, "credit": {"credit"}}[kind]
    docs = generate(count * 4, seed, failing_share=0.0, unpaid_share=0.0, scopes=scope)
    docs = [d for d in docs if d["expect"]["outcome"] == "posted"]
    assert len(docs) >= count
    return docs[:count]


def order_for(bundle: dict, settings, external_id: str) -> tuple[dict, object]:
    booking = build_booking(bundle, settings)
    assert booking.ok, booking.failed_checks
    return order_request(booking, settings, external_id), booking
